"""The life of a service process, the same for all five: open the pool and migrate, build
the outbox relay, let the service wire its components, start its consumers and background
tasks; at the end stop taking events, run the stop hooks, flush the outbox and close."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from shared.audit import AuditWriter
from shared.clock import SYSTEM_CLOCK, Clock
from shared.collector import settle_after_start_up
from shared.consumer import EventConsumer
from shared.db import create_pool
from shared.health import watch_dependencies
from shared.kafka import ensure_topics, make_producer
from shared.logging import configure_logging
from shared.migrations import migrate_service
from shared.outbox import OutboxRelay
from shared.runtime import ConsumerSpec, Runtime
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

Hook = Callable[[Runtime], Awaitable[None]]


@dataclass(frozen=True)
class ServicePlan:
    """What a service's bootstrap tells the lifespan: its SQL, the topics it writes, and how
    to wire it once the pool exists.

    ``wire`` runs first (build handlers, caches, background loops; provide them on the
    runtime; spawn tasks); ``consumers`` then names the consumer groups, whose handlers may
    use what ``wire`` built; ``on_stop`` runs before the outbox is flushed."""

    sql_dir: Path | None = None
    produces: Sequence[str] = ()
    wire: Sequence[Hook] = ()
    consumers: Callable[[Runtime], Sequence[ConsumerSpec]] | None = None
    on_stop: Sequence[Hook] = ()
    clock: Clock = field(default=SYSTEM_CLOCK)


def service_lifespan(settings: ServiceSettings,
                     plan: ServicePlan) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        pool = await create_pool(settings.database_url, settings.db_schema,
                                 min_size=settings.database_pool_min,
                                 max_size=settings.database_pool_max,
                                 timeouts=settings.db_timeouts())
        await migrate_service(pool, settings.db_schema, plan.sql_dir)
        producer = make_producer(settings.kafka_bootstrap,
                                 client_id=f"{settings.service_name}-outbox")
        relay = OutboxRelay(pool, settings.db_schema, producer,
                            batch_size=settings.outbox_batch_size,
                            poll_interval_s=settings.outbox_poll_interval_s,
                            retention_hours=settings.outbox_retention_hours,
                            linger_s=settings.outbox_linger_ms / 1000)
        runtime = Runtime(settings=settings, pool=pool, producer=producer, relay=relay,
                          clock=plan.clock)
        runtime.provide(AuditWriter(pool))  # the routes' audit records, group-committed
        specs = await _start(runtime, plan)
        app.state.runtime = runtime
        settle_after_start_up(settings.gc_thresholds)  # what start-up built is never walked
        log.info("service started", extra={"port": settings.port,
                                           "consumers": [s.name for s in specs]})
        try:
            yield
        finally:
            await _stop(runtime, plan)
            log.info("service stopped")

    return lifespan


async def _start(runtime: Runtime, plan: ServicePlan) -> list[ConsumerSpec]:
    settings, prefix = runtime.settings, runtime.settings.topic_prefix
    for hook in plan.wire:
        await hook(runtime)
    specs = list(plan.consumers(runtime) if plan.consumers else [])
    topics = {prefix + t for t in plan.produces} | {prefix + t for s in specs for t in s.topics}
    await ensure_topics(settings.kafka_bootstrap, topics, partitions=settings.topic_partitions,
                        replication=settings.topic_replication)
    await runtime.producer.start()
    runtime.spawn(runtime.relay.run(), "outbox-relay")
    for spec in specs:
        consumer = EventConsumer(
            pool=runtime.pool, schema=settings.db_schema, name=spec.name,
            group_id=prefix + spec.name,  # environments sharing a broker stay apart
            topics=[prefix + t for t in spec.topics],
            bootstrap=settings.kafka_bootstrap, handler=spec.handler,
            batch_handler=spec.batch_handler, batch_size=settings.consumer_batch_size,
            event_types=spec.event_types, aligned=spec.aligned,
            fetch_min_bytes=settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        )
        await consumer.start()
        runtime.consumers.append(consumer)
        runtime.spawn(consumer.run(), f"consumer-{spec.name}")
    runtime.spawn(watch_dependencies(runtime), "dependency-checks")
    return specs


async def _stop(runtime: Runtime, plan: ServicePlan) -> None:
    """Graceful order: stop taking events, run stop hooks, flush the outbox, close. Every
    step is bounded, so SIGTERM ends the process within a minute or so even when a broker or
    a query does not answer: nothing is lost by leaving early (the outbox keeps what was not
    published, the broker keeps what was not committed)."""
    await _bounded(asyncio.gather(*(c.stop() for c in runtime.consumers)), 30,
                   "the consumers' stop")
    for hook in plan.on_stop:
        await _bounded(hook(runtime), 10, "a stop hook")
    runtime.relay.stop()
    for task in runtime.tasks:
        if task.get_name() == "outbox-relay":
            await _bounded(task, 10, "the outbox relay's last flush")
    for task in runtime.tasks:
        if not task.done():
            task.cancel()
    await _bounded(asyncio.gather(*runtime.tasks, return_exceptions=True), 10,
                   "the background tasks' cancellation")
    await _bounded(runtime.producer.stop(), 10, "the Kafka producer's stop")
    try:
        await asyncio.wait_for(runtime.pool.close(), timeout=10)
    except TimeoutError:
        log.warning("database connections still in use after 10 s; closing them")
        runtime.pool.terminate()


async def _bounded(step: Awaitable[object], timeout_s: float, what: str) -> None:
    """Wait for ``step`` at most ``timeout_s``, then go on without it (it is not awaited
    further: a stuck client can hang in its own cancellation). Its failure is logged."""
    task = asyncio.ensure_future(step)
    done, _pending = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        log.warning("%s did not finish in %.0f s; going on without it", what, timeout_s)
    elif not task.cancelled() and task.exception() is not None:
        log.warning("%s failed: %r", what, task.exception())
