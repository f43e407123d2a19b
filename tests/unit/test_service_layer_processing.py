"""Processing's service layer (services/processing/service_layer/handlers.py) against the
in-memory unit of work of tests/support/fakes.py: no Kafka, no PostgreSQL.

The scenario: a counter dossier of procedure 2.000488 (10 working days) at Sở Tư pháp,
received Monday 02/11/2026 09:00 (before the 15:00 cut-off, so the clock starts at
receipt), due Monday 16/11 17:00; the apology deadline is the working day before, Friday
13/11 17:00, and the due-soon warning opens with that day, Friday 07:30. Tuesday 24/11/2026
is Vietnam Culture Day (a day off), so the latest re-appointment (ten working days after
the due date) is Tuesday 01/12 17:00.
"""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from services.processing.domain.workflow import Dossier, IllegalTransition, RuleViolation, State
from services.processing.service_layer.commands import ACTION_COMMAND, Act, Worklist
from services.processing.service_layer.handlers import DossierNotFound, ProcessingHandlers
from shared.auth import Principal
from shared.clock import VN
from shared.events import (
    Accepted,
    ApologyIssued,
    DossierReceived,
    DueSoon,
    Envelope,
    EventData,
    MaskedApplicant,
    Overdue,
    Paid,
    PostalResultReturned,
    ResultReturned,
    SupplementReceived,
    Transferred,
    Withdrawn,
)
from shared.idempotency import KeyReused
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from shared.workdays import due_date
from tests.support.api import OTHER_UNIT, PROCEDURE, UNIT
from tests.support.fakes import FakeProcessingUnitOfWork, published

RB = load_rulebook(str(DEFAULT_RULEBOOK))


def t(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN)


RECEIVED = t(2)  # Monday
DUE = t(16, 17)  # Monday, office close
APOLOGY_DEADLINE = t(13, 17)  # Friday, office close
DUE_SOON_AT = t(13, 7, 30)  # Friday, office open
LATEST_REAPPOINTMENT = t(1, 17, month=12)  # ten working days after DUE, 24/11 off
CODE = f"{UNIT}-261102-0001"

OFFICER = Principal("can.bo.a", "officer", frozenset({UNIT}))
COLLEAGUE = Principal("can.bo.b", "officer", frozenset({UNIT}))
STRANGER = Principal("can.bo.x", "officer", frozenset({OTHER_UNIT}))
IMPORTER = Principal("legacy-import", "importer", frozenset({"*"}))


@pytest.fixture
def uow() -> FakeProcessingUnitOfWork:
    return FakeProcessingUnitOfWork()


@pytest.fixture
def h(uow: FakeProcessingUnitOfWork) -> ProcessingHandlers:
    return ProcessingHandlers(RB, lambda: uow)


def received(code: str = CODE, *, unit: str = UNIT, channel: str = "counter",
             received_at: datetime = RECEIVED, due_at: datetime = DUE,
             return_method: str = "counter") -> DossierReceived:
    return DossierReceived.model_validate({
        "dossier_code": code, "unit_code": unit, "procedure_code": PROCEDURE,
        "channel": channel, "received_at": received_at, "counted_from": received_at,
        "due_at": due_at, "processing_days": 10, "return_method": return_method,
        "applicant": MaskedApplicant(name="Nguyễn V. A.", id_number="*********567"),
        "rulebook": RB.version})


def intake(data: EventData) -> Envelope[EventData]:
    return Envelope(source="intake", data=data)


async def receive(h: ProcessingHandlers, uow: FakeProcessingUnitOfWork, code: str = CODE,
                  **kw: Any) -> Dossier:
    await h.apply_event(uow, intake(received(code, **kw)))
    return uow.dossiers.rows[code]


def act(action: str, at: datetime, *, code: str = CODE, actor: Principal = OFFICER,
        key: str | None = None, given_at: datetime | None = None, **fields: Any) -> Act:
    return Act(code, ACTION_COMMAND.validate_python({"action": action, **fields}), actor, at,
               given_at, key)


def stored(uow: FakeProcessingUnitOfWork, code: str = CODE) -> Dossier:
    return uow.dossiers.rows[code]


def steps(uow: FakeProcessingUnitOfWork, code: str = CODE) -> list[str]:
    return [hop.step for hop in uow.hops.rows if hop.dossier_code == code]


