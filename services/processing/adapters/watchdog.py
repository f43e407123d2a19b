"""The deadline watchdog (docs/rules/lifecycle.md): ``dossier.due_soon`` when the apology
deadline's day opens and the dossier is unresolved, ``dossier.overdue`` when ``due_at``
passes, ``dossier.stuck`` when an open dossier has had no step for the rulebook's working
days (once per spell; the next step sends ``dossier.unstuck``).

Exactly once per dossier: the sent-flag is set in the same transaction as the outbox
write, and rows are claimed with ``FOR UPDATE SKIP LOCKED``. One replica at a time scans
(a leader lock), which keeps the work from being done twice; the flags alone would keep
the events from being sent twice. Restarts resume from the flags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg

from services.processing.service_layer.handlers import ProcessingHandlers
from services.processing.service_layer.unit_of_work import ProcessingUnitOfWork
from shared.clock import Clock
from shared.leader import LeaderLoop
from shared.observability import PAST_APOLOGY_DEADLINE, STUCK_DOSSIERS, WATCHDOG_EVENTS

log = logging.getLogger(__name__)


class DeadlineWatchdog(LeaderLoop):
    lock_key = "processing-deadline-watchdog"

    def __init__(self, pool: asyncpg.Pool, handlers: ProcessingHandlers,
                 unit_of_work: Callable[[], ProcessingUnitOfWork], clock: Clock, *,
                 interval_s: float = 5.0, batch_size: int = 200) -> None:
        super().__init__(pool, interval_s=interval_s)
        self.handlers = handlers
        self.unit_of_work = unit_of_work
        self.batch_size = batch_size
        self.clock = clock
        self._ticks = 0

    async def step(self) -> bool:
        busy = await self.tick() >= self.batch_size
        self._ticks += 1
        if self._ticks % 6 == 1:
            await self.observe()
        return busy

    async def on_term_end(self, conn: asyncpg.Connection) -> None:
        PAST_APOLOGY_DEADLINE.clear()  # the next leader reports them
        STUCK_DOSSIERS.clear()

    async def observe(self) -> None:
        """Per unit: unresolved dossiers past their apology deadline with no apology, and
        stuck dossiers."""
        counts = await self.handlers.past_apology_deadline(self.clock.now())
        PAST_APOLOGY_DEADLINE.clear()
        for unit, n in counts.items():
            PAST_APOLOGY_DEADLINE.labels(unit).set(n)
        stuck = await self.handlers.stuck_counts()
        STUCK_DOSSIERS.clear()
        for unit, n in stuck.items():
            STUCK_DOSSIERS.labels(unit).set(n)

    async def tick(self) -> int:
        """One pass of each watch; the most either looked at (a full batch: go on at once)."""
        now = self.clock.now()
        deadlines, sent = await self.handlers.watch_deadlines(self.unit_of_work(), now,
                                                              self.batch_size)
        stuck, flagged = await self.handlers.watch_stuck(self.unit_of_work(), now,
                                                         self.batch_size)
        for event in sent + flagged:
            WATCHDOG_EVENTS.labels(event.event_type).inc()
        return max(deadlines, stuck)
