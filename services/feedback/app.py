"""The feedback service's bootstrap: citizen ratings, one per dossier, and complaints, wired
explicitly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from services.feedback.adapters.events_in import FeedbackConsumer
from services.feedback.adapters.watchdog import ComplaintWatchdog
from services.feedback.api.complaint_routes import router as complaint_router
from services.feedback.api.routes import router
from services.feedback.domain.rating import FINISHING_EVENTS
from services.feedback.service_layer.complaints import ComplaintHandlers
from services.feedback.service_layer.handlers import FeedbackHandlers
from services.feedback.service_layer.unit_of_work import PostgresFeedbackUnitOfWork
from services.feedback.settings import Settings
from shared.app_factory import create_service_app
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import (
    COMPLAINTS_TOPIC,
    FEEDBACK_TOPIC,
    INTAKE_TOPIC,
    POSTAL_TOPIC,
    PROCESSING_TOPIC,
)
from shared.lifespan import ServicePlan
from shared.notifications.wiring import OwnedNotificationSender, notification_sender
from shared.outbox import OutboxWriter
from shared.portal_keys import ConfiguredKeys
from shared.rulebook import load_rulebook
from shared.runtime import ConsumerSpec, Runtime

CONSUMED = frozenset({"dossier.received", "dossier.transferred", *FINISHING_EVENTS})


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()
    rulebook = load_rulebook(settings.rulebook_path)
    outbox = OutboxWriter(settings.db_schema, "feedback", settings.topic_prefix)

    async def wire(runtime: Runtime) -> None:
        def unit_of_work() -> PostgresFeedbackUnitOfWork:
            return PostgresFeedbackUnitOfWork(runtime.pool, outbox)
        runtime.provide(FeedbackHandlers(unit_of_work, settings.guessing_policy(),
                                         settings.pin_pepper, clock.now))
        complaints = ComplaintHandlers(unit_of_work, rulebook,
                                       settings.complaint_policy(rulebook),
                                       settings.guessing_policy(), settings.pin_pepper, clock.now)
        runtime.provide(complaints)
        runtime.provide(ConfiguredKeys(settings.complaint_keys()))
        watchdog = ComplaintWatchdog(runtime.pool, complaints, clock,
                                     interval_s=settings.complaint_watch_interval_s)
        runtime.provide(watchdog)
        runtime.spawn(watchdog.run(), "complaint-watchdog")
        notifier = notification_sender(settings, runtime.pool, clock)
        runtime.provide(notifier)
        runtime.spawn(notifier.run(), "notification-sender")

    async def stop_watchdog(runtime: Runtime) -> None:
        runtime.component(ComplaintWatchdog).stop()
        await runtime.component(OwnedNotificationSender).close()

    def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
        consumer = FeedbackConsumer(runtime.component(FeedbackHandlers), outbox)
        return [ConsumerSpec(name="feedback-dossiers",
                             topics=[INTAKE_TOPIC, PROCESSING_TOPIC, POSTAL_TOPIC],
                             batch_handler=consumer, event_types=CONSUMED)]

    plan = ServicePlan(sql_dir=Path(__file__).parent / "sql",
                       produces=[FEEDBACK_TOPIC, COMPLAINTS_TOPIC], wire=[wire],
                       consumers=consumers, on_stop=[stop_watchdog], clock=clock)
    return create_service_app(
        settings, plan, title="Một cửa — feedback",
        description="Citizen ratings (one per dossier, authenticated by the receipt's PIN) and "
                    "complaints (phản ánh, kiến nghị) with their deadlines and published "
                    "answers.",
        routers=[router, complaint_router])
