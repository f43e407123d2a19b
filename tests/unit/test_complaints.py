"""Complaints: their deadlines on the working-day calendar across the National Day holiday of
2026, the workflow's steps and refusals, the overdue watch, and indicators 5.1–5.3 for a
scenario computed by hand (and the empty case, full points).

The calendar of unit H26.01 around the holiday (the demo rulebook, cut-off 15:00, office close
17:00): Fri 28/08 works; Sat 29, Sun 30, Mon 31/08 (a day off in lieu, worked on Sat 22/08), Tue 1/09
and Wed 2/09 (National Day) do not; Thu 3/09, Fri 4/09, then Mon 7/09 ... work.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from services.feedback.domain.complaint import (
    Complaint,
    ComplaintPolicy,
    ComplaintRefusal,
    deadlines,
)
from services.metrics.domain.complaints import (
    ComplaintFacts,
    complained_dossiers,
    complaint_counts,
    fold_complaint,
    verdict,
)
from services.metrics.domain.figures import Period
from services.metrics.domain.index766 import DEFAULT_POLICY, Counts, score_index
from shared.clock import VN
from shared.events import ComplaintEvent
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK

RULEBOOK = load_rulebook(str(DEFAULT_RULEBOOK))
UNIT = "H26.01"
CAL, OFFICE = RULEBOOK.calendar_for(UNIT), RULEBOOK.policy_for(UNIT)
POLICY = ComplaintPolicy()


def at(day: str, hm: str = "10:00") -> datetime:
    return datetime.fromisoformat(f"2026-{day}T{hm}:00").replace(tzinfo=VN)


def close(day: str) -> datetime:
    return at(day, "17:00")


def new(code: str, received: datetime, *, category: Any = "procedure",
        dossier: str | None = None) -> Complaint:
    d = deadlines(received, CAL, OFFICE, POLICY)
    return Complaint(code=code, unit_code=UNIT, category=category, via="portal",
                     received_at=received, refuse_by=d.refuse_by,
                     request_info_by=d.request_info_by, answer_by=d.answer_by,
                     dossier_code=dossier)


# ---------------------------------------------------------------- deadlines
def test_the_deadlines_skip_the_weekend_and_the_national_day_holiday() -> None:
    d = deadlines(at("08-28"), CAL, OFFICE, POLICY)
    assert d.refuse_by == close("09-04")  # 3/09 (1), 4/09 (2)
    assert d.request_info_by == close("09-09")  # 3, 4, 7, 8, 9
    assert d.answer_by == close("09-23")  # 3, 4, 7–11, 14–18, 21, 22, 23


def test_a_complaint_after_the_cutoff_counts_from_the_next_working_day() -> None:
    # Fri 28/08 at 16:00 is after the 15:00 cut-off: the clock starts on Thu 3/09.
    d = deadlines(at("08-28", "16:00"), CAL, OFFICE, POLICY)
    assert d.refuse_by == close("09-07")  # 4/09 (1), 7/09 (2)


def test_the_policy_sets_the_working_days() -> None:
    d = deadlines(at("08-28"), CAL, OFFICE, ComplaintPolicy(refuse_days=1, answer_days=3))
    assert (d.refuse_by, d.answer_by) == (close("09-03"), close("09-07"))


# ---------------------------------------------------------------- workflow
def test_answered_and_published_with_their_events() -> None:
    c = new("PAKN-260828-0001", at("08-28"))
    answered = c.answer(at("09-22"), "Đã giải quyết", CAL, OFFICE, POLICY)
    assert answered.event_type == "complaint.answered"
    assert c.publish_by == close("09-24")  # two working days after 22/09
    published = c.publish(at("09-23", "09:00"))
    assert (c.state, published.event_type) == ("published", "complaint.published")
    assert c.react(at("09-25"), "accepted").event_type == "complaint.reacted"
    with pytest.raises(ComplaintRefusal, match="already been accepted"):
        c.react(at("09-26"), "disliked")


def test_more_information_pauses_the_clock_by_the_working_days_it_took() -> None:
    c = new("PAKN-260903-0001", at("09-03", "09:00"))
    assert c.answer_by == close("09-24")  # 4, 7–11, 14–18, 21–24
    c.request_info(at("09-08"), "Bản sao giấy tờ")
    assert c.awaited() is None  # the citizen holds the clock
    event = c.receive_info(at("09-14"), "Đã gửi", CAL, OFFICE, POLICY)
    # 9, 10, 11 and 14/09 passed while the citizen held it: four working days more.
    assert c.answer_by == close("09-30")
    assert event.model_dump()["answer_by"] == close("09-30")
    with pytest.raises(ComplaintRefusal, match="already been asked"):
        c.request_info(at("09-15"), "Thêm nữa")


@pytest.mark.parametrize(("state_steps", "action"), [
    ([], "publish"), ([], "react"), (["refuse"], "answer"), (["answer"], "refuse"),
    (["request_info"], "answer"),
])
def test_steps_the_state_does_not_allow_are_refused(state_steps: list[str], action: str) -> None:
    c = new("PAKN-260828-0002", at("08-28"))
    moment = at("09-03")
    for s in state_steps:
        {"refuse": lambda: c.refuse(moment, "Ngoài phạm vi"),
         "answer": lambda: c.answer(moment, "Trả lời", CAL, OFFICE, POLICY),
         "request_info": lambda: c.request_info(moment, "Thiếu")}[s]()
    steps = {"publish": lambda: c.publish(moment), "react": lambda: c.react(moment, "accepted"),
             "answer": lambda: c.answer(moment, "x", CAL, OFFICE, POLICY),
             "refuse": lambda: c.refuse(moment, "x")}
    before = (c.state, len(c.events))
    with pytest.raises(ComplaintRefusal):
        steps[action]()
    assert (c.state, len(c.events)) == before


def test_a_step_cannot_be_dated_before_the_last_one() -> None:
    c = new("PAKN-260828-0003", at("08-28"))
    with pytest.raises(ComplaintRefusal, match="before"):
        c.answer(at("08-27"), "x", CAL, OFFICE, POLICY)


def test_the_first_repeat_is_the_one_linked() -> None:
    c = new("PAKN-260828-0004", at("08-28"))
    assert c.repeated_by("PAKN-260910-0001", at("09-10")) is not None
    assert c.repeated_by("PAKN-260911-0001", at("09-11")) is None
    assert c.repeated_at == at("09-10")


def test_the_watch_flags_each_awaited_step_once() -> None:
    c = new("PAKN-260828-0005", at("08-28"))
    assert c.flag_if_overdue(close("09-23")) is None  # due at that moment, not past it
    first = c.flag_if_overdue(at("09-24"))
    assert first is not None and first.model_dump()["step"] == "answer"
    assert c.flag_if_overdue(at("09-25")) is None
    c.answer(at("09-25"), "Muộn", CAL, OFFICE, POLICY)
    publish = c.flag_if_overdue(at("10-01"))  # publish_by 29/09 17:00
    assert publish is not None and publish.model_dump()["step"] == "publish"


# ---------------------------------------------------------------- 5.1–5.4 by hand
def facts_of(c: Complaint, extra: list[ComplaintEvent] = ()) -> ComplaintFacts:  # type: ignore[assignment]
    """The metrics fold of the events the aggregate raised (as they travel, in JSON)."""
    d = deadlines(c.received_at, CAL, OFFICE, POLICY)
    submitted = {"unit_code": c.unit_code, "category": c.category, "dossier_code": c.dossier_code,
                 "received_at": c.received_at.isoformat(), "refuse_by": d.refuse_by.isoformat(),
                 "request_info_by": d.request_info_by.isoformat(),
                 "answer_by": d.answer_by.isoformat()}
    events = [("complaint.submitted", c.received_at, submitted)]
    for e in [*c.events, *extra]:
        events.append((e.event_type, e.occurred_at, e.model_dump(mode="json")))
    return fold_complaint(c.code, reversed(events))  # in any order


def scenario() -> dict[str, Complaint]:
    a = new("PAKN-260828-0001", at("08-28"))  # answered and published on time, accepted
    a.answer(at("09-22"), "Đã xử lý", CAL, OFFICE, POLICY)
    a.publish(at("09-23", "09:00"))
    a.react(at("09-25"), "accepted")
    b = new("PAKN-260828-0002", at("08-28"), dossier="H26.01-260820-0001")  # answered late
    b.answer(at("09-24"), "Muộn", CAL, OFFICE, POLICY)
    c = new("PAKN-260903-0001", at("09-03", "09:00"), category="conduct")  # refused in 2 days
    c.refuse(at("09-04", "16:00"), "Không thuộc phạm vi")
    d = new("PAKN-260903-0002", at("09-03", "09:00"), category="other")  # paused, then disliked
    d.request_info(at("09-08"), "Bản sao")
    d.receive_info(at("09-14"), "Đã gửi", CAL, OFFICE, POLICY)
    d.answer(at("09-29"), "Trả lời", CAL, OFFICE, POLICY)  # by 30/09 thanks to the pause
    d.publish(at("09-30"))
    d.react(at("09-30", "12:00"), "disliked")
    e = new("PAKN-260910-0001", at("09-10", "09:00"), category="conduct")  # repeats C; open
    c.repeated_by(e.code, e.received_at)
    f = new("PAKN-260810-0001", at("08-10", "09:00"))  # received in August, never answered
    return {"A": a, "B": b, "C": c, "D": d, "E": e, "F": f}


SEPTEMBER = Period.of(datetime(2026, 9, 1).date(), datetime(2026, 9, 30).date(), None,
                      datetime(2026, 12, 1, tzinfo=VN))


def test_the_verdicts_of_the_hand_computed_scenario() -> None:
    got = {k: verdict(facts_of(c), SEPTEMBER.as_of) for k, c in scenario().items()}
    assert got == {"A": "on_time", "B": "late", "C": "on_time", "D": "on_time",
                   "E": "open_not_due", "F": "overdue_open"}
    # F was due on Fri 28/08 at 17:00: 15 working days from Mon 10/08, Sat 22/08 among them
    # (worked to make up for Mon 31/08).
    assert facts_of(scenario()["F"]).answer_by == close("08-28")


def test_without_the_pause_d_would_have_been_late() -> None:
    d = scenario()["D"]
    f = facts_of(d)
    assert verdict(ComplaintFacts(**{**f.__dict__, "answer_by": f.answer_by_first}),
                   SEPTEMBER.as_of) == "late"


def test_indicators_5_1_to_5_3_by_hand() -> None:
    facts = [facts_of(c) for c in scenario().values()]
    counted = complaint_counts(facts, SEPTEMBER, [UNIT])
    assert counted.by_category == {"procedure": 3, "conduct": 2, "other": 1}
    # 5.2: A, C, D on time and E not yet due = 4 of 6. 5.3: A and E only (B late, C repeated,
    # D disliked, F overdue) = 2 of 6.
    assert counted.counts == {"5.1": Counts(3, 6), "5.2": Counts(4, 6), "5.3": Counts(2, 6)}
    scored = {i.id: i for i in score_index(counted.counts, DEFAULT_POLICY).indicators}
    assert (scored["5.2"].ratio, scored["5.2"].points) == (Decimal("66.67"), Decimal("4.00"))
    assert (scored["5.3"].ratio, scored["5.3"].points) == (Decimal("33.33"), Decimal("2.00"))
    assert complained_dossiers(facts, SEPTEMBER.as_of) == {"H26.01-260820-0001"}


def test_judged_earlier_the_same_complaints_count_otherwise() -> None:
    # On 20/09 at noon: A and B are not answered but not due either (23/09), D's answer is
    # due on 30/09, C's refusal was on time but it was repeated on 10/09, and F is overdue.
    mid = Period.of(datetime(2026, 9, 1).date(), datetime(2026, 9, 30).date(),
                    at("09-20", "12:00"), datetime(2026, 12, 1, tzinfo=VN))
    facts = [facts_of(c) for c in scenario().values()]
    counted = complaint_counts(facts, mid, [UNIT])
    assert counted.counts["5.2"] == Counts(5, 6)  # F alone is overdue
    assert counted.counts["5.3"] == Counts(4, 6)  # and C was repeated on 10/09


def test_no_complaint_earns_full_points_on_5_2_and_5_3() -> None:
    counted = complaint_counts([], SEPTEMBER, [UNIT])
    scored = {i.id: i for i in score_index(counted.counts, DEFAULT_POLICY).indicators}
    assert counted.counts["5.2"] == Counts(0, 0)
    assert (scored["5.2"].points, scored["5.3"].points) == (Decimal("6.00"), Decimal("6.00"))
    assert scored["5.2"].empty and scored["5.3"].empty


def test_a_complaint_closed_before_the_period_is_not_in_it() -> None:
    c = new("PAKN-260828-0009", at("08-28"))
    c.refuse(at("08-28", "11:00"), "Ngoài phạm vi")
    counted = complaint_counts([facts_of(c)], SEPTEMBER, [UNIT])
    assert counted.counts["5.2"] == Counts(0, 0)
