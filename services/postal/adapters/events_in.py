"""Postal's consumer: a postal filing opens an inbound shipment; a result to be returned by
post opens an outbound one."""

from __future__ import annotations

import asyncpg

from services.postal.adapters import repository as repo
from services.postal.domain.shipment import Shipment
from shared.events import Envelope, EventData, FiledByPost, Resolved, Transferred
from shared.service import Emit


class PostalEvents:
    def __init__(self, emit: Emit) -> None:
        self.emit = emit

    async def __call__(self, conn: asyncpg.Connection, env: Envelope[EventData]) -> None:
        data = env.data
        if isinstance(data, FiledByPost):
            await self._open(conn, data.dossier_code, "inbound", data.unit_code, data.at)
        elif isinstance(data, Transferred):
            await conn.execute("INSERT INTO dossier_units (code, unit_code) VALUES ($1, $2) "
                               "ON CONFLICT (code) DO UPDATE SET unit_code = EXCLUDED.unit_code",
                               data.dossier_code, data.to_unit)
        elif isinstance(data, Resolved) and data.return_method == "postal":
            unit = await conn.fetchval("SELECT unit_code FROM dossier_units WHERE code = $1",
                                       data.dossier_code)
            await self._open(conn, data.dossier_code, "outbound", unit or "", data.resolved_at)
        elif env.type == "dossier.received":
            await conn.execute("INSERT INTO dossier_units (code, unit_code) VALUES ($1, $2) "
                               "ON CONFLICT (code) DO NOTHING",
                               data.dossier_code, data.unit_code)  # type: ignore[attr-defined]

    async def _open(self, conn: asyncpg.Connection, code: str, direction: str, unit: str,
                    at: object) -> None:
        shipment, events = Shipment.open(code, direction, unit, at)  # type: ignore[arg-type]
        if await repo.insert(conn, shipment):
            await self.emit(conn, [Envelope(source="postal", data=e) for e in events])
