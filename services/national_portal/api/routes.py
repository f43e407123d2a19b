"""The connector's operator API: a dossier's sync, the refusals, resends and the
reconciliation per unit (docs/rules/national_portal.md). Routes translate HTTP only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.national_portal.adapters.repository import SyncState, UnitCounts
from services.national_portal.service_layer.handlers import NotSynced, SyncHandlers
from shared.audit import audited
from shared.auth import Principal, bearer
from shared.clock import VN, local_today, month_span
from shared.docs import answers
from shared.problems import Problem, invalid
from shared.runtime import clock_of, provided
from shared.timebounds import Day, LocalTime

router = APIRouter(prefix="/v1/national-portal")
Operator = Annotated[Principal, Depends(bearer("operator"))]
ANSWERS = answers(401, 403, 404, 422, said={404: "no such dossier among the caller's units"})


Handlers = Annotated[SyncHandlers, Depends(provided(SyncHandlers))]


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except NotSynced as exc:
        raise Problem(404, "Not Found", str(exc)) from exc


class SyncView(BaseModel):
    dossier_code: str
    unit_code: str
    version: int = Field(description="raised by every change of the dossier")
    synced_version: int = Field(description="the latest version the national portal has")
    steps: int
    synced_steps: int
    pending_since: LocalTime | None
    attempts: int = Field(description="failed sends since the last success")
    next_attempt_at: LocalTime
    refused_version: int | None
    refused_code: str | None = Field(description="the portal's error code")
    refused_text: str | None = Field(description="the portal's error text (masked)")
    refused_at: LocalTime | None
    first_synced_at: LocalTime | None
    last_synced_at: LocalTime | None


def view(s: SyncState) -> SyncView:
    return SyncView(dossier_code=s.code, **{k: v for k, v in vars(s).items() if k != "code"})


def _yours(who: Principal, unit_code: str, code: str) -> None:
    if not who.may_act_on(unit_code):
        raise Problem(404, "Not Found", f"the connector has not heard of dossier {code}")


@router.get("/dossiers/{code}", response_model=SyncView, tags=["national portal"],
            summary="How far a dossier's sync has got", responses=ANSWERS,
            dependencies=[audited("read:national-portal.dossier", subject="code")])
async def sync_state(code: str, who: Operator, app: Handlers) -> SyncView:
    with refusals():
        found = await app.state(code)
    _yours(who, found.unit_code, code)
    return view(found)


@router.get("/refused", response_model=list[SyncView], tags=["national portal"],
            summary="Dossiers the national portal refused, with its error, oldest first",
            responses=ANSWERS)
async def refused(who: Operator, app: Handlers,
                  unit: Annotated[str | None, Query(max_length=32)] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[SyncView]:
    found = await app.refusals(unit, limit)
    return [view(s) for s in found if who.may_act_on(s.unit_code)]


class Resent(BaseModel):
    resent: int = Field(description="refused dossiers queued again")


@router.post("/dossiers/{code}/resend", response_model=Resent, tags=["national portal"],
             summary="Send a refused dossier again (after the fix)", responses=ANSWERS,
             dependencies=[audited("change:national-portal.resend", subject="code")])
async def resend(code: str, request: Request, who: Operator, app: Handlers) -> Resent:
    with refusals():
        _yours(who, (await app.state(code)).unit_code, code)
    return Resent(resent=await app.resend(code, None, clock_of(request).now()))


@router.post("/units/{unit_code}/resend-refused", response_model=Resent,
             tags=["national portal"], summary="Send every refused dossier of a unit again",
             responses=ANSWERS,
             dependencies=[audited("change:national-portal.resend-refused", subject="unit_code")])
async def resend_unit(unit_code: str, request: Request, who: Operator,
                      app: Handlers) -> Resent:
    if not who.may_act_on(unit_code):
        raise Problem(404, "Not Found", f"no unit {unit_code} among your units")
    return Resent(resent=await app.resend(None, unit_code, clock_of(request).now()))


class UnitReconciliation(BaseModel):
    unit_code: str
    received: int = Field(description="dossiers received in the period")
    synced: int = Field(description="of them, synced at least once (indicator 1.4)")
    pending: int = Field(description="with a change the portal does not have yet")
    refused: int
    oldest_pending_s: float | None = Field(description="age of the oldest change not synced")


class Reconciliation(BaseModel):
    start: LocalTime
    end: LocalTime
    units: list[UnitReconciliation]
    total: UnitReconciliation


@router.get("/reconciliation", response_model=Reconciliation, tags=["national portal"],
            summary="Received, synced, pending and refused per unit for a period (local days)",
            responses=answers(401, 403, 422))
async def reconciliation(
    request: Request, who: Operator, app: Handlers,
    unit: Annotated[list[str] | None, Query(max_length=50)] = None,
    first: Annotated[Day | None, Query(alias="from")] = None,
    last: Annotated[Day | None, Query(alias="to")] = None,
) -> Reconciliation:
    now = clock_of(request).now()
    start, end = _span(first, last, now)
    units = unit or (None if "*" in who.units else sorted(who.units))
    found = [u for u in await app.reconciliation(units, start, end) if who.may_act_on(u.unit_code)]
    return Reconciliation(start=start, end=end, units=[_counts(u, now) for u in found],
                          total=_counts(_sum(found), now))


def _span(first: date | None, last: date | None, now: datetime) -> tuple[datetime, datetime]:
    month_first, month_last = month_span(local_today(now))
    first, last = first or month_first, last or month_last
    if last < first:
        raise invalid(("query:/to", "must not be before from"))
    return (datetime.combine(first, time(0), VN),
            datetime.combine(last + timedelta(days=1), time(0), VN))


def _sum(units: list[UnitCounts]) -> UnitCounts:
    oldest = min((u.oldest_pending for u in units if u.oldest_pending), default=None)
    return UnitCounts("*", sum(u.received for u in units), sum(u.synced for u in units),
                      sum(u.pending for u in units), sum(u.refused for u in units), oldest)


def _counts(u: UnitCounts, now: datetime) -> UnitReconciliation:
    age = (now - u.oldest_pending).total_seconds() if u.oldest_pending else None
    return UnitReconciliation(unit_code=u.unit_code, received=u.received, synced=u.synced,
                              pending=u.pending, refused=u.refused, oldest_pending_s=age)
