"""Live figures: every replica LISTENs for the units whose facts changed (NOTIFY is sent in
the consumer's transaction, so it arrives after the commit, in every replica), recomputes
them for the current month, and pushes them to Server-Sent-Event subscribers and to the
cache ``/metrics`` is rendered from. A periodic full refresh keeps clock-dependent figures
(open dossiers turning overdue) current."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.metrics.adapters.reader import MetricsReader
from services.metrics.adapters.store import CHANGED_CHANNEL
from services.metrics.domain.figures import Figures, Period

log = logging.getLogger(__name__)


class LiveHub:
    def __init__(self, reader: MetricsReader, *, interval_s: float = 0.2,
                 full_refresh_s: float = 30.0) -> None:
        self.reader = reader
        self.interval_s = interval_s
        self.full_refresh_s = full_refresh_s
        self.cache: dict[str, Figures] = {}
        self._dirty: set[str] = set()
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._stopping = False

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def stop(self) -> None:
        self._stopping = True

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self._dirty.update(orjson.loads(payload))

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live figures: listener failed; reconnecting")
                await asyncio.sleep(1.0)

    async def _listen(self) -> None:
        conn: asyncpg.Connection = await self.reader.pool.acquire()
        try:
            await conn.add_listener(CHANGED_CHANNEL, self._on_notify)
            await self.refresh_all()
            last_full = asyncio.get_running_loop().time()
            while not self._stopping:
                await asyncio.sleep(self.interval_s)
                now = asyncio.get_running_loop().time()
                if now - last_full >= self.full_refresh_s:
                    await self.refresh_all()
                    last_full = now
                elif self._dirty:
                    units, self._dirty = self._dirty, set()
                    await self.refresh(units)
                if conn.is_closed():
                    raise ConnectionError("listener connection lost")
        finally:
            with contextlib.suppress(Exception):
                await conn.remove_listener(CHANGED_CHANNEL, self._on_notify)
            await self.reader.pool.release(conn)

    async def refresh_all(self) -> None:
        period = Period.month_of(datetime.now(UTC))
        figures = await self.reader.all_units(period)
        changed = [u for u, g in figures.items() if self.cache.get(u) != g]
        self.cache.update(figures)
        self._broadcast(changed, period)

    async def refresh(self, units: set[str]) -> None:
        period = Period.month_of(datetime.now(UTC))
        known = [u for u in units if self.reader.rulebook.unit(u) is not None]
        self.cache.update(await self.reader.some_units(known, period))
        self._broadcast(known, period)

    def _broadcast(self, units: list[str], period: Period) -> None:
        for unit in units:
            message = {"unit_code": unit, "as_of": period.as_of.isoformat(),
                       "figures": self.cache[unit].as_dict()}
            for queue in list(self._subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(message)


class UnitFiguresCollector(Collector):
    """``motcua_unit_<figure>{unit, block}`` gauges for the current month, from the cache:
    the label sets are bounded by the rulebook's units and the figures' names."""

    def __init__(self) -> None:
        self.hub: LiveHub | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        hub = self.hub
        if hub is None or not hub.cache:
            return
        blocks = {u.code: u.block for u in hub.reader.rulebook.units}
        for name in KEYED_FIGURES:
            family = GaugeMetricFamily(f"motcua_unit_{name}",
                                       f"{name} of the current month, per unit and key",
                                       labels=["unit", "block", "key"])
            for unit, g in hub.cache.items():
                for key, v in getattr(g, name).items():
                    if v is not None:
                        family.add_metric([unit, blocks.get(unit, ""), key], float(v))
            yield family
        for name in NUMERIC_FIGURES:
            family = GaugeMetricFamily(f"motcua_unit_{name}",
                                       f"{name} of the current month, per unit",
                                       labels=["unit", "block"])
            for unit, g in hub.cache.items():
                v = getattr(g, name)
                if v is not None:
                    family.add_metric([unit, blocks.get(unit, "")], float(v))
            yield family


# Which figures are numbers and which are maps, from their declared types (a grade is text).
NUMERIC_FIGURES = tuple(f.name for f in fields(Figures) if str(f.type) in ("int", "float | None"))
KEYED_FIGURES = tuple(f.name for f in fields(Figures) if str(f.type).startswith("dict["))


COLLECTOR = UnitFiguresCollector()
