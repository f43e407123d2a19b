"""Processing's consumer: new dossiers from intake, supplements, withdrawals, and results
handed to the courier (postal)."""

from __future__ import annotations

import asyncpg

from services.processing.adapters import repository as repo
from services.processing.domain.workflow import Dossier
from shared.events import (
    DossierReceived,
    Envelope,
    EventData,
    ResultReturned,
    SupplementReceived,
    Withdrawn,
)
from shared.rulebook import Rulebook


class ProcessingEvents:
    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook

    async def __call__(self, conn: asyncpg.Connection, env: Envelope[EventData]) -> None:
        data = env.data
        rb = self.rulebook
        if isinstance(data, DossierReceived):
            cal, policy = rb.calendar_for(data.unit_code), rb.policy_for(data.unit_code)
            d = Dossier.from_received(data, cal, policy)
            if await repo.insert(conn, d):
                await repo.add_hop(conn, d.code, "received", d.unit_code, env.source,
                                   data.received_at, d.due_at, {"channel": data.channel})
            return
        found = await repo.get(conn, data.dossier_code, for_update=True)
        if found is None:
            return
        d = found
        changed = False
        step = env.type
        if isinstance(data, SupplementReceived):
            changed = d.supplement_received(data.received_at, rb.calendar_for(d.unit_code),
                                            rb.policy_for(d.unit_code))
            step = "supplement-received"
        elif isinstance(data, Withdrawn):
            changed = d.withdrawn(data.at)
            step = "withdrawn"
        elif isinstance(data, ResultReturned) and data.method == "postal":
            changed = d.returned_by_post(data.returned_at)
            step = "returned-by-post"
        if changed:
            await repo.save(conn, d)
            await repo.add_hop(conn, d.code, step, d.unit_code, env.source, data.occurred_at,
                               d.due_at, {})
