"""Feedback's service layer (services/feedback/service_layer/handlers.py) against the
in-memory unit of work of tests/support/fakes.py: no Kafka, no PostgreSQL.

A dossier received Monday 02/11/2026 at Sở Tư pháp and resolved Thursday 05/11 is rated
on Friday 06/11 with the PIN of its receipt; the handlers' clock is passed in, and wrong
PINs are limited to three per dossier and five per source in fifteen minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.feedback.domain.rating import (
    GuessingPolicy,
    RatingRefused,
    Refusal,
    TooManyGuesses,
    WrongPin,
)
from services.feedback.service_layer.handlers import (
    FeedbackHandlers,
    Rated,
    RatingNotFound,
    SubmitRating,
)
from shared.auth import Principal, receipt_pin
from shared.clock import VN
from shared.events import (
    Accepted,
    CriteriaScores,
    DossierReceived,
    Envelope,
    EventData,
    FeedbackSubmitted,
    MaskedApplicant,
    PostalResultReturned,
    Rating,
    Rejected,
    Resolved,
    Stopped,
    Transferred,
    Withdrawn,
)
from tests.support.api import OTHER_UNIT, PROCEDURE, UNIT
from tests.support.fakes import FakeFeedbackUnitOfWork, published

PEPPER = "test-pin-pepper"
POLICY = GuessingPolicy(per_dossier=3, per_source=5, window=timedelta(minutes=15))


def t(day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=VN)


CODE = f"{UNIT}-261102-0001"
PIN = receipt_pin(CODE, PEPPER)
WRONG = f"{(int(PIN) + 1) % 1_000_000:06d}"
SOURCE = "203.0.113.7"
OFFICER = Principal("can.bo.a", "officer", frozenset({UNIT}))
STRANGER = Principal("can.bo.x", "officer", frozenset({OTHER_UNIT}))
LEADER = Principal("so-tttt", "operator", frozenset({"*"}))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(t(6, 10))


@pytest.fixture
def uow() -> FakeFeedbackUnitOfWork:
    return FakeFeedbackUnitOfWork()


@pytest.fixture
def h(uow: FakeFeedbackUnitOfWork, clock: Clock) -> FeedbackHandlers:
    return FeedbackHandlers(lambda: uow, POLICY, PEPPER, clock)


def received(code: str = CODE, unit: str = UNIT) -> DossierReceived:
    return DossierReceived.model_validate({
        "dossier_code": code, "unit_code": unit, "procedure_code": PROCEDURE,
        "channel": "counter", "received_at": t(2), "counted_from": t(2), "due_at": t(16, 17),
        "processing_days": 10, "return_method": "counter",
        "applicant": MaskedApplicant(name="Nguyễn V. A.", id_number="*********567"),
        "rulebook": "2026.11-1"})


def env(data: EventData, source: str = "processing") -> Envelope[EventData]:
    return Envelope(source=source, data=data)


def resolved(code: str = CODE, at: datetime = t(5, 10)) -> Resolved:
    return Resolved(dossier_code=code, resolved_at=at)


def rating(pin: str = PIN, *, code: str = CODE, value: Rating = "very_satisfied",
           comment: str | None = None, criteria: CriteriaScores | None = None,
           source: str = SOURCE, at: datetime = t(6, 10)) -> SubmitRating:
    return SubmitRating(code, pin, value, criteria, comment, at, source)


async def finished(h: FeedbackHandlers, uow: FakeFeedbackUnitOfWork, code: str = CODE) -> None:
    await h.apply_event(uow, env(received(code), "intake"))
    await h.apply_event(uow, env(resolved(code)))


# ------------------------------------------------------------------ rating
async def test_the_right_pin_rates_a_finished_dossier(h: FeedbackHandlers,
                                                      uow: FakeFeedbackUnitOfWork) -> None:
    await finished(h, uow)
    criteria = CriteriaScores(decree61=[2] * 9)

    rated = await h.submit_rating(rating(
        comment="Cán bộ nhiệt tình, gọi tôi 0912 345 678 hoặc an@example.vn",
        criteria=criteria))

    masked = "Cán bộ nhiệt tình, gọi tôi *******678 hoặc a***@example.vn"
    assert rated == Rated(unit_code=UNIT, comment=masked)
    assert uow.events() == [FeedbackSubmitted(dossier_code=CODE, unit_code=UNIT,
                                              rating="very_satisfied", criteria=criteria,
                                              comment=masked, at=t(6, 10))]
    assert uow.committed[0].source == "feedback"
    assert "345 678" not in uow.committed[0].data.model_dump_json()
    row = uow.ratings.rows[CODE]
    assert (row["unit_code"], row["rating"], row["comment"], row["at"]) == \
        (UNIT, "very_satisfied", masked, t(6, 10))
    assert row["criteria"] == {"decree61": [2] * 9, "sipas": None}
    assert uow.guesses.failures == []
    assert uow.guesses.turns == [CODE]  # the attempt took its turn on the dossier


async def test_a_rating_without_a_comment(h: FeedbackHandlers,
                                          uow: FakeFeedbackUnitOfWork) -> None:
    await finished(h, uow)
    rated = await h.submit_rating(rating(value="unsatisfied"))
    assert rated == Rated(unit_code=UNIT, comment=None)
    assert uow.ratings.rows[CODE]["criteria"] is None


async def test_a_wrong_pin_is_refused_and_counted(h: FeedbackHandlers,
                                                  uow: FakeFeedbackUnitOfWork) -> None:
    await finished(h, uow)
    with pytest.raises(WrongPin):
        await h.submit_rating(rating(WRONG))
    assert uow.guesses.failures == [(CODE, SOURCE, t(6, 10))]  # at the handlers' clock
    assert uow.ratings.rows == {}
    assert uow.committed == []


async def test_past_the_dossier_s_limit_even_the_right_pin_waits(
        h: FeedbackHandlers, uow: FakeFeedbackUnitOfWork, clock: Clock) -> None:
    await finished(h, uow)
    for minute in range(POLICY.per_dossier):
        clock.now = t(6, 10, minute)
        with pytest.raises(WrongPin):  # from several sources: the dossier's limit counts
            await h.submit_rating(rating(WRONG, source=f"198.51.100.{minute}"))
    clock.now = t(6, 10, 3)

    with pytest.raises(TooManyGuesses) as held:
        await h.submit_rating(rating(PIN))

    # The first failure (10:00) leaves the window at 10:15: twelve minutes on, and a second.
    assert held.value.retry_after_s == 12 * 60 + 1
    assert len(uow.guesses.failures) == POLICY.per_dossier  # a held attempt is not counted
    assert uow.ratings.rows == {}
    with pytest.raises(TooManyGuesses):
        await h.submit_rating(rating(WRONG))
    assert len(uow.guesses.failures) == POLICY.per_dossier

    clock.now = t(6, 10, 15, 1)  # the first failure has left the window
    assert (await h.submit_rating(rating(PIN))).unit_code == UNIT
    assert published(uow) == ["feedback.submitted"]


async def test_past_the_source_s_limit_another_dossier_waits(
        h: FeedbackHandlers, uow: FakeFeedbackUnitOfWork, clock: Clock) -> None:
    codes = [f"{UNIT}-261102-{n:04d}" for n in range(1, POLICY.per_source + 2)]
    for code in codes:
        await finished(h, uow, code)
    for minute, code in enumerate(codes[:POLICY.per_source]):
        clock.now = t(6, 10, minute)
        with pytest.raises(WrongPin):
            await h.submit_rating(rating(WRONG, code=code))
    clock.now = t(6, 10, 5)
    fresh = codes[-1]
    with pytest.raises(TooManyGuesses) as held:
        await h.submit_rating(rating(receipt_pin(fresh, PEPPER), code=fresh))
    assert held.value.retry_after_s > 0
    # Another source is not held back by this one.
    rated = await h.submit_rating(rating(receipt_pin(fresh, PEPPER), code=fresh,
                                         source="192.0.2.1"))
    assert rated.unit_code == UNIT


async def test_a_dossier_not_finished_cannot_be_rated(h: FeedbackHandlers,
                                                      uow: FakeFeedbackUnitOfWork) -> None:
    await h.apply_event(uow, env(received(), "intake"))
    await h.apply_event(uow, env(Accepted(dossier_code=CODE, at=t(2, 10), by="cb")))
    with pytest.raises(RatingRefused) as refused:
        await h.submit_rating(rating())
    assert refused.value.why is Refusal.NOT_FINISHED
    assert uow.ratings.rows == {}
    assert uow.committed == []
    assert uow.guesses.failures == []  # the right PIN is no failure


async def test_an_unknown_dossier_is_not_finished(h: FeedbackHandlers,
                                                  uow: FakeFeedbackUnitOfWork) -> None:
    code = f"{UNIT}-261102-0999"
    with pytest.raises(RatingRefused) as refused:
        await h.submit_rating(rating(receipt_pin(code, PEPPER), code=code))
    assert refused.value.why is Refusal.NOT_FINISHED
    with pytest.raises(WrongPin):
        await h.submit_rating(rating(WRONG, code=code))
    assert uow.dossiers.rows == {}


async def test_a_dossier_is_rated_once(h: FeedbackHandlers,
                                       uow: FakeFeedbackUnitOfWork) -> None:
    await finished(h, uow)
    await h.submit_rating(rating(value="satisfied"))
    with pytest.raises(RatingRefused) as refused:
        await h.submit_rating(rating(value="unsatisfied", at=t(6, 11)))
    assert refused.value.why is Refusal.ALREADY_RATED
    assert uow.ratings.rows[CODE]["rating"] == "satisfied"
    assert published(uow) == ["feedback.submitted"]


# ------------------------------------------------------------------ what feedback hears
@pytest.mark.parametrize(("first", "then", "kept"), [
    (resolved(), Rejected(dossier_code=CODE, at=t(5, 11), reason="sai"), "resolved"),
    (Stopped(dossier_code=CODE, at=t(5, 9), reason="dừng"), resolved(), "stopped"),
    (Rejected(dossier_code=CODE, at=t(5, 11), reason="sai"), resolved(at=t(5, 9)), "rejected"),
])
async def test_the_first_finishing_event_wins(h: FeedbackHandlers, uow: FakeFeedbackUnitOfWork,
                                              first: EventData, then: EventData,
                                              kept: str) -> None:
    await h.apply_event(uow, env(received(), "intake"))
    await h.apply_event(uow, env(first))
    await h.apply_event(uow, env(then))
    d = uow.dossiers.rows[CODE]
    assert (d.finished, d.finished_at) == (kept, first.occurred_at)


@pytest.mark.parametrize("data", [
    PostalResultReturned(dossier_code=CODE, returned_at=t(6, 8), method="postal"),
    Withdrawn(dossier_code=CODE, at=t(3)),
    Accepted(dossier_code=CODE, at=t(2, 10), by="cb"),
])
async def test_other_events_finish_nothing(h: FeedbackHandlers, uow: FakeFeedbackUnitOfWork,
                                           data: EventData) -> None:
    await h.apply_event(uow, env(received(), "intake"))
    await h.apply_event(uow, env(data))
    assert uow.dossiers.rows[CODE].finished is None
    with pytest.raises(RatingRefused):
        await h.submit_rating(rating())


async def test_an_event_that_changes_nothing_stores_nothing(
        h: FeedbackHandlers, uow: FakeFeedbackUnitOfWork) -> None:
    await h.apply_event(uow, env(Accepted(dossier_code=CODE, at=t(2, 10), by="cb")))
    assert uow.dossiers.rows == {}
    assert uow.committed == []


async def test_a_transfer_heard_of_before_the_receipt_keeps_its_unit(
        h: FeedbackHandlers, uow: FakeFeedbackUnitOfWork) -> None:
    await h.apply_event(uow, env(Transferred(dossier_code=CODE, from_unit=UNIT,
                                             to_unit=OTHER_UNIT, at=t(3))))
    await h.apply_event(uow, env(received(), "intake"))  # late, on intake's topic
    assert uow.dossiers.rows[CODE].unit_code == OTHER_UNIT


async def test_the_rating_credits_the_unit_the_dossier_is_at(
        h: FeedbackHandlers, uow: FakeFeedbackUnitOfWork) -> None:
    await h.apply_event(uow, env(received(), "intake"))
    await h.apply_event(uow, env(received(), "intake"))  # redelivered
    await h.apply_event(uow, env(Transferred(dossier_code=CODE, from_unit=UNIT,
                                             to_unit=OTHER_UNIT, at=t(3))))
    await h.apply_event(uow, env(resolved()))

    rated = await h.submit_rating(rating())

    assert rated.unit_code == OTHER_UNIT
    event = uow.events()[-1]
    assert isinstance(event, FeedbackSubmitted)
    assert event.unit_code == OTHER_UNIT
    assert uow.ratings.rows[CODE]["unit_code"] == OTHER_UNIT


async def test_a_finish_heard_of_before_the_receipt(h: FeedbackHandlers,
                                                    uow: FakeFeedbackUnitOfWork) -> None:
    await h.apply_event(uow, env(resolved()))
    await h.apply_event(uow, env(received(), "intake"))
    d = uow.dossiers.rows[CODE]
    assert (d.unit_code, d.finished, d.finished_at) == (UNIT, "resolved", t(5, 10))
    assert (await h.submit_rating(rating())).unit_code == UNIT


async def test_a_finished_dossier_of_no_known_unit_is_not_rated_yet(
        h: FeedbackHandlers, uow: FakeFeedbackUnitOfWork) -> None:
    await h.apply_event(uow, env(resolved()))
    with pytest.raises(RatingRefused) as refused:
        await h.submit_rating(rating())
    assert refused.value.why is Refusal.NOT_FINISHED
    assert uow.ratings.rows == {}
    assert uow.committed == []


# ------------------------------------------------------------------ officers' reads
async def test_a_rating_is_read_by_its_unit(h: FeedbackHandlers,
                                            uow: FakeFeedbackUnitOfWork) -> None:
    await finished(h, uow)
    await h.submit_rating(rating(value="satisfied", comment="tốt"))
    row = await h.rating_of(CODE, OFFICER)
    assert (row["dossier_code"], row["unit_code"], row["rating"], row["comment"]) == \
        (CODE, UNIT, "satisfied", "tốt")
    assert (await h.rating_of(CODE, LEADER))["rating"] == "satisfied"
    with pytest.raises(RatingNotFound):
        await h.rating_of(CODE, STRANGER)
    with pytest.raises(RatingNotFound):
        await h.rating_of(f"{UNIT}-261102-0999", OFFICER)


# ------------------------------------------------------------------ a batch of events
def _events_about(code: str) -> list[Envelope[EventData]]:
    return [env(received(code), "intake"), env(Transferred(
        dossier_code=code, from_unit=UNIT, to_unit=OTHER_UNIT, at=t(3))),
        env(resolved(code)), env(Rejected(dossier_code=code, at=t(4), reason="thiếu")),
        env(Withdrawn(dossier_code=code, at=t(3)))]


@given(st.permutations([e for n in (1, 2, 3) for e in _events_about(f"{UNIT}-261102-000{n}")]),
       st.integers(1, 15))
@settings(max_examples=60, deadline=None)
async def test_a_batch_leaves_what_its_events_one_by_one_would(
        events: list[Envelope[EventData]], split: int) -> None:
    one_by_one, batched = FakeFeedbackUnitOfWork(), FakeFeedbackUnitOfWork()
    h = FeedbackHandlers(lambda: one_by_one, POLICY, PEPPER, Clock(t(6)))
    for e in events:
        await h.apply_event(one_by_one, e)
    h = FeedbackHandlers(lambda: batched, POLICY, PEPPER, Clock(t(6)))
    await h.apply_events(batched, events[:split])
    await h.apply_events(batched, events[split:])
    assert batched.dossiers.rows == one_by_one.dossiers.rows
    assert len(batched.dossiers.rows) == 3
