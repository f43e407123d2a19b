"""Each service's interactive documentation and OpenAPI document.

* ``/docs`` is Swagger UI served from the ``swagger-ui-bundle`` package, so it works on a
  provincial network without internet (FastAPI's default loads it from a CDN).
* The OpenAPI document names a server, and every error answer (4xx, 5xx) is described as
  what it is: an RFC 9457 problem (``application/problem+json``), one schema for all.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from shared.problems import PROBLEM_JSON

ASSETS = "/docs-assets"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; a 422 adds `errors` (field, message, type) and "
                   "`errors_total`, a 409 may add the current `state` or `status_now`",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "examples": ["/problems/validation"]},
        "title": {"type": "string", "examples": ["Invalid request"]},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "examples": [422]},
        "detail": {"type": "string", "examples": ["Invalid fields: body:/applicant/phone"]},
        "instance": {"type": "string", "examples": ["/v1/dossiers"]},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string", "examples": ["body:/applicant/phone"]},
            "message": {"type": "string"}, "type": {"type": "string"}}}},
        "errors_total": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": True,
}


def install_docs(app: FastAPI, *, title: str, server_url: str) -> None:
    """Swagger UI from local assets at ``/docs``; the OpenAPI document with a server entry
    and the problem schema on every error answer. ``app`` was made with ``docs_url=None``."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json",
                                   title=f"{title} — API",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS}/favicon-32x32.png")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes,
                                 servers=[{"url": server_url, "description": "this service"}])
            app.openapi_schema = with_problems(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


SECURITY_AS_DECLARED = "x-security-as-declared"


def security(*alternatives: dict[str, list[str]]) -> dict[str, Any]:
    """``openapi_extra`` of a route whose security is these alternatives exactly (``{}``: none
    needed; one dict naming two schemes: both together)."""
    return {SECURITY_AS_DECLARED: list(alternatives)}


def with_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Every 4xx/5xx answer of ``schema`` as a problem; FastAPI's own validation-error
    schemas, which no answer uses, are dropped."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if SECURITY_AS_DECLARED in operation:
                # FastAPI lists each security dependency as an alternative; a route that
                # needs two together, or none, says so itself.
                operation["security"] = operation.pop(SECURITY_AS_DECLARED)
            for status, answer in operation.get("responses", {}).items():
                if status[:1] in ("4", "5"):
                    answer["content"] = problem
    return schema


# What each refusal means, said once; a route names the ones it can answer and may say more
# precisely what one means for it.
ANSWERS: dict[int, str] = {
    401: "missing, expired or forged credentials",
    403: "the caller's role or units do not allow this",
    404: "no such resource among the caller's",
    409: "not allowed in the current state; `state` or `status_now` says which",
    422: "invalid request; `errors` names the fields",
    429: "over the rate limit; see Retry-After",
}


def answers(*statuses: int, said: dict[int, str] | None = None,
            also: dict[int | str, dict[str, Any]] | None = None) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: each listed status with its meaning (``said`` overrides
    the standard one); ``also`` adds other answers as they are (a 200 replay, say)."""
    out: dict[int | str, dict[str, Any]] = {
        s: {"description": (said or {}).get(s, ANSWERS.get(s, "refused"))} for s in statuses}
    out.update(also or {})
    return out
