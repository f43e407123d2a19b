"""The one place that says what time it is.

Every service reads "now" through a :class:`Clock` that the bootstrap hands it, so that a
test can put a fixed or moving clock in its place. The calendar questions that follow from
"now" (which local day, month, quarter or year it is) are answered here too, in the units'
legal zone, so that 31 December 17:00 UTC is already New Year's Day everywhere it matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

VN = ZoneInfo("Asia/Ho_Chi_Minh")
# How far another party's clock (a courier's, an identity provider's) may be from ours.
CLOCK_SKEW = timedelta(minutes=1)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock for tests: stands still at ``at`` until it is moved."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("a clock's time needs a timezone")

    def now(self) -> datetime:
        return self.at.astimezone(UTC)

    def advance(self, by: timedelta) -> None:
        self.at = self.at + by


SYSTEM_CLOCK: Clock = SystemClock()


def local_today(now: datetime, tz: ZoneInfo = VN) -> date:
    """The calendar day it is in the units' zone at ``now``."""
    if now.tzinfo is None:
        raise ValueError("now needs a timezone")
    return now.astimezone(tz).date()


def month_span(day: date) -> tuple[date, date]:
    """First and last day of ``day``'s month."""
    first = day.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last


def previous_month_span(day: date) -> tuple[date, date]:
    """First and last day of the month before ``day``'s."""
    return month_span(day.replace(day=1) - timedelta(days=1))


def quarter_span(day: date) -> tuple[date, date]:
    """First and last day of ``day``'s calendar quarter."""
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    last_month_first = date(day.year, first.month + 2, 1)
    return first, month_span(last_month_first)[1]


def year_span(day: date) -> tuple[date, date]:
    """1 January and 31 December of ``day``'s year."""
    return date(day.year, 1, 1), date(day.year, 12, 31)
