"""The national index (Decision 766) over REST: a unit's score, rankings, the month trend,
the dossiers at risk, exports, and the operators' entries (docs/rules/index766.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field, model_validator

from services.metrics.api.mergers import Mergers, mergers
from services.metrics.api.routes import (
    FIGURES_SECURITY,
    PeriodView,
    QueriedPeriod,
    RankedUnit,
    Rankings,
    Readable,
    _pv,
    check_block,
)
from services.metrics.domain.index766 import Counts, IndexScore
from services.metrics.service_layer.index766 import (
    Index766,
    InputRefused,
    UnitIndex,
    UnknownUnit,
)
from services.metrics.settings import Settings
from shared.audit import audited
from shared.auth import Principal, bearer
from shared.docs import answers
from shared.problems import Problem, invalid
from shared.runtime import clock_of, provided, settings_of
from shared.timebounds import LocalTime

router = APIRouter(prefix="/v1/metrics")
Operator = Annotated[Principal, Depends(bearer("operator"))]
FIGURE_ANSWERS = answers(404, 422, said={404: "unknown unit"})


Index = Annotated[Index766, Depends(provided(Index766))]


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except UnknownUnit as exc:
        raise Problem(404, "Not Found", str(exc)) from exc
    except InputRefused as exc:
        raise invalid((exc.field, str(exc))) from exc


class IndicatorView(BaseModel):
    id: str
    group: str
    name: str = Field(description="in Vietnamese")
    numerator: int | None
    denominator: int | None
    ratio: float | None = Field(description="percent, 2 decimals; null when empty or missing")
    points: float
    max_points: float
    threshold: float
    missing: bool = Field(description="no input yet: the total is incomplete")
    empty: bool = Field(description="0 / 0: scored by the indicator's empty rule")
    value: float | None = Field(default=None, description="information-only indicators")


class GroupView(BaseModel):
    id: str
    name: str
    score: float
    max_points: float


class GradeView(BaseModel):
    key: Literal["excellent", "good", "fair", "average", "weak"]
    label: str


class Index766View(Mergers):
    unit_code: str
    name: str
    block: str
    include_subunits: bool
    units: list[str]
    period: PeriodView
    total: float
    max_total: float
    grade: GradeView
    complete: bool = Field(description="false while indicators are missing; `missing` names them")
    missing: list[str]
    on_time_rate_766: float | None = Field(description="2.1 under the index's rules (more "
                                           "than one supplement request is late), 0–1")
    groups: list[GroupView]
    indicators: list[IndicatorView]
    complaints_by_category: dict[str, int] | None = Field(
        default=None, description="5.1's detail: the period's complaints about a procedure's "
                                  "rules, an officer's conduct, and other matters")


def score_view(s: IndexScore, index: Index766) -> tuple[list[GroupView], list[IndicatorView]]:
    names = {p.id: p.name_vi for p in index.policy.indicators}
    groups = [GroupView(id=g.id, name=g.name_vi, score=float(g.score),
                        max_points=float(g.max_points)) for g in s.groups]
    indicators = [IndicatorView(
        id=i.id, group=i.group, name=names[i.id], numerator=i.numerator,
        denominator=i.denominator, ratio=_f(i.ratio), points=float(i.points),
        max_points=float(i.max_points), threshold=float(i.threshold), missing=i.missing,
        empty=i.empty, value=_f(i.value)) for i in s.indicators]
    return groups, indicators


def _f(v: Decimal | None) -> float | None:
    return None if v is None else float(v)


def view(u: UnitIndex, index: Index766, include_subunits: bool) -> Index766View:
    unit = index.rulebook.unit(u.unit_code)
    assert unit is not None
    s = u.score
    groups, indicators = score_view(s, index)
    on_time = next(i for i in s.indicators if i.id == "2.1")
    return Index766View(
        unit_code=u.unit_code, name=unit.name, block=unit.block,
        include_subunits=include_subunits, units=u.units, period=_pv(u.period),
        total=float(s.total), max_total=float(s.max_total),
        grade=GradeView.model_validate({"key": s.grade.key, "label": s.grade.label_vi}),
        complete=s.complete, missing=list(s.missing),
        on_time_rate_766=(round(on_time.numerator / on_time.denominator, 6)
                          if on_time.numerator is not None and on_time.denominator else None),
        groups=groups, indicators=indicators, complaints_by_category=u.complaints_by_category,
        **mergers(index.rulebook, u.unit_code, u.period.last_day))


@router.get("/units/{unit_code}/index766", response_model=Index766View, tags=["index766"],
            summary="A unit's Decision 766 score: each indicator, the six groups, the total "
                    "and the grade", dependencies=[Readable], openapi_extra=FIGURES_SECURITY,
            responses=FIGURE_ANSWERS)
async def unit_index(unit_code: str, p: QueriedPeriod, index: Index,
                     include_subunits: bool = False) -> Index766View:
    with refusals():
        return view(await index.unit(unit_code, p, include_subunits), index, include_subunits)


@router.get("/index766/rankings", response_model=Rankings, tags=["index766"],
            summary="Units of a block ranked by their 766 total or one indicator's points; "
                    "units under the minimum sample are listed unranked",
            dependencies=[Readable], openapi_extra=FIGURES_SECURITY, responses=FIGURE_ANSWERS)
async def rankings(request: Request, p: QueriedPeriod, index: Index,
                   block: Annotated[str, Query(max_length=32)] = "department",
                   by: Annotated[str, Query(max_length=8, description="total, or an "
                                            "indicator id such as 2.1")] = "total",
                   min_sample: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
                   ) -> Rankings:
    _check_ranking(index, block, by)
    sample = min_sample or settings_of(request, Settings).min_sample
    names = {u.code: u.name for u in index.rulebook.units}
    ranked = await index.rankings(block, by, p, sample)
    return Rankings(block=block, by=by, min_sample=sample, period=_pv(p), units=[
        RankedUnit(unit_code=r.unit_code, name=names[r.unit_code], rank=r.rank,
                   value=_f(r.value), sample=r.sample) for r in ranked])


def _check_ranking(index: Index766, block: str, by: str) -> None:
    scored = [p.id for p in index.policy.indicators if p.max_points > 0]
    if by != "total" and by not in scored:
        raise invalid(("query:/by", f"total or one of {', '.join(scored)}"))
    check_block(index.rulebook, block)


class TrendMonth(BaseModel):
    month: str = Field(description="YYYY-MM")
    total: float
    complete: bool
    groups: dict[str, float]
    on_time_rate_766: float | None


class Trend(BaseModel):
    unit_code: str
    months: list[TrendMonth]


@router.get("/units/{unit_code}/index766/trend", response_model=Trend, tags=["index766"],
            summary="The unit's 766 total and groups month by month, the current month last",
            dependencies=[Readable], openapi_extra=FIGURES_SECURITY, responses=FIGURE_ANSWERS)
async def trend(unit_code: str, request: Request, index: Index,
                months: Annotated[int, Query(ge=1, le=24)] = 12,
                include_subunits: bool = False) -> Trend:
    with refusals():
        found = await index.trend(unit_code, clock_of(request).now(), months, include_subunits)
    return Trend(unit_code=unit_code, months=[TrendMonth(
        month=u.period.start.strftime("%Y-%m"), total=float(u.score.total),
        complete=u.score.complete, groups={g.id: float(g.score) for g in u.score.groups},
        on_time_rate_766=view(u, index, include_subunits).on_time_rate_766) for u in found])


class AtRiskView(BaseModel):
    dossier_code: str
    unit_code: str
    procedure_code: str
    due_at: LocalTime
    points: float = Field(description="2.1 points its lateness would cost the unit this "
                                      "period, rounded as the index shows them")
    exact_points: float = Field(description="the same, to 4 decimals (these add up)")


class RiskView(BaseModel):
    unit_code: str
    period: PeriodView
    working_days: int
    horizon: date = Field(description="the last day counted: the N-th working day from today")
    dossiers: list[AtRiskView]
    points_now: float
    points_if_nothing_on_time: float = Field(description="2.1 points at the period's end if "
                                             "nothing more is resolved on time")
    points_if_at_risk_on_time: float = Field(description="... and if every dossier listed is")
    turning_late: int


@router.get("/units/{unit_code}/index766/at-risk", response_model=RiskView, tags=["index766"],
            summary="Open dossiers that turn late within N working days if nothing happens, "
                    "what each costs on 2.1, and the projected 2.1 points at the period's end",
            dependencies=[Readable], openapi_extra=FIGURES_SECURITY, responses=FIGURE_ANSWERS)
async def at_risk(unit_code: str, request: Request, p: QueriedPeriod, index: Index,
                  days: Annotated[int, Query(ge=0, le=60, description="N")] = 3,
                  include_subunits: bool = False) -> RiskView:
    with refusals():
        r = await index.at_risk(unit_code, p, clock_of(request).now(), days, include_subunits)
    return RiskView(
        unit_code=unit_code, period=_pv(p), working_days=days, horizon=r.horizon,
        dossiers=[AtRiskView(**{**vars(d), "points": float(d.points),
                                "exact_points": float(d.exact_points)}) for d in r.dossiers],
        points_now=float(r.projection.points_now),
        points_if_nothing_on_time=float(r.projection.points_if_nothing_on_time),
        points_if_at_risk_on_time=float(r.projection.points_if_at_risk_on_time),
        turning_late=r.projection.turning_late)


class InputBody(BaseModel):
    """Counts, or a percentage (then taken exactly, as n / 10^k)."""

    numerator: int | None = Field(default=None, ge=0, le=10_000_000)
    denominator: int | None = Field(default=None, ge=0, le=10_000_000)
    percent: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=2)

    @model_validator(mode="after")
    def _one_form(self) -> InputBody:
        counts = self.numerator is not None and self.denominator is not None
        if counts == (self.percent is not None) or (self.numerator is None) != (
                self.denominator is None):
            raise ValueError("give numerator and denominator, or percent")
        return self

    def counts(self) -> Counts:
        if self.percent is not None:
            return Counts.from_percent(self.percent)
        assert self.numerator is not None and self.denominator is not None
        return Counts(self.numerator, self.denominator)


class EntryView(BaseModel):
    unit_code: str
    month: str
    indicator: str
    numerator: int
    denominator: int
    entered_by: str
    entered_at: LocalTime
    source: str | None = None


Month = Annotated[str, Path(pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
Indicator = Annotated[str, Path(max_length=8, description="1.1, 1.2, 1.3, 4.6 or 4.7")]


def _month(value: str) -> date:
    return date(int(value[:4]), int(value[5:]), 1)


def _yours(who: Principal, unit_code: str) -> None:
    """An operator enters and reads entries for their own units only; any other unit, known
    or not, gets the same 404."""
    if not who.may_act_on(unit_code):
        raise Problem(404, "Not Found", f"no unit {unit_code} among your units")


@router.put("/units/{unit_code}/index766/inputs/{month}/{indicator}", response_model=EntryView,
            tags=["index766"], summary="Enter a catalogue indicator for a unit and month "
                                       "(operators; every entry is kept)",
            responses=answers(401, 403, 404, 422, said={404: "unknown unit"}),
            dependencies=[audited("change:index766.input", subject="unit_code",
                                  detail=("month", "indicator"))])
async def enter(unit_code: str, month: Month, indicator: Indicator, request: Request,
                who: Operator, index: Index, body: Annotated[InputBody, Body()]) -> EntryView:
    at: datetime = clock_of(request).now()
    source = request.client.host if request.client else "unknown"
    _yours(who, unit_code)
    with refusals():
        await index.enter(unit_code, _month(month), indicator, body.counts(), who.subject, at,
                          source)
    c = body.counts()
    return EntryView(unit_code=unit_code, month=month, indicator=indicator,
                     numerator=c.numerator, denominator=c.denominator, entered_by=who.subject,
                     entered_at=at, source=source)


@router.get("/units/{unit_code}/index766/inputs/{month}", response_model=list[EntryView],
            tags=["index766"], summary="Every entry made for a unit and month, in order "
                                       "(who entered what, when, from where)",
            responses=answers(401, 403, 404, said={404: "unknown unit"}))
async def entries(unit_code: str, month: Month, who: Operator,
                  index: Index) -> list[EntryView]:
    _yours(who, unit_code)
    with refusals():
        found = await index.entries(unit_code, _month(month))
    return [EntryView(unit_code=e.unit_code, month=e.month.strftime("%Y-%m"),
                      indicator=e.indicator, numerator=e.counts.numerator,
                      denominator=e.counts.denominator, entered_by=e.entered_by,
                      entered_at=e.entered_at, source=source) for e, source in found]
