"""Pure rules of a complaint (phản ánh, kiến nghị; docs/rules/complaints.md): its deadlines in
working days, the workflow an officer and the citizen take it through, and what each step
announces.

* Deadlines count like a dossier's (``shared.workdays.due_date``): from receipt, or from the
  next working day's opening after the cut-off, to office close of the N-th working day. A
  complaint must be refused as out of scope within ``refuse_days``, have more information
  asked for within ``request_info_days``, be answered within ``answer_days`` (moved by the
  working days the citizen took to give the information, as a supplement moves a dossier's)
  and have its answer published within ``publish_days`` of the answer.
* More information may be asked for once; the clock stands still until it arrives.
* The citizen may accept or dislike the reply (an answer or a refusal), once.
* A later complaint about the same matter is linked to the first: the first is *repeated*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

from shared.events import (
    ComplaintAnswered,
    ComplaintClassified,
    ComplaintEvent,
    ComplaintInfoReceived,
    ComplaintInfoRequested,
    ComplaintOverdue,
    ComplaintPublished,
    ComplaintReacted,
    ComplaintRefused,
    ComplaintRepeated,
)
from shared.workdays import OfficePolicy, WorkingCalendar, due_after_supplement, due_date

Category = Literal["procedure", "conduct", "other"]
Via = Literal["portal", "desk", "hotline"]
State = Literal["received", "awaiting_info", "answered", "published", "refused"]
Reaction = Literal["accepted", "disliked"]
Action = Literal["refuse", "request_info", "receive_info", "answer", "publish", "react",
                 "classify"]

# Which action each state allows (anything else is a 409).
ALLOWED: dict[State, frozenset[Action]] = {
    "received": frozenset({"refuse", "request_info", "answer", "classify"}),
    "awaiting_info": frozenset({"receive_info", "classify"}),
    "answered": frozenset({"publish", "react"}),
    "published": frozenset({"react"}),
    "refused": frozenset({"react"}),
}


@dataclass(frozen=True)
class ComplaintPolicy:
    refuse_days: int = 2
    request_info_days: int = 5
    answer_days: int = 15
    publish_days: int = 2


@dataclass(frozen=True)
class Deadlines:
    refuse_by: datetime
    request_info_by: datetime
    answer_by: datetime


def deadlines(received_at: datetime, cal: WorkingCalendar, office: OfficePolicy,
              policy: ComplaintPolicy) -> Deadlines:
    def by(days: int) -> datetime:
        return due_date(received_at, days, cal, office).due_at
    return Deadlines(by(policy.refuse_days), by(policy.request_info_days),
                     by(policy.answer_days))


def publish_by(answered_at: datetime, cal: WorkingCalendar, office: OfficePolicy,
               policy: ComplaintPolicy) -> datetime:
    return due_date(answered_at, policy.publish_days, cal, office).due_at


class _Subject(TypedDict):
    complaint_code: str
    dossier_code: str | None
    unit_code: str


class ComplaintRefusal(Exception):
    """An action the complaint's state or times do not allow (409)."""


