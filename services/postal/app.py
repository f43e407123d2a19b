"""Composition of the postal service: shipments for postal filing and postal return of
results (Decision 45/2016/QĐ-TTg), and the couriers' signed webhook."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from services.postal.adapters.events_in import PostalConsumer
from services.postal.api.routes import router
from services.postal.service_layer.handlers import PostalHandlers
from services.postal.service_layer.unit_of_work import PostgresPostalUnitOfWork
from services.postal.settings import Settings
from shared.app_factory import create_service_app
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import INTAKE_TOPIC, POSTAL_TOPIC, PROCESSING_TOPIC
from shared.lifespan import ServicePlan
from shared.outbox import OutboxWriter
from shared.runtime import ConsumerSpec, Runtime

CONSUMED = frozenset({"dossier.filed_by_post", "dossier.received", "dossier.transferred",
                      "dossier.resolved"})


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()
    outbox = OutboxWriter(settings.db_schema, "postal", settings.topic_prefix)

    async def wire(runtime: Runtime) -> None:
        runtime.provide(PostalHandlers(lambda: PostgresPostalUnitOfWork(runtime.pool, outbox),
                                       settings.max_delivery_attempts))

    def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
        consumer = PostalConsumer(runtime.component(PostalHandlers), outbox)
        return [ConsumerSpec(name="postal-shipments", topics=[INTAKE_TOPIC, PROCESSING_TOPIC],
                             batch_handler=consumer, event_types=CONSUMED)]

    plan = ServicePlan(sql_dir=Path(__file__).parent / "sql", produces=[POSTAL_TOPIC],
                       wire=[wire], consumers=consumers, clock=clock)
    return create_service_app(
        settings, plan, title="Một cửa — postal",
        description="Shipments for postal filing and postal return of results, and the "
                    "couriers' signed webhook.",
        routers=[router])
