"""PostgreSQL connection pools, one schema per service (SPEC §2: no service reads another's tables)."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import orjson

# Errors after which the same work is simply retried later (the database or broker is away,
# or a transaction lost a race): a consumer seeks its batch back, an API answers 503.
# Anything else is the message's or the request's own fault.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.QueryCanceledError,
    # A pooled connection whose server died mid-operation: "cannot switch to state ...;
    # another operation is in progress". The next connection is a fresh one.
    asyncpg.InternalClientError,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


async def create_pool(dsn: str, schema: str, *, min_size: int = 2, max_size: int = 10,
                      **kwargs: Any) -> asyncpg.Pool:
    """A pool whose connections see the service's schema first on the search path."""
    check_schema_name(schema)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": f"{schema},public", "application_name": schema,
                         "timezone": "UTC"},
        **kwargs,
    )
    assert pool is not None
    return pool


async def ping(pool: asyncpg.Pool) -> bool:
    try:
        async with pool.acquire(timeout=2) as conn:
            return bool(await conn.fetchval("SELECT 1", timeout=2))
    except Exception:
        return False
