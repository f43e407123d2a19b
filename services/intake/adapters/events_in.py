"""Intake's consumer: status and timeline of each dossier, fed by processing and postal."""

from __future__ import annotations

import asyncpg

from services.intake.adapters import repository as repo
from services.intake.domain.filing import next_status
from shared.events import ApologyIssued, Envelope, EventData, SupplementRequested, Transferred


async def apply_event(conn: asyncpg.Connection, env: Envelope[EventData]) -> None:
    data = env.data
    row = await repo.get_dossier(conn, data.dossier_code, for_update=True)
    if row is None:
        return  # not filed here (e.g. another province's dossier on a shared cluster)
    at = data.occurred_at
    sets: dict[str, object] = {}
    status = next_status(row["status"], row["status_at"], env.type, at)
    if status is not None:
        sets["status"] = status
        sets["status_at"] = at
    if isinstance(data, SupplementRequested) and status == "awaiting_supplement":
        sets["supplement_requested_at"] = data.requested_at
    if isinstance(data, ApologyIssued):
        sets["appointment_at"] = data.new_due_at
    if isinstance(data, Transferred):
        sets["current_unit"] = data.to_unit
    if sets:
        assignments = ", ".join(f"{k} = ${i}" for i, k in enumerate(sets, start=2))
        await conn.execute(f"UPDATE dossiers SET {assignments} WHERE code = $1",
                           data.dossier_code, *sets.values())
    await repo.record_timeline(conn, env, at, repo.json_detail(data))
