"""Polling a real service until it converges (events travel through Kafka asynchronously)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T | None]], timeout_s: float = 30,
                every_s: float = 0.1) -> T:
    """The first truthy result of ``check``; TimeoutError after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(every_s)
