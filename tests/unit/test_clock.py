"""The date logic behind "now", at the awkward moments: a minute either side of local
midnight at a month end and a year end, 31 December in UTC when it is already 1 January in
Vietnam, and Tết, with fixed clocks."""

from __future__ import annotations

import typing
from datetime import UTC, date, datetime, timedelta

import pytest

from services.metrics.adapters.live import Watched
from services.metrics.api.routes import PresetName
from services.metrics.domain.figures import PRESETS, Period, PeriodError
from shared.clock import VN, FixedClock, local_today, quarter_span
from tests.support.dates import Weeks


def vn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


def days(p: Period) -> tuple[date, date]:
    """A period's first and last local day."""
    return p.start.astimezone(VN).date(), (p.end.astimezone(VN) - timedelta(days=1)).date()


def test_the_api_offers_exactly_the_presets_the_domain_knows() -> None:
    assert set(typing.get_args(PresetName)) == set(PRESETS)


@pytest.mark.parametrize(("now", "today"), [
    (datetime(2026, 12, 31, 16, 59, tzinfo=UTC), date(2026, 12, 31)),
    (datetime(2026, 12, 31, 17, 0, tzinfo=UTC), date(2027, 1, 1)),  # already New Year in VN
    (vn(2026, 11, 30, 23, 59), date(2026, 11, 30)),
    (vn(2026, 12, 1, 0, 1), date(2026, 12, 1)),
])
def test_the_local_day_is_the_units_zones(now: datetime, today: date) -> None:
    assert local_today(now) == today


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        local_today(datetime(2026, 12, 1, 9))
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 12, 1, 9))


@pytest.mark.parametrize(("now", "preset", "first", "last"), [
    # A month end, a minute either side of local midnight.
    (vn(2026, 11, 30, 23, 59), "this_month", date(2026, 11, 1), date(2026, 11, 30)),
    (vn(2026, 12, 1, 0, 1), "this_month", date(2026, 12, 1), date(2026, 12, 31)),
    (vn(2026, 12, 1, 0, 1), "last_month", date(2026, 11, 1), date(2026, 11, 30)),
    (vn(2026, 11, 30, 23, 59), "last_month", date(2026, 10, 1), date(2026, 10, 31)),
    # A year end.
    (vn(2026, 12, 31, 23, 59), "this_year", date(2026, 1, 1), date(2026, 12, 31)),
    (vn(2027, 1, 1, 0, 1), "this_year", date(2027, 1, 1), date(2027, 12, 31)),
    (vn(2027, 1, 1, 0, 1), "last_month", date(2026, 12, 1), date(2026, 12, 31)),
    (vn(2026, 12, 31, 23, 59), "this_quarter", date(2026, 10, 1), date(2026, 12, 31)),
    (vn(2027, 1, 1, 0, 1), "this_quarter", date(2027, 1, 1), date(2027, 3, 31)),
    # 31 December 17:30 UTC is 1 January 00:30 in Vietnam.
    (datetime(2026, 12, 31, 17, 30, tzinfo=UTC), "this_month", date(2027, 1, 1),
     date(2027, 1, 31)),
    (datetime(2026, 12, 31, 17, 30, tzinfo=UTC), "this_year", date(2027, 1, 1),
     date(2027, 12, 31)),
    (datetime(2026, 12, 31, 16, 30, tzinfo=UTC), "this_year", date(2026, 1, 1),
     date(2026, 12, 31)),
    # Tết 2027 (4–10 February off): the month is February whatever the calendar says.
    (vn(2027, 2, 8, 9), "this_month", date(2027, 2, 1), date(2027, 2, 28)),
    (vn(2027, 2, 8, 9), "last_month", date(2027, 1, 1), date(2027, 1, 31)),
    # A leap February.
    (vn(2028, 2, 29, 12), "this_month", date(2028, 2, 1), date(2028, 2, 29)),
])
def test_presets_at_awkward_moments(now: datetime, preset: str, first: date, last: date) -> None:
    p = Period.asked(preset, None, None, None, now)
    assert days(p) == (first, last)
    assert p.as_of == min(now, p.end)


