"""How the connector delivers: a circuit breaker that stops sending while the portal keeps
failing (the backoff after a failure is ``shared.retry.backoff``). Pure: times are passed
in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


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
