"""The figures (docs/rules/metrics.md) as pure functions of per-dossier facts, a period and
``as_of``.

The choices made here (docs/rules/metrics.md states them for operators):

* A period is ``[from 00:00, to + 1 day 00:00)`` in local time; ``as_of`` defaults to the
  earlier of now and the period's end. A dossier ended after ``as_of`` is open at ``as_of``.
* Flow counts (received, resolved, ...) count the events whose time falls in the period.
* An open dossier is overdue when its due date (moved by the supplement pauses so far) is
  before ``as_of``; while a supplement is awaited the clock is stopped at the request.
* ``late`` is split by the dossier's first apology: timely (by the apology deadline), late
  (after it), or none; ``missed_reappointment`` counts dossiers ended after the new date.
* More than one supplement request is counted (``multiple_supplement_requests``); it does
  not change timeliness, which follows §5's adjusted end.
* Satisfaction covers the ratings given in the period to the unit(s) (the unit in the
  rating); SIPAS indices are the share of 4–5 scores; the Decree 61 grade of a mean total
  is *policy*: ≥ 16 excellent, ≥ 13 good, ≥ 9 fair, below that poor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.metrics.domain.facts import Facts
from services.metrics.domain.tallies import (
    CHANNELS,
    LEVELS,
    SIPAS_FACTORS,
    contains,
    dossier_tally,
    in_population,
    judge,
    rating_tally,
)
from shared.clock import VN, local_today, month_span, previous_month_span, quarter_span, year_span
from shared.refusals import FieldRefusal

__all__ = ["CHANNELS", "LEVELS", "SIPAS_FACTORS", "in_population", "judge"]
DECREE61_GRADES = ((16.0, "excellent"), (13.0, "good"), (9.0, "fair"), (0.0, "poor"))


class PeriodError(FieldRefusal):
    """A period that cannot be asked for; ``field`` names the query parameter."""

    field: str


# The named periods an operator picks on the dashboard, each the local days it spans.
PRESETS = {
    "this_month": month_span,
    "last_month": previous_month_span,
    "this_quarter": quarter_span,
    "this_year": year_span,
}


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    as_of: datetime

    @classmethod
    def of(cls, first: date, last: date, as_of: datetime | None, now: datetime,
           tz: ZoneInfo = VN) -> Period:
        start = datetime.combine(first, time(0), tz)
        end = datetime.combine(last + timedelta(days=1), time(0), tz)
        judged = as_of if as_of is not None else min(now, end)
        return cls(start, end, judged)

    @property
    def last_day(self) -> date:
        """The period's last local day: mergers on or before it roll up in its figures."""
        return (self.end - timedelta(seconds=1)).astimezone(VN).date()

    @classmethod
    def month_of(cls, now: datetime, tz: ZoneInfo = VN) -> Period:
        return cls.preset("this_month", now, tz)

    @classmethod
    def preset(cls, name: str, now: datetime, tz: ZoneInfo = VN) -> Period:
        """A named period relative to ``now`` in local time (one of :data:`PRESETS`)."""
        first, last = PRESETS[name](local_today(now, tz))
        return cls.of(first, last, None, now, tz)

    @classmethod
    def asked(cls, preset: str | None, first: date | None, last: date | None,
              as_of: datetime | None, now: datetime, tz: ZoneInfo = VN) -> Period:
        """The period a query names: a preset, or ``from``/``to`` judged at ``as_of`` or now.
        A missing bound is the current month's, unless that would put the bounds out of
        order: then it is the given day's month's (``to`` alone in October: from 1 October).

        :raises PeriodError: for a preset given with days, days out of order, or a naive
            ``as_of``."""
        if preset is not None and (first is not None or last is not None):
            raise PeriodError("give either period or from/to, not both", "period")
        if preset is not None and preset not in PRESETS:
            raise PeriodError(f"one of {', '.join(PRESETS)}", "period")
        if as_of is not None and as_of.tzinfo is None:
            raise PeriodError("needs a timezone", "as_of")
        today = local_today(now, tz)
        if preset is not None:
            start, end = PRESETS[preset](today)
        else:
            month_first, month_last = month_span(today)
            start, end = first or month_first, last or month_last
            if first is None and end < start:
                start = month_span(end)[0]
            if last is None and end < start:
                end = month_span(start)[1]
        if end < start:
            raise PeriodError("must not be before from", "to")
        return cls.of(start, end, as_of, now, tz)

    @property
    def horizon(self) -> datetime:
        """Nothing after ``as_of`` has happened yet, as far as the figures go."""
        return min(self.end, self.as_of)

    def contains(self, t: datetime | None) -> bool:
        return t is not None and self.start <= t < self.end and t <= self.as_of


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


