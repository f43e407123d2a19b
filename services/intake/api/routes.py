"""The intake REST surface (SPEC §6) for portals, the desk and importers."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.security import APIKeyHeader

from services.intake.adapters import repository as repo
from services.intake.api.schemas import (
    ChangesPage,
    DossierChange,
    DossierView,
    FilingRequest,
    ProcedureView,
    Receipt,
    SupplementRequest,
    TimelineEntry,
    UnitView,
    WithdrawRequest,
)
from services.intake.domain.filing import (
    FINISHED,
    channel_refusal,
    check_filing,
    dossier_code,
    received_event,
)
from services.intake.domain.ratelimit import TokenBuckets, retry_after
from services.intake.service_layer.changes import ChangesWanted, changes_page
from services.intake.settings import Settings
from shared.auth import business_time, pin_digest, receipt_pin
from shared.events import Envelope, FiledByPost, SupplementReceived, Withdrawn
from shared.idempotency import IdempotencyKey, is_replay, request_fingerprint
from shared.masking import mask_personal_data
from shared.problems import TYPE_BASE, Problem, invalid
from shared.service import Runtime, clock_of, get_runtime, settings_of
from shared.textbounds import search_key
from shared.timebounds import in_legal_zone
from shared.workdays import due_after_supplement, due_date

router = APIRouter(prefix="/v1")
BUCKETS = TokenBuckets()
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="the portal's API key, `<portal_id>.<secret>`")

_problem_responses: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "the portal's role does not allow this"},
    404: {"description": "no such dossier"},
    409: {"description": "not allowed in the dossier's current status"},
    422: {"description": "invalid request; `errors` names the fields"},
}


async def portal(request: Request,
                 api_key: Annotated[str | None, Depends(api_key_header)]) -> repo.Portal:
    if not api_key:
        raise Problem(401, "Unauthorized", "an X-API-Key header is required",
                      headers={"WWW-Authenticate": "ApiKey"})
    runtime = get_runtime(request)
    s = settings_of(request, Settings)
    found = await repo.portal_for_key(runtime.pool, api_key, s.portal_key_cache_s)
    if found is None:
        raise Problem(401, "Unauthorized", "unknown or revoked API key",
                      headers={"WWW-Authenticate": "ApiKey"})
    wait = BUCKETS.take(found.id, found.rate_per_s or s.portal_rate_per_s,
                        found.burst or s.portal_burst, time.monotonic())
    if wait:
        raise Problem(429, "Too Many Requests", f"portal {found.id} is over its request rate",
                      headers={"Retry-After": retry_after(wait)})
    return found


Portal = Annotated[repo.Portal, Depends(portal)]


def _business_time(request: Request, given: datetime | None, who: repo.Portal,
                   field: str) -> datetime:
    return business_time(given, who.role == "importer", field, now=clock_of(request).now())


def _receipt(row: asyncpg.Record, runtime: Runtime, *, replayed: bool) -> Receipt:
    rb = runtime.rulebook
    unit = rb.unit(row["unit_code"])
    procedure = rb.procedure(row["procedure_code"])
    return Receipt(
        code=row["code"], unit_code=row["unit_code"], unit_name=unit.name if unit else "",
        procedure_code=row["procedure_code"], procedure_name=procedure.name if procedure else "",
        channel=row["channel"], return_method=row["return_method"], filed_at=row["filed_at"],
        received_at=row["received_at"], counted_from=row["counted_from"], due_at=row["due_at"],
        processing_days=row["processing_days"], fee=procedure.fee if procedure else 0,
        pin=receipt_pin(row["code"], runtime.settings.pin_pepper), status=row["status"],
        rulebook=row["rulebook"], replayed=replayed,
    )


@router.post("/dossiers", status_code=201, response_model=Receipt, tags=["dossiers"],
             summary="File a dossier and get its receipt (Form 01)",
             responses={200: {"description": "an idempotent retry: the dossier filed before",
                              "model": Receipt}, **_problem_responses})
async def file_dossier(
    body: FilingRequest,
    request: Request,
    response: Response,
    who: Portal,
    idempotency_key: IdempotencyKey = None,
) -> Receipt:
    runtime = get_runtime(request)
    rb = runtime.rulebook
    unit, procedure, errors = check_filing(rb, body.unit_code, body.procedure_code, body.channel,
                                           body.return_method)
    if errors:
        raise invalid(*((e.field, e.message) for e in errors))
    assert unit is not None and procedure is not None
    refused = channel_refusal(who.role, body.channel)
    if refused is not None:
        raise Problem(403, "Forbidden", refused, type_=TYPE_BASE + "channel-not-allowed")
    received_at = _business_time(request, body.received_at, who, "received_at")
    fingerprint = request_fingerprint(body.model_dump(mode="json"))

    async def replay(row: asyncpg.Record) -> Receipt:
        # Found by its Idempotency-Key or its external_ref: either way, only the same request
        # again gets the first one's receipt (another applicant's filing must not).
        by_key = bool(idempotency_key) and row["idempotency_key"] == idempotency_key
        is_replay(row["request_hash"], fingerprint, response,
                  "Idempotency-Key" if by_key else "external_ref")
        response.status_code = 200
        return _receipt(row, runtime, replayed=True)

    async with runtime.pool.acquire() as conn:
        existing = await repo.find_existing(conn, who.id, idempotency_key, body.external_ref)
        if existing is not None:
            return await replay(existing)
        cal, policy = rb.calendar_for(unit.code), rb.policy_for(unit.code)
        # A postal filing is received at the courier's handover at the desk, not now
        # (unless an importer back-fills one that was handed over long ago).
        in_transit = body.channel == "postal" and body.received_at is None
        deadline = None if in_transit else due_date(received_at, procedure.processing_days,
                                                     cal, policy)
        local_day = received_at.astimezone(policy.tz).date()
        try:
            async with conn.transaction():
                sequence = await repo.next_sequence(conn, unit.code, local_day)
                code = dossier_code(unit.code, local_day, sequence)
                masked = body.applicant.masked()
                status = ("in_transit" if in_transit else
                          "awaiting_receipt" if body.channel == "online" else "received")
                row = await repo.insert_dossier(conn, {
                    "code": code, "unit_code": unit.code, "current_unit": unit.code,
                    "procedure_code": procedure.code, "channel": body.channel,
                    "return_method": body.return_method, "filed_at": received_at,
                    "received_at": deadline and received_at,
                    "counted_from": deadline and deadline.counted_from,
                    "due_at": deadline and deadline.due_at,
                    "processing_days": procedure.processing_days, "status": status,
                    "status_at": received_at,
                    "applicant": body.applicant.model_dump(mode="json"),
                    "applicant_masked": masked.model_dump(mode="json"),
                    "pin_digest": pin_digest(receipt_pin(code, runtime.settings.pin_pepper), code,
                                             runtime.settings.pin_pepper),
                    "portal_id": who.id, "external_ref": body.external_ref,
                    "idempotency_key": idempotency_key, "request_hash": fingerprint,
                    "rulebook": rb.version,
                    "documents": [d.model_dump(mode="json") for d in body.documents],
                    "note": body.note,
                })
                event: Envelope[Any]
                if deadline is None:
                    event = Envelope(source="intake", data=FiledByPost(
                        dossier_code=code, unit_code=unit.code, procedure_code=procedure.code,
                        return_method=body.return_method, at=received_at))
                    detail = {"channel": "postal"}
                else:
                    event = Envelope(source="intake", data=received_event(
                        code, unit.code, procedure.code, procedure.processing_days, body.channel,
                        body.return_method, received_at, deadline, masked, rb.version,
                        body.external_ref))
                    detail = {"channel": body.channel, "due_at": in_legal_zone(deadline.due_at)}
                await repo.record_timeline(conn, event, received_at, detail)
                await runtime.emit(conn, [event])
        except asyncpg.UniqueViolationError:
            # A concurrent request with the same Idempotency-Key or external_ref won;
            # this transaction (and its sequence number) rolled back.
            existing = await repo.find_existing(conn, who.id, idempotency_key, body.external_ref)
            if existing is None:
                raise
            return await replay(existing)
    response.headers["Location"] = f"/v1/dossiers/{code}"
    return _receipt(row, runtime, replayed=False)


def _visible_to(row: asyncpg.Record, who: repo.Portal) -> bool:
    """A portal sees and acts on the dossiers it filed; the importer role on every dossier.
    Another portal's dossier gets the same 404 as one that does not exist."""
    return who.role == "importer" or bool(row["portal_id"] == who.id)


