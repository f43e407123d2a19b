"""Test helpers that read topics directly from the real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
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


async def committed_lag(bootstrap: str, *groups: str,
                        topics: Sequence[str] = ()) -> int:
    """How many messages the groups' committed offsets are behind the partitions' ends.

    With ``topics`` (what the groups consume), a partition a group has committed nothing on
    counts from its start: a group that has had nothing to consume (an empty topic) is not
    behind, one that never committed what is there is. Without them, a group must have
    committed something."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.structs import TopicPartition

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await reader.start()
    try:
        if topics:
            await reader.topics()  # loads the cluster's metadata, partitions included
        partitions = [TopicPartition(t, p) for t in topics
                      for p in sorted(reader.partitions_for_topic(t) or ())]
        total = 0
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            assert committed or topics, f"group {group} committed nothing"
            ends = await reader.end_offsets(list({*committed, *partitions}))
            total += sum(end - (committed[tp].offset if tp in committed else 0)
                         for tp, end in ends.items())
        return total
    finally:
        await reader.stop()
        await admin.close()
