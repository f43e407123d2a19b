"""Complaints' service layer (services/feedback/service_layer/complaints.py) against the
in-memory unit of work: submitting (about a unit, about a dossier with its receipt PIN),
repeats linked to the first, the officers' steps and their refusals, the citizen's PIN, the
published answers and the overdue watch. No Kafka, no PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.feedback.domain.complaint import ComplaintPolicy, ComplaintRefusal
from services.feedback.domain.rating import GuessingPolicy, TooManyGuesses
from services.feedback.service_layer.complaints import (
    Answer,
    Classify,
    ComplaintHandlers,
    ComplaintInputRefused,
    ComplaintNotFound,
    DossierNotFound,
    DossierNotYetKnown,
    Publish,
    Refuse,
    RequestInfo,
    SubmitComplaint,
)
from services.feedback.service_layer.handlers import FeedbackHandlers
from shared.auth import Principal, receipt_pin
from shared.clock import VN
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from tests.support.fakes import FakeFeedbackUnitOfWork, published
from tests.unit.test_service_layer_feedback import CODE, PIN, env, received

PEPPER = "test-pin-pepper"
UNIT = "H26.01"
OFFICER = Principal("can.bo.a", "officer", frozenset({UNIT}))
STRANGER = Principal("can.bo.x", "officer", frozenset({"H26.02"}))
CALLER = {"full_name": "Trần Thị Bình", "phone": "0987654321"}


def t(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=VN)


@pytest.fixture
def uow() -> FakeFeedbackUnitOfWork:
    return FakeFeedbackUnitOfWork()


@pytest.fixture
def h(uow: FakeFeedbackUnitOfWork) -> ComplaintHandlers:
    return ComplaintHandlers(lambda: uow, load_rulebook(str(DEFAULT_RULEBOOK)), ComplaintPolicy(),
                             GuessingPolicy(per_dossier=3, per_source=5,
                                            window=timedelta(minutes=15)),
                             PEPPER, lambda: t(30))


def submit(**over: object) -> SubmitComplaint:
    base: dict[str, object] = dict(subject="Chậm trả", body="Gọi tôi 0912345678.",
                                   category="procedure", via="portal", submitted_by="dvc-demo",
                                   at=t(2), source="203.0.113.9", unit_code=UNIT,
                                   complainant=CALLER)
    return SubmitComplaint(**{**base, **over})  # type: ignore[arg-type]


async def test_a_complaint_about_a_unit_gets_a_code_deadlines_and_a_pin(
        h: ComplaintHandlers, uow: FakeFeedbackUnitOfWork) -> None:
    done = await h.submit(submit())
    c = done.complaint
    assert c.code == "PAKN-261102-0001" and done.pin == receipt_pin(c.code, PEPPER)
    # Mon 2/11 10:00: two working days → Wed 4/11; fifteen → Mon 23/11 (a holiday on 24/11
    # comes after).
    assert c.refuse_by == t(4, 17) and c.answer_by == t(23, 17)
    assert "0912345678" not in c.body, "texts are masked before they are stored"
    assert uow.complaints.rows[c.code].complainant == CALLER
    [event] = uow.events()
    assert event.event_type == "complaint.submitted"
    assert "0987654321" not in event.model_dump_json() and "Bình" not in event.model_dump_json()


async def test_about_a_dossier_the_receipt_pin_and_the_dossiers_unit(
        h: ComplaintHandlers, uow: FakeFeedbackUnitOfWork) -> None:
    with pytest.raises(DossierNotFound):
        await h.submit(submit(dossier_code=CODE, pin="000000" if PIN != "000000" else "111111"))
    with pytest.raises(DossierNotYetKnown):
        await h.submit(submit(dossier_code=CODE, pin=PIN))
    ratings = FeedbackHandlers(lambda: uow, h.pins.policy, PEPPER, lambda: t(30))
    await ratings.apply_event(uow, env(received(CODE, "H26.02"), "intake"))
    c = (await h.submit(submit(dossier_code=CODE, pin=PIN, unit_code=None))).complaint
    assert c.unit_code == "H26.02" and c.dossier_code == CODE
    # A second complaint about the same dossier and category repeats the first.
    again = (await h.submit(submit(dossier_code=CODE, pin=PIN, at=t(5)))).complaint
    assert again.repeat_of == c.code
    assert uow.complaints.rows[c.code].repeated_at == t(5)
    assert published(uow)[-2:] == ["complaint.submitted", "complaint.repeated"]
    # Another category is another matter.
    other = (await h.submit(submit(dossier_code=CODE, pin=PIN, category="conduct"))).complaint
    assert other.repeat_of is None


async def test_wrong_pins_are_limited(h: ComplaintHandlers) -> None:
    for _ in range(3):
        with pytest.raises(DossierNotFound):
            await h.submit(submit(dossier_code=CODE, pin="999999"))
    with pytest.raises(TooManyGuesses):
        await h.submit(submit(dossier_code=CODE, pin=PIN))


async def test_refused_input(h: ComplaintHandlers) -> None:
    with pytest.raises(ComplaintInputRefused, match="name the unit"):
        await h.submit(submit(unit_code=None))
    with pytest.raises(ComplaintInputRefused, match="unknown unit"):
        await h.submit(submit(unit_code="H99.99"))
    with pytest.raises(ComplaintInputRefused, match="no complaint"):
        await h.submit(submit(repeat_of="PAKN-261101-0001"))


async def test_a_repeat_of_a_repeat_links_to_the_first(h: ComplaintHandlers,
                                                       uow: FakeFeedbackUnitOfWork) -> None:
    first = (await h.submit(submit())).complaint
    second = (await h.submit(submit(repeat_of=first.code, at=t(3)))).complaint
    third = (await h.submit(submit(repeat_of=second.code, at=t(4)))).complaint
    assert third.repeat_of == first.code
    assert uow.complaints.rows[first.code].repeated_at == t(3), "the first repeat counts"


async def test_the_officers_steps(h: ComplaintHandlers, uow: FakeFeedbackUnitOfWork) -> None:
    c = (await h.submit(submit())).complaint
    with pytest.raises(ComplaintNotFound):
        await h.act(c.code, Publish(action="publish"), t(3), STRANGER)
    with pytest.raises(ComplaintRefusal):
        await h.act(c.code, Publish(action="publish"), t(3), OFFICER)
    asked = await h.act(c.code, RequestInfo(action="request_info", what="Bản sao"), t(3),
                        OFFICER)
    assert asked.state == "awaiting_info"
    with pytest.raises(ComplaintNotFound):
        await h.give_info(c.code, "000000" if PIN != "000000" else "1", "x", t(4), "s")
    pin = receipt_pin(c.code, PEPPER)
    given = await h.give_info(c.code, pin, "Đã gửi, gọi 0912345678", t(5), "s")
    # 3/11 to 5/11: two working days more, after 23/11 and over 24/11 (Vietnam Cultural Day).
    assert given.answer_by == t(26, 17)
    assert given.info is not None and "0912345678" not in given.info
    await h.act(c.code, Answer(action="answer", text="Đã xử lý"), t(6), OFFICER)
    [(subject, kind, contact, message)] = uow.notifications.queued.values()
    assert (subject, kind, contact.phone) == (c.code, "complaint.answered", "0987654321")
    assert c.code in message.text and "Đã xử lý" in message.text and "hồ sơ" not in message.text
    with pytest.raises(ComplaintInputRefused):
        await h.act(c.code, Classify(action="classify", category="other", unit_code="H26.02"),
                    t(6), OFFICER)
    await h.act(c.code, Publish(action="publish"), t(9), OFFICER)
    assert [r["code"] for r in await h.published(UNIT, 10)] == [c.code]
    reacted = await h.react(c.code, pin, "disliked", t(10), "s")
    assert reacted.reaction == "disliked"
    assert published(uow)[1:] == ["complaint.info_requested", "complaint.info_received",
                                  "complaint.answered", "complaint.published",
                                  "complaint.reacted"]
    assert [x.code for x in await h.complaints(OFFICER, None, None, 10)] == [c.code]
    assert await h.complaints(OFFICER, "H26.02", None, 10) == []
    assert await h.complaints(STRANGER, None, None, 10) == []
    with pytest.raises(ComplaintNotFound):
        await h.complaint(c.code, STRANGER)


async def test_a_refusal_and_a_reclassification(h: ComplaintHandlers) -> None:
    c = (await h.submit(submit())).complaint
    moved = await h.act(c.code, Classify(action="classify", category="conduct"), t(2, 11),
                        OFFICER)
    assert moved.category == "conduct"
    refused = await h.act(c.code, Refuse(action="refuse", reason="Ngoài phạm vi"), t(3),
                          OFFICER)
    assert refused.state == "refused" and refused.refused_at == t(3)


async def test_the_watch_flags_once(h: ComplaintHandlers, uow: FakeFeedbackUnitOfWork) -> None:
    c = (await h.submit(submit())).complaint
    assert await h.watch_overdue(t(23, 17), 10) == []
    [flag] = await h.watch_overdue(t(24), 10)
    assert flag.event_type == "complaint.overdue"
    assert await h.watch_overdue(t(25), 10) == []
    assert uow.complaints.rows[c.code].overdue_flagged == ["answer"]
