"""The connector's consumer: every event of intake, processing and postal about a dossier
raises its version, a batch at a time inside the consumer's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.national_portal.service_layer.handlers import SyncHandlers
from services.national_portal.service_layer.unit_of_work import PostgresSyncUnitOfWork
from shared.clock import Clock
from shared.events import Envelope, EventData
from shared.outbox import OutboxWriter


class SyncConsumer:
    def __init__(self, handlers: SyncHandlers, outbox: OutboxWriter, clock: Clock) -> None:
        self.handlers, self.outbox, self.clock = handlers, outbox, clock

    async def __call__(self, conn: asyncpg.Connection,
                       events: Sequence[Envelope[EventData]]) -> None:
        await self.handlers.apply_events(PostgresSyncUnitOfWork.joining(conn, self.outbox),
                                         events, self.clock.now())
