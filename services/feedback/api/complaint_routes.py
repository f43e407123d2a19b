"""The complaints REST surface (docs/rules/complaints.md): portals submit for citizens with
their API key, the desk and the hotline with an officer's token; officers take each one
through its steps; the citizen gives information and reacts with the complaint's PIN; and
anyone reads the published answers, without personal data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

from services.feedback.domain.complaint import (
    Category,
    Complaint,
    ComplaintRefusal,
    Reaction,
    State,
    Via,
)
from services.feedback.domain.rating import TooManyGuesses, source_key
from services.feedback.service_layer.complaints import (
    ComplaintHandlers,
    ComplaintInputRefused,
    ComplaintNotFound,
    DossierNotFound,
    DossierNotYetKnown,
    OfficerStep,
    SubmitComplaint,
)
from shared.audit import audit_note, audited
from shared.auth import Principal, TokenSent, bearer, business_time, verify_token
from shared.docs import answers, security
from shared.events import ComplaintCode, DossierCode
from shared.portal_keys import ConfiguredKeys
from shared.problems import Problem, invalid
from shared.runtime import clock_of, component_of, provided
from shared.textbounds import PersonName, Phone, PlainText
from shared.timebounds import AwareMoment, LocalTime

router = APIRouter(prefix="/v1", tags=["complaints"])
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="portalApiKey",
                              description="a portal's key (the one it files with)")
APIKey = Annotated[str | None, Depends(api_key_header)]
PIN = Field(pattern=r"^\d{6}$", description="given once when the complaint was submitted")


class Complainant(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    full_name: PersonName | None = Field(default=None, min_length=2, max_length=200)
    phone: Phone | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ComplaintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: PlainText = Field(min_length=3, max_length=200)
    body: PlainText = Field(min_length=3, max_length=8000)
    category: Category = "other"
    unit_code: str | None = Field(default=None, max_length=32,
                                  description="required unless the complaint is about a dossier")
    dossier_code: DossierCode | None = None
    pin: str | None = Field(default=None, pattern=r"^\d{6}$",
                            description="the dossier's receipt PIN (with dossier_code)")
    via: Literal["desk", "hotline"] | None = Field(
        default=None, description="with an officer's token: taken at the desk (default) or "
                                  "from a caller to the hotline")
    complainant: Complainant | None = None
    repeat_of: ComplaintCode | None = Field(default=None, description="an earlier complaint "
                                            "about the same matter")
    at: AwareMoment | None = Field(default=None, description="importer only")


class Deadlines(BaseModel):
    refuse_by: LocalTime
    request_info_by: LocalTime
    answer_by: LocalTime
    publish_by: LocalTime | None


class ComplaintView(BaseModel):
    code: str
    unit_code: str
    category: Category
    via: Via
    state: State
    dossier_code: str | None
    repeat_of: str | None
    subject: str
    body: str
    received_at: LocalTime
    deadlines: Deadlines
    info_requested_at: LocalTime | None
    info_request: str | None
    info_received_at: LocalTime | None
    info: str | None
    answered_at: LocalTime | None
    answer: str | None
    published_at: LocalTime | None
    refused_at: LocalTime | None
    refusal: str | None
    reaction: Reaction | None
    reacted_at: LocalTime | None
    repeated_at: LocalTime | None
    complainant: Complainant | None = Field(
        default=None, description="to officers of the unit only")


class SubmittedView(ComplaintView):
    pin: str = Field(description="the complainant's PIN for giving information and reacting; "
                                 "shown this once")


class PublishedAnswer(BaseModel):
    code: str
    unit_code: str
    category: Category
    about_a_dossier: bool
    subject: str
    body: str
    received_at: LocalTime
    answered_at: LocalTime
    answer: str
    published_at: LocalTime


class InfoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pin: str = PIN
    info: PlainText = Field(min_length=1, max_length=8000)
    at: AwareMoment | None = Field(default=None, description="importer token only")


class ReactionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pin: str = PIN
    reaction: Reaction
    at: AwareMoment | None = Field(default=None, description="importer token only")


Handlers = Annotated[ComplaintHandlers, Depends(provided(ComplaintHandlers))]


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except TooManyGuesses as e:
        raise Problem(429, "Too Many Requests", "too many wrong PINs; try again later",
                      headers={"Retry-After": str(e.retry_after_s)}) from e
    except (ComplaintNotFound, DossierNotFound) as e:
        what = "dossier" if isinstance(e, DossierNotFound) else "complaint"
        raise Problem(404, "Not Found", f"no such {what}, or the PIN does not match") from e
    except DossierNotYetKnown as e:
        raise Problem(409, "Conflict", "the dossier is not known here yet; try again shortly",
                      type_="complaint-dossier-not-yet-known",
                      headers={"Retry-After": "5"}) from e
    except ComplaintRefusal as e:
        raise Problem(409, "Conflict", str(e), type_="complaint-step-refused") from e
    except ComplaintInputRefused as e:
        raise invalid((e.field or "body", str(e))) from e


def _view(c: Complaint, *, with_complainant: bool) -> dict[str, Any]:
    return dict(
        code=c.code, unit_code=c.unit_code, category=c.category, via=c.via, state=c.state,
        dossier_code=c.dossier_code, repeat_of=c.repeat_of, subject=c.subject, body=c.body,
        received_at=c.received_at,
        deadlines=Deadlines(refuse_by=c.refuse_by, request_info_by=c.request_info_by,
                            answer_by=c.answer_by, publish_by=c.publish_by),
        info_requested_at=c.info_requested_at, info_request=c.info_request,
        info_received_at=c.info_received_at, info=c.info, answered_at=c.answered_at,
        answer=c.answer_text, published_at=c.published_at, refused_at=c.refused_at,
        refusal=c.refusal, reaction=c.reaction, reacted_at=c.reacted_at,
        repeated_at=c.repeated_at,
        complainant=Complainant.model_validate(c.complainant)
        if with_complainant and c.complainant else None)


def _importer(request: Request, token: TokenSent) -> bool:
    return token is not None and verify_token(request, token.credentials).role == "importer"


def _source(request: Request) -> str:
    return source_key(request.client.host if request.client else "unknown")


def _submitter(request: Request, body: ComplaintRequest, api_key: str | None,
               token: TokenSent) -> tuple[Via, str, bool]:
    """How the complaint came, who sent it, and whether it may be back-dated."""
    if api_key:
        holder = component_of(request, ConfiguredKeys).holder(api_key)
        if holder is None or holder.role == "connector":
            raise Problem(401, "Unauthorized", "unknown or revoked API key",
                          headers={"WWW-Authenticate": "ApiKey"})
        request.state.portal = holder  # who is asking, for the audit trail
        if body.via is not None:
            raise invalid(("body:/via", "a portal's complaint comes from the portal"))
        return ("desk" if holder.role == "desk" else "portal"), holder.portal_id, \
            holder.role == "importer"
    if token is None:
        raise Problem(401, "Unauthorized", "an X-API-Key header or a bearer token is required",
                      headers={"WWW-Authenticate": "Bearer"})
    who = verify_token(request, token.credentials)
    return body.via or "desk", who.subject, who.is_importer


@router.post("/complaints", status_code=201, response_model=SubmittedView,
             summary="Submit a complaint (phản ánh, kiến nghị), optionally about a dossier",
             responses=answers(401, 404, 409, 422, 429, said={
                 404: "the dossier code and receipt PIN do not match (the same answer whether "
                      "or not the dossier exists)",
                 409: "the dossier is not known here yet (Retry-After)",
                 429: "too many wrong PINs; see Retry-After"}),
             openapi_extra=security({"portalApiKey": []}, {"bearerToken": []}),
             dependencies=[audited("change:complaint.submit")])
async def submit(body: ComplaintRequest, request: Request, response: Response, app: Handlers,
                 api_key: APIKey = None, token: TokenSent = None) -> SubmittedView:
    via, by, may_backdate = _submitter(request, body, api_key, token)
    if (body.dossier_code is None) != (body.pin is None):
        raise invalid(("body:/pin", "a dossier_code comes with its receipt's pin"))
    at = business_time(body.at, may_backdate, now=clock_of(request).now())
    with refusals():
        done = await app.submit(SubmitComplaint(
            subject=body.subject, body=body.body, category=body.category, via=via,
            submitted_by=by, at=at, source=_source(request), unit_code=body.unit_code,
            dossier_code=body.dossier_code, pin=body.pin,
            complainant=body.complainant.model_dump(exclude_none=True)
            if body.complainant else None, repeat_of=body.repeat_of))
    audit_note(request, done.complaint.code)
    response.headers["Location"] = f"/v1/complaints/{done.complaint.code}"
    return SubmittedView(**_view(done.complaint, with_complainant=True), pin=done.pin)


@router.get("/complaints", response_model=list[ComplaintView],
            summary="Complaints of your units, newest first",
            responses=answers(401, 403), dependencies=[audited("read:complaints")])
async def list_complaints(request: Request, app: Handlers,
                          who: Annotated[Principal, Depends(bearer())],
                          unit_code: str | None = None, state: State | None = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[ComplaintView]:
    found = await app.complaints(who, unit_code, state, limit)
    audit_note(request, *(c.code for c in found))
    return [ComplaintView(**_view(c, with_complainant=True)) for c in found]


@router.get("/complaints/{code}", response_model=ComplaintView,
            summary="One complaint, with the complainant's contact (officers of its unit)",
            responses=answers(401, 403, 404, said={404: "no such complaint among your units"}),
            dependencies=[audited("read:complaint", subject="code")])
async def read(code: str, app: Handlers,
               who: Annotated[Principal, Depends(bearer())]) -> ComplaintView:
    with refusals():
        c = await app.complaint(code, who)
    return ComplaintView(**_view(c, with_complainant=True))


@router.post("/complaints/{code}/steps", response_model=ComplaintView,
             summary="An officer's step: refuse, request_info, answer, publish or classify",
             responses=answers(401, 403, 404, 409, 422, said={
                 404: "no such complaint among your units",
                 409: "the complaint's state does not allow this step"}),
             dependencies=[audited("change:complaint.step", subject="code")])
async def step(code: str, request: Request, app: Handlers,
               body: Annotated[OfficerStep, Body(discriminator="action")],
               who: Annotated[Principal, Depends(bearer("officer", "leader", "importer"))],
               ) -> ComplaintView:
    audit_note(request, action=f"change:complaint.{body.action}")
    at = business_time(body.at, who.is_importer, now=clock_of(request).now())
    with refusals():
        c = await app.act(code, body, at, who)
    return ComplaintView(**_view(c, with_complainant=True))


@router.post("/complaints/{code}/info", response_model=ComplaintView,
             summary="The citizen gives the information asked for (the complaint's PIN)",
             responses=answers(404, 409, 422, 429, said={
                 404: "no such complaint, or the PIN does not match",
                 409: "no information is awaited"}),
             openapi_extra=security({}, {"bearerToken": []}),
             dependencies=[audited("change:complaint.info", subject="code")])  # with a token
async def give_info(code: str, body: InfoRequest, request: Request, app: Handlers,
                    token: TokenSent = None) -> ComplaintView:
    at = _citizen_time(request, body.at, token)
    with refusals():
        c = await app.give_info(code, body.pin, body.info, at, _source(request))
    return ComplaintView(**_view(c, with_complainant=False))


@router.post("/complaints/{code}/reaction", response_model=ComplaintView,
             summary="The citizen accepts or dislikes the reply (the complaint's PIN), once",
             responses=answers(404, 409, 422, 429, said={
                 404: "no such complaint, or the PIN does not match",
                 409: "no reply yet, or already reacted"}),
             openapi_extra=security({}, {"bearerToken": []}),
             dependencies=[audited("change:complaint.reaction", subject="code")])  # with a token
async def react(code: str, body: ReactionRequest, request: Request, app: Handlers,
                token: TokenSent = None) -> ComplaintView:
    at = _citizen_time(request, body.at, token)
    with refusals():
        c = await app.react(code, body.pin, body.reaction, at, _source(request))
    return ComplaintView(**_view(c, with_complainant=False))


def _citizen_time(request: Request, given: datetime | None, token: TokenSent) -> datetime:
    return business_time(given, given is not None and _importer(request, token),
                         now=clock_of(request).now())


@router.get("/public/complaints", response_model=list[PublishedAnswer],
            summary="Published answers, newest first (no personal data)",
            responses=answers(422))
async def published(app: Handlers, unit_code: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[PublishedAnswer]:
    rows = await app.published(unit_code, limit)
    return [PublishedAnswer(**_public(r)) for r in rows]


@router.get("/public/complaints/{code}", response_model=PublishedAnswer,
            summary="One published answer (no personal data)",
            responses=answers(404, said={404: "no published answer with this code"}))
async def published_one(code: str, app: Handlers) -> PublishedAnswer:
    rows = await app.published(None, 1, code)
    if not rows:
        raise Problem(404, "Not Found", "no published answer with this code")
    return PublishedAnswer(**_public(rows[0]))


def _public(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["answer"] = out.pop("answer_text")
    return out
