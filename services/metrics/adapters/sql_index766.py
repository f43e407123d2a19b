"""The national index's counts (``domain.index766_counts.index_counts``) read from
PostgreSQL as the figures are (``sql_figures``): the per-day counts of a period's complete
days and the dossiers still live after them, per procedure (its catalog terms say what is
offered online and what has a fee), then ``index_counts_from``. 5.4's complaints are taken
off with one more query over the dossiers complained about. What a request costs depends on
the units and days it covers (and on the complaints), not on how many dossiers are stored.
It must agree with the pure function exactly; ``tests/integration/test_index766_sql_contract.py``
runs both on the same facts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import asyncpg

from services.metrics.adapters import sql_figures
from services.metrics.adapters.sql_figures import _VERDICT, rolled_up, with_rolled_in
from services.metrics.domain.figures import Period
from services.metrics.domain.index766 import Counts
from services.metrics.domain.index766_counts import ProcedureTerms, index_counts_from

# The period's population in two parts that an index bounds, whatever the history: received
# in the period (by receipt time), and received before it but not over when it began (live
# at its start: the facts' live span, GiST; a dossier whose times are out of order is always
# "live", and the exact test below keeps only the population). The at-risk list and the
# II.06a report read their dossiers with it.
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


async def _complained_good(db: asyncpg.Pool | asyncpg.Connection, units: Sequence[str] | None,
                           p: Period, key: str) -> dict[str | None, int]:
    """``index_counts_from``'s ``complained_good`` per ``key``: the population's dossiers that
    5.4 counts as good but for a complaint about them received by ``as_of``."""
    rows = await db.fetch(
        f"""SELECT {key} AS key, count(*) AS n FROM (
                SELECT f.*, {_VERDICT} AS v FROM facts f
                WHERE f.dossier_code IN (SELECT c.dossier_code FROM complaint_facts c
                                         WHERE c.dossier_code IS NOT NULL
                                           AND c.received_at <= $3)
                  AND ($4::text[] IS NULL OR f.unit_code = ANY($4::text[]))) AS population
            WHERE {sql_figures.GOOD_NOT_DISLIKED} GROUP BY 1""",
        p.start, p.end, p.as_of, list(units) if units is not None else None)
    return {r["key"]: int(r["n"]) for r in rows}


def _of(parts: Mapping[tuple[str | None, str | None], Counter[str]],
        key: str | None) -> dict[str, Counter[str]]:
    return {procedure or "": c for (k, procedure), c in parts.items() if k == key}


async def index_counts(db: asyncpg.Pool | asyncpg.Connection, units: Sequence[str] | None,
                       p: Period, terms: Mapping[str, ProcedureTerms]) -> dict[str, Counts | None]:
    """The counts of every indicator counted from the dossiers' events; the others None."""
    parts = await sql_figures.own_counts_by_procedure(db, units, p)
    complained = await _complained_good(db, units, p, "NULL::text")
    return index_counts_from(_of(parts, None), terms, units, complained.get(None, 0))


async def index_counts_by_unit(db: asyncpg.Pool | asyncpg.Connection, p: Period,
                               terms: Mapping[str, ProcedureTerms],
                               units: Sequence[str], rollup: Mapping[str, str] | None = None,
                               ) -> dict[str, dict[str, Counts | None]]:
    """Each unit's own counts; a merged unit's dossiers count under the unit ``rollup``
    names for it."""
    parts = await sql_figures.own_counts_by_procedure(db, units, p, rollup or {})
    complained = await _complained_good(db, with_rolled_in(units, rollup), p,
                                        rolled_up("unit_code", rollup))
    return {u: index_counts_from(_of(parts, u), terms, with_rolled_in([u], rollup),
                                 complained.get(u, 0)) for u in units}
