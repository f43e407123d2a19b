"""Test helpers that read topics directly from the real broker."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer


async def read_all(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 20.0) -> list[Any]:
    """Every record of ``topic`` from the beginning, waiting until at least ``expect`` arrived."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                client_id=f"test-reader-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(records) < expect:
                batch = await consumer.getmany(timeout_ms=300)
                for recs in batch.values():
                    records.extend(recs)
        # Anything beyond what was expected (e.g. an unwanted duplicate) shows up too.
        batch = await consumer.getmany(timeout_ms=500)
        for recs in batch.values():
            records.extend(recs)
    finally:
        await consumer.stop()
    return records


async def committed_lag(bootstrap: str, *groups: str) -> int:
    """How many messages the groups' committed offsets are behind the partitions' ends."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await reader.start()
    try:
        total = 0
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            assert committed, f"group {group} committed nothing"
            ends = await reader.end_offsets(list(committed))
            total += sum(ends[tp] - meta.offset for tp, meta in committed.items())
        return total
    finally:
        await reader.stop()
        await admin.close()
