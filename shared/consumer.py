"""The consumer loop every service uses: idempotent consumers and poison messages
(docs/architecture.md).

For each batch from ``getmany``:

1. decode and validate every message; one that fails goes to ``<topic>.dlq`` with the
   reason in headers (undecodable, invalid envelope, unknown type or major version,
   schema violation);
2. in one PostgreSQL transaction, insert ``(consumer, event_id)`` into the inbox and apply
   the handler to the events whose row was new (a redelivery finds its row and is skipped);
3. after that commit, commit the Kafka offsets of the batch.

A crash between 2 and 3 redelivers the batch; the inbox turns it into a no-op. If the batch
transaction fails because of a handler error, each message is retried in a transaction of
its own and the one that still fails is dead-lettered with the error; if it fails because
PostgreSQL is unreachable, the batch is sought back and retried after a pause, so nothing is
skipped. A rebalance waits for the in-flight batch to commit before giving partitions up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from shared.batching import AlignedBatches
from shared.db import (
    SCHEMA_MISMATCH,
    TRANSIENT,
    after_transient,
    check_schema_name,
    is_transient,
)
from shared.events import Envelope, EventData, PoisonMessage, dlq_topic, from_kafka, model_for
from shared.observability import (
    CONSUMED,
    CONSUMER_LAG,
    DEAD_LETTERS,
    DUPLICATES,
    PARTITION_ASSIGNED,
)

log = logging.getLogger(__name__)

# Partition p of every subscribed topic goes to one member (range assignment, the topics
# having the same partition count), so a dossier's events, keyed by its code, are applied
# by one member whichever topic they come on: metrics folds them together, and two members
# folding one dossier at once would each miss the other's event. Round robin, aiokafka's
# default, is kept second so that a group can be upgraded one replica at a time.
ASSIGNORS = (RangePartitionAssignor, RoundRobinPartitionAssignor)

# Aligned batches (``aligned=True``): how much is fetched for one batch at most, in
# batches; how many polls in a row may wait for a partition with a backlog and nothing
# fetched yet, and how long each waits.
_FETCHED_PER_BATCH = 4
_DEFERRALS = 5
_WAIT_FOR_FETCH_MS = 20

Handler = Callable[[asyncpg.Connection, Envelope[EventData]], Awaitable[None]]
BatchHandler = Callable[[asyncpg.Connection, Sequence[Envelope[EventData]]], Awaitable[None]]


@dataclass
class _Decoded:
    record: Any
    envelope: Envelope[EventData]


class _WaitForBatch(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, lock: asyncio.Lock, name: str,
                 forget: Callable[[Any], None] | None = None) -> None:
        self.lock = lock
        self.name = name
        self.forget = forget  # what is held of revoked partitions is read again by its owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # The in-flight batch finishes and commits its offsets before partitions move.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                async with self.lock:
                    pass
        if self.forget is not None:
            self.forget(revoked)
        for tp in revoked:
            labels = (self.name, tp.topic, str(tp.partition))
            holders = _HOLDERS.get(labels, set())
            holders.discard(id(self))
            if not holders:  # another member of this process may have taken it meanwhile
                _HOLDERS.pop(labels, None)
                with contextlib.suppress(KeyError):
                    PARTITION_ASSIGNED.remove(*labels)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        for tp in assigned:
            labels = (self.name, tp.topic, str(tp.partition))
            _HOLDERS.setdefault(labels, set()).add(id(self))
            PARTITION_ASSIGNED.labels(*labels).set(1)


# Which members of this process hold each partition gauge's labels: members of one group
# share a name, and one's revoke may run after another's assignment of the same partition.
_HOLDERS: dict[tuple[str, str, str], set[int]] = {}


class EventConsumer:
    """One consumer group member applying events to one service schema exactly once."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        schema: str,
        name: str,
        topics: Sequence[str],
        bootstrap: str,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        group_id: str | None = None,
        batch_size: int = 500,
        dlq_producer: AIOKafkaProducer | None = None,
        event_types: frozenset[str] | None = None,
        rejoin_after_s: float = 120.0,
        commit_timeout_s: float = 30.0,
        stall_after_s: float = 300.0,
        aligned: bool = False,
        fetch_min_bytes: int = 1,
        fetch_max_wait_ms: int = 500,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler and batch_handler")
        self.pool = pool
        self.schema = check_schema_name(schema)
        self.name = name
        self.topics = list(topics)
        self.bootstrap = bootstrap
        self.handler = handler
        self.batch_handler = batch_handler
        self.group_id = group_id or name
        self.batch_size = batch_size
        self.event_types = event_types
        self.rejoin_after_s = rejoin_after_s
        self.commit_timeout_s = commit_timeout_s
        self.stall_after_s = stall_after_s
        self._stalled: str | None = None  # why the client must be recreated
        self._retired: set[asyncio.Future[None]] = set()  # old clients being stopped
        self._dlq_producer = dlq_producer
        self._own_dlq_producer = dlq_producer is None
        self._consumer: AIOKafkaConsumer | None = None
        # ``aligned``: batches cover one stretch of time on every partition (shared.batching),
        # for a handler whose cost is per dossier rather than per event (metrics' fold).
        self._aligned = AlignedBatches() if aligned else None
        self.fetch_min_bytes = fetch_min_bytes
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self._deferred = 0  # polls in a row that waited for a partition's first records
        self._lock = asyncio.Lock()
        self._stopping = False
        self.processed = 0
        self.started = asyncio.Event()

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            client_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.batch_size,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_min_bytes=self.fetch_min_bytes,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            # Partitions added by an operator (scaling out) are noticed within seconds.
            metadata_max_age_ms=10_000,
            partition_assignment_strategy=ASSIGNORS,
        )
        await self._consumer.start()
        # A topic created a moment ago may not be in this client's metadata yet; joining the
        # group then would leave its partitions unassigned until the next refresh.
        async with asyncio.timeout(60):
            while not set(self.topics) <= set(await self._consumer.topics()):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        self._consumer.subscribe(self.topics, listener=_WaitForBatch(
            self._lock, self.name, self._forget_for(self._consumer)))
        if self._dlq_producer is None:
            self._dlq_producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                                  client_id=f"{self.name}-dlq")
            await self._dlq_producer.start()

    def assignment(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs this member holds now."""
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def stop(self, *, timeout_s: float = 15.0) -> None:
        """Stop taking events: the batch in flight finishes and commits first, then the
        client leaves its group. Bounded: a client whose leaving hangs (a rebalance under way,
        a broker that does not answer) is let go after ``timeout_s``; its partitions move when
        its session expires, and what it read and did not commit is read again elsewhere."""
        self._stopping = True
        await self._drop_client()  # the lock is free again before the client's revoke hook
        if self._own_dlq_producer and self._dlq_producer is not None:
            producer, self._dlq_producer = self._dlq_producer, None
            self._retire(producer.stop())
        if self._retired:
            _done, pending = await asyncio.wait(set(self._retired), timeout=timeout_s)
            if pending:
                log.warning("consumer %s: its Kafka client did not stop in %.0f s; left behind",
                            self.name, timeout_s)

    async def run(self) -> None:
        """Consume until :meth:`stop`; survives broker and database outages. The loop never
        ends on an error: a client that cannot start, or stalls, is made again."""
        if self._consumer is None:
            await self.start()
        backoff = 0.2
        unassigned_since: float | None = None
        while not self._stopping:
            try:
                if self._consumer is None:  # a client made again that failed to start
                    await asyncio.wait_for(self.start(), timeout=120)
                try:
                    await asyncio.wait_for(self.poll_once(timeout_ms=200),
                                           timeout=self.stall_after_s)
                except TimeoutError:
                    self._stalled = f"a poll did not return in {self.stall_after_s:.0f} s"
                if self._stalled is not None:
                    await self._recreate(self._stalled)
                    continue
                backoff = 0.2
                unassigned_since = await self._rejoin_if_stranded(unassigned_since)
            except asyncio.CancelledError:
                raise
            except (KafkaError, *TRANSIENT) as exc:
                if self._stopping:
                    return
                log.warning("consumer %s: %r; retrying in %.1fs", self.name, exc, backoff,
                            exc_info=isinstance(exc, SCHEMA_MISMATCH))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception as exc:  # e.g. a start that timed out: make the client again
                if self._stopping:
                    return
                log.warning("consumer %s: %r; making the client again in %.1fs", self.name,
                            exc, backoff)
                await self._drop_client()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _rejoin_if_stranded(self, since: float | None) -> float | None:
        """A member left with no partition for ``rejoin_after_s`` is recreated: after a
        broker's unclean death the client can stay out of its group for good (seen when the
        broker's disk filled), consuming nothing while the lag grows. A fresh client joins
        again; the inbox makes anything read twice harmless. (A group with more members
        than partitions has idle members: keep replicas at or below the partitions.)"""
        assert self._consumer is not None
        if self._consumer.assignment():
            return None
        now = asyncio.get_running_loop().time()
        if since is None:
            return now
        if now - since < self.rejoin_after_s:
            return since
        await self._recreate(f"no partition assigned for {now - since:.0f} s")
        return None

    async def _recreate(self, why: str) -> None:
        """A fresh Kafka client for this member (the old one is stopped, bounded): after a
        broker's unclean death a client can stay stuck for good, in a commit that never
        answers or out of its group. What it had read and not committed is read again; the
        inbox makes that harmless."""
        log.warning("consumer %s: %s; recreating the Kafka client", self.name, why)
        self._stalled = None
        await self._drop_client()
        await asyncio.wait_for(self.start(), timeout=120)

    async def _drop_client(self) -> None:
        """Let go of the client now; it is stopped in the background, never awaited: a stuck
        client's stop can itself wait for ever (wait_for would wait for its cancellation)."""
        async with self._lock:
            old, self._consumer = self._consumer, None
            self._forget_held(None)  # a new client starts from the committed offsets
        if old is not None:
            self._retire(old.stop())

    def _retire(self, stopping: Awaitable[None]) -> None:
        task = asyncio.ensure_future(stopping)
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # ------------------------------------------------------------- one batch
    async def poll_once(self, timeout_ms: int = 1000, *, commit_offsets: bool = True) -> int:
        """Fetch one batch and apply it; returns the number of messages seen."""
        if self._consumer is None:
            await self.start()
        assert self._consumer is not None
        max_records = self.batch_size
        if self._aligned is not None:
            max_records *= _FETCHED_PER_BATCH  # all that was fetched, to align from
            if len(self._aligned):  # take what else has arrived, without a long wait
                timeout_ms = _WAIT_FOR_FETCH_MS if self._deferred else 0
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        self.started.set()
        async with self._lock:
            if self._consumer is None:
                return 0
            if self._aligned is not None:
                batch = await self._take_aligned(batch)
            if not batch:
                return 0
            await self.process_batch(batch, commit_offsets=commit_offsets)
        return sum(len(r) for r in batch.values())

    async def _take_aligned(self, fetched: dict[TopicPartition, list[Any]],
                            ) -> dict[TopicPartition, list[Any]]:
        """Hold what was fetched and take one aligned batch. While a partition with a backlog
        has nothing fetched yet (its records may be the earliest), a few polls are waited
        for it. A partition holding a batch's worth is paused, so that the others are fetched
        and catch up in time, and resumed when it holds less."""
        assert self._aligned is not None and self._consumer is not None
        self._aligned.add(fetched)
        if self._deferred < _DEFERRALS and len(self._aligned) < 2 * self.batch_size \
                and await self._backlog_not_held():
            self._deferred += 1
            return {}
        self._deferred = 0
        # A partition whose every record on the broker is held does not hold the batch back.
        complete = {tp for tp in self._aligned.partitions()
                    if self._aligned.last_offset(tp) + 1 >= (self._end(tp) or 0)}
        batch = self._aligned.take(self.batch_size, complete)
        assigned = self._consumer.assignment()
        full = {tp for tp in assigned if self._aligned.held(tp) >= self.batch_size}
        paused = self._consumer.paused()
        if full - paused:
            self._consumer.pause(*(full - paused))
        if (paused & assigned) - full:
            self._consumer.resume(*((paused & assigned) - full))
        return batch

    async def _backlog_not_held(self) -> bool:
        """Whether an assigned, unpaused partition has records on the broker past its
        position, none of them held yet (or has not been fetched at all yet)."""
        assert self._aligned is not None and self._consumer is not None
        consumer = self._consumer
        for tp in consumer.assignment() - consumer.paused():
            if self._aligned.held(tp):
                continue
            end = self._end(tp)
            if end is None:
                return True
            with contextlib.suppress(IllegalStateError):
                if await consumer.position(tp) < end:
                    return True
        return False

    def _end(self, tp: TopicPartition) -> int | None:
        """The partition's end on the broker as last fetched (None: not fetched yet)."""
        assert self._consumer is not None
        end = self._consumer.last_stable_offset(tp)
        if end is None or end < 0:  # not known, or a broker without transactions' offsets
            end = self._consumer.highwater(tp)
        return int(end) if end is not None else None

    def _forget_for(self, client: AIOKafkaConsumer) -> Callable[[Any], None]:
        """``_forget_held`` for ``client``'s revoke hook, which does nothing once another
        client has replaced it: a retired client still leaving its group may revoke
        partitions that the new client holds records of."""
        def forget(tps: Any) -> None:
            if self._consumer is client:
                self._forget_held(tps)
        return forget

    def _forget_held(self, tps: Any) -> None:
        """Drop the held records of ``tps`` (None: all of them)."""
        if self._aligned is None:
            return
        if tps is None:
            self._aligned.clear()
        else:
            self._aligned.drop(tps)

    async def process_batch(self, batch: dict[TopicPartition, list[Any]],
                            *, commit_offsets: bool = True) -> None:
        assert self._consumer is not None
        decoded: list[_Decoded] = []
        poison: list[tuple[Any, str, str]] = []
        for records in batch.values():
            for rec in records:
                wanted = self.event_types
                kind = _ce_type(rec) if wanted is not None else None
                if wanted is not None and kind is not None and kind not in wanted \
                        and model_for(kind) is not None:
                    continue  # a known type this consumer does not need: not even decoded
                try:
                    env = from_kafka(rec.headers, rec.value)
                except PoisonMessage as p:
                    poison.append((rec, p.reason, p.detail))
                    continue
                if self.event_types is None or env.type in self.event_types:
                    decoded.append(_Decoded(rec, env))
        try:
            await self._apply_in_one_transaction(decoded)
        except Exception as exc:
            # Out of memory or over a limit may be the batch's size: its messages are tried
            # one by one first (any of them failing the same way seeks the batch back).
            if is_transient(exc) and not (isinstance(exc, asyncpg.InsufficientResourcesError)
                                          and len(decoded) > 1):
                await after_transient(self.pool, exc)
                self._seek_back(batch)
                raise
            log.warning("consumer %s: batch failed (%r); isolating the message", self.name, exc)
            for item in decoded:
                try:
                    await self._apply_in_one_transaction([item])
                except Exception as one_exc:
                    if is_transient(one_exc):
                        await after_transient(self.pool, one_exc)
                        self._seek_back(batch)
                        raise
                    poison.append((item.record, "handler-error", repr(one_exc)[:1000]))
        try:
            for rec, reason, detail in poison:
                await self._dead_letter(rec, reason, detail)
        except Exception:
            # Not copied to its dead-letter topic: the batch is read again (the inbox skips
            # what was applied), or the poison left would be passed over.
            self._seek_back(batch)
            raise
        if commit_offsets:
            await self.commit(batch)
        self._observe_lag(batch)

    async def commit(self, batch: dict[TopicPartition, list[Any]]) -> None:
        assert self._consumer is not None
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
        try:
            await asyncio.wait_for(self._consumer.commit(offsets), timeout=self.commit_timeout_s)
        except TimeoutError:
            # Seen after a broker died with its disk full: the commit never answers. The
            # effects are committed in PostgreSQL; the batch is read again by a fresh client.
            self._stalled = f"an offset commit did not answer in {self.commit_timeout_s:.0f} s"
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved to another member; it will redeliver, the inbox absorbs it.
            log.warning("consumer %s: offset commit refused after rebalance: %r", self.name, exc)

    async def _apply_in_one_transaction(self, items: Sequence[_Decoded]) -> int:
        """Apply the events not yet in the inbox, in one transaction; how many were new."""
        if not items:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            new_ids = {
                r["event_id"]
                for r in await conn.fetch(
                    f"""INSERT INTO {self.schema}.inbox (consumer, event_id, event_type)
                        SELECT $1, e.id, e.t FROM unnest($2::uuid[], $3::text[]) AS e(id, t)
                        ON CONFLICT DO NOTHING RETURNING event_id""",
                    self.name,
                    [i.envelope.id for i in items],
                    [i.envelope.type for i in items],
                )
            }
            fresh: list[Envelope[EventData]] = []
            counted: Counter[tuple[bool, str]] = Counter()  # (fresh, topic): counted once each
            for item in items:
                env = item.envelope
                is_new = env.id in new_ids
                if is_new:
                    new_ids.discard(env.id)  # a duplicate inside the same batch is skipped too
                    fresh.append(env)
                counted[is_new, item.record.topic] += 1
            for (is_new, topic), n in counted.items():
                (CONSUMED if is_new else DUPLICATES).labels(self.name, topic).inc(n)
            if self.batch_handler is not None:
                await self.batch_handler(conn, fresh)
            else:
                assert self.handler is not None
                for env in fresh:
                    await self.handler(conn, env)
        self.processed += len(items)
        return len(fresh)

    async def redrive(self, rec: Any) -> tuple[str, str | None]:
        """Apply a dead-lettered message again, as the loop would (inbox and effect in one
        transaction): ``applied``, ``already_applied`` (its inbox row exists: a second
        re-drive changes nothing), ``poison`` (it still cannot be decoded),
        ``not_for_this_consumer``, or ``still_failing`` with the error."""
        try:
            env = from_kafka(rec.headers, rec.value)
        except PoisonMessage as p:
            return "poison", f"{p.reason}: {p.detail}"[:1000]
        if self.event_types is not None and env.type not in self.event_types:
            return "not_for_this_consumer", env.type
        try:
            fresh = await self._apply_in_one_transaction([_Decoded(rec, env)])
        except Exception as exc:
            if is_transient(exc):
                raise
            return "still_failing", repr(exc)[:1000]
        return ("applied" if fresh else "already_applied"), None

    def _seek_back(self, batch: dict[TopicPartition, list[Any]]) -> None:
        assert self._consumer is not None
        self._forget_held(batch.keys())  # they follow the batch: read again after it
        for tp, records in batch.items():
            if records:
                with contextlib.suppress(IllegalStateError):
                    self._consumer.seek(tp, records[0].offset)

    async def _dead_letter(self, rec: Any, reason: str, detail: str) -> None:
        assert self._dlq_producer is not None
        headers = [
            *(rec.headers or ()),
            ("dlq_reason", reason.encode()),
            ("dlq_error", detail.encode()[:4000]),
            ("dlq_consumer", self.name.encode()),
            ("dlq_source_topic", rec.topic.encode()),
            ("dlq_source_partition", str(rec.partition).encode()),
            ("dlq_source_offset", str(rec.offset).encode()),
        ]
        await self._dlq_producer.send_and_wait(dlq_topic(rec.topic), rec.value, key=rec.key,
                                               headers=headers)
        attrs = {name: value for name, value in rec.headers or ()
                 if name in ("ce_id", "ce_type")}
        with contextlib.suppress(Exception):
            await self.pool.execute(
                f"""INSERT INTO {self.schema}.dead_letters
                    (consumer, topic, kafka_partition, kafka_offset, reason, detail, event_id,
                     event_type)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                self.name, rec.topic, rec.partition, rec.offset, reason, detail[:4000],
                _uuid_or_none(attrs.get("ce_id")), _text_or_none(attrs.get("ce_type")),
            )
        DEAD_LETTERS.labels(self.name, rec.topic, reason).inc()
        log.warning("dead-lettered a message",
                    extra={"consumer": self.name, "topic": rec.topic, "partition": rec.partition,
                           "offset": rec.offset, "reason": reason})

    def _observe_lag(self, batch: dict[TopicPartition, list[Any]]) -> None:
        assert self._consumer is not None
        for tp, records in batch.items():
            if not records:
                continue
            high = self._consumer.highwater(tp)
            if high is not None:
                CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(
                    max(0, high - records[-1].offset - 1))


def _ce_type(rec: Any) -> str | None:
    for name, raw in rec.headers or ():
        if name == "ce_type":
            try:
                return str(raw.decode())
            except UnicodeDecodeError:
                return None  # decoded below, and dead-lettered with the reason
    return None


def _text_or_none(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode()[:200]
    except UnicodeDecodeError:
        return None


def _uuid_or_none(raw: bytes | None) -> uuid.UUID | None:
    text = _text_or_none(raw)
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None
