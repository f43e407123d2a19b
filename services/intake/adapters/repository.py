"""PostgreSQL adapters of the intake service (its own schema only): the catalog, portal
keys, dossiers, their timeline, supplements and the keys of applicants' requests."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson

from services.intake.adapters.notifications import (
    CONTACT,
    ContactRow,
    notified,
    notify_step,
    step_notification,
)
from services.intake.domain.dossier import Dossier
from shared.auth import hash_api_key
from shared.events import Envelope, EventData
from shared.notifications.store import QUEUED_COLUMNS
from shared.rows import Db, Table
from shared.rulebook import Rulebook
from shared.timebounds import in_legal_zone
from shared.unit_of_work import OutboxPart


async def load_catalog(conn: asyncpg.Connection, rulebook: Rulebook) -> bool:
    """Upsert the rulebook's units and procedures once per version; True if loaded now."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('intake-catalog'))")
        if await conn.fetchval("SELECT 1 FROM catalog_versions WHERE version = $1",
                               rulebook.version):
            return False
        # Parents first, so the foreign key holds whatever the file's order.
        pending = list(rulebook.units)
        done: set[str] = set(r["code"] for r in await conn.fetch("SELECT code FROM units"))
        while pending:
            ready = [u for u in pending if u.parent is None or u.parent in done]
            if not ready:
                raise ValueError("the rulebook's unit tree has a cycle")
            for u in ready:
                await conn.execute(
                    """INSERT INTO units (code, name, parent, block, cutoff, calendar_overrides)
                       VALUES ($1, $2, $3, $4, $5, $6)
                       ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
                         parent = EXCLUDED.parent, block = EXCLUDED.block,
                         cutoff = EXCLUDED.cutoff, calendar_overrides = EXCLUDED.calendar_overrides""",
                    u.code, u.name, u.parent, u.block, u.cutoff,
                    [o.model_dump(mode="json") for o in u.calendar_overrides],
                )
                done.add(u.code)
            pending = [u for u in pending if u not in ready]
        for p in rulebook.procedures:
            await conn.execute(
                """INSERT INTO procedures (code, name, field, processing_days, fee, postal_filing,
                                           postal_return, level)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                   ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, field = EXCLUDED.field,
                     processing_days = EXCLUDED.processing_days, fee = EXCLUDED.fee,
                     postal_filing = EXCLUDED.postal_filing, postal_return = EXCLUDED.postal_return,
                     level = EXCLUDED.level""",
                p.code, p.name, p.field, p.processing_days, p.fee, p.postal_filing,
                p.postal_return, p.level,
            )
            await conn.execute("DELETE FROM procedure_units WHERE procedure_code = $1", p.code)
            await conn.executemany(
                "INSERT INTO procedure_units (procedure_code, unit_code) VALUES ($1, $2)",
                [(p.code, u) for u in p.units],
            )
        await conn.execute("INSERT INTO catalog_versions (version) VALUES ($1)", rulebook.version)
        return True


# ------------------------------------------------------------------ portals
@dataclass(frozen=True)
class Portal:
    id: str
    role: str
    rate_per_s: float | None = None
    burst: int | None = None


