"""Composition of the processing service: workflow state, officer actions, deadlines,
apologies and the deadline watchdog."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.processing.adapters.events_in import ProcessingEvents
from services.processing.adapters.watchdog import DeadlineWatchdog
from services.processing.api.routes import router
from services.processing.settings import Settings
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import INTAKE_TOPIC, POSTAL_TOPIC, PROCESSING_TOPIC
from shared.rulebook import load_rulebook
from shared.service import ConsumerSpec, Runtime, create_service_app

CONSUMED_TYPES = frozenset({"dossier.received", "dossier.supplement_received",
                            "dossier.withdrawn", "dossier.result_returned"})


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()
    rulebook = load_rulebook(settings.rulebook_path)

    def consumers(_: Any) -> Sequence[ConsumerSpec]:
        return [ConsumerSpec(name="processing-workflow", topics=[INTAKE_TOPIC, POSTAL_TOPIC],
                             handler=ProcessingEvents(rulebook), event_types=CONSUMED_TYPES)]

    async def start_watchdog(runtime: Runtime) -> None:
        watchdog = DeadlineWatchdog(runtime.pool, runtime.emit,
                                    interval_s=settings.watchdog_interval_s,
                                    batch_size=settings.watchdog_batch_size,
                                    clock=runtime.clock.now)
        runtime.extras["watchdog"] = watchdog
        runtime.spawn(watchdog.run(), "deadline-watchdog")

    async def stop_watchdog(runtime: Runtime) -> None:
        runtime.extras["watchdog"].stop()

    return create_service_app(
        settings,
        title="Một cửa — processing",
        description="Workflow state, officer actions, deadlines, apologies and the deadline "
                    "watchdog.",
        routers=[router],
        sql_dir=Path(__file__).parent / "sql",
        produces=[PROCESSING_TOPIC],
        consumers=consumers,
        on_start=[start_watchdog],
        on_stop=[stop_watchdog],
        clock=clock,
    )
