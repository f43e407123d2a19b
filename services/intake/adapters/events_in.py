"""Intake's consumer: status and timeline of each dossier, fed by processing and postal, each
event applied by the service layer inside the consumer's transaction."""

from __future__ import annotations

import asyncpg

from services.intake.service_layer.handlers import IntakeHandlers
from services.intake.service_layer.unit_of_work import PostgresIntakeUnitOfWork
from shared.events import Envelope, EventData
from shared.outbox import OutboxWriter


class IntakeConsumer:
    def __init__(self, handlers: IntakeHandlers, outbox: OutboxWriter) -> None:
        self.handlers = handlers
        self.outbox = outbox

    async def __call__(self, conn: asyncpg.Connection, env: Envelope[EventData]) -> None:
        await self.handlers.apply_event(PostgresIntakeUnitOfWork.joining(conn, self.outbox), env)
