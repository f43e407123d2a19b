"""PostgreSQL adapter of the processing service: load and save the Dossier aggregate."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import asyncpg

from services.processing.domain.control_slip import Hop
from services.processing.domain.workflow import DOSSIER_FIELDS, Dossier

_COLUMNS = ", ".join(DOSSIER_FIELDS)


def _to_domain(row: asyncpg.Record) -> Dossier:
    return Dossier(**{k: row[k] for k in DOSSIER_FIELDS})


async def get(conn: asyncpg.Connection | asyncpg.Pool, code: str, *,
              for_update: bool = False) -> Dossier | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM dossiers WHERE code = $1{lock}", code)
    return _to_domain(row) if row else None


async def insert(conn: asyncpg.Connection, d: Dossier) -> bool:
    values = [getattr(d, f) for f in DOSSIER_FIELDS]
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    result = await conn.execute(
        f"INSERT INTO dossiers ({_COLUMNS}) VALUES ({params}) ON CONFLICT (code) DO NOTHING",
        *values)
    return str(result).endswith("1")


async def save(conn: asyncpg.Connection, d: Dossier) -> None:
    names = [f for f in DOSSIER_FIELDS if f != "code"]
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    await conn.execute(f"UPDATE dossiers SET {sets} WHERE code = $1", d.code,
                       *[getattr(d, n) for n in names])


async def add_hop(conn: asyncpg.Connection, code: str, step: str, unit_code: str, actor: str,
                  at: datetime, due_at: datetime, detail: dict[str, Any] | None = None, *,
                  idempotency_key: str | None = None, request_hash: str | None = None) -> None:
    await conn.execute(
        """INSERT INTO hops (dossier_code, step, unit_code, actor, at, due_at, detail,
                             idempotency_key, request_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        code, step, unit_code, actor, at, due_at, detail or {}, idempotency_key, request_hash)


async def hop_request_hash(conn: asyncpg.Connection, code: str, idempotency_key: str) -> str | None:
    """The fingerprint of the action first sent with this key, or None if there was none."""
    value = await conn.fetchval(
        "SELECT request_hash FROM hops WHERE dossier_code = $1 AND idempotency_key = $2",
        code, idempotency_key)
    return None if value is None else str(value)


async def hops(conn: asyncpg.Connection | asyncpg.Pool, code: str) -> list[Hop]:
    rows = await conn.fetch(
        """SELECT step, unit_code, actor, at, due_at, detail FROM hops
           WHERE dossier_code = $1 ORDER BY at, id""", code)
    return [Hop(**dict(r)) for r in rows]


async def worklist(conn: asyncpg.Pool, units: list[str] | None, states: list[str] | None,
                   due_before: datetime | None, due_after: datetime | None,
                   assignee: str | None, limit: int, offset: int) -> list[Dossier]:
    where: list[str] = []
    args: list[Any] = []
    for value, condition in ((units, "unit_code = ANY({}::text[])"),
                             (states or None, "state = ANY({}::text[])"),
                             (due_before, "due_at <= {}"), (due_after, "due_at >= {}"),
                             (assignee, "assignee = {}")):
        if value is not None:
            args.append(value)
            where.append(condition.format(f"${len(args)}"))
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    args += [limit, offset]
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM dossiers {clause}
            ORDER BY due_at, code LIMIT ${len(args) - 1} OFFSET ${len(args)}""", *args)
    return [_to_domain(r) for r in rows]


def as_dict(d: Dossier) -> dict[str, Any]:
    return asdict(d)
