"""The transactional outbox (SPEC §2): events are written in the same PostgreSQL
transaction as the state change, and a relay publishes them to Kafka.

Commit order. ``bigserial`` numbers rows when they are inserted, not when their
transaction commits, so with plain inserts a later-numbered row can commit first and be
published before an earlier one. :func:`write_events` therefore takes a per-schema
transaction-level advisory lock before numbering its rows. Call it as the last statement
of the transaction: the lock is held only from the insert to the commit, and ids are then
assigned in commit order. The relay publishes rows in id order, so in commit order.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from shared.db import check_schema_name
from shared.events import Envelope, encode_data, to_headers
from shared.observability import OUTBOX_OLDEST_AGE, OUTBOX_PENDING, OUTBOX_PUBLISHED

log = logging.getLogger(__name__)


def notify_channel(schema: str) -> str:
    return f"outbox_{check_schema_name(schema)}"


async def write_events(conn: asyncpg.Connection, schema: str,
                       events: Sequence[Envelope[Any]], *, topic_prefix: str = "") -> None:
    """Append events to the schema's outbox inside the caller's transaction."""
    if not events:
        return
    if not conn.is_in_transaction():
        raise RuntimeError("write_events must run inside the state change's transaction")
    check_schema_name(schema)
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"outbox:{schema}")
    await conn.executemany(
        f"""INSERT INTO {schema}.outbox (event_id, topic, key, event_type, headers, payload)
            VALUES ($1, $2, $3, $4, $5, $6)""",
        [
            (e.id, topic_prefix + e.data.topic, e.key, e.type,
             [[k, v.decode()] for k, v in to_headers(e)], encode_data(e.data))
            for e in events
        ],
    )
    await conn.execute("SELECT pg_notify($1, '')", notify_channel(schema))


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    key: str
    headers: list[tuple[str, bytes]]
    payload: bytes


class OutboxRelay:
    """Publishes one schema's outbox to Kafka, in commit order, at least once."""

    def __init__(self, pool: asyncpg.Pool, schema: str, producer: AIOKafkaProducer, *,
                 batch_size: int = 500, poll_interval_s: float = 0.5,
                 retention_hours: float = 24.0) -> None:
        self.pool = pool
        self.schema = check_schema_name(schema)
        self.producer = producer
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.retention_hours = retention_hours
        self._wake = asyncio.Event()
        self._stopping = False
        self.is_leader = False

    # -- the three steps, public so that tests can interrupt between them
    async def fetch_pending(self, limit: int | None = None) -> list[OutboxRow]:
        rows = await self.pool.fetch(
            f"""SELECT id, topic, key, headers, payload FROM {self.schema}.outbox
                WHERE sent_at IS NULL ORDER BY id LIMIT $1""",
            limit or self.batch_size,
        )
        return [
            OutboxRow(r["id"], r["topic"], r["key"],
                      [(k, v.encode()) for k, v in r["headers"]], bytes(r["payload"]))
            for r in rows
        ]

    async def publish(self, rows: Sequence[OutboxRow]) -> None:
        """Send in id order and wait until the broker has acknowledged every message."""
        futures = [
            await self.producer.send(r.topic, r.payload, key=r.key.encode(), headers=r.headers)
            for r in rows
        ]
        await asyncio.gather(*futures)

    async def mark_sent(self, rows: Sequence[OutboxRow]) -> None:
        await self.pool.execute(
            f"UPDATE {self.schema}.outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
            [r.id for r in rows],
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

    async def _observe(self) -> None:
        row = await self.pool.fetchrow(
            f"""SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age
                FROM {self.schema}.outbox WHERE sent_at IS NULL"""
        )
        OUTBOX_PENDING.labels(self.schema).set(row["n"])
        OUTBOX_OLDEST_AGE.labels(self.schema).set(float(row["age"] or 0))

    # -- the loop
    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Elect, listen, publish; reconnects after database or broker failures."""
        while not self._stopping:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying", extra={"schema": self.schema})
                self.is_leader = False
                await asyncio.sleep(1.0)

    async def _lead(self) -> None:
        conn: asyncpg.Connection = await self.pool.acquire()
        try:
            key = f"outbox-relay:{self.schema}"
            while not self._stopping:
                if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
                    break
                await self._sleep(2.0)
            if self._stopping:
                return
            self.is_leader = True
            await conn.add_listener(notify_channel(self.schema), self._on_notify)
            ticks = 0
            while not self._stopping:
                self._wake.clear()
                moved = await self.relay_once()
                ticks += 1
                if ticks % 20 == 0:
                    await self._observe()
                if ticks % 2000 == 0:
                    await self.purge_sent()
                if moved >= self.batch_size:
                    continue
                if conn.is_closed():
                    raise ConnectionError("relay leadership connection lost")
                await self._sleep(self.poll_interval_s)
            await self.drain()
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await conn.remove_listener(notify_channel(self.schema), self._on_notify)
                await conn.execute("SELECT pg_advisory_unlock_all()")
            await self.pool.release(conn)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)


def headers_json(headers: list[tuple[str, bytes]]) -> bytes:
    return orjson.dumps([[k, v.decode()] for k, v in headers])
