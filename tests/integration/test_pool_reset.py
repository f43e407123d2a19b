"""A pooled connection is given back without asyncpg's reset round trip, unless it took
session state (``shared.db.PooledConnection``): then its listeners and session locks go with
the reset, and an open transaction is always rolled back, so the next user of the same
connection finds none of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from shared.db import create_pool, keeps_session_state
from tests.conftest import Infra

pytestmark = pytest.mark.integration


@pytest.fixture
async def one_connection(infra: Infra, schema_factory: Callable[[str], str]
                         ) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(infra.database_url, schema_factory("pool"), min_size=1, max_size=1)
    yield pool
    await pool.close()


async def backend(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT pg_backend_pid()"))


async def test_a_listener_is_gone_when_its_connection_comes_back(
        one_connection: asyncpg.Pool) -> None:
    pool = one_connection
    pid = await backend(pool)
    with pytest.warns(asyncpg.InterfaceWarning, match="active notification listener"):
        async with pool.acquire() as conn:
            await conn.add_listener("motcua_test", lambda *_: None)
            assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_backend_pid()") == pid  # the same session
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0


async def test_a_session_lock_marked_as_kept_is_released_with_its_connection(
        one_connection: asyncpg.Pool, infra: Infra) -> None:
    pool = one_connection
    async with pool.acquire() as conn:
        keeps_session_state(conn)
        assert await conn.fetchval("SELECT pg_try_advisory_lock(hashtext('motcua-test'))")
    other = await asyncpg.connect(infra.database_url)
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock(hashtext('motcua-test'))")
    finally:
        await other.close()


async def test_an_open_transaction_is_rolled_back(one_connection: asyncpg.Pool) -> None:
    pool = one_connection
    await pool.execute("CREATE TABLE IF NOT EXISTS t (n int)")
    conn = await pool.acquire()
    await conn.execute("BEGIN; INSERT INTO t VALUES (1)")
    await pool.release(conn)
    async with pool.acquire() as again:
        assert not again.is_in_transaction()
        assert await again.fetchval("SELECT count(*) FROM t") == 0


def queries_sent(conn: asyncpg.Connection) -> int:
    return int(conn._con._protocol.queries_count)


async def test_a_plain_release_sends_nothing_and_a_listener_s_sends_the_reset(
        one_connection: asyncpg.Pool) -> None:
    pool = one_connection
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
        sent = queries_sent(conn)
    with pytest.warns(asyncpg.InterfaceWarning, match="active notification listener"):
        async with pool.acquire() as conn:
            assert queries_sent(conn) == sent
            await conn.add_listener("motcua_test", lambda *_: None)
            sent = queries_sent(conn)
    async with pool.acquire() as conn:
        assert queries_sent(conn) == sent + 1  # the reset, once
    async with pool.acquire() as conn:
        assert queries_sent(conn) == sent + 1


async def test_pools_of_one_schema_made_at_once_on_a_fresh_database_all_start(
        infra: Infra, schema_factory: Callable[[str], str]) -> None:
    # Two workers of one service start together: each makes its pool, which creates the
    # schema. Unguarded, CREATE SCHEMA IF NOT EXISTS fails in one of them on the catalogue.
    for _attempt in range(5):
        schema = schema_factory("race")
        pools = await asyncio.gather(*(create_pool(infra.database_url, schema, min_size=1,
                                                   max_size=1) for _ in range(6)),
                                     return_exceptions=True)
        failed = [p for p in pools if isinstance(p, BaseException)]
        for pool in pools:
            if isinstance(pool, asyncpg.Pool):
                await pool.close()
        assert not failed, failed
        conn = await asyncpg.connect(infra.database_url)
        try:
            assert await conn.fetchval(
                "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema) == 1
        finally:
            await conn.close()
