"""The transactional outbox (docs/architecture.md): events are written in the same PostgreSQL
transaction as the state change, and a relay publishes them to Kafka.

Commit order. ``bigserial`` numbers rows when they are inserted, not when their
transaction commits, so a row numbered later can commit first. The rows are therefore
numbered again at commit (``seq``, shared/sql/0005, decision 0029): a deferred trigger
takes a per-schema transaction-level advisory lock as the transaction commits and numbers
its rows in the order :func:`write_events` wrote them. The lock is held until the commit
is done, so ``seq`` follows commit order, and it is held only inside PostgreSQL's commit,
never across a turn of the writer's event loop. The relay publishes rows in ``seq`` order,
so in commit order. :func:`write_events` may come anywhere in the transaction, and
:func:`outbox_insert` makes the same write a part of a larger statement (decision 0030): the
relay's NOTIFY is sent by the commit-time trigger too (shared/sql/0006), and only when no
other committed row waits unsent, that is when the relay may be asleep (shared/sql/0007,
decision 0032): the relay fetches again after each batch and sleeps only after a fetch that
found nothing.

The relay runs in every replica but publishes in one at a time (a session advisory lock
elects it); it wakes on NOTIFY and polls as a fallback, publishes a batch with the
idempotent producer, waits for every acknowledgement, and only then marks the rows sent.
A crash in between publishes the batch again with the same ``ce_id`` values, which the
consumers' inboxes absorb.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from shared.db import check_schema_name
from shared.events import Envelope, encode_data, to_headers
from shared.leader import LeaderLoop
from shared.observability import OUTBOX_OLDEST_AGE, OUTBOX_PENDING, OUTBOX_PUBLISHED

log = logging.getLogger(__name__)


def notify_channel(schema: str) -> str:
    return f"outbox_{check_schema_name(schema)}"


def numbering_lock_key(schema: str) -> str:
    """The advisory lock (``hashtext`` of it) under which the commit-time trigger numbers a
    schema's outbox rows (shared/sql/0005, 0007) and the relay marks them sent."""
    return f"outbox:{check_schema_name(schema)}"


def outbox_insert(schema: str, events: Sequence[Envelope[Any]], *, topic_prefix: str = "",
                  first: int = 1) -> tuple[str, list[Any]]:
    """The INSERT of events into the schema's outbox, its parameters from ``$first`` on, and
    their values: a statement of its own, or a part of a larger one (a data-modifying
    ``WITH``). The rows are numbered, and the relay woken, when the transaction commits
    (shared/sql/0005, 0006), in the order they are written here."""
    check_schema_name(schema)
    p = [f"${n}" for n in range(first, first + 6)]
    sql = f"""INSERT INTO {schema}.outbox (event_id, topic, key, event_type, headers, payload)
              SELECT e.id, e.t, e.k, e.ty, e.h::jsonb, e.p
              FROM unnest({p[0]}::uuid[], {p[1]}::text[], {p[2]}::text[], {p[3]}::text[],
                          {p[4]}::text[], {p[5]}::bytea[])
                   WITH ORDINALITY AS e(id, t, k, ty, h, p, n)
              ORDER BY e.n"""
    return sql, [
        [e.id for e in events], [topic_prefix + e.data.topic for e in events],
        [e.key for e in events], [e.type for e in events],
        [orjson.dumps([[k, v.decode()] for k, v in to_headers(e)]).decode() for e in events],
        [encode_data(e.data) for e in events]]


async def write_events(conn: asyncpg.Connection, schema: str,
                       events: Sequence[Envelope[Any]], *, topic_prefix: str = "") -> None:
    """Append events to the schema's outbox inside the caller's transaction."""
    if not events:
        return
    if not conn.is_in_transaction():
        raise RuntimeError("write_events must run inside the state change's transaction")
    sql, args = outbox_insert(schema, events, topic_prefix=topic_prefix)
    await conn.execute(sql, *args)


# Writes events to a service's outbox inside the caller's transaction.
Emit = Callable[[asyncpg.Connection, Sequence[Envelope[Any]]], Awaitable[None]]


