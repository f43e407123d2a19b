"""The processing REST surface (SPEC §6) for officers' UIs, importers and operators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from services.processing.adapters import repository as repo
from services.processing.api.schemas import (
    REQUIRED_FIELDS,
    ActionRequest,
    ControlSlip,
    DossierState,
)
from services.processing.domain.control_slip import control_slip
from services.processing.domain.workflow import (
    ACTIONS,
    Dossier,
    IllegalTransition,
    RuleViolation,
)
from shared.auth import Principal, bearer, business_time
from shared.events import Envelope, EventData
from shared.idempotency import IdempotencyKey, is_replay, request_fingerprint
from shared.problems import TYPE_BASE, Problem, invalid
from shared.service import clock_of, get_runtime
from shared.timebounds import Moment
from shared.workdays import latest_reappointment

router = APIRouter(prefix="/v1")
ACTORS = ("officer", "leader", "importer")
READERS = ("officer", "leader", "importer", "operator")

_responses: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, expired or forged bearer token"},
    403: {"description": "the token's role may not do this"},
    404: {"description": "no such dossier among the caller's units"},
    409: {"description": "illegal in the dossier's current state; `state` says which"},
    422: {"description": "invalid request; `errors` names the fields"},
}


Actor = Annotated[Principal, Depends(bearer(*ACTORS))]
Reader = Annotated[Principal, Depends(bearer(*READERS))]


def _not_found(code: str) -> Problem:
    # The same answer whether the dossier does not exist or belongs to another unit.
    return Problem(404, "Not Found", f"no dossier {code} among your units")


def view(d: Dossier) -> DossierState:
    data = repo.as_dict(d)
    data["paused_working_seconds"] = d.paused_seconds
    return DossierState.model_validate(data)


@router.get("/worklist", response_model=list[DossierState], tags=["worklist"],
            summary="Dossiers of the caller's units, soonest due first", responses=_responses)
async def worklist(
    request: Request,
    who: Reader,
    unit: Annotated[list[str] | None, Query(max_length=50)] = None,
    state: Annotated[list[str] | None, Query(max_length=10)] = None,
    due_before: Moment | None = None,
    due_after: Moment | None = None,
    assignee: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[DossierState]:
    if unit:
        denied = [u for u in unit if not who.may_act_on(u)]
        if denied:
            raise Problem(403, "Forbidden", f"not your units: {', '.join(denied)}")
        units: list[str] | None = unit
    else:
        units = None if "*" in who.units else sorted(who.units)
    for name, t in (("due_before", due_before), ("due_after", due_after)):
        if t is not None and t.tzinfo is None:
            raise invalid((f"query:/{name}", "times need a timezone"))
    rows = await repo.worklist(get_runtime(request).pool, units, state, due_before, due_after,
                               assignee, limit, offset)
    return [view(d) for d in rows]


async def _visible(request: Request, who: Principal, code: str) -> Dossier:
    d = await repo.get(get_runtime(request).pool, code)
    if d is None or not who.may_act_on(d.unit_code):
        raise _not_found(code)
    return d


@router.get("/dossiers/{code}", response_model=DossierState, tags=["dossiers"],
            summary="The workflow state and deadlines of a dossier", responses=_responses)
async def get_dossier(code: str, request: Request, who: Reader) -> DossierState:
    return view(await _visible(request, who, code))


@router.get("/dossiers/{code}/control-slip", response_model=ControlSlip, tags=["dossiers"],
            summary="Form 05: every hop with its time and early / on time / late",
            responses=_responses)
async def get_control_slip(code: str, request: Request, who: Reader) -> ControlSlip:
    d = await _visible(request, who, code)
    rb = get_runtime(request).rulebook
    hops = await repo.hops(get_runtime(request).pool, code)
    entries = control_slip(hops, rb.calendar_for(d.unit_code), rb.policy_for(d.unit_code))
    return ControlSlip(code=d.code, procedure_code=d.procedure_code, state=d.state,
                       received_at=d.received_at, due_at=d.due_at,
                       entries=entries)


ACTION_DOC = """Actions and the fields they need:

* `accept` — take the dossier into processing (online dossiers: after checking them)
* `assign` — `assignee`
* `transfer` — `to_unit` (inter-agency hop, liên thông)
* `request-supplement` — `reason` (Form 02; pauses the deadline clock)
* `request-payment` — `amount`; `record-payment` — optional `amount`
* `apologize` — `reason`, `new_due_at` (Form 04; at most one re-appointment)
* `resolve` — optional `result_ref`, `return_method`
* `reject`, `stop` — `reason`
* `return` — `method` (`counter` or `online`; postal returns come from the postal service)

