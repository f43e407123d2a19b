"""PostgreSQL adapters of the feedback service: the dossiers it has heard of, ratings,
complaints, and wrong-PIN attempts."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

import asyncpg

from services.feedback.domain.complaint import Complaint
from services.feedback.domain.rating import RatedDossier
from shared.rows import Db, Table


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
        return (await self.get_many([code], lock=lock)).get(code)

    async def get_many(self, codes: Collection[str], *,
                       lock: bool = False) -> dict[str, RatedDossier]:
        """Those of ``codes`` known here, by code (locked in code order with ``lock``)."""
        rows = await self.db.fetch(
            """SELECT d.code, d.unit_code, d.finished, d.finished_at,
                      EXISTS (SELECT 1 FROM ratings r WHERE r.dossier_code = d.code) AS rated
               FROM dossiers d WHERE d.code = ANY($1::text[]) ORDER BY d.code"""
            + (" FOR UPDATE OF d" if lock else ""), list(codes))
        return {r["code"]: RatedDossier(**dict(r)) for r in rows}

    async def save(self, *dossiers: RatedDossier) -> None:
        """Each of ``dossiers`` (distinct codes) as it is now, in one statement, in code
        order (writers of the same new codes take them in one order)."""
        dossiers = tuple(sorted(dossiers, key=lambda d: d.code))
        await self.db.execute(
            """INSERT INTO dossiers (code, unit_code, finished, finished_at)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
               ON CONFLICT (code) DO UPDATE SET unit_code = EXCLUDED.unit_code,
                 finished = EXCLUDED.finished, finished_at = EXCLUDED.finished_at""",
            [d.code for d in dossiers], [d.unit_code for d in dossiers],
            [d.finished for d in dossiers], [d.finished_at for d in dossiers])


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


COMPLAINTS = Table("complaints", Complaint, "code", skip=("events",))
# What anyone may read of a published answer: no complainant, texts as masked when stored.
PUBLIC_COLUMNS = ("code, unit_code, category, dossier_code IS NOT NULL AS about_a_dossier, "
                  "subject, body, received_at, answered_at, answer_text, published_at")


class ComplaintRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def next_code(self, day: date) -> str:
        n = await self.db.fetchval(
            """INSERT INTO complaint_counters (day, n) VALUES ($1, 1)
               ON CONFLICT (day) DO UPDATE SET n = complaint_counters.n + 1 RETURNING n""", day)
        return f"PAKN-{day:%y%m%d}-{n:04d}"

    async def get(self, code: str, *, lock: bool = False) -> Complaint | None:
        return await COMPLAINTS.get(self.db, code, lock=lock)

    async def add(self, c: Complaint) -> None:
        await self.db.execute(COMPLAINTS.insert(on_conflict=""), *COMPLAINTS.insert_values(c))

    async def save(self, c: Complaint) -> None:
        await self.db.execute(COMPLAINTS.update(), *COMPLAINTS.update_values(c))

    async def first_about(self, dossier_code: str, category: str) -> str | None:
        """The first complaint about this dossier in this category (not itself a repeat)."""
        code: str | None = await self.db.fetchval(
            """SELECT code FROM complaints WHERE dossier_code = $1 AND category = $2
                 AND repeat_of IS NULL ORDER BY received_at, code LIMIT 1""",
            dossier_code, category)
        return code

    async def of_units(self, units: list[str] | None, state: str | None,
                       limit: int) -> list[Complaint]:
        rows = await self.db.fetch(COMPLAINTS.select(
            "($1::text[] IS NULL OR unit_code = ANY($1::text[])) "
            "AND ($2::text IS NULL OR state = $2)",
            tail="ORDER BY received_at DESC, code DESC LIMIT $3"), units, state, limit)
        return [COMPLAINTS.from_row(r) for r in rows]

    async def published(self, unit_code: str | None, limit: int,
                        code: str | None = None) -> list[asyncpg.Record]:
        return list(await self.db.fetch(
            f"""SELECT {PUBLIC_COLUMNS} FROM complaints WHERE published_at IS NOT NULL
                  AND ($1::text IS NULL OR unit_code = $1) AND ($3::text IS NULL OR code = $3)
                ORDER BY published_at DESC, code DESC LIMIT $2""", unit_code, limit, code))

    async def awaiting_overdue(self, now: datetime, limit: int) -> list[Complaint]:
        """Open complaints whose awaited step fell due and was not announced, locked (another
        scan skips them)."""
        rows = await self.db.fetch(COMPLAINTS.select(
            """(state = 'received' AND answer_by < $1 AND NOT 'answer' = ANY(overdue_flagged))
               OR (state = 'answered' AND publish_by < $1
                   AND NOT 'publish' = ANY(overdue_flagged))""",
            tail="ORDER BY code LIMIT $2 FOR UPDATE SKIP LOCKED"), now, limit)
        return [COMPLAINTS.from_row(r) for r in rows]
