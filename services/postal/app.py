"""Composition of the postal service: shipments for postal filing and postal return of
results (Decision 45/2016/QĐ-TTg)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.postal.settings import Settings
from shared.events import POSTAL_TOPIC
from shared.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="Một cửa — postal",
        description="Shipments for postal filing and postal return of results (Decision 45/2016/QĐ-TTg).",
        sql_dir=Path(__file__).parent / "sql",
        produces=[POSTAL_TOPIC],
    )
