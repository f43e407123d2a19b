"""The intake service's bootstrap: dossiers as filed, the catalog, receipts, supplements and
withdrawals; status and timeline fed by the other services' events. Wired explicitly."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.intake.adapters.events_in import IntakeConsumer
from services.intake.adapters.repository import PortalKeys, load_catalog, sync_bootstrap_keys
from services.intake.adapters.webhooks import WebhookSender, WebhookStore
from services.intake.api.routes import router
from services.intake.api.webhook_routes import router as webhook_router
from services.intake.service_layer.handlers import IntakeHandlers
from services.intake.service_layer.portal_access import PortalAccess
from services.intake.service_layer.unit_of_work import PostgresIntakeUnitOfWork
from services.intake.service_layer.webhooks import WebhookHandlers
from services.intake.settings import Settings
from shared.app_factory import create_service_app
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import INTAKE_TOPIC, POSTAL_TOPIC, PROCESSING_TOPIC
from shared.lifespan import ServicePlan
from shared.notifications.wiring import OwnedNotificationSender, notification_sender
from shared.outbox import OutboxWriter
from shared.retry import Retry
from shared.rulebook import load_rulebook
from shared.runtime import ConsumerSpec, Runtime

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()
    rulebook = load_rulebook(settings.rulebook_path)
    outbox = OutboxWriter(settings.db_schema, "intake", settings.topic_prefix)

    async def prepare(runtime: Runtime) -> None:
        async with runtime.pool.acquire() as conn:
            if await load_catalog(conn, rulebook):
                log.info("catalog loaded", extra={"version": rulebook.version,
                                                  "units": len(rulebook.units),
                                                  "procedures": len(rulebook.procedures)})
            revoked = await sync_bootstrap_keys(conn, settings.bootstrap_keys())
            if revoked:
                log.warning("revoked start-up keys no longer listed in INTAKE_PORTAL_KEYS",
                            extra={"revoked": revoked})

    async def wire(runtime: Runtime) -> None:
        runtime.provide(IntakeHandlers(
            rulebook, lambda: PostgresIntakeUnitOfWork(runtime.pool, outbox),
            settings.pin_pepper, settings.status_lookup_url))
        runtime.provide(PortalAccess(PortalKeys(runtime.pool, settings.portal_key_cache_s),
                                     rate_per_s=settings.portal_rate_per_s,
                                     burst=settings.portal_burst))
        production = settings.env == "production"
        runtime.provide(WebhookHandlers(WebhookStore(runtime.pool), production=production))
        retry = Retry(settings.webhook_retry_base_s, settings.webhook_retry_cap_s,
                      timedelta(seconds=settings.webhook_give_up_s))
        http = httpx.AsyncClient(timeout=settings.webhook_timeout_s, follow_redirects=False)
        sender = WebhookSender(
            runtime.pool, http, clock, retry, interval_s=settings.webhook_interval_s,
            batch_size=settings.webhook_batch_size, timeout_s=settings.webhook_timeout_s,
            production=production)
        runtime.provide(sender)
        runtime.spawn(sender.run(), "webhook-sender")
        notifier = notification_sender(settings, runtime.pool, clock)
        runtime.provide(notifier)
        runtime.spawn(notifier.run(), "notification-sender")

    async def stop_sender(runtime: Runtime) -> None:
        sender = runtime.component(WebhookSender)
        sender.stop()
        await sender.http.aclose()
        await runtime.component(OwnedNotificationSender).close()

    def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
        consumer = IntakeConsumer(runtime.component(IntakeHandlers), outbox)
        return [ConsumerSpec(name="intake-status", topics=[PROCESSING_TOPIC, POSTAL_TOPIC],
                             handler=consumer)]

    plan = ServicePlan(sql_dir=Path(__file__).parent / "sql", produces=[INTAKE_TOPIC],
                       wire=[prepare, wire], consumers=consumers, on_stop=[stop_sender],
                       clock=clock)
    return create_service_app(
        settings, plan, title="Một cửa — intake",
        description="Dossiers as filed, the catalog of units and procedures, receipts, "
                    "supplements and withdrawals.",
        routers=[router, webhook_router])
