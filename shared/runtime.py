"""What a running service holds (its pool, producer, outbox relay, consumers, background
tasks and clock) and how routes reach it. Service-specific components (handlers, caches,
the live hub) are provided by the service's bootstrap and looked up by their type."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import Request

from shared.clock import SYSTEM_CLOCK, Clock
from shared.consumer import BatchHandler, EventConsumer, Handler
from shared.kafka import kafka_reachable
from shared.outbox import OutboxRelay
from shared.rulebook import Rulebook, load_rulebook
from shared.settings import ServiceSettings

T = TypeVar("T")
S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class ConsumerSpec:
    """One consumer group of a service: its topics and the handler each event goes to."""

    name: str
    topics: Sequence[str]
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None
    event_types: frozenset[str] | None = None
    # Batches aligned in time across partitions (shared.batching): for a handler whose cost
    # is per dossier, such as a fold, when catching up on a backlog.
    aligned: bool = False


@dataclass
class Runtime:
    """Reachable from routes as ``request.app.state.runtime`` (see :func:`get_runtime`)."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    relay: OutboxRelay
    clock: Clock = SYSTEM_CLOCK  # the one source of "now" for routes and background tasks
    consumers: list[EventConsumer] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _components: dict[type, object] = field(default_factory=dict)
    _kafka_ok_at: float = 0.0

    @property
    def rulebook(self) -> Rulebook:
        """The province's rulebook (loaded once per path and version file)."""
        return load_rulebook(self.settings.rulebook_path)

    def provide(self, component: object) -> None:
        """Make ``component`` reachable by its type (one of each type per service)."""
        self._components[type(component)] = component

    def component(self, kind: type[T]) -> T:
        found = self._components.get(kind)
        if not isinstance(found, kind):
            raise LookupError(f"this service provides no {kind.__name__}")
        return found

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


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def component_of(request: Request, kind: type[T]) -> T:
    """The running service's component of type ``kind`` (provided by its bootstrap)."""
    return get_runtime(request).component(kind)


@functools.cache
def provided(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A FastAPI dependency giving the running service's component of type ``kind`` (one per
    type, so a test can override it). It is a coroutine function: FastAPI sends a plain
    function to its thread pool, one hop to a worker thread and back on every request."""

    async def dependency(request: Request) -> T:
        return component_of(request, kind)

    dependency.__name__ = f"provided_{kind.__name__}"
    return dependency


def clock_of(request: Request) -> Clock:
    """The running service's clock."""
    return get_runtime(request).clock


def settings_of(request: Request, kind: type[S]) -> S:
    """The running service's own settings class (typed, for its service-specific fields)."""
    settings = get_runtime(request).settings
    if not isinstance(settings, kind):
        raise TypeError(f"this service runs with {type(settings).__name__}, not {kind.__name__}")
    return settings
