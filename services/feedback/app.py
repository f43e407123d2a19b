"""The feedback service's bootstrap: citizen ratings, one per dossier, wired explicitly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from services.feedback.adapters.events_in import FeedbackConsumer
from services.feedback.api.routes import router
from services.feedback.domain.rating import FINISHING_EVENTS
from services.feedback.service_layer.handlers import FeedbackHandlers
from services.feedback.service_layer.unit_of_work import PostgresFeedbackUnitOfWork
from services.feedback.settings import Settings
from shared.app_factory import create_service_app
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import FEEDBACK_TOPIC, INTAKE_TOPIC, POSTAL_TOPIC, PROCESSING_TOPIC
from shared.lifespan import ServicePlan
from shared.outbox import OutboxWriter
from shared.runtime import ConsumerSpec, Runtime

CONSUMED = frozenset({"dossier.received", "dossier.transferred", *FINISHING_EVENTS})


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()
    outbox = OutboxWriter(settings.db_schema, "feedback", settings.topic_prefix)

    async def wire(runtime: Runtime) -> None:
        runtime.provide(FeedbackHandlers(
            lambda: PostgresFeedbackUnitOfWork(runtime.pool, outbox), settings.guessing_policy(),
            settings.pin_pepper, clock.now))

    def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
        consumer = FeedbackConsumer(runtime.component(FeedbackHandlers), outbox)
        return [ConsumerSpec(name="feedback-dossiers",
                             topics=[INTAKE_TOPIC, PROCESSING_TOPIC, POSTAL_TOPIC],
                             handler=consumer, event_types=CONSUMED)]

    plan = ServicePlan(sql_dir=Path(__file__).parent / "sql", produces=[FEEDBACK_TOPIC],
                       wire=[wire], consumers=consumers, clock=clock)
    return create_service_app(
        settings, plan, title="Một cửa — feedback",
        description="Citizen ratings: one per dossier, authenticated by the receipt's PIN.",
        routers=[router])
