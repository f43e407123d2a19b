"""The processing service's unit of work: its repositories (ports, with the PostgreSQL
implementation beside them) and the events its use cases raise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import asyncpg

from services.processing.adapters.repository import DossierRepository, HopRepository, NewHop
from services.processing.domain.control_slip import Hop
from services.processing.domain.workflow import Dossier, State
from services.processing.service_layer.commands import Worklist
from shared.unit_of_work import PostgresUnitOfWork, UnitOfWork


class Dossiers(Protocol):
    async def get(self, code: str, *, lock: bool = False) -> Dossier | None: ...
    async def add(self, d: Dossier) -> bool: ...
    async def add_many(self, dossiers: Sequence[Dossier]) -> set[str]: ...
    async def save(self, d: Dossier) -> None: ...
    async def save_many(self, dossiers: Sequence[Dossier]) -> None: ...
    async def worklist(self, q: Worklist) -> list[Dossier]: ...
    async def claim_for_watch(self, states: frozenset[State], now: datetime,
                              limit: int) -> list[Dossier]: ...
    async def past_apology_deadline(self, states: frozenset[State],
                                    now: datetime) -> dict[str, int]: ...
    async def claim_for_stuck(self, states: frozenset[State], now: datetime,
                              limit: int) -> list[Dossier]: ...
    async def stuck_counts(self, states: frozenset[State]) -> dict[str, int]: ...
    async def stuck(self, states: frozenset[State], units: list[str],
                    limit: int) -> list[Dossier]: ...


class Hops(Protocol):
    async def add(self, hop: NewHop) -> None: ...
    async def add_many(self, hops: Sequence[NewHop]) -> None: ...
    async def first_request(self, code: str, idempotency_key: str) -> str | None: ...
    async def of(self, code: str) -> list[Hop]: ...


class ProcessingUnitOfWork(UnitOfWork, Protocol):
    @property
    def dossiers(self) -> Dossiers: ...
    @property
    def hops(self) -> Hops: ...


class PostgresProcessingUnitOfWork(PostgresUnitOfWork):
    dossiers: DossierRepository
    hops: HopRepository

    def open_repositories(self, conn: asyncpg.Connection) -> None:
        self.dossiers = DossierRepository(conn)
        self.hops = HopRepository(conn)
