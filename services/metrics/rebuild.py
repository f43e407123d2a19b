"""``metrics rebuild``: replay every topic from the beginning into fresh tables, fold every
dossier, swap the tables in, and fold every complaint again from the new event set.

1. ``dossier_events_rebuild``, ``facts_rebuild`` and ``daily_counts_rebuild`` are created
   empty, like the live ones but without their indexes (built once the rows are in);
2. every partition is read from its beginning up to the end offset it had when its reader
   started (poison messages are skipped: they are on the dead-letter topics already), the
   partitions shared among ``METRICS_REBUILD_WORKERS`` processes, into a staging table;
3. every dossier is folded from its replayed events, in as many shares (by a hash of the
   code) at once; the per-day counts are added up in memory and written once;
4. in one transaction that locks the live tables: events the live consumer applied after
   the snapshot are copied over and their dossiers folded again, then the tables swap.

The live service keeps running; its consumer waits for the lock during the swap only.
Run it with ``python -m services.metrics.rebuild`` (or ``make rebuild``).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import re
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.metrics.adapters import store
from services.metrics.domain import tallies
from services.metrics.domain.facts import EventRecord, Facts, fold
from services.metrics.settings import Settings
from shared.collector import settle_after_start_up
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
                 partitions: list[TopicPartition], batch: int = 5000) -> None:
    """Read ``partitions`` from their beginning to the end they have now into the staging
    table."""
    if not partitions:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, client_id="metrics-rebuild",
                                isolation_level="read_committed", max_poll_records=batch,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
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
                    kind = next((v for k, v in rec.headers or () if k == "ce_type"), None)
                    if kind is not None and kind.decode(errors="replace") not in \
                            store.FOLDED_TYPES:
                        continue  # not read by the folds (nor by the live consumer)
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
            FROM {STAGING}""")
    await conn.execute(f"DROP TABLE {STAGING}")
    await copy_indexes(conn, "dossier_events", EVENTS_NEW)


async def fold_share(conn: asyncpg.Connection, rulebook: Rulebook, report: RebuildReport,
                     share: int, shares: int, batch: int = 5000
                     ) -> dict[tallies.Key, Counter[str]]:
    """Fold the dossiers of one share of the new event set (by a hash of their codes) into
    the new facts (COPY: the table is new, without indexes yet); returns their per-day
    counts, added up in memory."""
    current: str | None = None
    events: list[EventRecord] = []
    facts: list[Facts] = []
    counts: dict[tallies.Key, Counter[str]] = {}

    async def flush() -> None:
        for key, c in tallies.delta([], facts).items():
            tallies.add(counts.setdefault(key, Counter()), c)
        await conn.copy_records_to_table(
            FACTS_NEW, columns=[*store.FACT_FIELDS, "tallied"],
            records=[(*(getattr(f, c) for c in store.FACT_FIELDS), True) for f in facts])
        report.dossiers += len(facts)
        facts.clear()

    async with conn.transaction():
        async for r in conn.cursor(
                f"""SELECT dossier_code, event_id, type, occurred_at, data FROM {EVENTS_NEW}
                    WHERE type NOT LIKE $1 AND abs(hashtext(dossier_code)) % $2 = $3
                    ORDER BY dossier_code""", store.COMPLAINT_EVENTS, shares, share,
                prefetch=batch):
            report.events += 1
            if r["dossier_code"] != current:
                if current is not None:
                    facts.append(fold(current, events, rulebook))
                current, events = r["dossier_code"], []
            events.append(EventRecord(r["event_id"], r["type"], r["occurred_at"], r["data"]))
            if len(facts) >= batch:
                await flush()
        if current is not None:
            facts.append(fold(current, events, rulebook))
        await flush()
    return counts


# ------------------------------------------------------------------ in parallel
def _split(items: list[TopicPartition], n: int) -> list[list[TopicPartition]]:
    return [items[i::n] for i in range(n)]


def _replay_worker(values: dict[str, Any], partitions: list[tuple[str, int]]) -> RebuildReport:
    async def run() -> RebuildReport:
        settings, report = Settings(**values), RebuildReport()
        settle_after_start_up(settings.gc_thresholds)
        pool = await _pool(settings)
        try:
            async with pool.acquire() as conn:
                await replay(settings, conn, report, [TopicPartition(*p) for p in partitions])
        finally:
            await pool.close()
        return report
    return asyncio.run(run())


def _fold_worker(values: dict[str, Any], share: int, shares: int
                 ) -> tuple[RebuildReport, dict[tallies.Key, Counter[str]]]:
    async def run() -> tuple[RebuildReport, dict[tallies.Key, Counter[str]]]:
        settings, report = Settings(**values), RebuildReport()
        settle_after_start_up(settings.gc_thresholds)
        pool = await _pool(settings)
        try:
            async with pool.acquire() as conn:
                counts = await fold_share(conn, load_rulebook(settings.rulebook_path), report,
                                          share, shares)
        finally:
            await pool.close()
        return report, counts
    return asyncio.run(run())


async def _pool(settings: Settings) -> asyncpg.Pool:
    # A replay runs long statements (COPY of a whole topic): no statement time limit.
    return await create_pool(settings.database_url, settings.db_schema, min_size=1, max_size=2,
                             timeouts=Timeouts(statement_ms=0, idle_in_transaction_ms=0,
                                               lock_ms=120_000))


