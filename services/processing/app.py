"""The processing service's bootstrap: workflow state, officer actions, deadlines, apologies
and the deadline watchdog, wired explicitly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from services.processing.adapters.events_in import ProcessingConsumer
from services.processing.adapters.watchdog import DeadlineWatchdog
from services.processing.api.routes import router
from services.processing.service_layer.handlers import ProcessingHandlers
from services.processing.service_layer.unit_of_work import PostgresProcessingUnitOfWork
from services.processing.settings import Settings
from shared.app_factory import create_service_app
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import INTAKE_TOPIC, POSTAL_TOPIC, PROCESSING_TOPIC
from shared.lifespan import ServicePlan
from shared.outbox import OutboxWriter
from shared.rulebook import load_rulebook
from shared.runtime import ConsumerSpec, Runtime

CONSUMED_TYPES = frozenset({"dossier.received", "dossier.supplement_received",
                            "dossier.withdrawn", "dossier.result_returned"})


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()
    rulebook = load_rulebook(settings.rulebook_path)
    outbox = OutboxWriter(settings.db_schema, "processing", settings.topic_prefix)

    async def wire(runtime: Runtime) -> None:
        def unit_of_work() -> PostgresProcessingUnitOfWork:
            return PostgresProcessingUnitOfWork(runtime.pool, outbox)

        handlers = ProcessingHandlers(rulebook, unit_of_work, settings.status_lookup_url)
        watchdog = DeadlineWatchdog(runtime.pool, handlers, unit_of_work, clock,
                                    interval_s=settings.watchdog_interval_s,
                                    batch_size=settings.watchdog_batch_size)
        runtime.provide(handlers)
        runtime.provide(watchdog)
        runtime.spawn(watchdog.run(), "deadline-watchdog")

    def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
        consumer = ProcessingConsumer(runtime.component(ProcessingHandlers), outbox)
        return [ConsumerSpec(name="processing-workflow", topics=[INTAKE_TOPIC, POSTAL_TOPIC],
                             batch_handler=consumer, event_types=CONSUMED_TYPES)]

    async def stop_watchdog(runtime: Runtime) -> None:
        runtime.component(DeadlineWatchdog).stop()

    plan = ServicePlan(sql_dir=Path(__file__).parent / "sql", produces=[PROCESSING_TOPIC],
                       wire=[wire], consumers=consumers, on_stop=[stop_watchdog], clock=clock)
    return create_service_app(
        settings, plan, title="Một cửa — processing",
        description="Workflow state, officer actions, deadlines, apologies and the deadline "
                    "watchdog.",
        routers=[router])
