"""``/healthz`` (alive), ``/readyz`` (PostgreSQL reachable; Kafka's state reported) and ``/metrics``
(Prometheus text, optionally behind a scrape token), the same on every service."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.db import ping
from shared.observability import DEPENDENCY_UP
from shared.problems import problem_response
from shared.runtime import Runtime


async def watch_dependencies(runtime: Runtime, every_s: float = 15.0) -> None:
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

    @router.get("/readyz", summary="Readiness: PostgreSQL reachable (Kafka reported)",
                responses={503: {"description": "PostgreSQL is unreachable, or starting"}})
    async def readyz(request: Request) -> JSONResponse:
        """Ready while PostgreSQL answers: every request is served from it, and what is to
        be published waits in the outbox. Kafka unreachable is ``degraded`` (200): the
        service keeps taking requests (intake keeps filing), the outbox grows and drains
        when the broker is back, and the DependencyDown alert says so. Taking the replicas
        out of rotation then would stop the filings for nothing."""
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        if runtime is None:
            return problem_response(503, "Service Unavailable", "starting")
        db_ok, kafka_ok = await asyncio.gather(ping(runtime.pool), runtime.kafka_ok())
        checks = {"postgres": "ok" if db_ok else "unreachable",
                  "kafka": "ok" if kafka_ok else "unreachable"}
        if not db_ok:
            return problem_response(503, "Service Unavailable", "PostgreSQL is unreachable",
                                    checks=checks, headers={"Retry-After": "5"})
        return JSONResponse({"status": "ready" if kafka_ok else "degraded", "checks": checks})

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
