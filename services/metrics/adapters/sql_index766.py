"""The national index's counts (``domain.index766_counts.index_counts``) counted inside
PostgreSQL: one aggregate query per request, grouped by unit for rankings, instead of every
fact travelling to Python. It must agree with the pure function exactly;
``tests/integration/test_index766_sql_contract.py`` runs both on the same facts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from services.metrics.adapters.sql_figures import _IN, _VERDICT, rolled_up, with_rolled_in
from services.metrics.domain.figures import Period
from services.metrics.domain.index766 import Counts
from services.metrics.domain.index766_counts import (
    COMPLAINTS,
    ONLINE_OFFERED,
    OPERATOR_INPUT,
    ProcedureTerms,
)

_RECEIVED = _IN.format(col="received_at")
_RESOLVED = _IN.format(col="resolved_at")
_GOOD = ("v IN ('early', 'on_time', 'open_not_due') "
         "AND (second_supplement_at IS NULL OR second_supplement_at > $3)")
_FEE = f"{_RECEIVED} AND procedure_code = ANY($6::text[])"
_COUNTS = {
    "population": "count(v)",
    "good": f"count(*) FILTER (WHERE {_GOOD})",
    "satisfied": f"count(*) FILTER (WHERE {_GOOD} AND NOT (rating IS NOT DISTINCT FROM "
                 "'unsatisfied' AND rated_at <= $3) AND NOT EXISTS (SELECT 1 FROM "
                 "complaint_facts c WHERE c.dossier_code = population.dossier_code "
                 "AND c.received_at <= $3))",
    "received": f"count(*) FILTER (WHERE {_RECEIVED})",
    "synced": f"count(*) FILTER (WHERE {_RECEIVED} AND synced_at <= $3)",
    "resolved": f"count(*) FILTER (WHERE {_RESOLVED})",
    "electronic": f"count(*) FILTER (WHERE {_RESOLVED} AND electronic_result)",
    "digitised": f"count(*) FILTER (WHERE {_RECEIVED} AND components_digitised "
                 "AND result_digitised AND resolved_at <= $3)",
    "reused": f"count(*) FILTER (WHERE {_RECEIVED} AND reused_digitised)",
    "shared": f"count(*) FILTER (WHERE {_RECEIVED} AND shared_to_citizen AND resolved_at <= $3)",
    "population_data": f"count(*) FILTER (WHERE {_RECEIVED} AND population_data)",
    "offered": f"count(*) FILTER (WHERE {_RECEIVED} AND procedure_code = ANY($5::text[]))",
    "whole": f"count(*) FILTER (WHERE {_RECEIVED} AND procedure_code = ANY($5::text[]) "
             "AND channel = 'online' AND online_mode = 'whole')",
    "with_fee": f"count(*) FILTER (WHERE {_FEE})",
    "paid_online": f"count(*) FILTER (WHERE {_FEE} AND paid_online AND paid_at <= $3)",
    "fee_procedures": f"count(DISTINCT procedure_code) FILTER (WHERE {_FEE})",
    "fee_procedures_paid_online": f"count(DISTINCT procedure_code) FILTER (WHERE {_FEE} "
                                  "AND paid_online AND paid_at <= $3)",
    "worked_sum": f"coalesce(sum(processing_working_days) FILTER (WHERE {_RESOLVED}), 0)",
    "worked_count": f"count(processing_working_days) FILTER (WHERE {_RESOLVED})",
}


# The period's population in two parts that an index bounds, whatever the history: received
# in the period (by receipt time), and received before it but not over when it began (live
# at its start: the facts' live span, GiST; a dossier whose times are out of order is always
# "live", and the exact test below keeps only the population).
POPULATION_ROWS = """
    SELECT f.* FROM facts f
    WHERE f.received_at >= $1 AND f.received_at < $2 AND f.received_at <= $3
      AND ($4::text[] IS NULL OR f.unit_code = ANY($4::text[]))
    UNION ALL
    SELECT f.* FROM facts f
    WHERE tstzrange(f.live_from, f.live_until, '[]') && tstzrange($1, $1, '[]')
      AND f.received_at < $1 AND f.received_at <= $3
      AND (f.end_at IS NULL OR f.end_at >= $1)
      AND ($4::text[] IS NULL OR f.unit_code = ANY($4::text[]))"""


def _select(group: str | None) -> str:
    key = f"{group} AS key, " if group else ""
    counts = ", ".join(f"{sql} AS {name}" for name, sql in _COUNTS.items())
    return f"""SELECT {key}{counts}
        FROM (SELECT *, {_VERDICT} AS v FROM ({POPULATION_ROWS}) AS f) AS population
        {"GROUP BY " + group if group else ""}"""


def _terms_args(terms: Mapping[str, ProcedureTerms]) -> tuple[list[str], list[str]]:
    offered = sorted(c for c, t in terms.items() if t.online in ONLINE_OFFERED)
    fee = sorted(c for c, t in terms.items() if t.fee > 0)
    return offered, fee


def _counts(row: asyncpg.Record | None, fee_procedures_of_units: int) -> dict[str, Counts | None]:
    r: Mapping[str, Any] = row if row is not None else dict.fromkeys(_COUNTS, 0)
    counts: dict[str, Counts | None] = {
        "1.4": Counts(r["synced"], r["received"]),
        "2.1": Counts(r["good"], r["population"]),
        "2.2": Counts(int(r["worked_sum"]), r["worked_count"]),
        "3.1": Counts(r["whole"], r["offered"]),
        "3.2": Counts(r["paid_online"], r["with_fee"]),
        "3.3": Counts(r["fee_procedures_paid_online"], r["fee_procedures"]),
        "3.4": Counts(r["fee_procedures"], fee_procedures_of_units),
        "4.1": Counts(r["electronic"], r["resolved"]),
        "4.2": Counts(r["digitised"], r["received"]),
        "4.3": Counts(r["reused"], r["received"]),
        "4.4": Counts(r["shared"], r["received"]),
        "4.5": Counts(r["population_data"], r["received"]),
        "5.4": Counts(r["satisfied"], r["population"]),
    }
    for key in (*OPERATOR_INPUT, *COMPLAINTS):
        counts[key] = None  # the operators' entries, and the complaints (domain.complaints)
    return counts


def fee_procedures_of(terms: Mapping[str, ProcedureTerms], units: Sequence[str] | None) -> int:
    wanted = None if units is None else set(units)
    return sum(1 for t in terms.values() if t.fee > 0 and (wanted is None or t.units & wanted))


async def index_counts(db: asyncpg.Pool | asyncpg.Connection, units: Sequence[str] | None,
                       p: Period, terms: Mapping[str, ProcedureTerms]) -> dict[str, Counts | None]:
    """The counts of every indicator counted from the dossiers' events; the others None."""
    offered, fee = _terms_args(terms)
    row = await db.fetchrow(_select(None), p.start, p.end, p.as_of,
                            list(units) if units is not None else None, offered, fee)
    return _counts(row, fee_procedures_of(terms, units))


async def index_counts_by_unit(db: asyncpg.Pool | asyncpg.Connection, p: Period,
                               terms: Mapping[str, ProcedureTerms],
                               units: Sequence[str], rollup: Mapping[str, str] | None = None,
                               ) -> dict[str, dict[str, Counts | None]]:
    """Each unit's own counts, from one grouped query; a merged unit's dossiers count under
    the unit ``rollup`` names for it."""
    offered, fee = _terms_args(terms)
    rows = {r["key"]: r for r in await db.fetch(
        _select(rolled_up("unit_code", rollup)), p.start, p.end, p.as_of,
        with_rolled_in(units, rollup), offered, fee)}
    return {u: _counts(rows.get(u), fee_procedures_of(terms, with_rolled_in([u], rollup)))
            for u in units}
