"""Figures for units, blocks and procedures, counted by PostgreSQL (``sql_figures``) under the
definitions of ``domain.figures``."""

from __future__ import annotations

import asyncpg

from services.metrics.adapters import sql_figures
from services.metrics.domain.figures import Figures, Period, Ranked, rank
from shared.rulebook import Rulebook


class MetricsReader:
    def __init__(self, pool: asyncpg.Pool, rulebook: Rulebook) -> None:
        self.pool = pool
        self.rulebook = rulebook

    def units_of(self, unit_code: str, include_subunits: bool) -> list[str]:
        return self.rulebook.subunits(unit_code) if include_subunits else [unit_code]

    async def unit(self, unit_code: str, p: Period, *, include_subunits: bool = False) -> Figures:
        return await sql_figures.figures(self.pool, self.units_of(unit_code, include_subunits), p)

    async def procedure(self, code: str, p: Period, unit_code: str | None = None,
                        include_subunits: bool = False) -> Figures:
        units = self.units_of(unit_code, include_subunits) if unit_code else None
        return await sql_figures.figures(self.pool, units, p, procedure=code)

    async def all_units(self, p: Period) -> dict[str, Figures]:
        """Every unit of the rulebook on its own (no sub-units), from two grouped queries."""
        counted = await sql_figures.figures_by_unit(self.pool, p)
        return {u.code: counted.get(u.code) or sql_figures.empty() for u in self.rulebook.units}

    async def some_units(self, units: list[str], p: Period) -> dict[str, Figures]:
        return await sql_figures.figures_by_unit(self.pool, p, units)

    async def rankings(self, block: str, by: str, p: Period, min_sample: int) -> list[Ranked]:
        everyone = await self.all_units(p)
        in_block = {u.code: everyone[u.code] for u in self.rulebook.units if u.block == block}
        return rank(in_block, by, min_sample)
