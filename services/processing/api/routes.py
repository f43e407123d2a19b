"""The processing REST surface (docs/api.md) for officers' UIs, importers and operators.
Routes translate HTTP to the service layer's commands and its refusals to problems."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import ValidationError

from services.processing.api.schemas import ActionRequest, ControlSlip, DossierState
from services.processing.domain.workflow import ACTIONS, Dossier, IllegalTransition, RuleViolation
from services.processing.service_layer.commands import (
    ACTION_COMMAND,
    Act,
    ActionCommand,
    Worklist,
)
from services.processing.service_layer.handlers import DossierNotFound, ProcessingHandlers
from shared.audit import audited
from shared.auth import Principal, bearer, business_time
from shared.docs import answers
from shared.forms import render
from shared.idempotency import IdempotencyKey, mark_replayed
from shared.problems import Problem, invalid
from shared.runtime import clock_of, provided
from shared.timebounds import Moment

router = APIRouter(prefix="/v1")
Actor = Annotated[Principal, Depends(bearer("officer", "leader", "importer"))]
Reader = Annotated[Principal, Depends(bearer("officer", "leader", "importer", "operator"))]
ANSWERS = answers(401, 403, 404, 409, 422, said={404: "no such dossier among the caller's units"})


Handlers = Annotated[ProcessingHandlers, Depends(provided(ProcessingHandlers))]


@contextmanager
def refusals() -> Iterator[None]:
    """The service layer's refusals as problem documents."""
    try:
        yield
    except DossierNotFound as exc:
        raise Problem(404, "Not Found", str(exc)) from exc
    except IllegalTransition as exc:
        raise Problem(409, "Conflict", str(exc), type_="illegal-state", state=exc.state,
                      action=exc.action) from exc
    except RuleViolation as exc:
        if exc.field:
            raise invalid((f"body:/{exc.field}", str(exc))) from exc
        raise Problem(409, "Conflict", str(exc), type_="rule-violation") from exc


def view(d: Dossier) -> DossierState:
    return DossierState.model_validate({**vars(d), "paused_working_seconds": d.paused_seconds})


@router.get("/worklist", response_model=list[DossierState], tags=["worklist"],
            summary="Dossiers of the caller's units, soonest due first", responses=ANSWERS)
async def worklist(
    who: Reader, app: Handlers,
    unit: Annotated[list[str] | None, Query(max_length=50)] = None,
    state: Annotated[list[str] | None, Query(max_length=10)] = None,
    due_before: Moment | None = None, due_after: Moment | None = None,
    assignee: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[DossierState]:
    query = Worklist(_units(who, unit), state, _aware("due_before", due_before),
                     _aware("due_after", due_after), assignee, limit, offset)
    return [view(d) for d in await app.worklist(query)]


@router.get("/units/{unit_code}/stuck", response_model=list[DossierState], tags=["worklist"],
            summary="The unit's stuck dossiers (hồ sơ treo): open, their clock running, and "
                    "no step for the rulebook's working days; stuck longest first",
            responses=ANSWERS)
async def stuck(unit_code: Annotated[str, Path(max_length=32)], who: Reader, app: Handlers,
                include_subunits: bool = False,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DossierState]:
    units = _units(who, [unit_code]) or [unit_code]
    if include_subunits:
        units = _units(who, app.rulebook.subunits(unit_code)) or units
    return [view(d) for d in await app.stuck(units, limit)]


def _units(who: Principal, asked: list[str] | None) -> list[str] | None:
    denied = [u for u in asked or () if not who.may_act_on(u)]
    if denied:
        raise Problem(403, "Forbidden", f"not your units: {', '.join(denied)}")
    return asked or (None if "*" in who.units else sorted(who.units))


def _aware(name: str, t: datetime | None) -> datetime | None:
    if t is not None and t.tzinfo is None:
        raise invalid((f"query:/{name}", "times need a timezone"))
    return t


@router.get("/dossiers/{code}", response_model=DossierState, tags=["dossiers"],
            summary="The workflow state and deadlines of a dossier", responses=ANSWERS)
async def get_dossier(code: str, who: Reader, app: Handlers) -> DossierState:
    with refusals():
        return view(await app.dossier(code, who))


@router.get("/dossiers/{code}/control-slip", response_model=ControlSlip, tags=["dossiers"],
            summary="Form 05: every hop with its time and early / on time / late",
            responses=ANSWERS)
async def get_control_slip(code: str, who: Reader, app: Handlers) -> ControlSlip:
    with refusals():
        slip = await app.control_slip(code, who)
    d = slip.dossier
    return ControlSlip(code=d.code, procedure_code=d.procedure_code, state=d.state,
                       received_at=d.received_at, due_at=d.due_at, entries=slip.entries)


@router.get("/dossiers/{code}/forms/05", tags=["forms"], response_class=Response,
            summary="Form 05, the control slip, printable (PDF with the dossier's QR code)",
            responses=answers(401, 403, 404, also={200: {"content": {"application/pdf": {}},
                                                          "description": "the form"}}),
            dependencies=[audited("read:form.05", subject="code")])
async def control_slip_pdf(code: str, request: Request, who: Reader, app: Handlers) -> Response:
    with refusals():
        form = await app.control_slip_form(code, who, clock_of(request).now())
    return Response(await asyncio.to_thread(render, form), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="mau-05-{code}.pdf"'})


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
             summary="Act on a dossier", description=ACTION_DOC, responses=ANSWERS,
             dependencies=[audited("change:processing.{action}", subject="code")])
async def act(
    code: str, action: Annotated[str, Path(pattern="^(" + "|".join(ACTIONS) + ")$")],
    request: Request, response: Response, who: Actor, app: Handlers,
    body: Annotated[ActionRequest | None, Body(description="the action's fields; an action "
                                                "without fields takes no body")] = None,
    idempotency_key: IdempotencyKey = None,
) -> DossierState:
    body = body or ActionRequest()
    at = business_time(body.at, who.is_importer, now=clock_of(request).now())
    with refusals():
        acted = await app.act(Act(code, _command(action, body), who, at, body.at, idempotency_key))
    if acted.replayed:
        mark_replayed(response)
    return view(acted.dossier)


def _command(action: str, body: ActionRequest) -> ActionCommand:
    fields = body.model_dump(exclude_unset=True, exclude={"at"})
    try:
        return ACTION_COMMAND.validate_python({**fields, "action": action})
    except ValidationError as exc:
        raise invalid(*((f"body:/{e['loc'][-1]}", f"{action} needs {e['loc'][-1]}")
                        for e in exc.errors())) from exc
