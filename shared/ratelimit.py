"""Token buckets per key (pure: time is passed in): a portal's requests at intake, the
national portal connector's sends."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TokenBuckets:
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # tokens, stamp

    def take(self, key: str, rate: float, burst: int, now: float) -> float:
        """0 when the request may go; otherwise the seconds to wait (for Retry-After)."""
        tokens, stamp = self.buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - stamp) * rate)
        if tokens >= 1:
            self.buckets[key] = (tokens - 1, now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1 - tokens) / rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
