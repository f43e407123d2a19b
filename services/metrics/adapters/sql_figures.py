"""The figures of ``domain.figures`` counted inside PostgreSQL: one aggregate query per
request instead of every fact row travelling to Python. It must agree with the pure
function exactly; ``tests/integration/test_metrics_sql_contract.py`` runs both on the same
facts. The counts come from here; the rates are finished by the same Python code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from services.metrics.domain.figures import (
    CHANNELS,
    LEVELS,
    SIPAS_FACTORS,
    DeskCounts,
    Figures,
    Period,
    finish,
    finish_satisfaction,
)

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
    WHEN NOT ({_POPULATION}) THEN NULL
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


def _dossier_select(group: str | None) -> str:
    counts = [f"count(*) FILTER (WHERE v = '{k}') AS {k}"
              for k in ("early", "on_time", "late", "overdue_open", "open_not_due")]
    counts += [f"count(*) FILTER (WHERE {_IN.format(col=c + '_at')}) AS {c}"
               for c in ("received", "resolved", "rejected", "stopped", "withdrawn", "returned")]
    counts += [f"count(*) FILTER (WHERE {_IN.format(col='received_at')} AND channel = '{c}') "
               f"AS received_{c}" for c in CHANNELS]
    counts += [f"count(*) FILTER (WHERE {_IN.format(col='returned_at')} "
               f"AND returned_method = '{c}') AS returned_{c}" for c in CHANNELS]
    counts += [
        f"count(*) FILTER (WHERE {_IN.format(col='apology_issued_at')}) AS apologies_issued",
        "count(*) FILTER (WHERE v IS NOT NULL AND second_supplement_at <= $3)"
        " AS multiple_supplement_requests",
        "count(*) FILTER (WHERE v IN ('early', 'on_time', 'open_not_due') "
        "AND (second_supplement_at IS NULL OR second_supplement_at > $3)) AS on_time_766",
        "count(*) FILTER (WHERE v = 'late' AND apology_issued_at IS NULL) AS late_without_apology",
        "count(*) FILTER (WHERE v = 'late' AND apology_issued_at IS NOT NULL AND apology_timely)"
        " AS late_with_timely_apology",
        "count(*) FILTER (WHERE v = 'late' AND apology_issued_at IS NOT NULL "
        "AND NOT coalesce(apology_timely, false)) AS late_with_late_apology",
        "count(*) FILTER (WHERE v IN ('early', 'on_time', 'late') AND new_due_at IS NOT NULL "
        "AND end_at > new_due_at) AS missed_reappointment",
        f"coalesce(sum(processing_working_days) FILTER (WHERE {_IN.format(col='resolved_at')} "
        "AND processing_working_days IS NOT NULL), 0) AS worked_sum",
        f"count(*) FILTER (WHERE {_IN.format(col='resolved_at')} "
        "AND processing_working_days IS NOT NULL) AS worked_count",
        "count(v) AS population",
    ]
    key = f"{group} AS key, " if group else ""
    return f"""SELECT {key}{", ".join(counts)}
        FROM (SELECT *, {_VERDICT} AS v FROM facts
              WHERE (({_POPULATION}) OR {_IN.format(col="returned_at")})
                AND {{where}}) AS population
        {"GROUP BY " + group if group else ""}"""


def _rating_select(group: str | None) -> str:
    counts = [f"count(*) FILTER (WHERE rating = '{level}') AS {level}" for level in LEVELS]
    counts += ["coalesce(sum(decree61_total), 0) AS decree61_sum",
               "count(decree61_total) AS decree61_count",
               "count(*) FILTER (WHERE sipas IS NOT NULL AND sipas <> '{}'::jsonb) AS with_sipas"]
    counts += [f"count(*) FILTER (WHERE sipas IS NOT NULL AND sipas <> '{{}}'::jsonb "
               f"AND coalesce((sipas ->> '{k}')::int, 0) >= 4) AS high_{k}" for k in SIPAS_FACTORS]
    key = f"{group} AS key, " if group else ""
    return f"""SELECT {key}{", ".join(counts)} FROM facts
        WHERE rating = ANY(ARRAY{list(LEVELS)!r}) AND {_IN.format(col="rated_at")} AND {{where}}
        {"GROUP BY " + group if group else ""}"""


def _filters(column: str, units: Sequence[str] | None,
             procedure: str | None) -> tuple[str, list[Any]]:
    where: list[str] = ["true"]
    args: list[Any] = []
    if units is not None:
        args.append(list(units))
        where.append(f"{column} = ANY($4::text[])")
    if procedure is not None:
        args.append(procedure)
        where.append(f"procedure_code = ${3 + len(args)}")
    return " AND ".join(where), args


def _figures(d: asyncpg.Record | None, r: asyncpg.Record | None) -> Figures:
    g = Figures()
    if d is not None:
        for name in ("early", "on_time", "late", "overdue_open", "open_not_due", "received",
                     "resolved", "rejected", "stopped", "withdrawn", "returned",
                     "apologies_issued", "multiple_supplement_requests", "late_without_apology",
                     "late_with_timely_apology", "late_with_late_apology",
                     "missed_reappointment", "population", "on_time_766"):
            setattr(g, name, int(d[name]))
        g.received_by_channel = {c: int(d[f"received_{c}"]) for c in CHANNELS}
        g.returned_by_method = {c: int(d[f"returned_{c}"]) for c in CHANNELS}
        finish(g, int(d["worked_sum"]), int(d["worked_count"]))
    else:
        finish(g, 0, 0)
    if r is not None:
        g.ratings = {level: int(r[level]) for level in LEVELS}
        finish_satisfaction(g, int(r["decree61_sum"]), int(r["decree61_count"]),
                            int(r["with_sipas"]), {k: int(r[f"high_{k}"]) for k in SIPAS_FACTORS})
    else:
        finish_satisfaction(g, 0, 0, 0, dict.fromkeys(SIPAS_FACTORS, 0))
    return g


async def figures(conn: asyncpg.Connection | asyncpg.Pool, units: Sequence[str] | None,
                  p: Period, procedure: str | None = None) -> Figures:
    where, args = _filters("unit_code", units, procedure)
    d = await conn.fetchrow(_dossier_select(None).replace("{where}", where), p.start, p.end, p.as_of,
                            *args)
    where, args = _filters("rating_unit", units, procedure)
    r = await conn.fetchrow(_rating_select(None).replace("{where}", where), p.start, p.end, p.as_of,
                            *args)
    return _figures(d, r)


async def figures_by_unit(conn: asyncpg.Connection | asyncpg.Pool, p: Period,
                          units: Sequence[str] | None = None,
                          rollup: Mapping[str, str] | None = None) -> dict[str, Figures]:
    """Each unit's own figures (all units, or the given ones) from two grouped queries; a
    merged unit's dossiers count under the unit ``rollup`` names for it."""
    wanted = None if units is None else with_rolled_in(units, rollup)
    where_d, args = _filters("unit_code", wanted, None)
    where_r, _ = _filters("rating_unit", wanted, None)
    dossiers = {row["key"]: row for row in await conn.fetch(
        _dossier_select(rolled_up("unit_code", rollup)).replace("{where}", where_d),
        p.start, p.end, p.as_of, *args)}
    ratings = {row["key"]: row for row in await conn.fetch(
        _rating_select(rolled_up("rating_unit", rollup)).replace("{where}", where_r),
        p.start, p.end, p.as_of, *args)}
    keys = set(units) if units is not None else set(dossiers) | set(ratings)
    return {unit: _figures(dossiers.get(unit), ratings.get(unit)) for unit in keys if unit}