def test_the_scenario_dates_are_the_rulebook_s() -> None:
    d = due_date(RECEIVED, 10, RB.calendar_for(UNIT), RB.policy_for(UNIT))
    assert (d.counted_from, d.due_at, d.apology_deadline) == (RECEIVED, DUE, APOLOGY_DEADLINE)


# ------------------------------------------------------------------ officers' actions
async def test_an_action_commits_its_event_and_a_hop(h: ProcessingHandlers,
                                                     uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    assert uow.committed == []  # a receipt publishes nothing of processing's own

    acted = await h.act(act("accept", t(2, 10)))

    assert acted.replayed is False
    assert acted.dossier.state == "processing"
    assert stored(uow).state == "processing"
    assert stored(uow).assignee == "can.bo.a"
    assert stored(uow).last_action_at == t(2, 10)
    assert uow.events() == [Accepted(dossier_code=CODE, at=t(2, 10), by="can.bo.a")]
    assert [e.source for e in uow.committed] == ["processing"]
    hop = uow.hops.rows[-1]
    assert (hop.step, hop.unit_code, hop.actor, hop.at, hop.due_at) == \
        ("accept", UNIT, "can.bo.a", t(2, 10), DUE)
    assert (hop.idempotency_key, hop.request_hash) == (None, None)
    assert steps(uow) == ["received", "accept"]


async def test_a_hop_keeps_the_details_of_the_action(h: ProcessingHandlers,
                                                     uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("assign", t(2, 10), assignee="can.bo.b", note="ưu tiên"))
    hop = uow.hops.rows[-1]
    assert hop.step == "assign"
    assert hop.detail == {"assignee": "can.bo.b", "note": "ưu tiên"}
    assert stored(uow).assignee == "can.bo.b"
    assert published(uow) == ["dossier.accepted"]  # assign takes a received dossier in


async def test_a_transfer_moves_the_dossier_out_of_the_unit_s_sight(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("transfer", t(2, 10), to_unit=OTHER_UNIT))

    assert uow.events() == [Transferred(dossier_code=CODE, from_unit=UNIT, to_unit=OTHER_UNIT,
                                        at=t(2, 10))]
    assert stored(uow).unit_code == OTHER_UNIT
    assert stored(uow).origin_unit == UNIT
    assert uow.hops.rows[-1].unit_code == UNIT  # the hop is written where it happened
    with pytest.raises(DossierNotFound):
        await h.dossier(CODE, OFFICER)
    assert (await h.dossier(CODE, STRANGER)).unit_code == OTHER_UNIT


@pytest.mark.parametrize(("action", "fields"), [
    ("resolve", {}),
    ("return", {}),
    ("request-payment", {"amount": "200000"}),
    ("record-payment", {}),
    ("stop", {"reason": "không đủ điều kiện"}),
])
async def test_an_illegal_action_commits_nothing(h: ProcessingHandlers,
                                                 uow: FakeProcessingUnitOfWork, action: str,
                                                 fields: dict[str, Any]) -> None:
    await receive(h, uow)  # received: none of these is allowed yet
    before, commits = copy.deepcopy(stored(uow)), uow.commits

    with pytest.raises(IllegalTransition) as refused:
        await h.act(act(action, t(2, 10), key="k-illegal", **fields))

    assert (refused.value.action, refused.value.state) == (action, "received")
    assert stored(uow) == before
    assert uow.committed == []
    assert uow.commits == commits
    assert steps(uow) == ["received"]
    assert uow.pending == []
    assert not uow.entered


async def test_an_illegal_action_after_a_legal_one_keeps_the_first(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10)))
    await h.act(act("resolve", t(3, 10), result_ref="QĐ-1"))
    before = copy.deepcopy(stored(uow))
    with pytest.raises(IllegalTransition):
        await h.act(act("reject", t(3, 11), reason="nhầm"))
    assert stored(uow) == before
    assert published(uow) == ["dossier.accepted", "dossier.resolved"]


async def test_an_underpayment_is_a_rule_violation_on_the_amount(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10)))
    await h.act(act("request-payment", t(2, 11), amount="200000"))
    before = copy.deepcopy(stored(uow))

    with pytest.raises(RuleViolation) as refused:
        await h.act(act("record-payment", t(2, 14), amount="150000"))

    assert refused.value.field == "amount"
    assert stored(uow) == before
    assert stored(uow).state == "awaiting_payment"
    assert published(uow) == ["dossier.accepted", "dossier.payment_requested"]
    assert steps(uow) == ["received", "accept", "request-payment"]

    await h.act(act("record-payment", t(2, 15)))  # no amount: the amount requested
    assert uow.events()[-1] == Paid(dossier_code=CODE, amount=Decimal(200000), at=t(2, 15))
    assert stored(uow).state == "processing"
    assert stored(uow).paid_at == t(2, 15)