async def _load(conn: asyncpg.Connection | asyncpg.Pool, code: str, who: repo.Portal, *,
                for_update: bool = False) -> asyncpg.Record:
    row = await repo.get_dossier(conn, code, for_update=for_update)
    if row is None or not _visible_to(row, who):
        raise Problem(404, "Not Found", f"no dossier {code} filed by this portal")
    return row


@router.get("/dossiers/{code}", response_model=DossierView, tags=["dossiers"],
            summary="Status, due date and timeline of a dossier", responses=_problem_responses)
async def get_dossier(code: str, request: Request, who: Portal,
                      timeline_limit: Annotated[int, Query(ge=1, le=1000, description=(
                          "the latest entries shown"))] = 200) -> DossierView:
    return await _view(code, get_runtime(request).pool, who, timeline_limit)


async def _view(code: str, db: asyncpg.Connection | asyncpg.Pool, who: repo.Portal,
                timeline_limit: int = 200) -> DossierView:
    """The dossier as the portal sees it, read through ``db``: inside a transaction, its own
    connection (never a second one from the pool while a row is locked)."""
    row = await _load(db, code, who)
    entries, total = await repo.timeline(db, code, timeline_limit)
    return DossierView(
        code=row["code"], unit_code=row["unit_code"], current_unit=row["current_unit"],
        procedure_code=row["procedure_code"], channel=row["channel"],
        return_method=row["return_method"], status=row["status"],
        filed_at=row["filed_at"], received_at=row["received_at"],
        counted_from=row["counted_from"], due_at=row["due_at"],
        appointment_at=row["appointment_at"], processing_days=row["processing_days"],
        applicant=row["applicant_masked"], external_ref=row["external_ref"],
        rulebook=row["rulebook"], documents=row["documents"],
        # Shown as the applicant is: masked (the desk's own record keeps the text as typed).
        note=mask_personal_data(row["note"]) if row["note"] else None,
        timeline=[TimelineEntry(at=e["at"], type=e["event_type"], source=e["source"],
                                detail=e["detail"]) for e in entries],
        timeline_total=total,
    )


