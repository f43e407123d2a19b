"""Figures for units, blocks and procedures, counted by PostgreSQL (``sql_figures``) under the
definitions of ``domain.figures``; those judged at a moment already past are kept until their
units change, and those judged "now" until then or until the first moment at which they
could move (``judged_cache``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import TypeVar, cast

import asyncpg

from services.metrics.adapters import sql_figures
from services.metrics.adapters.judged_cache import JudgedCache
from services.metrics.domain.figures import DeskCounts, Figures, Period, Ranked, rank
from shared.clock import SYSTEM_CLOCK, Clock
from shared.rulebook import Rulebook

_NOT_NOW = timedelta(seconds=1)
T = TypeVar("T")


class MetricsReader:
    def __init__(self, pool: asyncpg.Pool, rulebook: Rulebook, *,
                 cache: JudgedCache[object] | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.pool = pool
        self.rulebook = rulebook
        # Off (never listening) unless the live hub opens it.
        self.cache: JudgedCache[object] = cache if cache is not None else JudgedCache()
        self.clock = clock

    def _past(self, p: Period) -> bool:
        """Whether ``p`` is judged at a moment already past (its figures then change only
        with the facts): a period that has ended, or an ``as_of`` asked for. One judged
        "now" (``as_of`` taken from the clock as the request came in) is kept under a key
        without its ``as_of``, since no other request asks for the same moment, for the
        moments it holds for (``sql_figures.settled_until``)."""
        return p.as_of <= self.clock.now() - _NOT_NOW

    async def _kept(self, key: tuple[object, ...], units: list[str] | None, p: Period,
                    count: Callable[[asyncpg.Connection], Awaitable[T]],
                    settled: Callable[[asyncpg.Connection], Awaitable[datetime]]) -> T:
        """``count``'s value for ``p``, through the cache: by ``p`` when judged in the past,
        by its days alone with the moments ``settled`` gives when judged now."""
        async def once() -> T:
            async with self.pool.acquire() as conn:
                return await count(conn)

        async def with_until() -> tuple[T, datetime]:
            async with self.pool.acquire() as conn:
                return await count(conn), await settled(conn)

        if self._past(p):
            got = await self.cache.get((*key, p), units, once, keep=True)
        else:
            got = await self.cache.get_settled((*key, p.start, p.end, "now"), units,
                                               with_until, p.as_of)
        return cast(T, got)

    def units_of(self, unit_code: str, include_subunits: bool, p: Period) -> list[str]:
        """The units counted for ``unit_code`` over ``p``: with its sub-units when asked, and
        with every unit merged into them by the period's last day."""
        return self.rulebook.reported_units(unit_code, include_subunits, p.last_day)

    async def unit(self, unit_code: str, p: Period, *, include_subunits: bool = False) -> Figures:
        units = self.units_of(unit_code, include_subunits, p)
        return await self._figures(("unit", tuple(units)), units, p, None)

    async def procedure(self, code: str, p: Period, unit_code: str | None = None,
                        include_subunits: bool = False) -> Figures:
        units = self.units_of(unit_code, include_subunits, p) if unit_code else None
        return await self._figures(("procedure", code, units and tuple(units)), units, p,
                                   code)

    async def _figures(self, key: tuple[object, ...], units: list[str] | None, p: Period,
                       procedure: str | None) -> Figures:
        async def count(conn: asyncpg.Connection) -> Figures:
            return await sql_figures.figures(conn, units, p, procedure=procedure)

        async def settled(conn: asyncpg.Connection) -> datetime:
            return await sql_figures.settled_until(conn, units, p, procedure)
        got = await self._kept(key, units, p, count, settled)
        assert isinstance(got, Figures)
        return got

    async def all_units(self, p: Period) -> dict[str, Figures]:
        """Every unit that exists at the period's end on its own (no sub-units; merged units
        rolled in), from two grouped queries."""
        rollup = self.rulebook.rollup(p.last_day)

        async def count(conn: asyncpg.Connection) -> dict[str, Figures]:
            counted = await sql_figures.figures_by_unit(conn, p, rollup=rollup)
            return {u.code: counted.get(u.code) or sql_figures.empty()
                    for u in self.rulebook.in_force(p.last_day)}

        async def settled(conn: asyncpg.Connection) -> datetime:
            return await sql_figures.settled_until(conn, None, p, rollup=rollup)
        got = await self._kept(("all",), None, p, count, settled)
        assert isinstance(got, dict)
        return dict(got)  # the caller's own map; the figures in it are shared

    async def some_units(self, units: list[str], p: Period) -> dict[str, Figures]:
        return await sql_figures.figures_by_unit(self.pool, p, units,
                                                 self.rulebook.rollup(p.last_day))

    async def desks(self, p: Period) -> dict[str, DeskCounts]:
        """Every desk that exists at the period's end, with merged units' desks rolled in."""
        counted = await sql_figures.desk_counts(self.pool, p, self.rulebook.rollup(p.last_day))
        return {u.code: counted.get(u.code, DeskCounts())
                for u in self.rulebook.in_force(p.last_day)}

    async def stuck(self, today: date) -> dict[str, int]:
        """Each unit that exists today: its open dossiers stuck now."""
        counted = await sql_figures.stuck_counts(self.pool, self.rulebook.rollup(today))
        return {u.code: counted.get(u.code, 0) for u in self.rulebook.in_force(today)}

    async def rankings(self, block: str, by: str, p: Period, min_sample: int) -> list[Ranked]:
        everyone = await self.all_units(p)
        in_block = {u.code: everyone[u.code] for u in self.rulebook.in_force(p.last_day)
                    if u.block == block}
        return rank(in_block, by, min_sample)
