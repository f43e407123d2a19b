"""Intake's use cases. Each handler enters one unit of work, lets the Dossier aggregate
decide, records the timeline entry and commits the events it raised."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.intake.adapters.notifications import contact_at_filing
from services.intake.adapters.repository import DuplicateFiling, FirstEntry, Portal, json_detail
from services.intake.domain import forms
from services.intake.domain.dossier import Dossier
from services.intake.domain.filing import FieldError, channel_refusal, check_filing, dossier_code
from services.intake.service_layer.commands import (
    FileDossier,
    HandInSupplement,
    Requested,
    SetNotifications,
    Withdraw,
)
from services.intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.auth import pin_digest, receipt_pin
from shared.events import Delivered, Envelope, EventData
from shared.forms import Form
from shared.idempotency import is_repeat, request_fingerprint
from shared.notifications.contact import DEFAULT_PREFERENCE
from shared.rulebook import Rulebook
from shared.timebounds import in_legal_zone
from shared.workdays import due_date


class FilingRefused(Exception):
    """The filing does not fit the catalog (422 naming the fields)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class ChannelRefused(Exception):
    """This kind of client may not file through that channel (403)."""


class DossierNotFound(Exception):
    """Not filed by this portal (the same answer whether it exists or not)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"no dossier {code} filed by this portal")


class UnknownUnit(LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no unit {code}")


class NotTheConnector(Exception):
    """Only the national portal connector's key reads applicants."""


@dataclass(frozen=True)
class Applicant:
    """An applicant as filed, with the portal that filed the dossier."""

    portal_id: str
    full_name: str
    id_number: str
    kind: str = "citizen"
    phone: str | None = None
    email: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Filed:
    dossier: Dossier
    replayed: bool  # the same filing was made before (its Idempotency-Key or external_ref)


@dataclass(frozen=True)
class Notified:
    """A dossier's notification preference and history (addresses as stored: mask them)."""

    preference: str
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class Seen:
    dossier: Dossier
    timeline: list[Any]
    timeline_total: int


