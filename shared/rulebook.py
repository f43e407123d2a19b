"""The rulebook: a versioned file with the province's units, procedures, calendar overrides
and policies (the *policy* values of docs/rules/lifecycle.md). Intake loads the catalog into
its own tables; processing reads the calendar and policies from the same file. Changing a
decree's figures means shipping a new version of this file; every dossier records the
version it was received under (``rulebook`` in ``dossier.received``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.workdays import OfficePolicy, WorkingCalendar

UNIT_CODE = r"^[A-Z0-9][A-Z0-9.]{0,30}$"


class CalendarOverride(BaseModel):
    model_config = ConfigDict(extra="ignore")
    date: date
    working: bool
    reason: str = ""


class Replaced(BaseModel):
    """A unit this one replaced in a merger, and the first day it no longer existed."""

    model_config = ConfigDict(extra="ignore")
    code: str = Field(pattern=UNIT_CODE)
    merged_on: date


class Unit(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str = Field(pattern=UNIT_CODE)
    name: str
    parent: str | None = None
    block: str
    cutoff: time | None = None
    calendar_overrides: list[CalendarOverride] = Field(default_factory=list)
    # The units merged into this one (two-level local government, 2025): their dossiers keep
    # their codes, and figures over a period that reaches a merger roll them into this unit.
    replaces: list[Replaced] = Field(default_factory=list)


class Procedure(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str
    name: str
    field: str = ""
    processing_days: int = Field(ge=0)
    fee: int = Field(default=0, ge=0)
    postal_filing: bool = True
    postal_return: bool = True
    level: str = "department"
    # How the procedure is offered online (the national index, 3.1): through the whole
    # process (toàn trình), in part (một phần), or not at all.
    online: Literal["whole", "partial", "none"] = "partial"
    # The competent units: those that resolve the procedure (and that transfers move between).
    units: list[str]
    # The desks that may receive a filing (filing regardless of administrative boundaries):
    # any desk of the province, only a competent unit's own desk, or the listed units.
    filing_desks: Literal["province", "competent"] | list[str] = "competent"


class Defaults(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cutoff: time = time(15, 0)
    office_open: time = time(7, 30)
    office_close: time = time(17, 0)
    apology_lead_working_days: int = Field(default=1, ge=0)
    supplement_policy: Literal["pause", "restart"] = "pause"
    max_reappointments: int = Field(default=1, ge=0)
    # An open dossier with no step for this many whole working days is stuck (hồ sơ treo).
    stuck_after_working_days: int = Field(default=5, ge=1, le=60)
    # Complaints (phản ánh, kiến nghị): working days to refuse one as out of scope, to ask
    # for more information, to answer it, and to publish the answer once given.
    complaint_refuse_working_days: int = Field(default=2, ge=1, le=60)
    complaint_request_info_working_days: int = Field(default=5, ge=1, le=60)
    complaint_answer_working_days: int = Field(default=15, ge=1, le=120)
    complaint_publish_working_days: int = Field(default=2, ge=1, le=60)


class NationalPortalMapping(BaseModel):
    """How the national public-service portal names what we name otherwise."""

    model_config = ConfigDict(extra="ignore")
    madonvi: str = Field(default="", max_length=64, description="the province's unit id there")
    # Our status (shared/status.py) -> its TrangThaiHoSo code; every status needs one.
    status_codes: dict[str, str] = Field(default_factory=dict)
    # Our procedure code -> its MaTTHC, where they differ.
    procedure_codes: dict[str, str] = Field(default_factory=dict)
    # A field (lĩnh vực) -> its MaLinhVuc.
    field_codes: dict[str, str] = Field(default_factory=dict)


class RulebookFile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str
    timezone: str = "Asia/Ho_Chi_Minh"
    province: str
    defaults: Defaults = Field(default_factory=Defaults)
    calendar_overrides: list[CalendarOverride] = Field(default_factory=list)
    units: list[Unit]
    procedures: list[Procedure]
    # The national index's maximum points, thresholds and empty rule per indicator, where the
    # province's scoring differs from Decision 766's defaults: {"3.3": {"threshold": 70}}.
    index766: dict[str, dict[str, Any]] = Field(default_factory=dict)
    national_portal: NationalPortalMapping = Field(default_factory=NationalPortalMapping)

    @model_validator(mode="after")
    def _consistent(self) -> RulebookFile:
        codes = [u.code for u in self.units]
        if len(set(codes)) != len(codes):
            raise ValueError("duplicate unit codes")
        known = set(codes)
        for u in self.units:
            if u.parent is not None and u.parent not in known:
                raise ValueError(f"unit {u.code}: unknown parent {u.parent}")
        proc_codes = [p.code for p in self.procedures]
        if len(set(proc_codes)) != len(proc_codes):
            raise ValueError("duplicate procedure codes")
        for p in self.procedures:
            missing = set(p.units) - known
            if isinstance(p.filing_desks, list):
                missing |= set(p.filing_desks) - known
            if missing:
                raise ValueError(f"procedure {p.code}: unknown units {sorted(missing)}")
        successor: dict[str, str] = {}
        for u in self.units:
            for r in u.replaces:
                if r.code not in known or r.code == u.code:
                    raise ValueError(f"unit {u.code}: cannot replace {r.code}")
                if r.code in successor:
                    raise ValueError(f"unit {r.code} is replaced by both {successor[r.code]} "
                                     f"and {u.code}")
                successor[r.code] = u.code
        for start in successor:
            seen, code = {start}, successor[start]
            while code in successor:
                if code in seen:
                    raise ValueError(f"unit {start}: mergers form a cycle")
                seen.add(code)
                code = successor[code]
        return self


@dataclass(frozen=True)
class Rulebook:
    data: RulebookFile
    _units: dict[str, Unit] = field(default_factory=dict)
    _procedures: dict[str, Procedure] = field(default_factory=dict)
    # Each unit's calendar, built once: the rulebook is never changed in place (a new one
    # is loaded instead), and a calendar is asked for at every fold.
    _calendars: dict[str, WorkingCalendar] = field(default_factory=dict, compare=False)

    @property
    def version(self) -> str:
        return self.data.version

    def unit(self, code: str) -> Unit | None:
        return self._units.get(code)

    def procedure(self, code: str) -> Procedure | None:
        return self._procedures.get(code)

    @property
    def units(self) -> list[Unit]:
        return self.data.units

    @property
    def procedures(self) -> list[Procedure]:
        return self.data.procedures

    def may_receive(self, desk: str, procedure: Procedure) -> bool:
        """Whether the desk of unit ``desk`` may receive a filing of ``procedure``."""
        if procedure.filing_desks == "province":
            return True
        if procedure.filing_desks == "competent":
            return desk in procedure.units
        return desk in procedure.filing_desks or desk in procedure.units

    def merger_of(self, code: str) -> tuple[str, date] | None:
        """The unit that replaced ``code``, and the first day it no longer existed."""
        for u in self.units:
            for r in u.replaces:
                if r.code == code:
                    return u.code, r.merged_on
        return None

    def rollup(self, last_day: date) -> dict[str, str]:
        """Each unit merged by ``last_day`` (its merger date on or before it) -> the unit that
        stands for it then, following merger chains: a period ending that day reports the old
        unit's dossiers under that one."""
        direct = {r.code: u.code for u in self.units for r in u.replaces
                  if r.merged_on <= last_day}
        out = {}
        for old in direct:
            new = direct[old]
            while new in direct:
                new = direct[new]
            out[old] = new
        return out

    def rolled_into(self, code: str, last_day: date) -> list[Replaced]:
        """The units whose dossiers a period ending ``last_day`` reports under ``code``."""
        rolled = self.rollup(last_day)
        return sorted((Replaced(code=old, merged_on=m[1]) for old in rolled
                       if rolled[old] == code and (m := self.merger_of(old)) is not None),
                      key=lambda r: (r.merged_on, r.code))

    def reported_units(self, code: str, include_subunits: bool, last_day: date) -> list[str]:
        """The units whose dossiers a period ending ``last_day`` reports under ``code``: the
        unit (and its sub-units when asked), and every unit merged into one of them by then."""
        base = self.subunits(code) if include_subunits else [code]
        rolled = self.rollup(last_day)
        return base + sorted(old for old, new in rolled.items() if new in base)

    def in_force(self, last_day: date) -> list[Unit]:
        """The units that still exist on ``last_day`` (none merged by then)."""
        rolled = self.rollup(last_day)
        return [u for u in self.units if u.code not in rolled]

    def calendar_for(self, unit_code: str) -> WorkingCalendar:
        calendar = self._calendars.get(unit_code)
        if calendar is None:
            calendar = self._calendars[unit_code] = self._calendar_of(unit_code)
        return calendar

    def _calendar_of(self, unit_code: str) -> WorkingCalendar:
        province = WorkingCalendar({o.date: o.working for o in self.data.calendar_overrides})
        chain: list[Unit] = []
        unit = self.unit(unit_code)
        while unit is not None:
            chain.append(unit)
            unit = self.unit(unit.parent) if unit.parent else None
        for u in reversed(chain):  # the nearest unit's override wins
            province = province.with_overrides({o.date: o.working for o in u.calendar_overrides})
        return province

    def policy_for(self, unit_code: str) -> OfficePolicy:
        d = self.data.defaults
        unit = self.unit(unit_code)
        cutoff = d.cutoff
        while unit is not None:
            if unit.cutoff is not None:
                cutoff = unit.cutoff
                break
            unit = self.unit(unit.parent) if unit.parent else None
        return OfficePolicy(cutoff=cutoff, office_open=d.office_open, office_close=d.office_close,
                            apology_lead_working_days=d.apology_lead_working_days,
                            supplement_policy=d.supplement_policy,
                            max_reappointments=d.max_reappointments)

    def subunits(self, code: str) -> list[str]:
        """The unit and every unit below it."""
        children: dict[str, list[str]] = {}
        for u in self.units:
            if u.parent:
                children.setdefault(u.parent, []).append(u.code)
        out, stack = [], [code]
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(children.get(c, []))
        return out


def parse_rulebook(raw: dict[str, Any]) -> Rulebook:
    data = RulebookFile.model_validate(raw)
    return Rulebook(data, {u.code: u for u in data.units}, {p.code: p for p in data.procedures})


@lru_cache(maxsize=8)
def load_rulebook(path: str) -> Rulebook:
    return parse_rulebook(json.loads(Path(path).read_text(encoding="utf-8")))
