"""PostgreSQL adapter of the metrics service: the event set per dossier, the folded facts,
and the reads the figures are computed from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any

import asyncpg
import orjson

from services.metrics.domain import tallies
from services.metrics.domain.complaints import ComplaintFacts, fold_complaint
from services.metrics.domain.facts import RELEVANT, EventRecord, Facts, fold, live_span
from shared.events import EVENT_MODELS, Envelope, EventData
from shared.rulebook import Rulebook

FACT_FIELDS = tuple(f.name for f in fields(Facts))
_SQL_TYPES = {"str": "text", "int": "integer", "bool": "boolean", "datetime": "timestamptz",
              "dict": "jsonb"}


def _sql_type(hint: str) -> str:
    """The column type of a ``Facts`` field from its annotation (``str | None`` → text)."""
    return _SQL_TYPES[hint.split("|")[0].split("[")[0].strip()]


# The facts of a batch as one row set: one array per column (one statement, binary).
_FACT_ARRAYS = "unnest({})".format(", ".join(
    f"${i}::{_sql_type(str(f.type))}[]" for i, f in enumerate(fields(Facts), start=1)))
COMPLAINT_FIELDS = tuple(f.name for f in fields(ComplaintFacts))
COMPLAINT_EVENTS = "complaint.%"  # their set is keyed by the complaint's code
_COLUMNS = ", ".join(FACT_FIELDS)
CHANGED_CHANNEL = "metrics_changed"
# The event types the folds read (a dossier's, a complaint's): the others are left unread.
FOLDED_TYPES = RELEVANT | frozenset(
    m.event_type for m in EVENT_MODELS if m.event_type.startswith("complaint."))


def event_row(env: Envelope[EventData]) -> tuple[Any, ...]:
    return (env.id, env.data.subject, env.type, env.data.occurred_at, env.data_json())




async def add_events(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]],
                     rulebook: Rulebook) -> set[str]:
    """Add events to the set and refold their dossiers; returns the units whose figures
    changed. Runs inside the caller's transaction; NOTIFY is delivered at its commit."""
    if not rows:
        return set()
    codes = sorted({r[1] for r in rows})
    # Their sets as stored so far, read before the batch joins them: the batch's own rows
    # are not read back.
    stored = await _stored_events(conn, codes)
    # One statement for the whole batch (one array per column, binary).
    await conn.execute(
        """INSERT INTO dossier_events (event_id, dossier_code, type, occurred_at, data)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                                $5::jsonb[])
           ON CONFLICT (event_id) DO NOTHING""", *([r[i] for r in rows] for i in range(5)))
    units = await _fold_and_write(conn, [*stored, *rows], rulebook)
    if units:
        await notify_changed(conn, units)
    return units


