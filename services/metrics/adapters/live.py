"""Live figures: every replica LISTENs for the units whose facts changed (NOTIFY is sent in
the consumer's transaction, so it arrives after the commit, in every replica), recomputes
them for each period someone is watching, and pushes them to Server-Sent-Event subscribers;
the current month's figures also feed the cache ``/metrics`` is rendered from. The same
notifications invalidate the reader's figures judged in the past (``judged_cache``), which
are kept only while this listener is up. A periodic full refresh keeps clock-dependent
figures (open dossiers turning overdue, a month turning into the next) current."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import asyncpg
import orjson
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.metrics.adapters.reader import MetricsReader
from services.metrics.adapters.store import CHANGED_CHANNEL
from services.metrics.domain.figures import Figures, Period
from services.metrics.domain.index766 import IndexScore
from services.metrics.service_layer.index766 import Index766
from shared.clock import SYSTEM_CLOCK, Clock, local_today
from shared.timebounds import in_legal_zone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Watched:
    """A period a subscriber watches: a preset (resolved anew against the clock, so that
    "this month" moves on at midnight on the 1st) or fixed local days."""

    preset: str | None = "this_month"
    first: date | None = None
    last: date | None = None

    def resolve(self, clock: Clock) -> Period:
        return Period.asked(self.preset, self.first, self.last, None, clock.now())

    @property
    def label(self) -> str:
        return self.preset or f"{self.first}..{self.last}"


CURRENT_MONTH = Watched()
MAX_WATCHED_DAYS = 366


class TooManyPeriods(Exception):
    """More distinct periods are being watched than one replica recomputes live."""


class LiveHub:
    def __init__(self, reader: MetricsReader, *, interval_s: float = 0.2,
                 full_refresh_s: float = 30.0, clock: Clock = SYSTEM_CLOCK,
                 max_periods: int = 16, index: Index766 | None = None,
                 index_interval_s: float = 5.0) -> None:
        self.reader = reader
        # The national index of the current month, recomputed for the units that changed at
        # most every ``index_interval_s`` (a unit's score is Python work on top of its reads).
        self.index = index
        self.index_interval_s = index_interval_s
        self.index_cache: dict[str, IndexScore] = {}
        self._index_dirty: set[str] = set()
        self.interval_s = interval_s
        self.full_refresh_s = full_refresh_s
        self.clock = clock
        self.max_periods = max_periods
        self._seen: dict[Watched, dict[str, Figures]] = {CURRENT_MONTH: {}}
        self._dirty: set[str] = set()
        self._subscribers: dict[asyncio.Queue[dict[str, Any]], Watched] = {}
        self._stopping = False

    @property
    def cache(self) -> dict[str, Figures]:
        """The current month's figures of every unit, for /metrics."""
        return self._seen[CURRENT_MONTH]

    async def messages(self, queue: asyncio.Queue[dict[str, Any]]) -> AsyncIterator[dict[str, str]]:
        """A subscriber's Server-Sent Events, until it goes (then it is unsubscribed)."""
        try:
            yield {"event": "hello", "data": "{}"}
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    continue
                kind = message.pop("kind", "unit")
                yield {"event": kind, "id": message["unit_code"],
                       "data": orjson.dumps(message, default=str).decode()}
        finally:
            self.unsubscribe(queue)

    def subscribe(self, watched: Watched = CURRENT_MONTH) -> asyncio.Queue[dict[str, Any]]:
        periods = set(self._subscribers.values()) | {CURRENT_MONTH}
        if watched not in periods and len(periods) >= self.max_periods:
            raise TooManyPeriods(f"{len(periods)} periods are watched already")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers[queue] = watched
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.pop(queue, None)

    def stop(self) -> None:
        self._stopping = True

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            units = orjson.loads(payload)
        except ValueError:
            units = []
        # An empty list (a rebuild, the start-up tally) or a bad payload: anything changed.
        self.reader.cache.invalidate(units or None)
        self._dirty.update(units)
        self._index_dirty.update(units)

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
            self.reader.cache.open()  # every change is heard from here on
            await self.refresh_all()
            await self.refresh_index(None)
            last_full = last_index = asyncio.get_running_loop().time()
            last_day = local_today(self.clock.now())
            while not self._stopping:
                await asyncio.sleep(self.interval_s)
                now = asyncio.get_running_loop().time()
                today = local_today(self.clock.now())
                if now - last_full >= self.full_refresh_s or today != last_day:
                    await self.refresh_all()
                    await self.refresh_index(None)
                    last_full, last_day, last_index = now, today, now
                elif self._dirty:
                    units, self._dirty = self._dirty, set()
                    await self.refresh(units)
                if self._index_dirty and now - last_index >= self.index_interval_s:
                    units, self._index_dirty = self._index_dirty, set()
                    await self.refresh_index(units)
                    last_index = now
                if conn.is_closed():
                    raise ConnectionError("listener connection lost")
        finally:
            self.reader.cache.close()
            with contextlib.suppress(Exception):
                await conn.remove_listener(CHANGED_CHANNEL, self._on_notify)
            await self.reader.pool.release(conn)

    def _watched(self) -> set[Watched]:
        return set(self._subscribers.values()) | {CURRENT_MONTH}

    async def refresh_all(self) -> None:
        for watched in self._watched():
            period = watched.resolve(self.clock)
            figures = await self.reader.all_units(period)
            seen = self._seen.get(watched, {})
            changed = [u for u, g in figures.items() if seen.get(u) != g]
            self._remember(watched, figures)
            self._broadcast(watched, changed, period)
        self._forget_unwatched()

    async def refresh(self, units: set[str]) -> None:
        for watched in self._watched():
            period = watched.resolve(self.clock)
            known = self._reported(units, period)
            self._remember(watched, await self.reader.some_units(known, period))
            self._broadcast(watched, known, period)

    def _reported(self, units: set[str], period: Period) -> list[str]:
        """The units ``units`` are reported under over ``period`` (a merged unit's, by its
        successor), known ones only."""
        rb = self.reader.rulebook
        rollup = rb.rollup(period.last_day)
        return sorted({rollup.get(u, u) for u in units if rb.unit(u) is not None})

    async def refresh_index(self, units: set[str] | None) -> None:
        """The current month's index of ``units`` (None: every unit), to the cache and to
        the current month's subscribers when it changed."""
        if self.index is None:
            return
        period = CURRENT_MONTH.resolve(self.clock)
        if units is None:
            scores = await self.index.all_units(period)
        else:
            scores = {u: (await self.index.unit(u, period)).score
                      for u in self._reported(units, period)}
        changed = [u for u, s in scores.items() if self.index_cache.get(u) != s]
        self.index_cache.update(scores)
        queues = [q for q, w in self._subscribers.items() if w == CURRENT_MONTH]
        for unit in changed:
            s = scores[unit]
            message = {"kind": "index766", "unit_code": unit,
                       "period": {"start": in_legal_zone(period.start),
                                  "end": in_legal_zone(period.end)},
                       "as_of": in_legal_zone(period.as_of), "total": float(s.total),
                       "complete": s.complete, "missing": list(s.missing),
                       "grade": {"key": s.grade.key, "label": s.grade.label_vi},
                       "groups": {g.id: float(g.score) for g in s.groups}}
            for queue in queues:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(dict(message))

    def _remember(self, watched: Watched, figures: dict[str, Figures]) -> None:
        self._seen.setdefault(watched, {}).update(figures)

    def _forget_unwatched(self) -> None:
        for watched in set(self._seen) - self._watched():
            del self._seen[watched]

    def _broadcast(self, watched: Watched, units: list[str], period: Period) -> None:
        queues = [q for q, w in self._subscribers.items() if w == watched]
        if not queues:
            return
        seen = self._seen[watched]
        for unit in units:
            message = {"unit_code": unit, "period": {"start": in_legal_zone(period.start),
                                                     "end": in_legal_zone(period.end)},
                       "as_of": in_legal_zone(period.as_of), "figures": seen[unit].as_dict()}
            for queue in queues:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(dict(message))


class UnitFiguresCollector(Collector):
    """``motcua_unit_<figure>{unit, block}`` gauges for the current month, from the cache:
    the label sets are bounded by the rulebook's units and the figures' names."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        hub = self.hub
        if not hub.cache:
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
        index = GaugeMetricFamily("motcua_unit_index766_total",
                                  "the national index (Decision 766) of the current month, "
                                  "points out of 100, per unit", labels=["unit", "block"])
        groups = GaugeMetricFamily("motcua_unit_index766_group",
                                   "the index's group scores of the current month, per unit",
                                   labels=["unit", "block", "group"])
        for unit, score in hub.index_cache.items():
            index.add_metric([unit, blocks.get(unit, "")], float(score.total))
            for group in score.groups:
                groups.add_metric([unit, blocks.get(unit, ""), group.id], float(group.score))
        yield index
        yield groups
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

