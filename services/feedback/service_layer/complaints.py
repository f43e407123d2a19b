"""Complaints' use cases (docs/rules/complaints.md): submitting one (from a portal, the desk
or the hotline, optionally about a dossier proven by its receipt's PIN), the officers' steps,
the citizen's information and reaction (proven by the complaint's own PIN), the published
answers anyone may read, and the deadline watch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.feedback.domain.complaint import (
    Category,
    Complaint,
    ComplaintPolicy,
    Reaction,
    Via,
    deadlines,
)
from services.feedback.domain.rating import GuessingPolicy
from services.feedback.service_layer.pins import PinCheck
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from shared.auth import Principal, receipt_pin
from shared.events import ComplaintEvent, ComplaintSubmitted
from shared.masking import mask_personal_data
from shared.notifications import Contact, compose
from shared.notifications.messages import COMPLAINT_ANSWERED
from shared.refusals import FieldRefusal
from shared.rulebook import Rulebook
from shared.textbounds import PlainText
from shared.timebounds import AwareMoment


class ComplaintNotFound(LookupError):
    """No such complaint among the caller's units, or a wrong PIN (the same 404)."""


class DossierNotFound(LookupError):
    """An unknown dossier or a wrong receipt PIN (the same 404)."""


class DossierNotYetKnown(Exception):
    """The PIN is right but the dossier's receipt has not reached this service yet (409)."""


class ComplaintInputRefused(FieldRefusal):
    """A submission the rules refuse (422), naming the field."""


@dataclass(frozen=True)
class SubmitComplaint:
    subject: str
    body: str
    category: Category
    via: Via
    submitted_by: str
    at: datetime
    source: str  # whom the PIN guessing limits count
    unit_code: str | None = None
    dossier_code: str | None = None
    pin: str | None = None
    complainant: dict[str, Any] | None = None
    repeat_of: str | None = None


@dataclass(frozen=True)
class Submitted:
    complaint: Complaint
    pin: str  # the complainant's proof for giving information and reacting; shown once


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareMoment | None = Field(default=None, description="importer token only")


class Refuse(_Step):
    action: Literal["refuse"]
    reason: PlainText = Field(min_length=1, max_length=2000)


class RequestInfo(_Step):
    action: Literal["request_info"]
    what: PlainText = Field(min_length=1, max_length=2000, description="what is missing")


class Answer(_Step):
    action: Literal["answer"]
    text: PlainText = Field(min_length=1, max_length=8000)


class Publish(_Step):
    action: Literal["publish"]


class Classify(_Step):
    action: Literal["classify"]
    category: Category
    unit_code: str | None = Field(default=None, description="give it to another unit")


OfficerStep = Refuse | RequestInfo | Answer | Publish | Classify


