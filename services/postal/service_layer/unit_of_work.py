"""The postal service's unit of work: its repositories (ports, with the PostgreSQL
implementation beside them) and the events its use cases raise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import asyncpg

from services.postal.adapters.repository import CourierLog, DossierUnits, ShipmentRepository
from services.postal.domain.shipment import Shipment
from shared.unit_of_work import PostgresUnitOfWork, UnitOfWork


class Shipments(Protocol):
    async def get(self, shipment_id: str, *, lock: bool = False) -> Shipment | None: ...
    async def of_dossier(self, dossier_code: str, limit: int = 20) -> list[Shipment]: ...
    async def unplaced(self, dossier_codes: Sequence[str]) -> list[Shipment]: ...
    async def add(self, s: Shipment) -> bool: ...
    async def save(self, s: Shipment) -> None: ...


class Couriers(Protocol):
    async def first_signature(self, courier: str, signature: str, timestamp: int) -> bool: ...
    async def seen(self, courier: str, event_id: str) -> bool: ...
    async def record(self, courier: str, event_id: str, shipment_id: str, kind: str,
                     at: datetime) -> None: ...


class Units(Protocol):
    async def place(self, code: str, unit_code: str, *, moved: bool) -> None: ...
    async def place_many(self, filed_at: Mapping[str, str]) -> dict[str, str]: ...
    async def unit_of(self, code: str) -> str | None: ...


class PostalUnitOfWork(UnitOfWork, Protocol):
    @property
    def shipments(self) -> Shipments: ...
    @property
    def couriers(self) -> Couriers: ...
    @property
    def units(self) -> Units: ...


class PostgresPostalUnitOfWork(PostgresUnitOfWork):
    shipments: ShipmentRepository
    couriers: CourierLog
    units: DossierUnits

    def open_repositories(self, conn: asyncpg.Connection) -> None:
        self.shipments = ShipmentRepository(conn)
        self.couriers = CourierLog(conn)
        self.units = DossierUnits(conn)
