"""Work that must run in exactly one replica at a time (the outbox relay, the deadline
watchdog). Every replica runs the loop; a PostgreSQL session advisory lock elects the one
that works. If the leader dies, its connection closes, the lock is released, and another
replica takes over within ``retry_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from shared.db import keeps_session_state

log = logging.getLogger(__name__)


class LeaderLoop:
    """Subclasses implement :meth:`step`; it returns True when more work is waiting."""

    lock_key: str = "leader"

    def __init__(self, pool: asyncpg.Pool, *, interval_s: float, retry_s: float = 2.0) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self.retry_s = retry_s
        self.is_leader = False
        self._wake = asyncio.Event()
        self._stopping = False

    async def step(self) -> bool:
        raise NotImplementedError

    async def on_elected(self, conn: asyncpg.Connection) -> None:
        """Called once per term with the connection holding the lock."""

    async def on_term_end(self, conn: asyncpg.Connection) -> None:
        """Called when the term ends (stop or failure)."""

    async def on_stop(self) -> None:
        """Called by the leader before it gives up the lock on a clean stop."""

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._term()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; retrying", type(self).__name__)
                self.is_leader = False
                await self._sleep(1.0)

    async def _term(self) -> None:
        conn: asyncpg.Connection = await self.pool.acquire()
        try:
            while not self._stopping:
                keeps_session_state(conn)  # a session lock: reset in full when released
                if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", self.lock_key):
                    break
                await self._sleep(self.retry_s)
            if self._stopping:
                return
            self.is_leader = True
            await self.on_elected(conn)
            loop = asyncio.get_running_loop()
            proven = loop.time()
            while not self._stopping:
                self._wake.clear()
                more = await self.step()
                if conn.is_closed():
                    raise ConnectionError("leadership connection lost")
                # A cheap query proves the lock's session is still alive: before every sleep,
                # and at least every interval while there is always more to do.
                if more and loop.time() - proven < self.interval_s:
                    continue
                await conn.fetchval("SELECT 1")
                proven = loop.time()
                if more:
                    continue
                await self._sleep(self.interval_s)
            await self.on_stop()
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await self.on_term_end(conn)
                await conn.execute("SELECT pg_advisory_unlock_all()")
            with contextlib.suppress(Exception):
                await self.pool.release(conn)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
