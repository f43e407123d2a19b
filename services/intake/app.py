"""Composition of the intake service: Dossiers as filed, the catalog, receipts, supplements and withdrawals."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake.settings import Settings
from shared.events import INTAKE_TOPIC
from shared.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="Một cửa — intake",
        description="Dossiers as filed, the catalog, receipts, supplements and withdrawals.",
        sql_dir=Path(__file__).parent / "sql",
        produces=[INTAKE_TOPIC],
    )