def empty() -> Figures:
    return _figures(None, None)


async def desk_counts(conn: asyncpg.Connection | asyncpg.Pool, p: Period,
                      rollup: Mapping[str, str] | None = None) -> dict[str, DeskCounts]:
    """``domain.figures.desk_counts``, counted by PostgreSQL in one grouped query."""
    desk = rolled_up("coalesce(receiving_unit, unit_code)", rollup)
    received, returned = _IN.format(col="received_at"), _IN.format(col="returned_at")
    rows = await conn.fetch(
        f"""SELECT {desk} AS key,
                   count(*) FILTER (WHERE {received}) AS received,
                   count(*) FILTER (WHERE {received}
                                    AND unit_code <> coalesce(receiving_unit, unit_code))
                       AS handed_over,
                   count(*) FILTER (WHERE {returned}) AS returned,
                   count(*) FILTER (WHERE {returned} AND returned_method = 'counter')
                       AS returned_at_counter
            FROM facts
            WHERE coalesce(receiving_unit, unit_code) IS NOT NULL
              AND ({received} OR {returned})
            GROUP BY 1""", p.start, p.end, p.as_of)
    return {r["key"]: DeskCounts(int(r["received"]), int(r["handed_over"]), int(r["returned"]),
                                 int(r["returned_at_counter"])) for r in rows}


async def stuck_counts(conn: asyncpg.Connection | asyncpg.Pool,
                       rollup: Mapping[str, str] | None = None) -> dict[str, int]:
    """Per unit where they are now: the open dossiers stuck now (hồ sơ treo)."""
    unit = rolled_up("coalesce(current_unit, unit_code)", rollup)
    rows = await conn.fetch(f"""SELECT {unit} AS key, count(*) AS n FROM facts
                                WHERE stuck_since IS NOT NULL AND end_at IS NULL
                                GROUP BY 1""")
    return {r["key"]: int(r["n"]) for r in rows}
