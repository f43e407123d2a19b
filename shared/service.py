"""The composition every service shares: one FastAPI app with its PostgreSQL pool,
migrations, outbox relay, consumers, ``/healthz``, ``/readyz``, ``/metrics`` and problem
details. A service passes its routers, its SQL folder and its consumers; nothing here is
written again per service.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.clock import SYSTEM_CLOCK, Clock
from shared.consumer import BatchHandler, EventConsumer, Handler
from shared.db import create_pool, ping
from shared.docs import install_docs
from shared.events import Envelope
from shared.jsonguard import JsonDepthGuard
from shared.kafka import ensure_topics, kafka_reachable, make_producer
from shared.logging import configure_logging
from shared.migrations import migrate_service
from shared.observability import DEPENDENCY_UP, HTTP_LATENCY, HTTP_REQUESTS
from shared.outbox import OutboxRelay, write_events
from shared.problems import install_problem_handlers, problem_response, refusal_title
from shared.rulebook import Rulebook, load_rulebook
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topics: Sequence[str]
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None
    event_types: frozenset[str] | None = None


@dataclass
class Runtime:
    """What a running service holds; reachable from routes as ``request.app.state.runtime``."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    relay: OutboxRelay
    consumers: list[EventConsumer] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    clock: Clock = SYSTEM_CLOCK  # the one source of "now" for routes and background tasks
    _kafka_ok_at: float = 0.0

    @property
    def rulebook(self) -> Rulebook:
        """The province's rulebook (loaded once per path and version file)."""
        return load_rulebook(self.settings.rulebook_path)

    @property
    def schema(self) -> str:
        return self.settings.db_schema

    async def emit(self, conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        """Write events to this service's outbox inside the caller's transaction."""
        await emitter(self.settings)(conn, events)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.append(task)
        return task

    async def kafka_ok(self) -> bool:
        now = time.monotonic()
        if now - self._kafka_ok_at < 2.0:
            return True
        ok = await kafka_reachable(self.settings.kafka_bootstrap)
        if ok:
            self._kafka_ok_at = now
        return ok


StartHook = Callable[[Runtime], Awaitable[None]]


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str = "",
    routers: Sequence[APIRouter] = (),
    sql_dir: Path | None = None,
    produces: Sequence[str] = (),
    consumers: Callable[[ConsumerContext], Sequence[ConsumerSpec]] | None = None,
    on_start: Sequence[StartHook] = (),
    on_stop: Sequence[StartHook] = (),
    clock: Clock = SYSTEM_CLOCK,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        pool = await create_pool(settings.database_url, settings.db_schema,
                                 min_size=settings.database_pool_min,
                                 max_size=settings.database_pool_max,
                                 timeouts=settings.db_timeouts())
        await migrate_service(pool, settings.db_schema, sql_dir)
        specs = list(consumers(_partial_runtime(settings, pool)) if consumers else [])
        prefix = settings.topic_prefix
        topics = {prefix + t for t in produces} | {prefix + t for s in specs for t in s.topics}
        await ensure_topics(settings.kafka_bootstrap, topics,
                            partitions=settings.topic_partitions,
                            replication=settings.topic_replication)
        producer = make_producer(settings.kafka_bootstrap, client_id=f"{settings.service_name}-outbox")
        await producer.start()
        relay = OutboxRelay(pool, settings.db_schema, producer,
                            batch_size=settings.outbox_batch_size,
                            poll_interval_s=settings.outbox_poll_interval_s,
                            retention_hours=settings.outbox_retention_hours,
                            linger_s=settings.outbox_linger_ms / 1000)
        runtime = Runtime(settings=settings, pool=pool, producer=producer, relay=relay,
                          clock=clock)
        app.state.runtime = runtime
        runtime.spawn(relay.run(), "outbox-relay")
        for spec in specs:
            consumer = EventConsumer(
                pool=pool, schema=settings.db_schema, name=spec.name,
                group_id=prefix + spec.name,  # environments sharing a broker stay apart
                topics=[prefix + t for t in spec.topics],
                bootstrap=settings.kafka_bootstrap, handler=spec.handler,
                batch_handler=spec.batch_handler, batch_size=settings.consumer_batch_size,
                event_types=spec.event_types,
            )
            await consumer.start()
            runtime.consumers.append(consumer)
            runtime.spawn(consumer.run(), f"consumer-{spec.name}")
        runtime.spawn(_watch_dependencies(runtime), "dependency-checks")
        for hook in on_start:
            await hook(runtime)
        log.info("service started", extra={"port": settings.port})
        try:
            yield
        finally:
            # Graceful order: stop taking events, run stop hooks, flush the outbox, close.
            for consumer in runtime.consumers:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            for hook in on_stop:
                with contextlib.suppress(Exception):
                    await hook(runtime)
            relay.stop()
            for task in runtime.tasks:
                if task.get_name() == "outbox-relay":
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(task, timeout=10)
            for task in runtime.tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await producer.stop()
            await pool.close()
            log.info("service stopped")

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    install_docs(app, title=title,
                 server_url=settings.public_url or f"http://127.0.0.1:{settings.port}")
    install_problem_handlers(app)
    app.add_middleware(BodyLimitAndMetrics, max_body=settings.max_body_bytes,
                       max_header_bytes=settings.max_header_bytes,
                       body_timeout_s=settings.body_timeout_s)
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)
    return app


Emit = Callable[[asyncpg.Connection, Sequence[Envelope[Any]]], Awaitable[None]]


