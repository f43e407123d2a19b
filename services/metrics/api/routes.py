"""The metrics REST surface (docs/api.md): figures per unit, procedure and block, the live
stream and the dashboard."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import APIKeyQuery
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from services.metrics.adapters.live import MAX_WATCHED_DAYS, LiveHub, TooManyPeriods, Watched
from services.metrics.adapters.reader import MetricsReader
from services.metrics.api.mergers import Mergers, mergers
from services.metrics.domain.figures import RANKABLE, Period, PeriodError
from services.metrics.settings import Settings
from shared.auth import TokenSent, verify_token
from shared.clock import local_today
from shared.docs import security
from shared.problems import Problem, invalid
from shared.rulebook import Rulebook
from shared.runtime import clock_of, component_of, settings_of
from shared.timebounds import Day, LocalTime, Moment

router = APIRouter()
# Read once: the page is static (it fetches its figures and listens to the stream).
DASHBOARD = Path(__file__).with_name("dashboard.html").read_text(encoding="utf-8")


def _reader(request: Request) -> MetricsReader:
    return component_of(request, MetricsReader)


def _hub(request: Request) -> LiveHub:
    return component_of(request, LiveHub)


access_token_query = APIKeyQuery(name="access_token", auto_error=False,
                                 scheme_name="accessToken",
                                 description="a bearer token in the query, for EventSource "
                                             "(which cannot send headers)")
# Figures are public unless METRICS_PUBLIC_READ=false; then any valid token reads them.
FIGURES_SECURITY = security({}, {"bearerToken": []}, {"accessToken": []})


async def may_read(request: Request, bearer_token: TokenSent = None,
                   access_token: Annotated[str | None, Depends(access_token_query)] = None
                   ) -> None:
    s = settings_of(request, Settings)
    if s.public_read:
        return  # public figures: no thread-pool hop for nothing
    token = bearer_token.credentials if bearer_token is not None else access_token
    if not token:
        raise Problem(401, "Unauthorized", "a bearer token is required",
                      headers={"WWW-Authenticate": "Bearer"})
    # The provider's keys may have to be fetched (blocking): off the event loop.
    await run_in_threadpool(verify_token, request, token)


Readable = Depends(may_read)


def period(request: Request, preset: str | None, first: date | None, last: date | None,
           as_of: datetime | None) -> Period:
    """The period a query names, by the service's clock; a bad one is a 422."""
    try:
        return Period.asked(preset, first, last, as_of, clock_of(request).now())
    except PeriodError as e:
        raise invalid((f"query:/{e.field}", str(e))) from e


PresetName = Literal["this_month", "last_month", "this_quarter", "this_year"]
PresetQ = Annotated[PresetName | None, Query(
    alias="period", description="a named period in local time, instead of from/to")]
FromQ = Annotated[Day | None, Query(alias="from", description="first day, local time")]
ToQ = Annotated[Day | None, Query(alias="to", description="last day (inclusive)")]
AsOfQ = Annotated[Moment | None, Query(description="judge open dossiers at this time")]


async def query_period(request: Request, preset: PresetQ = None, first: FromQ = None,
                       last: ToQ = None, as_of: AsOfQ = None) -> Period:
    # async: a plain function would be sent to the thread pool on every request
    return period(request, preset, first, last, as_of)


async def watched_period(request: Request, preset: PresetQ = None, first: FromQ = None,
                         last: ToQ = None) -> Watched:
    """What a stream subscriber watches: a preset stays relative to the clock."""
    p = period(request, preset, first, last, None)  # validated as the reads are
    if preset is None and first is None and last is None:
        return Watched()
    if preset is not None:
        return Watched(preset=preset)
    first, last = p.start.date(), (p.end - timedelta(days=1)).date()
    if (last - first).days >= MAX_WATCHED_DAYS:
        # Each watched range is recomputed live for every unit: at most a year of days.
        raise invalid(("query:/to", f"a live range spans at most {MAX_WATCHED_DAYS} days"))
    return Watched(preset=None, first=first, last=last)


QueriedPeriod = Annotated[Period, Depends(query_period)]


class PeriodView(BaseModel):
    start: LocalTime
    end: LocalTime
    as_of: LocalTime


