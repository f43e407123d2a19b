"""Composition of the metrics service: per-dossier facts folded from all four topics,
figures per unit, procedure and block, the live stream, Prometheus gauges and the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.metrics.adapters.events_in import MetricsEvents
from services.metrics.adapters.live import COLLECTOR, LiveHub
from services.metrics.adapters.reader import MetricsReader
from services.metrics.api.routes import router
from services.metrics.settings import Settings
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import ALL_DOSSIER_TOPICS, METRICS_TOPIC
from shared.rulebook import load_rulebook
from shared.service import ConsumerContext, ConsumerSpec, Runtime, create_service_app

_registered = False


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    global _registered
    settings = settings or Settings()
    rulebook = load_rulebook(settings.rulebook_path)
    if not _registered:
        REGISTRY.register(COLLECTOR)
        _registered = True

    def consumers(_: ConsumerContext) -> Sequence[ConsumerSpec]:
        return [ConsumerSpec(name="metrics-facts", topics=list(ALL_DOSSIER_TOPICS),
                             batch_handler=MetricsEvents(rulebook))]

    async def start_live(runtime: Runtime) -> None:
        reader = MetricsReader(runtime.pool, rulebook)
        hub = LiveHub(reader, interval_s=settings.live_interval_s,
                      full_refresh_s=settings.live_full_refresh_s, clock=clock)
        runtime.extras.update(reader=reader, hub=hub)
        COLLECTOR.hub = hub
        runtime.spawn(hub.run(), "live-figures")

    async def stop_live(runtime: Runtime) -> None:
        runtime.extras["hub"].stop()

    return create_service_app(
        settings,
        title="Một cửa — metrics",
        description="Live on-time rates, apology discipline and satisfaction per unit.",
        routers=[router],
        sql_dir=Path(__file__).parent / "sql",
        produces=[METRICS_TOPIC],
        consumers=consumers,
        on_start=[start_live],
        on_stop=[stop_live],
        clock=clock,
    )