class IntakeHandlers:
    def __init__(self, rulebook: Rulebook, unit_of_work: Callable[[], IntakeUnitOfWork],
                 pin_pepper: str, status_lookup_url: str = "{code}") -> None:
        self.rulebook = rulebook
        self.unit_of_work = unit_of_work
        self.pin_pepper = pin_pepper
        self.status_lookup_url = status_lookup_url

    def receipt_pin(self, code: str) -> str:
        return receipt_pin(code, self.pin_pepper)

    # ------------------------------------------------------------- filing
    async def file(self, cmd: FileDossier) -> Filed:
        """:raises FilingRefused, ChannelRefused, KeyReused:"""
        rb = self.rulebook
        day = cmd.asked.at.astimezone(rb.policy_for(cmd.unit_code).tz).date()
        unit, procedure, errors = check_filing(rb, cmd.unit_code, cmd.procedure_code,
                                               cmd.channel, cmd.return_method, cmd.online_mode,
                                               receiving_unit=cmd.receiving_unit, day=day)
        if errors or unit is None or procedure is None:
            raise FilingRefused(errors)
        refused = channel_refusal(cmd.asked.portal.role, cmd.channel)
        if refused is not None:
            raise ChannelRefused(refused)
        fingerprint = request_fingerprint(cmd.asked.request)
        try:
            async with self.unit_of_work() as uow:
                return await self._file(uow, cmd, fingerprint, procedure.processing_days,
                                        procedure.name)
        except DuplicateFiling:
            # A concurrent request with the same Idempotency-Key or external_ref won; this
            # transaction (and its sequence number) rolled back.
            async with self.unit_of_work() as uow:
                earlier = await uow.dossiers.find_filed(cmd.asked.portal.id,
                                                        cmd.asked.idempotency_key,
                                                        cmd.external_ref)
            if earlier is None:
                raise
            return _replay(earlier, cmd, fingerprint)

    async def _file(self, uow: IntakeUnitOfWork, cmd: FileDossier, fingerprint: str,
                    processing_days: int, procedure_name: str) -> Filed:
        asked, rb = cmd.asked, self.rulebook
        earlier = await uow.dossiers.find_filed(asked.portal.id, asked.idempotency_key,
                                                cmd.external_ref)
        if earlier is not None:
            return _replay(earlier, cmd, fingerprint)
        cal, policy = rb.calendar_for(cmd.unit_code), rb.policy_for(cmd.unit_code)
        in_transit = cmd.channel == "postal" and not cmd.received_at_given
        deadline = None if in_transit else due_date(asked.at, processing_days, cal, policy)
        day = asked.at.astimezone(policy.tz).date()
        code = dossier_code(cmd.unit_code, day, await uow.dossiers.next_sequence(cmd.unit_code,
                                                                                  day))
        d = Dossier(
            code=code, unit_code=cmd.unit_code, current_unit=cmd.unit_code,
            procedure_code=cmd.procedure_code, channel=cmd.channel,
            return_method=cmd.return_method, filed_at=asked.at, received_at=None,
            counted_from=None, due_at=None, processing_days=processing_days, status="received",
            status_at=asked.at, applicant=cmd.applicant.model_dump(mode="json"),
            applicant_masked=cmd.applicant.masked().model_dump(mode="json"),
            pin_digest=pin_digest(self.receipt_pin(code), code, self.pin_pepper),
            portal_id=asked.portal.id, request_hash=fingerprint, rulebook=rb.version,
            external_ref=cmd.external_ref, idempotency_key=asked.idempotency_key,
            documents=cmd.documents, note=cmd.note, online_mode=cmd.online_mode,
            population_data=cmd.population_data,
            receiving_unit=None if cmd.receiving_unit in (None, cmd.unit_code)
            else cmd.receiving_unit)
        [env] = uow.publish(d.filed(deadline))
        preference = cmd.notify or (
            "none" if asked.portal.role == "importer" else DEFAULT_PREFERENCE)
        detail = {"channel": "postal"} if deadline is None else {
            "channel": cmd.channel, "due_at": in_legal_zone(deadline.due_at)}
        if preference != DEFAULT_PREFERENCE:  # no stored preference reads as the default
            await uow.notifications.prefer(code, preference, asked.at)
        # The dossier, its first entry and its events in one round trip: the unit's code
        # counter is held from next_sequence to the commit (decision 0030).
        await uow.dossiers.add(d, FirstEntry(env, asked.at, detail,
                                             contact_at_filing(d, procedure_name, preference),
                                             events=uow.outbox_part))
        await uow.commit()
        return Filed(d, replayed=False)

    # ------------------------------------------------------------- the applicant's changes
    async def hand_in_supplement(self, cmd: HandInSupplement) -> bool:
        """Whether this was a replay. :raises DossierNotFound, StatusRefused, TimeRefused,
        KeyReused:"""
        asked = cmd.asked

        async def hand_in(uow: IntakeUnitOfWork, d: Dossier) -> None:
            unit = d.current_unit
            event = d.hand_in_supplement(asked.at, self.rulebook.calendar_for(unit),
                                         self.rulebook.policy_for(unit))
            await uow.supplements.add(cmd.code, asked.at, cmd.note, cmd.documents,
                                      asked.portal.id)
            await uow.dossiers.save(d)
            assert d.due_at is not None
            await _record(uow, event, asked, {"documents": len(cmd.documents),
                                              "due_at": in_legal_zone(d.due_at)})

        return await self._change(cmd.code, asked, "supplement", hand_in)

    async def withdraw(self, cmd: Withdraw) -> bool:
        """Whether this was a replay. :raises DossierNotFound, StatusRefused, TimeRefused,
        KeyReused:"""
        asked = cmd.asked

        async def withdraw(uow: IntakeUnitOfWork, d: Dossier) -> None:
            event = d.withdraw(asked.at, cmd.reason)
            await uow.dossiers.save(d)
            # The event's reason is masked (free text may carry a phone or ID number).
            await _record(uow, event, asked, {"reason": event.reason})

        return await self._change(cmd.code, asked, "withdraw", withdraw)

    async def _change(self, code: str, asked: Requested, kind: str,
                      change: Callable[[IntakeUnitOfWork, Dossier], Awaitable[None]]) -> bool:
        """An applicant's change of a dossier the caller filed, once per Idempotency-Key:
        the row lock, the replay check, the change, the key remembered, in one unit of work.
        Whether this was a replay."""
        async with self.unit_of_work() as uow:
            d = await _visible(uow, code, asked.portal, lock=True)
            fingerprint = request_fingerprint([kind, code, asked.request])
            if await _repeated(uow, asked, fingerprint):
                return True
            await change(uow, d)
            await _remember(uow, asked, kind, code, fingerprint)
            await uow.commit()
        return False

    # ------------------------------------------------------------- reads
    async def dossier(self, code: str, portal: Portal, timeline_limit: int = 200) -> Seen:
        async with self.unit_of_work() as uow:
            d = await _visible(uow, code, portal)
            entries, total = await uow.timeline.latest(code, timeline_limit)
        return Seen(d, entries, total)

    async def notifications(self, code: str, portal: Portal) -> Notified:
        """:raises DossierNotFound:"""
        async with self.unit_of_work() as uow:
            await _visible(uow, code, portal)
            return Notified(await uow.notifications.preference(code),
                            await uow.notifications.history(code))

    async def set_notifications(self, cmd: SetNotifications) -> Notified:
        """The applicant's new preference; opting out skips what is still pending.

        :raises DossierNotFound:"""
        async with self.unit_of_work() as uow:
            await _visible(uow, cmd.code, cmd.asked.portal, lock=True)
            await uow.notifications.prefer(cmd.code, cmd.preference, cmd.asked.at)
            await uow.commit()
        return await self.notifications(cmd.code, cmd.asked.portal)

    async def applicants(self, codes: list[str], caller: Portal) -> dict[str, Applicant]:
        """The applicants as filed, for the national portal connector alone: personal data
        leaves intake only this way, to the state's own portal (docs/decisions/0011).

        :raises NotTheConnector:"""
        if caller.role != "connector":
            raise NotTheConnector()
        async with self.unit_of_work() as uow:
            found = await uow.dossiers.applicants(codes)
        return {code: Applicant(portal_id=portal, **data) for code, portal, data in found}

    # ------------------------------------------------------------- printed forms
    async def form(self, code: str, number: str, portal: Portal, now: datetime) -> Form:
        """:raises DossierNotFound, FormNotApplicable:"""
        async with self.unit_of_work() as uow:
            d = await _visible(uow, code, portal)
            rows, _ = await uow.timeline.latest(code, 1000)
        entries = [forms.Entry(r["at"], r["event_type"], r["detail"]) for r in rows]
        rb = self.rulebook
        unit, procedure, desk = rb.unit(d.unit_code), rb.procedure(d.procedure_code), \
            rb.unit(d.desk)
        names = forms.Names(unit.name if unit else d.unit_code,
                            procedure.name if procedure else d.procedure_code,
                            rb.data.province.removeprefix("Thành phố ").removeprefix("Tỉnh "),
                            desk.name if desk else d.desk)
        lookup = self.status_lookup_url.replace("{code}", d.code)
        if number == "01":
            return forms.receipt(d, names, self.receipt_pin(d.code), lookup, now)
        build = {"02": forms.supplement_request, "03": forms.refusal, "04": forms.apology,
                 "06": forms.stop_notice}[number]
        return build(d, names, entries, lookup)

    async def register(self, unit_code: str, start: datetime, end: datetime, portal: Portal,
                       now: datetime) -> Form:
        """Form 07: the unit's dossiers filed in [start, end) that the caller may see."""
        rb = self.rulebook
        unit = rb.unit(unit_code)
        if unit is None:
            raise UnknownUnit(unit_code)
        async with self.unit_of_work() as uow:
            found = await uow.dossiers.filed_at_unit(
                unit_code, start, end, None if portal.role == "importer" else portal.id)
        return forms.register(unit.name, rb.data.province, found,
                              {p.code: p.name for p in rb.procedures}, start,
                              end - timedelta(seconds=1), now,
                              self.status_lookup_url.replace("{code}", ""))

    # ------------------------------------------------------------- other services' events
    async def apply_event(self, uow: IntakeUnitOfWork, env: Envelope[EventData]) -> None:
        """Processing's and postal's events: the status and timeline of the dossier, and the
        courier's handover at the desk, which is the legal receipt of a postal filing."""
        data, rb = env.data, self.rulebook
        async with uow:
            d = await uow.dossiers.get(data.dossier_code, lock=True)
            if d is None:
                return  # not filed here (e.g. another province's dossier on a shared cluster)
            if isinstance(data, Delivered) and data.direction == "inbound":
                await uow.timeline.record(env, data.at, json_detail(data))
                received = d.hand_over(data.at, rb.calendar_for(d.unit_code),
                                       rb.policy_for(d.unit_code))
                if received is not None:
                    await uow.dossiers.save(d)
                    [out] = uow.publish(received)
                    await uow.timeline.record(out, data.at, {
                        "channel": "postal", "due_at": received.due_at.isoformat()})
            else:
                if d.apply(data):
                    await uow.dossiers.save(d)
                await uow.timeline.record(env, data.occurred_at, json_detail(data))
            await uow.commit()


