"""A consumer's stop is bounded: it never waits on itself (the client's leaving runs the
revoke hook, which waits for the batch lock), and a client whose leaving hangs is let go."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import asyncpg
import pytest

from shared.consumer import EventConsumer, _WaitForBatch


class Client:
    """What stop() uses of an AIOKafkaConsumer: leaving the group runs the revoke hook, as
    aiokafka's coordinator does when a rebalance is under way at close."""

    def __init__(self, listener: _WaitForBatch, *, hang: bool = False) -> None:
        self.listener = listener
        self.hang = hang
        self.stopped = False

    async def stop(self) -> None:
        await self.listener.on_partitions_revoked([])
        if self.hang:
            await asyncio.Event().wait()
        self.stopped = True


def consumer() -> EventConsumer:
    async def handler(_conn: Any, _env: Any) -> None:
        return None
    return EventConsumer(pool=cast(asyncpg.Pool, None), schema="metrics", name="facts",
                         topics=["t"], bootstrap="127.0.0.1:1", handler=handler,
                         dlq_producer=cast(Any, object()))


async def test_stop_does_not_wait_on_its_own_revoke_hook() -> None:
    c = consumer()
    client = Client(_WaitForBatch(c._lock, c.name))
    c._consumer = cast(Any, client)
    async with asyncio.timeout(5):  # the hook's own wait for the lock is 30 s
        await c.stop(timeout_s=20)
    assert client.stopped and c._consumer is None


async def test_a_client_whose_leaving_hangs_is_let_go(caplog: pytest.LogCaptureFixture) -> None:
    c = consumer()
    client = Client(_WaitForBatch(c._lock, c.name), hang=True)
    c._consumer = cast(Any, client)
    with caplog.at_level(logging.WARNING, logger="shared.consumer"):
        async with asyncio.timeout(5):
            await c.stop(timeout_s=0.2)
    assert not client.stopped and c._consumer is None
    assert "did not stop in 0 s" in caplog.text


async def test_stop_lets_the_batch_in_flight_finish_first() -> None:
    c = consumer()
    client = Client(_WaitForBatch(c._lock, c.name))
    c._consumer = cast(Any, client)
    order: list[str] = []

    async def batch() -> None:
        async with c._lock:
            await asyncio.sleep(0.1)
            order.append("batch committed")

    running = asyncio.create_task(batch())
    await asyncio.sleep(0)
    await c.stop(timeout_s=5)
    order.append("client stopped" if client.stopped else "client not stopped")
    await running
    assert order == ["batch committed", "client stopped"]