async def test_an_action_before_the_last_one_is_a_rule_violation_on_at(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(3, 10)))
    with pytest.raises(RuleViolation) as refused:
        await h.act(act("assign", t(3, 9), assignee="can.bo.b"))
    assert refused.value.field == "at"
    assert stored(uow).assignee == "can.bo.a"
    with pytest.raises(RuleViolation) as early:
        await h.act(act("assign", t(1, 9), assignee="can.bo.b"))  # before the receipt
    assert early.value.field == "at"
    assert published(uow) == ["dossier.accepted"]


async def test_an_apology_within_the_rules(h: ProcessingHandlers,
                                           uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10)))

    await h.act(act("apologize", t(12, 10), reason="cần xác minh thêm", new_due_at=t(20, 17)))

    assert uow.events()[-1] == ApologyIssued(
        dossier_code=CODE, issued_at=t(12, 10), reason="cần xác minh thêm",
        original_due_at=DUE, new_due_at=t(20, 17), timely=True)
    d = stored(uow)
    assert (d.apology_count, d.appointment_at, d.apology_timely) == (1, t(20, 17), True)
    assert d.due_at == DUE  # the legal due date stays; the appointment moves


async def test_an_apology_after_its_deadline_is_late(h: ProcessingHandlers,
                                                     uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10)))
    await h.act(act("apologize", t(16, 9), reason="quá tải", new_due_at=t(20, 17)))
    event = uow.events()[-1]
    assert isinstance(event, ApologyIssued)
    assert event.timely is False
    assert stored(uow).apology_timely is False


@pytest.mark.parametrize(("new_due_at", "field"), [
    (DUE, "new_due_at"),  # not after the current due date
    (t(16, 16), "new_due_at"),  # before it
    (datetime(2026, 12, 1, 17, 1, tzinfo=VN), "new_due_at"),  # a minute past the latest
    (datetime(2027, 1, 15, 17, 0, tzinfo=VN), "new_due_at"),
])
async def test_an_apology_s_new_date_is_bounded(h: ProcessingHandlers,
                                                uow: FakeProcessingUnitOfWork,
                                                new_due_at: datetime, field: str) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10)))
    before = copy.deepcopy(stored(uow))
    with pytest.raises(RuleViolation) as refused:
        await h.act(act("apologize", t(12, 10), reason="lý do", new_due_at=new_due_at))
    assert refused.value.field == field
    assert stored(uow) == before
    assert published(uow) == ["dossier.accepted"]


async def test_the_latest_re_appointment_itself_is_allowed(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("apologize", t(12, 10), reason="lý do", new_due_at=LATEST_REAPPOINTMENT))
    assert stored(uow).appointment_at == LATEST_REAPPOINTMENT


async def test_one_re_appointment_per_dossier(h: ProcessingHandlers,
                                              uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("apologize", t(12, 10), reason="lần 1", new_due_at=t(20, 17)))
    with pytest.raises(RuleViolation) as refused:
        await h.act(act("apologize", t(12, 11), reason="lần 2", new_due_at=t(23, 17)))
    assert refused.value.field is None  # a 409, not a field's fault
    assert stored(uow).apology_count == 1
    assert stored(uow).appointment_at == t(20, 17)
    assert published(uow) == ["dossier.apology_issued"]


