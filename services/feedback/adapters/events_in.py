"""Feedback's consumer: which dossiers exist, at which unit, and whether they are finished."""

from __future__ import annotations

import asyncpg

from services.feedback.domain.rating import FINISHING_EVENTS
from shared.events import DossierReceived, Envelope, EventData, Transferred


async def apply_event(conn: asyncpg.Connection, env: Envelope[EventData]) -> None:
    data = env.data
    if isinstance(data, DossierReceived):
        await conn.execute(
            """INSERT INTO dossiers (code, unit_code) VALUES ($1, $2)
               ON CONFLICT (code) DO UPDATE SET unit_code = EXCLUDED.unit_code
               WHERE dossiers.unit_code = ''""",
            data.dossier_code, data.unit_code)
    elif isinstance(data, Transferred):
        await conn.execute("UPDATE dossiers SET unit_code = $2 WHERE code = $1",
                           data.dossier_code, data.to_unit)
    elif env.type in FINISHING_EVENTS:
        # The first finishing event is kept; a later one (returned after resolved) too, as
        # long as the dossier stays finished. Upsert: it may arrive before dossier.received.
        await conn.execute(
            """INSERT INTO dossiers (code, unit_code, finished, finished_at)
               VALUES ($1, '', $2, $3)
               ON CONFLICT (code) DO UPDATE SET
                 finished = coalesce(dossiers.finished, EXCLUDED.finished),
                 finished_at = coalesce(dossiers.finished_at, EXCLUDED.finished_at)""",
            data.dossier_code, FINISHING_EVENTS[env.type], data.occurred_at)
