"""The notification sender: one replica at a time (a leader lock) takes due notifications
under a lease, sends each by its channel and records the answer: sent; retried with
exponential backoff and full jitter for ``Retry.give_up_after`` (a day) and then failed;
failed at once on a permanent refusal; skipped when the applicant opted out since it was
queued. A sender killed mid-try leaves the lease to expire and the notification is tried
again under the same id (at least once; docs/rules/notifications.md).

Logs name the notification, its kind and channel, never the address."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import datetime

import asyncpg

from shared.clock import Clock
from shared.leader import LeaderLoop
from shared.notifications.channels import Channel, SendFailed
from shared.notifications.messages import Message
from shared.notifications.store import NotificationStore, Status
from shared.observability import NOTIFICATIONS
from shared.retry import Outcome, Retry, after_attempt, lease_for

log = logging.getLogger(__name__)
STATUS_AFTER: dict[Outcome, Status] = {"done": "sent", "pending": "pending", "failed": "failed"}
LABEL: dict[Status, str] = {"sent": "sent", "pending": "retrying", "failed": "failed",
                            "skipped": "skipped"}
NOT_CONFIGURED = "channel not configured"


class NotificationSender(LeaderLoop):
    def __init__(self, pool: asyncpg.Pool, channels: Mapping[str, Channel], clock: Clock,
                 retry: Retry, *, lock_key: str, interval_s: float = 1.0, batch_size: int = 50,
                 timeout_s: float = 10.0, concurrency: int = 8) -> None:
        """``channels``: the configured ones by name (email, sms, zalo); a notification for
        another fails at once, "channel not configured". ``timeout_s``: the longest a
        channel's try takes (its adapter's own timeout), for the lease."""
        super().__init__(pool, interval_s=interval_s)
        self.lock_key = lock_key
        self.channels = dict(channels)
        self.store = NotificationStore(pool)
        self.clock = clock
        self.retry = retry
        self.batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = random.Random()
        self.lease = lease_for(timeout_s, batch_size, concurrency)

    async def step(self) -> bool:
        claimed = await self.store.claim(self.clock.now(), self.batch_size, self.lease)
        if claimed:
            await asyncio.gather(*(self._send(row) for row in claimed))
        return len(claimed) >= self.batch_size

    async def _send(self, row: asyncpg.Record) -> None:
        async with self._slots:
            channel_name = str(row["channel"])
            if row["preference"] == "none":
                await self._record(row, "skipped", self.clock.now(), "opted out")
                return
            channel = self.channels.get(channel_name)
            error: SendFailed | None = None
            try:
                if channel is None:
                    raise SendFailed(NOT_CONFIGURED, permanent=True)
                await channel.send(row["address"], Message(row["subject"], row["text"],
                                                           row["subject_code"]), row["id"])
            except SendFailed as exc:
                error = exc
            except Exception as exc:  # an adapter's bug must not stop the others' tries
                log.exception("notification channel failed unexpectedly",
                              extra={"notification": row["id"], "channel": channel_name})
                error = SendFailed(f"unexpected {type(exc).__name__}")
            done = self.clock.now()
            outcome, next_at = after_attempt(error is None, row["attempts"], row["retry_from"],
                                             done, self.retry, self._rng.random(),
                                             permanent=error is not None and error.permanent)
            await self._record(row, STATUS_AFTER[outcome], next_at,
                               None if error is None else error.reason)

    async def _record(self, row: asyncpg.Record, status: Status, next_at: datetime,
                      error: str | None) -> None:
        recorded = await self.store.record(row["id"], row["attempts"], status, next_at, error,
                                           self.clock.now())
        NOTIFICATIONS.labels(str(row["channel"]), LABEL[status]).inc()
        if not recorded:
            return
        extra = {"notification": row["id"], "kind": row["kind"], "channel": row["channel"],
                 "attempt": row["attempts"]}
        if status == "failed":
            log.warning("notification failed for good", extra={**extra, "error": error})
        elif status == "sent":
            log.info("notification sent", extra=extra)
