"""Figures judged in the past are kept while the live hub listens, and a committed change
to one of their units, heard through PostgreSQL's NOTIFY, makes the next read count again;
a change elsewhere leaves them kept; figures judged "now" are kept for the moments they hold
for, until a change or the next time in their facts; with the listener gone, nothing is.
The periods are last month, whatever today is, and a month judged by a clock of the test's
own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

import asyncpg
import pytest

from services.metrics.adapters import store
from services.metrics.adapters.live import LiveHub
from services.metrics.adapters.reader import MetricsReader
from services.metrics.domain.facts import EventRecord
from services.metrics.domain.figures import Figures, Period
from shared.clock import SYSTEM_CLOCK, FixedClock
from shared.db import create_pool
from shared.migrations import migrate_service
from tests.conftest import ROOT, Infra
from tests.unit.test_metrics_golden import RB, received, resolved

pytestmark = pytest.mark.integration
VN = timezone(timedelta(hours=7))
# Last month, by the clock, judged a minute before its end: a moment well past whatever the
# date and time, even in the first second of a month (figures judged within a second of the
# clock are never kept).
_MONTH = Period.preset("last_month", SYSTEM_CLOCK.now())
LAST_MONTH = replace(_MONTH, as_of=_MONTH.end - timedelta(minutes=1))


def filed(code: str, unit: str, day: int) -> list[EventRecord]:
    at = datetime.combine(LAST_MONTH.start.date().replace(day=day), time(9), VN)
    return [received(code, at, at + timedelta(days=3), unit=unit),
            resolved(at + timedelta(days=1))]


async def add(pool: asyncpg.Pool, code: str, events: list[EventRecord]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.add_events(conn, [(e.event_id, code, e.type, e.occurred_at, e.data)
                                      for e in events], RB)


async def eventually(read: Callable[[], object], want: object, limit_s: float = 10) -> None:
    async with asyncio.timeout(limit_s):
        while (got := await read()) != want:  # type: ignore[misc]
            await asyncio.sleep(0.02)
    assert got == want


async def test_kept_until_a_change_to_their_units_is_heard(
        infra: Infra, schema_factory: Callable[[str], str]) -> None:
    assert LAST_MONTH.as_of < SYSTEM_CLOCK.now()
    schema = schema_factory("metrics")
    pool = await create_pool(infra.database_url, schema)
    try:
        await migrate_service(pool, schema, ROOT / "services" / "metrics" / "sql")
        await kept_until_heard(pool)
    finally:
        await pool.close()


async def kept_until_heard(pool: asyncpg.Pool) -> None:
    # Committed before the hub listens: its notification is not heard, and cannot drop
    # the first entry below at a moment of its own.
    await add(pool, "KEPT-1", filed("KEPT-1", "H26.06", 6))
    reader = MetricsReader(pool, RB)
    hub = LiveHub(reader, interval_s=0.05)
    running = asyncio.create_task(hub.run())
    try:
        async with asyncio.timeout(10):
            while not reader.cache.listening:
                await asyncio.sleep(0.02)

        first = await reader.unit("H26.06", LAST_MONTH)
        assert first.received == 1
        assert await reader.unit("H26.06", LAST_MONTH) is first  # kept

        # A dossier of another unit: heard, and this unit's figures stay kept.
        other = await reader.unit("H26.02", LAST_MONTH)
        await add(pool, "ELSEWHERE", filed("ELSEWHERE", "H26.02", 7))

        async def received_of(unit: str) -> int:
            return (await reader.unit(unit, LAST_MONTH)).received
        await eventually(lambda: received_of("H26.02"), 1)
        assert other.received == 0
        assert await reader.unit("H26.06", LAST_MONTH) is first

        # A late event of this unit, on a past day of last month: counted on the next read.
        await add(pool, "KEPT-2", filed("KEPT-2", "H26.06", 8))
        await eventually(lambda: received_of("H26.06"), 2)
        second = await reader.unit("H26.06", LAST_MONTH)
        assert await reader.unit("H26.06", LAST_MONTH) is second

        # "Everything changed" (a rebuild's swap, the start-up tally) drops every entry.
        async with pool.acquire() as conn:
            await store.notify_changed(conn, None)
        async with asyncio.timeout(10):
            while await reader.unit("H26.06", LAST_MONTH) is second:
                await asyncio.sleep(0.02)

    finally:
        hub.stop()
        await asyncio.wait_for(running, 10)
    # The listener is gone: nothing is kept, nothing served from before.
    assert not reader.cache.listening and len(reader.cache) == 0
    alone: list[Figures] = [await reader.unit("H26.06", LAST_MONTH) for _ in range(2)]
    assert alone[0] is not alone[1] and alone[0].received == 2


async def test_judged_now_kept_until_a_change_or_the_next_time_in_their_facts(
        infra: Infra, schema_factory: Callable[[str], str]) -> None:
    schema = schema_factory("metrics")
    pool = await create_pool(infra.database_url, schema)
    # Ten days into this month, mid-morning, on the reader's own clock.
    clock = FixedClock(datetime.combine(_MONTH.end.date() + timedelta(days=10), time(9), VN))
    t0 = clock.now()
    reader = MetricsReader(pool, RB, clock=clock)
    hub = LiveHub(reader, interval_s=0.05)
    running: asyncio.Task[None] | None = None

    async def this_month() -> Figures:
        return await reader.unit("H26.06", Period.month_of(clock.now()))
    try:
        await migrate_service(pool, schema, ROOT / "services" / "metrics" / "sql")
        running = asyncio.create_task(hub.run())
        async with asyncio.timeout(10):
            while not reader.cache.listening:
                await asyncio.sleep(0.02)
        first = await this_month()
        clock.advance(timedelta(minutes=1))
        assert await this_month() is first  # a minute later: nothing has moved
        # Received an hour ago, due in half an hour: heard, counted on the next read, and
        # kept until it falls due; judged after that, it is overdue.
        await add(pool, "NOW-1", [received("NOW-1", t0 - timedelta(hours=1),
                                           t0 + timedelta(minutes=30), unit="H26.06")])

        async def in_progress() -> int:
            return (await this_month()).in_progress
        await eventually(in_progress, first.in_progress + 1)
        second = await this_month()
        assert second.overdue_open == first.overdue_open
        clock.advance(timedelta(minutes=28))
        assert await this_month() is second
        clock.advance(timedelta(minutes=2))
        third = await this_month()
        assert third is not second and third.overdue_open == second.overdue_open + 1
    finally:
        hub.stop()
        if running is not None:
            await asyncio.wait_for(running, 10)
        await pool.close()
