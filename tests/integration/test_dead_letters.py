"""Dead letters re-driven after a fix, on the real broker and database: a handler that fails
on some events (a bug) dead-letters them; once the handler is fixed, a re-drive applies each
exactly once, and a second re-drive changes nothing. A message that still cannot be decoded
stays a dead letter. Then the operators' API of a running service, which only an operator's
token opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from shared.consumer import EventConsumer
from shared.db import create_pool
from shared.deadletters import DeadLetters
from shared.events import PROCESSING_TOPIC, Envelope, EventData, Withdrawn, dlq_topic, to_kafka
from shared.kafka import ensure_topics
from shared.migrations import migrate_service
from tests.conftest import Infra
from tests.integration.test_outbox_inbox import NOW, received
from tests.support.api import Api
from tests.support.kafka import read_all
from tests.support.wait import until

pytestmark = pytest.mark.integration


class Buggy:
    """A handler with a bug on withdrawals, until ``fixed``; it counts what it applies."""

    def __init__(self) -> None:
        self.fixed = False

    async def __call__(self, conn: asyncpg.Connection, env: Envelope[EventData]) -> None:
        if env.type == "dossier.withdrawn" and not self.fixed:
            raise KeyError("withdrawal handler: no such column 'reason_code'")
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", env.id, env.data.dossier_code)


@pytest.fixture
async def pool(infra: Infra, schema_factory: Callable[[str], str]) -> AsyncIterator[asyncpg.Pool]:
    schema = schema_factory("redrive")
    p = await create_pool(infra.database_url, schema)
    await migrate_service(p, schema, None)
    await p.execute("CREATE TABLE effects (event_id uuid, dossier_code text)")
    yield p
    await p.close()


async def test_fixed_handler_redrive_applies_once(infra: Infra, pool: asyncpg.Pool,
                                                  unique: str) -> None:
    topic = f"t{unique}.{PROCESSING_TOPIC}"
    await ensure_topics(infra.kafka_bootstrap, [topic, dlq_topic(topic)], partitions=2)
    good: list[Envelope[Any]] = [received(f"H56.01-261123-{i:04d}") for i in range(3)]
    bad: list[Envelope[Any]] = [
        Envelope(source="intake", data=Withdrawn(dossier_code=f"H56.01-261123-{i:04d}", at=NOW,
                                                 reason="đổi ý")) for i in range(2)]
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for env in [*good, *bad]:
            key, value, headers = to_kafka(env)
            await producer.send_and_wait(topic, value, key=key, headers=headers)
        await producer.send_and_wait(topic, b"\xff not json", key=b"junk",
                                     headers=[("ce_type", b"dossier.withdrawn")])
    finally:
        await producer.stop()

    handler = Buggy()
    schema = await pool.fetchval("SELECT current_schema()")
    consumer = EventConsumer(pool=pool, schema=schema, name="redrive-test", topics=[topic],
                             bootstrap=infra.kafka_bootstrap, handler=handler)
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            seen = 0
            while seen < 6:
                seen += await consumer.poll_once(500)
        letters = DeadLetters(pool, [consumer], infra.kafka_bootstrap)
        dead = await letters.of(topic, None, False, 100)
        assert sorted(d["reason"] for d in dead) == ["handler-error", "handler-error",
                                                     "invalid-envelope"]
        assert {d["event_id"] for d in dead if d["event_id"]} == {str(e.id) for e in bad}
        assert await pool.fetchval("SELECT count(*) FROM effects") == 3
        dlq = await read_all(infra.kafka_bootstrap, dlq_topic(topic), expect=3)
        assert len(dlq) == 3

        # Before the fix, a re-drive fails again and applies nothing.
        first_bad = next(d for d in dead if d["event_id"] == str(bad[0].id))
        assert (await letters.redrive(first_bad["id"]))[0] == "still_failing"  # type: ignore[index]
        assert await pool.fetchval("SELECT count(*) FROM effects") == 3

        handler.fixed = True  # the handler change is deployed
        assert await letters.redrive(first_bad["id"]) == ("applied", None)
        assert await letters.redrive(first_bad["id"]) == ("already_applied", None)
        everything = await letters.redrive_all(topic, None)
        assert sorted(r.outcome for r in everything) == ["applied", "poison"]
        assert sorted(r.outcome for r in await letters.redrive_all(topic, None)) == ["poison"]

        effects = await pool.fetch("SELECT event_id, count(*) AS n FROM effects "
                                   "GROUP BY event_id")
        assert {r["event_id"]: r["n"] for r in effects} == {e.id: 1 for e in [*good, *bad]}
        shown = await letters.get(first_bad["id"])
        assert shown is not None and shown["redrives"] == 3 \
            and shown["redrive_outcome"] == "already_applied"
        # The loop, meeting the same events again (a rebalance), changes nothing either.
        assert await consumer.redrive(await letters.message(shown)) == ("already_applied", None)
    finally:
        await consumer.stop()


async def test_a_missing_table_is_waited_for_not_dead_lettered(infra: Infra, pool: asyncpg.Pool,
                                                               unique: str) -> None:
    """The schema not being what the code expects (a table renamed by hand, a migration not
    yet run) fails every event alike: not the messages' fault. The batch is read again until
    the table is back; nothing is dead-lettered, and each event is applied once."""
    topic = f"t{unique}.{PROCESSING_TOPIC}"
    events: list[Envelope[Any]] = [received(f"H56.01-261124-{i:04d}") for i in range(4)]
    await _produced(infra, topic, events)
    await pool.execute("ALTER TABLE effects RENAME TO effects_away")
    handler = Buggy()
    handler.fixed = True
    schema = await pool.fetchval("SELECT current_schema()")
    consumer = EventConsumer(pool=pool, schema=schema, name="missing-table", topics=[topic],
                             bootstrap=infra.kafka_bootstrap, handler=handler)
    await consumer.start()
    try:
        failures = 0
        async with asyncio.timeout(30):
            while failures < 3:  # every attempt fails, and the next one reads the batch again
                try:
                    await consumer.poll_once(500)
                except asyncpg.UndefinedTableError:
                    failures += 1
        assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 0

        await pool.execute("ALTER TABLE effects_away RENAME TO effects")
        async with asyncio.timeout(30):
            while await pool.fetchval("SELECT count(*) FROM effects") < len(events):
                await consumer.poll_once(500)
        effects = await pool.fetch("SELECT event_id, count(*) AS n FROM effects "
                                   "GROUP BY event_id")
        assert {r["event_id"]: r["n"] for r in effects} == {e.id: 1 for e in events}
        assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    finally:
        await consumer.stop()


async def _produced(infra: Infra, topic: str, events: list[Envelope[Any]]) -> None:
    await ensure_topics(infra.kafka_bootstrap, [topic, dlq_topic(topic)], partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for env in events:
            key, value, headers = to_kafka(env)
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_a_pool_that_reached_a_standby_opens_fresh_connections(
        infra: Infra, schema_factory: Callable[[str], str], unique: str) -> None:
    """A connection opened during a failover may have reached a standby, and stays read-only
    for its whole session. The consumer's pool closes such connections after a read-only
    answer, so the next attempt reaches the primary, instead of retrying on the same one."""
    schema = schema_factory("standby")
    p = await create_pool(infra.database_url, schema, min_size=1, max_size=1)
    try:
        await migrate_service(p, schema, None)
        await p.execute("CREATE TABLE effects (event_id uuid, dossier_code text)")
        # The pool's one connection now answers as a standby does, for the rest of its life.
        await p.execute("SET SESSION default_transaction_read_only = on")
        topic = f"t{unique}.{PROCESSING_TOPIC}"
        events: list[Envelope[Any]] = [received(f"H56.01-261125-{i:04d}") for i in range(3)]
        await _produced(infra, topic, events)
        handler = Buggy()
        handler.fixed = True
        consumer = EventConsumer(pool=p, schema=schema, name="standby", topics=[topic],
                                 bootstrap=infra.kafka_bootstrap, handler=handler)
        await consumer.start()
        refused = 0
        try:
            async with asyncio.timeout(30):
                while await p.fetchval("SELECT count(*) FROM effects") < len(events):
                    try:
                        await consumer.poll_once(500)
                    except asyncpg.ReadOnlySQLTransactionError:
                        refused += 1
        finally:
            await consumer.stop()
        assert refused == 1  # one refusal; the next connection was a fresh one
        assert await p.fetchval("SELECT count(*) FROM dead_letters") == 0
        assert await p.fetchval("SELECT count(*) FROM inbox") == len(events)
    finally:
        await p.close()


class TooBigTogether:
    """A batch handler that runs out of memory on more than one event at once."""

    async def __call__(self, conn: asyncpg.Connection,
                      envelopes: Sequence[Envelope[EventData]]) -> None:
        if len(envelopes) > 1:
            raise asyncpg.OutOfMemoryError("out of memory")
        for env in envelopes:
            await conn.execute("INSERT INTO effects VALUES ($1, $2)", env.id,
                               env.data.dossier_code)


async def test_a_batch_too_big_for_memory_is_applied_one_event_at_a_time(
        infra: Infra, pool: asyncpg.Pool, unique: str) -> None:
    """Out of memory may be the batch's size, not the database's state: its events are
    tried one by one before the batch is sought back, so the consumer makes progress."""
    topic = f"t{unique}.{PROCESSING_TOPIC}"
    events: list[Envelope[Any]] = [received(f"H56.01-261126-{i:04d}") for i in range(4)]
    await _produced(infra, topic, events)
    schema = await pool.fetchval("SELECT current_schema()")
    consumer = EventConsumer(pool=pool, schema=schema, name="too-big", topics=[topic],
                             bootstrap=infra.kafka_bootstrap, batch_handler=TooBigTogether())
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while await pool.fetchval("SELECT count(*) FROM effects") < len(events):
                await consumer.poll_once(500)
    finally:
        await consumer.stop()
    effects = await pool.fetch("SELECT event_id, count(*) AS n FROM effects GROUP BY event_id")
    assert {r["event_id"]: r["n"] for r in effects} == {e.id: 1 for e in events}
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0

async def test_the_operators_api_lists_shows_and_redrives(api: Api, unique: str) -> None:
    topic = api.stack.topic_prefix + PROCESSING_TOPIC
    producer = AIOKafkaProducer(bootstrap_servers=api.infra.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, b'{"dossier_code": "x", "phone": "0912345678"', key=f"junk-{unique}".encode(),
            headers=[("ce_id", b"not-a-uuid"), ("ce_type", b"dossier.accepted")])
    finally:
        await producer.stop()
    operator = api.token(["*"], role="operator")
    url = api.url("intake", "/v1/ops/dead-letters")

    async def listed() -> list[dict[str, object]] | None:
        r = await api.http.get(url, headers=operator, params={"topic": topic, "pending": "true"})
        assert r.status_code == 200, r.text
        return [d for d in r.json() if d["reason"] != "handler-error"] or None

    [letter] = [d for d in await until(listed, timeout_s=30) if d["consumer"] == "intake-status"]
    assert letter["reason"] in ("invalid-envelope", "undecodable")
    shown = await api.http.get(f"{url}/{letter['id']}", headers=operator)
    assert shown.status_code == 200 and "0912345678" not in shown.text
    assert shown.json()["headers"]["ce_type"] == "dossier.accepted"
    again = await api.http.post(f"{url}/{letter['id']}/redrive", headers=operator)
    assert again.status_code == 200 and again.json()["outcome"] == "poison"
    for who in (api.token(["H26.01"], role="officer"), api.token(["*"], role="importer"), {}):
        r = await api.http.get(url, headers=who)
        assert r.status_code in (401, 403)
    absent = await api.http.post(f"{url}/999999999/redrive", headers=operator)
    assert absent.status_code == 404
