"""The feedback service's unit of work: its repositories (ports, with the PostgreSQL
implementation beside them) and the events its use cases raise."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any, Protocol

import asyncpg

from services.feedback.adapters.repository import (
    ComplaintRepository,
    GuessLog,
    RatedDossiers,
    Ratings,
)
from services.feedback.domain.complaint import Complaint
from services.feedback.domain.rating import RatedDossier
from shared.notifications import Contact, Message
from shared.notifications.store import NotificationOutbox
from shared.unit_of_work import PostgresUnitOfWork, UnitOfWork


class Guesses(Protocol):
    async def take_turn(self, code: str) -> None: ...
    async def recent_failures(self, code: str, source: str,
                              since: datetime) -> tuple[list[datetime], list[datetime]]: ...
    async def record_failure(self, code: str, source: str, at: datetime) -> None: ...


class Dossiers(Protocol):
    async def get(self, code: str, *, lock: bool = False) -> RatedDossier | None: ...
    async def get_many(self, codes: Collection[str], *,
                       lock: bool = False) -> dict[str, RatedDossier]: ...
    async def save(self, *dossiers: RatedDossier) -> None: ...


class RatingStore(Protocol):
    async def add(self, code: str, unit_code: str, rating: str, criteria: dict[str, Any] | None,
                  comment: str | None, at: datetime) -> None: ...
    async def of(self, code: str) -> Any: ...


class ComplaintStore(Protocol):
    async def next_code(self, day: date) -> str: ...
    async def get(self, code: str, *, lock: bool = False) -> Complaint | None: ...
    async def add(self, c: Complaint) -> None: ...
    async def save(self, c: Complaint) -> None: ...
    async def first_about(self, dossier_code: str, category: str) -> str | None: ...
    async def of_units(self, units: list[str] | None, state: str | None,
                       limit: int) -> list[Complaint]: ...
    async def published(self, unit_code: str | None, limit: int,
                        code: str | None = None) -> list[Any]: ...
    async def awaiting_overdue(self, now: datetime, limit: int) -> list[Complaint]: ...


class Notifications(Protocol):
    async def enqueue(self, *, dedup_key: str, subject_code: str, kind: str, contact: Contact,
                      message: Message) -> str | None: ...


class FeedbackUnitOfWork(UnitOfWork, Protocol):
    @property
    def guesses(self) -> Guesses: ...
    @property
    def dossiers(self) -> Dossiers: ...
    @property
    def ratings(self) -> RatingStore: ...
    @property
    def complaints(self) -> ComplaintStore: ...
    @property
    def notifications(self) -> Notifications: ...


class PostgresFeedbackUnitOfWork(PostgresUnitOfWork):
    guesses: GuessLog
    dossiers: RatedDossiers
    ratings: Ratings
    complaints: ComplaintRepository
    notifications: NotificationOutbox

    def open_repositories(self, conn: asyncpg.Connection) -> None:
        self.complaints = ComplaintRepository(conn)
        self.notifications = NotificationOutbox(conn)
        self.guesses = GuessLog(conn)
        self.dossiers = RatedDossiers(conn)
        self.ratings = Ratings(conn)
