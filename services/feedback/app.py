"""Composition of the feedback service: Citizen ratings, one per dossier."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.feedback.settings import Settings
from shared.events import FEEDBACK_TOPIC
from shared.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="Một cửa — feedback",
        description="Citizen ratings, one per dossier.",
        sql_dir=Path(__file__).parent / "sql",
        produces=[FEEDBACK_TOPIC],
    )
