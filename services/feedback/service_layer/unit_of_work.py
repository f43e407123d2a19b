"""The feedback service's unit of work: its repositories (ports, with the PostgreSQL
implementation beside them) and the events its use cases raise."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import asyncpg

from services.feedback.adapters.repository import GuessLog, RatedDossiers, Ratings
from services.feedback.domain.rating import RatedDossier
from shared.unit_of_work import PostgresUnitOfWork, UnitOfWork


class Guesses(Protocol):
    async def take_turn(self, code: str) -> None: ...
    async def recent_failures(self, code: str, source: str,
                              since: datetime) -> tuple[list[datetime], list[datetime]]: ...
    async def record_failure(self, code: str, source: str, at: datetime) -> None: ...


class Dossiers(Protocol):
    async def get(self, code: str, *, lock: bool = False) -> RatedDossier | None: ...
    async def save(self, d: RatedDossier) -> None: ...


class RatingStore(Protocol):
    async def add(self, code: str, unit_code: str, rating: str, criteria: dict[str, Any] | None,
                  comment: str | None, at: datetime) -> None: ...
    async def of(self, code: str) -> Any: ...


class FeedbackUnitOfWork(UnitOfWork, Protocol):
    @property
    def guesses(self) -> Guesses: ...
    @property
    def dossiers(self) -> Dossiers: ...
    @property
    def ratings(self) -> RatingStore: ...


class PostgresFeedbackUnitOfWork(PostgresUnitOfWork):
    guesses: GuessLog
    dossiers: RatedDossiers
    ratings: Ratings

    def open_repositories(self, conn: asyncpg.Connection) -> None:
        self.guesses = GuessLog(conn)
        self.dossiers = RatedDossiers(conn)
        self.ratings = Ratings(conn)
