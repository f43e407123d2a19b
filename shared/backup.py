"""The Kafka half of a backup (docs/operations.md): the committed offsets of every consumer
group, saved with the database's base backup, and put back after a restore.

Offsets are saved *before* the database is copied. A consumer commits its offsets only after
the transaction that applied the events (inbox row and effect) has committed, so the saved
offsets never run ahead of the copy: put back, they make every consumer read again from a
point at or before what the restored database holds, and its inbox turns what it had
already applied into no-ops. Nothing is skipped and nothing is counted twice.

``python -m shared.backup save-offsets FILE`` / ``reset-offsets FILE`` (the consumers must
be stopped for a reset: Kafka refuses to move the offsets of an active group).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from shared.settings import ServiceSettings


async def committed_offsets(bootstrap: str, prefix: str = "") -> dict[str, dict[str, int]]:
    """Each consumer group (whose name starts with ``prefix``) -> ``topic:partition`` ->
    its committed offset."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="motcua-backup")
    await admin.start()
    try:
        groups = sorted(g[0] for g in await admin.list_consumer_groups()
                        if g[0].startswith(prefix))
        out: dict[str, dict[str, int]] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            out[group] = {f"{tp.topic}:{tp.partition}": meta.offset
                          for tp, meta in sorted(offsets.items()) if meta.offset >= 0}
        return out
    finally:
        await admin.close()


async def reset_offsets(bootstrap: str, saved: dict[str, dict[str, int]]) -> int:
    """Commit the saved offsets for each group again; the number of partitions reset."""
    reset = 0
    for group, offsets in saved.items():
        if not offsets:
            continue
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                    enable_auto_commit=False, client_id="motcua-restore")
        await consumer.start()
        try:
            commits = {}
            for key, offset in offsets.items():
                topic, _, partition = key.rpartition(":")
                commits[TopicPartition(topic, int(partition))] = OffsetAndMetadata(offset, "")
            consumer.assign(list(commits))
            await consumer.commit(commits)
            reset += len(commits)
        finally:
            await consumer.stop()
    return reset


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.backup")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("save-offsets", "reset-offsets"):
        sub.add_parser(name).add_argument("file", type=Path)
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    if args.command == "save-offsets":
        saved = asyncio.run(committed_offsets(settings.kafka_bootstrap, settings.topic_prefix))
        args.file.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
        print(f"saved the offsets of {len(saved)} consumer groups", file=sys.stderr)
    else:
        loaded: dict[str, Any] = json.loads(args.file.read_text())
        count = asyncio.run(reset_offsets(settings.kafka_bootstrap, loaded))
        print(f"reset {count} partitions of {len(loaded)} consumer groups")
    return 0


if __name__ == "__main__":
    sys.exit(main())
