"""Retry timing shared by every sender (the national portal connector, portal webhooks,
applicant notifications): exponential backoff with full jitter, what becomes of a try, and
the lease under which a try is made. Pure: the random draw is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Outcome = Literal["done", "pending", "failed"]
DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True)
class Retry:
    base_s: float = 30.0
    cap_s: float = 3600.0
    give_up_after: timedelta = timedelta(days=1)


def backoff(attempts: int, base_s: float, cap_s: float, draw: float) -> timedelta:
    """The wait before attempt ``attempts + 1``: a uniform draw (``draw`` in [0, 1)) up to
    ``min(cap, base × 2^attempts)`` ("full jitter"), at least a tenth of a second."""
    ceiling = min(cap_s, base_s * (2 ** min(attempts, 30)))
    return timedelta(seconds=max(0.1, ceiling * draw))


def after_attempt(succeeded: bool, attempts: int, retry_from: datetime, now: datetime,
                  retry: Retry, draw: float, *, permanent: bool = False) -> tuple[Outcome, datetime]:
    """A message after try number ``attempts``: done when it succeeded; failed at once when
    the far side refused it for good (``permanent``), or once ``give_up_after`` has passed
    since ``retry_from``; else pending until the backoff's time."""
    if succeeded:
        return "done", now
    if permanent or now - retry_from >= retry.give_up_after:
        return "failed", now
    return "pending", now + backoff(attempts - 1, retry.base_s, retry.cap_s, draw)


def after_try(status: int | None, attempts: int, retry_from: datetime, now: datetime,
              retry: Retry, draw: float) -> tuple[DeliveryStatus, datetime]:
    """A webhook delivery after try number ``attempts`` got HTTP ``status`` (None: no
    answer): delivered on 2xx; else failed once a day (``give_up_after``) has passed since
    ``retry_from``; else pending until the backoff's time."""
    outcome, at = after_attempt(status is not None and 200 <= status < 300, attempts,
                                retry_from, now, retry, draw)
    return ("delivered" if outcome == "done" else outcome), at


def lease_for(timeout_s: float, batch_size: int, concurrency: int) -> timedelta:
    """How long a claimed try is left alone: longer than a whole batch can take (every try
    timing out, ``concurrency`` at a time), so a try in flight is not claimed again by the
    sender that made it; a sender that died leaves its tries to be made again after it."""
    return timedelta(seconds=timeout_s * -(-batch_size // concurrency) + 30)
