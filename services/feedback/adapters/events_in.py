"""Feedback's consumer: which dossiers exist, at which unit, and whether they are finished,
a batch of events applied by the service layer inside the consumer's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.feedback.service_layer.handlers import FeedbackHandlers
from services.feedback.service_layer.unit_of_work import PostgresFeedbackUnitOfWork
from shared.events import Envelope, EventData
from shared.outbox import OutboxWriter


class FeedbackConsumer:
    def __init__(self, handlers: FeedbackHandlers, outbox: OutboxWriter) -> None:
        self.handlers = handlers
        self.outbox = outbox

    async def __call__(self, conn: asyncpg.Connection,
                       events: Sequence[Envelope[EventData]]) -> None:
        await self.handlers.apply_events(
            PostgresFeedbackUnitOfWork.joining(conn, self.outbox), events)
