"""Postal's consumer: a postal filing opens an inbound shipment; a result to be returned by
post opens an outbound one. A batch of events is applied by the service layer inside
the consumer's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.postal.service_layer.handlers import PostalHandlers
from services.postal.service_layer.unit_of_work import PostgresPostalUnitOfWork
from shared.events import Envelope, EventData
from shared.outbox import OutboxWriter


class PostalConsumer:
    def __init__(self, handlers: PostalHandlers, outbox: OutboxWriter) -> None:
        self.handlers = handlers
        self.outbox = outbox

    async def __call__(self, conn: asyncpg.Connection,
                       events: Sequence[Envelope[EventData]]) -> None:
        await self.handlers.apply_events(PostgresPostalUnitOfWork.joining(conn, self.outbox),
                                         events)
