"""Contract: the per-day counts (``domain.tallies``) give the same figures as the fold over
every dossier's facts (``domain.figures``), for random event sets, periods and ``as_of``.

The events of each dossier arrive one at a time in a random order, and the per-day counts
are moved by each refold's ``delta``, as the consumer does: late and out-of-order events
land in past days. Times are drawn around month and day boundaries, in order or not, so
that dossiers whose times are out of order (judged at query time, never in the per-day
counts) are drawn too. The parts are selected as the PostgreSQL adapter selects them."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.metrics.domain import tallies
from services.metrics.domain.facts import EventRecord, Facts, fold, live_span
from services.metrics.domain.figures import Period, desk_counts, figures, figures_from
from services.metrics.domain.index766 import Counts
from services.metrics.domain.index766_counts import (
    ProcedureTerms,
    complained_good,
    index_counts,
    index_counts_from,
)
from tests.unit.test_metrics_golden import RB, VN, ev

BASE = datetime(2026, 10, 28, 0, tzinfo=VN)  # five days before 1 November
UNITS = ("H26.06", "H26.01")
NOW = datetime(2027, 1, 1, tzinfo=VN)


def at(hours: int) -> datetime:
    return BASE + timedelta(hours=hours)


@st.composite
def dossier(draw: st.DrawFn, code: str) -> list[EventRecord]:
    hour = st.integers(0, 24 * 12)
    got = draw(hour)
    unit = draw(st.sampled_from(UNITS))
    events = [ev("dossier.received", at(got), dossier_code=code, unit_code=unit,
                 procedure_code=draw(st.sampled_from(("P1", "P2", "P3"))),
                 channel=draw(st.sampled_from(("counter", "online", "postal"))),
                 received_at=at(got).isoformat(), counted_from=at(got).isoformat(),
                 due_at=at(got + draw(st.integers(-24, 96))).isoformat(), processing_days=3,
                 return_method="counter",
                 receiving_unit=draw(st.sampled_from((unit, "H26.105"))),
                 online_mode=draw(st.sampled_from((None, "whole", "partial"))),
                 population_data=draw(st.sampled_from((None, "vneid"))),
                 documents_total=2, documents_digitised=draw(st.integers(0, 2)),
                 documents_reused=draw(st.integers(0, 1)))]
    later = st.integers(got - 36, got + 24 * 8) if draw(st.booleans()) else \
        st.integers(got, got + 24 * 8)  # mostly in order; sometimes not
    for _ in range(draw(st.integers(0, 2))):
        asked = draw(later)
        events.append(ev("dossier.supplement_requested", at(asked),
                         requested_at=at(asked).isoformat()))
        if draw(st.booleans()):
            back = asked + draw(st.integers(1, 48))
            events.append(ev("dossier.supplement_received", at(back),
                             received_at=at(back).isoformat()))
    if draw(st.booleans()):
        sorry = draw(later)
        events.append(ev("dossier.apology_issued", at(sorry), issued_at=at(sorry).isoformat(),
                         reason="r", original_due_at=at(sorry).isoformat(),
                         new_due_at=at(sorry + draw(st.integers(-24, 72))).isoformat(),
                         timely=draw(st.booleans())))
    end = draw(st.sampled_from(("open", "resolved", "resolved", "rejected", "stopped",
                                "withdrawn")))
    ended = draw(later)
    if end == "resolved":
        events.append(ev("dossier.resolved", at(ended), resolved_at=at(ended).isoformat(),
                         outcome="approved", electronic_result_ref=draw(st.sampled_from(("", "R"))),
                         result_digitised=draw(st.booleans()),
                         shared_to_citizen=draw(st.booleans())))
    elif end != "open":
        events.append(ev(f"dossier.{end}", at(ended), at=at(ended).isoformat(), reason="r"))
    if end != "open" and draw(st.booleans()):
        back = ended + draw(st.integers(-6, 72))
        events.append(ev("dossier.result_returned", at(back), returned_at=at(back).isoformat(),
                         method=draw(st.sampled_from(("counter", "postal")))))
    for kind in ("national_portal.synced", "dossier.paid"):  # often after the end
        if draw(st.booleans()):
            t = draw(st.integers(got - 6, got + 24 * 12))
            events.append(ev(kind, at(t), at=at(t).isoformat(),
                             via=draw(st.sampled_from(("national_platform", "cash")))))
    if draw(st.booleans()):
        rated = draw(st.integers(got - 6, got + 24 * 10))
        criteria: dict[str, Any] = {"decree61": [draw(st.integers(0, 2))] * 9}
        if draw(st.booleans()):
            criteria["sipas"] = {"access": draw(st.integers(1, 5)), "result": 5}
        events.append(ev("feedback.submitted", at(rated), unit_code=draw(st.sampled_from(UNITS)),
                         rating=draw(st.sampled_from(("very_satisfied", "satisfied",
                                                      "unsatisfied", "other"))),
                         criteria=criteria, at=at(rated).isoformat()))
    return events


@st.composite
def window(draw: st.DrawFn, times: list[datetime]) -> Period:
    """A period of whole local days, judged at its end or near one of the events' times
    (just before or after it, or hours away: the cases where a day is cut)."""
    near = st.sampled_from(times).flatmap(
        lambda t: st.integers(-180, 180).map(lambda m: t + timedelta(minutes=m)))
    first = draw(st.one_of(near.map(lambda t: t.astimezone(VN).date()),
                           st.integers(-2, 12).map(lambda d: BASE.date() + timedelta(days=d))))
    first -= timedelta(days=draw(st.integers(0, 2)))
    last = first + timedelta(days=draw(st.integers(0, 10)))
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), VN)
    as_of = draw(st.one_of(
        st.none(), near, near, st.integers(-24 * 3, 24 * 25).map(at),
        st.integers(-2, 2).map(lambda h: end + timedelta(hours=h))))
    return Period.of(first, last, as_of, NOW if as_of is None else max(NOW, as_of))


def times_of(events: dict[str, list[EventRecord]]) -> list[datetime]:
    return sorted(e.occurred_at for evs in events.values() for e in evs)


def replay(codes: list[str], events: dict[str, list[EventRecord]], seed: int
           ) -> tuple[list[Facts], dict[tallies.Key, Counter[str]]]:
    """Every event arrives alone, in a random order; each refold moves the per-day counts
    by its delta, as ``store.upsert_facts`` does."""
    arrivals = [(code, e) for code in codes for e in events[code]]
    random.Random(seed).shuffle(arrivals)
    seen: dict[str, list[EventRecord]] = {}
    current: dict[str, Facts] = {}
    per_day: dict[tallies.Key, Counter[str]] = {}
    for code, e in arrivals:
        seen.setdefault(code, []).append(e)
        if e.type == "dossier.supplement_received" or len(seen[code]) % 3 == 0:
            seen[code].append(e)  # the same event again: the fold keeps one
        new = fold(code, seen[code], RB)
        before = [current[code]] if code in current else []
        for key, counts in tallies.delta(before, [new]).items():
            tallies.add(per_day.setdefault(key, Counter()), counts)
        current[code] = new
    return list(current.values()), per_day


def read(per_day: dict[tallies.Key, Counter[str]], facts: list[Facts], p: Period,
         units: set[str] | None) -> Counter[str]:
    """What the PostgreSQL adapter reads: the per-day rows of the units and the period's
    complete days, the live dossiers of the units, the ratings to them since the cut."""
    first, before = tallies.day_bounds(p)
    rows: Counter[str] = Counter()
    for (unit, _, day), counts in per_day.items():
        if (units is None or unit in units) and first <= day < before:
            tallies.add(rows, counts)
    cut = tallies.cut(p)
    live = [f for f in facts if (units is None or f.unit_code in units)
            and tallies.is_live(f, cut, p.as_of)]
    recent = [f for f in facts if f.rated_at is not None and cut <= f.rated_at <= p.as_of
              and f.rated_at < p.end and (units is None or f.rating_unit in units)]
    return tallies.combine(rows, live, recent, p, units)


def drawn(data: st.DataObject, most: int
          ) -> tuple[dict[str, list[EventRecord]], list[Facts], dict[tallies.Key, Counter[str]]]:
    """Up to ``most`` dossiers, replayed one event at a time in a drawn order."""
    codes = [f"D{i}" for i in range(data.draw(st.integers(1, most)))]
    events = {code: data.draw(dossier(code)) for code in codes}
    facts, per_day = replay(codes, events, data.draw(st.integers(0, 2**16)))
    return events, facts, per_day


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_per_day_counts_equal_the_fold(data: st.DataObject) -> None:
    events, facts, per_day = drawn(data, 8)
    # Moved one event at a time, the counts are what the final facts contribute.
    assert {k: nonzero for k, v in per_day.items()
            if (nonzero := Counter({n: x for n, x in v.items() if x}))} == tallies.delta([], facts)
    for _ in range(4):
        p = data.draw(window(times_of(events)))
        for units in ({UNITS[0]}, set(UNITS), None):
            expected = figures([f for f in facts if units is None or f.unit_code in units],
                               [f for f in facts if units is None or f.rating_unit in units], p)
            assert figures_from(read(per_day, facts, p, units)) == expected, (p, units)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_figures_are_the_same_at_every_moment_until_they_are_settled_until(
        data: st.DataObject) -> None:
    """Judged later than ``as_of`` but before ``settled_until``, every figure and every
    count of the national index is what it was at ``as_of``."""
    events, facts, _ = drawn(data, 8)
    for _ in range(3):
        p = data.draw(window(times_of(events)))
        for units in ({UNITS[0]}, None):
            mine = [f for f in facts if units is None or f.unit_code in units]
            rated = [f for f in facts if units is None or f.rating_unit in units]
            until = tallies.settled_until(mine, rated, p)
            assert until >= p.as_of
            span = until - p.as_of
            last = until - timedelta(microseconds=1)  # a fraction of the span may round up
            for later in {min(last, p.as_of + span * data.draw(st.floats(0, 1))), last}:
                if later < p.as_of:
                    continue
                q = Period(p.start, p.end, later)
                assert figures(mine, rated, q) == figures(mine, rated, p), (p, later, until)
                assert index_counts(mine, q, units, TERMS) == index_counts(mine, p, units,
                                                                           TERMS)


def test_an_open_dossier_settles_the_figures_until_it_falls_due() -> None:
    got, due = at(10), at(30)
    f = fold("X", [ev("dossier.received", got, dossier_code="X", unit_code="H26.06",
                      procedure_code="P1", channel="counter", received_at=got.isoformat(),
                      counted_from=got.isoformat(), due_at=due.isoformat(),
                      processing_days=3, return_method="counter")], RB)
    p = Period.of(BASE.date(), BASE.date() + timedelta(days=20), at(20), NOW)
    # Not due yet at 20h, on the day after; and from the next midnight on, the day is cut
    # elsewhere: the earlier of the two.
    midnight = datetime.combine(at(20).date() + timedelta(days=1), datetime.min.time(), VN)
    assert tallies.settled_until([f], [], p) == min(due, midnight) == midnight
    p = Period.of(BASE.date(), BASE.date() + timedelta(days=20), at(25), NOW)
    assert tallies.settled_until([f], [], p) == due
    assert figures([f], [], Period(p.start, p.end, due)).overdue_open == 0
    assert figures([f], [], Period(p.start, p.end, due + timedelta(seconds=1))).overdue_open == 1
    # Over before the cut, it no longer moves anything: only the midnight and the end do.
    p = Period.of(BASE.date(), BASE.date() + timedelta(days=20), at(24 * 5 + 1), NOW)
    closed = fold("X", [ev("dossier.received", got, dossier_code="X", unit_code="H26.06",
                           procedure_code="P1", channel="counter", received_at=got.isoformat(),
                           counted_from=got.isoformat(), due_at=due.isoformat(),
                           processing_days=3, return_method="counter"),
                        ev("dossier.resolved", at(12), resolved_at=at(12).isoformat(),
                           outcome="approved")], RB)
    assert closed.live_until is not None and closed.live_until < tallies.cut(p)
    assert tallies.settled_until([closed], [], p) == datetime.combine(
        at(24 * 6).date(), datetime.min.time(), VN)


TERMS = {"P1": ProcedureTerms("P1", 50_000, "whole", frozenset({UNITS[0]})),
         "P2": ProcedureTerms("P2", 0, "partial", frozenset(UNITS)),
         "P3": ProcedureTerms("P3", 10_000, "none", frozenset({UNITS[1]}))}


def read_by_procedure(per_day: dict[tallies.Key, Counter[str]], facts: list[Facts], p: Period,
                      units: set[str] | None) -> dict[str, Counter[str]]:
    """The national index's read: the same parts as ``read``, per procedure."""
    first, before = tallies.day_bounds(p)
    out: dict[str, Counter[str]] = {}
    for (unit, procedure, day), counts in per_day.items():
        if (units is None or unit in units) and first <= day < before:
            tallies.add(out.setdefault(procedure, Counter()), counts)
    cut = tallies.cut(p)
    for f in facts:
        if (units is None or f.unit_code in units) and tallies.is_live(f, cut, p.as_of):
            tallies.add(out.setdefault(f.procedure_code or "", Counter()),
                        tallies.live_part([f], p))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_national_index_from_the_per_day_counts_equals_its_fold(data: st.DataObject) -> None:
    events, facts, per_day = drawn(data, 8)
    complained = frozenset(f.dossier_code for f in facts if data.draw(st.booleans()))
    for _ in range(4):
        p = data.draw(window(times_of(events)))
        for units in ({UNITS[0]}, set(UNITS), None):
            mine = [f for f in facts if units is None or f.unit_code in units]
            expected = index_counts(mine, p, units, TERMS, complained=complained)
            got = index_counts_from(read_by_procedure(per_day, facts, p, units), TERMS, units,
                                    complained_good(mine, p, complained))
            assert got == expected, (p, units)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_desk_counts_equal_the_fold(data: st.DataObject) -> None:
    events, facts, per_day = drawn(data, 6)
    p = data.draw(window(times_of(events)))
    first, before = tallies.day_bounds(p)
    got: dict[str, Counter[str]] = {}
    for (unit, _, day), counts in per_day.items():
        if first <= day < before:
            tallies.add(got.setdefault(unit, Counter()), counts)
    cut = tallies.cut(p)
    recent = [f for f in facts if any(t is not None and cut <= t <= p.as_of and t < p.end
                                      for t in (f.received_at, f.returned_at))]
    for desk, c in tallies.desk_recent(recent, p).items():
        tallies.add(got.setdefault(desk, Counter()), c)
    found = {desk: (c["desk_received"], c["desk_handed_over"], c["desk_returned"],
                    c["desk_returned_at_counter"]) for desk, c in got.items()
             if any(c[k] for k in tallies.DESK_COUNTS)}
    assert found == {desk: (d.received, d.handed_over, d.returned, d.returned_at_counter)
                     for desk, d in desk_counts(facts, p).items()}


