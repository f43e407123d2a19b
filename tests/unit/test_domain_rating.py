"""Rating rules (services/feedback/domain/rating.py): who may rate and when, the rated
dossier's view of events arriving in any order, and how PIN guessing is held back."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.feedback.domain.rating import (
    FINISHING_EVENTS,
    GuessingPolicy,
    RatedDossier,
    RatingRefused,
    Refusal,
    TooManyGuesses,
    WrongPin,
    decree61_total,
    refusal,
    retry_after,
    source_key,
)
from shared.events import CriteriaScores, SipasScores
from shared.workdays import VN_TZ

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=VN_TZ)
FINISHED_AT = datetime(2026, 11, 19, 16, 0, tzinfo=VN_TZ)
POLICY = GuessingPolicy(per_dossier=5, per_source=30, window=timedelta(minutes=15))


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


# ------------------------------------------------------------------ refusal
@pytest.mark.parametrize(("finished", "rated", "expected"), [
    (None, False, Refusal.NOT_FINISHED),
    ("resolved", False, None),
    ("rejected", False, None),
    ("stopped", False, None),
    ("resolved", True, Refusal.ALREADY_RATED),
    (None, True, Refusal.ALREADY_RATED),  # already rated is the answer whatever else
])
def test_refusal(finished: str | None, rated: bool, expected: Refusal | None) -> None:
    assert refusal(finished, rated) is expected


def test_finishing_events_are_processings_verdicts_only() -> None:
    assert FINISHING_EVENTS == {"dossier.resolved": "resolved", "dossier.rejected": "rejected",
                                "dossier.stopped": "stopped"}


def test_exceptions() -> None:
    refused = RatingRefused(Refusal.ALREADY_RATED)
    assert refused.why is Refusal.ALREADY_RATED
    assert str(refused) == Refusal.ALREADY_RATED.value
    guesses = TooManyGuesses(301)
    assert guesses.retry_after_s == 301
    assert "301" in str(guesses)
    assert isinstance(WrongPin("x"), Exception)
    assert not isinstance(WrongPin("x"), RatingRefused | TooManyGuesses)


# ------------------------------------------------------------------ the rated dossier
def test_a_new_dossier_is_not_rateable() -> None:
    d = RatedDossier("D1")
    assert (d.unit_code, d.finished, d.finished_at, d.rated) == ("", None, None, False)
    with pytest.raises(RatingRefused) as caught:
        d.check_rateable()
    assert caught.value.why is Refusal.NOT_FINISHED


def test_receive_then_transfer() -> None:
    d = RatedDossier("D1")
    assert d.receive("H26.06") is True
    assert d.unit_code == "H26.06"
    assert d.transfer("H26.06") is False  # already there
    assert d.transfer("H26.07") is True
    assert d.unit_code == "H26.07"
    assert d.receive("H26.06") is False  # a redelivered filing does not move it back
    assert d.unit_code == "H26.07"


def test_transfer_heard_before_the_filing_wins() -> None:
    d = RatedDossier("D1")
    assert d.transfer("H26.07") is True
    assert d.receive("H26.06") is False
    assert d.unit_code == "H26.07"


@pytest.mark.parametrize(("event_type", "finished"), list(FINISHING_EVENTS.items()))
def test_finish(event_type: str, finished: str) -> None:
    d = RatedDossier("D1", unit_code="H26.06")
    assert d.finish(event_type, FINISHED_AT) is True
    assert (d.finished, d.finished_at) == (finished, FINISHED_AT)
    d.check_rateable()  # no refusal


def test_the_first_finishing_event_wins() -> None:
    d = RatedDossier("D1", unit_code="H26.06")
    assert d.finish("dossier.stopped", FINISHED_AT) is True
    assert d.finish("dossier.resolved", NOW) is False
    assert (d.finished, d.finished_at) == ("stopped", FINISHED_AT)


@pytest.mark.parametrize("event_type", ["dossier.result_returned", "dossier.withdrawn",
                                        "dossier.accepted", "dossier.received",
                                        "dossier.apology_issued", "resolved", ""])
def test_other_events_do_not_finish(event_type: str) -> None:
    d = RatedDossier("D1", unit_code="H26.06")
    assert d.finish(event_type, FINISHED_AT) is False
    assert (d.finished, d.finished_at) == (None, None)
    with pytest.raises(RatingRefused):
        d.check_rateable()


def test_a_finish_before_the_filing() -> None:
    d = RatedDossier("D1")
    assert d.finish("dossier.resolved", FINISHED_AT) is True
    assert d.receive("H26.06") is True
    assert (d.unit_code, d.finished, d.finished_at) == ("H26.06", "resolved", FINISHED_AT)
    d.check_rateable()


def test_a_transfer_keeps_the_finish() -> None:
    d = RatedDossier("D1", unit_code="H26.06")
    d.finish("dossier.rejected", FINISHED_AT)
    assert d.transfer("H26.07") is True
    assert (d.unit_code, d.finished, d.finished_at) == ("H26.07", "rejected", FINISHED_AT)
    d.check_rateable()


def test_rated_once() -> None:
    d = RatedDossier("D1", unit_code="H26.06")
    d.finish("dossier.resolved", FINISHED_AT)
    d.rated = True
    with pytest.raises(RatingRefused) as caught:
        d.check_rateable()
    assert caught.value.why is Refusal.ALREADY_RATED


# ------------------------------------------------------------------ PIN guessing
def test_no_failures_no_wait() -> None:
    assert retry_after([], [], NOW, POLICY) is None


def test_below_both_limits() -> None:
    assert retry_after([ago(60)] * 4, [ago(60)] * 29, NOW, POLICY) is None


def test_dossier_limit() -> None:
    # Five wrong PINs 10 to 6 minutes ago: the oldest leaves the 15-minute window in 300 s.
    # Whole seconds, one past that instant, so that a retry is never too early.
    failures = [ago(600), ago(540), ago(480), ago(420), ago(360)]
    wait = retry_after(failures, [], NOW, POLICY)
    assert wait == 301
    assert retry_after(failures, [], NOW + timedelta(seconds=300.5), POLICY) is None


def test_fractional_wait_rounds_up() -> None:
    failures = [ago(599.6)] + [ago(60)] * 4  # the oldest leaves in 300.4 s
    assert retry_after(failures, [], NOW, POLICY) == 301
    assert retry_after([ago(899.9)] + [ago(1)] * 4, [], NOW, POLICY) == 1  # 0.1 s left


def test_with_more_failures_than_the_limit_the_place_frees_later() -> None:
    # Six failures with a limit of five: after the oldest leaves five remain, so the wait is
    # until the second oldest (10 minutes ago) leaves: 300 s.
    failures = [ago(840), ago(600), ago(540), ago(480), ago(420), ago(360)]
    assert retry_after(failures, [], NOW, POLICY) == 301
    assert retry_after(failures[:5], [], NOW, POLICY) == 61  # the oldest: 14 minutes ago


def test_failures_outside_the_window_do_not_count() -> None:
    window = POLICY.window.total_seconds()
    assert retry_after([ago(window)] + [ago(60)] * 4, [], NOW, POLICY) is None  # exactly out
    assert retry_after([ago(window + 60)] * 10 + [ago(60)] * 4, [], NOW, POLICY) is None
    assert retry_after([ago(window - 1)] + [ago(60)] * 4, [], NOW, POLICY) == 2


def test_source_limit() -> None:
    source = [ago(720 - 10 * i) for i in range(30)]  # oldest 12 minutes ago: 180 s left
    assert retry_after([ago(60)], source, NOW, POLICY) == 181
    assert retry_after([], source[1:], NOW, POLICY) is None


def test_both_limits_the_longer_wait_wins() -> None:
    dossier = [ago(600)] * 5  # 300 s
    source = [ago(720)] * 30  # 180 s
    assert retry_after(dossier, source, NOW, POLICY) == 301
    assert retry_after([ago(840)] * 5, source, NOW, POLICY) == 181  # 60 s against 180 s


def test_a_small_window() -> None:
    policy = GuessingPolicy(per_dossier=1, per_source=1, window=timedelta(seconds=10))
    assert retry_after([ago(3)], [], NOW, policy) == 8
    assert retry_after([], [ago(3)], NOW, policy) == 8
    assert retry_after([ago(10)], [ago(11)], NOW, policy) is None


# ------------------------------------------------------------------ source keys
@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("10.0.0.1", "10.0.0.1"),
    ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd:12::/64"),
    ("2001:db8:abcd:12:ffff:ffff:ffff:ffff", "2001:db8:abcd:12::/64"),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::/64"),
    ("::1", "::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client on a dual-stack socket
    ("::FFFF:cb00:7107", "203.0.113.7"),
    ("unknown", "unknown"),
    ("testclient", "testclient"),
    ("", ""),
    ("203.0.113.300", "203.0.113.300"),
    ("2001:db8::/64", "2001:db8::/64"),
])
def test_source_key(address: str, key: str) -> None:
    assert source_key(address) == key


def test_one_ipv6_subscriber_is_one_source() -> None:
    assert source_key("2001:db8:1:2::a") == source_key("2001:db8:1:2:ffff::b")
    assert source_key("2001:db8:1:2::a") != source_key("2001:db8:1:3::a")
    assert source_key("203.0.113.7") != source_key("203.0.113.8")


# ------------------------------------------------------------------ Decree 61
SIPAS = SipasScores(access=5, procedure=4, civil_servant=4, result=4, feedback_handling=3)


@pytest.mark.parametrize(("criteria", "total"), [
    (None, None),
    (CriteriaScores(), None),
    (CriteriaScores(sipas=SIPAS), None),
    (CriteriaScores(decree61=[2] * 9), 18),
    (CriteriaScores(decree61=[0] * 9), 0),
    (CriteriaScores(decree61=[2, 1, 0, 2, 1, 0, 2, 1, 0], sipas=SIPAS), 9),
    (CriteriaScores(decree61=[1, 2, 2, 2, 2, 2, 2, 2, 2]), 17),
])
def test_decree61_total(criteria: CriteriaScores | None, total: int | None) -> None:
    assert decree61_total(criteria) == total
