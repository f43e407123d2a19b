"""The per-portal token bucket (services/intake/domain/ratelimit.py). Rates are powers of two
so that the arithmetic is exact in binary floating point."""

from __future__ import annotations

import pytest

from services.intake.domain.ratelimit import TokenBuckets, retry_after

T0 = 1_000.0  # a monotonic clock reading; only differences matter


def test_a_new_bucket_is_full() -> None:
    b = TokenBuckets()
    assert [b.take("p1", 1.0, 3, T0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.buckets["p1"] == (0.0, T0)
    assert b.take("p1", 1.0, 3, T0) == 1.0  # empty: one token takes 1 s at 1/s


def test_wait_is_the_time_to_the_next_token() -> None:
    b = TokenBuckets()
    b.take("p1", 2.0, 1, T0)
    assert b.take("p1", 2.0, 1, T0) == 0.5  # 1 token at 2/s
    assert b.take("p1", 2.0, 1, T0 + 0.25) == 0.25  # half a token refilled meanwhile
    assert b.buckets["p1"] == (0.5, T0 + 0.25)  # a refused request costs nothing
    assert b.take("p1", 2.0, 1, T0 + 0.5) == 0.0  # the token is there
    assert b.buckets["p1"] == (0.0, T0 + 0.5)


def test_refill_is_proportional_to_time() -> None:
    b = TokenBuckets()
    for _ in range(4):
        b.take("p1", 0.5, 4, T0)
    assert b.take("p1", 0.5, 4, T0 + 1.0) == 1.0  # 0.5 token: the other half takes 1 s
    # The refused request kept its 0.5 token at T0 + 1; 3 s more at 0.5/s make 2 tokens.
    assert b.take("p1", 0.5, 4, T0 + 4.0) == 0.0
    assert b.buckets["p1"] == (1.0, T0 + 4.0)
    assert b.take("p1", 0.5, 4, T0 + 4.0) == 0.0
    assert b.take("p1", 0.5, 4, T0 + 4.0) == 2.0  # empty: a whole token takes 2 s


def test_burst_caps_the_refill() -> None:
    b = TokenBuckets()
    b.take("p1", 1.0, 2, T0)
    # A long idle time refills to the burst, not beyond it.
    waits = [b.take("p1", 1.0, 2, T0 + 3_600) for _ in range(3)]
    assert waits == [0.0, 0.0, 1.0]


def test_portals_have_their_own_buckets() -> None:
    b = TokenBuckets()
    assert b.take("p1", 1.0, 1, T0) == 0.0
    assert b.take("p1", 1.0, 1, T0) == 1.0
    assert b.take("p2", 1.0, 1, T0) == 0.0
    assert set(b.buckets) == {"p1", "p2"}


def test_a_bucket_follows_a_changed_rate() -> None:
    # The rate and burst are read at each call (a portal's settings may change).
    b = TokenBuckets()
    b.take("p1", 1.0, 1, T0)
    assert b.take("p1", 4.0, 1, T0) == 0.25
    assert b.take("p1", 4.0, 1, T0 + 0.25) == 0.0


def test_a_lowered_burst_applies_at_once() -> None:
    b = TokenBuckets()
    b.take("p1", 1.0, 10, T0)  # 9 tokens left
    assert [b.take("p1", 1.0, 2, T0) for _ in range(3)] == [0.0, 0.0, 1.0]


def test_sustained_rate() -> None:
    # At 1 request per half second against 2/s, every request goes; at 4/s, half of them.
    b = TokenBuckets()
    assert all(b.take("p1", 2.0, 1, T0 + i * 0.5) == 0.0 for i in range(20))
    b2 = TokenBuckets()
    outcomes = [b2.take("p2", 2.0, 1, T0 + i * 0.25) == 0.0 for i in range(20)]
    assert outcomes == [True, False] * 10


@pytest.mark.parametrize(("seconds", "header"), [
    (0.0, "1"),  # never less than one second
    (0.001, "1"),
    (0.5, "1"),
    (1.0, "1"),
    (1.001, "2"),
    (2.5, "3"),
    (59.0, "59"),
    (59.01, "60"),
])
def test_retry_after_header(seconds: float, header: str) -> None:
    assert retry_after(seconds) == header
