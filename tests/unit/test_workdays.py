"""The working-day calendar and deadline rules, with every example of docs/rules/lifecycle.md."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.workdays import (
    VN_TZ,
    OfficePolicy,
    WorkingCalendar,
    apology_deadline,
    counted_from,
    due_after_supplement,
    due_date,
    paused_working_days,
    timeliness,
)

CAL = WorkingCalendar()
POLICY = OfficePolicy()


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN_TZ)


def close(y: int, m: int, d: int) -> datetime:
    return at(y, m, d, 17, 0)


@pytest.mark.parametrize(
    ("received", "n", "expected_from", "expected_due"),
    [
        # the examples of docs/rules/lifecycle.md
        (at(2026, 11, 16), 3, at(2026, 11, 16), close(2026, 11, 19)),
        (at(2026, 11, 23), 3, at(2026, 11, 23), close(2026, 11, 27)),  # 24/11 Culture Day
        (at(2026, 2, 13, 16, 30), 3, at(2026, 2, 23, 7, 30), close(2026, 2, 26)),  # Tết, late
        (at(2026, 2, 13), 3, at(2026, 2, 13), close(2026, 2, 25)),  # Tết crossing
        # received on a Sunday: counts from Monday
        (at(2026, 11, 22), 3, at(2026, 11, 23, 7, 30), close(2026, 11, 27)),
        # after the cut-off on a Wednesday: counts from Thursday
        (at(2026, 11, 18, 15, 1), 2, at(2026, 11, 19, 7, 30), close(2026, 11, 23)),
        # exactly at the cut-off is not after it
        (at(2026, 11, 18, 15, 0), 2, at(2026, 11, 18, 15, 0), close(2026, 11, 20)),
        # N = 0: the end of the receipt day, or of the counted-from day when late
        (at(2026, 11, 18), 0, at(2026, 11, 18), close(2026, 11, 18)),
        (at(2026, 11, 20, 16, 0), 0, at(2026, 11, 23, 7, 30), close(2026, 11, 23)),
        # the swapped Saturday 2025-04-26 is a working day; 2 May 2025 is off in exchange
        (at(2025, 4, 25), 1, at(2025, 4, 25), close(2025, 4, 26)),
        (at(2025, 4, 26, 9), 0, at(2025, 4, 26, 9), close(2025, 4, 26)),
        (at(2025, 4, 29), 2, at(2025, 4, 29), close(2025, 5, 6)),  # 30/4, 1/5, 2/5, weekend off
        # Tết 2025 (27 Jan – 1 Feb) crossed by a 5-day procedure
        (at(2025, 1, 24), 5, at(2025, 1, 24), close(2025, 2, 7)),
    ],
)
def test_counted_from_and_due_at(received: datetime, n: int, expected_from: datetime,
                                 expected_due: datetime) -> None:
    d = due_date(received, n, CAL, POLICY)
    assert d.counted_from == expected_from
    assert d.due_at == expected_due


def test_receipt_time_in_utc_is_judged_in_local_time() -> None:
    # 08:30 UTC is 15:30 in Hà Nội: after the cut-off.
    received = datetime.fromisoformat("2026-11-18T08:30:00+00:00")
    assert counted_from(received, CAL, POLICY) == at(2026, 11, 19, 7, 30)


def test_national_days_and_observed_days() -> None:
    assert not CAL.is_working_day(date(2026, 11, 24))  # Vietnam Culture Day, from 2026
    assert not CAL.is_working_day(date(2026, 4, 27))  # Hùng Kings observed (26/4 is a Sunday)
    assert not CAL.is_working_day(date(2026, 9, 2))
    assert CAL.is_working_day(date(2025, 4, 26))  # swapped Saturday
    assert not CAL.is_working_day(date(2025, 5, 2))  # the bridging day it bought
    assert not CAL.is_working_day(date(2025, 4, 19))  # an ordinary Saturday


def test_province_and_unit_overrides() -> None:
    province = CAL.with_overrides({date(2026, 11, 20): False})  # ad-hoc day off
    unit = province.with_overrides({date(2026, 11, 21): True})  # unit works that Saturday
    assert not province.is_working_day(date(2026, 11, 20))
    assert unit.is_working_day(date(2026, 11, 21)) and not unit.is_working_day(date(2026, 11, 20))
    assert due_date(at(2026, 11, 19), 1, province, POLICY).due_at == close(2026, 11, 23)
    assert due_date(at(2026, 11, 19), 1, unit, POLICY).due_at == close(2026, 11, 21)


def test_unit_policy_cutoff() -> None:
    late_desk = OfficePolicy(cutoff=time(16, 0))
    assert counted_from(at(2026, 11, 18, 15, 30), CAL, late_desk) == at(2026, 11, 18, 15, 30)
    assert counted_from(at(2026, 11, 18, 15, 30), CAL, POLICY) == at(2026, 11, 19, 7, 30)


def test_supplement_pause_across_a_weekend() -> None:
    d = due_date(at(2026, 11, 16), 5, CAL, POLICY)  # due Mon 23/11 17:00
    assert d.due_at == close(2026, 11, 23)
    requested, supplied = at(2026, 11, 20, 10), at(2026, 11, 23, 10)  # Fri -> Mon
    assert paused_working_days(requested, supplied, CAL, POLICY) == 1
    # one working day later, and 24/11 is a day off: Wednesday 25/11
    assert due_after_supplement(d.due_at, requested, supplied, 5, CAL, POLICY) == close(2026, 11, 25)
    # the paused working time: Fri 10:00–17:00 and Mon 07:30–10:00
    assert CAL.working_seconds(requested, supplied, POLICY) == (7 + 2.5) * 3600


def test_supplement_the_same_day_costs_nothing_and_restart_policy_recomputes() -> None:
    due = close(2026, 11, 27)
    assert due_after_supplement(due, at(2026, 11, 25, 9), at(2026, 11, 25, 14), 3, CAL,
                                POLICY) == due
    restart = OfficePolicy(supplement_policy="restart")
    # full 3 days from the supplement's receipt on Wed 25/11: Thu, Fri, Mon
    assert due_after_supplement(due, at(2026, 11, 23), at(2026, 11, 25, 9), 3, CAL,
                                restart) == close(2026, 11, 30)


def test_apology_deadline_is_one_working_day_before_the_due_day() -> None:
    d = due_date(at(2026, 11, 23), 3, CAL, POLICY)  # due Fri 27/11
    assert d.apology_deadline == close(2026, 11, 26)
    d = due_date(at(2026, 11, 19), 3, CAL, POLICY)  # due Wed 25/11; day before is 24/11 (off)
    assert d.due_at == close(2026, 11, 25) and d.apology_deadline == close(2026, 11, 23)
    d = due_date(at(2026, 11, 18), 0, CAL, POLICY)  # N = 0: no earlier day left
    assert d.apology_deadline == d.due_at
    two = OfficePolicy(apology_lead_working_days=2)
    assert apology_deadline(close(2026, 11, 27), at(2026, 11, 16), CAL, two) == close(2026, 11, 25)


def test_timeliness() -> None:
    due = close(2026, 11, 27)
    assert timeliness(at(2026, 11, 26, 16), due, CAL, POLICY) == "early"
    assert timeliness(at(2026, 11, 27, 8), due, CAL, POLICY) == "on_time"
    assert timeliness(close(2026, 11, 27), due, CAL, POLICY) == "on_time"
    assert timeliness(close(2026, 11, 27) + timedelta(seconds=1), due, CAL, POLICY) == "late"


@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31),
                    timezones=st.just(VN_TZ)),
       st.integers(min_value=0, max_value=40))
def test_due_day_is_a_working_day_with_exactly_n_working_days_counted(received: datetime,
                                                                     n: int) -> None:
    d = due_date(received, n, CAL, POLICY)
    start, due = d.counted_from.date(), d.due_at.date()
    assert CAL.is_working_day(start) and CAL.is_working_day(due)
    assert CAL.working_days_between(start, due) == n
    assert d.counted_from >= received and d.due_at.time() == POLICY.office_close
    assert d.apology_deadline <= d.due_at
