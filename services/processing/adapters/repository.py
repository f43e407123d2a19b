"""PostgreSQL adapters of the processing service: the Dossier aggregate and its hops."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.processing.domain.control_slip import Hop
from services.processing.domain.workflow import Dossier, State
from services.processing.service_layer.commands import Worklist
from shared.rows import Db, Table

DOSSIERS = Table("dossiers", Dossier, "code")


@dataclass(frozen=True)
class NewHop:
    """A step of the control slip as written: who did what, where, and the due date then."""

    dossier_code: str
    step: str
    unit_code: str
    actor: str
    at: datetime
    due_at: datetime
    detail: dict[str, Any]
    idempotency_key: str | None = None
    request_hash: str | None = None


class DossierRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def get(self, code: str, *, lock: bool = False) -> Dossier | None:
        return await DOSSIERS.get(self.db, code, lock=lock)

    async def add(self, d: Dossier) -> bool:
        """False when the dossier is already here (a redelivered event)."""
        return d.code in await self.add_many([d])

    async def add_many(self, dossiers: Sequence[Dossier]) -> set[str]:
        """The codes of those of ``dossiers`` (distinct codes) that were not here yet."""
        if not dossiers:
            return set()
        rows = await self.db.fetch(DOSSIERS.insert_many() + " RETURNING code",
                                   DOSSIERS.json_rows(dossiers))
        return {r["code"] for r in rows}

    async def save(self, d: Dossier) -> None:
        await self.db.execute(DOSSIERS.update(), *DOSSIERS.update_values(d))

    async def save_many(self, dossiers: Sequence[Dossier]) -> None:
        """Each of ``dossiers`` (distinct codes) as it is now, in one statement."""
        if dossiers:
            await self.db.execute(DOSSIERS.update_many(), DOSSIERS.json_rows(dossiers))

    async def worklist(self, q: Worklist) -> list[Dossier]:
        where: list[str] = []
        args: list[Any] = []
        for value, condition in ((q.units, "unit_code = ANY({}::text[])"),
                                 (q.states or None, "state = ANY({}::text[])"),
                                 (q.due_before, "due_at <= {}"), (q.due_after, "due_at >= {}"),
                                 (q.assignee, "assignee = {}")):
            if value is not None:
                args.append(value)
                where.append(condition.format(f"${len(args)}"))
        args += [q.limit, q.offset]
        rows = await self.db.fetch(DOSSIERS.select(
            " AND ".join(where), tail=f"ORDER BY due_at, code LIMIT ${len(args) - 1} "
                                      f"OFFSET ${len(args)}"), *args)
        return [DOSSIERS.from_row(r) for r in rows]

    async def claim_for_watch(self, states: frozenset[State], now: datetime,
                              limit: int) -> list[Dossier]:
        """Dossiers whose warning or overdue notice is due, locked; rows another replica
        holds are skipped."""
        rows = await self.db.fetch(DOSSIERS.select(
            """state = ANY($1::text[]) AND ((due_soon_sent_at IS NULL AND due_soon_at <= $2)
                 OR (overdue_sent_at IS NULL AND due_at < $2))""",
            tail="ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED"), sorted(states), now, limit)
        return [DOSSIERS.from_row(r) for r in rows]

    async def past_apology_deadline(self, states: frozenset[State],
                                    now: datetime) -> dict[str, int]:
        """Per unit: dossiers in ``states`` past their apology deadline with no apology."""
        rows = await self.db.fetch(
            """SELECT unit_code, count(*) AS n FROM dossiers
               WHERE state = ANY($1::text[]) AND apology_count = 0 AND apology_deadline < $2
               GROUP BY unit_code""", sorted(states), now)
        return {r["unit_code"]: r["n"] for r in rows}

    async def claim_for_stuck(self, states: frozenset[State], now: datetime,
                              limit: int) -> list[Dossier]:
        """Dossiers not flagged stuck whose check is due (or was never made since their last
        step), locked; rows another replica holds are skipped."""
        rows = await self.db.fetch(DOSSIERS.select(
            """state = ANY($1::text[]) AND stuck_flagged_at IS NULL
               AND (stuck_check_at IS NULL OR stuck_check_at <= $2)""",
            tail="ORDER BY stuck_check_at NULLS FIRST, code LIMIT $3 FOR UPDATE SKIP LOCKED"),
            sorted(states), now, limit)
        return [DOSSIERS.from_row(r) for r in rows]

    async def stuck_counts(self, states: frozenset[State]) -> dict[str, int]:
        """Per unit: dossiers in ``states`` flagged stuck."""
        rows = await self.db.fetch(
            """SELECT unit_code, count(*) AS n FROM dossiers
               WHERE state = ANY($1::text[]) AND stuck_flagged_at IS NOT NULL
               GROUP BY unit_code""", sorted(states))
        return {r["unit_code"]: r["n"] for r in rows}

    async def stuck(self, states: frozenset[State], units: list[str],
                    limit: int) -> list[Dossier]:
        """The units' dossiers in ``states`` flagged stuck, stuck longest first."""
        rows = await self.db.fetch(DOSSIERS.select(
            "state = ANY($1::text[]) AND stuck_flagged_at IS NOT NULL "
            "AND unit_code = ANY($2::text[])", tail="ORDER BY stuck_flagged_at, code LIMIT $3"),
            sorted(states), units, limit)
        return [DOSSIERS.from_row(r) for r in rows]


_HOP_COLUMNS = ("dossier_code, step, unit_code, actor, at, due_at, detail, idempotency_key, "
                "request_hash")


class HopRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def add(self, hop: NewHop) -> None:
        await self.add_many([hop])

    async def add_many(self, hops: Sequence[NewHop]) -> None:
        """The steps in their order, in one statement."""
        await self.db.execute(
            f"""INSERT INTO hops ({_HOP_COLUMNS})
                SELECT {_HOP_COLUMNS} FROM unnest(
                  $1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                  $6::timestamptz[], $7::jsonb[], $8::text[], $9::text[])
                  WITH ORDINALITY AS h({_HOP_COLUMNS}, n)
                ORDER BY n""",
            *([getattr(h, c) for h in hops] for c in _HOP_COLUMNS.split(", ")))

    async def first_request(self, code: str, idempotency_key: str) -> str | None:
        """The fingerprint of the action first sent with this key, or None if there was none."""
        value = await self.db.fetchval(
            "SELECT request_hash FROM hops WHERE dossier_code = $1 AND idempotency_key = $2",
            code, idempotency_key)
        return None if value is None else str(value)

    async def of(self, code: str) -> list[Hop]:
        rows = await self.db.fetch(
            """SELECT step, unit_code, actor, at, due_at, detail FROM hops
               WHERE dossier_code = $1 ORDER BY at, id""", code)
        return [Hop(**dict(r)) for r in rows]
