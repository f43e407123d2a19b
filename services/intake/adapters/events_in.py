"""Intake's consumer: status and timeline of each dossier, fed by processing and postal;
and the courier's handover at the desk, which is the legal receipt of a postal filing."""

from __future__ import annotations

import asyncpg

from services.intake.adapters import repository as repo
from services.intake.domain.filing import next_status, received_event
from shared.events import (
    ApologyIssued,
    Delivered,
    Envelope,
    EventData,
    MaskedApplicant,
    SupplementRequested,
    Transferred,
)
from shared.rulebook import Rulebook
from shared.service import Emit
from shared.workdays import due_date


class IntakeEvents:
    def __init__(self, rulebook: Rulebook, emit: Emit) -> None:
        self.rulebook = rulebook
        self.emit = emit

    async def __call__(self, conn: asyncpg.Connection, env: Envelope[EventData]) -> None:
        data = env.data
        row = await repo.get_dossier(conn, data.dossier_code, for_update=True)
        if row is None:
            return  # not filed here (e.g. another province's dossier on a shared cluster)
        at = data.occurred_at
        if isinstance(data, Delivered) and data.direction == "inbound":
            await self._handed_over(conn, row, env, data)
            return
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
            await _update(conn, data.dossier_code, sets)
        await repo.record_timeline(conn, env, at, repo.json_detail(data))

    async def _handed_over(self, conn: asyncpg.Connection, row: asyncpg.Record,
                           env: Envelope[EventData], data: Delivered) -> None:
        """The courier handed the dossier over at the desk: it is received now."""
        await repo.record_timeline(conn, env, data.at, repo.json_detail(data))
        if row["status"] != "in_transit":
            return
        rb = self.rulebook
        unit = row["unit_code"]
        deadline = due_date(data.at, row["processing_days"], rb.calendar_for(unit),
                            rb.policy_for(unit))
        await _update(conn, row["code"], {
            "status": "received", "status_at": data.at, "received_at": data.at,
            "counted_from": deadline.counted_from, "due_at": deadline.due_at})
        event = Envelope(source="intake", data=received_event(
            row["code"], unit, row["procedure_code"], row["processing_days"], "postal",
            row["return_method"], data.at, deadline,
            MaskedApplicant.model_validate(row["applicant_masked"]), row["rulebook"],
            row["external_ref"]))
        await repo.record_timeline(conn, event, data.at,
                                   {"channel": "postal", "due_at": deadline.due_at.isoformat()})
        await self.emit(conn, [event])


async def _update(conn: asyncpg.Connection, code: str, sets: dict[str, object]) -> None:
    assignments = ", ".join(f"{k} = ${i}" for i, k in enumerate(sets, start=2))
    await conn.execute(f"UPDATE dossiers SET {assignments} WHERE code = $1", code, *sets.values())