class ComplaintHandlers:
    def __init__(self, unit_of_work: Callable[[], FeedbackUnitOfWork], rulebook: Rulebook,
                 policy: ComplaintPolicy, guessing: GuessingPolicy, pepper: str,
                 now: Callable[[], datetime]) -> None:
        self.unit_of_work = unit_of_work
        self.rulebook = rulebook
        self.policy = policy
        self.pins = PinCheck(unit_of_work, guessing, pepper, now)
        self.pepper = pepper

    def _calendar(self, unit_code: str) -> Any:
        return self.rulebook.calendar_for(unit_code), self.rulebook.policy_for(unit_code)

    # ---------------------------------------------------------------- submitting
    async def submit(self, cmd: SubmitComplaint) -> Submitted:
        """:raises ComplaintInputRefused, DossierNotFound, DossierNotYetKnown, TooManyGuesses:"""
        unit_code = cmd.unit_code
        if cmd.dossier_code is not None:
            if cmd.pin is None or not await self.pins.check(cmd.dossier_code, cmd.pin,
                                                            cmd.source):
                raise DossierNotFound(cmd.dossier_code)
        elif unit_code is None:
            raise ComplaintInputRefused("name the unit the complaint is about, or the dossier",
                                        "body:/unit_code")
        async with self.unit_of_work() as uow:
            if cmd.dossier_code is not None:
                dossier = await uow.dossiers.get(cmd.dossier_code)
                if dossier is None or not dossier.unit_code:
                    raise DossierNotYetKnown(cmd.dossier_code)
                unit_code = dossier.unit_code  # the dossier's unit answers for it
            assert unit_code is not None
            if self.rulebook.unit(unit_code) is None:
                raise ComplaintInputRefused(f"unknown unit {unit_code}", "body:/unit_code")
            first = await self._first(uow, cmd)
            cal, office = self._calendar(unit_code)
            due = deadlines(cmd.at, cal, office, self.policy)
            code = await uow.complaints.next_code(cmd.at.astimezone(office.tz).date())
            c = Complaint(code=code, unit_code=unit_code, category=cmd.category, via=cmd.via,
                          received_at=cmd.at, refuse_by=due.refuse_by,
                          request_info_by=due.request_info_by, answer_by=due.answer_by,
                          submitted_by=cmd.submitted_by,
                          subject=mask_personal_data(cmd.subject),
                          body=mask_personal_data(cmd.body), complainant=cmd.complainant,
                          dossier_code=cmd.dossier_code,
                          repeat_of=first.code if first else None)
            await uow.complaints.add(c)
            uow.publish(ComplaintSubmitted(
                complaint_code=code, dossier_code=c.dossier_code, unit_code=unit_code,
                category=c.category, via=c.via, received_at=c.received_at,
                refuse_by=c.refuse_by, request_info_by=c.request_info_by,
                answer_by=c.answer_by, repeat_of=c.repeat_of))
            if first is not None and first.repeated_by(code, cmd.at) is not None:
                await uow.complaints.save(first)
                uow.publish(first.events)
            await uow.commit()
        return Submitted(c, receipt_pin(code, self.pepper))

    async def _first(self, uow: FeedbackUnitOfWork, cmd: SubmitComplaint) -> Complaint | None:
        """The complaint this one repeats: the one named, else the first about the same
        dossier in the same category; a repeat of a repeat links to the first of all."""
        code = cmd.repeat_of
        if code is None and cmd.dossier_code is not None:
            code = await uow.complaints.first_about(cmd.dossier_code, cmd.category)
        if code is None:
            return None
        first = await uow.complaints.get(code, lock=True)
        if first is None:
            raise ComplaintInputRefused(f"no complaint {code}", "body:/repeat_of")
        if first.repeat_of is not None:
            first = await uow.complaints.get(first.repeat_of, lock=True)
            assert first is not None
        return first

    # ---------------------------------------------------------------- officers
    async def act(self, code: str, step: OfficerStep, at: datetime, who: Principal) -> Complaint:
        """:raises ComplaintNotFound, ComplaintRefusal, ComplaintInputRefused:"""
        async with self.unit_of_work() as uow:
            c = await uow.complaints.get(code, lock=True)
            if c is None or not who.may_act_on(c.unit_code):
                raise ComplaintNotFound(code)
            cal, office = self._calendar(c.unit_code)
            if isinstance(step, Refuse):
                event = c.refuse(at, mask_personal_data(step.reason))
            elif isinstance(step, RequestInfo):
                event = c.request_info(at, mask_personal_data(step.what))
            elif isinstance(step, Answer):
                event = c.answer(at, mask_personal_data(step.text), cal, office, self.policy)
                await self._tell_answered(uow, c)
            elif isinstance(step, Publish):
                event = c.publish(at)
            else:
                unit = step.unit_code or c.unit_code
                if self.rulebook.unit(unit) is None or not who.may_act_on(unit):
                    raise ComplaintInputRefused(f"unknown unit {unit}, or not yours",
                                                "body:/unit_code")
                event = c.classify(at, step.category, unit)
            await self._save(uow, c, event)
        return c

    @staticmethod
    async def _tell_answered(uow: FeedbackUnitOfWork, c: Complaint) -> None:
        """The complainant's notification, queued with the answer (docs/rules/notifications.md):
        at the contact they gave, if any; the answer itself is read on the portal."""
        who = c.complainant or {}
        message = compose(COMPLAINT_ANSWERED, c.dossier_code or "", None,
                          {"complaint_code": c.code, "answer": c.answer_text})
        await uow.notifications.enqueue(
            dedup_key=f"{c.code}:{COMPLAINT_ANSWERED}", subject_code=c.code,
            kind=COMPLAINT_ANSWERED, contact=Contact(email=who.get("email"),
                                                     phone=who.get("phone")),
            message=message)

    async def _save(self, uow: FeedbackUnitOfWork, c: Complaint, event: ComplaintEvent) -> None:
        await uow.complaints.save(c)
        uow.publish(event)
        await uow.commit()

    async def complaint(self, code: str, who: Principal) -> Complaint:
        async with self.unit_of_work() as uow:
            c = await uow.complaints.get(code)
        if c is None or not who.may_act_on(c.unit_code):
            raise ComplaintNotFound(code)
        return c

    async def complaints(self, who: Principal, unit_code: str | None, state: str | None,
                         limit: int) -> list[Complaint]:
        if unit_code is not None and not who.may_act_on(unit_code):
            return []
        units = [unit_code] if unit_code else (None if "*" in who.units else sorted(who.units))
        async with self.unit_of_work() as uow:
            return await uow.complaints.of_units(units, state, limit)

    # ---------------------------------------------------------------- the citizen
    async def give_info(self, code: str, pin: str, info: str, at: datetime,
                        source: str) -> Complaint:
        """:raises ComplaintNotFound, TooManyGuesses, ComplaintRefusal:"""
        async def step(c: Complaint) -> ComplaintEvent:
            cal, office = self._calendar(c.unit_code)
            return c.receive_info(at, mask_personal_data(info), cal, office, self.policy)
        return await self._by_citizen(code, pin, source, step)

    async def react(self, code: str, pin: str, reaction: Reaction, at: datetime,
                    source: str) -> Complaint:
        """:raises ComplaintNotFound, TooManyGuesses, ComplaintRefusal:"""
        async def step(c: Complaint) -> ComplaintEvent:
            return c.react(at, reaction)
        return await self._by_citizen(code, pin, source, step)

    async def _by_citizen(self, code: str, pin: str, source: str,
                          step: Callable[[Complaint], Any]) -> Complaint:
        if not await self.pins.check(code, pin, source):
            raise ComplaintNotFound(code)
        async with self.unit_of_work() as uow:
            c = await uow.complaints.get(code, lock=True)
            if c is None:
                raise ComplaintNotFound(code)
            await self._save(uow, c, await step(c))
        return c

    # ---------------------------------------------------------------- anyone
    async def published(self, unit_code: str | None, limit: int,
                        code: str | None = None) -> list[Any]:
        async with self.unit_of_work() as uow:
            return await uow.complaints.published(unit_code, limit, code)

    # ---------------------------------------------------------------- the watch
    async def watch_overdue(self, now: datetime, limit: int) -> list[ComplaintEvent]:
        """``complaint.overdue`` for each awaited step past due, once (the flag is saved with
        the outbox row)."""
        async with self.unit_of_work() as uow:
            flagged = []
            for c in await uow.complaints.awaiting_overdue(now, limit):
                event = c.flag_if_overdue(now)
                if event is not None:
                    await uow.complaints.save(c)
                    uow.publish(event)
                    flagged.append(event)
            await uow.commit()
        return flagged