@dataclass
class Figures:
    received: int = 0
    resolved: int = 0
    rejected: int = 0
    stopped: int = 0
    withdrawn: int = 0
    returned: int = 0
    in_progress: int = 0
    population: int = 0
    early: int = 0
    on_time: int = 0
    late: int = 0
    closed: int = 0
    overdue_open: int = 0
    open_not_due: int = 0
    on_time_rate: float | None = None
    on_time_rate_closed: float | None = None
    # The national index's 2.1 (docs/rules/index766.md): as on_time_rate, except that more
    # than one supplement request makes a dossier late.
    on_time_766: int = 0
    on_time_rate_766: float | None = None
    apologies_issued: int = 0
    late_with_timely_apology: int = 0
    late_with_late_apology: int = 0
    late_without_apology: int = 0
    apology_compliance: float | None = None
    missed_reappointment: int = 0
    multiple_supplement_requests: int = 0
    received_by_channel: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANNELS, 0))
    returned_by_method: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANNELS, 0))
    postal_received_share: float | None = None
    postal_returned_share: float | None = None
    ratings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    ratings_total: int = 0
    satisfaction_rate: float | None = None
    decree61_mean: float | None = None
    decree61_grade: str | None = None
    sipas_index: dict[str, float | None] = field(
        default_factory=lambda: dict.fromkeys(SIPAS_FACTORS, None))
    avg_processing_working_days: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def figures(dossiers: Iterable[Facts], ratings: Iterable[Facts], p: Period) -> Figures:
    c: Counter[str] = Counter()
    for f in dossiers:
        dossier_tally(f, p, c)
    for f in ratings:
        if contains(p, f.rated_at):
            rating_tally(f, c)
    return figures_from(c)


def figures_from(c: Mapping[str, int]) -> Figures:
    """The figures and their rates from the counts (``domain.tallies.COUNTS``; missing
    names are zero): the pure function's, the SQL adapter's and the per-day counts' path."""
    g = Figures()
    for name in ("early", "on_time", "late", "overdue_open", "open_not_due", "received",
                 "resolved", "rejected", "stopped", "withdrawn", "returned",
                 "apologies_issued", "multiple_supplement_requests", "late_without_apology",
                 "late_with_timely_apology", "late_with_late_apology",
                 "missed_reappointment", "population", "on_time_766"):
        setattr(g, name, int(c.get(name, 0)))
    g.received_by_channel = {ch: int(c.get(f"received_{ch}", 0)) for ch in CHANNELS}
    g.returned_by_method = {ch: int(c.get(f"returned_{ch}", 0)) for ch in CHANNELS}
    finish(g, int(c.get("worked_sum", 0)), int(c.get("worked_count", 0)))
    g.ratings = {level: int(c.get(level, 0)) for level in LEVELS}
    finish_satisfaction(g, int(c.get("decree61_sum", 0)), int(c.get("decree61_count", 0)),
                        int(c.get("with_sipas", 0)),
                        {k: int(c.get(f"high_{k}", 0)) for k in SIPAS_FACTORS})
    return g