async def test_a_transfer_to_an_unknown_unit_is_refused_on_to_unit(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    before, commits = copy.deepcopy(stored(uow)), uow.commits
    with pytest.raises(RuleViolation) as refused:
        await h.act(act("transfer", t(2, 10), to_unit="H99.99"))
    assert refused.value.field == "to_unit"
    assert "H99.99" in str(refused.value)
    assert stored(uow) == before
    assert uow.commits == commits
    assert uow.committed == []


async def test_a_transfer_to_a_merged_unit_is_refused_on_to_unit(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    """Phường Minh Khai (H26.901) was merged into phường Hồng Bàng on 01/07/2025."""
    await receive(h, uow)
    before = copy.deepcopy(stored(uow))
    with pytest.raises(RuleViolation) as refused:
        await h.act(act("transfer", t(2, 10), to_unit="H26.901"))
    assert refused.value.field == "to_unit" and "merged into H26.101 on 01/07/2025" in str(
        refused.value)
    assert stored(uow) == before and uow.committed == []


async def test_a_transfer_to_the_unit_it_is_at_is_refused_on_to_unit(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    with pytest.raises(RuleViolation) as refused:
        await h.act(act("transfer", t(2, 10), to_unit=UNIT))
    assert refused.value.field == "to_unit"
    assert steps(uow) == ["received"]


async def test_another_unit_s_dossier_is_not_found(h: ProcessingHandlers,
                                                   uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    before = copy.deepcopy(stored(uow))
    with pytest.raises(DossierNotFound):
        await h.act(act("accept", t(2, 10), actor=STRANGER))
    with pytest.raises(DossierNotFound):
        await h.dossier(CODE, STRANGER)
    with pytest.raises(DossierNotFound):
        await h.control_slip(CODE, STRANGER)
    with pytest.raises(DossierNotFound):
        await h.act(act("accept", t(2, 10), code=f"{UNIT}-261102-0999"))
    assert stored(uow) == before
    assert uow.committed == []
    # Every unit's: the importer's "*".
    assert (await h.dossier(CODE, IMPORTER)).code == CODE
    assert (await h.act(act("accept", t(2, 10), actor=IMPORTER))).dossier.assignee == \
        "legacy-import"


# ------------------------------------------------------------------ Idempotency-Key
async def test_the_same_key_and_command_is_a_replay(h: ProcessingHandlers,
                                                    uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    first = await h.act(act("accept", t(2, 10), key="k-1"))
    commits = uow.commits

    again = await h.act(act("accept", t(2, 10), key="k-1"))

    assert (first.replayed, again.replayed) == (False, True)
    assert again.dossier == stored(uow)
    assert published(uow) == ["dossier.accepted"]
    assert steps(uow) == ["received", "accept"]
    assert uow.commits == commits
    hop = uow.hops.rows[-1]
    assert hop.idempotency_key == "k-1"
    assert hop.request_hash is not None


async def test_a_replay_answers_with_the_dossier_as_it_is_now(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10), key="k-1"))
    await h.act(act("assign", t(2, 11), assignee="can.bo.b"))
    # A retry may come later than the first try: its own time is not what it repeats.
    again = await h.act(act("accept", t(2, 12), key="k-1"))
    assert again.replayed is True
    assert again.dossier.assignee == "can.bo.b"
    assert stored(uow).last_action_at == t(2, 11)


@pytest.mark.parametrize("other", [
    act("assign", t(2, 10), key="k-1", assignee="can.bo.b"),  # another action
    act("accept", t(2, 10), key="k-1", note="khác"),  # another body
    act("accept", t(2, 10), key="k-1", actor=COLLEAGUE),  # another officer
    act("accept", t(2, 10), key="k-1", given_at=t(2, 10)),  # a time given this time
])
async def test_the_same_key_with_another_request_is_refused(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork, other: Act) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10), key="k-1"))
    before = copy.deepcopy(stored(uow))
    with pytest.raises(KeyReused) as refused:
        await h.act(other)
    assert refused.value.name == "Idempotency-Key"
    assert stored(uow) == before
    assert published(uow) == ["dossier.accepted"]
    assert steps(uow) == ["received", "accept"]


async def test_a_key_is_one_dossier_s(h: ProcessingHandlers,
                                      uow: FakeProcessingUnitOfWork) -> None:
    other = f"{UNIT}-261102-0002"
    await receive(h, uow)
    await receive(h, uow, other)
    await h.act(act("accept", t(2, 10), key="k-1"))
    second = await h.act(act("accept", t(2, 10), key="k-1", code=other))
    assert second.replayed is False
    assert stored(uow, other).state == "processing"
    assert published(uow) == ["dossier.accepted", "dossier.accepted"]


