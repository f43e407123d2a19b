"""Composition of the postal service: shipments for postal filing and postal return of
results (Decision 45/2016/QĐ-TTg), and the couriers' signed webhook."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from services.postal.adapters.events_in import PostalEvents
from services.postal.api.routes import router
from services.postal.settings import Settings
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import INTAKE_TOPIC, POSTAL_TOPIC, PROCESSING_TOPIC
from shared.service import ConsumerContext, ConsumerSpec, create_service_app

CONSUMED = frozenset({"dossier.filed_by_post", "dossier.received", "dossier.transferred",
                      "dossier.resolved"})


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()

    def consumers(ctx: ConsumerContext) -> Sequence[ConsumerSpec]:
        return [ConsumerSpec(name="postal-shipments", topics=[INTAKE_TOPIC, PROCESSING_TOPIC],
                             handler=PostalEvents(ctx.emit), event_types=CONSUMED)]

    return create_service_app(
        settings,
        title="Một cửa — postal",
        description="Shipments for postal filing and postal return of results, and the "
                    "couriers' signed webhook.",
        routers=[router],
        sql_dir=Path(__file__).parent / "sql",
        produces=[POSTAL_TOPIC],
        consumers=consumers,
        clock=clock,
    )
