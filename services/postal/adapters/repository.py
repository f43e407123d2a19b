"""PostgreSQL adapters of the postal service: shipments, the couriers' log (signatures and
event ids already received) and the unit each dossier is at."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from services.postal.domain.shipment import Shipment
from shared.rows import Db, Table, inserted

SHIPMENTS = Table("shipments", Shipment, "id", skip=("notifications",))


class ShipmentRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def get(self, shipment_id: str, *, lock: bool = False) -> Shipment | None:
        return await SHIPMENTS.get(self.db, shipment_id, lock=lock)

    async def unplaced(self, dossier_codes: Sequence[str]) -> list[Shipment]:
        """The dossiers' shipments opened at no unit yet, locked."""
        rows = await self.db.fetch(SHIPMENTS.select(
            "dossier_code = ANY($1::text[]) AND unit_code = ''", tail="ORDER BY id",
            lock=True), list(dossier_codes))
        return [SHIPMENTS.from_row(r) for r in rows]

    async def of_dossier(self, dossier_code: str, limit: int = 20) -> list[Shipment]:
        rows = await self.db.fetch(SHIPMENTS.select(
            "dossier_code = $1", tail="ORDER BY created_at LIMIT $2"), dossier_code, limit)
        return [SHIPMENTS.from_row(r) for r in rows]

    async def add(self, s: Shipment) -> bool:
        """False when it exists already (a redelivered event)."""
        return inserted(await self.db.execute(SHIPMENTS.insert(), *SHIPMENTS.insert_values(s)))

    async def save(self, s: Shipment) -> None:
        await self.db.execute(SHIPMENTS.update(), *SHIPMENTS.update_values(s))
        for message in s.notifications:
            await self.db.execute("INSERT INTO notifications (dossier_code, kind, message) "
                                  "VALUES ($1, 'collect-at-desk', $2)", s.dossier_code, message)


class CourierLog:
    """What couriers sent: each signed request once, each courier event id once."""

    def __init__(self, db: Db) -> None:
        self.db = db

    async def first_signature(self, courier: str, signature: str, timestamp: int) -> bool:
        """Whether this signed request is new (False: a replay)."""
        return bool(await self.db.fetchval(
            """INSERT INTO courier_signatures (courier, signature, ts) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING 1""", courier, signature, timestamp))

    async def seen(self, courier: str, event_id: str) -> bool:
        return bool(await self.db.fetchval(
            "SELECT 1 FROM courier_events WHERE courier = $1 AND event_id = $2",
            courier, event_id))

    async def record(self, courier: str, event_id: str, shipment_id: str, kind: str,
                     at: datetime) -> None:
        await self.db.execute(
            """INSERT INTO courier_events (courier, event_id, shipment_id, kind, at)
               VALUES ($1, $2, $3, $4, $5)""", courier, event_id, shipment_id, kind, at)


class DossierUnits:
    """The unit each dossier is at now (for the outbound shipment of its result)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    async def place(self, code: str, unit_code: str, *, moved: bool) -> None:
        """Where the dossier is: filed there (kept if known), or ``moved`` there."""
        await self.db.execute(
            "INSERT INTO dossier_units (code, unit_code) VALUES ($1, $2) ON CONFLICT (code) "
            + ("DO UPDATE SET unit_code = EXCLUDED.unit_code" if moved else "DO NOTHING"),
            code, unit_code)

    async def place_many(self, filed_at: Mapping[str, str]) -> dict[str, str]:
        """Each dossier filed at its unit, kept where it is if known already; where each
        is now. The statement's snapshot holds the rows known before it, its RETURNING the
        rows it added; a row another transaction committed in between is read after it."""
        rows = await self.db.fetch(
            """WITH given AS (SELECT * FROM unnest($1::text[], $2::text[]) AS g(code, unit_code)),
                    added AS (INSERT INTO dossier_units (code, unit_code)
                              SELECT code, unit_code FROM given ORDER BY code
                              ON CONFLICT (code) DO NOTHING RETURNING code, unit_code)
               SELECT code, unit_code FROM added
               UNION ALL
               SELECT code, u.unit_code FROM dossier_units u JOIN given USING (code)""",
            list(filed_at), list(filed_at.values()))
        at = {r["code"]: r["unit_code"] for r in rows}
        if len(at) < len(filed_at):  # placed by a transaction committed after the snapshot
            for r in await self.db.fetch(
                    "SELECT code, unit_code FROM dossier_units WHERE code = ANY($1::text[])",
                    [code for code in filed_at if code not in at]):
                at[r["code"]] = r["unit_code"]
        return at

    async def unit_of(self, code: str) -> str | None:
        value = await self.db.fetchval("SELECT unit_code FROM dossier_units WHERE code = $1",
                                       code)
        return None if value is None else str(value)
