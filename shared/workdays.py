"""The working-day calendar and the deadline rules (docs/rules/lifecycle.md), as pure functions.

Working days are Monday–Friday minus Vietnamese public holidays, plus the Saturdays made
working days in exchange for bridging days off; the ``holidays`` package knows the lunar
dates, observed days and ``weekend_workdays``. A province (and a unit) may add overrides
for ad-hoc decisions: a date made a day off, or a day off made a working day.

The choices made here (docs/rules/lifecycle.md states them for officers and operators):

* ``counted_from`` is the receipt time itself when the dossier arrived on a working day
  before the cut-off (received at exactly the cut-off is on time); otherwise the opening
  of office hours (policy, default 07:30) of the next working day.
* Supplement pauses move the due date by whole working days: the working days ``d`` with
  ``request day < d <= supplement day``. A request and its supplement on the same day
  cost nothing; Friday to Monday costs one day. Paused *time* is also reported in
  working hours (office hours of working days) by :meth:`WorkingCalendar.working_seconds`.
* The apology deadline is the end of office hours of the working day ``lead`` (policy,
  default 1) working days before the due day, and never earlier than receipt; when that
  leaves no room (N = 0 or 1 received late), the deadline is the due time itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SupplementPolicy = Literal["pause", "restart"]


@lru_cache(maxsize=1)
def _national() -> holidays.HolidayBase:
    return holidays.country_holidays("VN")


@lru_cache(maxsize=8192)
def _nationally_working(d: date) -> bool:
    """The national calendar's answer for one day, remembered: the library's check is a
    dictionary walk and a weekday rule, asked for every day of every deadline."""
    return bool(_national().is_working_day(d))


@dataclass(frozen=True)
class OfficePolicy:
    """The *policy* values of the deadline rules (docs/rules/lifecycle.md), configurable per
    province and per unit."""

    cutoff: time = time(15, 0)
    office_open: time = time(7, 30)
    office_close: time = time(17, 0)
    apology_lead_working_days: int = 1
    supplement_policy: SupplementPolicy = "pause"
    max_reappointments: int = 1
    tz: ZoneInfo = VN_TZ


@dataclass(frozen=True)
class WorkingCalendar:
    """National calendar plus overrides (``date -> is working``)."""

    overrides: Mapping[date, bool] = field(default_factory=dict)

    def with_overrides(self, more: Mapping[date, bool]) -> WorkingCalendar:
        """A unit's calendar: the province's overrides, then the unit's own on top."""
        if not more:
            return self
        return WorkingCalendar({**self.overrides, **more})

    def is_working_day(self, d: date) -> bool:
        if d in self.overrides:
            return self.overrides[d]
        return _nationally_working(d)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        d += timedelta(days=1)
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def add_working_days(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d``; ``n = 0`` gives ``d`` itself."""
        if n < 0:
            raise ValueError("n must be >= 0")
        for _ in range(n):
            d = self.next_working_day(d)
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """Working days ``d`` with ``start < d <= end`` (0 if ``end <= start``)."""
        count = 0
        d = start
        while d < end:
            d += timedelta(days=1)
            if self.is_working_day(d):
                count += 1
        return count

    def working_seconds(self, start: datetime, end: datetime, policy: OfficePolicy) -> float:
        """Working time between two instants: office hours of working days only."""
        if end <= start:
            return 0.0
        tz = policy.tz
        a, b = start.astimezone(tz), end.astimezone(tz)
        total = 0.0
        d = a.date()
        while d <= b.date():
            if self.is_working_day(d):
                opens = datetime.combine(d, policy.office_open, tz)
                closes = datetime.combine(d, policy.office_close, tz)
                lo, hi = max(opens, a), min(closes, b)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            d += timedelta(days=1)
        return total


@dataclass(frozen=True)
class Deadline:
    received_at: datetime
    counted_from: datetime
    due_at: datetime
    apology_deadline: datetime
    processing_days: int


def _close_of(d: date, policy: OfficePolicy) -> datetime:
    return datetime.combine(d, policy.office_close, policy.tz)


def counted_from(received_at: datetime, cal: WorkingCalendar, policy: OfficePolicy) -> datetime:
    """When the legal clock starts (docs/rules/lifecycle.md): receipt, or the next working
    day's opening."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    local = received_at.astimezone(policy.tz)
    if cal.is_working_day(local.date()) and local.time() <= policy.cutoff:
        return local
    return datetime.combine(cal.next_working_day(local.date()), policy.office_open, policy.tz)


def due_date(received_at: datetime, processing_days: int, cal: WorkingCalendar,
             policy: OfficePolicy) -> Deadline:
    """``due_at`` is office close of the N-th working day after the counted-from day."""
    if processing_days < 0:
        raise ValueError("processing_days must be >= 0")
    start = counted_from(received_at, cal, policy)
    due = _close_of(cal.add_working_days(start.date(), processing_days), policy)
    return Deadline(received_at=received_at, counted_from=start, due_at=due,
                    apology_deadline=apology_deadline(due, received_at, cal, policy),
                    processing_days=processing_days)


def latest_reappointment(current_due: datetime, processing_days: int, cal: WorkingCalendar,
                         policy: OfficePolicy) -> datetime:
    """The latest new date an apology may give (*policy*): the procedure's own processing
    time again after the current due date (one working day for a same-day procedure)."""
    d = current_due.astimezone(policy.tz).date()
    return _close_of(cal.add_working_days(d, max(1, processing_days)), policy)


def apology_deadline(due_at: datetime, received_at: datetime, cal: WorkingCalendar,
                     policy: OfficePolicy) -> datetime:
    """The last moment a timely apology (Form 04) can be issued."""
    d = due_at.astimezone(policy.tz).date()
    for _ in range(policy.apology_lead_working_days):
        d -= timedelta(days=1)
        while not cal.is_working_day(d):
            d -= timedelta(days=1)
    deadline = _close_of(d, policy)
    return due_at if deadline < received_at else deadline


def paused_working_days(requested_at: datetime, supplied_at: datetime, cal: WorkingCalendar,
                        policy: OfficePolicy) -> int:
    """Whole working days a supplement request held the clock (see module docstring)."""
    a = requested_at.astimezone(policy.tz).date()
    b = supplied_at.astimezone(policy.tz).date()
    return cal.working_days_between(a, b)


def due_after_supplement(due_at: datetime, requested_at: datetime, supplied_at: datetime,
                         processing_days: int, cal: WorkingCalendar,
                         policy: OfficePolicy) -> datetime:
    """The due time once a supplement arrives: paused (default) or restarted (policy)."""
    if policy.supplement_policy == "restart":
        return due_date(supplied_at, processing_days, cal, policy).due_at
    days = paused_working_days(requested_at, supplied_at, cal, policy)
    return _close_of(cal.add_working_days(due_at.astimezone(policy.tz).date(), days), policy)


Timeliness = Literal["early", "on_time", "late"]


def timeliness(end: datetime, due_at: datetime, cal: WorkingCalendar,
               policy: OfficePolicy) -> Timeliness:
    """Decision 766 indicator 2.1: early before the due day, on time on it by due_at."""
    if end > due_at:
        return "late"
    if end.astimezone(policy.tz).date() < due_at.astimezone(policy.tz).date():
        return "early"
    return "on_time"
