"""Batches that cover the same stretch of time on every partition, for a consumer catching
up on a backlog.

``getmany`` drains the partitions it has fetched one after another: a batch from a backlog
is a few partitions' records, and the next batch is the next few. A dossier's events come
on several topics; folded from such batches, it is folded once for each topic it has events
on. ``AlignedBatches`` holds what was fetched and hands out, each time, the records of every
held partition up to one moment (the earliest of the partitions' last held records), so a
batch holds most of each of its dossiers' events and each dossier is folded about once.

Only the grouping changes. Each partition's records are handed out in offset order, as
prefixes of what it holds; what is held and not handed out is not committed, so a
rebalance, a restart or a sought-back batch drops it and it is read again.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Container, Hashable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class _Record(Protocol):
    timestamp: int
    offset: int


class AlignedBatches:
    """What a member fetched and has not applied yet, per partition (``tp -> records`` in
    offset order), handed out in batches aligned by the records' timestamps."""

    def __init__(self) -> None:
        self._held: dict[Any, list[Any]] = {}

    def __len__(self) -> int:
        return sum(len(records) for records in self._held.values())

    def held(self, tp: Any) -> int:
        """How many of the partition's records are held."""
        return len(self._held.get(tp, ()))

    def partitions(self) -> list[Any]:
        """The partitions with records held."""
        return [tp for tp, records in self._held.items() if records]

    def last_offset(self, tp: Any) -> int:
        """The offset of the partition's last held record (it must hold one)."""
        return int(self._held[tp][-1].offset)

    def add(self, fetched: Mapping[Any, list[Any]]) -> None:
        for tp, records in fetched.items():
            if records:
                self._held.setdefault(tp, []).extend(records)

    def take(self, limit: int, complete: Container[Any] = ()) -> dict[Any, list[Any]]:
        """At most ``limit`` records: on each held partition, its records up to the earliest
        of the partitions' last held timestamps, the earliest first when there are more.
        A partition in ``complete`` (all it has on the broker is held) does not bound the
        batch: nothing earlier can come from it. When every partition is complete (a member
        that has caught up), everything held is taken, earliest first."""
        tps = self.partitions()
        if not tps:
            return {}
        horizon = min((self._held[tp][-1].timestamp for tp in tps if tp not in complete),
                      default=None)
        counts = [0] * len(tps)
        # Each partition's records up to the horizon, in their own order, merged earliest
        # first: only what is taken is looked at.
        merged = heapq.merge(*(_until(self._held[tp], horizon, i) for i, tp in enumerate(tps)))
        for _, i in islice(merged, limit):
            counts[i] += 1
        if not any(counts):  # timestamps out of order within a partition
            first = min(range(len(tps)), key=lambda i: self._held[tps[i]][0].timestamp)
            counts[first] = min(limit, len(self._held[tps[first]]))
        taken: dict[Any, list[Any]] = {}
        for tp, n in zip(tps, counts, strict=True):
            if not n:
                continue
            records = self._held[tp]
            taken[tp] = records[:n]
            if n < len(records):
                self._held[tp] = records[n:]
            else:
                del self._held[tp]
        return taken

    def drop(self, tps: Iterable[Any]) -> None:
        """Forget what is held for these partitions (their position is moving back)."""
        for tp in tps:
            self._held.pop(tp, None)

    def clear(self) -> None:
        self._held.clear()


def _until(records: list[_Record], horizon: int | None, i: int
           ) -> Iterator[tuple[int, int]]:
    """``(timestamp, i)`` of the partition's records up to the first after ``horizon``
    (None: all of them)."""
    for rec in records:
        if horizon is not None and rec.timestamp > horizon:
            return
        yield rec.timestamp, i


def runs(items: Sequence[T], together: Callable[[T], bool],
         key: Callable[[T], Hashable]) -> Iterator[tuple[bool, list[T]]]:
    """``items`` in order, cut into maximal runs of consecutive items that may be applied
    together, with distinct keys (``(True, run)``), and the others one at a time
    (``(False, [item])``). Applying a run at once leaves what applying its items one by one
    would, when each item touches only its key's state."""
    run: list[T] = []
    keys: set[Hashable] = set()
    for item in items:
        if together(item) and key(item) not in keys:
            run.append(item)
            keys.add(key(item))
            continue
        if run:
            yield True, run
            run, keys = [], set()
        if together(item):
            run, keys = [item], {key(item)}
        else:
            yield False, [item]
    if run:
        yield True, run
