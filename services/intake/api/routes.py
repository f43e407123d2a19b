"""The intake REST surface (docs/api.md) for portals, the desk and importers. Routes
translate HTTP to the service layer's commands and its refusals to problems."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

from services.intake.adapters.repository import Portal
from services.intake.api.schemas import (
    ChangesPage,
    DossierChange,
    DossierView,
    FilingRequest,
    NotificationEntry,
    NotificationsView,
    NotifyChoice,
    ProcedureView,
    Receipt,
    SupplementRequest,
    TimelineEntry,
    UnitView,
    WithdrawRequest,
)
from services.intake.domain.dossier import Dossier, StatusRefused, TimeRefused
from services.intake.domain.forms import FormNotApplicable
from services.intake.domain.ratelimit import retry_after
from services.intake.service_layer.changes import ChangesWanted, changes_page
from services.intake.service_layer.commands import (
    FileDossier,
    HandInSupplement,
    Requested,
    SetNotifications,
    Withdraw,
)
from services.intake.service_layer.handlers import (
    ChannelRefused,
    DossierNotFound,
    FilingRefused,
    IntakeHandlers,
    Notified,
    NotTheConnector,
    Seen,
    UnknownUnit,
)
from services.intake.service_layer.portal_access import OverRate, PortalAccess, UnknownKey
from shared.audit import audit_note, audited
from shared.auth import business_time
from shared.clock import VN
from shared.docs import answers
from shared.events import DossierCode
from shared.forms import render
from shared.idempotency import IdempotencyKey, mark_replayed
from shared.masking import mask_personal_data
from shared.notifications import mask_address
from shared.problems import Problem, invalid
from shared.runtime import clock_of, component_of, get_runtime, provided
from shared.textbounds import search_key
from shared.timebounds import Day

router = APIRouter(prefix="/v1")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="portalApiKey",
                              description="the portal's API key, `<portal_id>.<secret>`")
ANSWERS = answers(401, 403, 404, 409, 422, 429, said={404: "no such dossier filed by this "
                  "portal", 409: "not allowed in the dossier's current status"})


async def portal(request: Request,
                 api_key: Annotated[str | None, Depends(api_key_header)]) -> Portal:
    challenge = {"WWW-Authenticate": "ApiKey"}
    try:
        if not api_key:
            raise Problem(401, "Unauthorized", "an X-API-Key header is required",
                          headers=challenge)
        admitted = await component_of(request, PortalAccess).admit(api_key)
        request.state.portal = admitted  # who is asking, for the audit trail
        return admitted
    except UnknownKey as exc:
        raise Problem(401, "Unauthorized", "unknown or revoked API key",
                      headers=challenge) from exc
    except OverRate as exc:
        raise Problem(429, "Too Many Requests", str(exc),
                      headers={"Retry-After": retry_after(exc.wait_s)}) from exc


Caller = Annotated[Portal, Depends(portal)]


Handlers = Annotated[IntakeHandlers, Depends(provided(IntakeHandlers))]


@contextmanager
def refusals() -> Iterator[None]:
    """The service layer's refusals as problem documents."""
    try:
        yield
    except FilingRefused as exc:
        raise invalid(*((e.field, e.message) for e in exc.errors)) from exc
    except ChannelRefused as exc:
        raise Problem(403, "Forbidden", str(exc), type_="channel-not-allowed") from exc
    except DossierNotFound as exc:
        raise Problem(404, "Not Found", str(exc)) from exc
    except StatusRefused as exc:
        raise Problem(409, "Conflict", str(exc), type_="illegal-state",
                      status_now=exc.status) from exc
    except TimeRefused as exc:
        raise invalid((f"body:/{exc.field}", str(exc))) from exc
    except FormNotApplicable as exc:
        raise Problem(409, "Conflict", str(exc), type_="illegal-state") from exc
    except UnknownUnit as exc:
        raise Problem(404, "Not Found", str(exc)) from exc


def asked(request: Request, who: Portal, given: datetime | None, sent: dict[str, object],
          key: str | None, field: str = "at") -> Requested:
    at = business_time(given, who.role == "importer", field, now=clock_of(request).now())
    return Requested(who, at, sent, key)


@router.post("/dossiers", status_code=201, response_model=Receipt, tags=["dossiers"],
             summary="File a dossier and get its receipt (Form 01)",
             dependencies=[audited("change:dossier.file")],
             responses=answers(401, 403, 422, 429, also={200: {
                 "description": "an idempotent retry: the dossier filed before",
                 "model": Receipt}}))
async def file_dossier(body: FilingRequest, request: Request, response: Response, who: Caller,
                       app: Handlers, idempotency_key: IdempotencyKey = None) -> Receipt:
    with refusals():
        filed = await app.file(filing(body, asked(request, who, body.received_at,
                                                  body.model_dump(mode="json"), idempotency_key,
                                                  "received_at")))
    audit_note(request, filed.dossier.code)
    if filed.replayed:
        mark_replayed(response)
        response.status_code = 200
    else:
        response.headers["Location"] = f"/v1/dossiers/{filed.dossier.code}"
    return receipt(request, app, filed.dossier, filed.replayed)


