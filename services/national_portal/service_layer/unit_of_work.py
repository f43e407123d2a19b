"""The connector's unit of work: its repository and the events its use cases raise."""

from __future__ import annotations

import asyncpg

from services.national_portal.adapters.repository import SyncRepository
from shared.unit_of_work import PostgresUnitOfWork


class PostgresSyncUnitOfWork(PostgresUnitOfWork):
    dossiers: SyncRepository

    def open_repositories(self, conn: asyncpg.Connection) -> None:
        self.dossiers = SyncRepository(conn)