async def replay_all(settings: Settings, report: RebuildReport,
                     executor: ProcessPoolExecutor, workers: int) -> None:
    """Every partition, shared among ``workers`` processes (decoding is the costly part)."""
    topics = [settings.topic_prefix + t for t in ALL_DOSSIER_TOPICS]
    partitions = await _partitions(settings.kafka_bootstrap, topics)
    loop = asyncio.get_running_loop()
    values = settings.model_dump()
    for part in await asyncio.gather(*(
            loop.run_in_executor(executor, _replay_worker, values,
                                 [(tp.topic, tp.partition) for tp in group])
            for group in _split(partitions, workers) if group)):
        report.messages += part.messages
        report.poison_skipped += part.poison_skipped


async def fold_all(conn: asyncpg.Connection, settings: Settings, report: RebuildReport,
                   executor: ProcessPoolExecutor, workers: int) -> None:
    """Every dossier folded, in ``workers`` shares at once; then the per-day counts written
    once, and the facts' indexes built."""
    loop = asyncio.get_running_loop()
    values = settings.model_dump()
    counts: dict[tallies.Key, Counter[str]] = {}
    for part, share_counts in await asyncio.gather(*(
            loop.run_in_executor(executor, _fold_worker, values, k, workers)
            for k in range(workers))):
        report.events += part.events
        report.dossiers += part.dossiers
        for key, c in share_counts.items():
            tallies.add(counts.setdefault(key, Counter()), c)
    await store.add_counts(conn, counts, counts_table=COUNTS_NEW)
    await copy_indexes(conn, "facts", FACTS_NEW)


async def create_like(conn: asyncpg.Connection, live: str, new: str) -> None:
    """``new`` with ``live``'s columns and defaults, but no index yet (``copy_indexes``)."""
    await conn.execute(f"CREATE TABLE {new} (LIKE {live} INCLUDING DEFAULTS)")


async def copy_indexes(conn: asyncpg.Connection, live: str, new: str) -> None:
    """Build on ``new`` every index of ``live`` (once its rows are in: faster than keeping
    them up row by row), named ``<name>__new`` until the swap (``rename_indexes``)."""
    rows = await conn.fetch(
        """SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS def,
                  c.conname AS constraint_name, c.contype
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_class t ON t.oid = x.indrelid
           LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = t.oid
           WHERE t.relname = $1 AND t.relnamespace = to_regnamespace(current_schema())""", live)
    for r in rows:
        name = r["name"]
        definition = r["def"].replace(f"INDEX {name} ON", f"INDEX {name}__new ON", 1)
        definition = re.sub(rf"ON (\S+\.)?{live} USING", f"ON {new} USING", definition,
                            count=1)
        await conn.execute(definition)
        if r["contype"] == "p":
            await conn.execute(f"ALTER TABLE {new} ADD CONSTRAINT {r['constraint_name']}__new "
                               f"PRIMARY KEY USING INDEX {name}__new")


async def rename_indexes(conn: asyncpg.Connection, table: str) -> None:
    """After the swap: the new indexes (and primary key) take their old names back."""
    for r in await conn.fetch(
            """SELECT i.relname AS name FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
               JOIN pg_class t ON t.oid = x.indrelid
               WHERE t.relname = $1 AND t.relnamespace = to_regnamespace(current_schema())
                 AND i.relname LIKE '%\\_\\_new'""", table):
        await conn.execute(f"ALTER INDEX {r['name']} RENAME TO {r['name'][:-5]}")


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
        for table in ("dossier_events", "facts", "daily_counts"):
            await rename_indexes(conn, table)
        await conn.execute("LOCK TABLE complaint_facts IN ACCESS EXCLUSIVE MODE")
        report.complaints = await store.refold_complaints(conn, rulebook)
        await store.notify_changed(conn, None)


async def rebuild(settings: Settings) -> RebuildReport:
    started = time.perf_counter()
    report = RebuildReport()
    rulebook = load_rulebook(settings.rulebook_path)
    pool = await _pool(settings)
    workers = max(1, settings.rebuild_workers)
    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        await migrate_service(pool, settings.db_schema, Path(__file__).parent / "sql")
        async with pool.acquire() as conn:
            await conn.execute(
                f"DROP TABLE IF EXISTS {EVENTS_NEW}, {FACTS_NEW}, {COUNTS_NEW}, {STAGING}")
            await conn.execute(f"""CREATE UNLOGGED TABLE {STAGING} (event_id uuid,
                dossier_code text, type text, occurred_at timestamptz, data text)""")
            await create_like(conn, "dossier_events", EVENTS_NEW)
            await create_like(conn, "facts", FACTS_NEW)
            await create_like(conn, "daily_counts", COUNTS_NEW)
            await copy_indexes(conn, "daily_counts", COUNTS_NEW)
            await replay_all(settings, report, executor, workers)
            await _dedupe_staging(conn)
            await fold_all(conn, settings, report, executor, workers)
            await swap(conn, rulebook, report)
    finally:
        executor.shutdown()
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
