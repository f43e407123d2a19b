"""One FastAPI app per service, built the same way: its lifespan, offline docs, problem
details, the edge limits and request metrics, the health routes, the operators' dead
letters and audit trail, and the service's own."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from shared.audit import router as audit_router
from shared.auth import verifier_from
from shared.deadletters import router as dead_letters_router
from shared.docs import install_docs
from shared.health import health_router
from shared.idempotency import KeyReused, key_reused
from shared.lifespan import ServicePlan, service_lifespan
from shared.problems import install_problem_handlers
from shared.request_limits import RequestLimits
from shared.request_metrics import RequestMetrics
from shared.settings import ServiceSettings


def create_service_app(settings: ServiceSettings, plan: ServicePlan, *, title: str,
                       description: str = "", routers: Sequence[APIRouter] = ()) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0.0",
                  lifespan=service_lifespan(settings, plan), docs_url=None, redoc_url=None)
    install_docs(app, title=title,
                 server_url=settings.public_url or f"http://127.0.0.1:{settings.port}")
    problem_handler = install_problem_handlers(app, type_base=settings.problem_type_base)
    app.state.verifier = verifier_from(settings)  # who a bearer token is (shared/auth.py)

    @app.exception_handler(KeyReused)
    async def _key_reused(request: Request, exc: KeyReused) -> JSONResponse:
        return await problem_handler(request, key_reused(exc.name))

    # The last added is the outermost: metrics count what the limits refuse.
    app.add_middleware(RequestLimits, max_body=settings.max_body_bytes,
                       max_header_bytes=settings.max_header_bytes,
                       body_timeout_s=settings.body_timeout_s)
    app.add_middleware(RequestMetrics)
    app.include_router(health_router())
    app.include_router(dead_letters_router)
    app.include_router(audit_router)
    for router in routers:
        app.include_router(router)
    return app