def test_the_period_is_judged_at_now_or_at_its_end() -> None:
    now = vn(2026, 12, 1, 0, 1)
    assert Period.asked("this_month", None, None, None, now).as_of == now
    # Last month has ended: it is judged at its end, not now.
    assert Period.asked("last_month", None, None, None, now).as_of == vn(2026, 12, 1)


def test_days_default_to_the_month_of_now() -> None:
    now = vn(2027, 1, 1, 0, 1)
    assert days(Period.asked(None, None, None, None, now)) == (date(2027, 1, 1),
                                                               date(2027, 1, 31))
    assert days(Period.asked(None, date(2026, 12, 15), None, None, now)) == (
        date(2026, 12, 15), date(2027, 1, 31))
    # One bound alone, on the far side of this month: the other is its own month's.
    assert days(Period.asked(None, None, date(2026, 10, 20), None, now)) == (
        date(2026, 10, 1), date(2026, 10, 20))
    assert days(Period.asked(None, date(2027, 3, 5), None, None, now)) == (
        date(2027, 3, 5), date(2027, 3, 31))
    as_of = vn(2026, 12, 20, 12)
    p = Period.asked(None, date(2026, 12, 1), date(2026, 12, 31), as_of, now)
    assert days(p) == (date(2026, 12, 1), date(2026, 12, 31)) and p.as_of == as_of


@pytest.mark.parametrize(("preset", "first", "last", "as_of", "field"), [
    ("this_month", date(2026, 12, 1), None, None, "period"),
    ("next_decade", None, None, None, "period"),
    (None, date(2026, 12, 2), date(2026, 12, 1), None, "to"),
    (None, None, None, datetime(2026, 12, 1, 9), "as_of"),
])
def test_periods_that_cannot_be_asked_for(preset: str | None, first: date | None,
                                          last: date | None, as_of: datetime | None,
                                          field: str) -> None:
    with pytest.raises(PeriodError) as e:
        Period.asked(preset, first, last, as_of, vn(2026, 12, 1, 9))
    assert e.value.field == field


def test_quarter_spans() -> None:
    assert quarter_span(date(2026, 5, 17)) == (date(2026, 4, 1), date(2026, 6, 30))
    assert quarter_span(date(2026, 9, 30)) == (date(2026, 7, 1), date(2026, 9, 30))


def test_a_watched_preset_moves_on_with_the_clock_and_a_range_does_not() -> None:
    clock = FixedClock(vn(2026, 12, 31, 23, 59))
    month, fixed = Watched(), Watched(preset=None, first=date(2026, 12, 1),
                                      last=date(2026, 12, 31))
    assert days(month.resolve(clock)) == (date(2026, 12, 1), date(2026, 12, 31))
    clock.advance(timedelta(minutes=2))
    assert days(month.resolve(clock)) == (date(2027, 1, 1), date(2027, 1, 31))
    assert days(fixed.resolve(clock)) == (date(2026, 12, 1), date(2026, 12, 31))


def test_weeks_ago_starts_on_a_working_day_even_after_tet() -> None:
    # 45 days before 16 March 2027 is 30 January, a Saturday: moved back to Friday 29/1.
    w = Weeks.ago("H26.110", now=vn(2027, 3, 16, 9))
    assert w.first == date(2027, 1, 29)
    # Its working days skip the weekend and Tết (4–10 February 2027).
    assert [w.day(n) for n in range(1, 6)] == [date(2027, 2, 1), date(2027, 2, 2),
                                               date(2027, 2, 3), date(2027, 2, 11),
                                               date(2027, 2, 12)]
    assert w.at(0, 9) == vn(2027, 1, 29, 9)