def _pv(p: Period) -> PeriodView:
    return PeriodView(start=p.start, end=p.end, as_of=p.as_of)


class UnitMetrics(Mergers):
    unit_code: str
    name: str
    block: str
    include_subunits: bool
    units: list[str]
    period: PeriodView
    figures: dict[str, Any]


@router.get("/v1/metrics/units/{unit_code}", response_model=UnitMetrics, tags=["metrics"],
            summary="Every figure of docs/rules/metrics.md for a unit (with or without its sub-units)",
            dependencies=[Readable], openapi_extra=FIGURES_SECURITY,
            responses={404: {"description": "unknown unit"}, 422: {"description": "bad query"}})
async def unit_metrics(unit_code: str, request: Request, p: QueriedPeriod,
                       include_subunits: bool = False) -> UnitMetrics:
    reader = _reader(request)
    unit = reader.rulebook.unit(unit_code)
    if unit is None:
        raise Problem(404, "Not Found", f"no unit {unit_code}")
    g = await reader.unit(unit_code, p, include_subunits=include_subunits)
    return UnitMetrics(unit_code=unit.code, name=unit.name, block=unit.block,
                       include_subunits=include_subunits,
                       units=reader.units_of(unit_code, include_subunits, p), period=_pv(p),
                       figures=g.as_dict(), **mergers(reader.rulebook, unit.code, p.last_day))


class RankedUnit(BaseModel):
    unit_code: str
    name: str
    rank: int | None
    value: float | None
    sample: int


class Rankings(BaseModel):
    block: str
    by: str
    min_sample: int
    period: PeriodView
    units: list[RankedUnit]


@router.get("/v1/metrics/rankings", response_model=Rankings, tags=["metrics"],
            summary="Units of a block ranked by a rate; units under the minimum sample are "
                    "listed unranked", dependencies=[Readable], openapi_extra=FIGURES_SECURITY,
            responses={422: {"description": "unknown block or rate"}})
