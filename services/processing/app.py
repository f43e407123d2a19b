"""Composition of the processing service: Workflow state, officer actions, deadlines, apologies and the deadline watchdog."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.processing.settings import Settings
from shared.events import PROCESSING_TOPIC
from shared.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="Một cửa — processing",
        description="Workflow state, officer actions, deadlines, apologies and the deadline watchdog.",
        sql_dir=Path(__file__).parent / "sql",
        produces=[PROCESSING_TOPIC],
    )
