"""Retry timing shared by every sender (the national portal connector, portal webhooks):
exponential backoff with full jitter. Pure: the random draw is passed in."""

from __future__ import annotations

from datetime import timedelta


def backoff(attempts: int, base_s: float, cap_s: float, draw: float) -> timedelta:
    """The wait before attempt ``attempts + 1``: a uniform draw (``draw`` in [0, 1)) up to
    ``min(cap, base × 2^attempts)`` ("full jitter"), at least a tenth of a second."""
    ceiling = min(cap_s, base_s * (2 ** min(attempts, 30)))
    return timedelta(seconds=max(0.1, ceiling * draw))