async def rankings(request: Request, p: QueriedPeriod,
                   block: Annotated[str, Query(max_length=32)] = "department",
                   by: Annotated[str, Query(description=", ".join(RANKABLE))] = "on_time_rate",
                   min_sample: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> Rankings:
    reader = _reader(request)
    _check_ranking(reader, block, by)
    sample = min_sample or settings_of(request, Settings).min_sample
    names = {u.code: u.name for u in reader.rulebook.units}
    return Rankings(block=block, by=by, min_sample=sample, period=_pv(p),
                    units=[RankedUnit(unit_code=r.unit_code, name=names[r.unit_code],
                                      rank=r.rank, value=r.value, sample=r.sample)
                           for r in await reader.rankings(block, by, p, sample)])


def _check_ranking(reader: MetricsReader, block: str, by: str) -> None:
    if by not in RANKABLE:
        raise invalid(("query:/by", f"one of {', '.join(RANKABLE)}"))
    check_block(reader.rulebook, block)


def check_block(rulebook: Rulebook, block: str) -> None:
    """:raises Problem: 422 for a block no unit of the rulebook is in."""
    blocks = {u.block for u in rulebook.units}
    if block not in blocks:
        raise invalid(("query:/block", f"one of {sorted(blocks)}"))


class ProcedureMetrics(BaseModel):
    procedure_code: str
    name: str
    processing_days: int
    unit_code: str | None
    period: PeriodView
    figures: dict[str, Any]


@router.get("/v1/metrics/procedures/{code}", response_model=ProcedureMetrics, tags=["metrics"],
            summary="Figures of one procedure, with the average processing time in working days",
            dependencies=[Readable], openapi_extra=FIGURES_SECURITY,
            responses={404: {"description": "unknown procedure"}})
async def procedure_metrics(code: str, request: Request, p: QueriedPeriod,
                            unit: Annotated[str | None, Query(max_length=32)] = None,
                            include_subunits: bool = False) -> ProcedureMetrics:
    reader = _reader(request)
    procedure = reader.rulebook.procedure(code)
    if procedure is None:
        raise Problem(404, "Not Found", f"no procedure {code}")
    g = await reader.procedure(code, p, unit, include_subunits)
    return ProcedureMetrics(procedure_code=code, name=procedure.name,
                            processing_days=procedure.processing_days, unit_code=unit,
                            period=_pv(p), figures=g.as_dict())


class OverviewUnit(Mergers):
    unit_code: str
    name: str
    block: str
    parent: str | None
    figures: dict[str, Any]


class Overview(BaseModel):
    period: PeriodView
    units: list[OverviewUnit]


@router.get("/v1/metrics/overview", response_model=Overview, tags=["metrics"],
            summary="Every unit's figures at once (what the dashboard starts from)",
            dependencies=[Readable], openapi_extra=FIGURES_SECURITY)
async def overview(request: Request, p: QueriedPeriod) -> Overview:
    reader = _reader(request)
    everyone = await reader.all_units(p)
    return Overview(period=_pv(p), units=[
        OverviewUnit(unit_code=u.code, name=u.name, block=u.block, parent=u.parent,
                     figures=everyone[u.code].as_dict(),
                     **mergers(reader.rulebook, u.code, p.last_day))
        for u in reader.rulebook.in_force(p.last_day)])


class NamedUnit(BaseModel):
    unit_code: str
    name: str
    block: str


class DeskView(Mergers, NamedUnit):
    received: int = Field(description="dossiers received at this unit's desk in the period")
    handed_over: int = Field(description="of them, resolved by another (competent) unit")
    returned: int = Field(description="results returned in the period of dossiers received "
                                      "here")
    returned_at_counter: int = Field(description="of them, handed over at the counter")


class Desks(BaseModel):
    period: PeriodView
    desks: list[DeskView]


@router.get("/v1/metrics/desks", response_model=Desks, tags=["metrics"],
            summary="Each desk's workload by the unit that received the dossiers (filing "
                    "regardless of administrative boundaries): received, handed over, returned",
            dependencies=[Readable], openapi_extra=FIGURES_SECURITY,
            responses={422: {"description": "bad query"}})
async def desks(request: Request, p: QueriedPeriod) -> Desks:
    reader = _reader(request)
    counted = await reader.desks(p)
    return Desks(period=_pv(p), desks=[
        DeskView(unit_code=u.code, name=u.name, block=u.block, **vars(counted[u.code]),
                 **mergers(reader.rulebook, u.code, p.last_day))
        for u in reader.rulebook.in_force(p.last_day)])


class StuckUnit(NamedUnit):
    stuck: int = Field(description="open dossiers with no step for the rulebook's working days")


class StuckNow(BaseModel):
    as_of: LocalTime
    total: int
    units: list[StuckUnit]


@router.get("/v1/metrics/stuck", response_model=StuckNow, tags=["metrics"],
            summary="Stuck dossiers (hồ sơ treo) now, per unit where they are: open, their "
                    "clock running, no step for the rulebook's working days",
            dependencies=[Readable], openapi_extra=FIGURES_SECURITY)
async def stuck(request: Request) -> StuckNow:
    reader, now = _reader(request), clock_of(request).now()
    counted = await reader.stuck(local_today(now))
    return StuckNow(as_of=now, total=sum(counted.values()), units=[
        StuckUnit(unit_code=u.code, name=u.name, block=u.block, stuck=counted[u.code])
        for u in reader.rulebook.in_force(local_today(now))])


@router.get("/v1/metrics/stream", tags=["metrics"], dependencies=[Readable],
            openapi_extra=FIGURES_SECURITY,
            summary="Server-Sent Events: each changed unit's figures for the period watched "
                    "(the current month unless a preset or from/to is given)",
            response_class=EventSourceResponse,
            responses={422: {"description": "bad period"},
                       429: {"description": "too many distinct periods are watched"}})
async def stream(request: Request,
                 watched: Annotated[Watched, Depends(watched_period)]) -> EventSourceResponse:
    hub = _hub(request)
    try:
        queue = hub.subscribe(watched)
    except TooManyPeriods as e:
        raise Problem(429, "Too Many Requests", f"{e}; watch a preset period or try later",
                      headers={"Retry-After": "30"}) from e
    return EventSourceResponse(hub.messages(queue), ping=10)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(DASHBOARD)
