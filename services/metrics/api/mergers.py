"""What a unit's figures say about mergers: the units rolled into it over the period, or the
unit it was merged into (docs/rules/metrics.md, "Merged units")."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from shared.rulebook import Rulebook


class MergedUnit(BaseModel):
    unit_code: str
    name: str
    merged_on: date = Field(description="the first day the old unit no longer existed")


class Mergers(BaseModel):
    rolled_in: list[MergedUnit] = Field(
        default_factory=list, description="units merged into this one by the period's last "
                                          "day: their dossiers are counted here")
    merged_into: MergedUnit | None = Field(
        default=None, description="the unit this one was merged into, and when")


def mergers(rb: Rulebook, code: str, last_day: date) -> dict[str, Any]:
    """The fields of :class:`Mergers` for ``code`` over a period ending ``last_day``."""
    def named(unit_code: str, on: date) -> MergedUnit:
        unit = rb.unit(unit_code)
        return MergedUnit(unit_code=unit_code, name=unit.name if unit else unit_code,
                          merged_on=on)

    merged = rb.merger_of(code)
    return {"rolled_in": [named(r.code, r.merged_on) for r in rb.rolled_into(code, last_day)],
            "merged_into": named(*merged) if merged else None}
