"""Portals' webhooks in PostgreSQL, and their sender (docs/rules/webhooks.md).

Deliveries are written with the timeline entry they announce (``TimelineRepository``), so a
committed step is never left unannounced. The sender, one replica at a time (a leader
lock), takes the due deliveries under a lease, POSTs each signed as Standard Webhooks has it,
and records the answer: delivered on a 2xx, else retried with backoff for a day and then
failed. A sender killed mid-try leaves the lease to expire: the delivery is tried again with
the same ``webhook-id``, so a receiver that saw it once can tell (at least once)."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import orjson

from services.intake.domain.webhooks import is_public_address
from shared.clock import Clock
from shared.leader import LeaderLoop
from shared.observability import WEBHOOK_DELIVERIES
from shared.retry import Retry, after_try, lease_for
from shared.webhooks import new_secret, signed_headers

log = logging.getLogger(__name__)
MAX_SUBSCRIPTIONS = 20  # per portal: each timeline entry fans out to at most this many


class TooManySubscriptions(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"a portal has at most {limit} subscriptions")


@dataclass(frozen=True)
class Subscription:
    id: uuid.UUID
    url: str
    events: list[str]
    created_at: datetime
    secret: str | None = None  # given out once, when the subscription is made


class WebhookStore:
    def __init__(self, db: asyncpg.Pool) -> None:
        self.db = db

    # ------------------------------------------------------------- subscriptions
    async def subscribe(self, portal_id: str, url: str, events: list[str],
                        now: datetime) -> Subscription:
        """A new subscription with a new secret; one already active for the URL is replaced
        (its secret rotates, and its deliveries not yet made move to the new one).

        :raises TooManySubscriptions:"""
        secret, sid = new_secret(), uuid.uuid4()
        async with self.db.acquire() as conn, conn.transaction():
            # One subscriber of a portal at a time: two concurrent subscribes of one URL
            # queue here instead of colliding on the unique index.
            await conn.execute("SELECT 1 FROM portals WHERE id = $1 FOR UPDATE", portal_id)
            old = await conn.fetchval(
                "UPDATE webhook_subscriptions SET removed_at = $3 "
                "WHERE portal_id = $1 AND url = $2 AND removed_at IS NULL RETURNING id",
                portal_id, url, now)
            active = await conn.fetchval("SELECT count(*) FROM webhook_subscriptions "
                                         "WHERE portal_id = $1 AND removed_at IS NULL", portal_id)
            if active >= MAX_SUBSCRIPTIONS:
                raise TooManySubscriptions(MAX_SUBSCRIPTIONS)
            await conn.execute(
                "INSERT INTO webhook_subscriptions (id, portal_id, url, events, secret, "
                "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                sid, portal_id, url, sorted(set(events)), secret, now)
            if old is not None:
                await conn.execute("UPDATE webhook_deliveries SET subscription_id = $2 "
                                   "WHERE subscription_id = $1 AND status <> 'delivered'",
                                   old, sid)
        return Subscription(sid, url, sorted(set(events)), now, secret)

    async def subscriptions(self, portal_id: str) -> list[Subscription]:
        rows = await self.db.fetch(
            "SELECT id, url, events, created_at FROM webhook_subscriptions "
            "WHERE portal_id = $1 AND removed_at IS NULL ORDER BY created_at", portal_id)
        return [Subscription(r["id"], r["url"], list(r["events"]), r["created_at"])
                for r in rows]

    async def unsubscribe(self, portal_id: str, sid: uuid.UUID, now: datetime) -> bool:
        done: str = await self.db.execute(
            "UPDATE webhook_subscriptions SET removed_at = $3 "
            "WHERE id = $1 AND portal_id = $2 AND removed_at IS NULL", sid, portal_id, now)
        return done.endswith(" 1")

    # ------------------------------------------------------------- deliveries
    async def deliveries(self, portal_id: str, status: str | None, dossier_code: str | None,
                         limit: int) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            """SELECT id, subscription_id, dossier_code, event_type, status, attempts,
                      created_at, next_attempt_at, last_attempt_at, last_status, last_error,
                      delivered_at
               FROM webhook_deliveries
               WHERE portal_id = $1 AND ($2::text IS NULL OR status = $2)
                 AND ($3::text IS NULL OR dossier_code = $3)
               ORDER BY created_at DESC, id LIMIT $4""", portal_id, status, dossier_code, limit)
        return [dict(r) for r in rows]

    async def replay(self, portal_id: str, delivery_id: str, now: datetime) -> bool:
        """Send one delivery again, now, with a new day of retries."""
        done: str = await self.db.execute(
            """UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3,
                      retry_from = $3, delivered_at = NULL, attempts = 0
               WHERE id = $1 AND portal_id = $2""", delivery_id, portal_id, now)
        return done.endswith(" 1")

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[asyncpg.Record]:
        """Due deliveries, leased: tried now, and again after the lease if no answer is
        recorded (a sender that died). Each claim counts a try: the answer is recorded only
        for that try (``record``'s ``attempt``)."""
        return list(await self.db.fetch(
            """UPDATE webhook_deliveries d
               SET attempts = d.attempts + 1, last_attempt_at = $1, next_attempt_at = $1 + $3
               FROM webhook_subscriptions s
               WHERE s.id = d.subscription_id AND d.id IN (
                   SELECT id FROM webhook_deliveries
                   WHERE status = 'pending' AND next_attempt_at <= $1
                   ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
               RETURNING d.id, d.payload, d.attempts, d.retry_from, d.event_type, s.url,
                         s.secret, s.removed_at""", now, limit, lease))

    async def record(self, delivery_id: str, attempt: int, status: str, next_at: datetime,
                     http_status: int | None, error: str | None, now: datetime) -> None:
        """The answer to try ``attempt``; nothing if the delivery was claimed again since (a
        lease that ran out, a replay): a late answer never overwrites a newer one."""
        await self.db.execute(
            """UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4,
                      last_status = $5, last_error = $6,
                      delivered_at = CASE WHEN $3 = 'delivered' THEN $7::timestamptz END
               WHERE id = $1 AND attempts = $2 AND status = 'pending'""",
            delivery_id, attempt, status, next_at, http_status, error, now)

    async def pending(self) -> int:
        n: int = await self.db.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
        return n


class WebhookSender(LeaderLoop):
    lock_key = "intake-webhook-sender"

    def __init__(self, pool: asyncpg.Pool, http: httpx.AsyncClient, clock: Clock, retry: Retry,
                 *, interval_s: float = 1.0, batch_size: int = 50, timeout_s: float = 10.0,
                 concurrency: int = 8, production: bool = True) -> None:
        """``http``: one client for the sender's life (the bootstrap closes it), with
        ``timeout_s`` and no redirects followed."""
        super().__init__(pool, interval_s=interval_s)
        self.http = http
        self.production = production
        self.store = WebhookStore(pool)
        self.clock = clock
        self.retry = retry
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = random.Random()
        self.lease = lease_for(timeout_s, batch_size, concurrency)

    async def step(self) -> bool:
        claimed = await self.store.claim(self.clock.now(), self.batch_size, self.lease)
        if claimed:
            await asyncio.gather(*(self._send(row) for row in claimed))
        return len(claimed) >= self.batch_size

    async def _refusal(self, url: str) -> str | None:
        """In production, why not to send to ``url`` now: its name resolves to an address
        that is not public (checked at each try: a name can be pointed inside later)."""
        if not self.production:
            return None
        host = urlsplit(url).hostname or ""
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError:
            return "the host name does not resolve"
        if not found or not all(is_public_address(str(a[4][0])) for a in found):
            return "the host name leads inside the network"
        return None

    async def _send(self, row: asyncpg.Record) -> None:
        async with self._slots:
            now = self.clock.now()
            if row["removed_at"] is not None:
                await self.store.record(row["id"], row["attempts"], "failed", now, None,
                                        "unsubscribed", now)
                return
            payload = row["payload"]
            body = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
            status, error = None, await self._refusal(row["url"])
            try:
                if error is None:
                    answer = await self.http.post(row["url"], content=body, headers=signed_headers(
                        row["secret"], row["id"], int(now.timestamp()), body))
                    status = answer.status_code
                    if not 200 <= status < 300:
                        error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            done = self.clock.now()
            outcome, next_at = after_try(status, row["attempts"], row["retry_from"], done,
                                         self.retry, self._rng.random())
            await self.store.record(row["id"], row["attempts"], outcome, next_at, status, error,
                                    done)
            WEBHOOK_DELIVERIES.labels(outcome if outcome != "pending" else "retrying").inc()
            if outcome == "failed":
                log.warning("webhook delivery failed for good",
                            extra={"delivery": row["id"], "event_type": row["event_type"],
                                   "error": error})
