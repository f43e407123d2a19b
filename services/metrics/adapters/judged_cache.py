"""Figures judged at a moment already past, kept until a change to one of their units.

A period's figures are a function of the facts and of ``as_of`` alone. Once ``as_of`` is
past, they change only when the facts do, and every change of the facts is announced: the
consumer's transaction NOTIFYs the units it changed, a rebuild and the start-up tally NOTIFY
"everything" (``store.notify_changed``). So a result can be served again until a
notification names one of its units.

Figures judged at "now" have an ``as_of`` that moves with every request, but they are a
step function of it: a count compares ``as_of`` only with the times in the facts, so they
stay the same until the next such time, the next midnight or the period's end
(``tallies.settled_until``). They are kept for those moments (``get_settled``): a read at a
moment inside ``[judged at, settled until)`` is served the value, one outside is counted.

Correctness rests on three rules:

- **Only while listening.** Entries are kept only while the live hub's LISTEN connection is
  up (``open``/``close``); a notification missed while it was down cannot leave a stale
  entry, because ``close`` drops them all and ``open`` starts empty.
- **No result of a read that overlapped a change.** Each invalidation moves ``version``; a
  read stores its result only if the version did not move while it ran. A read that began
  before a commit and ended after its notification is therefore not kept.
- **A bounded age.** An entry older than ``max_age_s`` is read again, whatever was heard:
  the backstop for a listener connection that died without saying so.

The window in which a stale result can be served is the time between a commit and its
notification reaching this process (milliseconds), as for any replica reading after a
write in another one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry(Generic[T]):
    units: frozenset[str] | None  # None: it depends on every unit
    value: T
    stored_at: float
    moments: tuple[datetime, datetime] | None = None  # judged "now": [from, until) it holds


class JudgedCache(Generic[T]):
    def __init__(self, *, max_entries: int = 4096, max_age_s: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.max_age_s = max_age_s
        self._monotonic = monotonic
        self._entries: OrderedDict[Hashable, _Entry[T]] = OrderedDict()
        self._version = 0
        self.listening = False
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def open(self) -> None:
        """The listener is up: from now on every change is heard."""
        self._drop_all()
        self.listening = True

    def close(self) -> None:
        """The listener is down: changes may go unheard, so nothing is kept or served."""
        self.listening = False
        self._drop_all()

    def invalidate(self, units: Iterable[str] | None) -> None:
        """The facts of ``units`` changed (None: of any unit)."""
        self._version += 1
        if units is None:
            self._entries.clear()
            return
        changed = set(units)
        for key in [k for k, e in self._entries.items()
                    if e.units is None or not e.units.isdisjoint(changed)]:
            del self._entries[key]

    async def get(self, key: Hashable, units: Iterable[str] | None,
                  compute: Callable[[], Awaitable[T]], *, keep: bool) -> T:
        """The value of ``key``, which depends on the facts of ``units`` (None: of every
        unit): kept if it may be (``keep``, and listening), else computed."""
        if not (keep and self._keeping()):
            return await compute()
        entry = self._lookup(key, None)
        if entry is not None:
            return entry.value
        version, now = self._version, self._monotonic()
        value = await compute()
        self._store(key, version, _Entry(_units(units), value, now))
        return value

    async def get_settled(self, key: Hashable, units: Iterable[str] | None,
                          compute: Callable[[], Awaitable[tuple[T, datetime]]],
                          at: datetime) -> T:
        """The value of ``key`` judged at ``at`` ("now"), which depends on the facts of
        ``units``: ``compute`` returns it with the moment until which it holds, and it is
        served to the reads at a moment of ``[at, until)`` while the facts are unchanged."""
        if not self._keeping():
            return (await compute())[0]
        entry = self._lookup(key, at)
        if entry is not None:
            return entry.value
        version, now = self._version, self._monotonic()
        value, until = await compute()
        if at < until:
            self._store(key, version, _Entry(_units(units), value, now, (at, until)))
        return value

    def _keeping(self) -> bool:
        return self.listening and self.max_entries > 0

    def _lookup(self, key: Hashable, at: datetime | None) -> _Entry[T] | None:
        """The entry that answers a read of ``key`` (judged at ``at`` for one of "now"), or
        None, counted as a miss."""
        entry = self._entries.get(key)
        if entry is not None and self._monotonic() - entry.stored_at <= self.max_age_s and (
                entry.moments is None if at is None else
                entry.moments is not None and entry.moments[0] <= at < entry.moments[1]):
            self._entries.move_to_end(key)
            self.hits += 1
            return entry
        self.misses += 1
        return None

    def _store(self, key: Hashable, version: int, entry: _Entry[T]) -> None:
        """Keep ``entry``, unless the facts changed (or the listener went) since ``version``
        was read, before its value was computed."""
        if not (self.listening and version == self._version):
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def _drop_all(self) -> None:
        self._version += 1
        self._entries.clear()


def _units(units: Iterable[str] | None) -> frozenset[str] | None:
    return None if units is None else frozenset(units)
