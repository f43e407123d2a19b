"""``metrics rebuild``: replay every topic from the beginning into fresh tables, fold every
dossier, swap the tables in, and fold every complaint again from the new event set.

1. ``dossier_events_rebuild`` and ``facts_rebuild`` are created empty, like the live ones;
2. every partition is read from its beginning up to the end offset it had when the rebuild
   started (poison messages are skipped: they are on the dead-letter topics already);
3. every dossier is folded from its replayed events;
4. in one transaction that locks the live tables: events the live consumer applied after
   the snapshot are copied over and their dossiers folded again, then the tables swap.

The live service keeps running; its consumer waits for the lock during the swap only.
Run it with ``python -m services.metrics.rebuild`` (or ``make rebuild``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.metrics.adapters import store
from services.metrics.domain.facts import EventRecord, fold
from services.metrics.settings import Settings
from shared.db import Timeouts, create_pool
from shared.events import ALL_DOSSIER_TOPICS, PoisonMessage, from_kafka
from shared.logging import configure_logging
from shared.migrations import migrate_service
from shared.rulebook import Rulebook, load_rulebook

log = logging.getLogger(__name__)
EVENTS_NEW, FACTS_NEW, COUNTS_NEW = "dossier_events_rebuild", "facts_rebuild", "daily_counts_rebuild"
STAGING = "dossier_events_staging"


@dataclass
class RebuildReport:
    messages: int = 0
    poison_skipped: int = 0
    events: int = 0
    dossiers: int = 0
    merged_after_snapshot: int = 0
    complaints: int = 0
    seconds: float = 0.0


async def replay(settings: Settings, conn: asyncpg.Connection, report: RebuildReport,
                 batch: int = 5000) -> None:
    topics = [settings.topic_prefix + t for t in ALL_DOSSIER_TOPICS]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, client_id="metrics-rebuild",
                                isolation_level="read_committed", max_poll_records=batch,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = await _partitions(settings.kafka_bootstrap, topics)
        if not partitions:
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        pending: list[tuple[Any, ...]] = []
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch)
            for tp, records in fetched.items():
                for rec in records:
                    if rec.offset >= ends[tp]:
                        continue
                    report.messages += 1
                    try:
                        env = from_kafka(rec.headers, rec.value)
                    except PoisonMessage:
                        report.poison_skipped += 1
                        continue
                    pending.append(store.event_row(env))
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if len(pending) >= batch or (not remaining and pending):
                await _insert_events(conn, pending)
                pending = []
    finally:
        await consumer.stop()


async def _partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="metrics-rebuild")
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return sorted(TopicPartition(d["topic"], p["partition"])
                  for d in described if not d.get("error_code") for p in d["partitions"])


async def _insert_events(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """COPY into an unlogged staging table (fast), then once into the new table without the
    duplicates a republishing relay may have left on the topics."""
    await conn.copy_records_to_table(
        STAGING, records=[(r[0], r[1], r[2], r[3], orjson.dumps(r[4]).decode()) for r in rows],
        columns=["event_id", "dossier_code", "type", "occurred_at", "data"])


async def _dedupe_staging(conn: asyncpg.Connection) -> None:
    await conn.execute(
        f"""INSERT INTO {EVENTS_NEW} (event_id, dossier_code, type, occurred_at, data)
            SELECT DISTINCT ON (event_id) event_id, dossier_code, type, occurred_at, data::jsonb
            FROM {STAGING} ON CONFLICT (event_id) DO NOTHING""")
    await conn.execute(f"DROP TABLE {STAGING}")


async def fold_all(conn: asyncpg.Connection, rulebook: Rulebook, report: RebuildReport,
                   batch: int = 5000) -> None:
    current: str | None = None
    events: list[EventRecord] = []
    facts = []
    async with conn.transaction():
        async for r in conn.cursor(
                f"""SELECT dossier_code, event_id, type, occurred_at, data FROM {EVENTS_NEW}
                    WHERE type NOT LIKE $1 ORDER BY dossier_code""", store.COMPLAINT_EVENTS,
                prefetch=batch):
            report.events += 1
            if r["dossier_code"] != current:
                if current is not None:
                    facts.append(fold(current, events, rulebook))
                current, events = r["dossier_code"], []
            events.append(EventRecord(r["event_id"], r["type"], r["occurred_at"], r["data"]))
            if len(facts) >= batch:
                await store.upsert_facts(conn, facts, facts_table=FACTS_NEW, counts_table=COUNTS_NEW)
                report.dossiers += len(facts)
                facts = []
        if current is not None:
            facts.append(fold(current, events, rulebook))
        await store.upsert_facts(conn, facts, facts_table=FACTS_NEW, counts_table=COUNTS_NEW)
        report.dossiers += len(facts)


async def swap(conn: asyncpg.Connection, rulebook: Rulebook, report: RebuildReport) -> None:
    async with conn.transaction():
        await conn.execute(
            "LOCK TABLE dossier_events, facts, daily_counts IN ACCESS EXCLUSIVE MODE")
        late = await conn.fetch(
            f"""INSERT INTO {EVENTS_NEW} SELECT * FROM dossier_events e
                WHERE NOT EXISTS (SELECT 1 FROM {EVENTS_NEW} n WHERE n.event_id = e.event_id)
                RETURNING dossier_code""")
        report.merged_after_snapshot = len(late)
        codes = sorted({r["dossier_code"] for r in late})
        if codes:
            await store.refold(conn, codes, rulebook, events_table=EVENTS_NEW,
                               facts_table=FACTS_NEW, counts_table=COUNTS_NEW)
        await conn.execute("ALTER TABLE dossier_events RENAME TO dossier_events_old")
        await conn.execute("ALTER TABLE facts RENAME TO facts_old")
        await conn.execute(f"ALTER TABLE {EVENTS_NEW} RENAME TO dossier_events")
        await conn.execute(f"ALTER TABLE {FACTS_NEW} RENAME TO facts")
        await conn.execute("ALTER TABLE daily_counts RENAME TO daily_counts_old")
        await conn.execute(f"ALTER TABLE {COUNTS_NEW} RENAME TO daily_counts")
        await conn.execute("DROP TABLE dossier_events_old, facts_old, daily_counts_old")
        await conn.execute("LOCK TABLE complaint_facts IN ACCESS EXCLUSIVE MODE")
        report.complaints = await store.refold_complaints(conn, rulebook)
        await conn.execute("SELECT pg_notify($1, '[]')", store.CHANGED_CHANNEL)


async def rebuild(settings: Settings) -> RebuildReport:
    started = time.perf_counter()
    report = RebuildReport()
    rulebook = load_rulebook(settings.rulebook_path)
    # A replay runs long statements (COPY of a whole topic): no statement time limit.
    pool = await create_pool(settings.database_url, settings.db_schema, min_size=1, max_size=2,
                             timeouts=Timeouts(statement_ms=0, idle_in_transaction_ms=0,
                                               lock_ms=120_000))
    try:
        await migrate_service(pool, settings.db_schema, Path(__file__).parent / "sql")
        async with pool.acquire() as conn:
            await conn.execute(
                f"DROP TABLE IF EXISTS {EVENTS_NEW}, {FACTS_NEW}, {COUNTS_NEW}, {STAGING}")
            await conn.execute(f"""CREATE UNLOGGED TABLE {STAGING} (event_id uuid,
                dossier_code text, type text, occurred_at timestamptz, data text)""")
            await conn.execute(f"CREATE TABLE {EVENTS_NEW} (LIKE dossier_events INCLUDING ALL)")
            await conn.execute(f"CREATE TABLE {FACTS_NEW} (LIKE facts INCLUDING ALL)")
            await conn.execute(f"CREATE TABLE {COUNTS_NEW} (LIKE daily_counts INCLUDING ALL)")
            await replay(settings, conn, report)
            await _dedupe_staging(conn)
            await fold_all(conn, rulebook, report)
            await swap(conn, rulebook, report)
    finally:
        await pool.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def main() -> None:
    settings = Settings()
    configure_logging("metrics-rebuild", settings.log_level)
    report = asyncio.run(rebuild(settings))
    log.info("rebuild done", extra=report.__dict__)
    print(report)


if __name__ == "__main__":
    main()
