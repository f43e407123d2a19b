"""``AlignedBatches``: batches that cover one stretch of time on every held partition, each
partition's records handed out once, in offset order, as prefixes of what it holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from hypothesis import given
from hypothesis import strategies as st

from shared.batching import AlignedBatches
from shared.consumer import EventConsumer, _WaitForBatch


@dataclass(frozen=True)
class Rec:
    tp: str
    offset: int
    timestamp: int


def partition(tp: str, times: list[int], first: int = 0) -> list[Rec]:
    return [Rec(tp, first + i, t) for i, t in enumerate(times)]


def test_a_batch_stops_at_the_earliest_last_timestamp_of_the_partitions() -> None:
    held = AlignedBatches()
    # "intake" was fetched up to t=30, "processing" up to t=12: t=12 is all both cover.
    held.add({"intake": partition("intake", [10, 11, 20, 30]),
              "processing": partition("processing", [10, 11, 12])})
    batch = held.take(100)
    assert {tp: [r.timestamp for r in rs] for tp, rs in batch.items()} == {
        "intake": [10, 11], "processing": [10, 11, 12]}
    assert held.held("intake") == 2 and held.held("processing") == 0
    # With "processing" drained, the rest of "intake" is what is left.
    assert [r.offset for r in held.take(100)["intake"]] == [2, 3]
    assert len(held) == 0 and held.take(100) == {}


def test_over_the_limit_the_earliest_records_go_first() -> None:
    held = AlignedBatches()
    held.add({"a": partition("a", [1, 4, 5, 9]), "b": partition("b", [2, 3, 6, 9])})
    batch = held.take(3)
    assert {tp: [r.timestamp for r in rs] for tp, rs in batch.items()} == {
        "a": [1], "b": [2, 3]}
    assert len(held) == 5


def test_timestamps_out_of_order_within_a_partition_still_make_progress() -> None:
    held = AlignedBatches()
    held.add({"a": partition("a", [50, 5]), "b": partition("b", [60, 70])})
    # The horizon is 5 (a's last), and neither partition's first record is at or before it.
    batch = held.take(10)
    assert [r.offset for r in batch["a"]] == [0, 1] and "b" not in batch


def test_dropped_and_cleared_partitions_are_forgotten() -> None:
    held = AlignedBatches()
    held.add({"a": partition("a", [1, 2]), "b": partition("b", [1, 2]), "c": partition("c", [3])})
    held.drop(["a", "unknown"])
    assert held.held("a") == 0 and len(held) == 3
    held.clear()
    assert len(held) == 0 and held.take(10) == {}


_fetches = st.lists(  # fetches: per partition, how many records and their time steps
    st.dictionaries(st.sampled_from("abcd"), st.lists(st.integers(0, 5), max_size=12),
                    max_size=4),
    min_size=1, max_size=8)


@given(fetches=_fetches, limit=st.integers(1, 20), drain_between=st.booleans())
def test_every_record_is_handed_out_once_in_offset_order(
        fetches: list[dict[str, list[int]]], limit: int, drain_between: bool) -> None:
    held = AlignedBatches()
    added: dict[str, list[Rec]] = {}
    clock = {tp: 0 for tp in "abcd"}
    taken: dict[str, list[Rec]] = {}

    def take_one() -> int:
        had = len(held)
        batch = held.take(limit)
        n = sum(len(rs) for rs in batch.values())
        assert n <= limit
        assert (n > 0) == (had > 0)  # progress whenever something is held
        for tp, rs in batch.items():
            assert rs, tp  # no partition with nothing taken
            taken.setdefault(tp, []).extend(rs)
        return n

    for fetch in fetches:
        for tp, steps in fetch.items():
            times = []
            for step in steps:
                clock[tp] += step
                times.append(clock[tp])
            recs = partition(tp, times, first=len(added.get(tp, [])))
            added.setdefault(tp, []).extend(recs)
            held.add({tp: recs})
        if drain_between:
            take_one()
    while take_one():
        pass
    assert taken == {tp: rs for tp, rs in added.items() if rs}


@given(a=st.lists(st.integers(0, 100), min_size=1, max_size=20),
       b=st.lists(st.integers(0, 100), min_size=1, max_size=20))
def test_no_record_taken_is_later_than_every_partitions_last(a: list[int], b: list[int]) -> None:
    held = AlignedBatches()
    held.add({"a": partition("a", sorted(a)), "b": partition("b", sorted(b))})
    horizon = min(max(a), max(b))
    batch = held.take(1000)
    assert all(r.timestamp <= horizon for rs in batch.values() for r in rs)
    # ... and, the timestamps being in order, everything up to it is taken.
    assert sum(len(rs) for rs in batch.values()) == sum(t <= horizon for t in a + b)


# ------------------------------------------------------------------ in the consumer
class Seeker:
    """What ``_seek_back`` and ``_drop_client`` use of an AIOKafkaConsumer."""

    def __init__(self) -> None:
        self.sought: dict[TopicPartition, int] = {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought[tp] = offset

    async def stop(self) -> None:
        return None


def aligned_consumer() -> EventConsumer:
    async def handler(_conn: Any, _envs: Any) -> None:
        return None
    return EventConsumer(pool=cast(asyncpg.Pool, None), schema="metrics", name="facts",
                         topics=["t"], bootstrap="127.0.0.1:1", batch_handler=handler,
                         dlq_producer=cast(Any, object()), aligned=True)


async def test_what_is_held_is_forgotten_when_its_partitions_move_or_go_back() -> None:
    c = aligned_consumer()
    held = c._aligned
    assert held is not None
    a, b, c3 = (TopicPartition("t", n) for n in range(3))
    held.add({a: partition("a", [1, 2]), b: partition("b", [1, 2]), c3: partition("c", [1])})
    # A revoke: the new owner reads them again from the committed offset.
    await _WaitForBatch(c._lock, c.name, c._forget_held).on_partitions_revoked([a])
    assert (held.held(a), held.held(b), held.held(c3)) == (0, 2, 1)
    # A batch sought back (PostgreSQL away): what followed it is fetched again.
    seeker = Seeker()
    c._consumer = cast(Any, seeker)
    c._seek_back({b: partition("b", [0], first=7)})
    assert seeker.sought == {b: 7} and (held.held(b), held.held(c3)) == (0, 1)
    # A client let go: the next one starts from the committed offsets.
    await c._drop_client()
    assert len(held) == 0


def test_a_partition_with_nothing_more_on_the_broker_does_not_hold_the_batch_back() -> None:
    held = AlignedBatches()
    held.add({"a": partition("a", [1, 5, 9]), "b": partition("b", [2, 3])})
    # "b" has more to come (it bounds the batch at 3); "a" holds all it has.
    batch = held.take(10, complete={"a"})
    assert {tp: [r.timestamp for r in rs] for tp, rs in batch.items()} == {
        "a": [1], "b": [2, 3]}
    # Caught up everywhere (as in live running): all that is held.
    assert [r.timestamp for r in held.take(10, complete={"a", "b"})["a"]] == [5, 9]
    assert len(held) == 0
    # ... the earliest first, over the limit.
    held.add({"a": partition("a", [4, 6], first=3), "b": partition("b", [5], first=2)})
    assert sum(len(rs) for rs in held.take(2, complete={"a", "b"}).values()) == 2
    assert [r.timestamp for r in held.take(10, complete={"a", "b"})["a"]] == [6]


async def test_a_retired_clients_revoke_leaves_the_new_clients_records() -> None:
    c = aligned_consumer()
    held = c._aligned
    assert held is not None
    old, new = Seeker(), Seeker()
    c._consumer = cast(Any, old)
    old_forget = c._forget_for(cast(Any, old))
    c._consumer = cast(Any, new)  # made again after a stall; the old one is still leaving
    tp = TopicPartition("t", 0)
    held.add({tp: partition("a", [1, 2])})
    old_forget([tp])
    assert held.held(tp) == 2
    c._forget_for(cast(Any, new))([tp])
    assert held.held(tp) == 0


class FailingDeadLetters:
    async def send_and_wait(self, *_args: Any, **_kwargs: Any) -> None:
        raise KafkaConnectionError("the broker is away")


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes = b"not json"
    key: bytes = b"k"
    headers: tuple[tuple[str, bytes], ...] = ()


async def test_a_poison_message_not_copied_to_its_dead_letter_topic_is_read_again() -> None:
    c = aligned_consumer()
    c._dlq_producer = cast(Any, FailingDeadLetters())
    seeker = Seeker()
    c._consumer = cast(Any, seeker)
    tp = TopicPartition("t", 0)
    with pytest.raises(KafkaConnectionError):
        await c.process_batch({tp: [Message("t", 0, 41), Message("t", 0, 42)]})
    assert seeker.sought == {tp: 41}  # neither is passed over