async def test_a_refused_first_try_leaves_its_key_free(h: ProcessingHandlers,
                                                       uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    with pytest.raises(IllegalTransition):
        await h.act(act("resolve", t(2, 10), key="k-1"))
    acted = await h.act(act("accept", t(2, 10), key="k-1"))  # nothing was remembered
    assert acted.replayed is False


async def test_a_back_dated_import_repeats_its_time(h: ProcessingHandlers,
                                                    uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    first = await h.act(act("accept", t(3, 8), actor=IMPORTER, key="imp-1", given_at=t(3, 8)))
    again = await h.act(act("accept", t(3, 8), actor=IMPORTER, key="imp-1", given_at=t(3, 8)))
    assert (first.replayed, again.replayed) == (False, True)
    assert uow.hops.rows[-1].at == t(3, 8)
    with pytest.raises(KeyReused):
        await h.act(act("accept", t(3, 9), actor=IMPORTER, key="imp-1", given_at=t(3, 9)))


# ------------------------------------------------------------------ other services' events
async def test_a_receipt_creates_the_dossier_once(h: ProcessingHandlers,
                                                  uow: FakeProcessingUnitOfWork) -> None:
    env = intake(received())
    await h.apply_event(uow, env)
    d = stored(uow)
    assert (d.state, d.unit_code, d.due_at, d.apology_deadline, d.due_soon_at) == \
        ("received", UNIT, DUE, APOLOGY_DEADLINE, DUE_SOON_AT)
    hop = uow.hops.rows[0]
    assert (hop.step, hop.actor, hop.at, hop.detail) == \
        ("received", "intake", RECEIVED, {"channel": "counter"})

    await h.act(act("accept", t(2, 10)))
    await h.apply_event(uow, env)  # redelivered
    await h.apply_event(uow, intake(received()))  # or sent again under another id

    assert list(uow.dossiers.rows) == [CODE]
    assert stored(uow).state == "processing"  # not reset to received
    assert steps(uow) == ["received", "accept"]
    assert published(uow) == ["dossier.accepted"]


async def test_an_online_filing_awaits_receipt(h: ProcessingHandlers,
                                               uow: FakeProcessingUnitOfWork) -> None:
    d = await receive(h, uow, channel="online", return_method="online")
    assert (d.state, d.channel, d.return_method) == ("awaiting_receipt", "online", "online")
    assert uow.hops.rows[0].detail == {"channel": "online"}


async def test_a_supplement_resumes_the_clock(h: ProcessingHandlers,
                                              uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("request-supplement", t(4, 10), reason="thiếu bản sao"))
    assert stored(uow).state == "awaiting_supplement"

    env = intake(SupplementReceived(dossier_code=CODE, received_at=t(6, 10)))
    await h.apply_event(uow, env)

    d = stored(uow)
    # Asked Wednesday, supplied Friday: two working days paused, due two days later.
    assert (d.state, d.due_at, d.paused_days, d.supplement_requested_at) == \
        ("processing", t(18, 17), 2, None)
    assert d.apology_deadline == t(17, 17)
    hop = uow.hops.rows[-1]
    assert (hop.step, hop.actor, hop.at, hop.due_at) == \
        ("supplement-received", "intake", t(6, 10), t(18, 17))

    await h.apply_event(uow, env)  # redelivered: no longer awaited
    assert stored(uow).due_at == t(18, 17)
    assert steps(uow) == ["received", "request-supplement", "supplement-received"]
    assert published(uow) == ["dossier.supplement_requested"]


async def test_a_supplement_not_asked_for_changes_nothing(h: ProcessingHandlers,
                                                          uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    before = copy.deepcopy(stored(uow))
    await h.apply_event(uow, intake(SupplementReceived(dossier_code=CODE, received_at=t(3))))
    assert stored(uow) == before
    assert steps(uow) == ["received"]


async def test_a_withdrawal_ends_an_unresolved_dossier(h: ProcessingHandlers,
                                                       uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10)))
    await h.apply_event(uow, intake(Withdrawn(dossier_code=CODE, at=t(3, 9),
                                              reason="không còn nhu cầu")))
    d = stored(uow)
    assert (d.state, d.ended_at) == ("withdrawn", t(3, 9))
    assert steps(uow) == ["received", "accept", "withdrawn"]
    with pytest.raises(IllegalTransition):
        await h.act(act("resolve", t(3, 10)))


async def test_a_withdrawal_of_a_resolved_dossier_changes_nothing(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10)))
    await h.act(act("resolve", t(3, 10)))
    before = copy.deepcopy(stored(uow))
    await h.apply_event(uow, intake(Withdrawn(dossier_code=CODE, at=t(3, 11))))
    assert stored(uow) == before
    assert steps(uow) == ["received", "accept", "resolve"]


