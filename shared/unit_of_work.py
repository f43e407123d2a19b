"""The unit of work: one use case, one transaction on one connection, and the events the
aggregates raised in it, written to the outbox when it commits.

A handler enters a unit of work, uses the repositories it opens, publishes the events its
aggregates returned and commits. Leaving without a commit rolls the transaction back, so an
error anywhere changes nothing and sends nothing.

A consumer's handler runs inside the transaction the consumer loop opened for the event (it
also holds the inbox row that makes redelivery harmless): :meth:`PostgresUnitOfWork.joining`
takes that connection, and there ``commit`` writes the outbox rows and leaves the commit to
the loop. Services subclass :class:`PostgresUnitOfWork` to open their repositories in
:meth:`open_repositories`; tests use in-memory units of work with the same interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from shared.events import Envelope, EventData
from shared.outbox import OutboxWriter


class UnitOfWork(Protocol):
    """The port every service's unit of work extends with its repositories."""

    def publish(self, *events: EventData | Sequence[EventData]) -> list[Envelope[Any]]: ...
    def outbox_part(self, first: int) -> OutboxPart | None: ...
    async def commit(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None: ...


# The outbox INSERT of a unit of work's pending events and its parameters' values, for a
# repository to make a part of its own statement (``outbox_part``).
OutboxPart = tuple[str, list[Any]]


class UnitOfWorkError(RuntimeError):
    """A unit of work used out of order (events left unsent, a commit outside one)."""


class EventCollector:
    """The events a use case raised, in order, until its unit of work commits them."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pending: list[Envelope[Any]] = []

    def publish(self, *events: EventData | Sequence[EventData]) -> list[Envelope[Any]]:
        """Queue events for the outbox; each argument is one event or a list of them. The
        envelopes made (their ids name the events in this service's own records)."""
        made = [Envelope(source=self.source, data=event) for item in events
                for event in (item if isinstance(item, Sequence) else (item,))]
        self.pending += made
        return made


class PostgresUnitOfWork(EventCollector):
    def __init__(self, pool: asyncpg.Pool | None, outbox: OutboxWriter, *,
                 conn: asyncpg.Connection | None = None) -> None:
        super().__init__(outbox.source)
        if (pool is None) == (conn is None):
            raise ValueError("a unit of work takes a pool or joins a connection, not both")
        self._pool = pool
        self._outbox = outbox
        self._given = conn
        self._conn: asyncpg.Connection | PoolConnectionProxy[Any] | None = None
        self._tx: Transaction | None = None
        self.committed: list[Envelope[Any]] = []
        self._in_statement: list[Envelope[Any]] = []  # written by a repository's statement

    @classmethod
    def joining(cls, conn: asyncpg.Connection, outbox: OutboxWriter) -> Self:
        """A unit of work inside the caller's open transaction (a consumer's)."""
        return cls(None, outbox, conn=conn)

    @property
    def conn(self) -> asyncpg.Connection:
        if self._conn is None:
            raise UnitOfWorkError("the unit of work is not entered")
        return self._conn

    def open_repositories(self, conn: asyncpg.Connection) -> None:
        """Subclasses open their repositories on ``conn`` here."""

    async def __aenter__(self) -> Self:
        if self._given is not None:
            if not self._given.is_in_transaction():
                raise UnitOfWorkError("a joined unit of work needs an open transaction")
            self._conn = self._given
        else:
            assert self._pool is not None
            self._conn = await self._pool.acquire()
            try:
                self._tx = self._conn.transaction()
                await self._tx.start()
            except BaseException:
                await self._pool.release(self._conn)
                self._conn = None
                raise
        self.open_repositories(self.conn)
        return self

    def outbox_part(self, first: int) -> OutboxPart | None:
        """The pending events' outbox INSERT, its parameters from ``$first`` on, for a
        repository to make a part of its own statement (one round trip fewer); those events
        are then not written again by ``commit``. None when nothing is pending."""
        events, self.pending = self.pending, []
        if not events:
            return None
        self._in_statement += events
        return self._outbox.insert(events, first)

    async def commit(self) -> None:
        """Write the pending events to the outbox, then commit (unless joined)."""
        events, self.pending = self.pending, []
        await self._outbox.write(self.conn, events)
        events, self._in_statement = self._in_statement + events, []
        self.committed += events
        if self._tx is not None:
            await self._tx.commit()
            self._tx = None

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        try:
            if self._tx is not None:
                await self._tx.rollback()
                self._tx = None
            elif kind is None and (self.pending or self._in_statement):
                raise UnitOfWorkError("events were published but never committed")
        finally:
            self._in_statement = []
            if self._given is None and self._conn is not None and self._pool is not None:
                await self._pool.release(self._conn)
            self._conn = None
