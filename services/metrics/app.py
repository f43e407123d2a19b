"""Composition of the metrics service: Live on-time rates, apology discipline and satisfaction per unit."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.metrics.settings import Settings
from shared.events import METRICS_TOPIC
from shared.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="Một cửa — metrics",
        description="Live on-time rates, apology discipline and satisfaction per unit.",
        sql_dir=Path(__file__).parent / "sql",
        produces=[METRICS_TOPIC],
    )
