"""Every dependency a route resolves runs on the event loop, except those that may block.

FastAPI sends a plain function to its thread pool: a hop to a worker thread and back, and the
GIL passed twice, on every request that depends on it. Only a dependency that may block (the
bearer check, which may have to fetch the identity provider's keys) belongs there."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from shared.contracts import SERVICES
from shared.runtime import provided

# May block: it verifies a token, and the provider's keys may have to be fetched first.
MAY_BLOCK = {"shared.auth.bearer.<locals>.dependency"}


def _name(call: Any) -> str:
    return f"{getattr(call, '__module__', '?')}.{getattr(call, '__qualname__', repr(call))}"


def _runs_on_the_loop(call: Any) -> bool:
    return any(inspect.iscoroutinefunction(c) or inspect.isasyncgenfunction(c)
               for c in (call, type(call).__call__))


def _api_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """The routes of an app, through the routers it includes."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(included.routes)


def _sent_to_threads(dependant: Dependant) -> Iterator[str]:
    for d in dependant.dependencies:
        if d.call is not None and not _runs_on_the_loop(d.call) and _name(d.call) not in MAY_BLOCK:
            yield _name(d.call)
        yield from _sent_to_threads(d)


@pytest.mark.parametrize("service", SERVICES)
def test_no_route_sends_a_dependency_to_the_thread_pool(service: str) -> None:
    app = importlib.import_module(f"services.{service}.app").create_app()
    routes = list(_api_routes(app.routes))
    assert len(routes) > 3  # the walk reaches the included routers' routes
    found = {f"{route.path}: {name}" for route in routes
             for name in _sent_to_threads(route.dependant)}
    assert not found


def test_the_check_sees_a_plain_function() -> None:
    def plain() -> None: ...

    async def on_the_loop() -> None: ...

    assert not _runs_on_the_loop(plain)
    assert _runs_on_the_loop(on_the_loop)
    assert _runs_on_the_loop(provided(int))

