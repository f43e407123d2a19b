"""The golden scenario of the figures (docs/rules/metrics.md), computed by hand and written
out here.

Period: November 2026 in local time, judged at its end (1/12 00:00 +07). Unit H26.06
(Sở Y tế), sub-unit H26.06.01 (Chi cục An toàn vệ sinh thực phẩm). All procedures take
N = 3 working days; 24/11 is a day off; the cut-off is 15:00.

| dossier | received | due (after pauses) | end | verdict |
|---|---|---|---|---|
| D1  | Mon 2/11 09:00, postal     | Thu 5/11 17:00 | resolved Wed 4/11 10:00; returned by post 5/11 | early |
| D2  | Mon 2/11 09:00             | Thu 5/11 17:00 | resolved Thu 5/11 16:00 | on time |
| D3  | Mon 2/11 09:00             | Thu 5/11 17:00 | resolved Fri 6/11 10:00 | late, no apology |
| D4  | Mon 9/11 09:00             | Thu 12/11 → Mon 16/11 (supplement Tue 10/11 → Thu 12/11: 2 days) | resolved Mon 16/11 15:00 | on time (late without the pause) |
| D5  | Mon 9/11 09:00             | Thu 12/11 17:00 | apology Wed 11/11 09:00 (deadline Wed 17:00: timely), new date Tue 17/11; resolved Mon 16/11 | late, timely apology |
| D6  | Mon 9/11 09:00             | Thu 12/11 17:00 | apology Thu 12/11 10:00 (late), new date Fri 13/11; resolved Wed 18/11 | late, late apology, missed re-appointment |
| D8  | Mon 16/11 09:00            | Thu 19/11 17:00 | open | overdue open |
| D9  | Mon 30/11 10:00            | Thu 3/12 17:00  | open | open, not yet due |
| D10 | Fri 30/10 09:00 (before)   | Wed 4/11 17:00  | resolved Tue 3/11 | early (open when the period began) |
| D11 | Mon 26/10 (before)         | Thu 29/10       | resolved Wed 28/10 | not in the population |
| D12 | Sun 1/11 00:30 local (31/10 UTC) | Thu 5/11 17:00 | resolved Thu 5/11 10:00 | on time; in November locally |
| D13 | Tue 1/12 00:30 local (30/11 UTC) | —        | open | not in November locally |
| D14 | H26.06.01, Mon 2/11 09:00  | Thu 5/11 17:00  | resolved Fri 6/11 | late, no apology (sub-unit) |
| D15 | Mon 2/11 09:00             | Thu 5/11 17:00  | withdrawn Tue 3/11 | early (the end is the withdrawal) |

Ratings in November for H26.06: D1 very satisfied (Decree 61: 18; SIPAS all 5), D2
satisfied (Decree 61: 12; SIPAS access 3, others 4), D3 unsatisfied.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.metrics.domain.facts import EventRecord, Facts, fold
from services.metrics.domain.figures import Figures, Period, figures, rank
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK

RB = load_rulebook(str(DEFAULT_RULEBOOK))
VN = timezone(timedelta(hours=7))
NOVEMBER = Period.of(date(2026, 11, 1), date(2026, 11, 30), None,
                     now=datetime(2027, 1, 1, tzinfo=VN))
_ids = itertools.count(1)


def t(day: int, month: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN)


def ev(type_: str, occurred: datetime, /, **data: Any) -> EventRecord:
    return EventRecord(uuid.UUID(int=next(_ids)), type_, occurred, data)


def received(code: str, at: datetime, due: datetime, *, unit: str = "H26.06",
             channel: str = "counter", counted_from: datetime | None = None,
             return_method: str = "counter") -> EventRecord:
    return ev("dossier.received", at, dossier_code=code, unit_code=unit, procedure_code="P3",
              channel=channel, received_at=at.isoformat(),
              counted_from=(counted_from or at).isoformat(), due_at=due.isoformat(),
              processing_days=3, return_method=return_method)


def resolved(at: datetime) -> EventRecord:
    return ev("dossier.resolved", at, resolved_at=at.isoformat(), outcome="approved")


def apology(at: datetime, timely: bool, original: datetime, new: datetime) -> EventRecord:
    return ev("dossier.apology_issued", at, issued_at=at.isoformat(), reason="r",
              original_due_at=original.isoformat(), new_due_at=new.isoformat(), timely=timely)


def rating(at: datetime, level: str, criteria: dict[str, Any] | None,
           unit: str = "H26.06") -> EventRecord:
    return ev("feedback.submitted", at, unit_code=unit, rating=level, criteria=criteria,
              at=at.isoformat())


SIPAS_5 = dict.fromkeys(("access", "procedure", "civil_servant", "result", "feedback_handling"), 5)
SIPAS_D2 = {"access": 3, "procedure": 4, "civil_servant": 4, "result": 4, "feedback_handling": 4}

SCENARIO: dict[str, list[EventRecord]] = {
    "D1": [received("D1", t(2, 11), t(5, 11, 17), channel="postal", return_method="postal"),
           resolved(t(4, 11, 10)),
           ev("dossier.result_returned", t(5, 11, 8), returned_at=t(5, 11, 8).isoformat(),
              method="postal"),
           rating(t(6, 11, 10), "very_satisfied", {"decree61": [2] * 9, "sipas": SIPAS_5})],
    "D2": [received("D2", t(2, 11), t(5, 11, 17)), resolved(t(5, 11, 16)),
           rating(t(6, 11, 11), "satisfied",
                  {"decree61": [2, 2, 2, 2, 2, 2, 0, 0, 0], "sipas": SIPAS_D2})],
    "D3": [received("D3", t(2, 11), t(5, 11, 17)), resolved(t(6, 11, 10)),
           rating(t(9, 11, 8), "unsatisfied", None)],
    "D4": [received("D4", t(9, 11), t(12, 11, 17)),
           ev("dossier.supplement_requested", t(10, 11, 10),
              requested_at=t(10, 11, 10).isoformat(), reason="r", requested_by="o"),
           ev("dossier.supplement_received", t(12, 11, 10), received_at=t(12, 11, 10).isoformat()),
           resolved(t(16, 11, 15))],
    "D5": [received("D5", t(9, 11), t(12, 11, 17)),
           apology(t(11, 11, 9), True, t(12, 11, 17), t(17, 11, 17)), resolved(t(16, 11, 10))],
    "D6": [received("D6", t(9, 11), t(12, 11, 17)),
           apology(t(12, 11, 10), False, t(12, 11, 17), t(13, 11, 17)), resolved(t(18, 11, 10))],
    "D8": [received("D8", t(16, 11), t(19, 11, 17))],
    "D9": [received("D9", t(30, 11, 10), t(3, 12, 17))],
    "D10": [received("D10", t(30, 10), t(4, 11, 17)), resolved(t(3, 11, 10))],
    "D11": [received("D11", t(26, 10), t(29, 10, 17)), resolved(t(28, 10, 10))],
    "D12": [received("D12", t(1, 11, 0, 30), t(5, 11, 17), counted_from=t(2, 11, 7, 30)),
            resolved(t(5, 11, 10))],
    "D13": [received("D13", t(1, 12, 0, 30), t(4, 12, 17), counted_from=t(1, 12, 0, 30))],
    "D14": [received("D14", t(2, 11), t(5, 11, 17), unit="H26.06.01"), resolved(t(6, 11, 10))],
    "D15": [received("D15", t(2, 11), t(5, 11, 17)),
            ev("dossier.withdrawn", t(3, 11, 10), at=t(3, 11, 10).isoformat())],
}


def all_facts(scenario: dict[str, list[EventRecord]] = SCENARIO) -> list[Facts]:
    return [fold(code, events, RB) for code, events in scenario.items()]


def unit_figures(units: set[str], facts: list[Facts] | None = None) -> Figures:
    facts = facts if facts is not None else all_facts()
    return figures([f for f in facts if f.unit_code in units],
                   [f for f in facts if f.rating_unit in units], NOVEMBER)


def test_period_boundaries_are_local_time() -> None:
    assert NOVEMBER.start == datetime(2026, 10, 31, 17, 0, tzinfo=UTC)
    assert NOVEMBER.end == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert NOVEMBER.as_of == NOVEMBER.end


def test_facts_of_the_supplement_and_apology_dossiers() -> None:
    facts = {f.dossier_code: f for f in all_facts()}
    assert facts["D4"].effective_due_at == t(16, 11, 17) and facts["D4"].paused_days == 2
    assert facts["D4"].closed_timeliness == "on_time"
    assert facts["D6"].apology_timely is False and facts["D6"].new_due_at == t(13, 11, 17)
    assert facts["D15"].end_kind == "withdrawn" and facts["D15"].closed_timeliness == "early"
    assert facts["D1"].end_kind == "resolved"  # resolved takes precedence over returned


def test_unit_alone() -> None:
    g = unit_figures({"H26.06"})
    assert (g.population, g.received, g.resolved, g.withdrawn, g.rejected, g.stopped,
            g.returned, g.in_progress) == (11, 10, 8, 1, 0, 0, 1, 2)
    assert (g.early, g.on_time, g.late, g.closed, g.overdue_open, g.open_not_due) == \
        (3, 3, 3, 9, 1, 1)
    assert g.on_time_rate == round(7 / 11, 6) == 0.636364
    assert g.on_time_rate_closed == round(6 / 9, 6)
    assert (g.apologies_issued, g.late_with_timely_apology, g.late_with_late_apology,
            g.late_without_apology, g.missed_reappointment) == (2, 1, 1, 1, 1)
    assert g.apology_compliance == round(1 / 3, 6)
    assert g.received_by_channel == {"counter": 9, "online": 0, "postal": 1}
    assert g.returned_by_method == {"counter": 0, "online": 0, "postal": 1}
    assert g.postal_received_share == 0.1 and g.postal_returned_share == 1.0
    assert g.ratings == {"very_satisfied": 1, "satisfied": 1, "unsatisfied": 1}
    assert g.ratings_total == 3 and g.satisfaction_rate == round(2 / 3, 6)
    assert g.decree61_mean == 15.0 and g.decree61_grade == "good"
    assert g.sipas_index == {"access": 0.5, "procedure": 1.0, "civil_servant": 1.0,
                             "result": 1.0, "feedback_handling": 1.0}
    # working days from counted-from to resolution, less pauses: 2,3,4,3,5,7,2,3
    assert g.avg_processing_working_days == 29 / 8
    assert g.multiple_supplement_requests == 0


def test_with_sub_units() -> None:
    g = unit_figures({"H26.06", "H26.06.01"})
    assert (g.population, g.received, g.resolved, g.late, g.late_without_apology) == \
        (12, 11, 9, 4, 2)
    assert g.on_time_rate == round(7 / 12, 6)
    assert g.on_time_rate_closed == 0.6
    assert g.apology_compliance == 0.25
    assert g.avg_processing_working_days == round(33 / 9, 4)


def test_judged_earlier_the_open_and_closed_split_moves() -> None:
    # As of Wed 11/11 12:00: D5 and D6 are open and not yet due; D4 is paused; D8 not filed.
    mid = Period(NOVEMBER.start, NOVEMBER.end, t(11, 11, 12))
    facts = all_facts()
    g = figures([f for f in facts if f.unit_code == "H26.06"], [], mid)
    assert (g.early, g.on_time, g.late) == (3, 2, 1)  # D1 D10 D15 / D2 D12 / D3
    assert (g.open_not_due, g.overdue_open) == (3, 0)  # D4 (paused), D5, D6
    assert g.population == 9 and g.on_time_rate == round(8 / 9, 6)


def test_ranking_within_a_block_with_a_minimum_sample() -> None:
    extra: dict[str, list[EventRecord]] = {}
    for unit, n in (("H26.02", 5), ("H26.03", 5), ("H26.01", 2)):
        for i in range(n):
            code = f"{unit}-{i}"
            extra[code] = [received(code, t(2, 11), t(5, 11, 17), unit=unit),
                           resolved(t(3, 11, 10))]
    facts = all_facts(SCENARIO | extra)
    by_unit = {u: unit_figures({u}, facts) for u in ("H26.01", "H26.02", "H26.03", "H26.06",
                                                       "H26.07")}
    ranked = rank(by_unit, "on_time_rate", min_sample=5)
    assert [(r.unit_code, r.rank, r.value, r.sample) for r in ranked] == [
        ("H26.02", 1, 1.0, 5),
        ("H26.03", 1, 1.0, 5),
        ("H26.06", 3, 0.636364, 11),
        ("H26.01", None, 1.0, 2),  # under the minimum sample: listed, not ranked
        ("H26.07", None, None, 0),
    ]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_order_and_any_duplicates_give_the_same_facts_and_figures(data: st.DataObject) -> None:
    baseline = all_facts()
    shuffled: dict[str, list[EventRecord]] = {}
    for code, events in SCENARIO.items():
        copies = data.draw(st.lists(st.sampled_from(events), max_size=len(events) * 2),
                           label=f"duplicates of {code}")
        order = data.draw(st.permutations(events + copies), label=f"order of {code}")
        shuffled[code] = list(order)
    facts = all_facts(shuffled)
    assert facts == baseline
    assert unit_figures({"H26.06", "H26.06.01"}, facts) == unit_figures({"H26.06", "H26.06.01"})