@router.get("/dossiers", response_model=ChangesPage, tags=["dossiers"],
            summary="What changed: the portal's dossiers in the order they changed, a page at "
                    "a time", responses=_problem_responses)
async def changed_dossiers(
    request: Request, who: Portal,
    changed_since: Annotated[str | None, Query(max_length=200, description=(
        "the `next` cursor of the previous page; none to start from the beginning"))] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ChangesPage:
    wanted = ChangesWanted(portal_id=None if who.role == "importer" else who.id,
                           cursor=changed_since, limit=limit)
    try:
        found = await changes_page(get_runtime(request).pool, wanted)
    except ValueError as exc:
        raise invalid(("query:/changed_since", str(exc))) from exc
    return ChangesPage(items=[DossierChange(**{k: r[k] for k in DossierChange.model_fields})
                              for r in found.rows], next=found.next, more=found.more)


@router.post("/dossiers/{code}/supplements", response_model=DossierView, tags=["dossiers"],
             summary="Hand in the documents a supplement request (Form 02) asked for",
             responses=_problem_responses)
async def supplement(code: str, body: SupplementRequest, request: Request, response: Response,
                     who: Portal, idempotency_key: IdempotencyKey = None) -> DossierView:
    runtime = get_runtime(request)
    at = _business_time(request, body.at, who, "at")
    rb = runtime.rulebook
    fingerprint = request_fingerprint(["supplement", code, body.model_dump(mode="json")])
    async with runtime.pool.acquire() as conn, conn.transaction():
        row = await _load(conn, code, who, for_update=True)
        if await _replayed(conn, who, idempotency_key, fingerprint, response):
            return await _view(code, conn, who)
        if row["status"] != "awaiting_supplement":
            raise Problem(409, "Conflict", f"dossier {code} is not awaiting a supplement",
                          type_=TYPE_BASE + "illegal-state", status_now=row["status"])
        requested_at = row["supplement_requested_at"] or at
        if at < requested_at:
            raise invalid(("body:/at", "must not be before the supplement request"))
        unit = row["current_unit"]
        new_due = due_after_supplement(row["due_at"], requested_at, at, row["processing_days"],
                                       rb.calendar_for(unit), rb.policy_for(unit))
        await conn.execute(
            """INSERT INTO supplements (dossier_code, received_at, note, documents, portal_id)
               VALUES ($1, $2, $3, $4, $5)""",
            code, at, body.note, [d.model_dump(mode="json") for d in body.documents], who.id)
        await conn.execute(
            """UPDATE dossiers SET status = 'processing', status_at = $2, due_at = $3,
                 supplement_requested_at = NULL WHERE code = $1""", code, at, new_due)
        event = Envelope(source="intake", data=SupplementReceived(dossier_code=code, received_at=at))
        await repo.record_timeline(conn, event, at, {"documents": len(body.documents),
                                                     "due_at": in_legal_zone(new_due)})
        await runtime.emit(conn, [event])
        if idempotency_key:
            await repo.remember_request(conn, who.id, idempotency_key, "supplement", code,
                                        fingerprint)
    return await _view(code, runtime.pool, who)


@router.post("/dossiers/{code}/withdraw", response_model=DossierView, tags=["dossiers"],
             summary="Withdraw a dossier at the applicant's request", responses=_problem_responses)
async def withdraw(code: str, request: Request, response: Response, who: Portal,
                   body: Annotated[WithdrawRequest | None, Body()] = None,
                   idempotency_key: IdempotencyKey = None) -> DossierView:
    body = body or WithdrawRequest()
    runtime = get_runtime(request)
    at = _business_time(request, body.at, who, "at")
    fingerprint = request_fingerprint(["withdraw", code, body.model_dump(mode="json")])
    async with runtime.pool.acquire() as conn, conn.transaction():
        row = await _load(conn, code, who, for_update=True)
        if await _replayed(conn, who, idempotency_key, fingerprint, response):
            return await _view(code, conn, who)
        if row["status"] in FINISHED:
            raise Problem(409, "Conflict", f"dossier {code} is already {row['status']}",
                          type_=TYPE_BASE + "illegal-state", status_now=row["status"])
        if at < row["filed_at"]:
            raise invalid(("body:/at", "must not be before the dossier was filed"))
        await conn.execute(
            "UPDATE dossiers SET status = 'withdrawn', status_at = $2 WHERE code = $1", code, at)
        event = Envelope(source="intake", data=Withdrawn(dossier_code=code, at=at,
                                                         reason=body.reason))
        # The event's reason is masked (free text may carry a phone or ID number).
        await repo.record_timeline(conn, event, at, {"reason": event.data.reason})
        await runtime.emit(conn, [event])
        if idempotency_key:
            await repo.remember_request(conn, who.id, idempotency_key, "withdraw", code,
                                        fingerprint)
    return await _view(code, runtime.pool, who)


async def _replayed(conn: asyncpg.Connection, who: repo.Portal, key: str | None,
                    fingerprint: str, response: Response) -> bool:
    """Whether this request was made before under ``key`` (its answer is then the dossier as
    it is now, marked Idempotent-Replayed); a key used for another request is a 422. The
    dossier's row lock, taken first, serialises two tries of one request."""
    if not key:
        return False
    first = await repo.request_key(conn, who.id, key)
    return is_replay(first["request_hash"] if first else None, fingerprint, response)


@router.get("/units", response_model=list[UnitView], tags=["catalog"],
            summary="The tree of units with their blocks and cut-off times")
async def units(request: Request,
                block: Annotated[str | None, Query(max_length=32)] = None) -> list[UnitView]:
    rb = get_runtime(request).rulebook
    return [
        UnitView(code=u.code, name=u.name, parent=u.parent, block=u.block,
                 cutoff=rb.policy_for(u.code).cutoff.strftime("%H:%M"))
        for u in rb.units if block is None or u.block == block
    ]


@router.get("/procedures", response_model=list[ProcedureView], tags=["catalog"],
            summary="Procedures with legal processing times, fees and postal acceptance")
async def procedures(request: Request,
                     unit: Annotated[str | None, Query(max_length=32)] = None,
                     q: Annotated[str | None, Query(
                         max_length=100, description="words of the name or code, with or "
                         "without accents ('ly lich' finds 'lý lịch')")] = None,
                     ) -> list[ProcedureView]:
    rb = get_runtime(request).rulebook
    wanted = search_key(q) if q else ""
    out = []
    for p in rb.procedures:
        if unit is not None and unit not in p.units:
            continue
        if wanted and wanted not in search_key(f"{p.code} {p.name}"):
            continue
        out.append(ProcedureView(**p.model_dump()))
    return out
