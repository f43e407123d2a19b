"""The connector's use cases: a dossier's events raise its version; a send takes the pending
dossiers, looks their applicants up at intake, sends the dossier documents and then their
new steps, and records each outcome with its event; operators list the refusals, resend,
and reconcile per unit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.national_portal.adapters.clients import IntakeClient, PortalClient, PortalUnavailable
from services.national_portal.adapters.repository import Pending, SyncState, UnitCounts
from services.national_portal.domain.documents import DOSSIER_SERVICE, STEP_SERVICE, Documents
from services.national_portal.domain.dossier import SyncDossier
from services.national_portal.service_layer.unit_of_work import PostgresSyncUnitOfWork
from shared.events import Envelope, EventData, NationalPortalRefused, NationalPortalSynced
from shared.masking import mask_personal_data
from shared.observability import SYNC_SENT
from shared.retry import backoff


class NotSynced(LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"the connector has not heard of dossier {code}")


@dataclass(frozen=True)
class Sent:
    taken: int
    synced: int
    refused: int


@dataclass(frozen=True)
class Backoff:
    base_s: float
    cap_s: float


async def _send(portal: PortalClient, service: str, documents: list[dict[str, Any]],
                spend: Callable[[int], Awaitable[None]],
                per_request: int) -> list[tuple[str, str, str]]:
    answers: list[tuple[str, str, str]] = []
    for i in range(0, len(documents), per_request):
        chunk = documents[i:i + per_request]
        await spend(len(chunk))
        answers += await portal.send(service, chunk)
    return answers


class SyncHandlers:
    def __init__(self, unit_of_work: Callable[[], PostgresSyncUnitOfWork], documents: Documents,
                 delays: Backoff, draw: Callable[[], float]) -> None:
        self.unit_of_work = unit_of_work
        self.documents = documents
        self.delays = delays
        self.draw = draw

    async def apply_event(self, uow: PostgresSyncUnitOfWork, env: Envelope[EventData],
                          now: datetime) -> None:
        await self.apply_events(uow, [env], now)

    async def apply_events(self, uow: PostgresSyncUnitOfWork,
                           events: Sequence[Envelope[EventData]], now: datetime) -> None:
        """The events in their order, each dossier they name read once and written once."""
        async with uow:
            known = await uow.dossiers.get_many({e.data.dossier_code for e in events},
                                                lock=True)
            changed: dict[str, SyncDossier] = {}
            for env in events:
                code = env.data.dossier_code
                d = known.setdefault(code, SyncDossier(code))
                if d.apply(str(env.id), env.source, env.data):
                    changed[code] = d
            if changed:
                await uow.dossiers.save_many(list(changed.values()), now)
            await uow.commit()

    async def send(self, portal: PortalClient, intake: IntakeClient, limit: int,
                   now: datetime, spend: Callable[[int], Awaitable[None]],
                   per_request: int) -> Sent:
        """One batch, in requests of at most ``per_request`` documents; ``spend(n)`` waits
        until the rate limit allows ``n`` more.

        :raises PortalUnavailable: after recording the retry times."""
        async with self.unit_of_work() as uow:
            pending = await uow.dossiers.pending(now, limit)
            await uow.commit()
        if not pending:
            return Sent(0, 0, 0)
        by_code = {p.dossier.code: p for p in pending}
        try:
            applicants = await intake.applicants(sorted(by_code))
            docs = {code: self.documents.dossier(p.dossier, applicants.get(code))
                    for code, p in by_code.items()}
            ours = {doc["MaHoSo"]: code for code, doc in docs.items()}
            answers = {ours.get(m, m): (c, t) for m, c, t in await _send(
                portal, DOSSIER_SERVICE, list(docs.values()), spend, per_request)}
            accepted = [code for code in by_code if answers.get(code, ("0", ""))[0] == "0"]
            steps = [s for code in accepted for s in self.documents.steps(
                by_code[code].dossier, by_code[code].synced_steps, applicants.get(code))]
            step_answers: dict[str, tuple[str, str]] = {}
            for m, c, t in await _send(portal, STEP_SERVICE, steps, spend, per_request):
                code = ours.get(m, m)  # the first refusal of a dossier's steps is kept
                if step_answers.get(code, ("0", ""))[0] == "0":
                    step_answers[code] = (c, t)
        except PortalUnavailable:
            await self._failed(list(by_code.values()), now)
            raise
        return await self._record(by_code, answers, step_answers, now)

    async def _failed(self, pending: list[Pending], now: datetime) -> None:
        async with self.unit_of_work() as uow:
            await uow.dossiers.failed(
                [p.dossier.code for p in pending],
                [now + backoff(p.attempts, self.delays.base_s, self.delays.cap_s, self.draw())
                 for p in pending])
            await uow.commit()

    async def _record(self, by_code: dict[str, Pending], answers: dict[str, tuple[str, str]],
                      step_answers: dict[str, tuple[str, str]], now: datetime) -> Sent:
        """Each dossier's outcome and its event in a transaction of its own: the sender then
        never holds one dossier's row while waiting for another's, which a consumer's batch
        may hold (no lock-order cycle with it)."""
        synced = refused = 0
        for code, p in sorted(by_code.items()):
            d = p.dossier
            error = answers.get(code, ("0", ""))
            if error[0] == "0":
                error = step_answers.get(code, ("0", ""))
            async with self.unit_of_work() as uow:
                if error[0] != "0":
                    text = mask_personal_data(error[1])[:1000]
                    await uow.dossiers.refused(code, d.version, error[0][:64], text, now)
                    uow.publish(NationalPortalRefused(
                        dossier_code=code, unit_code=d.unit_code, version=d.version,
                        error_code=error[0][:64], error_text=text or "-", at=now))
                    refused += 1
                else:
                    await uow.dossiers.synced(code, d.version, len(d.steps), now)
                    uow.publish(NationalPortalSynced(dossier_code=code, unit_code=d.unit_code,
                                                     version=d.version, at=now))
                    synced += 1
                await uow.commit()
        SYNC_SENT.labels(DOSSIER_SERVICE, "accepted").inc(synced)
        SYNC_SENT.labels(DOSSIER_SERVICE, "refused").inc(refused)
        return Sent(len(by_code), synced, refused)

    # ------------------------------------------------------------- operators
    async def state(self, code: str) -> SyncState:
        async with self.unit_of_work() as uow:
            found = await uow.dossiers.state(code)
        if found is None:
            raise NotSynced(code)
        return found

    async def refusals(self, unit_code: str | None, limit: int) -> list[SyncState]:
        async with self.unit_of_work() as uow:
            return await uow.dossiers.refusals(unit_code, limit)

    async def resend(self, code: str | None, unit_code: str | None, now: datetime) -> int:
        async with self.unit_of_work() as uow:
            count = await uow.dossiers.resend(code, unit_code, now)
            await uow.commit()
        return count

    async def backlog(self) -> dict[str, Any]:
        async with self.unit_of_work() as uow:
            return await uow.dossiers.backlog()

    async def reconciliation(self, units: list[str] | None, start: datetime,
                             end: datetime) -> list[UnitCounts]:
        async with self.unit_of_work() as uow:
            return await uow.dossiers.reconciliation(units, start, end)