def test_a_dossier_with_times_out_of_order_is_never_in_the_per_day_counts() -> None:
    got = at(48)
    f = fold("X", [ev("dossier.received", got, dossier_code="X", unit_code="H26.06",
                      procedure_code="P1", channel="counter", received_at=got.isoformat(),
                      counted_from=got.isoformat(), due_at=at(96).isoformat(),
                      processing_days=3, return_method="counter"),
                   ev("dossier.resolved", at(10), resolved_at=at(10).isoformat(),
                      outcome="approved")], RB)
    assert live_span(f) == (None, None)
    assert not tallies.in_counts(f)
    assert all(unit != "H26.06" or "population" not in c
               for (unit, _, _), c in tallies.contributions(f).items())


def test_an_open_dossier_is_live_from_its_receipt_and_an_ended_one_until_its_return() -> None:
    got = at(10)
    received = ev("dossier.received", got, dossier_code="X", unit_code="H26.06",
                  procedure_code="P1", channel="counter", received_at=got.isoformat(),
                  counted_from=got.isoformat(), due_at=at(96).isoformat(),
                  processing_days=3, return_method="counter")
    open_ = fold("X", [received], RB)
    assert (open_.live_from, open_.live_until) == (got, None)
    over = fold("X", [received, ev("dossier.resolved", at(30), resolved_at=at(30).isoformat(),
                                   outcome="approved"),
                      ev("dossier.result_returned", at(50), returned_at=at(50).isoformat(),
                         method="counter")], RB)
    assert (over.live_from, over.live_until) == (got, at(50))
    days = {day for (_, _, day) in tallies.contributions(over)}
    assert days == {date(2026, 10, 28), date(2026, 10, 29), date(2026, 10, 30)}


