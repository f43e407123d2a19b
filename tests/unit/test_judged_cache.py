"""The cache of figures judged in the past (``judged_cache``): kept only while listening,
dropped by a change to one of their units, never stored from a read that overlapped a
change, and bounded in size and age."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

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


T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


class Settling:
    """A computation judged "now": how many times it has run, and that it holds for an
    hour from the moment it is asked at."""

    def __init__(self, cache: JudgedCache[int]) -> None:
        self.runs = 0
        self.cache = cache

    async def at(self, moment: datetime, key: str = "k", units: list[str] | None = None
                 ) -> int:
        async def compute() -> tuple[int, datetime]:
            self.runs += 1
            return self.runs, moment + timedelta(hours=1)
        return await self.cache.get_settled(key, units or ["A"], compute, moment)


async def test_a_value_judged_now_is_served_for_the_moments_it_holds_for() -> None:
    cache = listening()
    now = Settling(cache)
    assert await now.at(T0) == 1
    assert await now.at(T0 + timedelta(minutes=59, seconds=59)) == 1
    assert await now.at(T0 + timedelta(hours=1)) == 2  # settled until then, not at it
    assert await now.at(T0 + timedelta(minutes=30)) == 3  # before the kept moments
    # A change of its units drops it; another unit's does not.
    cache.invalidate(["B"])
    assert await now.at(T0 + timedelta(minutes=31)) == 3
    cache.invalidate(["A"])
    assert await now.at(T0 + timedelta(minutes=31)) == 4


async def test_a_value_judged_now_and_one_judged_in_the_past_do_not_answer_each_other() -> None:
    cache, count = listening(), Counting()
    now = Settling(cache)
    assert await cache.get("k", ["A"], count, keep=True) == 1
    assert await now.at(T0) == 1  # replaces it under the same key
    assert await cache.get("k", ["A"], count, keep=True) == 2


async def test_a_value_judged_now_is_not_kept_unless_listening_or_when_it_holds_for_no_time(
        ) -> None:
    closed: JudgedCache[int] = JudgedCache()
    now = Settling(closed)
    assert [await now.at(T0) for _ in range(2)] == [1, 2]
    cache = listening()

    async def instant() -> tuple[int, datetime]:
        return 7, T0
    assert await cache.get_settled("k", ["A"], instant, T0) == 7
    assert len(cache) == 0


async def test_a_value_judged_now_whose_read_overlapped_a_change_is_not_kept() -> None:
    cache = listening()

    async def changing() -> tuple[int, datetime]:
        cache.invalidate(["Z"])
        return 1, T0 + timedelta(hours=1)
    assert await cache.get_settled("k", ["A"], changing, T0) == 1
    assert len(cache) == 0
