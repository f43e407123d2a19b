"""The deadline watchdog (SPEC §4): ``dossier.due_soon`` when the apology deadline's day
opens and the dossier is unresolved, ``dossier.overdue`` when ``due_at`` passes.

Exactly once per dossier: the sent-flag is set in the same transaction as the outbox
write, and rows are claimed with ``FOR UPDATE SKIP LOCKED``. One replica at a time scans
(a leader lock), which keeps the work from being done twice; the flags alone would keep
the events from being sent twice. Restarts resume from the flags.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.processing.adapters import repository as repo
from services.processing.domain.workflow import CLOCK_RUNNING, DOSSIER_FIELDS, UNRESOLVED, Dossier
from shared.clock import SYSTEM_CLOCK
from shared.events import Envelope, EventData
from shared.leader import LeaderLoop
from shared.observability import PAST_APOLOGY_DEADLINE, WATCHDOG_EVENTS

log = logging.getLogger(__name__)
Emit = Callable[[asyncpg.Connection, Sequence[Envelope[Any]]], Awaitable[None]]


class DeadlineWatchdog(LeaderLoop):
    lock_key = "processing-deadline-watchdog"

    def __init__(self, pool: asyncpg.Pool, emit: Emit, *, interval_s: float = 5.0,
                 batch_size: int = 200, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(pool, interval_s=interval_s)
        self.emit = emit
        self.batch_size = batch_size
        self.clock = clock or SYSTEM_CLOCK.now
        self._ticks = 0

    async def step(self) -> bool:
        busy = await self.tick() >= self.batch_size
        self._ticks += 1
        if self._ticks % 6 == 1:
            await self.observe()
        return busy

    async def on_term_end(self, conn: asyncpg.Connection) -> None:
        PAST_APOLOGY_DEADLINE.clear()  # the next leader reports it

    async def observe(self) -> None:
        """Per unit: unresolved dossiers past their apology deadline with no apology."""
        rows = await self.pool.fetch(
            """SELECT unit_code, count(*) AS n FROM dossiers
               WHERE state = ANY($1::text[]) AND apology_count = 0 AND apology_deadline < $2
               GROUP BY unit_code""", sorted(UNRESOLVED), self.clock())
        PAST_APOLOGY_DEADLINE.clear()
        for r in rows:
            PAST_APOLOGY_DEADLINE.labels(r["unit_code"]).set(r["n"])

    async def tick(self) -> int:
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"""SELECT {", ".join(DOSSIER_FIELDS)} FROM dossiers
                    WHERE state = ANY($1::text[])
                      AND ((due_soon_sent_at IS NULL AND due_soon_at <= $2)
                        OR (overdue_sent_at IS NULL AND due_at < $2))
                    ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED""",
                sorted(CLOCK_RUNNING), now, self.batch_size)
            envelopes: list[Envelope[EventData]] = []
            for row in rows:
                d = Dossier(**{k: row[k] for k in DOSSIER_FIELDS})
                events = d.due_soon(now) + d.overdue(now)
                if events:
                    await repo.save(conn, d)
                    envelopes += [Envelope(source="processing", data=e) for e in events]
            await self.emit(conn, envelopes)
        for env in envelopes:
            WATCHDOG_EVENTS.labels(env.type).inc()
        return len(rows)
