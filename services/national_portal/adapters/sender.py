"""The sender: one replica at a time (a leader lock) sends the pending dossiers in batches,
no faster than the rate limit, and pauses while the circuit breaker is open. A crash loses
nothing: what was not recorded as synced is pending still, and is sent again at its latest
version (the portal takes a dossier's code and version as the same document twice)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

import asyncpg

from services.national_portal.adapters.clients import IntakeClient, PortalClient, PortalUnavailable
from services.national_portal.domain.delivery import CircuitBreaker
from services.national_portal.service_layer.handlers import SyncHandlers
from shared.clock import Clock
from shared.leader import LeaderLoop
from shared.observability import (
    SYNC_BREAKER_OPEN,
    SYNC_OLDEST_PENDING,
    SYNC_PENDING,
    SYNC_REFUSED,
)
from shared.ratelimit import TokenBuckets

log = logging.getLogger(__name__)


class Sender(LeaderLoop):
    lock_key = "national-portal-sender"

    def __init__(self, pool: asyncpg.Pool, handlers: SyncHandlers, portal: PortalClient,
                 intake: IntakeClient, clock: Clock, *, batch_size: int, rate_per_s: float,
                 burst: int, breaker: CircuitBreaker, interval_s: float) -> None:
        super().__init__(pool, interval_s=interval_s)
        self.handlers, self.portal, self.intake, self.clock = handlers, portal, intake, clock
        self.batch_size, self.rate_per_s, self.burst = batch_size, rate_per_s, burst
        self.breaker = breaker
        self.buckets = TokenBuckets()
        self._ticks = 0

    async def spend(self, documents: int) -> None:
        """Wait until the rate limit allows ``documents`` more (each takes a token)."""
        taken = 0
        while taken < documents:
            wait = self.buckets.take("portal", self.rate_per_s, self.burst, time.monotonic())
            if wait:
                await asyncio.sleep(wait)  # the bucket refills with time, nothing to wait on
            else:
                taken += 1

    async def step(self) -> bool:
        self._ticks += 1
        if self._ticks % 5 == 1:
            await self.observe()
        now = self.clock.now()
        SYNC_BREAKER_OPEN.set(1 if self.breaker.state(now) == "open" else 0)
        if not self.breaker.may_send(now):
            return False
        try:
            sent = await self.handlers.send(self.portal, self.intake, self.batch_size, now,
                                            self.spend, max(1, min(self.batch_size, self.burst)))
        except PortalUnavailable as exc:
            self.breaker.failed(now)
            log.warning("national portal unavailable: %s", exc,
                        extra={"breaker": self.breaker.state(now)})
            return False
        if sent.taken:
            self.breaker.succeeded()
        return sent.taken == self.batch_size

    async def observe(self) -> None:
        backlog = await self.handlers.backlog()
        SYNC_PENDING.set(backlog["pending"])
        SYNC_REFUSED.set(backlog["refused"])
        oldest: datetime | None = backlog["oldest_pending"]
        SYNC_OLDEST_PENDING.set((self.clock.now() - oldest).total_seconds() if oldest else 0)
