"""Limits at the edge of every service, before a route sees the request: header size (431),
body size (413), a body that stops arriving (408) and JSON nested too deep or with too many
members (400). Each answer is a problem document."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.jsonguard import JsonDepthGuard
from shared.problems import problem_response, refusal_title

MAX_JSON_DEPTH = 64


class RequestLimits:
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
        guard = JsonDepthGuard(MAX_JSON_DEPTH) if b"json" in headers.get(b"content-type", b"") \
            else None
        received = 0
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

        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, send_tracking)
        except _Refused as refused:
            if started:
                raise
            await problem_response(refused.status, refused.title, refused.detail,
                                   instance=scope.get("path"))(scope, receive, send)


class _Refused(HTTPException):
    """An HTTP error, so that FastAPI's body parsing passes it through to the problem-details
    handler instead of turning it into a generic 400."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(status_code=status, detail=detail)
        self.status, self.title = status, title
