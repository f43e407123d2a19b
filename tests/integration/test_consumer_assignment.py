"""A dossier's events are applied by one member of a group whichever topic they come on:
the keyed producer puts a code in partition p of every topic, and the group gives partition
p of every topic to the same member, for any number of members (range assignment). With
aiokafka's default (round robin), four members over two topics of six partitions split
them, and two members would fold one dossier at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from shared.consumer import EventConsumer
from shared.db import create_pool
from shared.events import INTAKE_TOPIC, PROCESSING_TOPIC, Envelope, EventData
from shared.kafka import ensure_topics
from shared.migrations import migrate_service
from tests.conftest import Infra

pytestmark = pytest.mark.integration
PARTITIONS = 6


async def test_a_key_lands_in_the_same_partition_of_every_topic(infra: Infra,
                                                               unique: str) -> None:
    topics = [f"t{unique}.{t}" for t in (INTAKE_TOPIC, PROCESSING_TOPIC)]
    await ensure_topics(infra.kafka_bootstrap, topics, partitions=PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for i in range(40):
            key = f"H26.06-2026-{i:06d}".encode()
            sent = [await (await producer.send(t, b"{}", key=key)) for t in topics]
            assert len({m.partition for m in sent}) == 1, key
    finally:
        await producer.stop()


async def test_every_member_holds_the_same_partitions_of_every_topic(
        infra: Infra, schema_factory: Callable[[str], str], unique: str) -> None:
    topics = [f"t{unique}.{t}" for t in (INTAKE_TOPIC, PROCESSING_TOPIC)]
    await ensure_topics(infra.kafka_bootstrap, topics, partitions=PARTITIONS)
    schema = schema_factory("assign")
    pool = await create_pool(infra.database_url, schema)
    await migrate_service(pool, schema, None)

    async def nothing(_conn: asyncpg.Connection, _env: Envelope[EventData]) -> None:
        return None

    members = [EventConsumer(pool=pool, schema=schema, name=f"member-{i}",
                             group_id=f"t{unique}.assign", topics=topics,
                             bootstrap=infra.kafka_bootstrap, handler=nothing)
               for i in range(4)]

    async def polling(member: EventConsumer) -> None:
        while True:
            await member.poll_once(200)

    tasks = []
    try:
        for member in members:
            await member.start()
            tasks.append(asyncio.create_task(polling(member)))

        def settled() -> bool:
            held = [m.assignment() for m in members]
            return all(held) and sum(map(len, held)) == len(topics) * PARTITIONS

        async with asyncio.timeout(90):
            while not settled():
                await asyncio.sleep(0.2)
        held = [m.assignment() for m in members]
        assert set().union(*held) == {(t, p) for t in topics for p in range(PARTITIONS)}
        for pairs in held:
            by_topic = [{p for t, p in pairs if t == topic} for topic in topics]
            assert by_topic[0] == by_topic[1], pairs
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for member in members:
            await member.stop()
        await pool.close()