def filing(body: FilingRequest, requested: Requested) -> FileDossier:
    return FileDossier(
        requested, body.unit_code, body.procedure_code, body.channel, body.return_method,
        body.applicant, [d.model_dump(mode="json") for d in body.documents], body.note,
        body.external_ref, received_at_given=body.received_at is not None,
        online_mode=body.online_mode, population_data=body.population_data,
        receiving_unit=body.receiving_unit, notify=body.notify.channel if body.notify else None)


def receipt(request: Request, app: IntakeHandlers, d: Dossier, replayed: bool) -> Receipt:
    rb = get_runtime(request).rulebook
    unit, procedure, desk = rb.unit(d.unit_code), rb.procedure(d.procedure_code), rb.unit(d.desk)
    return Receipt.model_validate({
        **vars(d), "unit_name": unit.name if unit else "", "replayed": replayed,
        "receiving_unit": d.desk, "receiving_unit_name": desk.name if desk else "",
        "procedure_name": procedure.name if procedure else "",
        "fee": procedure.fee if procedure else 0, "pin": app.receipt_pin(d.code)})


@router.get("/dossiers/{code}", response_model=DossierView, tags=["dossiers"],
            summary="Status, due date and timeline of a dossier", responses=ANSWERS,
            dependencies=[audited("read:dossier", subject="code")])
async def get_dossier(code: str, who: Caller, app: Handlers,
                      timeline_limit: Annotated[int, Query(ge=1, le=1000, description=(
                          "the latest entries shown"))] = 200) -> DossierView:
    with refusals():
        return view(await app.dossier(code, who, timeline_limit))


def view(seen: Seen) -> DossierView:
    d = seen.dossier
    return DossierView.model_validate({
        **vars(d), "applicant": d.applicant_masked, "receiving_unit": d.desk,
        # Shown as the applicant is: masked (the desk's own record keeps the text as typed).
        "note": mask_personal_data(d.note) if d.note else None,
        "timeline": [TimelineEntry(at=e["at"], type=e["event_type"], source=e["source"],
                                   detail=e["detail"]) for e in seen.timeline],
        "timeline_total": seen.timeline_total})


@router.get("/dossiers", response_model=ChangesPage, tags=["dossiers"],
            summary="What changed: the portal's dossiers in the order they changed, a page at "
                    "a time", responses=ANSWERS)
async def changed_dossiers(
    request: Request, who: Caller,
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
    return ChangesPage(items=[DossierChange(**{k: r[k] for k in DossierChange.model_fields
                                               if k != "receiving_unit"},
                                            receiving_unit=r["receiving_unit"] or r["unit_code"])
                              for r in found.rows], next=found.next, more=found.more)


@router.post("/dossiers/{code}/supplements", response_model=DossierView, tags=["dossiers"],
             summary="Hand in the documents a supplement request (Form 02) asked for",
             responses=ANSWERS, dependencies=[audited("change:dossier.supplement", subject="code")])
async def supplement(code: str, body: SupplementRequest, request: Request, response: Response,
                     who: Caller, app: Handlers,
                     idempotency_key: IdempotencyKey = None) -> DossierView:
    cmd = HandInSupplement(code, asked(request, who, body.at, body.model_dump(mode="json"),
                                       idempotency_key),
                           [d.model_dump(mode="json") for d in body.documents], body.note)
    with refusals():
        if await app.hand_in_supplement(cmd):
            mark_replayed(response)
        return view(await app.dossier(code, who))


@router.post("/dossiers/{code}/withdraw", response_model=DossierView, tags=["dossiers"],
             summary="Withdraw a dossier at the applicant's request", responses=ANSWERS,
             dependencies=[audited("change:dossier.withdraw", subject="code")])
async def withdraw(code: str, request: Request, response: Response, who: Caller, app: Handlers,
                   body: Annotated[WithdrawRequest | None, Body()] = None,
                   idempotency_key: IdempotencyKey = None) -> DossierView:
    body = body or WithdrawRequest()
    cmd = Withdraw(code, asked(request, who, body.at, body.model_dump(mode="json"),
                               idempotency_key), body.reason)
    with refusals():
        if await app.withdraw(cmd):
            mark_replayed(response)
        return view(await app.dossier(code, who))


@router.get("/dossiers/{code}/notifications", response_model=NotificationsView,
            tags=["notifications"], responses=ANSWERS,
            dependencies=[audited("read:notifications", subject="code")],
            summary="What the applicant was told of the dossier's steps, and how: the "
                    "notification history (addresses masked)")
async def notifications(code: str, who: Caller, app: Handlers) -> NotificationsView:
    with refusals():
        return notified(await app.notifications(code, who))


@router.put("/dossiers/{code}/notifications", response_model=NotificationsView,
            tags=["notifications"], responses=ANSWERS,
            dependencies=[audited("change:notifications", subject="code")],
            summary="Change how the applicant is told of the steps; channel none opts out "
                    "(what is still pending is skipped)")
async def set_notifications(code: str, body: NotifyChoice, request: Request, who: Caller,
                            app: Handlers) -> NotificationsView:
    cmd = SetNotifications(code, asked(request, who, None, body.model_dump(mode="json"), None),
                           body.channel)
    with refusals():
        return notified(await app.set_notifications(cmd))


def notified(found: Notified) -> NotificationsView:
    return NotificationsView.model_validate({"preference": found.preference, "items": [
        NotificationEntry.model_validate({
            **row, "address": mask_address(row["address"]),
            "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None})
        for row in found.history]})


class ApplicantsWanted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    codes: list[DossierCode] = Field(min_length=1, max_length=500)


class ApplicantRecord(BaseModel):
    portal_id: str = Field(description="the portal that filed the dossier")
    kind: str
    full_name: str
    id_number: str
    phone: str | None
    email: str | None
    address: str | None


class Applicants(BaseModel):
    applicants: dict[str, ApplicantRecord] = Field(description="by dossier code; unknown codes "
                                                               "are left out")


@router.post("/applicants/lookup", response_model=Applicants, tags=["national portal"],
             summary="The applicants of dossiers, as filed: for the national portal "
                     "connector's key only", responses=answers(401, 403, 422, 429),
             dependencies=[audited("read:applicants")])
async def applicants(body: ApplicantsWanted, request: Request, who: Caller,
                     app: Handlers) -> Applicants:
    audit_note(request, *dict.fromkeys(body.codes))
    try:
        found = await app.applicants(sorted(set(body.codes)), who)
    except NotTheConnector as exc:
        raise Problem(403, "Forbidden", "only the national portal connector reads "
                                        "applicants") from exc
    return Applicants(applicants={c: ApplicantRecord(**vars(a)) for c, a in found.items()})


PDF = "application/pdf"
PDF_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {PDF: {}}, "description": "the form, printable (PDF)"}}
FormNumber = Annotated[str, Path(pattern="^(01|02|03|04|06)$", description=(
    "01 receipt and appointment, 02 request to supplement, 03 refusal, 04 apology and new "
    "date, 06 notice of stopping (05, the control slip, is processing's)"))]


def pdf(body: bytes, name: str) -> Response:
    return Response(body, media_type=PDF,
                    headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})