async def test_a_result_handed_to_the_courier_returns_it(h: ProcessingHandlers,
                                                         uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow, return_method="postal")
    await h.act(act("accept", t(2, 10)))
    await h.act(act("resolve", t(5, 10), result_ref="PLLTP-1", return_method="postal"))
    with pytest.raises(RuleViolation) as refused:  # the desk does not return a postal result
        await h.act(act("return", t(5, 11), method="postal"))
    assert refused.value.field == "method"

    # As it comes off postal's topic: decoded by its type, dossier.result_returned.
    env: Envelope[EventData] = Envelope(source="postal", data=ResultReturned(
        dossier_code=CODE, returned_at=t(6, 8), method="postal"))
    await h.apply_event(uow, env)

    d = stored(uow)
    assert (d.state, d.returned_at) == ("returned", t(6, 8))
    hop = uow.hops.rows[-1]
    assert (hop.step, hop.actor, hop.at) == ("returned-by-post", "postal", t(6, 8))
    await h.apply_event(uow, env)
    assert steps(uow).count("returned-by-post") == 1


async def test_processing_s_own_result_returned_is_not_a_postal_return(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10)))
    await h.act(act("resolve", t(5, 10)))
    before = copy.deepcopy(stored(uow))
    await h.apply_event(uow, Envelope(source="processing", data=ResultReturned(
        dossier_code=CODE, returned_at=t(5, 11), method="counter")))
    await h.apply_event(uow, Envelope(source="processing", data=Accepted(
        dossier_code=CODE, at=t(5, 12), by="someone")))
    assert stored(uow) == before
    assert steps(uow) == ["received", "accept", "resolve"]


async def test_an_event_of_an_unknown_dossier_is_ignored(h: ProcessingHandlers,
                                                         uow: FakeProcessingUnitOfWork) -> None:
    unknown = "H26.99-261102-0001"
    for data in (SupplementReceived(dossier_code=unknown, received_at=t(3)),
                 Withdrawn(dossier_code=unknown, at=t(3)),
                 PostalResultReturned(dossier_code=unknown, returned_at=t(3), method="postal")):
        await h.apply_event(uow, intake(data))
    assert uow.dossiers.rows == {}
    assert uow.hops.rows == []
    assert uow.committed == []
    assert not uow.entered


# ------------------------------------------------------------------ the watchdog
async def test_the_watchdog_warns_and_flags_once_each(h: ProcessingHandlers,
                                                      uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)

    assert await h.watch_deadlines(uow, t(13, 7, 29), 10) == (0, [])
    looked, sent = await h.watch_deadlines(uow, t(13, 8), 10)
    assert (looked, sent) == (1, [DueSoon(dossier_code=CODE, due_at=DUE, at=DUE_SOON_AT)])
    assert await h.watch_deadlines(uow, t(13, 9), 10) == (0, [])
    assert await h.watch_deadlines(uow, DUE, 10) == (0, [])  # due, not yet overdue
    looked, sent = await h.watch_deadlines(uow, t(16, 17, 1), 10)
    assert (looked, sent) == (1, [Overdue(dossier_code=CODE, due_at=DUE, at=DUE)])
    assert await h.watch_deadlines(uow, t(17, 9), 10) == (0, [])

    assert published(uow) == ["dossier.due_soon", "dossier.overdue"]
    assert [e.source for e in uow.committed] == ["processing", "processing"]
    d = stored(uow)
    assert (d.due_soon_sent_at, d.overdue_sent_at) == (t(13, 8), t(16, 17, 1))