async def notify_changed(conn: asyncpg.Connection, units: Iterable[str] | None) -> None:
    """Tell every replica, at this transaction's commit, whose figures changed (None: any
    unit's; sent as an empty list). The live hub and the reader's cache act on it."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANGED_CHANNEL,
                       orjson.dumps(sorted(units or ())).decode())


async def _stored_events(conn: asyncpg.Connection, codes: Sequence[str],
                         events_table: str = "dossier_events") -> list[Sequence[Any]]:
    return list(await conn.fetch(
        f"""SELECT event_id, dossier_code, type, occurred_at, data FROM {events_table}
            WHERE dossier_code = ANY($1::text[])""", list(codes)))


async def refold(conn: asyncpg.Connection, codes: Sequence[str], rulebook: Rulebook, *,
                 events_table: str = "dossier_events", facts_table: str = "facts",
                 counts_table: str = "daily_counts") -> set[str]:
    """Fold the dossiers (and complaints) of ``codes`` again from their whole event sets,
    and write their facts; returns the units whose figures changed."""
    return await _fold_and_write(conn, await _stored_events(conn, codes, events_table),
                                 rulebook, facts_table=facts_table, counts_table=counts_table)


async def _fold_and_write(conn: asyncpg.Connection, rows: Sequence[Sequence[Any]],
                          rulebook: Rulebook, *, facts_table: str = "facts",
                          counts_table: str = "daily_counts") -> set[str]:
    """Fold the event rows (``event_row``'s shape; a duplicate counts once) per dossier and
    complaint, and write the facts; returns the units whose figures changed."""
    by_code: dict[str, list[EventRecord]] = {}
    of_complaints: dict[str, list[tuple[str, Any, Any]]] = {}
    seen: set[Any] = set()
    for event_id, code, type_, occurred_at, data in rows:
        if event_id in seen:  # stored already, and delivered again (after a rebuild)
            continue
        seen.add(event_id)
        if type_.startswith("complaint."):
            of_complaints.setdefault(code, []).append((type_, occurred_at, data))
            continue
        by_code.setdefault(code, []).append(EventRecord(event_id, type_, occurred_at, data))
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
    before = [Facts(*r) for r in await conn.fetch(
        f"""SELECT {_COLUMNS} FROM {facts_table}
            WHERE dossier_code = ANY($1::text[]) AND tallied FOR UPDATE""",
        [f.dossier_code for f in facts])]
    # A refold that changes nothing (a duplicate, a step the figures do not count) writes
    # nothing.
    previous = _by_code(before)
    unchanged = {f.dossier_code for f in facts if f == previous.get(f.dossier_code)}
    facts = [f for f in facts if f.dossier_code not in unchanged]
    before = [f for f in before if f.dossier_code not in unchanged]
    if not facts:
        return
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*FACT_FIELDS[1:], "tallied"))
    await conn.execute(
        f"""INSERT INTO {facts_table} ({_COLUMNS}, tallied)
            SELECT *, true FROM {_FACT_ARRAYS}
            ON CONFLICT (dossier_code) DO UPDATE SET {updates}""",
        *([getattr(f, c) for f in facts] for c in FACT_FIELDS))
    await add_counts(conn, tallies.delta(before, facts), counts_table=counts_table)


def _by_code(facts: Sequence[Facts]) -> dict[str, Facts]:
    return {f.dossier_code: f for f in facts}


_COUNT_COLUMNS = ", ".join(tallies.COUNTS)
_COUNT_INDEX = {name: i for i, name in enumerate(tallies.COUNTS)}
_COUNT_ARRAYS = "unnest($1::text[], $2::text[], $3::date[], {})".format(
    ", ".join(f"${i}::bigint[]" for i in range(4, len(tallies.COUNTS) + 4)))


async def add_counts(conn: asyncpg.Connection, delta: Mapping[tallies.Key, Mapping[str, int]],
                     *, counts_table: str = "daily_counts") -> None:
    """Add ``delta`` to the per-day counts, in key order (two writers never wait on each
    other in a cycle)."""
    if not delta:
        return
    sums = ", ".join(f"{c} = {counts_table}.{c} + EXCLUDED.{c}" for c in tallies.COUNTS)
    keys = sorted(delta)
    columns = [[0] * len(keys) for _ in tallies.COUNTS]
    for i, key in enumerate(keys):
        for name, n in delta[key].items():
            columns[_COUNT_INDEX[name]][i] = n
    await conn.execute(
        f"""INSERT INTO {counts_table} (unit_code, procedure_code, day, {_COUNT_COLUMNS})
            SELECT * FROM {_COUNT_ARRAYS}
            ON CONFLICT (unit_code, day, procedure_code) DO UPDATE SET {sums}""",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], *columns)


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
            facts = [Facts(*r) for r in rows]
            for f in facts:
                f.live_from, f.live_until = live_span(f)
            await conn.execute(
                """UPDATE facts SET live_from = s.live_from, live_until = s.live_until,
                                    tallied = true
                   FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])
                        AS s(dossier_code, live_from, live_until)
                   WHERE facts.dossier_code = s.dossier_code""",
                [f.dossier_code for f in facts], [f.live_from for f in facts],
                [f.live_until for f in facts])
            await add_counts(conn, tallies.delta([], facts))
            await notify_changed(conn, None)
            done += len(facts)
