"""Processing's consumer: new dossiers from intake, supplements, withdrawals, and results
handed to the courier (postal), each applied by the service layer inside the consumer's
transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.processing.service_layer.handlers import ProcessingHandlers
from services.processing.service_layer.unit_of_work import PostgresProcessingUnitOfWork
from shared.events import Envelope, EventData
from shared.outbox import OutboxWriter


class ProcessingConsumer:
    def __init__(self, handlers: ProcessingHandlers, outbox: OutboxWriter) -> None:
        self.handlers = handlers
        self.outbox = outbox

    async def __call__(self, conn: asyncpg.Connection,
                       events: Sequence[Envelope[EventData]]) -> None:
        uow = PostgresProcessingUnitOfWork.joining(conn, self.outbox)
        await self.handlers.apply_events(uow, events)
