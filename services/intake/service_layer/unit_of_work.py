"""The intake service's unit of work: its repositories (ports, with the PostgreSQL
implementation beside them) and the events its use cases raise."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

import asyncpg

from services.intake.adapters.notifications import NotificationRepository
from services.intake.adapters.repository import (
    DossierRepository,
    FirstEntry,
    RequestKeyRepository,
    SupplementRepository,
    TimelineRepository,
)
from services.intake.domain.dossier import Dossier
from shared.events import Envelope
from shared.notifications import Preference
from shared.unit_of_work import PostgresUnitOfWork, UnitOfWork


class Dossiers(Protocol):
    async def get(self, code: str, *, lock: bool = False) -> Dossier | None: ...
    async def add(self, d: Dossier, first: FirstEntry | None = None) -> None: ...
    async def save(self, d: Dossier) -> None: ...
    async def find_filed(self, portal_id: str, idempotency_key: str | None,
                         external_ref: str | None) -> Dossier | None: ...
    async def next_sequence(self, unit_code: str, day: date) -> int: ...
    async def applicants(self, codes: list[str]) -> list[tuple[str, str, dict[str, Any]]]: ...
    async def filed_at_unit(self, unit_code: str, start: datetime, end: datetime,
                            portal_id: str | None) -> list[Dossier]: ...


class Timeline(Protocol):
    async def record(self, env: Envelope[Any], at: datetime, detail: dict[str, Any]) -> None: ...
    async def latest(self, code: str, limit: int) -> tuple[list[Any], int]: ...


class Supplements(Protocol):
    async def add(self, code: str, at: datetime, note: str | None,
                  documents: list[dict[str, Any]], portal_id: str) -> None: ...


class RequestKeys(Protocol):
    async def first_request(self, portal_id: str, key: str) -> str | None: ...
    async def remember(self, portal_id: str, key: str, action: str, code: str,
                       fingerprint: str) -> None: ...


class Notifications(Protocol):
    async def prefer(self, code: str, preference: Preference, at: datetime) -> None: ...
    async def preference(self, code: str) -> Preference: ...
    async def history(self, code: str) -> list[dict[str, Any]]: ...


class IntakeUnitOfWork(UnitOfWork, Protocol):
    @property
    def dossiers(self) -> Dossiers: ...
    @property
    def timeline(self) -> Timeline: ...
    @property
    def supplements(self) -> Supplements: ...
    @property
    def request_keys(self) -> RequestKeys: ...
    @property
    def notifications(self) -> Notifications: ...


class PostgresIntakeUnitOfWork(PostgresUnitOfWork):
    dossiers: DossierRepository
    timeline: TimelineRepository
    supplements: SupplementRepository
    request_keys: RequestKeyRepository
    notifications: NotificationRepository

    def open_repositories(self, conn: asyncpg.Connection) -> None:
        self.dossiers = DossierRepository(conn)
        self.timeline = TimelineRepository(conn)
        self.supplements = SupplementRepository(conn)
        self.request_keys = RequestKeyRepository(conn)
        self.notifications = NotificationRepository(conn)