async def test_a_first_pass_after_the_due_date_sends_both(h: ProcessingHandlers,
                                                          uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    looked, sent = await h.watch_deadlines(uow, t(17, 9), 10)
    assert looked == 1
    assert [type(e) for e in sent] == [DueSoon, Overdue]
    assert await h.watch_deadlines(uow, t(18, 9), 10) == (0, [])
    assert published(uow) == ["dossier.due_soon", "dossier.overdue"]


async def test_the_watchdog_skips_paused_and_finished_dossiers(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    paused, done, running = (f"{UNIT}-261102-000{n}" for n in (1, 2, 3))
    for code in (paused, done, running):
        await receive(h, uow, code)
    await h.act(act("request-supplement", t(2, 10), code=paused, reason="thiếu"))
    await h.act(act("accept", t(2, 10), code=done))
    await h.act(act("resolve", t(2, 11), code=done))
    before = len(uow.committed)

    looked, sent = await h.watch_deadlines(uow, t(17, 9), 10)

    assert looked == 1
    assert {e.dossier_code for e in sent} == {running}
    assert len(uow.committed) == before + 2


async def test_the_watchdog_takes_a_batch_earliest_due_first(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    late = f"{UNIT}-261102-0001"
    early = f"{UNIT}-261102-0002"
    await receive(h, uow, late, due_at=t(18, 17))
    await receive(h, uow, early, due_at=t(17, 17))

    looked, sent = await h.watch_deadlines(uow, t(19, 9), 1)
    assert looked == 1
    assert {e.dossier_code for e in sent} == {early}
    looked, sent = await h.watch_deadlines(uow, t(19, 9), 1)
    assert looked == 1
    assert {e.dossier_code for e in sent} == {late}
    assert await h.watch_deadlines(uow, t(19, 9), 1) == (0, [])


async def test_dossiers_past_their_apology_deadline_by_unit(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow, f"{UNIT}-261102-0001")
    await receive(h, uow, f"{UNIT}-261102-0002")
    await receive(h, uow, f"{UNIT}-261102-0003")
    await receive(h, uow, f"{OTHER_UNIT}-261102-0001", unit=OTHER_UNIT)
    await h.act(act("apologize", t(12, 10), code=f"{UNIT}-261102-0002", reason="lý do",
                    new_due_at=t(20, 17)))
    await h.act(act("reject", t(12, 10), code=f"{UNIT}-261102-0003", reason="sai thủ tục"))

    assert await h.past_apology_deadline(APOLOGY_DEADLINE) == {}
    assert await h.past_apology_deadline(t(13, 17, 1)) == {UNIT: 1, OTHER_UNIT: 1}


# ------------------------------------------------------------------ reads
def query(**over: Any) -> Worklist:
    base: dict[str, Any] = {"units": None, "states": None, "due_before": None,
                            "due_after": None, "assignee": None, "limit": 50, "offset": 0}
    base.update(over)
    return Worklist(**base)


async def test_the_worklist_filters_and_orders_by_due_date(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    a1, a2, a3 = (f"{UNIT}-261102-000{n}" for n in (1, 2, 3))
    b1 = f"{OTHER_UNIT}-261102-0001"
    await receive(h, uow, a1, due_at=t(18, 17))
    await receive(h, uow, a2, due_at=t(16, 17))
    await receive(h, uow, a3, due_at=t(16, 17))
    await receive(h, uow, b1, unit=OTHER_UNIT, due_at=t(17, 17))
    await h.act(act("accept", t(2, 10), code=a1))
    await h.act(act("assign", t(2, 10), code=a3, assignee="can.bo.b"))

    async def codes(**over: Any) -> list[str]:
        return [d.code for d in await h.worklist(query(**over))]

    assert await codes() == [a2, a3, b1, a1]  # by due date, then by code
    assert await codes(units=[UNIT]) == [a2, a3, a1]
    assert await codes(units=[OTHER_UNIT]) == [b1]
    assert await codes(units=[]) == []
    states: list[State] = ["processing"]
    assert await codes(states=states) == [a3, a1]
    assert await codes(states=["received"], units=[UNIT]) == [a2]
    assert await codes(assignee="can.bo.b") == [a3]
    assert await codes(due_before=t(17, 17)) == [a2, a3, b1]
    assert await codes(due_after=t(17, 17)) == [b1, a1]
    assert await codes(due_after=t(16, 18), due_before=t(17, 17)) == [b1]
    assert await codes(limit=2) == [a2, a3]
    assert await codes(limit=2, offset=2) == [b1, a1]
    assert await codes(offset=4) == []


async def test_the_control_slip_times_each_hop(h: ProcessingHandlers,
                                               uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow)
    await h.act(act("accept", t(2, 10)))
    await h.act(act("resolve", t(16, 16)))
    slip = await h.control_slip(CODE, OFFICER)
    assert slip.dossier.state == "resolved"
    assert [(e.step, e.actor, e.timeliness) for e in slip.entries] == [
        ("received", "intake", "early"), ("accept", "can.bo.a", "early"),
        ("resolve", "can.bo.a", "on_time")]
    assert [e.working_seconds_since_previous for e in slip.entries[:2]] == [0.0, 3600.0]
