"""The partition gauge of members sharing a name in one process: a member's revoke that
runs after another member was given the same partition leaves the gauge up."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from shared.consumer import _WaitForBatch
from shared.observability import PARTITION_ASSIGNED


def shown(name: str, topic: str) -> set[int]:
    return {int(s.labels["partition"]) for metric in PARTITION_ASSIGNED.collect()
            for s in metric.samples
            if s.labels.get("consumer") == name
            and s.labels.get("topic") == topic}


async def test_a_late_revoke_leaves_the_partition_another_member_took() -> None:
    first, second = (_WaitForBatch(asyncio.Lock(), "gauge-test") for _ in range(2))
    tp = TopicPartition("gauge-topic", 2)
    await first.on_partitions_assigned([tp])
    await second.on_partitions_assigned([tp])  # the rebalance's new owner, first
    await first.on_partitions_revoked([tp])  # then the old owner's revoke
    assert shown("gauge-test", "gauge-topic") == {2}
    await second.on_partitions_revoked([tp])
    assert shown("gauge-test", "gauge-topic") == set()
