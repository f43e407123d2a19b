"""Figures for units, blocks and procedures, computed from the stored facts by the pure
functions of ``domain.figures``."""

from __future__ import annotations

from collections import defaultdict

import asyncpg

from services.metrics.adapters import store
from services.metrics.domain.facts import Facts
from services.metrics.domain.figures import Figures, Period, Ranked, figures, rank
from shared.rulebook import Rulebook


class MetricsReader:
    def __init__(self, pool: asyncpg.Pool, rulebook: Rulebook) -> None:
        self.pool = pool
        self.rulebook = rulebook

    def units_of(self, unit_code: str, include_subunits: bool) -> list[str]:
        return self.rulebook.subunits(unit_code) if include_subunits else [unit_code]

    async def unit(self, unit_code: str, p: Period, *, include_subunits: bool = False) -> Figures:
        units = self.units_of(unit_code, include_subunits)
        async with self.pool.acquire() as conn:
            pop = await store.population(conn, units, p)
            rated = await store.ratings(conn, units, p)
        return figures(pop, rated, p)

    async def procedure(self, code: str, p: Period, unit_code: str | None = None,
                        include_subunits: bool = False) -> Figures:
        units = self.units_of(unit_code, include_subunits) if unit_code else None
        async with self.pool.acquire() as conn:
            pop = await store.population(conn, units, p, procedure=code)
            rated = await store.ratings(conn, units, p, procedure=code)
        return figures(pop, rated, p)

    async def all_units(self, p: Period) -> dict[str, Figures]:
        """Every unit of the rulebook on its own (no sub-units), from two queries."""
        pop, rated = await store.population_by_unit(self.pool, p)
        by_unit: dict[str, list[Facts]] = defaultdict(list)
        ratings_by_unit: dict[str, list[Facts]] = defaultdict(list)
        for f in pop:
            by_unit[f.unit_code or ""].append(f)
        for f in rated:
            ratings_by_unit[f.rating_unit or ""].append(f)
        return {u.code: figures(by_unit.get(u.code, []), ratings_by_unit.get(u.code, []), p)
                for u in self.rulebook.units}

    async def rankings(self, block: str, by: str, p: Period, min_sample: int) -> list[Ranked]:
        everyone = await self.all_units(p)
        in_block = {u.code: everyone[u.code] for u in self.rulebook.units if u.block == block}
        return rank(in_block, by, min_sample)
