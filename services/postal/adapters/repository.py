"""PostgreSQL adapter of the postal service."""

from __future__ import annotations

from dataclasses import fields

import asyncpg

from services.postal.domain.shipment import Shipment

FIELDS = tuple(f.name for f in fields(Shipment) if f.name != "notifications")
_COLUMNS = ", ".join(FIELDS)


async def get(conn: asyncpg.Connection | asyncpg.Pool, shipment_id: str, *,
              for_update: bool = False) -> Shipment | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM shipments WHERE id = $1{lock}", shipment_id)
    return Shipment(**dict(row)) if row else None


async def by_dossier(conn: asyncpg.Pool, dossier_code: str, limit: int = 20) -> list[Shipment]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM shipments WHERE dossier_code = $1 "
                            "ORDER BY created_at LIMIT $2", dossier_code, limit)
    return [Shipment(**dict(r)) for r in rows]


async def insert(conn: asyncpg.Connection, s: Shipment) -> bool:
    values = [getattr(s, f) for f in FIELDS]
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    result = await conn.execute(
        f"INSERT INTO shipments ({_COLUMNS}) VALUES ({params}) ON CONFLICT DO NOTHING", *values)
    return str(result).endswith("1")


async def save(conn: asyncpg.Connection, s: Shipment) -> None:
    names = [f for f in FIELDS if f != "id"]
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    await conn.execute(f"UPDATE shipments SET {sets} WHERE id = $1", s.id,
                       *[getattr(s, n) for n in names])
    for message in s.notifications:
        await conn.execute("INSERT INTO notifications (dossier_code, kind, message) "
                           "VALUES ($1, 'collect-at-desk', $2)", s.dossier_code, message)