`at` is accepted from the importer role only.

Send an `Idempotency-Key` to make a retry safe: the same action sent again with the same key
is not applied twice; it answers 200 with the dossier as it is now and
`Idempotent-Replayed: true`. The key used for a different action or body is refused (422).
"""


@router.post("/dossiers/{code}/actions/{action}", response_model=DossierState, tags=["dossiers"],
             summary="Act on a dossier", description=ACTION_DOC, responses=_responses)
async def act(
    code: str,
    action: Annotated[str, Path(pattern="^(" + "|".join(ACTIONS) + ")$")],
    request: Request,
    response: Response,
    who: Actor,
    body: Annotated[ActionRequest | None, Body(description="the action's fields; an action "
                                                "without fields takes no body")] = None,
    idempotency_key: IdempotencyKey = None,
) -> DossierState:
    body = body or ActionRequest()
    for name in REQUIRED_FIELDS.get(action, ()):
        if getattr(body, name) is None:
            raise invalid((f"body:/{name}", f"{action} needs {name}"))
    at = business_time(body.at, who.is_importer, now=clock_of(request).now())
    rb = get_runtime(request).rulebook
    if action == "transfer" and body.to_unit is not None and rb.unit(body.to_unit) is None:
        raise invalid(("body:/to_unit", f"unknown unit {body.to_unit}"))
    runtime = get_runtime(request)
    async with runtime.pool.acquire() as conn, conn.transaction():
        d = await repo.get(conn, code, for_update=True)
        if d is None or not who.may_act_on(d.unit_code):
            raise _not_found(code)
        fingerprint = None
        if idempotency_key is not None:
            fingerprint = request_fingerprint(
                [action, who.subject, body.model_dump(mode="json", exclude_unset=True)])
            first = await repo.hop_request_hash(conn, code, idempotency_key)
            if is_replay(first, fingerprint, response):
                return view(d)  # acted on the first time; the dossier as it is now
        unit_before = d.unit_code
        policy = rb.policy_for(d.unit_code)
        try:
            events = _dispatch(d, action, body, who, at, policy.max_reappointments,
                               latest_reappointment(d.appointment_at or d.due_at,
                                                    d.processing_days,
                                                    rb.calendar_for(d.unit_code), policy))
        except IllegalTransition as exc:
            raise Problem(409, "Conflict", str(exc), type_=TYPE_BASE + "illegal-state",
                          state=exc.state, action=exc.action) from exc
        except RuleViolation as exc:
            if exc.field:
                raise invalid((f"body:/{exc.field}", str(exc))) from exc
            raise Problem(409, "Conflict", str(exc), type_=TYPE_BASE + "rule-violation",
                          state=d.state) from exc
        await repo.save(conn, d)
        detail = {k: v for k, v in body.model_dump(mode="json", exclude={"at"}).items()
                  if v is not None}
        await repo.add_hop(conn, code, action, unit_before, who.subject, at, d.due_at, detail,
                           idempotency_key=idempotency_key, request_hash=fingerprint)
        await runtime.emit(conn, [Envelope(source="processing", data=e) for e in events])
    return view(d)


def _dispatch(d: Dossier, action: str, body: ActionRequest, who: Principal, at: datetime,
              max_reappointments: int, latest_new_due: datetime) -> list[EventData]:
    match action:
        case "accept":
            return d.accept(who.subject, at)
        case "assign":
            assert body.assignee is not None
            return d.assign(who.subject, body.assignee, at)
        case "transfer":
            assert body.to_unit is not None
            return d.transfer(body.to_unit, at)
        case "request-supplement":
            assert body.reason is not None
            return d.request_supplement(who.subject, body.reason, at)
        case "request-payment":
            assert body.amount is not None
            return d.request_payment(body.amount, at)
        case "record-payment":
            return d.record_payment(body.amount, at)
        case "apologize":
            assert body.reason is not None and body.new_due_at is not None
            return d.apologize(body.reason, body.new_due_at, at, max_reappointments,
                               latest_new_due)
        case "resolve":
            return d.resolve(body.result_ref, body.return_method, at)
        case "reject":
            assert body.reason is not None
            return d.reject(body.reason, at)
        case "stop":
            assert body.reason is not None
            return d.stop(body.reason, at)
        case "return":
            return d.return_result(body.method or "counter", at)
    raise AssertionError(action)
