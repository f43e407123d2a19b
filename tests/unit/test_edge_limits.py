"""The edge every service shares (shared/request_limits.py's middleware and problem handlers), on a
small app in process: oversized headers (431), a body that stops arriving (408), one shape
for both ways a body is too large (413), and a 422 that does not amplify its input."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from starlette.types import Message

from shared.problems import install_problem_handlers
from shared.request_limits import RequestLimits
from shared.request_metrics import RequestMetrics


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def app(max_body: int = 10_000, body_timeout_s: float = 0.2) -> Any:
    api = FastAPI()
    install_problem_handlers(api, type_base="/problems/")

    @api.post("/things")
    async def things(body: Body) -> dict[str, str]:
        return {"name": body.name}

    api.add_middleware(RequestLimits, max_body=max_body, max_header_bytes=4096,
                       body_timeout_s=body_timeout_s)
    api.add_middleware(RequestMetrics)
    return api


async def call(max_body: int = 10_000, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app(max_body)),
                                 base_url="http://t") as client:
        return await client.post("/things", **kw)


async def test_oversized_headers_are_431_before_anything_reads_them() -> None:
    r = await call(json={"name": "x"}, headers={"Authorization": "Bearer " + "a" * 8000})
    assert r.status_code == 431 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Request Header Fields Too Large"


async def test_both_ways_of_a_too_large_body_give_one_shape() -> None:
    big = orjson.dumps({"name": "x" * 20_000})
    declared = await call(content=big, headers={"content-type": "application/json"})

    async def chunks() -> Any:  # no Content-Length: streamed
        for i in range(0, len(big), 4096):
            yield big[i:i + 4096]

    streamed = await call(content=chunks(), headers={"content-type": "application/json"})
    assert declared.status_code == streamed.status_code == 413
    assert declared.json() == streamed.json()
    assert set(declared.json()) == {"type", "title", "status", "detail", "instance"}


async def test_a_422_of_thousands_of_unknown_keys_stays_small() -> None:
    body = {"name": "x", **{f"k{i}": 1 for i in range(5_000)}}
    r = await call(1_000_000, json=body)
    assert r.status_code == 422
    problem = r.json()
    assert len(problem["errors"]) == 20 and problem["errors_total"] == 5_000
    assert len(r.content) < 5_000


async def drive(asgi: Any, method: str, path: str, first: Message,
                headers: list[tuple[bytes, bytes]] | None = None) -> list[Message]:
    """Runs one request through ``asgi`` with a client that sends ``first`` and then goes
    quiet (it neither sends more nor leaves); what the app sent."""
    sent: list[Message] = []
    given = False

    async def receive() -> Message:
        nonlocal given
        if not given:
            given = True
            return first
        await asyncio.sleep(3600)
        raise AssertionError

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(),
        "query_string": b"", "headers": headers or [], "http_version": "1.1", "scheme": "http",
        "server": ("t", 80), "client": ("c", 1), "root_path": "", "app": None}
    await asyncio.wait_for(asgi(scope, receive, send), 5)
    return sent


async def test_a_body_that_stops_arriving_is_408() -> None:
    sent = await drive(app(), "POST", "/things",
                       {"type": "http.request", "body": b'{"na', "more_body": True},
                       [(b"content-type", b"application/json")])
    assert sent[0]["status"] == 408
    assert orjson.loads(sent[1]["body"])["title"] == "Request Timeout"


async def test_a_body_with_too_many_members_is_400() -> None:
    body = b"[" + b",".join(b"1" for _ in range(10_001)) + b"]"
    r = await call(1_000_000, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "members" in r.json()["detail"]
    fine = await call(1_000_000, json={"name": ",".join("x" * 20_000)})  # commas in a string
    assert fine.status_code == 200


async def test_a_stream_outlives_the_body_timeout() -> None:
    """After the (empty) body, receive() waits for the client to leave: a server-sent event
    stream must not be cut by the body timeout."""
    from sse_starlette.sse import EventSourceResponse

    api = FastAPI()

    @api.get("/stream")
    async def stream() -> EventSourceResponse:
        async def events() -> Any:
            for i in range(3):
                yield {"data": str(i)}
                await asyncio.sleep(0.3)  # longer than the body timeout below

        return EventSourceResponse(events())

    api.add_middleware(RequestLimits, max_body=1000, body_timeout_s=0.1)
    sent = await drive(api, "GET", "/stream", {"type": "http.request", "body": b"",
                                               "more_body": False})
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert b"data: 2" in body
