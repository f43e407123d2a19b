"""What changed: a page of a portal's dossiers in change order, and the cursor of the next
one (see docs/decisions/0005)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.intake.adapters.repository import DossierRepository
from services.intake.domain.cursor import START, decode_cursor, encode_cursor


@dataclass(frozen=True)
class ChangesWanted:
    portal_id: str | None  # None: every portal's (the importer role)
    cursor: str | None  # the previous page's `next`; None from the beginning
    limit: int


@dataclass(frozen=True)
class Changes:
    rows: list[asyncpg.Record]
    next: str
    more: bool


async def changes_page(pool: asyncpg.Pool, wanted: ChangesWanted) -> Changes:
    """:raises ValueError: for a cursor this service did not hand out."""
    after = decode_cursor(wanted.cursor) if wanted.cursor else START
    rows = await DossierRepository(pool).changes(wanted.portal_id, after, wanted.limit + 1)
    page = rows[:wanted.limit]
    last = (page[-1]["change_xid"], page[-1]["change_seq"]) if page else after
    return Changes(rows=page, next=encode_cursor(last), more=len(rows) > wanted.limit)
