"""PostgreSQL adapters of the feedback service: the dossiers it has heard of, ratings, and
wrong-PIN attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.feedback.domain.rating import RatedDossier
from shared.rows import Db


class GuessLog:
    """Wrong PINs, per dossier and per source."""

    def __init__(self, db: Db) -> None:
        self.db = db

    async def take_turn(self, code: str) -> None:
        """Until the caller's transaction ends, other attempts on this dossier wait (bounded
        by the connection's lock_timeout)."""
        await self.db.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                              f"feedback-pin:{code}")

    async def recent_failures(self, code: str, source: str,
                              since: datetime) -> tuple[list[datetime], list[datetime]]:
        """Times of the wrong PINs since ``since``: for this dossier, and from this source."""
        rows = await self.db.fetch(
            """SELECT at, dossier_code = $1 AS same_dossier, client = $2 AS same_client
               FROM pin_failures WHERE at > $3 AND (dossier_code = $1 OR client = $2)
               ORDER BY at""", code, source, since)
        return ([r["at"] for r in rows if r["same_dossier"]],
                [r["at"] for r in rows if r["same_client"]])

    async def record_failure(self, code: str, source: str, at: datetime) -> None:
        await self.db.execute(
            "INSERT INTO pin_failures (dossier_code, client, at) VALUES ($1, $2, $3)",
            code, source, at)


class RatedDossiers:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def get(self, code: str, *, lock: bool = False) -> RatedDossier | None:
        """The dossier, with whether it is rated; ``lock`` holds it until the transaction
        ends (one rating at a time)."""
        row = await self.db.fetchrow(
            """SELECT d.code, d.unit_code, d.finished, d.finished_at,
                      EXISTS (SELECT 1 FROM ratings r WHERE r.dossier_code = d.code) AS rated
               FROM dossiers d WHERE d.code = $1""" + (" FOR UPDATE OF d" if lock else ""),
            code)
        return RatedDossier(**dict(row)) if row else None

    async def save(self, d: RatedDossier) -> None:
        await self.db.execute(
            """INSERT INTO dossiers (code, unit_code, finished, finished_at)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (code) DO UPDATE SET unit_code = EXCLUDED.unit_code,
                 finished = EXCLUDED.finished, finished_at = EXCLUDED.finished_at""",
            d.code, d.unit_code, d.finished, d.finished_at)


class Ratings:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def add(self, code: str, unit_code: str, rating: str, criteria: dict[str, Any] | None,
                  comment: str | None, at: datetime) -> None:
        await self.db.execute(
            """INSERT INTO ratings (dossier_code, unit_code, rating, criteria, comment, at)
               VALUES ($1, $2, $3, $4, $5, $6)""", code, unit_code, rating, criteria, comment, at)

    async def of(self, code: str) -> asyncpg.Record | None:
        return await self.db.fetchrow(
            "SELECT dossier_code, unit_code, rating, criteria, comment, at FROM ratings "
            "WHERE dossier_code = $1", code)
