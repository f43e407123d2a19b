"""PostgreSQL adapter of the metrics service: the event set per dossier, the folded facts,
and the reads the figures are computed from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import asyncpg
import orjson

from services.metrics.domain import tallies
from services.metrics.domain.complaints import ComplaintFacts, fold_complaint
from services.metrics.domain.facts import EventRecord, Facts, fold, live_span
from shared.events import Envelope, EventData
from shared.rulebook import Rulebook

FACT_FIELDS = tuple(f.name for f in fields(Facts))
COMPLAINT_FIELDS = tuple(f.name for f in fields(ComplaintFacts))
COMPLAINT_EVENTS = "complaint.%"  # their set is keyed by the complaint's code
_COLUMNS = ", ".join(FACT_FIELDS)
CHANGED_CHANNEL = "metrics_changed"


def event_row(env: Envelope[EventData]) -> tuple[Any, ...]:
    return (env.id, env.data.subject, env.type, env.data.occurred_at,
            env.data.model_dump(mode="json"))


async def add_events(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]],
                     rulebook: Rulebook) -> set[str]:
    """Add events to the set and refold their dossiers; returns the units whose figures
    changed. Runs inside the caller's transaction; NOTIFY is delivered at its commit."""
    if not rows:
        return set()
    await conn.executemany(
        """INSERT INTO dossier_events (event_id, dossier_code, type, occurred_at, data)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING""", rows)
    codes = sorted({r[1] for r in rows})
    units = await refold(conn, codes, rulebook)
    if units:
        await conn.execute("SELECT pg_notify($1, $2)", CHANGED_CHANNEL,
                           orjson.dumps(sorted(units)).decode())
    return units


async def refold(conn: asyncpg.Connection, codes: Sequence[str], rulebook: Rulebook, *,
                 events_table: str = "dossier_events", facts_table: str = "facts",
                 counts_table: str = "daily_counts") -> set[str]:
    rows = await conn.fetch(
        f"""SELECT dossier_code, event_id, type, occurred_at, data FROM {events_table}
            WHERE dossier_code = ANY($1::text[])""", list(codes))
    by_code: dict[str, list[EventRecord]] = {}
    of_complaints: dict[str, list[tuple[str, Any, Any]]] = {}
    for r in rows:
        if r["type"].startswith("complaint."):
            of_complaints.setdefault(r["dossier_code"], []).append(
                (r["type"], r["occurred_at"], r["data"]))
            continue
        by_code.setdefault(r["dossier_code"], []).append(
            EventRecord(r["event_id"], r["type"], r["occurred_at"], r["data"]))
    facts = [fold(code, events, rulebook) for code, events in by_code.items()]
    await upsert_facts(conn, facts, facts_table=facts_table, counts_table=counts_table)
    complaints = [fold_complaint(code, events) for code, events in of_complaints.items()]
    await upsert_complaint_facts(conn, complaints)
    units: set[str] = {c.unit_code for c in complaints if c.unit_code}
    for f in facts:
        units.update(u for u in (f.unit_code, f.rating_unit) if u)
    return units


async def upsert_complaint_facts(conn: asyncpg.Connection,
                                 facts: Sequence[ComplaintFacts]) -> None:
    if not facts:
        return
    columns = ", ".join(COMPLAINT_FIELDS)
    params = ", ".join(f"${i}" for i in range(1, len(COMPLAINT_FIELDS) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COMPLAINT_FIELDS[1:])
    await conn.executemany(
        f"""INSERT INTO complaint_facts ({columns}) VALUES ({params})
            ON CONFLICT (complaint_code) DO UPDATE SET {updates}""",
        [tuple(getattr(f, c) for c in COMPLAINT_FIELDS) for f in facts])


async def refold_complaints(conn: asyncpg.Connection, rulebook: Rulebook) -> int:
    """Every complaint's facts again from the event set (after a rebuild's swap)."""
    await conn.execute("DELETE FROM complaint_facts")
    codes = [r["dossier_code"] for r in await conn.fetch(
        "SELECT DISTINCT dossier_code FROM dossier_events WHERE type LIKE $1", COMPLAINT_EVENTS)]
    await refold(conn, codes, rulebook)
    return len(codes)


async def upsert_facts(conn: asyncpg.Connection, facts: Sequence[Facts], *,
                       facts_table: str = "facts", counts_table: str = "daily_counts") -> None:
    """Write the facts and, in the same transaction, move the per-day counts by what their
    new folds change (``tallies.delta``: less the old fold's contributions, plus the new)."""
    if not facts:
        return
    before = [Facts(**{c: r[c] for c in FACT_FIELDS}) for r in await conn.fetch(
        f"""SELECT {_COLUMNS} FROM {facts_table}
            WHERE dossier_code = ANY($1::text[]) AND tallied FOR UPDATE""",
        [f.dossier_code for f in facts])]
    params = ", ".join(f"${i}" for i in range(1, len(FACT_FIELDS) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*FACT_FIELDS[1:], "tallied"))
    await conn.executemany(
        f"""INSERT INTO {facts_table} ({_COLUMNS}, tallied) VALUES ({params}, true)
            ON CONFLICT (dossier_code) DO UPDATE SET {updates}""",
        [tuple(getattr(f, c) for c in FACT_FIELDS) for f in facts])
    await add_counts(conn, tallies.delta(before, facts), counts_table=counts_table)


_COUNT_COLUMNS = ", ".join(tallies.COUNTS)


async def add_counts(conn: asyncpg.Connection, delta: Mapping[tallies.Key, Mapping[str, int]],
                     *, counts_table: str = "daily_counts") -> None:
    """Add ``delta`` to the per-day counts, in key order (two writers never wait on each
    other in a cycle)."""
    if not delta:
        return
    n = len(tallies.COUNTS)
    params = ", ".join(f"${i}" for i in range(4, n + 4))
    sums = ", ".join(f"{c} = {counts_table}.{c} + EXCLUDED.{c}" for c in tallies.COUNTS)
    await conn.executemany(
        f"""INSERT INTO {counts_table} (unit_code, procedure_code, day, {_COUNT_COLUMNS})
            VALUES ($1, $2, $3, {params})
            ON CONFLICT (unit_code, day, procedure_code) DO UPDATE SET {sums}""",
        [(unit, procedure, day, *(int(counts.get(c, 0)) for c in tallies.COUNTS))
         for (unit, procedure, day), counts in sorted(delta.items())])


async def tally_untallied(conn: asyncpg.Connection, batch: int = 5000) -> int:
    """Count the facts folded before the per-day counts existed (``tallied`` false): their
    live spans and their contributions. Returns how many; each batch is a transaction."""
    done = 0
    while True:
        async with conn.transaction():
            rows = await conn.fetch(
                f"""SELECT {_COLUMNS} FROM facts WHERE NOT tallied
                    ORDER BY dossier_code LIMIT $1 FOR UPDATE SKIP LOCKED""", batch)
            if not rows:
                return done
            facts = [Facts(**{c: r[c] for c in FACT_FIELDS}) for r in rows]
            for f in facts:
                f.live_from, f.live_until = live_span(f)
            await conn.executemany(
                """UPDATE facts SET live_from = $2, live_until = $3, tallied = true
                   WHERE dossier_code = $1""",
                [(f.dossier_code, f.live_from, f.live_until) for f in facts])
            await add_counts(conn, tallies.delta([], facts))
            done += len(facts)
