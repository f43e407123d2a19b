"""The dossier aggregate (services/processing/domain/workflow.py) and the control slip
(services/processing/domain/control_slip.py), with explicit 2026 dates in Hà Nội time.

The scenario most tests start from: a counter dossier received Monday 16/11/2026 09:00
(before the 15:00 cut-off, so the clock starts at receipt), N = 3 working days, hence due
Thursday 19/11 17:00; the apology deadline is the end of the working day before,
Wednesday 18/11 17:00, and the due-soon warning opens with that day, Wednesday 07:30.
Tuesday 24/11/2026 is Vietnam Culture Day (a day off from 2026).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar, get_args

import pytest

from services.processing.domain.control_slip import Hop, SlipEntry, control_slip
from services.processing.domain.workflow import (
    ACTIONS,
    CLOCK_RUNNING,
    DOSSIER_FIELDS,
    FINISHED,
    TRANSITIONS,
    UNRESOLVED,
    Action,
    Dossier,
    Happening,
    IllegalTransition,
    RuleViolation,
    State,
)
from shared.events import (
    Accepted,
    ApologyIssued,
    DossierReceived,
    DueSoon,
    EventData,
    MaskedApplicant,
    Overdue,
    Paid,
    PaymentRequested,
    Rejected,
    Resolved,
    ResultReturned,
    ReturnMethod,
    Stopped,
    SupplementRequested,
    Transferred,
)
from shared.workdays import VN_TZ, OfficePolicy, WorkingCalendar, due_date, latest_reappointment

CAL = WorkingCalendar()
POLICY = OfficePolicy()
RESTART = OfficePolicy(supplement_policy="restart")

E = TypeVar("E", bound=EventData)


def t(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN_TZ)


CODE = "H26.06-261116-0001"
UNIT = "H26.06"
OTHER_UNIT = "H26.07"
RECEIVED = t(16, 9)  # Monday
DUE = t(19, 17)  # Thursday, office close
APOLOGY_DEADLINE = t(18, 17)  # Wednesday, office close
DUE_SOON_AT = t(18, 7, 30)  # Wednesday, office open
LATER = t(17, 10)  # Tuesday 10:00: after receipt, before every deadline

STATES: tuple[State, ...] = get_args(State)
HAPPENINGS: tuple[Happening, ...] = get_args(Happening)
EVERYTHING: tuple[Action | Happening, ...] = (*ACTIONS, *HAPPENINGS)

# The lifecycle written out by hand (README "Rules"): the table the aggregate must follow.
_OPEN: tuple[State, ...] = ("awaiting_receipt", "received", "processing", "awaiting_supplement",
                            "awaiting_payment")
EXPECTED: dict[str, dict[str, str]] = {
    "accept": {"awaiting_receipt": "processing", "received": "processing"},
    "assign": {"received": "processing", "processing": "processing"},
    "transfer": {"received": "received", "processing": "processing"},
    "request-supplement": {"received": "awaiting_supplement",
                           "processing": "awaiting_supplement"},
    "request-payment": {"processing": "awaiting_payment"},
    "record-payment": {"awaiting_payment": "processing"},
    "apologize": {s: s for s in _OPEN},
    "resolve": {"processing": "resolved"},
    "reject": {s: "rejected" for s in _OPEN},
    "stop": {"processing": "stopped", "awaiting_supplement": "stopped",
             "awaiting_payment": "stopped"},
    "return": {"resolved": "returned"},
    "supplement-received": {"awaiting_supplement": "processing"},
    "withdrawn": {s: "withdrawn" for s in _OPEN},
    "returned-by-post": {"resolved": "returned"},
}


def received_event(*, channel: str = "counter", received_at: datetime = RECEIVED,
                   due_at: datetime = DUE, counted_from: datetime | None = None,
                   processing_days: int = 3, return_method: str = "counter") -> DossierReceived:
    return DossierReceived.model_validate({
        "dossier_code": CODE, "unit_code": UNIT, "procedure_code": "P3", "channel": channel,
        "received_at": received_at, "counted_from": counted_from or received_at,
        "due_at": due_at, "processing_days": processing_days, "return_method": return_method,
        "applicant": MaskedApplicant(name="Nguyễn V. A.", id_number="*********123"),
        "rulebook": "2026.1",
    })


def dossier(state: State | None = None, policy: OfficePolicy = POLICY, **event: Any) -> Dossier:
    d = Dossier.from_received(received_event(**event), CAL, policy)
    if state is not None:
        d.state = state
    return d


def single(events: list[EventData], kind: type[E]) -> E:
    assert len(events) == 1
    (ev,) = events
    assert type(ev) is kind
    assert isinstance(ev, kind)
    assert ev.dossier_code == CODE
    return ev


def perform(d: Dossier, what: Action | Happening, at: datetime) -> list[EventData] | bool:
    """Every action and happening with arguments that break no rule."""
    if what == "accept":
        return d.accept("can.bo.a", at)
    if what == "assign":
        return d.assign("truong.phong", "can.bo.b", at)
    if what == "transfer":
        return d.transfer(OTHER_UNIT, at)
    if what == "request-supplement":
        return d.request_supplement("can.bo.a", "thiếu bản sao giấy khai sinh", at)
    if what == "request-payment":
        return d.request_payment(Decimal("50000"), at)
    if what == "record-payment":
        return d.record_payment(None, at)
    if what == "apologize":
        return d.apologize("cần xác minh thêm", t(20, 17), at, max_reappointments=1)
    if what == "resolve":
        return d.resolve("QĐ-123", None, at)
    if what == "reject":
        return d.reject("không đủ điều kiện", at)
    if what == "stop":
        return d.stop("người nộp đề nghị dừng", at)
    if what == "return":
        return d.return_result("counter", at)
    if what == "supplement-received":
        return d.resume_after_supplement(at, CAL, POLICY)
    if what == "withdrawn":
        return d.withdraw(at)
    assert what == "returned-by-post"
    return d.record_postal_return(at)


# ------------------------------------------------------------------ the table
def test_fixture_dates_agree_with_the_calendar() -> None:
    deadline = due_date(RECEIVED, 3, CAL, POLICY)
    assert (deadline.due_at, deadline.apology_deadline) == (DUE, APOLOGY_DEADLINE)


def test_transitions_are_the_documented_lifecycle() -> None:
    assert {k: dict(v) for k, v in TRANSITIONS.items()} == EXPECTED
    assert set(TRANSITIONS) == set(EVERYTHING)
    assert len(EVERYTHING) == len(set(EVERYTHING))


def test_state_sets_partition_the_states() -> None:
    assert UNRESOLVED | FINISHED == set(STATES)
    assert not UNRESOLVED & FINISHED
    assert CLOCK_RUNNING == UNRESOLVED - {"awaiting_supplement"}
    for moves in TRANSITIONS.values():
        assert set(moves) <= set(STATES)
        assert set(moves.values()) <= set(STATES)
        # a finished dossier never changes state, except resolved -> returned
        for source, target in moves.items():
            if source in FINISHED:
                assert (source, target) == ("resolved", "returned")


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("what", EVERYTHING)
def test_every_action_in_every_state(what: Action | Happening, state: State) -> None:
    d = dossier(state)
    d.supplement_requested_at = RECEIVED  # so that only the state can refuse a supplement
    d.payment_amount = Decimal("50000")
    before = copy.deepcopy(d)
    target = EXPECTED[what].get(state)
    assert d.may(what) is (target is not None)
    if target is None:
        if what in HAPPENINGS:
            assert perform(d, what, LATER) is False
        else:
            with pytest.raises(IllegalTransition) as caught:
                perform(d, what, LATER)
            assert (caught.value.action, caught.value.state) == (what, state)
            assert str(caught.value) == f"{what} is not allowed while the dossier is {state}"
        assert d == before
        return
    result = perform(d, what, LATER)
    if what in HAPPENINGS:
        assert result is True
    else:
        assert isinstance(result, list)
        assert d.last_action_at == LATER
    assert d.state == target
    assert d.version == before.version + 1


# ------------------------------------------------------------------ creation
@pytest.mark.parametrize(("channel", "state"), [("online", "awaiting_receipt"),
                                                 ("counter", "received"),
                                                 ("postal", "received")])
def test_from_received(channel: str, state: State) -> None:
    d = dossier(channel=channel, return_method="postal")
    assert d.state == state
    assert (d.code, d.unit_code, d.origin_unit, d.procedure_code) == (CODE, UNIT, UNIT, "P3")
    assert (d.channel, d.return_method, d.rulebook, d.processing_days) == (
        channel, "postal", "2026.1", 3)
    assert (d.received_at, d.counted_from, d.due_at, d.original_due_at) == (
        RECEIVED, RECEIVED, DUE, DUE)
    assert d.apology_deadline == APOLOGY_DEADLINE
    assert d.due_soon_at == DUE_SOON_AT
    assert d.last_action_at == RECEIVED
    assert (d.version, d.assignee, d.apology_count, d.supplement_count) == (0, None, 0, 0)
    assert set(DOSSIER_FIELDS) >= {"state", "due_at", "version", "appointment_at"}


def test_from_received_late_same_day_procedure_warns_from_receipt() -> None:
    # N = 0 received Wednesday 10:00: due Wednesday 17:00; the working day before ends
    # before receipt, so the deadline is the due time, and the warning is due at receipt.
    d = dossier(received_at=t(18, 10), due_at=t(18, 17), processing_days=0)
    assert d.apology_deadline == t(18, 17)
    assert d.due_soon_at == t(18, 10)


def test_from_received_warning_never_after_the_deadline() -> None:
    # An (imported) receipt after its own due time: the warning is clamped to the deadline.
    d = dossier(received_at=t(18, 18), due_at=t(18, 17), processing_days=0)
    assert d.apology_deadline == t(18, 17)
    assert d.due_soon_at == t(18, 17)
    events = d.warn_if_due_soon(t(18, 18))
    assert single(events, DueSoon).at == t(18, 18)  # never before receipt


def test_from_received_counted_from_next_day() -> None:
    # Received Friday 20/11 16:00, after the cut-off: counted from Monday 23/11 07:30;
    # N = 3 skips Tuesday 24/11 (Culture Day): due Thursday 26/11; deadline Wednesday 25/11.
    d = dossier(received_at=t(20, 16), counted_from=t(23, 7, 30), due_at=t(26, 17))
    assert d.counted_from == t(23, 7, 30)
    assert d.apology_deadline == t(25, 17)
    assert d.due_soon_at == t(25, 7, 30)


# ------------------------------------------------------------------ officer actions
def test_accept_online_dossier() -> None:
    d = dossier(channel="online")
    events = d.accept("can.bo.a", LATER)
    ev = single(events, Accepted)
    assert (ev.at, ev.by) == (LATER, "can.bo.a")
    assert (d.state, d.assignee, d.version, d.last_action_at) == (
        "processing", "can.bo.a", 1, LATER)


def test_accept_keeps_an_existing_assignee() -> None:
    d = dossier()
    d.assignee = "can.bo.b"
    d.accept("can.bo.a", LATER)
    assert d.assignee == "can.bo.b"


def test_assign_from_received_accepts_it() -> None:
    d = dossier()
    ev = single(d.assign("truong.phong", "can.bo.b", LATER), Accepted)
    assert (ev.by, ev.at) == ("truong.phong", LATER)
    assert (d.state, d.assignee) == ("processing", "can.bo.b")


def test_assign_while_processing_only_reassigns() -> None:
    d = dossier("processing")
    d.assignee = "can.bo.a"
    assert d.assign("truong.phong", "can.bo.b", LATER) == []
    assert (d.state, d.assignee, d.version) == ("processing", "can.bo.b", 1)


@pytest.mark.parametrize("state", ["received", "processing"])
def test_transfer(state: State) -> None:
    d = dossier(state)
    d.assignee = "can.bo.a"
    ev = single(d.transfer(OTHER_UNIT, LATER), Transferred)
    assert (ev.from_unit, ev.to_unit, ev.at) == (UNIT, OTHER_UNIT, LATER)
    assert (d.state, d.unit_code, d.origin_unit) == (state, OTHER_UNIT, UNIT)
    assert d.assignee is None  # the new unit assigns its own officer


def test_transfer_to_the_same_unit_is_refused() -> None:
    d = dossier("processing")
    before = copy.deepcopy(d)
    with pytest.raises(RuleViolation) as caught:
        d.transfer(UNIT, LATER)
    assert caught.value.field == "to_unit"
    assert d == before


def test_request_supplement() -> None:
    d = dossier("processing")
    ev = single(d.request_supplement("can.bo.a", "thiếu tờ khai", LATER), SupplementRequested)
    assert (ev.requested_at, ev.reason, ev.requested_by) == (LATER, "thiếu tờ khai", "can.bo.a")
    assert (d.state, d.supplement_requested_at, d.supplement_count) == (
        "awaiting_supplement", LATER, 1)


def test_supplement_pause_moves_the_due_date() -> None:
    d = dossier("processing")
    d.request_supplement("can.bo.a", "thiếu tờ khai", t(17, 10))  # Tuesday
    assert d.resume_after_supplement(t(19, 9), CAL, POLICY) is True  # Thursday
    # Paused working days d with Tue 17 < d <= Thu 19: Wednesday and Thursday.
    assert d.paused_days == 2
    # Office hours: Tue 10:00-17:00 (7 h) + Wed 07:30-17:00 (9.5 h) + Thu 07:30-09:00 (1.5 h).
    assert d.paused_seconds == 18 * 3600
    assert d.due_at == t(23, 17)  # Thu 19 + 2 working days: Fri 20, Mon 23
    assert d.original_due_at == DUE
    assert d.apology_deadline == t(20, 17)
    assert d.due_soon_at == t(20, 7, 30)
    assert (d.state, d.supplement_requested_at, d.supplement_count) == ("processing", None, 1)
    assert d.last_action_at == t(19, 9)
    assert d.version == 2


def test_supplement_pause_over_culture_day() -> None:
    # Received Friday 20/11, due Thursday 26/11 (24/11 off). Requested Monday 23/11,
    # supplied Wednesday 25/11: only Wednesday counts, so the due date moves to Friday 27/11.
    d = dossier("processing", received_at=t(20, 9), due_at=t(26, 17))
    d.request_supplement("can.bo.a", "thiếu tờ khai", t(23, 10))
    d.resume_after_supplement(t(25, 9), CAL, POLICY)
    assert d.paused_days == 1
    assert d.due_at == t(27, 17)
    assert d.apology_deadline == t(26, 17)


def test_supplement_restart_recomputes_from_the_supplement() -> None:
    d = dossier("processing", policy=RESTART)
    d.request_supplement("can.bo.a", "thiếu tờ khai", t(17, 10))
    d.resume_after_supplement(t(19, 9), CAL, RESTART)
    # Three working days after Thursday 19/11: Fri 20, Mon 23, Wed 25 (24/11 is off).
    assert d.due_at == t(25, 17)
    assert d.apology_deadline == t(23, 17)  # Tuesday is off: Monday
    assert d.paused_days == 2


def test_supplement_before_the_request_costs_nothing() -> None:
    d = dossier("processing")
    d.request_supplement("can.bo.a", "thiếu tờ khai", t(17, 10))
    assert d.resume_after_supplement(t(17, 8), CAL, POLICY) is True
    assert (d.paused_days, d.paused_seconds, d.due_at) == (0, 0.0, DUE)
    assert d.last_action_at == t(17, 10)
    assert d.state == "processing"


def test_restart_counts_from_the_request_when_the_supplement_time_is_earlier() -> None:
    # Requested Tuesday 17/11 16:00 (after the cut-off); the supplement reported at Monday
    # 10:00 is taken as arriving at the request: counted from Wednesday 18/11 07:30, three
    # working days later is Monday 23/11 (not Thursday 19/11, as from Monday 10:00).
    d = dossier("processing", policy=RESTART)
    d.request_supplement("can.bo.a", "thiếu tờ khai", t(17, 16))
    d.resume_after_supplement(t(16, 10), CAL, RESTART)
    assert d.due_at == t(23, 17)
    assert (d.paused_days, d.paused_seconds) == (0, 0.0)


def test_second_supplement_request_adds_up() -> None:
    d = dossier("processing")
    d.request_supplement("can.bo.a", "một", t(17, 10))
    d.resume_after_supplement(t(18, 10), CAL, POLICY)  # 1 day: due Fri 20/11
    d.request_supplement("can.bo.a", "hai", t(19, 10))
    d.resume_after_supplement(t(20, 10), CAL, POLICY)  # 1 more: due Mon 23/11
    assert (d.supplement_count, d.paused_days, d.due_at) == (2, 2, t(23, 17))
    assert d.paused_seconds == 2 * 9.5 * 3600


def test_supplement_without_a_request_time_is_ignored() -> None:
    d = dossier("awaiting_supplement")
    assert d.supplement_requested_at is None
    before = copy.deepcopy(d)
    assert d.resume_after_supplement(LATER, CAL, POLICY) is False
    assert d == before


def test_request_payment() -> None:
    d = dossier("processing")
    ev = single(d.request_payment(Decimal("50000"), LATER), PaymentRequested)
    assert (ev.amount, ev.at) == (Decimal("50000"), LATER)
    assert (d.state, d.payment_amount) == ("awaiting_payment", Decimal("50000"))


@pytest.mark.parametrize(("paid", "recorded"), [
    (Decimal("50000"), Decimal("50000")),
    (Decimal("60000"), Decimal("60000")),  # more than requested is accepted as paid
    (None, Decimal("50000")),  # no amount: the amount requested
])
def test_record_payment(paid: Decimal | None, recorded: Decimal) -> None:
    d = dossier("processing")
    d.request_payment(Decimal("50000"), t(17, 9))
    ev = single(d.record_payment(paid, LATER), Paid)
    assert (ev.amount, ev.at) == (recorded, LATER)
    assert (d.state, d.paid_at) == ("processing", LATER)


def test_underpayment_is_refused() -> None:
    d = dossier("processing")
    d.request_payment(Decimal("50000"), t(17, 9))
    before = copy.deepcopy(d)
    with pytest.raises(RuleViolation, match="50000") as caught:
        d.record_payment(Decimal("49999.99"), LATER)
    assert caught.value.field == "amount"
    assert d == before


@pytest.mark.parametrize(("paid", "recorded"), [(None, Decimal(0)),
                                                (Decimal("10"), Decimal("10"))])
def test_record_payment_without_a_requested_amount(paid: Decimal | None,
                                                   recorded: Decimal) -> None:
    d = dossier("awaiting_payment")
    assert d.payment_amount is None
    assert single(d.record_payment(paid, LATER), Paid).amount == recorded


# ------------------------------------------------------------------ apologies
@pytest.mark.parametrize(("at", "timely"), [
    (LATER, True),
    (APOLOGY_DEADLINE, True),  # at the deadline itself is still timely
    (APOLOGY_DEADLINE + timedelta(seconds=1), False),
    (t(19, 10), False),  # the due day itself: accepted, recorded late
    (t(20, 10), False),  # already overdue
])
def test_apology_timeliness(at: datetime, timely: bool) -> None:
    d = dossier("processing")
    new = t(25, 17)
    ev = single(d.apologize("cần xác minh", new, at, max_reappointments=1), ApologyIssued)
    assert (ev.issued_at, ev.reason, ev.original_due_at, ev.new_due_at, ev.timely) == (
        at, "cần xác minh", DUE, new, timely)
    assert (d.apology_count, d.apology_issued_at, d.apology_timely, d.appointment_at) == (
        1, at, timely, new)
    assert (d.state, d.due_at, d.last_action_at) == ("processing", DUE, at)


def test_only_max_reappointments_apologies() -> None:
    d = dossier("processing")
    d.apologize("một", t(20, 17), LATER, max_reappointments=1)
    before = copy.deepcopy(d)
    with pytest.raises(RuleViolation, match="at most 1 re-appointment") as caught:
        d.apologize("hai", t(23, 17), t(17, 11), max_reappointments=1)
    assert caught.value.field is None
    assert d == before


def test_no_apology_when_none_allowed() -> None:
    d = dossier("processing")
    with pytest.raises(RuleViolation, match="at most 0"):
        d.apologize("một", t(20, 17), LATER, max_reappointments=0)
    assert d.apology_count == 0


def test_second_apology_must_pass_the_first_appointment() -> None:
    d = dossier("processing")
    d.apologize("một", t(20, 17), LATER, max_reappointments=2)
    with pytest.raises(RuleViolation) as caught:
        d.apologize("hai", t(20, 17), t(17, 11), max_reappointments=2)
    assert caught.value.field == "new_due_at"
    ev = single(d.apologize("hai", t(23, 17), t(19, 10), max_reappointments=2), ApologyIssued)
    assert (ev.original_due_at, ev.new_due_at, ev.timely) == (DUE, t(23, 17), False)
    assert (d.apology_count, d.appointment_at) == (2, t(23, 17))


@pytest.mark.parametrize("new", [DUE, DUE - timedelta(minutes=1), RECEIVED])
def test_new_date_must_be_after_the_due_date(new: datetime) -> None:
    d = dossier("processing")
    with pytest.raises(RuleViolation, match="after the current due date") as caught:
        d.apologize("r", new, LATER, max_reappointments=1)
    assert caught.value.field == "new_due_at"
    assert (d.apology_count, d.version) == (0, 0)


def test_new_date_bounded_by_latest() -> None:
    latest = latest_reappointment(DUE, 3, CAL, POLICY)
    assert latest == t(25, 17)  # Thu 19 + 3 working days: Fri 20, Mon 23, Wed 25
    d = dossier("processing")
    with pytest.raises(RuleViolation) as caught:
        d.apologize("r", latest + timedelta(seconds=1), LATER, max_reappointments=1, latest=latest)
    assert caught.value.field == "new_due_at"
    assert latest.isoformat() in str(caught.value)
    assert d.version == 0
    ev = single(d.apologize("r", latest, LATER, max_reappointments=1, latest=latest),
                ApologyIssued)
    assert ev.new_due_at == latest


# ------------------------------------------------------------------ endings
def test_resolve_keeps_the_return_method() -> None:
    d = dossier("processing")
    ev = single(d.resolve("QĐ-123", None, LATER), Resolved)
    assert (ev.resolved_at, ev.result_ref, ev.return_method, ev.outcome) == (
        LATER, "QĐ-123", "counter", "approved")
    assert (d.state, d.resolved_at, d.ended_at, d.return_method) == (
        "resolved", LATER, LATER, "counter")


def test_resolve_may_change_the_return_method() -> None:
    d = dossier("processing")
    ev = single(d.resolve(None, "postal", LATER), Resolved)
    assert (ev.result_ref, ev.return_method, d.return_method) == (None, "postal", "postal")


@pytest.mark.parametrize("state", _OPEN)
def test_reject(state: State) -> None:
    d = dossier(state)
    ev = single(d.reject("hồ sơ giả mạo", LATER), Rejected)
    assert (ev.at, ev.reason) == (LATER, "hồ sơ giả mạo")
    assert (d.state, d.ended_at) == ("rejected", LATER)


@pytest.mark.parametrize("state", ["processing", "awaiting_supplement", "awaiting_payment"])
def test_stop(state: State) -> None:
    d = dossier(state)
    ev = single(d.stop("quá hạn bổ sung", LATER), Stopped)
    assert (ev.at, ev.reason) == (LATER, "quá hạn bổ sung")
    assert (d.state, d.ended_at) == ("stopped", LATER)


@pytest.mark.parametrize("method", ["counter", "online"])
def test_return_result(method: ReturnMethod) -> None:
    d = dossier("processing")
    d.resolve(None, None, t(17, 9))
    events = d.return_result(method, LATER)
    ev = single(events, ResultReturned)
    assert (ev.returned_at, ev.method) == (LATER, method)
    assert (d.state, d.returned_at, d.ended_at) == ("returned", LATER, t(17, 9))


def test_postal_return_is_postal_services_job() -> None:
    d = dossier("resolved")
    with pytest.raises(RuleViolation) as caught:
        d.return_result("postal", LATER)
    assert caught.value.field == "method"
    assert (d.state, d.returned_at, d.version) == ("resolved", None, 0)


def test_postal_return_while_processing_is_illegal_first() -> None:
    with pytest.raises(IllegalTransition):
        dossier("processing").return_result("postal", LATER)


@pytest.mark.parametrize("state", _OPEN)
def test_withdraw(state: State) -> None:
    d = dossier(state)
    assert d.withdraw(LATER) is True
    assert (d.state, d.ended_at, d.version) == ("withdrawn", LATER, 1)
    assert d.withdraw(t(18, 10)) is False
    assert (d.ended_at, d.version) == (LATER, 1)


def test_record_postal_return() -> None:
    d = dossier("resolved")
    assert d.record_postal_return(LATER) is True
    assert (d.state, d.returned_at, d.version) == ("returned", LATER, 1)
    assert d.record_postal_return(t(18, 10)) is False
    assert d.returned_at == LATER


# ------------------------------------------------------------------ time order
def test_action_before_receipt_is_refused() -> None:
    d = dossier()
    before = copy.deepcopy(d)
    with pytest.raises(RuleViolation, match="before the dossier was received") as caught:
        d.accept("can.bo.a", RECEIVED - timedelta(seconds=1))
    assert caught.value.field == "at"
    assert d == before


def test_action_in_utc_is_compared_as_an_instant() -> None:
    # 01:59 UTC is 08:59 in Hà Nội: a minute before receipt; 02:00 UTC is receipt itself.
    d = dossier()
    with pytest.raises(RuleViolation):
        d.accept("can.bo.a", datetime(2026, 11, 16, 1, 59, tzinfo=UTC))
    d.accept("can.bo.a", datetime(2026, 11, 16, 2, 0, tzinfo=UTC))
    assert d.state == "processing"


def test_action_before_the_last_action_is_refused() -> None:
    d = dossier()
    d.accept("can.bo.a", LATER)
    with pytest.raises(RuleViolation, match="last action") as caught:
        d.request_supplement("can.bo.a", "r", LATER - timedelta(microseconds=1))
    assert caught.value.field == "at"
    assert (d.state, d.version, d.last_action_at) == ("processing", 1, LATER)
    d.request_supplement("can.bo.a", "r", LATER)  # the same instant is not before it
    assert d.version == 2


def test_without_a_last_action_only_receipt_bounds_the_time() -> None:
    d = replace(dossier(), last_action_at=None)
    d.accept("can.bo.a", RECEIVED)
    assert (d.last_action_at, d.version) == (RECEIVED, 1)
    d2 = replace(dossier(), last_action_at=None)
    with pytest.raises(RuleViolation, match="before the dossier was received"):
        d2.accept("can.bo.a", RECEIVED - timedelta(microseconds=1))
    assert d2.last_action_at is None


@pytest.mark.parametrize(("at", "verdict"), [
    (t(18, 16), "early"),  # before the due day
    (t(19, 8), "on_time"),
    (DUE, "on_time"),  # at the due time itself
    (DUE + timedelta(seconds=1), "late"),
    (t(23, 9), "late"),
])
def test_timeliness_at(at: datetime, verdict: str) -> None:
    assert dossier().timeliness_at(at, CAL, POLICY) == verdict


# ------------------------------------------------------------------ the watchdog
def test_due_soon_once_when_the_deadline_day_opens() -> None:
    d = dossier("processing")
    assert d.warn_if_due_soon(DUE_SOON_AT - timedelta(seconds=1)) == []
    assert d.due_soon_sent_at is None
    ev = single(d.warn_if_due_soon(t(18, 8)), DueSoon)
    assert (ev.due_at, ev.at) == (DUE, DUE_SOON_AT)
    assert d.due_soon_sent_at == t(18, 8)
    assert d.warn_if_due_soon(t(18, 9)) == []
    assert d.due_soon_sent_at == t(18, 8)


@pytest.mark.parametrize("state", STATES)
def test_due_soon_only_while_the_clock_runs(state: State) -> None:
    d = dossier(state)
    events = d.warn_if_due_soon(DUE_SOON_AT)
    running = state in ("awaiting_receipt", "received", "processing", "awaiting_payment")
    assert len(events) == (1 if running else 0)
    assert (d.due_soon_sent_at is not None) is running


def test_overdue_once_after_the_due_time() -> None:
    d = dossier("processing")
    assert d.flag_if_overdue(DUE) == []  # at the due time it is not yet overdue
    assert d.overdue_sent_at is None
    now = DUE + timedelta(microseconds=1)
    ev = single(d.flag_if_overdue(now), Overdue)
    assert (ev.due_at, ev.at) == (DUE, DUE)
    assert d.overdue_sent_at == now
    assert d.flag_if_overdue(t(20, 9)) == []
    assert d.overdue_sent_at == now


@pytest.mark.parametrize("state", STATES)
def test_overdue_only_while_the_clock_runs(state: State) -> None:
    d = dossier(state)
    events = d.flag_if_overdue(t(20, 9))
    running = state in ("awaiting_receipt", "received", "processing", "awaiting_payment")
    assert len(events) == (1 if running else 0)
    assert (d.overdue_sent_at is not None) is running


def test_watchdog_follows_the_moved_due_date() -> None:
    d = dossier("processing")
    d.request_supplement("can.bo.a", "r", t(17, 10))
    assert d.flag_if_overdue(t(20, 9)) == []  # paused
    d.resume_after_supplement(t(19, 9), CAL, POLICY)  # due Monday 23/11 17:00
    assert d.warn_if_due_soon(t(20, 7, 29)) == []
    assert single(d.warn_if_due_soon(t(20, 7, 30)), DueSoon).due_at == t(23, 17)
    assert d.flag_if_overdue(t(23, 17)) == []
    assert single(d.flag_if_overdue(t(23, 17, 1)), Overdue).at == t(23, 17)


def test_watchdog_ignores_the_appointment() -> None:
    # The re-appointment does not move the legal due date the watchdog watches.
    d = dossier("processing")
    d.apologize("r", t(25, 17), LATER, max_reappointments=1)
    assert single(d.flag_if_overdue(t(19, 17, 1)), Overdue).due_at == DUE


# ------------------------------------------------------------------ control slip (Form 05)
def hop(step: str, at: datetime, due_at: datetime = DUE, unit: str = UNIT) -> Hop:
    return Hop(step=step, unit_code=unit, actor=f"{step}.actor", at=at, due_at=due_at,
               detail={"step": step})


def test_control_slip_sorts_and_judges_each_hop() -> None:
    hops = [
        hop("resolved", t(20, 9)),
        hop("received", RECEIVED),
        hop("transferred", t(19, 10), unit=OTHER_UNIT),
        hop("accepted", t(16, 9, 30)),
    ]
    slip = control_slip(hops, CAL, POLICY)
    assert all(isinstance(e, SlipEntry) for e in slip)
    assert [e.step for e in slip] == ["received", "accepted", "transferred", "resolved"]
    assert [e.timeliness for e in slip] == ["early", "early", "on_time", "late"]
    assert [e.working_seconds_since_previous for e in slip] == [
        0.0,
        1800.0,  # Mon 09:00-09:30
        29 * 3600.0,  # Mon 09:30-17:00, Tue, Wed, Thu 07:30-10:00
        8.5 * 3600,  # Thu 10:00-17:00, Fri 07:30-09:00
    ]
    third = slip[2]
    assert (third.unit_code, third.actor, third.at, third.due_at, third.detail) == (
        OTHER_UNIT, "transferred.actor", t(19, 10), DUE, {"step": "transferred"})


def test_control_slip_uses_each_hops_due_date() -> None:
    # After a supplement moved the due date to Monday 23/11, Friday is early again.
    slip = control_slip([hop("resolved", t(20, 9), due_at=t(23, 17)),
                         hop("due-day", DUE, due_at=DUE),
                         hop("after-close", DUE + timedelta(minutes=1), due_at=DUE)],
                        CAL, POLICY)
    assert [(e.step, e.timeliness) for e in slip] == [
        ("due-day", "on_time"), ("after-close", "late"), ("resolved", "early")]
    assert slip[1].working_seconds_since_previous == 0.0  # after office hours


def test_control_slip_counts_office_hours_of_working_days_only() -> None:
    # Fri 20/11 16:00 -> Wed 25/11 08:00: Fri 1 h, Mon 9.5 h, Tue 24/11 off, Wed 0.5 h.
    slip = control_slip([hop("a", t(20, 16)), hop("b", t(25, 8)), hop("c", t(25, 8))],
                        CAL, POLICY)
    assert [e.working_seconds_since_previous for e in slip] == [0.0, 11 * 3600.0, 0.0]


def test_control_slip_of_nothing() -> None:
    assert control_slip([], CAL, POLICY) == []


def test_control_slip_with_a_later_office() -> None:
    late_office = OfficePolicy(office_open=time(8, 0), office_close=time(16, 0))
    slip = control_slip([hop("a", t(16, 7)), hop("b", t(16, 17))], CAL, late_office)
    assert slip[1].working_seconds_since_previous == 8 * 3600.0
