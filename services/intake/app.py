"""Composition of the intake service: dossiers as filed, the catalog, receipts,
supplements and withdrawals; status and timeline fed by the other services' events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from services.intake.adapters.events_in import IntakeEvents
from services.intake.adapters.repository import load_catalog, sync_bootstrap_keys
from services.intake.api.routes import router
from services.intake.settings import Settings
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import INTAKE_TOPIC, POSTAL_TOPIC, PROCESSING_TOPIC
from shared.rulebook import load_rulebook
from shared.service import ConsumerContext, ConsumerSpec, Runtime, create_service_app

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()

    rulebook = load_rulebook(settings.rulebook_path)

    def consumers(ctx: ConsumerContext) -> Sequence[ConsumerSpec]:
        return [ConsumerSpec(name="intake-status", topics=[PROCESSING_TOPIC, POSTAL_TOPIC],
                             handler=IntakeEvents(rulebook, ctx.emit))]

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

    return create_service_app(
        settings,
        title="Một cửa — intake",
        description="Dossiers as filed, the catalog of units and procedures, receipts, "
                    "supplements and withdrawals.",
        routers=[router],
        sql_dir=Path(__file__).parent / "sql",
        produces=[INTAKE_TOPIC],
        consumers=consumers,
        on_start=[prepare],
        clock=clock,
    )
