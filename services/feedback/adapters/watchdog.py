"""The complaints' deadline watch: ``complaint.overdue`` when the answer, or its publication,
falls due unmet. One replica at a time (a leader lock); once per step, because the flag is
saved in the same transaction as the outbox row, and rows are claimed with SKIP LOCKED."""

from __future__ import annotations

import asyncpg

from services.feedback.service_layer.complaints import ComplaintHandlers
from shared.clock import Clock
from shared.leader import LeaderLoop
from shared.observability import WATCHDOG_EVENTS


class ComplaintWatchdog(LeaderLoop):
    lock_key = "feedback-complaint-watchdog"

    def __init__(self, pool: asyncpg.Pool, handlers: ComplaintHandlers, clock: Clock, *,
                 interval_s: float = 5.0, batch_size: int = 200) -> None:
        super().__init__(pool, interval_s=interval_s)
        self.handlers = handlers
        self.clock = clock
        self.batch_size = batch_size

    async def step(self) -> bool:
        flagged = await self.handlers.watch_overdue(self.clock.now(), self.batch_size)
        for event in flagged:
            WATCHDOG_EVENTS.labels(event.event_type).inc()
        return len(flagged) >= self.batch_size
