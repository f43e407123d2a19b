"""An aligned consumer catching up on a backlog, through real Kafka and PostgreSQL: each
dossier's events on two topics come in one batch (so metrics folds it about once), every
event is applied once, and each partition's events in offset order."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner

from shared.consumer import EventConsumer
from shared.db import create_pool
from shared.events import INTAKE_TOPIC, PROCESSING_TOPIC, Accepted, Envelope, EventData, to_kafka
from shared.kafka import ensure_topics, make_producer
from shared.migrations import migrate_service
from tests.conftest import Infra
from tests.integration.test_outbox_inbox import received

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
DOSSIERS = 1500
BATCH = 400


async def test_a_backlog_comes_in_batches_that_hold_each_dossiers_events_together(
        infra: Infra, schema_factory: Callable[[str], str], unique: str) -> None:
    prefix = f"a{unique}."
    topics = [prefix + INTAKE_TOPIC, prefix + PROCESSING_TOPIC]
    await ensure_topics(infra.kafka_bootstrap, topics, partitions=3)
    # The backlog: each dossier's received event, then its acceptance on the other topic.
    producer = make_producer(infra.kafka_bootstrap, client_id="aligned-test")
    await producer.start()
    try:
        for i in range(DOSSIERS):
            code = f"H56.01-261123-{i:04d}"
            for env in (received(code), Envelope(source="processing", data=Accepted(
                    dossier_code=code, at=NOW, by="officer"))):
                key, value, headers = to_kafka(env)
                await producer.send(prefix + env.data.topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()

    schema = schema_factory("aligned")
    pool = await create_pool(infra.database_url, schema)
    batches: list[list[Envelope[EventData]]] = []

    async def record(conn: asyncpg.Connection, envs: Sequence[Envelope[EventData]]) -> None:
        batches.append(list(envs))

    consumer = EventConsumer(pool=pool, schema=schema, name="aligned-test", topics=topics,
                             bootstrap=infra.kafka_bootstrap, batch_handler=record,
                             batch_size=BATCH, aligned=True)
    try:
        await migrate_service(pool, schema, None)
        await consumer.start()
        seen = 0
        async with asyncio.timeout(60):
            while seen < 2 * DOSSIERS:
                seen += await consumer.poll_once(200)
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 2 * DOSSIERS
    finally:
        await consumer.stop()
        await pool.close()

    assert all(len(b) <= BATCH for b in batches)
    applied = [e for b in batches for e in b]
    assert len(applied) == len({e.id for e in applied}) == 2 * DOSSIERS
    # Each topic's events of one partition keep their order (dossier codes were sent rising).
    for topic_type in ("dossier.received", "dossier.accepted"):
        codes = [e.data.dossier_code for e in applied if e.type == topic_type]
        by_partition: dict[int, list[str]] = {}
        for c in codes:
            by_partition.setdefault(hash_partition(c), []).append(c)
        assert all(p == sorted(p) for p in by_partition.values())
    # Most dossiers are in one batch only: their two events were sent a moment apart.
    per_dossier = Counter(code for b in batches for code in {e.data.dossier_code for e in b})
    assert sum(per_dossier.values()) / DOSSIERS < 1.2, Counter(per_dossier.values())


def hash_partition(code: str) -> int:
    """Which of the 3 partitions the producer's default partitioner put ``code`` in."""
    return int(DefaultPartitioner()(code.encode(), [0, 1, 2], [0, 1, 2]))
