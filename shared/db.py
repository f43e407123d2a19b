"""PostgreSQL connection pools, one schema per service: no service reads another's tables
(docs/architecture.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

# Errors that say the code and the schema disagree (a migration not yet run, a table dropped
# or renamed by hand, the wrong schema), which a typo in a statement also raises: retried
# like an outage (decision 0026), and logged with their traceback.
SCHEMA_MISMATCH: tuple[type[BaseException], ...] = (
    asyncpg.InvalidSchemaNameError,
    asyncpg.UndefinedTableError,
    asyncpg.UndefinedColumnError,
    asyncpg.UndefinedFunctionError,
)

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
    asyncpg.QueryCanceledError,  # statement_timeout
    asyncpg.LockNotAvailableError,  # lock_timeout
    asyncpg.IdleInTransactionSessionTimeoutError,
    # A pooled connection whose server died mid-operation: "cannot switch to state ...;
    # another operation is in progress". The next connection is a fresh one.
    asyncpg.InternalClientError,
    # The database cannot do anyone's work for now: a standby during a failover, a full
    # disk, no memory (docs/decisions/0026).
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.InsufficientResourcesError,
    # The schema is not what the code expects: every message fails alike until it is put
    # right, so none of them is poison.
    *SCHEMA_MISMATCH,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


async def after_transient(pool: asyncpg.Pool, exc: BaseException) -> None:
    """What a transient error asks of the pool: after a read-only answer, its connections
    reached a standby (a failover moved the primary), so each is closed when next released
    and the next ones are opened afresh, to wherever the address points now."""
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        await pool.expire_connections()


_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "json", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
        schema="pg_catalog")
    # jsonb in its binary form (a version byte, then the text): no text round trip, and
    # COPY can carry it.
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: b"\x01" + orjson.dumps(v),
        decoder=lambda b: orjson.loads(b[1:]), schema="pg_catalog", format="binary")


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A connection given back to its pool without asyncpg's reset round trip (``RESET ALL;
    UNLISTEN *; CLOSE ALL; pg_advisory_unlock_all()``) unless it took session state: a
    listener, or a session lock (:func:`keeps_session_state`). The services set nothing
    else per session (their settings are the pool's connection parameters, ``SET LOCAL``
    ends with its transaction), and an open transaction is still rolled back."""

    _session_state = False

    async def add_listener(self, channel: str, callback: Any) -> None:
        self._session_state = True
        await super().add_listener(channel, callback)


def keeps_session_state(conn: asyncpg.Connection) -> None:
    """Mark ``conn`` (or a pool's proxy of it) to be fully reset when it is released."""
    raw = getattr(conn, "_con", conn)  # asyncpg's pool proxy holds the connection there
    raw._session_state = True


async def _reset_if_needed(conn: asyncpg.Connection) -> None:
    if getattr(conn, "_session_state", True):
        await conn.execute(conn.get_reset_query())
        conn._session_state = False


class BoundedPool(asyncpg.Pool):  # type: ignore[misc]
    """A pool whose every acquisition has a time limit (``acquire_timeout_s`` unless the
    caller gives one): a request that cannot get a connection fails (a 503) instead of
    waiting for ever."""

    acquire_timeout_s: float = 10.0

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout_s if timeout is None else timeout)


@dataclass(frozen=True)
class Timeouts:
    """Time limits of every pooled connection (0 disables one): acquiring it from the pool,
    one statement, waiting for a row or table lock, and idling inside a transaction."""

    acquire_s: float = 10.0
    statement_ms: int = 30_000
    lock_ms: int = 5_000
    idle_in_transaction_ms: int = 60_000


def schema_lock_key(schema: str) -> str:
    """The advisory lock taken by whoever creates or migrates ``schema``."""
    return f"migrations:{schema}"


async def create_schema(conn: asyncpg.Connection, schema: str) -> None:
    """``CREATE SCHEMA IF NOT EXISTS`` under the schema's advisory lock: on its own it is not
    safe against itself, and two processes of one service starting on a fresh database
    (uvicorn's workers) would see one of them fail on the catalogue's unique index. A
    process starting while another migrates the schema waits for the migration, as its own
    migrations would."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                           schema_lock_key(schema))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


async def create_pool(dsn: str, schema: str, *, min_size: int = 2, max_size: int = 10,
                      timeouts: Timeouts = Timeouts(), **kwargs: Any) -> asyncpg.Pool:
    """A pool whose connections see the service's schema first on the search path, with the
    time limits of ``timeouts``."""
    check_schema_name(schema)
    conn = await asyncpg.connect(dsn)
    try:
        await create_schema(conn, schema)
    finally:
        await conn.close()
    pool = BoundedPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        connection_class=PooledConnection,
        record_class=asyncpg.Record,
        loop=None,
        init=_init_connection,
        reset=_reset_if_needed,
        server_settings={"search_path": f"{schema},public", "application_name": schema,
                         "timezone": "UTC",
                         "statement_timeout": str(timeouts.statement_ms),
                         "lock_timeout": str(timeouts.lock_ms),
                         "idle_in_transaction_session_timeout":
                             str(timeouts.idle_in_transaction_ms)},
        **kwargs,
    )
    pool.acquire_timeout_s = timeouts.acquire_s or None  # type: ignore[assignment]
    await pool
    return pool


async def ping(pool: asyncpg.Pool) -> bool:
    """Whether the database answers and takes writes (a standby answers, read-only)."""
    try:
        async with pool.acquire(timeout=2) as conn:
            writable = bool(await conn.fetchval("SELECT NOT pg_is_in_recovery()", timeout=2))
    except Exception:
        return False
    if not writable:
        await pool.expire_connections()
    return writable
