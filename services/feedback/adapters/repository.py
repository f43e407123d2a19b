"""Feedback's tables: the dossiers it has heard of, ratings, and wrong-PIN attempts. Every
function takes the caller's connection, so that a request uses one connection only (a
second one taken from the pool while a row lock is held can wait for ever)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


async def take_turn(conn: asyncpg.Connection, code: str) -> None:
    """Until the caller's transaction ends, other attempts on this dossier wait (bounded by
    the connection's lock_timeout)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"feedback-pin:{code}")


async def recent_failures(conn: asyncpg.Connection, code: str, client: str,
                          since: datetime) -> tuple[list[datetime], list[datetime]]:
    """Times of the wrong PINs since ``since``: for this dossier, and from this source."""
    rows = await conn.fetch(
        """SELECT at, dossier_code = $1 AS same_dossier, client = $2 AS same_client
           FROM pin_failures WHERE at > $3 AND (dossier_code = $1 OR client = $2)
           ORDER BY at""", code, client, since)
    return ([r["at"] for r in rows if r["same_dossier"]],
            [r["at"] for r in rows if r["same_client"]])


async def record_failure(conn: asyncpg.Connection, code: str, client: str,
                         at: datetime) -> None:
    await conn.execute("INSERT INTO pin_failures (dossier_code, client, at) VALUES ($1, $2, $3)",
                       code, client, at)


async def dossier_for_rating(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    """The dossier row, locked until the transaction ends, with whether it is rated."""
    return await conn.fetchrow(
        """SELECT d.code, d.unit_code, d.finished,
                  EXISTS (SELECT 1 FROM ratings r WHERE r.dossier_code = d.code) AS rated
           FROM dossiers d WHERE d.code = $1 FOR UPDATE OF d""", code)


async def insert_rating(conn: asyncpg.Connection, code: str, unit_code: str, rating: str,
                        criteria: dict[str, Any] | None, comment: str | None,
                        at: datetime) -> None:
    await conn.execute(
        """INSERT INTO ratings (dossier_code, unit_code, rating, criteria, comment, at)
           VALUES ($1, $2, $3, $4, $5, $6)""", code, unit_code, rating, criteria, comment, at)


async def rating_of(conn: asyncpg.Connection | asyncpg.Pool, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT dossier_code, unit_code, rating, criteria, comment, at FROM ratings "
        "WHERE dossier_code = $1", code)