@dataclass(frozen=True)
class OutboxWriter:
    """A service's outbox: its schema, its topic prefix and the source named on its events."""

    schema: str
    source: str
    topic_prefix: str = ""

    async def write(self, conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        await write_events(conn, self.schema, events, topic_prefix=self.topic_prefix)

    def insert(self, events: Sequence[Envelope[Any]], first: int) -> tuple[str, list[Any]]:
        """``outbox_insert`` into this outbox."""
        return outbox_insert(self.schema, events, topic_prefix=self.topic_prefix, first=first)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    key: str
    headers: list[tuple[str, bytes]]
    payload: bytes


class OutboxRelay(LeaderLoop):
    """Publishes one schema's outbox to Kafka, in commit order, at least once."""

    def __init__(self, pool: asyncpg.Pool, schema: str, producer: AIOKafkaProducer, *,
                 batch_size: int = 500, poll_interval_s: float = 0.5,
                 retention_hours: float = 24.0, linger_s: float = 0.0) -> None:
        super().__init__(pool, interval_s=poll_interval_s)
        self.schema = check_schema_name(schema)
        self.lock_key = f"outbox-relay:{self.schema}"
        self.producer = producer
        self.batch_size = batch_size
        self.retention_hours = retention_hours
        self.linger_s = linger_s
        self._ticks = 0

    # -- the three steps, public so that tests can interrupt between them
    async def fetch_pending(self, limit: int | None = None) -> list[OutboxRow]:
        rows = await self.pool.fetch(
            f"""SELECT id, topic, key, headers, payload FROM {self.schema}.outbox
                WHERE sent_at IS NULL ORDER BY seq LIMIT $1""",
            limit or self.batch_size,
        )
        return [
            OutboxRow(r["id"], r["topic"], r["key"],
                      [(k, v.encode()) for k, v in r["headers"]], bytes(r["payload"]))
            for r in rows
        ]

    async def publish(self, rows: Sequence[OutboxRow]) -> None:
        """Send in commit order and wait until the broker has acknowledged every message."""
        futures = [
            await self.producer.send(r.topic, r.payload, key=r.key.encode(), headers=r.headers)
            for r in rows
        ]
        await asyncio.gather(*futures)

    async def mark_sent(self, rows: Sequence[OutboxRow]) -> None:
        # Under the lock the commit-time trigger holds: a commit that saw these rows unsent,
        # and so sent no NOTIFY, is visible to the fetch that follows (shared/sql/0007).
        await self.pool.execute(
            f"""WITH numbering AS MATERIALIZED (
                    SELECT pg_advisory_xact_lock(hashtext($2::text)))
                UPDATE {self.schema}.outbox SET sent_at = now() FROM numbering
                WHERE id = ANY($1::bigint[])""",
            [r.id for r in rows], numbering_lock_key(self.schema),
        )
        OUTBOX_PUBLISHED.labels(self.schema).inc(len(rows))

    async def relay_once(self) -> int:
        rows = await self.fetch_pending()
        if rows:
            await self.publish(rows)
            await self.mark_sent(rows)
        return len(rows)

    async def drain(self) -> int:
        """Publish until nothing is pending (used on shutdown and in tests)."""
        total = 0
        while n := await self.relay_once():
            total += n
        return total

    async def purge_sent(self) -> int:
        result = await self.pool.execute(
            f"""DELETE FROM {self.schema}.outbox
                WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => $1)""",
            self.retention_hours * 3600,
        )
        return int(result.split()[-1])

    async def observe(self) -> None:
        row = await self.pool.fetchrow(
            f"""SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age
                FROM {self.schema}.outbox WHERE sent_at IS NULL"""
        )
        OUTBOX_PENDING.labels(self.schema).set(row["n"])
        OUTBOX_OLDEST_AGE.labels(self.schema).set(float(row["age"] or 0))

    # -- the leader loop
    async def step(self) -> bool:
        if self.linger_s:
            # Let the commits that arrive together leave together, in one batch.
            await asyncio.sleep(self.linger_s)
        moved = await self.relay_once()
        self._ticks += 1
        if self._ticks % 20 == 0:
            await self.observe()
        if self._ticks % 2000 == 0:
            await self.purge_sent()
        # Fetch again until nothing is found: rows committed while this batch was in flight
        # did not wake the relay (shared/sql/0007).
        return moved > 0

    async def on_elected(self, conn: asyncpg.Connection) -> None:
        await conn.add_listener(notify_channel(self.schema), self._on_notify)

    async def on_term_end(self, conn: asyncpg.Connection) -> None:
        # Only the leader reports the backlog; a former leader must not show stale values.
        for gauge in (OUTBOX_PENDING, OUTBOX_OLDEST_AGE):
            with contextlib.suppress(KeyError):
                gauge.remove(self.schema)
        await conn.remove_listener(notify_channel(self.schema), self._on_notify)

    async def on_stop(self) -> None:
        await self.drain()

    def _on_notify(self, *_: Any) -> None:
        self.wake()
