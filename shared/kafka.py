"""Kafka clients configured once: the idempotent producer, topic creation, reachability."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events import dlq_topic

log = logging.getLogger(__name__)


def make_producer(bootstrap: str, *, client_id: str, idempotent: bool = True) -> AIOKafkaProducer:
    """acks=all and idempotence: a retried send never writes a message twice or out of order."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=2,
        max_batch_size=262144,
        request_timeout_ms=30000,
    )


async def ensure_topics(bootstrap: str, topics: Iterable[str], *, partitions: int = 6,
                        replication: int = 1, with_dlq: bool = True) -> None:
    """Create the topics (and their ``.dlq``) that do not exist yet. Safe to race."""
    wanted: set[str] = set()
    for t in topics:
        wanted.add(t)
        if with_dlq:
            wanted.add(dlq_topic(t))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="motcua-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = sorted(wanted - existing)
        if not missing:
            return
        try:
            await admin.create_topics(
                [NewTopic(name=t, num_partitions=partitions, replication_factor=replication)
                 for t in missing]
            )
        except TopicAlreadyExistsError:
            pass
        log.info("created topics", extra={"topics": missing})
    finally:
        await admin.close()


async def kafka_reachable(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="motcua-readyz",
                                request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        try:
            await admin.close()
        except Exception:
            pass