def _replay(earlier: Dossier, cmd: FileDossier, fingerprint: str) -> Filed:
    # Found by its Idempotency-Key or its external_ref: either way, only the same request
    # again gets the first one's receipt (another applicant's filing must not).
    key = cmd.asked.idempotency_key
    by_key = bool(key) and earlier.idempotency_key == key
    is_repeat(earlier.request_hash, fingerprint, "Idempotency-Key" if by_key else "external_ref")
    return Filed(earlier, replayed=True)


async def _visible(uow: IntakeUnitOfWork, code: str, portal: Portal, *,
                   lock: bool = False) -> Dossier:
    """A portal sees and acts on the dossiers it filed; the importer role on every dossier."""
    d = await uow.dossiers.get(code, lock=lock)
    if d is None or not (portal.role == "importer" or d.portal_id == portal.id):
        raise DossierNotFound(code)
    return d


async def _record(uow: IntakeUnitOfWork, event: EventData, asked: Requested,
                  detail: dict[str, Any]) -> None:
    [env] = uow.publish(event)
    await uow.timeline.record(env, asked.at, detail)


async def _repeated(uow: IntakeUnitOfWork, asked: Requested, fingerprint: str) -> bool:
    """Whether this request was made before under its key. The dossier's row lock, taken
    first, serialises two tries of one request."""
    if not asked.idempotency_key:
        return False
    first = await uow.request_keys.first_request(asked.portal.id, asked.idempotency_key)
    return is_repeat(first, fingerprint)


async def _remember(uow: IntakeUnitOfWork, asked: Requested, action: str, code: str,
                    fingerprint: str) -> None:
    if asked.idempotency_key:
        await uow.request_keys.remember(asked.portal.id, asked.idempotency_key, action, code,
                                        fingerprint)
