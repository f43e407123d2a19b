"""PostgreSQL adapter of the national portal connector: the dossiers, their versions and
how far their sync has got."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.national_portal.domain.dossier import SyncDossier
from shared.rows import Db

# Known, with a change not synced, and not refused as it stands.
PENDING = ("unit_code <> '' AND (version > synced_version OR steps > synced_steps) "
           "AND refused_version IS DISTINCT FROM version")


@dataclass(frozen=True)
class Pending:
    dossier: SyncDossier
    synced_steps: int
    attempts: int


@dataclass(frozen=True)
class SyncState:
    code: str
    unit_code: str
    version: int
    synced_version: int
    steps: int
    synced_steps: int
    pending_since: datetime | None
    attempts: int
    next_attempt_at: datetime
    refused_version: int | None
    refused_code: str | None
    refused_text: str | None
    refused_at: datetime | None
    first_synced_at: datetime | None
    last_synced_at: datetime | None


@dataclass(frozen=True)
class UnitCounts:
    unit_code: str
    received: int
    synced: int
    pending: int
    refused: int
    oldest_pending: datetime | None


_STATE = """code, unit_code, version, synced_version, steps, synced_steps, pending_since,
    attempts, next_attempt_at, refused_version, refused_code, refused_text, refused_at,
    first_synced_at, last_synced_at"""


class SyncRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def get(self, code: str, *, lock: bool = False) -> SyncDossier | None:
        return (await self.get_many([code], lock=lock)).get(code)

    async def get_many(self, codes: Collection[str], *,
                       lock: bool = False) -> dict[str, SyncDossier]:
        """Those of ``codes`` known here, by code (locked in code order with ``lock``)."""
        rows = await self.db.fetch("SELECT code, view FROM dossiers WHERE code = ANY($1::text[])"
                                   " ORDER BY code" + (" FOR UPDATE" if lock else ""),
                                   list(codes))
        return {r["code"]: SyncDossier.from_json(dict(r["view"])) for r in rows}

    async def save(self, d: SyncDossier, now: datetime) -> None:
        await self.save_many([d], now)

    async def save_many(self, dossiers: Sequence[SyncDossier], now: datetime) -> None:
        """The dossiers' new versions (distinct codes), in one statement, in code order
        (writers of the same new codes take them in one order); each is pending from now
        unless it was already."""
        dossiers = sorted(dossiers, key=lambda d: d.code)
        await self.db.execute(
            """INSERT INTO dossiers (code, unit_code, received_at, view, version, steps,
                                     pending_since, next_attempt_at)
               SELECT n.*, $7::timestamptz, $7::timestamptz
               FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[],
                           $5::integer[], $6::integer[]) AS n
               ON CONFLICT (code) DO UPDATE SET unit_code = EXCLUDED.unit_code,
                 received_at = EXCLUDED.received_at, view = EXCLUDED.view,
                 version = EXCLUDED.version, steps = EXCLUDED.steps,
                 pending_since = coalesce(dossiers.pending_since, EXCLUDED.pending_since),
                 attempts = 0, next_attempt_at = LEAST(dossiers.next_attempt_at, $7)""",
            [d.code for d in dossiers], [d.unit_code for d in dossiers],
            [datetime.fromisoformat(d.received_at) if d.received_at else None
             for d in dossiers],
            [d.to_json() for d in dossiers], [d.version for d in dossiers],
            [len(d.steps) for d in dossiers], now)

    async def pending(self, now: datetime, limit: int) -> list[Pending]:
        rows = await self.db.fetch(
            f"""SELECT view, synced_steps, attempts FROM dossiers
                WHERE {PENDING} AND next_attempt_at <= $1
                ORDER BY next_attempt_at, code LIMIT $2""", now, limit)
        return [Pending(SyncDossier.from_json(dict(r["view"])), r["synced_steps"],
                        r["attempts"]) for r in rows]

    async def synced(self, code: str, version: int, steps: int, at: datetime) -> bool:
        """The portal has the dossier at ``version`` with its first ``steps`` steps; never
        moves backwards. Whether it is now fully synced (no newer change waiting)."""
        row = await self.db.fetchrow(
            """UPDATE dossiers SET synced_version = GREATEST(synced_version, $2),
                 synced_steps = GREATEST(synced_steps, $3), attempts = 0,
                 first_synced_at = coalesce(first_synced_at, $4), last_synced_at = $4,
                 refused_version = CASE WHEN refused_version <= $2 THEN NULL
                                        ELSE refused_version END,
                 refused_code = CASE WHEN refused_version <= $2 THEN NULL ELSE refused_code END,
                 refused_text = CASE WHEN refused_version <= $2 THEN NULL ELSE refused_text END,
                 refused_at = CASE WHEN refused_version <= $2 THEN NULL ELSE refused_at END,
                 pending_since = CASE WHEN version <= $2 AND steps <= $3 THEN NULL
                                      ELSE pending_since END
               WHERE code = $1 RETURNING pending_since IS NULL AS done""",
            code, version, steps, at)
        return bool(row and row["done"])

    async def refused(self, code: str, version: int, error_code: str, text: str,
                      at: datetime) -> None:
        await self.db.execute(
            """UPDATE dossiers SET refused_version = $2, refused_code = $3, refused_text = $4,
                 refused_at = $5, attempts = 0 WHERE code = $1 AND synced_version < $2""",
            code, version, error_code, text, at)

    async def failed(self, codes: list[str], next_attempts: list[datetime]) -> None:
        """When to try again; a row a consumer holds is skipped (its change resets it)."""
        await self.db.execute(
            """UPDATE dossiers d SET attempts = d.attempts + 1, next_attempt_at = n.at
               FROM unnest($1::text[], $2::timestamptz[]) AS n(code, at)
               WHERE d.code = n.code AND d.code IN (
                 SELECT code FROM dossiers WHERE code = ANY($1::text[])
                 ORDER BY code FOR UPDATE SKIP LOCKED)""", codes, next_attempts)

    async def resend(self, code: str | None, unit_code: str | None, now: datetime) -> int:
        """Clear the refusals of one dossier, or every refused dossier of a unit."""
        result = await self.db.execute(
            """UPDATE dossiers SET refused_version = NULL, refused_code = NULL,
                 refused_text = NULL, refused_at = NULL, attempts = 0, next_attempt_at = $3
               WHERE refused_version IS NOT NULL
                 AND ($1::text IS NULL OR code = $1) AND ($2::text IS NULL OR unit_code = $2)""",
            code, unit_code, now)
        return int(result.split()[-1])

    async def state(self, code: str) -> SyncState | None:
        row = await self.db.fetchrow(f"SELECT {_STATE} FROM dossiers WHERE code = $1", code)
        return SyncState(**dict(row)) if row else None

    async def refusals(self, unit_code: str | None, limit: int) -> list[SyncState]:
        rows = await self.db.fetch(
            f"""SELECT {_STATE} FROM dossiers WHERE refused_version IS NOT NULL
                AND ($1::text IS NULL OR unit_code = $1) ORDER BY refused_at, code LIMIT $2""",
            unit_code, limit)
        return [SyncState(**dict(r)) for r in rows]

    async def reconciliation(self, units: list[str] | None, start: datetime,
                             end: datetime) -> list[UnitCounts]:
        rows = await self.db.fetch(
            f"""SELECT unit_code, count(*) AS received,
                  count(*) FILTER (WHERE first_synced_at IS NOT NULL) AS synced,
                  count(*) FILTER (WHERE {PENDING}) AS pending,
                  count(*) FILTER (WHERE refused_version IS NOT NULL) AS refused,
                  min(pending_since) FILTER (WHERE {PENDING}) AS oldest_pending
                FROM dossiers WHERE received_at >= $1 AND received_at < $2
                  AND ($3::text[] IS NULL OR unit_code = ANY($3::text[]))
                GROUP BY unit_code ORDER BY unit_code""", start, end, units)
        return [UnitCounts(**dict(r)) for r in rows]

    async def backlog(self) -> dict[str, Any]:
        row = await self.db.fetchrow(
            f"""SELECT count(*) FILTER (WHERE {PENDING}) AS pending,
                  min(pending_since) FILTER (WHERE {PENDING}) AS oldest_pending,
                  count(*) FILTER (WHERE refused_version IS NOT NULL) AS refused
                FROM dossiers""")
        return dict(row) if row else {"pending": 0, "oldest_pending": None, "refused": 0}
