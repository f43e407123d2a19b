"""Which portal an API key belongs to, and whether it is within its request rate."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.intake.adapters.repository import Portal, PortalKeys
from services.intake.domain.ratelimit import TokenBuckets


class UnknownKey(Exception):
    """No live key like this one (never issued, or revoked)."""


class OverRate(Exception):
    def __init__(self, portal_id: str, wait_s: float) -> None:
        super().__init__(f"portal {portal_id} is over its request rate")
        self.wait_s = wait_s


class PortalAccess:
    """One per process: its key cache and token buckets are this replica's."""

    def __init__(self, keys: PortalKeys, *, rate_per_s: float, burst: int,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.keys = keys
        self.buckets = TokenBuckets()
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.monotonic = monotonic

    async def admit(self, api_key: str) -> Portal:
        """:raises UnknownKey, OverRate:"""
        found = await self.keys.portal_for(api_key)
        if found is None:
            raise UnknownKey()
        wait = self.buckets.take(found.id, found.rate_per_s or self.rate_per_s,
                                 found.burst or self.burst, self.monotonic())
        if wait:
            raise OverRate(found.id, wait)
        return found