@router.get("/dossiers/{code}/forms/{form}", tags=["forms"], response_class=Response,
            summary="A printed form of the dossier (Circular 03/2025), PDF with its QR code",
            dependencies=[audited("read:form.{form}", subject="code")],
            responses=answers(401, 404, 409, 422, 429, also=PDF_ANSWER, said={
                409: "the dossier is not in a state this form speaks of"}))
async def form(code: str, form: FormNumber, request: Request, who: Caller,
               app: Handlers) -> Response:
    with refusals():
        built = await app.form(code, form, who, clock_of(request).now())
    return pdf(await asyncio.to_thread(render, built), f"mau-{form}-{code}")


@router.get("/units/{unit_code}/register", tags=["forms"], response_class=Response,
            summary="Form 07: the register of the unit's dossiers filed between two days "
                    "(those the caller may see), PDF",
            dependencies=[audited("read:register", subject="unit_code", detail=("from", "to"))],
            responses=answers(401, 404, 422, 429, also=PDF_ANSWER))
async def register(unit_code: str, request: Request, who: Caller, app: Handlers,
                   first: Annotated[Day, Query(alias="from")],
                   last: Annotated[Day, Query(alias="to")]) -> Response:
    if last < first or (last - first).days > 366:
        raise invalid(("query:/to", "from first to last day, at most a year"))
    with refusals():
        built = await app.register(unit_code, _day_start(first),
                                   _day_start(last + timedelta(days=1)), who,
                                   clock_of(request).now())
    return pdf(await asyncio.to_thread(render, built), f"so-theo-doi-{unit_code}-{first}")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), VN)


@router.get("/units", response_model=list[UnitView], tags=["catalog"],
            summary="The tree of units with their blocks and cut-off times")
async def units(request: Request,
                block: Annotated[str | None, Query(max_length=32)] = None) -> list[UnitView]:
    rb = get_runtime(request).rulebook
    return [UnitView(code=u.code, name=u.name, parent=u.parent, block=u.block,
                     cutoff=rb.policy_for(u.code).cutoff.strftime("%H:%M"),
                     merged_into=merged[0] if merged else None,
                     merged_on=merged[1] if merged else None)
            for u in rb.units if block is None or u.block == block
            for merged in [rb.merger_of(u.code)]]


@router.get("/procedures", response_model=list[ProcedureView], tags=["catalog"],
            summary="Procedures with legal processing times, fees and postal acceptance")
async def procedures(request: Request,
                     unit: Annotated[str | None, Query(max_length=32)] = None,
                     q: Annotated[str | None, Query(
                         max_length=100, description="words of the name or code, with or "
                         "without accents ('ly lich' finds 'lý lịch')")] = None,
                     ) -> list[ProcedureView]:
    wanted = search_key(q) if q else ""
    return [ProcedureView(**p.model_dump()) for p in get_runtime(request).rulebook.procedures
            if (unit is None or unit in p.units)
            and (not wanted or wanted in search_key(f"{p.code} {p.name}"))]
