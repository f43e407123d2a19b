"""Processing's use cases. Each handler enters one unit of work, loads the aggregate, lets
it decide, saves it with its control-slip hop and commits the events it raised."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from services.processing.adapters.repository import NewHop
from services.processing.domain.control_slip import SlipEntry, control_slip
from services.processing.domain.forms import control_slip_form
from services.processing.domain.workflow import (
    CLOCK_RUNNING,
    UNRESOLVED,
    Dossier,
    ElectronicResult,
    RuleViolation,
)
from services.processing.service_layer.commands import (
    Accept,
    Act,
    Apologize,
    Assign,
    RecordPayment,
    Reject,
    RequestPayment,
    RequestSupplement,
    Resolve,
    Return,
    Stop,
    Transfer,
    Worklist,
)
from services.processing.service_layer.unit_of_work import ProcessingUnitOfWork
from shared.auth import Principal
from shared.batching import runs
from shared.events import (
    DossierReceived,
    Envelope,
    EventData,
    ResultReturned,
    SupplementReceived,
    Withdrawn,
)
from shared.forms import Form
from shared.idempotency import is_repeat, request_fingerprint
from shared.rulebook import Rulebook
from shared.workdays import latest_reappointment


class DossierNotFound(Exception):
    """No such dossier among the caller's units (the same whether it exists elsewhere)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"no dossier {code} among your units")


@dataclass(frozen=True)
class Acted:
    dossier: Dossier
    replayed: bool  # the same action was applied before under this Idempotency-Key


@dataclass(frozen=True)
class Slip:
    dossier: Dossier
    entries: list[SlipEntry]


