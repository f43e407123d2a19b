"""RFC 9457 problem details for every error a service answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db import SCHEMA_MISMATCH, TRANSIENT, after_transient

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
# Problem types are named by a short slug (``illegal-state``); the URI a client sees is the
# ``MOTCUA_PROBLEM_TYPE_BASE`` setting followed by the slug (docs/api.md lists them).
PROBLEM_TYPES: dict[str, str] = {
    "validation": "a field is missing or invalid; `errors` names each one",
    "json-syntax": "the body is not JSON; `detail` says where it stops being JSON",
    "media-type": "the body was not sent as JSON",
    "illegal-state": "not allowed in the dossier's (or shipment's) current state",
    "rule-violation": "allowed in this state, but against a rule (e.g. a second apology)",
    "channel-not-allowed": "this kind of client may not file through that channel",
    "courier-signature": "the courier's signature, timestamp or identity was refused",
    "courier-replay": "this signed courier request was received before",
    "idempotency-key-reused": "the key was first sent with a different request",
    "feedback-refused": "the dossier cannot be rated now (not finished, or already rated)",
    "complaint-step-refused": "the complaint's state does not allow this step now",
    "complaint-dossier-not-yet-known": "the dossier's receipt has not reached the feedback "
                                       "service yet; try again shortly",
}


class Problem(Exception):
    """Raise to answer with a problem-details body."""

    def __init__(self, status: int, title: str, detail: str | None = None, *,
                 type_: str | None = None, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        if type_ is not None and type_ not in PROBLEM_TYPES:
            raise ValueError(f"unknown problem type {type_!r}")
        self.type = type_  # a slug of PROBLEM_TYPES, or None for about:blank
        self.headers = headers
        self.extra = extra


# A 422 lists this many errors at most (and says how many there were): a body of 90,000
# unknown keys must not get an answer ten times its size.
MAX_LISTED_ERRORS = 20


def validation_fields(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``detail``, ``errors`` and ``errors_total`` of a 422, from every error found."""
    listed = errors[:MAX_LISTED_ERRORS]
    fields = sorted({str(e["field"]) for e in listed})
    more = len(errors) - len(listed)
    detail = f"Invalid fields: {', '.join(fields)}" + (f" (and {more} more errors)" if more else "")
    return {"detail": detail, "errors": listed, "errors_total": len(errors)}


def invalid(*errors: tuple[str, str]) -> Problem:
    """422 naming the fields, in the same shape as request-validation errors."""
    body = validation_fields([{"field": f, "message": m, "type": "value_error"}
                              for f, m in errors])
    detail = body.pop("detail")
    return Problem(422, "Invalid request", detail, type_="validation", **body)


def problem_response(status: int, title: str, detail: str | None = None, *,
                     type_: str = "about:blank", instance: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _json_syntax(request: Request, error: dict[str, Any], doc: Any,
                 type_base: str) -> JSONResponse:
    """A 400 naming the line and column where the JSON stops being JSON."""
    loc = error.get("loc", ())
    pos = loc[-1] if loc and isinstance(loc[-1], int) else None
    where = ""
    if pos is not None and isinstance(doc, str | bytes):
        text = doc if isinstance(doc, str) else doc.decode("utf-8", errors="replace")
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        where = f" at line {line}, column {column}"
    reason = (error.get("ctx") or {}).get("error", "")
    return problem_response(400, "Bad Request",
                            f"the body is not valid JSON{where}" + (f": {reason}" if reason else ""),
                            type_=type_base + "json-syntax", instance=request.url.path)


def _not_json(request: Request, errors: Sequence[Any]) -> bool:
    """A body model refused because the body was sent as something other than JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type or content_type == "application/json" or content_type.endswith("+json"):
        return False
    return any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errors)


def refusal_title(status: int) -> str:
    """The title of a problem answered for a bare status (413 is "Content Too Large", as
    RFC 9110 names it, whichever Python's table says)."""
    if status == 413:
        return "Content Too Large"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        where, rest = parts[0], parts[1:]
        return f"{where}:/" + "/".join(rest) if rest else where
    return "/" + "/".join(parts)


ProblemHandler = Callable[[Request, Problem], Awaitable[JSONResponse]]


def install_problem_handlers(app: FastAPI, *, type_base: str) -> ProblemHandler:
    """Every error as a problem document; typed problems get ``type_base`` + their slug."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        type_ = type_base + exc.type if exc.type else "about:blank"
        return problem_response(exc.status, exc.title, exc.detail, type_=type_,
                                instance=request.url.path, headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        found = exc.errors()
        syntax = next((e for e in found if e.get("type") == "json_invalid"), None)
        if syntax is not None:
            return _json_syntax(request, syntax, exc.body, type_base)
        if _not_json(request, found):
            return problem_response(415, "Unsupported Media Type",
                                    "send the body as JSON, with Content-Type: application/json",
                                    type_=type_base + "media-type", instance=request.url.path)
        errors = [
            {"field": _pointer(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        body = validation_fields(errors)
        detail = body.pop("detail")
        return problem_response(422, "Invalid request", detail, type_=type_base + "validation",
                                instance=request.url.path, **body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = refusal_title(exc.status_code)
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        return problem_response(exc.status_code, title, detail, instance=request.url.path,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(asyncpg.CharacterNotInRepertoireError)
    @app.exception_handler(asyncpg.UntranslatableCharacterError)
    async def _unstorable(request: Request, exc: asyncpg.DataError) -> JSONResponse:
        # PostgreSQL keeps no NUL character (U+0000) in text or jsonb; the services never
        # make one, so it came in the request. The transaction was rolled back.
        return problem_response(422, "Invalid request",
                                "a NUL character (U+0000) is accepted in no text",
                                type_=type_base + "validation", instance=request.url.path,
                                errors=[])

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database restarting or out of connections is the caller's cue to retry, not a
        # bug. The transaction rolled back, so nothing was changed. A schema that disagrees
        # with the code may also be a typo in a statement: its traceback is logged.
        log.warning("dependency unavailable: %r", exc, extra={"path": request.url.path},
                    exc_info=isinstance(exc, SCHEMA_MISMATCH))
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            await after_transient(runtime.pool, exc)
        return problem_response(503, "Service Unavailable",
                                "a dependency is restarting; nothing was changed, retry shortly",
                                instance=request.url.path, headers={"Retry-After": "2"})

    for kind in TRANSIENT:
        if issubclass(kind, Exception):
            app.add_exception_handler(kind, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(500, "Internal Server Error",
                                "The error was logged; the request may be retried.",
                                instance=request.url.path)

    return _problem
