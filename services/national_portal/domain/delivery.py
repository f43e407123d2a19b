"""How the connector delivers: exponential backoff with full jitter after a failure, and a
circuit breaker that stops sending while the portal keeps failing. Pure: times are passed
in, and the random draw too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


def backoff(attempts: int, base_s: float, cap_s: float, draw: float) -> timedelta:
    """The wait before attempt ``attempts + 1``: a uniform draw (``draw`` in [0, 1)) up to
    ``min(cap, base × 2^attempts)`` ("full jitter"), at least a tenth of a second."""
    ceiling = min(cap_s, base_s * (2 ** min(attempts, 30)))
    return timedelta(seconds=max(0.1, ceiling * draw))


@dataclass
class CircuitBreaker:
    """Closed: send. After ``failures`` failed batches in a row: open for ``open_s``. Then
    half-open: one batch; its success closes, its failure opens again."""

    failures: int = 5
    open_s: float = 30.0
    failed_in_a_row: int = 0
    opened_at: datetime | None = None

    def state(self, now: datetime) -> str:
        if self.opened_at is None:
            return "closed"
        if now - self.opened_at < timedelta(seconds=self.open_s):
            return "open"
        return "half_open"

    def may_send(self, now: datetime) -> bool:
        return self.state(now) != "open"

    def succeeded(self) -> None:
        self.failed_in_a_row, self.opened_at = 0, None

    def failed(self, now: datetime) -> None:
        self.failed_in_a_row += 1
        if self.opened_at is not None or self.failed_in_a_row >= self.failures:
            self.opened_at = now