@dataclass
class Complaint:
    """A complaint's workflow state. Its methods check the step, change the state and return
    the event that announces it."""

    code: str
    unit_code: str
    category: Category
    via: Via
    received_at: datetime
    refuse_by: datetime
    request_info_by: datetime
    answer_by: datetime
    submitted_by: str = ""
    subject: str = ""  # what the complaint is about, masked like every text below
    body: str = ""
    complainant: dict[str, Any] | None = None  # personal data: never in an event or a log
    dossier_code: str | None = None
    repeat_of: str | None = None
    state: State = "received"
    info_request: str | None = None
    info: str | None = None
    answer_text: str | None = None
    refusal: str | None = None
    info_requested_at: datetime | None = None
    info_received_at: datetime | None = None
    answered_at: datetime | None = None
    publish_by: datetime | None = None
    published_at: datetime | None = None
    refused_at: datetime | None = None
    reaction: Reaction | None = None
    reacted_at: datetime | None = None
    repeated_at: datetime | None = None
    last_step_at: datetime | None = None
    overdue_flagged: list[str] = field(default_factory=list)
    events: list[ComplaintEvent] = field(default_factory=list, repr=False)

    # ---------------------------------------------------------------- checks
    def _check(self, action: Action, at: datetime) -> None:
        if action not in ALLOWED[self.state]:
            raise ComplaintRefusal(f"a complaint that is {self.state.replace('_', ' ')} "
                                   f"cannot take {action.replace('_', ' ')}")
        latest = self.last_step_at or self.received_at
        if at < latest:
            raise ComplaintRefusal(f"{action.replace('_', ' ')} cannot be dated before the "
                                   "complaint's last step")

    def _step(self, at: datetime, event: ComplaintEvent) -> ComplaintEvent:
        self.last_step_at = at
        self.events.append(event)
        return event

    def _base(self) -> _Subject:
        return {"complaint_code": self.code, "dossier_code": self.dossier_code,
                "unit_code": self.unit_code}

    # ---------------------------------------------------------------- officers
    def refuse(self, at: datetime, reason: str) -> ComplaintEvent:
        self._check("refuse", at)
        self.state, self.refused_at, self.refusal = "refused", at, reason
        return self._step(at, ComplaintRefused(**self._base(), at=at, reason=reason,
                                               refuse_by=self.refuse_by))

    def request_info(self, at: datetime, what: str) -> ComplaintEvent:
        self._check("request_info", at)
        if self.info_requested_at is not None:
            raise ComplaintRefusal("more information has already been asked for once")
        self.state, self.info_requested_at, self.info_request = "awaiting_info", at, what
        return self._step(at, ComplaintInfoRequested(**self._base(), at=at, what=what,
                                                     request_info_by=self.request_info_by))

    def receive_info(self, at: datetime, info: str, cal: WorkingCalendar, office: OfficePolicy,
                     policy: ComplaintPolicy) -> ComplaintEvent:
        """The citizen's information: the answer's deadline moves by the pause."""
        self._check("receive_info", at)
        assert self.info_requested_at is not None
        self.answer_by = due_after_supplement(self.answer_by, self.info_requested_at, at,
                                              policy.answer_days, cal, office)
        self.state, self.info_received_at, self.info = "received", at, info
        return self._step(at, ComplaintInfoReceived(**self._base(), at=at,
                                                    answer_by=self.answer_by))

    def answer(self, at: datetime, text: str, cal: WorkingCalendar, office: OfficePolicy,
               policy: ComplaintPolicy) -> ComplaintEvent:
        self._check("answer", at)
        self.state, self.answered_at, self.answer_text = "answered", at, text
        self.publish_by = publish_by(at, cal, office, policy)
        return self._step(at, ComplaintAnswered(**self._base(), at=at, answer_by=self.answer_by,
                                                publish_by=self.publish_by))

    def publish(self, at: datetime) -> ComplaintEvent:
        self._check("publish", at)
        assert self.publish_by is not None
        self.state, self.published_at = "published", at
        return self._step(at, ComplaintPublished(**self._base(), at=at,
                                                 publish_by=self.publish_by))

    def classify(self, at: datetime, category: Category, unit_code: str) -> ComplaintEvent:
        self._check("classify", at)
        self.category, self.unit_code = category, unit_code
        return self._step(at, ComplaintClassified(**self._base(), at=at, category=category))

    # ---------------------------------------------------------------- the citizen
    def react(self, at: datetime, reaction: Reaction) -> ComplaintEvent:
        self._check("react", at)
        if self.reaction is not None:
            raise ComplaintRefusal(f"the reply has already been {self.reaction}")
        self.reaction, self.reacted_at = reaction, at
        # A reaction is the citizen's, not a step of the handling: the officers' dates stay.
        self.events.append(ComplaintReacted(**self._base(), at=at, reaction=reaction))
        return self.events[-1]

    def repeated_by(self, later: str, at: datetime) -> ComplaintEvent | None:
        """A later complaint about the same matter; the first such link is the one counted."""
        if self.repeated_at is not None:
            return None
        self.repeated_at = at
        self.events.append(ComplaintRepeated(**self._base(), at=at, repeated_by=later))
        return self.events[-1]

    # ---------------------------------------------------------------- watchdog
    def awaited(self) -> tuple[Literal["answer", "publish"], datetime] | None:
        """The step now awaited from the officers and when it falls due (None: nothing is
        awaited of them, or the clock stands still)."""
        if self.state == "received":
            return "answer", self.answer_by
        if self.state == "answered" and self.publish_by is not None:
            return "publish", self.publish_by
        return None

    def flag_if_overdue(self, now: datetime) -> ComplaintEvent | None:
        """``complaint.overdue`` once per step, when the awaited step's time has passed."""
        awaited = self.awaited()
        if awaited is None or awaited[1] >= now or awaited[0] in self.overdue_flagged:
            return None
        step, due = awaited
        self.overdue_flagged.append(step)
        self.events.append(ComplaintOverdue(**self._base(), at=due, step=step))
        return self.events[-1]
