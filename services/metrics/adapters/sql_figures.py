"""The figures of ``domain.figures`` read from PostgreSQL as ``domain.tallies`` splits them:
the per-day counts of a period's complete days (one grouped query on ``daily_counts``), and
the few dossiers still live after them (a GiST range query on the facts), judged by the
same Python code as the pure function. What a request costs depends on the units and days
it covers, not on how many dossiers are stored. It must agree with the pure function
exactly; ``tests/integration/test_metrics_sql_contract.py`` runs both on the same facts.

The national index reads the same parts per procedure (``own_counts_by_procedure``,
``sql_index766``); ``_VERDICT`` is the exact verdict SQL both use for the live dossiers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, time
from typing import Any, TypeAlias

import asyncpg

from services.metrics.adapters.store import FACT_FIELDS
from services.metrics.domain import tallies
from services.metrics.domain.facts import Facts
from services.metrics.domain.figures import DeskCounts, Figures, Period, figures_from
from shared.clock import VN

Db: TypeAlias = "asyncpg.Connection | asyncpg.Pool"

# $1 start, $2 end (exclusive), $3 as_of; each "in the period" test is start <= t < end and
# t <= as_of, as Period.contains.
_IN = "({col} >= $1 AND {col} < $2 AND {col} <= $3)"
# The verdict of a dossier of the period's population; NULL for one outside it (there only
# for a result returned in the period).
_POPULATION = """received_at <= $3
                AND ((received_at >= $1 AND received_at < $2)
                     OR (received_at < $1 AND end_at IS NULL)
                     OR (received_at < $1 AND end_at >= $1))"""
_VERDICT = f"""CASE
    WHEN received_at IS NULL OR NOT ({_POPULATION}) THEN NULL
    WHEN end_at IS NOT NULL AND end_at <= $3 AND closed_timeliness IS NOT NULL
        THEN closed_timeliness
    WHEN coalesce(effective_due_at, due_at) < LEAST($3, coalesce(pending_pause_since, $3))
        THEN 'overdue_open'
    ELSE 'open_not_due' END"""


def rolled_up(column: str, rollup: Mapping[str, str] | None) -> str:
    """``column`` with each merged unit's code replaced by the code it is reported under
    (``Rulebook.rollup``). The codes are the rulebook's, validated against ``UNIT_CODE``
    (letters, digits and dots), and checked again here before they are written as literals."""
    if not rollup:
        return column
    for code in (*rollup, *rollup.values()):
        if not re.fullmatch(r"[A-Z0-9.]+", code):
            raise ValueError(f"not a unit code: {code!r}")
    cases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in sorted(rollup.items()))
    return f"(CASE {column} {cases} ELSE {column} END)"


def with_rolled_in(units: Sequence[str], rollup: Mapping[str, str] | None) -> list[str]:
    """The units and every unit rolled into one of them."""
    wanted = set(units)
    return [*units, *sorted(old for old, new in (rollup or {}).items() if new in wanted)]


def _aligned(p: Period) -> None:
    for t in (p.start, p.end):
        if t != datetime.combine(t.astimezone(VN).date(), time(0), VN):
            raise ValueError(f"a period's bounds are local midnights, not {t.isoformat()}")


_FACT_COLUMNS = ", ".join(f"f.{c}" for c in FACT_FIELDS)
_SUMS = ", ".join(f"sum({c})::bigint AS {c}" for c in tallies.COUNTS)


def _facts(rows: Sequence[asyncpg.Record]) -> list[Facts]:
    return [Facts(**{c: r[c] for c in FACT_FIELDS}) for r in rows]


# A part's rows are keyed by ``key`` (a unit, rolled up or not, or NULL for all together)
# and, for the national index, by procedure (its catalog terms choose what counts).
PartKey: TypeAlias = "tuple[str | None, str | None]"


def _by(procedure_column: str, by_procedure: bool) -> str:
    return procedure_column if by_procedure else "NULL::text"


async def _per_day(db: Db, p: Period, wanted: Sequence[str] | None, key: str,
                   procedure: str | None, *, by_procedure: bool = False
                   ) -> dict[PartKey, dict[str, int]]:
    first, before = tallies.day_bounds(p)
    rows = await db.fetch(
        f"""SELECT {key} AS key, {_by("procedure_code", by_procedure)} AS procedure, {_SUMS}
            FROM daily_counts
            WHERE ($1::text[] IS NULL OR unit_code = ANY($1::text[]))
              AND day >= $2 AND day < $3 AND ($4::text IS NULL OR procedure_code = $4)
            GROUP BY 1, 2""", wanted, first, before, procedure)
    return {(r["key"], r["procedure"]): {c: int(r[c]) for c in tallies.COUNTS} for r in rows}


# The live part (``tallies.live_part``) counted by PostgreSQL: every count over the dossiers
# live in [$4 cut, $3 as_of], exactly (``_VERDICT``; a flow only for a dossier of the
# population, but for a result returned in the period, as ``dossier_tally``), less what a
# dossier that is over already put in the per-day counts of [$1 start, $4 cut)
# (``tallies.contributions``: the verdict on its end day, each flow on its own).
_INC = "(v IS NOT NULL)"
_CUT = "(live_until IS NOT NULL AND {col} >= $1 AND {col} < $4)"
_ENDED = _CUT.format(col="end_at")


def _net(name: str, exact: str, kept: str | None) -> str:
    counted = f"count(*) FILTER (WHERE {exact})"
    return f"{counted} - count(*) FILTER (WHERE {kept}) AS {name}" if kept else \
        f"{counted} AS {name}"


def _live_counts() -> list[str]:
    counts = [_net(k, f"v = '{k}'", f"{_ENDED} AND closed_timeliness = '{k}'")
              for k in ("early", "on_time", "late")]
    counts += [_net(k, f"v = '{k}'", None) for k in ("overdue_open", "open_not_due")]
    counts.append(_net("population", "v IS NOT NULL", _ENDED))
    counts.append(_net("received", f"{_INC} AND {_IN.format(col='received_at')}",
                       _CUT.format(col="received_at")))
    counts += [_net(f"received_{c}", f"{_INC} AND {_IN.format(col='received_at')} "
                    f"AND channel = '{c}'", f"{_CUT.format(col='received_at')} AND channel = '{c}'")
               for c in tallies.CHANNELS]
    counts += [_net(k, f"{_INC} AND {_IN.format(col=k + '_at')}", _CUT.format(col=k + "_at"))
               for k in tallies.STEPS]
    counts.append(_net("returned", _IN.format(col="returned_at"),
                       _CUT.format(col="returned_at")))
    counts += [_net(f"returned_{c}", f"{_IN.format(col='returned_at')} AND returned_method = '{c}'",
                    f"{_CUT.format(col='returned_at')} AND returned_method = '{c}'")
               for c in tallies.CHANNELS]
    counts.append(_net("apologies_issued", f"{_INC} AND {_IN.format(col='apology_issued_at')}",
                       _CUT.format(col="apology_issued_at")))
    counts.append(_net("multiple_supplement_requests",
                       "v IS NOT NULL AND second_supplement_at <= $3",
                       f"{_ENDED} AND second_supplement_at IS NOT NULL"))
    counts.append(_net("on_time_766", "v IN ('early', 'on_time', 'open_not_due') AND "
                       "(second_supplement_at IS NULL OR second_supplement_at > $3)",
                       f"{_ENDED} AND closed_timeliness IN ('early', 'on_time') "
                       "AND second_supplement_at IS NULL"))
    for name, apology in (("late_without_apology", "apology_issued_at IS NULL"),
                          ("late_with_timely_apology",
                           "apology_issued_at IS NOT NULL AND apology_timely"),
                          ("late_with_late_apology", "apology_issued_at IS NOT NULL "
                                                     "AND NOT coalesce(apology_timely, false)")):
        counts.append(_net(name, f"v = 'late' AND {apology}",
                           f"{_ENDED} AND closed_timeliness = 'late' AND {apology}"))
    missed = "new_due_at IS NOT NULL AND end_at > new_due_at"
    counts.append(_net("missed_reappointment", f"v IN ('early', 'on_time', 'late') AND {missed}",
                       f"{_ENDED} AND {missed}"))
    worked = f"{_INC} AND {_IN.format(col='resolved_at')} AND processing_working_days IS NOT NULL"
    kept = f"{_CUT.format(col='resolved_at')} AND processing_working_days IS NOT NULL"
    counts.append(f"coalesce(sum(processing_working_days) FILTER (WHERE {worked}), 0) - "
                  f"coalesce(sum(processing_working_days) FILTER (WHERE {kept}), 0) AS worked_sum")
    counts.append(_net("worked_count", worked, kept))
    return counts + _index_live_counts()


# The national index's own counts (``tallies.INDEX_COUNTS``): each flag at ``as_of`` for the
# live dossiers; a dossier that is over holds its final flags.
_RECEIVED_FLAGS = {
    "received_synced": ("synced_at <= $3", "synced_at IS NOT NULL"),
    "received_digitised": ("components_digitised AND result_digitised AND resolved_at <= $3",
                           "components_digitised AND result_digitised "
                           "AND resolved_at IS NOT NULL"),
    "received_reused": ("reused_digitised", "reused_digitised"),
    "received_shared": ("shared_to_citizen AND resolved_at <= $3",
                        "shared_to_citizen AND resolved_at IS NOT NULL"),
    "received_population_data": ("population_data", "population_data"),
    "received_online_whole": ("channel = 'online' AND online_mode = 'whole'",
                              "channel = 'online' AND online_mode = 'whole'"),
    "received_paid_online": ("paid_online AND paid_at <= $3",
                             "paid_online AND paid_at IS NOT NULL"),
}
# 5.4 before complaints: early or on time as 2.1 counts it, and not rated unsatisfied.
GOOD_NOT_DISLIKED = ("v IN ('early', 'on_time', 'open_not_due') "
                     "AND (second_supplement_at IS NULL OR second_supplement_at > $3) "
                     "AND NOT coalesce(rating = 'unsatisfied' AND rated_at <= $3, false)")


def _index_live_counts() -> list[str]:
    received = f"{_INC} AND {_IN.format(col='received_at')}"
    counts = [_net(name, f"{received} AND {exact}",
                   f"{_CUT.format(col='received_at')} AND {kept}")
              for name, (exact, kept) in _RECEIVED_FLAGS.items()]
    counts.append(_net("resolved_electronic",
                       f"{_INC} AND {_IN.format(col='resolved_at')} AND electronic_result",
                       f"{_CUT.format(col='resolved_at')} AND electronic_result"))
    counts.append(_net("good_not_disliked", GOOD_NOT_DISLIKED,
                       f"{_ENDED} AND closed_timeliness IN ('early', 'on_time') "
                       "AND second_supplement_at IS NULL "
                       "AND NOT coalesce(rating = 'unsatisfied' AND rated_at IS NOT NULL, false)"))
    return counts


_LIVE_COUNTS = ", ".join(_live_counts())
_IS_LIVE = "tstzrange(f.live_from, f.live_until, '[]') && tstzrange($4, $3, '[]')"


async def _live(db: Db, p: Period, wanted: Sequence[str] | None, key: str,
                procedure: str | None, *, by_procedure: bool = False
                ) -> dict[PartKey, dict[str, int]]:
    """``tallies.live_part`` per ``key``: the dossiers live at some time in ``[cut,
    as_of]`` (the GiST index), counted by PostgreSQL."""
    # OFFSET 0 keeps the subquery from being pulled up, which would copy the verdict's CASE
    # into each of the counts that read ``v`` (evaluated once per row instead).
    rows = f"""SELECT f.*, {_VERDICT} AS v FROM {{source}}
               WHERE {_IS_LIVE} AND ($5::text IS NULL OR f.procedure_code = $5) OFFSET 0"""
    source = "facts f" if wanted is None else \
        "unnest($6::text[]) AS u(code) JOIN facts f ON f.unit_code = u.code"
    args: list[Any] = [p.start, p.end, p.as_of, tallies.cut(p), procedure]
    if wanted is not None:
        args.append(list(wanted))
    found = await db.fetch(
        f"""SELECT {key} AS key, {_by("procedure_code", by_procedure)} AS procedure,
                   {_LIVE_COUNTS}
            FROM ({rows.format(source=source)}) AS live GROUP BY 1, 2""", *args)
    return {(r["key"], r["procedure"]): {c: int(r[c]) for c in tallies.OWN_COUNTS}
            for r in found}


async def _recent_ratings(db: Db, p: Period, wanted: Sequence[str] | None,
                          procedure: str | None) -> list[Facts]:
    since = tallies.cut(p)
    if since >= min(p.end, p.as_of):
        return []
    rows = await db.fetch(
        f"""SELECT {_FACT_COLUMNS} FROM facts f
            WHERE f.rated_at >= $1 AND f.rated_at <= $2 AND f.rated_at < $3
              AND ($4::text[] IS NULL OR f.rating_unit = ANY($4::text[]))
              AND ($5::text IS NULL OR f.procedure_code = $5)""",
        since, p.as_of, p.end, wanted, procedure)
    return _facts(rows)


async def counted(db: Db, units: Sequence[str] | None, p: Period,
                  procedure: str | None = None,
                  rollup: Mapping[str, str] | None = None) -> dict[str | None, Counter[str]]:
    """Every count of ``domain.figures`` for ``p``, per unit (rolled up as ``rollup`` says;
    the key None when ``rollup`` is None and ``units`` names the units to add up), from
    the per-day counts of its complete days and the dossiers live after them
    (``domain.tallies``)."""
    _aligned(p)
    wanted = None if units is None else with_rolled_in(units, rollup)

    def key(unit: str | None) -> str | None:
        return (rollup or {}).get(unit or "", unit) if rollup is not None else None

    unit_key = rolled_up("unit_code", rollup) if rollup is not None else "NULL::text"
    async with _one_connection(db) as conn:  # one acquisition (and reset) per request
        per_day = await _per_day(conn, p, wanted, unit_key, procedure)
        live = await _live(conn, p, wanted, unit_key, procedure)
        recent = await _recent_ratings(conn, p, wanted, procedure)
    out: dict[str | None, Counter[str]] = {k: Counter(v) for (k, _), v in per_day.items()}
    rating_units = None if wanted is None else set(wanted)
    for (k, _), counts in live.items():
        tallies.add(out.setdefault(k, Counter()), counts)
    for k, group in _grouped(recent, lambda f: key(f.rating_unit)).items():
        tallies.add(out.setdefault(k, Counter()),
                    tallies.recent_part(group, p, rating_units))
    return out


async def own_counts_by_procedure(db: Db, units: Sequence[str] | None, p: Period,
                                  rollup: Mapping[str, str] | None = None
                                  ) -> dict[PartKey, Counter[str]]:
    """The dossiers' own counts (``tallies.OWN_COUNTS``) for ``p`` per unit (as ``counted``
    keys them) and procedure: the per-day counts and the live dossiers."""
    _aligned(p)
    wanted = None if units is None else with_rolled_in(units, rollup)
    unit_key = rolled_up("unit_code", rollup) if rollup is not None else "NULL::text"
    async with _one_connection(db) as conn:
        per_day = await _per_day(conn, p, wanted, unit_key, None, by_procedure=True)
        live = await _live(conn, p, wanted, unit_key, None, by_procedure=True)
    out: dict[PartKey, Counter[str]] = {}
    for part in (per_day, live):
        for k, counts in part.items():
            tallies.add(out.setdefault(k, Counter()),
                        {c: counts[c] for c in tallies.OWN_COUNTS})
    return out


# ``tallies.settled_until``: the next local midnight and the period's end are added in Python.
_INSTANTS = ", ".join(f"f.{c}" for c in tallies.INSTANTS)


async def settled_until(db: Db, units: Sequence[str] | None, p: Period,
                        procedure: str | None = None,
                        rollup: Mapping[str, str] | None = None) -> datetime:
    """``tallies.settled_until`` for the dossiers and ratings ``counted`` reads for ``p``:
    the earliest time at or after ``as_of`` of a dossier live from the cut on (the GiST
    index again, open-ended) or of a rating, one statement."""
    _aligned(p)
    wanted = None if units is None else with_rolled_in(units, rollup)
    source = "facts f" if wanted is None else \
        "unnest($3::text[]) AS u(code) JOIN facts f ON f.unit_code = u.code"
    found = await db.fetchval(
        f"""SELECT LEAST(
                (SELECT min(t) FROM {source}, unnest(ARRAY[{_INSTANTS}]) AS t
                 WHERE tstzrange(f.live_from, f.live_until, '[]') && tstzrange($1, NULL, '[]')
                   AND ($4::text IS NULL OR f.procedure_code = $4) AND t >= $2),
                (SELECT min(f.rated_at) FROM facts f
                 WHERE f.rated_at >= $2 AND ($3::text[] IS NULL OR f.rating_unit = ANY($3))
                   AND ($4::text IS NULL OR f.procedure_code = $4)))""",
        tallies.cut(p), p.as_of, wanted, procedure)
    bounds = tallies.settled_until([], [], p)
    return bounds if found is None else min(bounds, found)


@asynccontextmanager
async def _one_connection(db: Db) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


def _grouped(facts: Sequence[Facts], key: Callable[[Facts], str | None]
             ) -> dict[str | None, list[Facts]]:
    out: dict[str | None, list[Facts]] = {}
    for f in facts:
        out.setdefault(key(f), []).append(f)
    return out


async def figures(db: Db, units: Sequence[str] | None, p: Period,
                  procedure: str | None = None) -> Figures:
    return figures_from((await counted(db, units, p, procedure)).get(None, Counter()))


async def figures_by_unit(db: Db, p: Period, units: Sequence[str] | None = None,
                          rollup: Mapping[str, str] | None = None) -> dict[str, Figures]:
    """Each unit's own figures (all units, or the given ones); a merged unit's dossiers
    count under the unit ``rollup`` names for it."""
    counts = await counted(db, units, p, rollup=rollup or {})
    keys = set(units) if units is not None else {k for k in counts if k}
    return {unit: figures_from(counts.get(unit, Counter())) for unit in keys if unit}


def empty() -> Figures:
    return figures_from({})


async def desk_counts(db: Db, p: Period,
                      rollup: Mapping[str, str] | None = None) -> dict[str, DeskCounts]:
    """``domain.figures.desk_counts``: the per-day counts of the complete days, and the
    receipts and returns of the last one counted exactly."""
    _aligned(p)
    per_day = {k: v for (k, _), v in
               (await _per_day(db, p, None, rolled_up("unit_code", rollup), None)).items()}
    since = tallies.cut(p)
    recent: list[Facts] = []
    if since < min(p.end, p.as_of):
        recent = _facts(await db.fetch(
            f"""SELECT {_FACT_COLUMNS} FROM facts f
                WHERE (f.received_at >= $1 AND f.received_at <= $2 AND f.received_at < $3)
                   OR (f.returned_at >= $1 AND f.returned_at <= $2 AND f.returned_at < $3)""",
            since, p.as_of, p.end))
    out: dict[str, Counter[str]] = {k: Counter(v) for k, v in per_day.items() if k}
    for desk, c in tallies.desk_recent(recent, p, rollup).items():
        tallies.add(out.setdefault(desk, Counter()), c)
    return {desk: DeskCounts(c["desk_received"], c["desk_handed_over"], c["desk_returned"],
                             c["desk_returned_at_counter"])
            for desk, c in out.items() if any(c[k] for k in tallies.DESK_COUNTS)}


async def stuck_counts(conn: Db,
                       rollup: Mapping[str, str] | None = None) -> dict[str, int]:
    """Per unit where they are now: the open dossiers stuck now (hồ sơ treo)."""
    unit = rolled_up("coalesce(current_unit, unit_code)", rollup)
    rows = await conn.fetch(f"""SELECT {unit} AS key, count(*) AS n FROM facts
                                WHERE stuck_since IS NOT NULL AND end_at IS NULL
                                GROUP BY 1""")
    return {r["key"]: int(r["n"]) for r in rows}