def emitter(settings: ServiceSettings) -> Emit:
    """Writes events to the service's outbox inside the caller's transaction."""

    async def emit(conn: asyncpg.Connection, events: Sequence[Envelope[Any]]) -> None:
        await write_events(conn, settings.db_schema, events, topic_prefix=settings.topic_prefix)

    return emit


@dataclass(frozen=True)
class ConsumerContext:
    """What consumer factories get: the service's settings, pool and outbox writer."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    emit: Emit


def _partial_runtime(settings: ServiceSettings, pool: asyncpg.Pool) -> ConsumerContext:
    return ConsumerContext(settings, pool, emitter(settings))


async def _watch_dependencies(runtime: Runtime, every_s: float = 15.0) -> None:
    """Keeps ``motcua_dependency_up`` current for the readiness alerts."""
    while True:
        db_ok, kafka_ok = await asyncio.gather(ping(runtime.pool), runtime.kafka_ok())
        DEPENDENCY_UP.labels("postgres").set(1 if db_ok else 0)
        DEPENDENCY_UP.labels("kafka").set(1 if kafka_ok else 0)
        await asyncio.sleep(every_s)


def health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: PostgreSQL and Kafka reachable",
                responses={503: {"description": "a dependency is unreachable"}})
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        if runtime is None:
            return problem_response(503, "Service Unavailable", "starting")
        db_ok, kafka_ok = await asyncio.gather(ping(runtime.pool), runtime.kafka_ok())
        checks = {"postgres": "ok" if db_ok else "unreachable",
                  "kafka": "ok" if kafka_ok else "unreachable"}
        if db_ok and kafka_ok:
            return JSONResponse({"status": "ready", "checks": checks})
        return problem_response(503, "Service Unavailable", "a dependency is unreachable",
                                checks=checks)

    @router.get("/metrics", summary="Prometheus text exposition", include_in_schema=True,
                responses={401: {"description": "a scrape token is configured and was not sent"}})
    async def metrics(request: Request) -> Response:
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        token = runtime.settings.metrics_scrape_token if runtime else None
        if token is not None:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                return problem_response(401, "Unauthorized", "this scrape needs the scrape token",
                                        instance="/metrics",
                                        headers={"WWW-Authenticate": "Bearer"})
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


S = TypeVar("S", bound=ServiceSettings)


def clock_of(request: Request) -> Clock:
    """The running service's clock."""
    return get_runtime(request).clock


def settings_of(request: Request, kind: type[S]) -> S:
    """The running service's own settings class (typed, for its service-specific fields)."""
    settings = get_runtime(request).settings
    if not isinstance(settings, kind):
        raise TypeError(f"this service runs with {type(settings).__name__}, not {kind.__name__}")
    return settings


class BodyLimitAndMetrics:
    """Refuses bodies over the limit with 413 (problem details) and records request metrics."""

    def __init__(self, app: ASGIApp, max_body: int, max_header_bytes: int = 16_384,
                 body_timeout_s: float = 15.0) -> None:
        self.app = app
        self.max_body = max_body
        self.max_header_bytes = max_header_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_headers = scope.get("headers") or []
        if sum(len(k) + len(v) for k, v in raw_headers) > self.max_header_bytes:
            await problem_response(431, "Request Header Fields Too Large",
                                   f"request headers are limited to {self.max_header_bytes} bytes",
                                   instance=scope.get("path"))(scope, receive, send)
            return
        headers = dict(raw_headers)
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await problem_response(413, refusal_title(413),
                                   f"request bodies are limited to {self.max_body} bytes",
                                   instance=scope.get("path"))(scope, receive, send)
            return
        received = 0
        content_type = headers.get(b"content-type", b"")
        guard = JsonDepthGuard(MAX_JSON_DEPTH) if b"json" in content_type else None

        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body, receive() waits for the client to go (a stream)
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout_s)
            except TimeoutError:
                raise _Refused(408, "Request Timeout",
                               f"the request body did not arrive within {self.body_timeout_s} s "
                               "of its last piece") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > self.max_body:
                    raise _Refused(413, refusal_title(413),
                                   f"request bodies are limited to {self.max_body} bytes")
                if guard is not None and not guard.feed(body):
                    raise _Refused(400, "Bad Request",
                                   f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
                                   if guard.too_deep else
                                   f"JSON with more than {guard.max_members} members")
            return message

        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except _Refused as refused:
            status = refused.status
            await problem_response(refused.status, refused.title, refused.detail,
                                   instance=scope.get("path"))(scope, receive, send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], path, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)


class _Refused(HTTPException):
    """An HTTP error, so that FastAPI's body parsing passes it through to the problem-details
    handler instead of turning it into a generic 400."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(status_code=status, detail=detail)
        self.status, self.title = status, title


MAX_JSON_DEPTH = 64


def run_service(app_path: str, settings: ServiceSettings) -> None:
    """``python -m services.<name>.main``: run under uvicorn (uvloop and httptools if present)."""
    import uvicorn

    configure_logging(settings.service_name, settings.log_level)
    refusals = settings.production_refusals()
    if refusals:
        log.critical("refusing to start in production mode (MOTCUA_ENV=production): %s; "
                     "MOTCUA_ENV=local allows it on a developer's machine", "; ".join(refusals))
        raise SystemExit(2)
    uvicorn.run(app_path, host=settings.host, port=settings.port, factory=True,
                workers=settings.workers, log_config=None, access_log=False,
                timeout_graceful_shutdown=20, timeout_keep_alive=settings.keep_alive_s,
                http=settings.http_impl, h11_max_incomplete_event_size=settings.max_header_bytes,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)
