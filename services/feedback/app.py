"""Composition of the feedback service: citizen ratings, one per dossier."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.feedback.adapters.events_in import apply_event
from services.feedback.api.routes import router
from services.feedback.domain.rating import FINISHING_EVENTS
from services.feedback.settings import Settings
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import FEEDBACK_TOPIC, INTAKE_TOPIC, POSTAL_TOPIC, PROCESSING_TOPIC
from shared.service import ConsumerSpec, create_service_app

CONSUMED = frozenset({"dossier.received", "dossier.transferred", *FINISHING_EVENTS})


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()

    def consumers(_: Any) -> Sequence[ConsumerSpec]:
        return [ConsumerSpec(name="feedback-dossiers",
                             topics=[INTAKE_TOPIC, PROCESSING_TOPIC, POSTAL_TOPIC],
                             handler=apply_event, event_types=CONSUMED)]

    return create_service_app(
        settings,
        title="Một cửa — feedback",
        description="Citizen ratings: one per dossier, authenticated by the receipt's PIN.",
        routers=[router],
        sql_dir=Path(__file__).parent / "sql",
        produces=[FEEDBACK_TOPIC],
        consumers=consumers,
        clock=clock,
    )
