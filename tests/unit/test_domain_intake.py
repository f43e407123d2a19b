"""Intake's Dossier aggregate (services/intake/domain/dossier.py), the status table
(shared/status.py) and the filing rules (services/intake/domain/filing.py), with explicit
2026 dates in Hà Nội time.

The dossier: filed Monday 16/11/2026 09:00, N = 3 working days, so due Thursday 19/11 17:00.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest

from services.intake.domain.dossier import Dossier, StatusRefused, TimeRefused
from services.intake.domain.filing import (
    CHANNELS_BY_ROLE,
    channel_refusal,
    check_filing,
    dossier_code,
)
from shared.events import (
    ApologyIssued,
    Delivered,
    DossierReceived,
    FiledByPost,
    Resolved,
    SupplementRequested,
    Transferred,
)
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from shared.status import FINISHED, STATUS_AFTER, TERMINAL, Status, next_status
from shared.workdays import OfficePolicy, WorkingCalendar, due_date

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MON = datetime(2026, 11, 16, 9, 0, tzinfo=VN)
CAL, POLICY = WorkingCalendar(), OfficePolicy()
RB = load_rulebook(str(DEFAULT_RULEBOOK))
STATUSES: tuple[Status, ...] = get_args(Status)


def dossier(**over: Any) -> Dossier:
    d = Dossier(
        code="H26.01-261116-0001", unit_code="H26.01", current_unit="H26.01",
        procedure_code="2.000488", channel="counter", return_method="counter", filed_at=MON,
        received_at=None, counted_from=None, due_at=None, processing_days=3,
        status="received", status_at=MON, applicant={"full_name": "Nguyễn Văn An"},
        applicant_masked={"kind": "citizen", "name": "Nguyễn V. A.", "id_number": "****4567"},
        pin_digest="d", portal_id="desk", request_hash="h", rulebook="v1")
    return replace(d, **over)


def received(**over: Any) -> Dossier:
    """Filed at the counter and received; then ``over`` (a status, say) applied."""
    d = dossier()
    d.filed(due_date(d.filed_at, d.processing_days, CAL, POLICY))
    return replace(d, **over)


def status_of(d: Dossier) -> Status:
    """The status now (a call, so that an earlier assert does not narrow it for mypy)."""
    return d.status


# ------------------------------------------------------------------ the status table
@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("event_type", sorted(STATUS_AFTER))
def test_next_status_over_the_whole_table(current: Status, event_type: str) -> None:
    new = STATUS_AFTER[event_type]
    earlier, later = MON - timedelta(hours=1), MON + timedelta(hours=1)
    got_later = next_status(current, MON, event_type, later)
    got_earlier = next_status(current, MON, event_type, earlier)
    if current in TERMINAL or new == current or (current == "resolved" and new != "returned"):
        assert got_later is None and got_earlier is None  # never left, or nothing to change
    elif new in FINISHED:
        assert got_later == new and got_earlier == new  # a finish wins whatever its time
    else:
        assert got_later == new and got_earlier is None  # otherwise the later event wins


def test_unknown_events_change_no_status() -> None:
    assert next_status("processing", MON, "dossier.due_soon", MON + timedelta(days=1)) is None


# ------------------------------------------------------------------ filing and receipt
def test_a_counter_filing_is_received_at_once_with_its_deadline() -> None:
    d = dossier()
    deadline = due_date(MON, 3, CAL, POLICY)
    event = d.filed(deadline)
    assert isinstance(event, DossierReceived)
    assert d.status == "received" and d.received_at == MON and d.status_at == MON
    assert d.due_at == event.due_at == datetime(2026, 11, 19, 17, 0, tzinfo=VN)
    assert event.applicant.name == "Nguyễn V. A." and event.processing_days == 3


def test_an_online_filing_awaits_receipt() -> None:
    d = dossier(channel="online")
    d.filed(due_date(MON, 3, CAL, POLICY))
    assert d.status == "awaiting_receipt"


def test_a_postal_filing_is_in_transit_until_the_handover() -> None:
    d = dossier(channel="postal")
    event = d.filed(None)
    assert isinstance(event, FiledByPost) and event.at == MON
    assert d.status == "in_transit" and d.received_at is None and d.due_at is None
    wed = MON + timedelta(days=2, hours=7)  # Wednesday 16:00, after the 15:00 cut-off
    handed = d.hand_over(wed, CAL, POLICY)
    assert isinstance(handed, DossierReceived) and handed.channel == "postal"
    assert status_of(d) == "received" and d.received_at == wed
    # Counted from Thursday 07:30; the third working day after it is Wednesday 25/11
    # (Friday 20, Monday 23, and Tuesday 24 is Culture Day).
    assert d.counted_from == datetime(2026, 11, 19, 7, 30, tzinfo=VN)
    assert d.due_at == datetime(2026, 11, 25, 17, 0, tzinfo=VN)
    assert d.hand_over(wed + timedelta(hours=1), CAL, POLICY) is None  # a repeated report


# ------------------------------------------------------------------ the applicant's changes
def test_a_supplement_resumes_the_clock_and_moves_the_due_date() -> None:
    d = received(status="received")
    requested = MON + timedelta(days=1)  # Tuesday 09:00
    assert d.apply(SupplementRequested(dossier_code=d.code, requested_at=requested,
                                       reason="thiếu bản sao", requested_by="officer-1"))
    assert d.status == "awaiting_supplement" and d.supplement_requested_at == requested
    friday = MON + timedelta(days=4)
    event = d.hand_in_supplement(friday, CAL, POLICY)
    assert event.received_at == friday and status_of(d) == "processing"
    assert d.status_at == friday and d.supplement_requested_at is None
    # Paused over Wednesday, Thursday and Friday: three working days after Thursday 19/11,
    # skipping Culture Day (Tuesday 24/11): Wednesday 25/11.
    assert d.due_at == datetime(2026, 11, 25, 17, 0, tzinfo=VN)


def test_a_supplement_is_refused_unless_one_was_requested() -> None:
    d = received()
    with pytest.raises(StatusRefused) as refused:
        d.hand_in_supplement(MON + timedelta(days=1), CAL, POLICY)
    assert refused.value.status == "received" and d.status == "received"


def test_a_supplement_before_its_request_is_refused() -> None:
    d = received(status="received")
    requested = MON + timedelta(days=1)
    d.apply(SupplementRequested(dossier_code=d.code, requested_at=requested, reason="x",
                                requested_by="officer-1"))
    with pytest.raises(TimeRefused) as refused:
        d.hand_in_supplement(requested - timedelta(minutes=1), CAL, POLICY)
    assert refused.value.field == "at" and d.status == "awaiting_supplement"


@pytest.mark.parametrize("status", sorted(set(STATUSES) - FINISHED))
def test_a_dossier_not_finished_may_be_withdrawn(status: Status) -> None:
    d = received(status=status)
    event = d.withdraw(MON + timedelta(hours=2), "nộp nhầm")
    assert d.status == "withdrawn" and event.at == MON + timedelta(hours=2)
    assert event.reason == "nộp nhầm"


@pytest.mark.parametrize("status", sorted(FINISHED))
def test_a_finished_dossier_cannot_be_withdrawn(status: Status) -> None:
    d = received(status=status)
    with pytest.raises(StatusRefused):
        d.withdraw(MON + timedelta(hours=2), None)
    assert d.status == status


def test_a_withdrawal_before_the_filing_is_refused() -> None:
    d = received()
    with pytest.raises(TimeRefused):
        d.withdraw(MON - timedelta(seconds=1), None)


# ------------------------------------------------------------------ other services' events
def test_events_move_the_appointment_and_the_unit_even_without_a_new_status() -> None:
    d = received(status="processing")
    new_date = datetime(2026, 11, 25, 17, 0, tzinfo=VN)
    assert d.apply(ApologyIssued(dossier_code=d.code, issued_at=MON + timedelta(days=2),
                                 reason="chờ xác minh", original_due_at=d.due_at,
                                 new_due_at=new_date, timely=True))
    assert d.appointment_at == new_date and d.status == "processing"
    assert d.apply(Transferred(dossier_code=d.code, from_unit="H26.01", to_unit="H26.02",
                               at=MON + timedelta(days=2)))
    assert d.current_unit == "H26.02" and d.unit_code == "H26.01"


def test_a_late_arriving_request_does_not_reopen_a_resolution() -> None:
    d = received(status="processing")
    assert d.apply(Resolved.model_validate({"dossier_code": d.code,
                                            "resolved_at": MON + timedelta(days=2),
                                            "return_method": "counter"}))
    late = SupplementRequested(dossier_code=d.code, requested_at=MON + timedelta(days=1),
                               reason="x", requested_by="o")
    assert d.apply(late) is False
    assert d.status == "resolved" and d.supplement_requested_at is None


def test_a_courier_report_is_not_a_status_change() -> None:
    d = received()
    delivered = Delivered.model_validate({"dossier_code": d.code, "shipment_id": "IN-x",
                                          "direction": "inbound", "at": MON})
    assert d.apply(delivered) is False and d.status == "received"


# ------------------------------------------------------------------ filing rules
def test_dossier_codes_name_unit_day_and_sequence() -> None:
    assert dossier_code("H26.01", date(2026, 11, 16), 7) == "H26.01-261116-0007"
    assert dossier_code("H26", date(2027, 1, 1), 12345) == "H26-270101-12345"


def test_filing_checks_name_each_field() -> None:
    unit, procedure, errors = check_filing(RB, "H26.01", "2.000488", "counter", "counter")
    assert unit is not None and procedure is not None and errors == []
    _, _, errors = check_filing(RB, "H99.99", "9.999", "counter", "counter")
    assert [e.field for e in errors] == ["body:/unit_code", "body:/procedure_code"]
    other = next(p for p in RB.procedures if "H26.01" not in p.units)
    _, _, errors = check_filing(RB, "H26.01", other.code, "counter", "counter")
    assert [e.field for e in errors] == ["body:/procedure_code"]
    no_post = next((p for p in RB.procedures if not p.postal_filing), None)
    if no_post is not None:
        _, _, errors = check_filing(RB, no_post.units[0], no_post.code, "postal", "counter")
        assert "body:/channel" in [e.field for e in errors]
    no_return = next((p for p in RB.procedures if not p.postal_return), None)
    if no_return is not None:
        _, _, errors = check_filing(RB, no_return.units[0], no_return.code, "counter",
                                    "postal")
        assert "body:/return_method" in [e.field for e in errors]


@pytest.mark.parametrize("role", [*sorted(CHANNELS_BY_ROLE), "stranger"])
@pytest.mark.parametrize("channel", ["counter", "online", "postal"])
def test_channels_by_role(role: str, channel: str) -> None:
    refused = channel_refusal(role, channel)
    assert (refused is None) == (channel in CHANNELS_BY_ROLE.get(role, frozenset()))
    if refused is not None and channel == "counter":
        assert "desk" in refused
    elif refused is not None:
        assert role in refused
