"""The cache of figures judged in the past (``judged_cache``): kept only while listening,
dropped by a change to one of their units, never stored from a read that overlapped a
change, and bounded in size and age."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from services.metrics.adapters.judged_cache import JudgedCache


class Counting:
    """A computation that returns how many times it has run."""

    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> int:
        self.runs += 1
        return self.runs


def listening(max_entries: int = 4096) -> JudgedCache[int]:
    cache: JudgedCache[int] = JudgedCache(max_entries=max_entries)
    cache.open()
    return cache


async def test_a_kept_value_is_served_again_while_listening() -> None:
    cache, count = listening(), Counting()
    assert await cache.get("k", ["A"], count, keep=True) == 1
    assert await cache.get("k", ["A"], count, keep=True) == 1
    assert (count.runs, cache.hits, cache.misses) == (1, 1, 1)


async def test_nothing_is_kept_unless_asked_or_listening() -> None:
    cache, count = listening(), Counting()
    assert [await cache.get("k", ["A"], count, keep=False) for _ in range(2)] == [1, 2]
    closed: JudgedCache[int] = JudgedCache()
    assert [await closed.get("k", ["A"], count, keep=True) for _ in range(2)] == [3, 4]
    assert len(closed) == 0


async def test_closing_drops_everything_and_opening_starts_empty() -> None:
    cache, count = listening(), Counting()
    await cache.get("k", ["A"], count, keep=True)
    cache.close()
    assert len(cache) == 0
    assert await cache.get("k", ["A"], count, keep=True) == 2  # not kept while closed
    cache.open()
    assert await cache.get("k", ["A"], count, keep=True) == 3
    assert await cache.get("k", ["A"], count, keep=True) == 3


async def test_a_change_drops_the_entries_of_its_units_only() -> None:
    cache, a, b, every = listening(), Counting(), Counting(), Counting()
    await cache.get("a", ["A", "A2"], a, keep=True)
    await cache.get("b", ["B"], b, keep=True)
    await cache.get("all", None, every, keep=True)
    cache.invalidate(["A2"])
    assert await cache.get("a", ["A", "A2"], a, keep=True) == 2  # counted again
    assert await cache.get("b", ["B"], b, keep=True) == 1  # kept
    assert await cache.get("all", None, every, keep=True) == 2  # it depends on every unit
    cache.invalidate(None)
    assert len(cache) == 0


async def test_a_read_that_overlapped_a_change_is_not_kept() -> None:
    cache = listening()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> int:
        started.set()
        await release.wait()
        return 1

    read = asyncio.create_task(cache.get("k", ["A"], slow, keep=True))
    await started.wait()
    cache.invalidate(["Z"])  # any change while it ran: its snapshot may predate it
    release.set()
    assert await read == 1
    assert len(cache) == 0
    count = Counting()
    assert await cache.get("k", ["A"], count, keep=True) == 1
    assert len(cache) == 1


async def test_a_read_that_overlapped_a_close_is_not_kept() -> None:
    cache = listening()

    async def closing() -> int:
        cache.close()
        cache.open()
        return 7

    assert await cache.get("k", ["A"], closing, keep=True) == 7
    assert len(cache) == 0


async def test_the_oldest_entry_goes_first_when_full() -> None:
    cache = listening(max_entries=2)
    computed: dict[str, Callable[[], Awaitable[int]]] = {k: Counting() for k in "abc"}
    for key in "ab":
        await cache.get(key, ["A"], computed[key], keep=True)
    await cache.get("a", ["A"], computed["a"], keep=True)  # "a" is now the most recent
    await cache.get("c", ["A"], computed["c"], keep=True)
    assert len(cache) == 2
    assert await cache.get("a", ["A"], computed["a"], keep=True) == 1
    assert await cache.get("b", ["A"], computed["b"], keep=True) == 2  # evicted, counted again


async def test_an_entry_older_than_its_age_is_counted_again() -> None:
    now = [100.0]
    cache: JudgedCache[int] = JudgedCache(max_age_s=30, monotonic=lambda: now[0])
    cache.open()
    count = Counting()
    await cache.get("k", ["A"], count, keep=True)
    now[0] += 30
    assert await cache.get("k", ["A"], count, keep=True) == 1
    now[0] += 0.5
    assert await cache.get("k", ["A"], count, keep=True) == 2


async def test_no_entries_at_all_means_off() -> None:
    cache, count = listening(max_entries=0), Counting()
    assert [await cache.get("k", ["A"], count, keep=True) for _ in range(2)] == [1, 2]
