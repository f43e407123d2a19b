"""The national portal connector's bootstrap: every dossier and every step synced to the
national public-service portal, wired explicitly."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

import httpx
from fastapi import FastAPI

from services.national_portal.adapters.clients import IntakeClient, PortalClient
from services.national_portal.adapters.events_in import SyncConsumer
from services.national_portal.adapters.sender import Sender
from services.national_portal.api.routes import router
from services.national_portal.domain.delivery import CircuitBreaker
from services.national_portal.domain.documents import Documents, check_mapping
from services.national_portal.service_layer.handlers import Backoff, SyncHandlers
from services.national_portal.service_layer.unit_of_work import PostgresSyncUnitOfWork
from services.national_portal.settings import Settings
from shared.app_factory import create_service_app
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import INTAKE_TOPIC, NATIONAL_PORTAL_TOPIC, POSTAL_TOPIC, PROCESSING_TOPIC
from shared.lifespan import ServicePlan
from shared.outbox import OutboxWriter
from shared.rulebook import load_rulebook
from shared.runtime import ConsumerSpec, Runtime
from shared.status import Status

# The events that change what the national portal is told (the watchdog's are not).
CONSUMED = frozenset({
    "dossier.filed_by_post", "dossier.received", "dossier.accepted", "dossier.transferred",
    "dossier.supplement_requested", "dossier.supplement_received", "dossier.payment_requested",
    "dossier.paid", "dossier.apology_issued", "dossier.resolved", "dossier.rejected",
    "dossier.stopped", "dossier.withdrawn", "dossier.result_returned"})


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()
    rulebook = load_rulebook(settings.rulebook_path)
    check_mapping(rulebook, get_args(Status))
    outbox = OutboxWriter(settings.db_schema, "national_portal", settings.topic_prefix)
    http = httpx.AsyncClient(timeout=settings.portal_timeout_s)

    async def wire(runtime: Runtime) -> None:
        handlers = SyncHandlers(lambda: PostgresSyncUnitOfWork(runtime.pool, outbox),
                                Documents(rulebook, settings.national_filer),
                                Backoff(settings.backoff_base_s, settings.backoff_cap_s),
                                random.random)
        portal = PortalClient(http, settings.portal_url, settings.auth_path,
                              settings.integration_path, settings.portal_username,
                              settings.portal_password, rulebook.data.national_portal.madonvi)
        sender = Sender(runtime.pool, handlers, portal,
                        IntakeClient(http, settings.intake_url, settings.intake_key), clock,
                        batch_size=settings.batch_size, rate_per_s=settings.rate_per_s,
                        burst=settings.burst,
                        breaker=CircuitBreaker(settings.breaker_failures,
                                               settings.breaker_open_s),
                        interval_s=settings.interval_s)
        runtime.provide(handlers)
        runtime.provide(sender)
        runtime.spawn(sender.run(), "national-portal-sender")

    def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
        consumer = SyncConsumer(runtime.component(SyncHandlers), outbox, clock)
        return [ConsumerSpec(name="national-portal-sync",
                             topics=[INTAKE_TOPIC, PROCESSING_TOPIC, POSTAL_TOPIC],
                             batch_handler=consumer, event_types=CONSUMED)]

    async def stop(runtime: Runtime) -> None:
        runtime.component(Sender).stop()
        await http.aclose()

    plan = ServicePlan(sql_dir=Path(__file__).parent / "sql", produces=[NATIONAL_PORTAL_TOPIC],
                       wire=[wire], consumers=consumers, on_stop=[stop], clock=clock)
    return create_service_app(
        settings, plan, title="Một cửa — national_portal",
        description="Every dossier and every step synced to the national public-service "
                    "portal (Cổng Dịch vụ công quốc gia); refusals, resends and reconciliation.",
        routers=[router])
