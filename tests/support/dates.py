"""Dates for tests, built from "now" and the province's own working calendar, so that no
test depends on the day it runs: "the working day some weeks ago", "the n-th working day
after it", "the local days of this month"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from shared.clock import VN, local_today, month_span, previous_month_span
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from shared.workdays import WorkingCalendar


def calendar_of(unit_code: str) -> WorkingCalendar:
    return load_rulebook(str(DEFAULT_RULEBOOK)).calendar_for(unit_code)


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """``day`` at a local wall-clock time."""
    return datetime.combine(day, time(hour, minute), VN)


@dataclass(frozen=True)
class Weeks:
    """A stretch of working days that begins ``days_back`` calendar days before now (moved
    back to a working day), long enough ago that everything in a test has happened."""

    calendar: WorkingCalendar
    first: date

    @classmethod
    def ago(cls, unit_code: str, days_back: int = 45, now: datetime | None = None) -> Weeks:
        cal = calendar_of(unit_code)
        d = local_today(now or datetime.now(UTC)) - timedelta(days=days_back)
        while not cal.is_working_day(d):
            d -= timedelta(days=1)
        return cls(cal, d)

    def day(self, n: int) -> date:
        """The ``n``-th working day after the first (0 is the first itself)."""
        return self.calendar.add_working_days(self.first, n)

    def at(self, n: int, hour: int = 9, minute: int = 0) -> datetime:
        return at(self.day(n), hour, minute)


def today() -> date:
    return local_today(datetime.now(UTC))


def this_month() -> tuple[date, date]:
    return month_span(today())


def last_month() -> tuple[date, date]:
    return previous_month_span(today())


def new_appointment(days_ahead: int = 25) -> str:
    """A new date for an apology on a dossier of a 10-working-day procedure filed now: after
    its due date (at most three weeks ahead, Tết included) and within the procedure's own
    processing time after it."""
    return at(today() + timedelta(days=days_ahead), 17).isoformat()
