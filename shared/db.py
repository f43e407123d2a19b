"""PostgreSQL connection pools, one schema per service (SPEC §2: no service reads another's tables)."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import orjson

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
    async with _connect(dsn) as conn:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
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


class _connect:
    """``async with _connect(dsn) as conn`` for a one-off connection."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self.conn = await asyncpg.connect(self.dsn)
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        if self.conn is not None:
            await self.conn.close()


async def ping(pool: asyncpg.Pool) -> bool:
    try:
        async with pool.acquire(timeout=2) as conn:
            return bool(await conn.fetchval("SELECT 1", timeout=2))
    except Exception:
        return False
