"""The delivery guarantees (docs/architecture.md) through real Kafka and PostgreSQL.

A "producer service" schema writes state and events through its outbox; a "consumer
service" schema applies them with the shared consumer loop. Effects are counted in a table
without a unique constraint, so a double application would show as two rows.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from shared.consumer import EventConsumer
from shared.db import create_pool
from shared.events import (
    INTAKE_TOPIC,
    Envelope,
    EventData,
    MaskedApplicant,
    SupplementReceived,
    dlq_topic,
    to_kafka,
)
from shared.events import DossierReceived as Received
from shared.kafka import ensure_topics, make_producer
from shared.migrations import migrate_service
from shared.outbox import (
    OutboxRelay,
    OutboxRow,
    notify_channel,
    numbering_lock_key,
    write_events,
)
from tests.conftest import Infra
from tests.support.kafka import committed_lag, read_all

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def received(code: str) -> Envelope[Received]:
    return Envelope(
        source="intake",
        data=Received(
            dossier_code=code, unit_code="H56.01", procedure_code="1.001", channel="counter",
            received_at=NOW, counted_from=NOW, due_at=NOW, processing_days=3,
            return_method="counter", rulebook="test",
            applicant=MaskedApplicant(name="N. V. A.", id_number="*********123"),
        ),
    )


class Services:
    """Two schemas on the real database, topics with a per-test prefix on the real broker."""

    def __init__(self, infra: Infra, producer_schema: str, consumer_schema: str, prefix: str,
                 aligned: bool = False):
        self.infra = infra
        self.aligned = aligned  # the consumer's batches aligned in time (shared.batching)
        self.a = producer_schema
        self.b = consumer_schema
        self.prefix = prefix
        self.topic = prefix + INTAKE_TOPIC
        self.pool_a: asyncpg.Pool
        self.pool_b: asyncpg.Pool
        self.producers: list[AIOKafkaProducer] = []

    async def start(self) -> None:
        await ensure_topics(self.infra.kafka_bootstrap, [self.topic], partitions=3)
        self.pool_a = await create_pool(self.infra.database_url, self.a, max_size=45)
        self.pool_b = await create_pool(self.infra.database_url, self.b)
        await migrate_service(self.pool_a, self.a, None)
        await migrate_service(self.pool_b, self.b, None)
        await self.pool_a.execute("CREATE TABLE dossiers (code text PRIMARY KEY, note text)")
        await self.pool_b.execute("CREATE TABLE effects (event_id uuid, dossier_code text)")

    async def stop(self) -> None:
        for p in self.producers:
            await p.stop()
        await self.pool_a.close()
        await self.pool_b.close()

    async def file(self, code: str) -> Envelope[Received]:
        """A state change and its event in one transaction."""
        env = received(code)
        async with self.pool_a.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO dossiers (code) VALUES ($1)", code)
            await write_events(conn, self.a, [env], topic_prefix=self.prefix)
        return env

    async def relay(self) -> OutboxRelay:
        """A relay with a producer of its own, as after a process restart."""
        producer = make_producer(self.infra.kafka_bootstrap, client_id="test-relay")
        await producer.start()
        self.producers.append(producer)
        return OutboxRelay(self.pool_a, self.a, producer)

    def consumer(self, group: str, handler: Callable[..., object] | None = None,
                 event_types: frozenset[str] | None = None) -> EventConsumer:
        async def count_effect(conn: asyncpg.Connection, env: Envelope[EventData]) -> None:
            await conn.execute("INSERT INTO effects VALUES ($1, $2)", env.id, env.data.dossier_code)

        return EventConsumer(pool=self.pool_b, schema=self.b, name="test-consumer",
                             group_id=group, topics=[self.topic],
                             bootstrap=self.infra.kafka_bootstrap,
                             handler=handler or count_effect,  # type: ignore[arg-type]
                             event_types=event_types, aligned=self.aligned)

    async def effects(self) -> dict[str, int]:
        rows = await self.pool_b.fetch(
            "SELECT event_id::text AS id, count(*) AS n FROM effects GROUP BY event_id")
        return {r["id"]: r["n"] for r in rows}


# Every guarantee holds for both ways of batching: as fetched, and aligned in time.
@pytest.fixture(params=[False, True], ids=["as-fetched", "aligned"])
async def services(request: pytest.FixtureRequest, infra: Infra,
                   schema_factory: Callable[[str], str], unique: str) -> AsyncIterator[Services]:
    s = Services(infra, schema_factory("producer"), schema_factory("consumer"), f"t{unique}.",
                 aligned=request.param)
    await s.start()
    yield s
    await s.stop()


async def poll_until(consumer: EventConsumer, seen: int, *, commit_offsets: bool = True,
                     timeout_s: float = 30) -> int:
    total = 0
    async with asyncio.timeout(timeout_s):
        while total < seen:
            total += await consumer.poll_once(500, commit_offsets=commit_offsets)
    return total


async def test_effect_applied_once_despite_republish_and_redelivery(services: Services,
                                                                    unique: str) -> None:
    envs = [await services.file(f"H56.01-261123-{i:04d}") for i in range(1, 4)]

    # (a) The relay publishes, then dies before marking the rows sent ...
    first = await services.relay()
    rows = await first.fetch_pending()
    assert [r.id for r in rows] == sorted(r.id for r in rows) and len(rows) == 3
    await first.publish(rows)
    # ... so the relay that replaces it publishes the same three events again.
    second = await services.relay()
    assert await second.relay_once() == 3
    assert await second.fetch_pending() == []
    on_topic = await read_all(services.infra.kafka_bootstrap, services.topic, expect=6)
    assert len(on_topic) == 6
    assert sorted(dict(r.headers)["ce_id"].decode() for r in on_topic) == sorted(
        2 * [str(e.id) for e in envs])

    # (b) The consumer commits its database transaction but dies before committing offsets.
    group = f"g-{unique}"
    crashed = services.consumer(group)
    assert await poll_until(crashed, 6, commit_offsets=False) == 6
    await crashed.stop()
    assert await services.effects() == {str(e.id): 1 for e in envs}

    # Its replacement in the same group is handed all six messages again.
    replacement = services.consumer(group)
    assert await poll_until(replacement, 6) == 6
    await replacement.stop()
    assert await services.effects() == {str(e.id): 1 for e in envs}

    # Offsets were committed this time: a third member gets nothing more.
    third = services.consumer(group)
    assert await third.poll_once(2000) == 0
    await third.stop()


async def test_relay_publishes_in_commit_order_under_concurrent_writers(services: Services) -> None:
    """Commit order is read where it happens, in the database: a watcher takes snapshot after
    snapshot while the writers commit. An event visible in a snapshot committed before every
    event that was not yet visible in it, so it must be published before each of them. (The
    order in which the client sees its COMMITs return is not commit order: two commits a
    microsecond apart can come back either way round.)"""
    code = "H56.01-261123-0099"
    await services.file(code)
    rng = random.Random(7)
    writers_done = asyncio.Event()

    async def writer(i: int) -> None:
        env = Envelope(source="intake", data=SupplementReceived(dossier_code=code, received_at=NOW))
        async with services.pool_a.acquire() as conn:
            async with conn.transaction():
                # State changes overlap freely; the outbox write comes last and the
                # transaction stays open a little after it.
                await conn.execute("UPDATE dossiers SET note = $1 WHERE code = $2", str(i), f"x{i}")
                await asyncio.sleep(rng.uniform(0, 0.02))
                await write_events(conn, services.a, [env], topic_prefix=services.prefix)
                await asyncio.sleep(rng.uniform(0, 0.01))

    # Each writer changes a row of its own, so no row lock serialises the transactions;
    # their events still share one key, hence one partition whose order we can read back.
    async def independent_writer(i: int) -> None:
        await services.pool_a.execute("INSERT INTO dossiers (code) VALUES ($1)", f"x{i}")
        await writer(i)

    first_seen: dict[str, int] = {}  # event id -> the first snapshot it was visible in

    async def watch() -> None:
        async with services.pool_a.acquire() as conn:
            snapshot = 0
            while not writers_done.is_set() or len(first_seen) < 40:
                snapshot += 1
                for r in await conn.fetch(
                        "SELECT event_id::text AS id FROM outbox"
                        " WHERE event_type = 'dossier.supplement_received'"):
                    first_seen.setdefault(r["id"], snapshot)
                await asyncio.sleep(0)

    async def write_all() -> None:
        await asyncio.gather(*(independent_writer(i) for i in range(40)))
        writers_done.set()

    await asyncio.gather(watch(), write_all())
    relay = await services.relay()
    await relay.drain()
    records = await read_all(services.infra.kafka_bootstrap, services.topic, expect=41)
    published = [dict(r.headers)["ce_id"].decode() for r in records
                 if dict(r.headers)["ce_type"] == b"dossier.supplement_received"]
    assert sorted(published) == sorted(first_seen)
    # The watcher saw the commits arrive in several steps, so the check below has teeth.
    assert len(set(first_seen.values())) >= 5
    position = {event: n for n, event in enumerate(published)}
    out_of_order = [(x, y) for x in first_seen for y in first_seen
                    if first_seen[x] < first_seen[y] and position[x] > position[y]]
    assert out_of_order == []


async def test_rows_are_numbered_when_their_transaction_commits(services: Services) -> None:
    """A transaction that writes its events first and commits last is published last; and
    the outbox lock is not held from the write to the commit: the other transaction writes
    and commits meanwhile without waiting for it."""
    code = "H56.01-261123-0098"
    await services.file(code)
    first, second = (Envelope(source="intake",
                              data=SupplementReceived(dossier_code=code, received_at=NOW))
                     for _ in range(2))
    async with services.pool_a.acquire() as a, services.pool_a.acquire() as b:
        open_first = a.transaction()
        await open_first.start()
        await write_events(a, services.a, [first], topic_prefix=services.prefix)
        async with asyncio.timeout(10), b.transaction():
            await write_events(b, services.a, [second], topic_prefix=services.prefix)
        await open_first.commit()
    relay = await services.relay()
    await relay.drain()
    records = await read_all(services.infra.kafka_bootstrap, services.topic, expect=3)
    published = [dict(r.headers)["ce_id"].decode() for r in records
                 if dict(r.headers)["ce_type"] == b"dossier.supplement_received"]
    assert published == [str(second.id), str(first.id)]


async def test_the_relay_is_woken_once_per_transaction_when_it_commits(
        services: Services) -> None:
    """The wake-up is sent by the commit-time trigger (shared/sql/0006): nothing while the
    transaction is open, one notification for its three rows once it commits, none for a
    transaction rolled back."""
    heard: asyncio.Queue[str] = asyncio.Queue()
    code = "H56.01-261123-0097"
    events = [Envelope(source="intake",
                       data=SupplementReceived(dossier_code=code, received_at=NOW))
              for _ in range(4)]

    def hear(_conn: object, _pid: int, channel: str, _payload: object) -> None:
        heard.put_nowait(channel)

    async with services.pool_a.acquire() as listener, services.pool_a.acquire() as writer:
        await listener.add_listener(notify_channel(services.a), hear)
        try:
            async with writer.transaction():
                await write_events(writer, services.a, events[:1], topic_prefix=services.prefix)
                await writer.execute("SELECT pg_sleep(0)")
                await write_events(writer, services.a, events[1:3],
                                   topic_prefix=services.prefix)
                await listener.execute("SELECT 1")  # a round trip: anything sent would be in
                assert heard.empty()
            async with asyncio.timeout(10):
                assert await heard.get() == notify_channel(services.a)
            await services.pool_a.execute("UPDATE outbox SET sent_at = now()")  # as if relayed
            tx = writer.transaction()
            await tx.start()
            await write_events(writer, services.a, events[3:], topic_prefix=services.prefix)
            await tx.rollback()
            await listener.execute("SELECT 1")
            await asyncio.sleep(0.2)
            assert heard.empty()  # one for the three rows: nothing more came after the first
        finally:
            await listener.remove_listener(notify_channel(services.a), hear)


async def test_the_relay_is_woken_only_when_no_committed_row_waits_unsent(
        services: Services) -> None:
    """Every NOTIFY wakes every listening backend of the database, so a commit sends one only
    when the relay may be asleep (shared/sql/0007): not while a committed row still waits,
    and again once the relay has sent everything."""
    heard: asyncio.Queue[str] = asyncio.Queue()

    def hear(_conn: object, _pid: int, channel: str, _payload: object) -> None:
        heard.put_nowait(channel)

    async with services.pool_a.acquire() as listener:
        await listener.add_listener(notify_channel(services.a), hear)
        try:
            await services.file("H56.01-261123-0090")
            async with asyncio.timeout(10):
                assert await heard.get() == notify_channel(services.a)
            await services.file("H56.01-261123-0091")  # the first still waits unsent
            await listener.execute("SELECT 1")
            await asyncio.sleep(0.2)
            assert heard.empty()
            relay = await services.relay()
            assert await relay.drain() == 2
            await services.file("H56.01-261123-0092")
            async with asyncio.timeout(10):
                assert await heard.get() == notify_channel(services.a)
        finally:  # released with a listener, asyncpg warns, and the warning is an error here
            await listener.remove_listener(notify_channel(services.a), hear)


async def test_marking_rows_sent_waits_for_a_commit_being_numbered(services: Services) -> None:
    """The relay marks a batch sent under the lock a commit holds while its rows are numbered:
    a commit that saw the batch still unsent, and so woke nobody, is then visible to the
    relay's next fetch."""
    await services.file("H56.01-261123-0089")
    relay = await services.relay()
    rows = await relay.fetch_pending()
    await relay.publish(rows)
    async with services.pool_a.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                           numbering_lock_key(services.a))
        marking = asyncio.create_task(relay.mark_sent(rows))
        await asyncio.sleep(0.3)
        assert not marking.done()
    async with asyncio.timeout(10):
        await marking
    assert await relay.fetch_pending() == []