class ProcessingHandlers:
    def __init__(self, rulebook: Rulebook, unit_of_work: Callable[[], ProcessingUnitOfWork],
                 status_lookup_url: str = "{code}") -> None:
        self.rulebook = rulebook
        self.unit_of_work = unit_of_work
        self.status_lookup_url = status_lookup_url

    # ------------------------------------------------------------- officers' actions
    async def act(self, cmd: Act) -> Acted:
        """:raises DossierNotFound, IllegalTransition, RuleViolation, KeyReused:"""
        action = cmd.command
        if isinstance(action, Transfer):
            self._check_transfer(action.to_unit, cmd.at)
        fingerprint = request_fingerprint([
            action.action, cmd.actor.subject, action.model_dump(mode="json", exclude_unset=True),
            cmd.given_at.isoformat() if cmd.given_at else None])
        async with self.unit_of_work() as uow:
            d = await _visible(uow, cmd.code, cmd.actor, lock=True)
            if cmd.idempotency_key is not None and is_repeat(
                    await uow.hops.first_request(cmd.code, cmd.idempotency_key), fingerprint):
                return Acted(d, replayed=True)  # acted on the first time: the dossier now
            unit_before = d.unit_code
            uow.publish(self._decide(d, cmd) + d.clear_stuck(cmd.at))
            await uow.dossiers.save(d)
            detail = action.model_dump(mode="json", exclude={"action"}, exclude_none=True)
            await uow.hops.add(NewHop(d.code, action.action, unit_before, cmd.actor.subject,
                                      cmd.at, d.due_at, detail, cmd.idempotency_key,
                                      fingerprint if cmd.idempotency_key else None))
            await uow.commit()
        return Acted(d, replayed=False)

    def _check_transfer(self, to_unit: str, at: datetime) -> None:
        rb = self.rulebook
        if rb.unit(to_unit) is None:
            raise RuleViolation(f"unknown unit {to_unit}", "to_unit")
        merged = rb.merger_of(to_unit)
        if merged is not None and merged[1] <= at.astimezone(rb.policy_for(to_unit).tz).date():
            raise RuleViolation(f"unit {to_unit} was merged into {merged[0]} on "
                                f"{merged[1]:%d/%m/%Y}", "to_unit")

    def _decide(self, d: Dossier, cmd: Act) -> list[EventData]:
        by, at = cmd.actor.subject, cmd.at
        match cmd.command:
            case Accept():
                return d.accept(by, at)
            case Assign(assignee=assignee):
                return d.assign(by, assignee, at)
            case Transfer(to_unit=to_unit):
                return d.transfer(to_unit, at)
            case RequestSupplement(reason=reason):
                return d.request_supplement(by, reason, at)
            case RequestPayment(amount=amount):
                return d.request_payment(amount, at)
            case RecordPayment(amount=paid, via=via):
                return d.record_payment(paid, at, via)
            case Apologize(reason=reason, new_due_at=new_due_at):
                rb = self.rulebook
                policy = rb.policy_for(d.unit_code)
                latest = latest_reappointment(d.appointment_at or d.due_at, d.processing_days,
                                              rb.calendar_for(d.unit_code), policy)
                return d.apologize(reason, new_due_at, at, policy.max_reappointments, latest)
            case Resolve() as r:
                return d.resolve(r.result_ref, r.return_method, at, ElectronicResult(
                    r.electronic_result_ref, bool(r.result_digitised), bool(r.shared_to_citizen)))
            case Reject(reason=reason):
                return d.reject(reason, at)
            case Stop(reason=reason):
                return d.stop(reason, at)
            case Return(method=method):
                return d.return_result(method, at)

    # ------------------------------------------------------------- reads
    async def dossier(self, code: str, who: Principal) -> Dossier:
        async with self.unit_of_work() as uow:
            return await _visible(uow, code, who)

    async def control_slip(self, code: str, who: Principal) -> Slip:
        async with self.unit_of_work() as uow:
            d = await _visible(uow, code, who)
            hops = await uow.hops.of(code)
        rb = self.rulebook
        return Slip(d, control_slip(hops, rb.calendar_for(d.unit_code), rb.policy_for(d.unit_code)))

    async def control_slip_form(self, code: str, who: Principal, now: datetime) -> Form:
        slip = await self.control_slip(code, who)
        rb, d = self.rulebook, slip.dossier
        unit, procedure = rb.unit(d.unit_code), rb.procedure(d.procedure_code)
        return control_slip_form(
            d, slip.entries, unit.name if unit else d.unit_code,
            procedure.name if procedure else d.procedure_code,
            rb.data.province.removeprefix("Thành phố ").removeprefix("Tỉnh "),
            {u.code: u.name for u in rb.units}, self.status_lookup_url.replace("{code}", code),
            now)

    async def worklist(self, q: Worklist) -> list[Dossier]:
        async with self.unit_of_work() as uow:
            return await uow.dossiers.worklist(q)

    # ------------------------------------------------------------- other services' events
    async def apply_event(self, uow: ProcessingUnitOfWork, env: Envelope[EventData]) -> None:
        await self.apply_events(uow, [env])

    async def apply_events(self, uow: ProcessingUnitOfWork,
                           events: Sequence[Envelope[EventData]]) -> None:
        """New dossiers from intake, supplements, withdrawals, results handed to the courier,
        in their order; anything else, or a repeat, changes nothing. New dossiers in a row
        are added together (each touches only its own rows)."""
        async with uow:
            for together, run in runs(events, _is_received, _dossier_code):
                if together:
                    await self._receive(uow, run)
                else:
                    await self._apply(uow, run[0])
            await uow.commit()

    async def _receive(self, uow: ProcessingUnitOfWork,
                       events: Sequence[Envelope[EventData]]) -> None:
        rb, made = self.rulebook, []
        for env in events:
            data = cast(DossierReceived, env.data)
            made.append((env.source, data, Dossier.from_received(
                data, rb.calendar_for(data.unit_code), rb.policy_for(data.unit_code))))
        added = await uow.dossiers.add_many([d for _, _, d in made])
        hops = [NewHop(d.code, "received", d.unit_code, source, data.received_at, d.due_at,
                       {"channel": data.channel})
                for source, data, d in made if d.code in added]
        if hops:
            await uow.hops.add_many(hops)

    async def _apply(self, uow: ProcessingUnitOfWork, env: Envelope[EventData]) -> None:
        data, rb = env.data, self.rulebook
        found = await uow.dossiers.get(data.dossier_code, lock=True)
        if found is None:
            return
        d, step, changed = found, env.type, False
        if isinstance(data, SupplementReceived):
            step = "supplement-received"
            changed = d.resume_after_supplement(data.received_at, rb.calendar_for(d.unit_code),
                                                rb.policy_for(d.unit_code))
        elif isinstance(data, Withdrawn):
            step, changed = "withdrawn", d.withdraw(data.at)
        elif isinstance(data, ResultReturned) and data.method == "postal":
            step, changed = "returned-by-post", d.record_postal_return(data.returned_at)
        if changed:
            uow.publish(d.clear_stuck(data.occurred_at))
            await uow.dossiers.save(d)
            await uow.hops.add(NewHop(d.code, step, d.unit_code, env.source,
                                      data.occurred_at, d.due_at, {}))

    # ------------------------------------------------------------- the watchdog
    async def watch_deadlines(self, uow: ProcessingUnitOfWork, now: datetime,
                              batch_size: int) -> tuple[int, list[EventData]]:
        """One watchdog pass: the warnings and overdue notices now due; how many dossiers it
        looked at, and the events sent."""
        async with uow:
            claimed = await uow.dossiers.claim_for_watch(CLOCK_RUNNING, now, batch_size)
            sent: list[EventData] = []
            changed = []
            for d in claimed:
                events = d.warn_if_due_soon(now) + d.flag_if_overdue(now)
                if events:
                    changed.append(d)
                    uow.publish(events)
                    sent += events
            await uow.dossiers.save_many(changed)
            await uow.commit()
        return len(claimed), sent

    async def watch_stuck(self, uow: ProcessingUnitOfWork, now: datetime,
                          batch_size: int) -> tuple[int, list[EventData]]:
        """One pass for stuck dossiers (hồ sơ treo): each dossier due a check is flagged, or
        told when to be looked at again; how many it looked at, and the events sent."""
        rb = self.rulebook
        working_days = rb.data.defaults.stuck_after_working_days
        async with uow:
            claimed = await uow.dossiers.claim_for_stuck(CLOCK_RUNNING, now, batch_size)
            sent: list[EventData] = []
            for d in claimed:
                events = d.flag_if_stuck(now, working_days, rb.calendar_for(d.unit_code),
                                         rb.policy_for(d.unit_code).tz)
                uow.publish(events)
                sent += events
            await uow.dossiers.save_many(claimed)
            await uow.commit()
        return len(claimed), sent

    async def past_apology_deadline(self, now: datetime) -> dict[str, int]:
        async with self.unit_of_work() as uow:
            return await uow.dossiers.past_apology_deadline(UNRESOLVED, now)

    async def stuck_counts(self) -> dict[str, int]:
        """Per unit: the dossiers stuck now."""
        async with self.unit_of_work() as uow:
            return await uow.dossiers.stuck_counts(CLOCK_RUNNING)

    async def stuck(self, units: list[str], limit: int) -> list[Dossier]:
        """The stuck dossiers of ``units``, stuck longest first."""
        async with self.unit_of_work() as uow:
            return await uow.dossiers.stuck(CLOCK_RUNNING, units, limit)


async def _visible(uow: ProcessingUnitOfWork, code: str, who: Principal, *,
                   lock: bool = False) -> Dossier:
    d = await uow.dossiers.get(code, lock=lock)
    if d is None or not who.may_act_on(d.unit_code):
        raise DossierNotFound(code)
    return d


def _is_received(env: Envelope[EventData]) -> bool:
    return isinstance(env.data, DossierReceived)


def _dossier_code(env: Envelope[EventData]) -> str:
    return env.data.dossier_code