LATER = {
    "5.4": ev("feedback.submitted", at(100), unit_code=UNITS[0], rating="unsatisfied",
              criteria={}, at=at(100).isoformat()),
    "1.4": ev("national_portal.synced", at(100), at=at(100).isoformat()),
    "3.2": ev("dossier.paid", at(100), at=at(100).isoformat(), via="national_platform")}


@pytest.mark.parametrize("indicator", sorted(LATER))
def test_a_dossier_is_judged_as_it_was_at_as_of_when_its_rating_sync_or_payment_came_later(
        indicator: str) -> None:
    """Over on 28 October, judged on the 30th; rated unsatisfied, synced or paid online only
    on 1 November: on the 30th it was satisfied, not yet synced, not yet paid."""
    code = "D0"
    events = [
        ev("dossier.received", at(1), dossier_code=code, unit_code=UNITS[0],
           procedure_code="P1", channel="online", online_mode="whole",
           received_at=at(1).isoformat(), counted_from=at(1).isoformat(),
           due_at=at(90).isoformat(), processing_days=3, return_method="counter"),
        ev("dossier.resolved", at(10), resolved_at=at(10).isoformat(), outcome="approved"),
        LATER[indicator]]
    facts, per_day = replay([code], {code: events}, 1)
    before, after = {"5.4": (1, 0), "1.4": (0, 1), "3.2": (0, 1)}[indicator]
    for as_of, expected in ((at(60), before), (at(110), after)):
        p = Period.of(BASE.date(), BASE.date() + timedelta(days=5), as_of, NOW)
        got = index_counts_from(read_by_procedure(per_day, facts, p, None), TERMS, None, 0)
        assert got == index_counts(facts, p, None, TERMS)
        assert got[indicator] == Counts(expected, 1)
