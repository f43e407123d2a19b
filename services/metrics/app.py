"""The metrics service's bootstrap: per-dossier facts folded from all four topics, figures
per unit, procedure and block, the live stream, Prometheus gauges and the dashboard, wired
explicitly."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.metrics.adapters import store
from services.metrics.adapters.events_in import MetricsConsumer
from services.metrics.adapters.judged_cache import JudgedCache
from services.metrics.adapters.live import LiveHub, UnitFiguresCollector
from services.metrics.adapters.reader import MetricsReader
from services.metrics.api.export_routes import router as export_router
from services.metrics.api.index766_routes import router as index766_router
from services.metrics.api.routes import router
from services.metrics.service_layer.index766 import Index766
from services.metrics.settings import Settings
from shared.app_factory import create_service_app
from shared.clock import SYSTEM_CLOCK, Clock
from shared.events import ALL_DOSSIER_TOPICS, METRICS_TOPIC
from shared.lifespan import ServicePlan
from shared.rulebook import load_rulebook
from shared.runtime import ConsumerSpec, Runtime

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    settings = settings or Settings()
    rulebook = load_rulebook(settings.rulebook_path)

    async def wire(runtime: Runtime) -> None:
        # Facts folded before the per-day counts existed are counted once, before the
        # consumer starts (a no-op on every later start).
        async with runtime.pool.acquire() as conn:
            tallied = await store.tally_untallied(conn)
        if tallied:
            log.info("facts counted into the per-day counts", extra={"facts": tallied})
        cache: JudgedCache[object] = JudgedCache(
            max_entries=settings.judged_cache_entries,
            max_age_s=settings.judged_cache_max_age_s)
        reader = MetricsReader(runtime.pool, rulebook, cache=cache, clock=clock)
        index = Index766(runtime.pool, rulebook)
        hub = LiveHub(reader, interval_s=settings.live_interval_s,
                      full_refresh_s=settings.live_full_refresh_s, clock=clock, index=index,
                      index_interval_s=settings.live_index_interval_s)
        collector = UnitFiguresCollector(hub)
        REGISTRY.register(collector)  # this process's gauges, until the service stops
        for component in (reader, hub, collector, index):
            runtime.provide(component)
        runtime.spawn(hub.run(), "live-figures")

    def consumers(_: Runtime) -> Sequence[ConsumerSpec]:
        return [ConsumerSpec(name="metrics-facts", topics=list(ALL_DOSSIER_TOPICS),
                             batch_handler=MetricsConsumer(rulebook),
                             event_types=MetricsConsumer.event_types, aligned=True)]

    async def stop_live(runtime: Runtime) -> None:
        runtime.component(LiveHub).stop()
        REGISTRY.unregister(runtime.component(UnitFiguresCollector))

    plan = ServicePlan(sql_dir=Path(__file__).parent / "sql", produces=[METRICS_TOPIC],
                       wire=[wire], consumers=consumers, on_stop=[stop_live], clock=clock)
    return create_service_app(
        settings, plan, title="Một cửa — metrics",
        description="Live on-time rates, apology discipline and satisfaction per unit.",
        routers=[router, index766_router, export_router])