async def add_portal_key(conn: asyncpg.Connection, portal_id: str, role: str, key: str,
                         name: str | None = None, *, bootstrap: bool = False) -> None:
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO portals (id, name, role) VALUES ($1, $2, $3)
               ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role""",
            portal_id, name or portal_id, role,
        )
        await conn.execute(
            """INSERT INTO portal_keys (key_hash, portal_id, bootstrap) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING""",
            hash_api_key(key), portal_id, bootstrap,
        )


async def sync_bootstrap_keys(conn: asyncpg.Connection,
                              keys: list[tuple[str, str, str]]) -> int:
    """Register the setting's ``(portal, role, key)`` entries and revoke every key an earlier
    start registered from it that it no longer lists; the number revoked. The setting is the
    truth for its keys: one it lists again is live again (a replica that started with an
    older setting during a rolling deploy may have revoked it)."""
    for portal_id, role, key in keys:
        await add_portal_key(conn, portal_id, role, key, bootstrap=True)
    listed = [hash_api_key(k) for _p, _r, k in keys]
    await conn.execute("""UPDATE portal_keys SET revoked_at = NULL
                          WHERE bootstrap AND revoked_at IS NOT NULL AND key_hash = ANY($1::text[])""",
                       listed)
    result = await conn.execute(
        """UPDATE portal_keys SET revoked_at = now()
           WHERE bootstrap AND revoked_at IS NULL AND NOT (key_hash = ANY($1::text[]))""",
        listed)
    return int(result.split()[-1])


async def revoke_portal_keys(conn: asyncpg.Connection, portal_id: str,
                             keep_key: str | None = None) -> int:
    result = await conn.execute(
        """UPDATE portal_keys SET revoked_at = now()
           WHERE portal_id = $1 AND revoked_at IS NULL AND key_hash <> $2""",
        portal_id, hash_api_key(keep_key) if keep_key else "",
    )
    return int(result.split()[-1])


async def has_live_key(conn: asyncpg.Connection, portal_id: str, key: str) -> bool:
    """Whether ``key`` is one of the portal's keys and not revoked."""
    return bool(await conn.fetchval(
        """SELECT 1 FROM portal_keys WHERE portal_id = $1 AND key_hash = $2
           AND revoked_at IS NULL""", portal_id, hash_api_key(key)))


class PortalKeys:
    """Who an API key belongs to, cached for ``ttl_s`` per process (the
    ``portal_key_cache_s`` setting): a revoked or rotated-out key stops working within
    that; 0 looks every key up."""

    MAX_CACHED = 10_000

    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self.pool = pool
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Portal | None]] = {}

    async def portal_for(self, key: str) -> Portal | None:
        digest = hash_api_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        row = await self.pool.fetchrow(
            """SELECT p.id, p.role, p.rate_per_s, p.burst
               FROM portal_keys k JOIN portals p ON p.id = k.portal_id
               WHERE k.key_hash = $1 AND k.revoked_at IS NULL""", digest)
        portal = Portal(row["id"], row["role"], row["rate_per_s"], row["burst"]) if row else None
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = (now, portal)
        return portal


# ------------------------------------------------------------------ dossiers
DOSSIERS = Table("dossiers", Dossier, "code")


@dataclass(frozen=True)
class FirstEntry:
    """A filing's timeline entry, written with its dossier (``DossierRepository.add``), and
    the contact the filing knows, to queue its notification with it."""

    env: Envelope[Any]
    at: datetime
    detail: dict[str, Any]
    contact: ContactRow
    # The unit of work's pending events, written by the same statement (``outbox_part``).
    events: Callable[[int], OutboxPart | None] = lambda _first: None


class DuplicateFiling(Exception):
    """Another filing with the same Idempotency-Key or external_ref committed first."""


class DossierRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def get(self, code: str, *, lock: bool = False) -> Dossier | None:
        return await DOSSIERS.get(self.db, code, lock=lock)

    async def add(self, d: Dossier, first: FirstEntry | None = None) -> None:
        """The dossier and (``first``) its first timeline entry, with what recording an
        entry writes (``TimelineRepository.record``), in one statement: the unit's code
        counter is held until the commit, and this is one round trip while it is.
        :raises DuplicateFiling: (the transaction is then aborted)."""
        try:
            if first is None:
                await self.db.execute(DOSSIERS.insert(on_conflict=""),
                                      *DOSSIERS.insert_values(d))
                return
            env = first.env
            entry = (env.id, env.data.dossier_code, first.at, env.type, env.source,
                     first.detail, in_legal_zone(first.at))
            told = step_notification(env, first.detail, first.contact)
            dossier = DOSSIERS.insert_values(d)
            outbox = first.events(len(entry) + len(told or ()) + len(dossier) + 1)
            await self.db.execute(file_and_record(told is not None,
                                                  outbox[0] if outbox else None),
                                  *entry, *(told or ()), *dossier, *(outbox[1] if outbox else ()))
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateFiling(d.code) from exc

    async def save(self, d: Dossier) -> None:
        await self.db.execute(DOSSIERS.update(), *DOSSIERS.update_values(d))

    async def find_filed(self, portal_id: str, idempotency_key: str | None,
                         external_ref: str | None) -> Dossier | None:
        """The portal's dossier filed under this Idempotency-Key, else this external_ref."""
        for column, value in (("idempotency_key", idempotency_key),
                              ("external_ref", external_ref)):
            if value:
                row = await self.db.fetchrow(
                    DOSSIERS.select(f"portal_id = $1 AND {column} = $2"), portal_id, value)
                if row:
                    return DOSSIERS.from_row(row)
        return None

    async def filed_at_unit(self, unit_code: str, start: datetime, end: datetime,
                            portal_id: str | None) -> list[Dossier]:
        """The dossiers filed at the unit's desk in [start, end), of one portal (None: every
        portal)."""
        rows = await self.db.fetch(DOSSIERS.select(
            "(receiving_unit = $1 OR (receiving_unit IS NULL AND unit_code = $1)) "
            "AND filed_at >= $2 AND filed_at < $3 "
            "AND ($4::text IS NULL OR portal_id = $4)", tail="ORDER BY filed_at, code"),
            unit_code, start, end, portal_id)
        return [DOSSIERS.from_row(r) for r in rows]

    async def applicants(self, codes: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
        """(code, filing portal, applicant as filed) of each dossier found."""
        rows = await self.db.fetch("SELECT code, portal_id, applicant FROM dossiers "
                                   "WHERE code = ANY($1::text[])", codes)
        return [(r["code"], r["portal_id"], dict(r["applicant"])) for r in rows]

    async def next_sequence(self, unit_code: str, day: date) -> int:
        """Row-locked counter in the caller's transaction: no gaps, no duplicates."""
        value: int = await self.db.fetchval(
            """INSERT INTO code_counters (unit_code, day, last) VALUES ($1, $2, 1)
               ON CONFLICT (unit_code, day) DO UPDATE SET last = code_counters.last + 1
               RETURNING last""", unit_code, day)
        return value

    async def changes(self, portal_id: str | None, after: tuple[int, int],
                      limit: int) -> list[asyncpg.Record]:
        """A portal's dossiers (every dossier for ``None``) changed after position ``after``
        (transaction id, number), in that order, made by transactions older than any still
        in flight: a change committed later has a larger transaction id, so it is never
        skipped."""
        return list(await self.db.fetch(
            f"""SELECT {", ".join(DOSSIERS.columns)}, change_xid::text::bigint AS change_xid,
                       change_seq
                FROM dossiers
                WHERE (change_xid, change_seq) > ($1::text::xid8, $2)
                  AND ($3::text IS NULL OR portal_id = $3)
                  AND change_xid < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY change_xid, change_seq LIMIT $4""",
            str(after[0]), after[1], portal_id, limit))


# The timeline entry, one webhook delivery per subscription of the filing portal that wants
# this event type, and (when the step is announced) the applicant's contact, in one
# statement: $1 event id, $2 dossier, $3 at, $4 type, $5 source, $6 detail, $7 the time in
# +07:00. The payload follows Standard Webhooks' shape ({type, timestamp, data}).
_RECORD = """
    WITH {filed}added AS (
        INSERT INTO timeline (event_id, dossier_code, at, event_type, source, detail)
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id
    ), hooks AS (
        INSERT INTO webhook_deliveries (id, subscription_id, portal_id, dossier_code, event_id,
                                        event_type, payload, created_at, next_attempt_at,
                                        retry_from)
        SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), s.id, s.portal_id, d.code,
               a.event_id, $4, jsonb_build_object(
                   'type', $4::text, 'timestamp', $7::text,
                   'data', jsonb_build_object(
                       'dossier_code', d.code, 'external_ref', d.external_ref,
                       'status', d.status,
                       'status_at', to_char(d.status_at AT TIME ZONE 'Asia/Ho_Chi_Minh',
                                            'YYYY-MM-DD"T"HH24:MI:SS.US"+07:00"'),
                       'detail', $6::jsonb)),
               now(), now(), now()
        FROM added a
        JOIN {dossiers} d ON d.code = $2
        JOIN webhook_subscriptions s ON s.portal_id = d.portal_id AND s.removed_at IS NULL
        WHERE $4 = ANY(s.events) OR '*' = ANY(s.events)
        ON CONFLICT (subscription_id, event_id) DO NOTHING
    ){told}
    SELECT EXISTS (SELECT 1 FROM added) AS added{contact}"""
RECORD = _RECORD.format(filed="", dossiers="dossiers", told="", contact="")
RECORD_AND_CONTACT = _RECORD.format(
    filed="", dossiers="dossiers", told="",
    contact=f", contact.* FROM (SELECT) AS one LEFT JOIN ({CONTACT}) AS contact ON true")


@functools.cache
def file_and_record(notify: bool, outbox: str | None) -> str:
    """A filing in one statement: the dossier (its columns from ``$18``, or ``$8`` without
    a notification), its first timeline entry and webhook deliveries, (``notify``) the
    notification composed from the contact the filing knows ($8..$17: ``queued_row``), and
    (``outbox``: an ``outbox_insert`` numbered after the dossier's columns) its events."""
    first = 18 if notify else 8
    filed = (f"filed AS ({DOSSIERS.insert(on_conflict='', first=first)}"
             " RETURNING code, portal_id, external_ref, status, status_at), ")
    told = "" if not notify else f""", told AS (
        INSERT INTO applicant_notifications ({QUEUED_COLUMNS})
        SELECT {", ".join(f"${n}::text" for n in range(8, 18))} FROM added
        ON CONFLICT (dedup_key) DO NOTHING
    )"""
    if outbox:
        told += f", sent AS ({outbox})"
    return _RECORD.format(filed=filed, dossiers="filed", told=told, contact="")


class TimelineRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def record(self, env: Envelope[Any], at: datetime, detail: dict[str, Any]) -> None:
        """The entry, and in the same transaction one webhook delivery per subscription of
        the filing portal that wants this event type (docs/rules/webhooks.md) and the
        applicant's notification of the steps they are told of
        (docs/rules/notifications.md). (A filing's first entry is written with the dossier:
        ``DossierRepository.add``.)"""
        told = notified(env.type, detail)
        row = await self.db.fetchrow(RECORD_AND_CONTACT if told else RECORD,
                                     env.id, env.data.dossier_code, at, env.type, env.source,
                                     detail, in_legal_zone(at))
        if row is not None and row["added"] and told:
            await notify_step(self.db, env, detail, row)

    async def latest(self, code: str, limit: int) -> tuple[list[asyncpg.Record], int]:
        """The latest ``limit`` entries in time order, and how many there are in all."""
        rows = await self.db.fetch(
            """SELECT at, event_type, source, detail, count(*) OVER () AS total FROM (
                 SELECT * FROM timeline WHERE dossier_code = $1
                 ORDER BY at DESC, event_type DESC LIMIT $2) latest
               ORDER BY at, event_type""", code, limit)
        total = rows[0]["total"] if rows else 0
        if len(rows) == limit:
            total = await self.db.fetchval(
                "SELECT count(*) FROM timeline WHERE dossier_code = $1", code)
        return list(rows), int(total)


class SupplementRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def add(self, code: str, at: datetime, note: str | None,
                  documents: list[dict[str, Any]], portal_id: str) -> None:
        await self.db.execute(
            """INSERT INTO supplements (dossier_code, received_at, note, documents, portal_id)
               VALUES ($1, $2, $3, $4, $5)""", code, at, note, documents, portal_id)


class RequestKeyRepository:
    """The Idempotency-Keys of supplements and withdrawals, with their request's fingerprint."""

    def __init__(self, db: Db) -> None:
        self.db = db

    async def first_request(self, portal_id: str, key: str) -> str | None:
        value = await self.db.fetchval(
            "SELECT request_hash FROM request_keys WHERE portal_id = $1 AND idempotency_key = $2",
            portal_id, key)
        return None if value is None else str(value)

    async def remember(self, portal_id: str, key: str, action: str, code: str,
                       fingerprint: str) -> None:
        await self.db.execute(
            """INSERT INTO request_keys (portal_id, idempotency_key, action, dossier_code,
                                         request_hash) VALUES ($1, $2, $3, $4, $5)""",
            portal_id, key, action, code, fingerprint)


def json_detail(data: EventData, *, drop: tuple[str, ...] = ("dossier_code",)) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(orjson.dumps(data.model_dump(mode="json")))
    for key in drop:
        out.pop(key, None)
    return out
