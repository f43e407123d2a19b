"""PostgreSQL adapters of the national index: the facts of a period's population (dossiers
and complaints), and the operators' entries for the catalogue indicators."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from services.metrics.adapters.sql_index766 import POPULATION_ROWS
from services.metrics.adapters.store import COMPLAINT_FIELDS, FACT_FIELDS
from services.metrics.domain.complaints import ComplaintFacts
from services.metrics.domain.facts import Facts
from services.metrics.domain.figures import Period
from services.metrics.domain.index766 import Counts

_COLUMNS = ", ".join(FACT_FIELDS)


async def complaints_of(db: asyncpg.Pool | asyncpg.Connection, units: Sequence[str] | None,
                        p: Period) -> list[ComplaintFacts]:
    """The complaints of ``units`` (None: all) in the period's population."""
    rows = await db.fetch(
        f"""SELECT {", ".join(COMPLAINT_FIELDS)} FROM complaint_facts
            WHERE received_at < $2 AND received_at <= $3
              AND (received_at >= $1 OR coalesce(refused_at, published_at) IS NULL
                   OR coalesce(refused_at, published_at) >= $1)
              AND ($4::text[] IS NULL OR unit_code = ANY($4::text[]))""",
        p.start, p.end, p.as_of, list(units) if units is not None else None)
    return [ComplaintFacts(**dict(r)) for r in rows]


async def population(db: asyncpg.Pool | asyncpg.Connection, units: Sequence[str] | None,
                     p: Period) -> list[Facts]:
    """The facts of every dossier of ``units`` (None: all) received in ``p``, or earlier and
    still open when it began (the figures' ``in_population``, as a query bounded by indexes:
    ``sql_index766.POPULATION_ROWS``)."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM ({POPULATION_ROWS}) AS f",
        p.start, p.end, p.as_of, list(units) if units is not None else None)
    return [Facts(**{c: r[c] for c in FACT_FIELDS}) for r in rows]


@dataclass(frozen=True)
class Entry:
    unit_code: str
    month: date
    indicator: str
    counts: Counts
    entered_by: str
    entered_at: datetime


class OperatorInputs:
    def __init__(self, db: asyncpg.Pool) -> None:
        self.db = db

    async def put(self, entry: Entry, source: str) -> None:
        """The value in force, and a line in the append-only log, in one transaction."""
        async with self.db.acquire() as conn, conn.transaction():
            args = (entry.unit_code, entry.month, entry.indicator, entry.counts.numerator,
                    entry.counts.denominator, entry.entered_by, entry.entered_at)
            await conn.execute(
                """INSERT INTO index766_inputs (unit_code, month, indicator, numerator,
                                                denominator, entered_by, entered_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (unit_code, month, indicator) DO UPDATE SET
                     numerator = EXCLUDED.numerator, denominator = EXCLUDED.denominator,
                     entered_by = EXCLUDED.entered_by, entered_at = EXCLUDED.entered_at""", *args)
            await conn.execute(
                """INSERT INTO index766_input_log (unit_code, month, indicator, numerator,
                                                   denominator, entered_by, entered_at, source)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""", *args, source)

    async def in_force(self, units: Sequence[str], months: Sequence[date]) -> list[Entry]:
        rows = await self.db.fetch(
            """SELECT unit_code, month, indicator, numerator, denominator, entered_by, entered_at
               FROM index766_inputs WHERE unit_code = ANY($1::text[])
                 AND month = ANY($2::date[])""", list(units), list(months))
        return [_entry(r) for r in rows]

    async def log(self, unit_code: str, month: date) -> list[tuple[Entry, str]]:
        rows = await self.db.fetch(
            """SELECT unit_code, month, indicator, numerator, denominator, entered_by,
                      entered_at, source FROM index766_input_log
               WHERE unit_code = $1 AND month = $2 ORDER BY id""", unit_code, month)
        return [(_entry(r), str(r["source"])) for r in rows]


def _entry(r: asyncpg.Record) -> Entry:
    return Entry(r["unit_code"], r["month"], r["indicator"],
                 Counts(r["numerator"], r["denominator"]), r["entered_by"], r["entered_at"])
