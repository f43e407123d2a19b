"""The national index (Decision 766) per unit: its score for a period, rankings within a
block, a month-by-month trend, the open dossiers that will cost points before the period
closes, and the operators' entries for the catalogue indicators."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import asyncpg

from services.metrics.adapters import index766_store as store
from services.metrics.adapters import sql_figures, sql_index766
from services.metrics.adapters.index766_store import Entry, OperatorInputs
from services.metrics.domain.complaints import complaint_counts
from services.metrics.domain.facts import Facts
from services.metrics.domain.figures import Period
from services.metrics.domain.index766 import (
    DEFAULT_POLICY,
    Counts,
    Index766Policy,
    IndexScore,
    score_index,
)
from services.metrics.domain.index766_counts import (
    OPERATOR_INPUT,
    AtRisk,
    ProcedureTerms,
    Projection,
    points_at_risk,
)
from services.metrics.domain.report_ii06a import II06aReport, fields_of, ii06a
from shared.clock import VN, local_today, month_span
from shared.refusals import FieldRefusal
from shared.rulebook import Rulebook


class UnknownUnit(LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no unit {code}")


class InputRefused(FieldRefusal):
    """An operator entry that cannot be taken; ``field`` names what is wrong."""

    field: str


@dataclass(frozen=True)
class UnitIndex:
    unit_code: str
    units: list[str]
    period: Period
    score: IndexScore
    complaints_by_category: dict[str, int] | None = None


@dataclass(frozen=True)
class RankedIndex:
    unit_code: str
    value: Decimal | None
    sample: int
    rank: int | None


@dataclass(frozen=True)
class Risk:
    period: Period
    horizon: date  # the last day counted: the N-th working day from today
    dossiers: list[AtRisk]
    projection: Projection


def months_of(p: Period) -> list[date]:
    """The first days of the months a period touches (operator entries are monthly)."""
    first = p.start.astimezone(VN).date().replace(day=1)
    last = (p.end - timedelta(seconds=1)).astimezone(VN).date()
    out = []
    while first <= last:
        out.append(first)
        first = (first + timedelta(days=32)).replace(day=1)
    return out


def operator_counts(entries: list[Entry], units: list[str], p: Period,
                    merged: Sequence[str] = ()) -> dict[str, Counts | None]:
    """Each catalogue indicator summed over the units and months of ``p``; missing when any
    of ``units`` has no entry for a month. The entries of ``merged`` units are added where
    they exist."""
    months = months_of(p)
    found = {(e.unit_code, e.month, e.indicator): e.counts for e in entries}
    out: dict[str, Counts | None] = {}
    for indicator in OPERATOR_INPUT:
        parts = [found.get((u, m, indicator)) for u in units for m in months]
        extra = [c for u in merged for m in months if (c := found.get((u, m, indicator)))]
        out[indicator] = None if any(c is None for c in parts) else Counts(
            sum(c.numerator for c in [*parts, *extra] if c),
            sum(c.denominator for c in [*parts, *extra] if c))
    return out


class Index766:
    def __init__(self, pool: asyncpg.Pool, rulebook: Rulebook) -> None:
        self.pool = pool
        self.rulebook = rulebook
        self.policy: Index766Policy = DEFAULT_POLICY.with_overrides(rulebook.data.index766)
        self.inputs = OperatorInputs(pool)
        self.terms = {p.code: ProcedureTerms(p.code, p.fee, p.online, frozenset(p.units))
                      for p in rulebook.procedures}

    def units_of(self, unit_code: str, include_subunits: bool,
                 p: Period | None = None) -> list[str]:
        """The unit (with its sub-units when asked) and, over ``p``, every unit merged into
        them by the period's last day."""
        if self.rulebook.unit(unit_code) is None:
            raise UnknownUnit(unit_code)
        if p is None:
            return self.rulebook.subunits(unit_code) if include_subunits else [unit_code]
        return self.rulebook.reported_units(unit_code, include_subunits, p.last_day)

    # ------------------------------------------------------------- scores
    async def unit(self, unit_code: str, p: Period, include_subunits: bool = False) -> UnitIndex:
        units = self.units_of(unit_code, include_subunits, p)
        counts = await sql_index766.index_counts(self.pool, units, p, self.terms)
        heard = complaint_counts(await store.complaints_of(self.pool, units, p), p, units)
        own = self.units_of(unit_code, include_subunits)
        score = await self._score({**counts, **heard.counts}, own, p, rolled=units)
        return UnitIndex(unit_code, units, p, score, heard.by_category)

    async def _score(self, counts: dict[str, Counts | None], units: list[str],
                     p: Period, entries: list[Entry] | None = None,
                     rolled: list[str] | None = None) -> IndexScore:
        """The counted indicators with the operators' entries, scored by the policy. The
        entries of ``units`` are required; those of the merged units in ``rolled`` are added
        where they exist (a merged unit enters nothing after its merger)."""
        every = rolled or units
        if entries is None:
            entries = await self.inputs.in_force(every, months_of(p))
        merged = [u for u in every if u not in units]
        return score_index({**counts, **operator_counts(entries, units, p, merged)}, self.policy)

    async def all_units(self, p: Period) -> dict[str, IndexScore]:
        """Every unit that exists at the period's end on its own (merged units rolled in),
        from one grouped query and one read of the entries."""
        rollup = self.rulebook.rollup(p.last_day)
        codes = [u.code for u in self.rulebook.in_force(p.last_day)]
        counted = await sql_index766.index_counts_by_unit(self.pool, p, self.terms, codes, rollup)
        entries = await self.inputs.in_force([u.code for u in self.rulebook.units], months_of(p))
        heard = await store.complaints_of(self.pool, None, p)
        out = {}
        for u in codes:
            rolled = sql_figures.with_rolled_in([u], rollup)
            complaints = complaint_counts(heard, p, rolled).counts
            out[u] = await self._score({**counted[u], **complaints}, [u], p, entries, rolled)
            # Every unit's score is Python work: let the requests waiting meanwhile in (the
            # live hub runs this every few seconds in the service's own event loop).
            await asyncio.sleep(0)
        return out


    async def rankings(self, block: str, by: str, p: Period, min_sample: int) -> list[RankedIndex]:
        """Competition ranking within a block by the total or one indicator's points; units
        whose population (or the indicator's denominator) is under ``min_sample`` are listed
        after, unranked."""
        scores = await self.all_units(p)
        entries: list[tuple[str, Decimal | None, int]] = []
        for u in self.rulebook.in_force(p.last_day):
            if u.block != block:
                continue
            s = scores[u.code]
            population = next(i.denominator or 0 for i in s.indicators if i.id == "2.1")
            if by == "total":
                entries.append((u.code, s.total, population))
            else:
                ind = next(i for i in s.indicators if i.id == by)
                entries.append((u.code, None if ind.missing else ind.points,
                                ind.denominator or 0))
        eligible = sorted((e for e in entries if e[2] >= min_sample and e[1] is not None),
                          key=lambda e: (-(e[1] or 0), e[0]))
        out: list[RankedIndex] = []
        for i, (unit, value, sample) in enumerate(eligible):
            same = bool(out) and out[-1].value == value
            out.append(RankedIndex(unit, value, sample, out[-1].rank if same else i + 1))
        ranked = {r.unit_code for r in out}
        return out + [RankedIndex(u, v, n, None) for u, v, n in sorted(entries)
                      if u not in ranked]

    async def trend(self, unit_code: str, now: datetime, months: int = 12,
                    include_subunits: bool = False) -> list[UnitIndex]:
        """The index of each of the last ``months`` months, the current one last (judged now)."""
        first, _ = month_span(local_today(now))
        out: list[UnitIndex] = []
        for back in range(months - 1, -1, -1):
            start = first
            for _ in range(back):
                start = (start - timedelta(days=1)).replace(day=1)
            last = month_span(start)[1]
            out.append(await self.unit(unit_code, Period.of(start, last, None, now),
                                       include_subunits))
        return out

    # ------------------------------------------------------------- points at risk
    async def at_risk(self, unit_code: str, p: Period, now: datetime, working_days: int,
                      include_subunits: bool = False) -> Risk:
        units = self.units_of(unit_code, include_subunits, p)
        facts = await store.population(self.pool, units, p)
        today = local_today(now)
        rb = self.rulebook

        def last_day(f: Facts) -> date:
            return rb.calendar_for(f.unit_code or unit_code).add_working_days(today, working_days)

        dossiers, projection = points_at_risk(
            facts, p, now, units, self.policy.indicator("2.1"), last_day,
            lambda t: t.astimezone(VN).date())
        horizon = rb.calendar_for(unit_code).add_working_days(today, working_days)
        return Risk(p, horizon, dossiers, projection)

    # ------------------------------------------------------------- operator input
    async def enter(self, unit_code: str, month: date, indicator: str, counts: Counts,
                    by: str, at: datetime, source: str) -> None:
        """:raises UnknownUnit, InputRefused:"""
        self.units_of(unit_code, False)
        if indicator not in OPERATOR_INPUT:
            raise InputRefused(f"operators enter {', '.join(OPERATOR_INPUT)}; "
                               f"{indicator} is counted from the dossiers", "path:/indicator")
        if counts.numerator > counts.denominator:
            raise InputRefused("the numerator exceeds the denominator", "body:/numerator")
        if month.day != 1:
            raise InputRefused("a month is YYYY-MM", "path:/month")
        if datetime.combine(month, time(0), VN) > at:
            raise InputRefused("a month that has not begun", "path:/month")
        await self.inputs.put(Entry(unit_code, month, indicator, counts, by, at), source)

    # ------------------------------------------------------------- reports
    async def ii06a(self, p: Period, units: list[str] | None) -> II06aReport:
        """Biểu II.06a over ``units`` (None: every unit), from the period's population."""
        rollup = self.rulebook.rollup(p.last_day)
        facts = [replace(f, unit_code=rollup.get(f.unit_code or "", f.unit_code))
                 for f in await store.population(self.pool, units, p)]
        return ii06a(facts, p, fields_of(self.rulebook),
                     {u.code: u.name for u in self.rulebook.units})

    async def entries(self, unit_code: str, month: date) -> list[tuple[Entry, str]]:
        self.units_of(unit_code, False)
        return await self.inputs.log(unit_code, month)