async def test_a_commit_made_while_a_batch_is_in_flight_is_published_next(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row committed while the relay publishes the batch before it sends no NOTIFY; the
    relay fetches again after each batch and finds it, long before its next poll."""
    producer = make_producer(services.infra.kafka_bootstrap, client_id="test-relay")
    await producer.start()
    services.producers.append(producer)
    relay = OutboxRelay(services.pool_a, services.a, producer, poll_interval_s=120)
    publish = relay.publish
    during: list[Envelope[Received]] = []
    heard: list[str] = []

    async def publish_while_filing(rows: Sequence[OutboxRow]) -> None:
        if not during:
            during.append(await services.file("H56.01-261123-0088"))
        await publish(rows)

    def hear(_conn: object, _pid: int, channel: str, _payload: object) -> None:
        heard.append(channel)

    monkeypatch.setattr(relay, "publish", publish_while_filing)
    async with services.pool_a.acquire() as listener:
        await listener.add_listener(notify_channel(services.a), hear)
        first = await services.file("H56.01-261123-0087")
        running = asyncio.create_task(relay.run())
        try:
            records = await read_all(services.infra.kafka_bootstrap, services.topic, expect=2,
                                     timeout_s=15)
            await listener.execute("SELECT 1")
        finally:
            relay.stop()
            await running
            await listener.remove_listener(notify_channel(services.a), hear)
    assert [dict(r.headers)["ce_id"].decode() for r in records] == [str(first.id),
                                                                     str(during[0].id)]
    assert heard == [notify_channel(services.a)]  # the first filing's, and no other


async def test_a_busy_relay_that_loses_its_lock_session_is_elected_again(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a steady load the relay never sleeps (it fetches again after every batch). It
    still notices that the session holding its leader lock is gone, and takes the lock
    again on a new one, instead of publishing on without it beside a new leader."""
    producer = make_producer(services.infra.kafka_bootstrap, client_id="test-relay")
    await producer.start()
    services.producers.append(producer)
    relay = OutboxRelay(services.pool_a, services.a, producer, poll_interval_s=120)
    publish = relay.publish

    async def slow_publish(rows: Sequence[OutboxRow]) -> None:
        await asyncio.sleep(0.01)  # slower than the filings: every fetch finds rows
        await publish(rows)

    monkeypatch.setattr(relay, "publish", slow_publish)
    filed: list[str] = []
    filing = asyncio.Event()

    async def keep_filing() -> None:
        while filing.is_set() and len(filed) < 5000:
            filed.append(str((await services.file(f"H56.01-261123-{len(filed):04d}")).id))
            await asyncio.sleep(0.002)

    async def leader_pid() -> int | None:
        pid: int | None = await services.pool_a.fetchval(
            """SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
               AND objid = (hashtext($1)::bigint & 4294967295)::oid""", relay.lock_key)
        return pid

    filing.set()
    writer = asyncio.create_task(keep_filing())
    running = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(10):
            while (first := await leader_pid()) is None:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert await services.pool_a.fetchval("SELECT pg_terminate_backend($1)", first)
        async with asyncio.timeout(10):
            while (again := await leader_pid()) in (None, first):
                await asyncio.sleep(0.05)
        assert relay.is_leader
    finally:
        filing.clear()
        await writer
        relay.stop()
        await running
    records = await read_all(services.infra.kafka_bootstrap, services.topic, expect=len(filed))
    assert {dict(r.headers)["ce_id"].decode() for r in records} == set(filed)
    assert again != first


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_consumer_moves_on(
        services: Services, unique: str) -> None:
    bootstrap = services.infra.kafka_bootstrap
    good = received("H56.01-261123-0500")
    key, value, headers = to_kafka(good)
    bad_version = [(k, b"2.0" if k == "ce_schemaversion" else v) for k, v in headers]
    bad_schema = Envelope(source="intake", data=received("H56.01-261123-0501").data)
    _, bad_schema_value, bad_schema_headers = to_kafka(bad_schema)
    broken_value = bad_schema_value.replace(b'"channel":"counter"', b'"channel":"fax"')
    raising = received("H56.01-261123-0502")
    _, raising_value, raising_headers = to_kafka(raising)

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        # All on one key, so one partition, in this order; the good one comes last.
        await producer.send_and_wait(services.topic, b"\xff\x00 not json", key=key)
        await producer.send_and_wait(services.topic, b"{not json", key=key, headers=headers)
        await producer.send_and_wait(services.topic, broken_value, key=key,
                                     headers=bad_schema_headers)
        await producer.send_and_wait(services.topic, value, key=key, headers=bad_version)
        await producer.send_and_wait(services.topic, raising_value, key=key,
                                     headers=raising_headers)
        await producer.send_and_wait(services.topic, value, key=key, headers=headers)
    finally:
        await producer.stop()

    async def handler(conn: asyncpg.Connection, env: Envelope[EventData]) -> None:
        if env.id == raising.id:
            raise ValueError("the handler cannot apply this event")
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", env.id, env.data.dossier_code)

    consumer = services.consumer(f"g-{unique}", handler)
    await poll_until(consumer, 6)
    await consumer.stop()
    assert await services.effects() == {str(good.id): 1}
    # Past the poison: the group's committed offsets reached the end, the lag recovered.
    assert await committed_lag(bootstrap, f"g-{unique}") == 0

    dead = await read_all(bootstrap, dlq_topic(services.topic), expect=5)
    reasons = [dict(r.headers)["dlq_reason"].decode() for r in dead]
    assert reasons == ["invalid-envelope", "undecodable", "schema-violation", "unknown-version",
                       "handler-error"]
    for r in dead:
        h = dict(r.headers)
        assert h["dlq_error"] and h["dlq_source_topic"].decode() == services.topic
    assert b"channel" in dict(dead[2].headers)["dlq_error"]
    assert dead[2].value == broken_value  # the original bytes are kept for replay
    logged = await services.pool_b.fetchval("SELECT count(*) FROM dead_letters")
    assert logged == 5


async def test_a_consumer_leaves_types_it_does_not_take_undecoded_but_dead_letters_unknown_ones(
        services: Services, unique: str) -> None:
    """A known type the consumer does not take is skipped on its ``ce_type`` header alone
    (even a body that would not decode); a type nobody knows still goes to the dead-letter
    topic, as before."""
    bootstrap = services.infra.kafka_bootstrap
    good = received("H56.01-261123-0600")
    key, value, headers = to_kafka(good)
    not_taken = [(k, b"dossier.resolved" if k == "ce_type" else v) for k, v in headers]
    unknown = [(k, b"dossier.teleported" if k == "ce_type" else v) for k, v in headers]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(services.topic, b"{not json", key=key, headers=not_taken)
        await producer.send_and_wait(services.topic, value, key=key, headers=unknown)
        await producer.send_and_wait(services.topic, value, key=key, headers=headers)
    finally:
        await producer.stop()
    consumer = services.consumer(f"g-{unique}", event_types=frozenset({"dossier.received"}))
    await poll_until(consumer, 3)
    await consumer.stop()
    assert await services.effects() == {str(good.id): 1}
    assert await committed_lag(bootstrap, f"g-{unique}") == 0
    dead = await read_all(bootstrap, dlq_topic(services.topic), expect=1)
    assert [dict(r.headers)["dlq_reason"].decode() for r in dead] == ["unknown-type"]