def finish(g: Figures, worked_sum: int, worked_count: int) -> None:
    """The derived figures and rates, from the counts (shared with the SQL adapter)."""
    g.in_progress = g.overdue_open + g.open_not_due
    g.closed = g.early + g.on_time + g.late
    g.on_time_rate = _rate(g.early + g.on_time + g.open_not_due, g.population)
    g.on_time_rate_closed = _rate(g.early + g.on_time, g.closed)
    g.on_time_rate_766 = _rate(g.on_time_766, g.population)
    g.apology_compliance = _rate(g.late_with_timely_apology, g.late)
    g.postal_received_share = _rate(g.received_by_channel["postal"], g.received)
    g.postal_returned_share = _rate(g.returned_by_method["postal"], g.returned)
    if worked_count:
        g.avg_processing_working_days = round(worked_sum / worked_count, 4)


def finish_satisfaction(g: Figures, decree61_sum: int, decree61_count: int, with_sipas: int,
                        high: dict[str, int]) -> None:
    g.ratings_total = sum(g.ratings.values())
    g.satisfaction_rate = _rate(g.ratings["very_satisfied"] + g.ratings["satisfied"],
                                g.ratings_total)
    if decree61_count:
        g.decree61_mean = round(decree61_sum / decree61_count, 4)
        g.decree61_grade = next(name for bound, name in DECREE61_GRADES
                                if g.decree61_mean >= bound)
    if with_sipas:
        g.sipas_index = {k: _rate(v, with_sipas) for k, v in high.items()}


# ------------------------------------------------------------------ rankings
RANKABLE = {
    "on_time_rate": "population",
    "on_time_rate_closed": "closed",
    "apology_compliance": "late",
    "satisfaction_rate": "ratings_total",
    "postal_received_share": "received",
    "postal_returned_share": "returned",
}


@dataclass(frozen=True)
class Ranked:
    unit_code: str
    value: float | None
    sample: int
    rank: int | None


def rank(by_unit: dict[str, Figures], by: str, min_sample: int) -> list[Ranked]:
    """Competition ranking (1, 1, 3) of units with at least ``min_sample``; the others are
    listed after them, unranked."""
    sample_of = RANKABLE[by]
    entries = [(u, getattr(g, by), getattr(g, sample_of)) for u, g in by_unit.items()]
    eligible = sorted((e for e in entries if e[2] >= min_sample and e[1] is not None),
                      key=lambda e: (-e[1], e[0]))
    out: list[Ranked] = []
    for i, (unit, value, sample) in enumerate(eligible):
        same = out and out[-1].value == value
        out.append(Ranked(unit, value, sample, out[-1].rank if same else i + 1))
    ranked = {r.unit_code for r in out}
    out += [Ranked(u, v, s, None) for u, v, s in sorted(entries, key=lambda e: e[0])
            if u not in ranked]
    return out


# ------------------------------------------------------------------ the desks
@dataclass(frozen=True)
class DeskCounts:
    """A desk's workload over a period, by the unit whose desk received the dossiers
    (whichever unit resolves them): received there, of them handed over to another
    (competent) unit, and results returned (of them, at the counter)."""

    received: int = 0
    handed_over: int = 0
    returned: int = 0
    returned_at_counter: int = 0


def desk_counts(facts: Iterable[Facts], p: Period,
                rollup: Mapping[str, str] | None = None) -> dict[str, DeskCounts]:
    """Each receiving desk's :class:`DeskCounts` over ``p``; a merged unit's desk counts
    under the unit ``rollup`` names for it."""
    tally: dict[str, list[int]] = {}
    for f in facts:
        desk = f.receiving_unit or f.unit_code
        if desk is None:
            continue
        desk = (rollup or {}).get(desk, desk)
        received, returned = p.contains(f.received_at), p.contains(f.returned_at)
        if not (received or returned):
            continue
        t = tally.setdefault(desk, [0, 0, 0, 0])
        t[0] += received
        t[1] += received and f.unit_code != (f.receiving_unit or f.unit_code)
        t[2] += returned
        t[3] += returned and f.returned_method == "counter"
    return {desk: DeskCounts(*t) for desk, t in tally.items()}
