"""Figures judged at a moment already past, kept until a change to one of their units.

A period's figures are a function of the facts and of ``as_of`` alone. Once ``as_of`` is
past, they change only when the facts do, and every change of the facts is announced: the
consumer's transaction NOTIFYs the units it changed, a rebuild and the start-up tally NOTIFY
"everything" (``store.notify_changed``). So a result can be served again until a
notification names one of its units. Figures judged at "now" are never kept: their
``as_of`` moves with every request.

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
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry(Generic[T]):
    units: frozenset[str] | None  # None: it depends on every unit
    value: T
    stored_at: float


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
        if not (keep and self.listening and self.max_entries > 0):
            return await compute()
        entry = self._entries.get(key)
        now = self._monotonic()
        if entry is not None and now - entry.stored_at <= self.max_age_s:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry.value
        self.misses += 1
        version = self._version
        value = await compute()
        if self.listening and version == self._version:
            self._entries[key] = _Entry(None if units is None else frozenset(units), value,
                                        now)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def _drop_all(self) -> None:
        self._version += 1
        self._entries.clear()
