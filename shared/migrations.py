"""A migrations runner: plain SQL files per service schema, applied in name order at
start-up inside one transaction each, recorded in ``<schema>.schema_migrations`` with a
checksum. A transaction-level advisory lock per schema makes two replicas starting at once
safe: the second waits, then finds everything applied.

The shared files (outbox, inbox) in ``shared/sql`` are applied to every schema first.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.db import check_schema_name, schema_lock_key

SHARED_SQL = Path(__file__).parent / "sql"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def load_migrations(*directories: Path, prefixes: tuple[str, ...] | None = None) -> list[Migration]:
    """Files ``NNNN_name.sql`` of each directory; versions are prefixed to stay unique."""
    found: list[Migration] = []
    for i, directory in enumerate(directories):
        prefix = prefixes[i] if prefixes else directory.parent.name
        for path in sorted(directory.glob("*.sql")):
            found.append(Migration(f"{prefix}:{path.stem}", path.read_text(encoding="utf-8")))
    return found


async def migrate(conn: asyncpg.Connection, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply what is missing; returns the versions applied now."""
    check_schema_name(schema)
    applied_now: list[str] = []
    async with conn.transaction():
        # A migration may rewrite a large table and wait for another replica's: no limits.
        await conn.execute("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0; "
                           "SET LOCAL idle_in_transaction_session_timeout = 0")
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", schema_lock_key(schema))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                  version text PRIMARY KEY,
                  checksum text NOT NULL,
                  applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch(f"SELECT version, checksum FROM {schema}.schema_migrations")
        done = {r["version"]: r["checksum"] for r in rows}
        await conn.execute(f"SET LOCAL search_path TO {schema}, public")
        for m in migrations:
            if m.version in done:
                if done[m.version] != m.checksum:
                    raise MigrationError(f"{schema}: migration {m.version} changed after it was applied")
                continue
            log.info("applying migration", extra={"schema": schema, "version": m.version})
            await conn.execute(m.sql)
            await conn.execute(
                f"INSERT INTO {schema}.schema_migrations (version, checksum) VALUES ($1, $2)",
                m.version, m.checksum,
            )
            applied_now.append(m.version)
    return applied_now


async def migrate_service(pool: asyncpg.Pool, schema: str, service_sql: Path | None) -> list[str]:
    dirs = [SHARED_SQL] + ([service_sql] if service_sql and service_sql.is_dir() else [])  # noqa: ASYNC240
    migrations = load_migrations(*dirs, prefixes=tuple(["shared"] + ([schema] if len(dirs) > 1 else [])))
    async with pool.acquire() as conn:
        return await migrate(conn, schema, migrations)
