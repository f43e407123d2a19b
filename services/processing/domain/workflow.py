"""The dossier workflow (docs/rules/lifecycle.md) as a pure aggregate: state, officer
actions, deadlines, supplement pauses and apologies. Every state change goes through
``TRANSITIONS``; methods validate, change the state and return the events to publish.
Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Literal, get_args

from shared.events import (
    Accepted,
    ApologyIssued,
    DossierReceived,
    DueSoon,
    EventData,
    Overdue,
    Paid,
    PaymentChannel,
    PaymentRequested,
    Rejected,
    Resolved,
    ResultReturned,
    ReturnMethod,
    Stopped,
    Stuck,
    SupplementRequested,
    Transferred,
    Unstuck,
)
from shared.refusals import FieldRefusal
from shared.workdays import (
    OfficePolicy,
    WorkingCalendar,
    apology_deadline,
    due_after_supplement,
    paused_working_days,
    timeliness,
)

State = Literal["awaiting_receipt", "received", "processing", "awaiting_supplement",
                "awaiting_payment", "resolved", "returned", "rejected", "stopped", "withdrawn"]
Action = Literal["accept", "assign", "transfer", "request-supplement", "request-payment",
                 "record-payment", "apologize", "resolve", "reject", "stop", "return"]
# What happens to a dossier because another service said so (not an officer's action).
Happening = Literal["supplement-received", "withdrawn", "returned-by-post"]
ACTIONS: tuple[Action, ...] = get_args(Action)
UNRESOLVED: frozenset[State] = frozenset({"awaiting_receipt", "received", "processing",
                                          "awaiting_supplement", "awaiting_payment"})
FINISHED: frozenset[State] = frozenset({"resolved", "returned", "rejected", "stopped",
                                        "withdrawn"})
# The deadline clock runs in these states (it is paused while awaiting a supplement).
CLOCK_RUNNING: frozenset[State] = UNRESOLVED - {"awaiting_supplement"}

TRANSITIONS: dict[Action | Happening, dict[State, State]] = {
    "accept": {"awaiting_receipt": "processing", "received": "processing"},
    "assign": {"received": "processing", "processing": "processing"},
    "transfer": {"received": "received", "processing": "processing"},
    "request-supplement": {"received": "awaiting_supplement", "processing": "awaiting_supplement"},
    "request-payment": {"processing": "awaiting_payment"},
    "record-payment": {"awaiting_payment": "processing"},
    "apologize": {s: s for s in UNRESOLVED},
    "resolve": {"processing": "resolved"},
    "reject": {s: "rejected" for s in UNRESOLVED},
    "stop": {"processing": "stopped", "awaiting_supplement": "stopped",
             "awaiting_payment": "stopped"},
    "return": {"resolved": "returned"},
    "supplement-received": {"awaiting_supplement": "processing"},
    "withdrawn": {s: "withdrawn" for s in UNRESOLVED},
    "returned-by-post": {"resolved": "returned"},
}


@dataclass(frozen=True)
class ElectronicResult:
    """What the national index counts of a result (4.1, 4.2, 4.4)."""

    reference: str | None = None  # the electronic result issued, if one was
    digitised: bool = False
    shared_to_citizen: bool = False


class IllegalTransition(Exception):
    def __init__(self, action: str, state: State) -> None:
        super().__init__(f"{action} is not allowed while the dossier is {state}")
        self.action = action
        self.state = state


class RuleViolation(FieldRefusal):
    """An action that is legal in this state but breaks a rule (409 unless a field is named)."""


@dataclass
class Dossier:
    code: str
    unit_code: str
    origin_unit: str
    procedure_code: str
    channel: str
    return_method: str
    state: State
    received_at: datetime
    counted_from: datetime
    due_at: datetime
    original_due_at: datetime
    apology_deadline: datetime
    due_soon_at: datetime
    processing_days: int
    rulebook: str
    assignee: str | None = None
    supplement_requested_at: datetime | None = None
    supplement_count: int = 0
    paused_days: int = 0
    paused_seconds: float = 0.0
    apology_count: int = 0
    apology_issued_at: datetime | None = None
    apology_timely: bool | None = None
    appointment_at: datetime | None = None
    payment_amount: Decimal | None = None
    paid_at: datetime | None = None
    resolved_at: datetime | None = None
    returned_at: datetime | None = None
    ended_at: datetime | None = None
    last_action_at: datetime | None = None
    due_soon_sent_at: datetime | None = None
    overdue_sent_at: datetime | None = None
    stuck_flagged_at: datetime | None = None  # stuck from then, until the next step
    stuck_check_at: datetime | None = None  # when the watchdog looks again (None: at once)
    version: int = 0
    # What the national index counts at payment and resolution (docs/rules/index766.md).
    payment_via: str | None = None
    applicant_name: str = ""  # as the events carry it: masked (for the control slip)
    electronic_result_ref: str | None = None
    result_digitised: bool = False
    shared_to_citizen: bool = False

    # ------------------------------------------------------------- creation
    @classmethod
    def from_received(cls, e: DossierReceived, cal: WorkingCalendar,
                      policy: OfficePolicy) -> Dossier:
        deadline = apology_deadline(e.due_at, e.received_at, cal, policy)
        return cls(
            code=e.dossier_code, unit_code=e.unit_code, origin_unit=e.unit_code,
            procedure_code=e.procedure_code, channel=e.channel, return_method=e.return_method,
            state="awaiting_receipt" if e.channel == "online" else "received",
            received_at=e.received_at, counted_from=e.counted_from, due_at=e.due_at,
            original_due_at=e.due_at, apology_deadline=deadline,
            due_soon_at=_due_soon_at(deadline, e.received_at, policy),
            processing_days=e.processing_days, rulebook=e.rulebook,
            last_action_at=e.received_at, applicant_name=e.applicant.name,
        )

    # ------------------------------------------------------------- helpers
    def _move(self, action: Action | Happening) -> State:
        target = TRANSITIONS[action].get(self.state)
        if target is None:
            raise IllegalTransition(action, self.state)
        return target

    def may(self, what: Action | Happening) -> bool:
        return self.state in TRANSITIONS[what]

    def _stamp(self, at: datetime) -> None:
        if at < self.received_at:
            raise RuleViolation("the action cannot be before the dossier was received", "at")
        if self.last_action_at is not None and at < self.last_action_at:
            raise RuleViolation("the action cannot be before the dossier's last action", "at")
        self.last_action_at = at
        self.version += 1

    @staticmethod
    def _emit(event: EventData) -> list[EventData]:
        return [event]

    def timeliness_at(self, at: datetime, cal: WorkingCalendar, policy: OfficePolicy) -> str:
        return timeliness(at, self.due_at, cal, policy)

    # ------------------------------------------------------------- officer actions
    def accept(self, by: str, at: datetime) -> list[EventData]:
        target = self._move("accept")
        self._stamp(at)
        self.state = target
        self.assignee = self.assignee or by
        return self._emit(Accepted(dossier_code=self.code, at=at, by=by))

    def assign(self, by: str, assignee: str, at: datetime) -> list[EventData]:
        target = self._move("assign")
        self._stamp(at)
        events: list[EventData] = []
        if self.state != "processing":
            events = self._emit(Accepted(dossier_code=self.code, at=at, by=by))
        self.state = target
        self.assignee = assignee
        return events

    def transfer(self, to_unit: str, at: datetime) -> list[EventData]:
        target = self._move("transfer")
        if to_unit == self.unit_code:
            raise RuleViolation("the dossier is already at that unit", "to_unit")
        self._stamp(at)
        from_unit, self.unit_code, self.state = self.unit_code, to_unit, target
        self.assignee = None
        return self._emit(Transferred(dossier_code=self.code, from_unit=from_unit,
                                      to_unit=to_unit, at=at))

    def request_supplement(self, by: str, reason: str, at: datetime) -> list[EventData]:
        target = self._move("request-supplement")
        self._stamp(at)
        self.state = target
        self.supplement_requested_at = at
        self.supplement_count += 1
        return self._emit(SupplementRequested(dossier_code=self.code, requested_at=at,
                                              reason=reason, requested_by=by))

    def resume_after_supplement(self, at: datetime, cal: WorkingCalendar,
                                policy: OfficePolicy) -> bool:
        """Intake's event: resume the clock and move the due date. False if not awaited."""
        if not self.may("supplement-received") or self.supplement_requested_at is None:
            return False
        requested = self.supplement_requested_at
        at = max(at, requested)
        self.paused_days += paused_working_days(requested, at, cal, policy)
        self.paused_seconds += cal.working_seconds(requested, at, policy)
        self.due_at = due_after_supplement(self.due_at, requested, at, self.processing_days,
                                           cal, policy)
        self.apology_deadline = apology_deadline(self.due_at, self.received_at, cal, policy)
        self.due_soon_at = _due_soon_at(self.apology_deadline, self.received_at, policy)
        self.supplement_requested_at = None
        self.state = self._move("supplement-received")
        self.last_action_at = max(self.last_action_at or at, at)
        self.version += 1
        return True

    def request_payment(self, amount: Decimal, at: datetime) -> list[EventData]:
        target = self._move("request-payment")
        self._stamp(at)
        self.state, self.payment_amount = target, amount
        return self._emit(PaymentRequested(dossier_code=self.code, amount=amount, at=at))

    def record_payment(self, amount: Decimal | None, at: datetime,
                       via: PaymentChannel | None = None) -> list[EventData]:
        target = self._move("record-payment")
        paid = amount if amount is not None else (self.payment_amount or Decimal(0))
        if self.payment_amount is not None and paid < self.payment_amount:
            raise RuleViolation(f"the amount requested was {self.payment_amount}", "amount")
        self._stamp(at)
        self.state, self.paid_at, self.payment_via = target, at, via
        return self._emit(Paid(dossier_code=self.code, amount=paid, at=at, via=via))

    def apologize(self, reason: str, new_due_at: datetime, at: datetime,
                  max_reappointments: int, latest: datetime | None = None) -> list[EventData]:
        """Form 04: the reason and a new date, after the current due date and no later than
        ``latest`` (policy: see ``latest_reappointment``); at most ``max_reappointments``."""
        self._move("apologize")
        if self.apology_count >= max_reappointments:
            raise RuleViolation(f"at most {max_reappointments} re-appointment(s) per dossier")
        current = self.appointment_at or self.due_at
        if new_due_at <= current:
            raise RuleViolation("the new date must be after the current due date", "new_due_at")
        if latest is not None and new_due_at > latest:
            raise RuleViolation(f"the new date may be at most the procedure's processing time "
                                f"after the current due date: {latest.isoformat()}",
                                "new_due_at")
        self._stamp(at)
        timely = at <= self.apology_deadline
        original = self.due_at
        self.apology_count += 1
        self.apology_issued_at, self.apology_timely, self.appointment_at = at, timely, new_due_at
        return self._emit(ApologyIssued(dossier_code=self.code, issued_at=at, reason=reason,
                                        original_due_at=original, new_due_at=new_due_at,
                                        timely=timely))

    def resolve(self, result_ref: str | None, return_method: ReturnMethod | None,
                at: datetime, result: ElectronicResult | None = None) -> list[EventData]:
        """``result``: the electronic result issued, whether the result was digitised and
        pushed to the citizen's data store."""
        target = self._move("resolve")
        result = result or ElectronicResult()
        if result.shared_to_citizen and result.reference is None and not result.digitised:
            raise RuleViolation("a result pushed to the citizen's data store is electronic or "
                                "digitised", "shared_to_citizen")
        self._stamp(at)
        if return_method is not None:
            self.return_method = return_method
        self.state, self.resolved_at, self.ended_at = target, at, at
        self.electronic_result_ref, self.result_digitised, self.shared_to_citizen = (
            result.reference, result.digitised, result.shared_to_citizen)
        return self._emit(Resolved.model_validate(
            {"dossier_code": self.code, "resolved_at": at, "result_ref": result_ref,
             "return_method": self.return_method, "electronic_result_ref": result.reference,
             "result_digitised": result.digitised,
             "shared_to_citizen": result.shared_to_citizen}))

    def reject(self, reason: str, at: datetime) -> list[EventData]:
        target = self._move("reject")
        self._stamp(at)
        self.state, self.ended_at = target, at
        return self._emit(Rejected(dossier_code=self.code, at=at, reason=reason))

    def stop(self, reason: str, at: datetime) -> list[EventData]:
        target = self._move("stop")
        self._stamp(at)
        self.state, self.ended_at = target, at
        return self._emit(Stopped(dossier_code=self.code, at=at, reason=reason))

    def return_result(self, method: ReturnMethod, at: datetime) -> list[EventData]:
        target = self._move("return")
        if method == "postal":
            raise RuleViolation("results sent by post are returned by the postal service "
                                "at the handover to the courier", "method")
        self._stamp(at)
        self.state, self.returned_at = target, at
        return self._emit(ResultReturned(dossier_code=self.code, returned_at=at, method=method))

    # ------------------------------------------------------------- other services' events
    def withdraw(self, at: datetime) -> bool:
        """Intake's event: the applicant withdrew the dossier. False once it is finished."""
        if not self.may("withdrawn"):
            return False
        self.state, self.ended_at = self._move("withdrawn"), at
        self.version += 1
        return True

    def record_postal_return(self, at: datetime) -> bool:
        """Postal's event: the result was handed to the courier. False unless resolved."""
        if not self.may("returned-by-post"):
            return False
        self.state, self.returned_at = self._move("returned-by-post"), at
        self.version += 1
        return True

    # ------------------------------------------------------------- the watchdog
    def warn_if_due_soon(self, now: datetime) -> list[EventData]:
        """The watchdog's warning, once, when the apology deadline's day has opened."""
        if self.state not in CLOCK_RUNNING or self.due_soon_sent_at or now < self.due_soon_at:
            return []
        self.due_soon_sent_at = now
        return self._emit(DueSoon(dossier_code=self.code, due_at=self.due_at,
                                  at=max(self.due_soon_at, self.received_at)))

    def flag_if_stuck(self, now: datetime, working_days: int, cal: WorkingCalendar,
                      tz: tzinfo) -> list[EventData]:
        """The watchdog's flag, once per spell, when an open dossier whose clock runs has had
        no step for ``working_days`` whole working days; otherwise when to look again."""
        if self.state not in CLOCK_RUNNING or self.stuck_flagged_at is not None \
                or self.last_action_at is None:
            return []
        since = stuck_from(self.last_action_at, working_days, cal, tz)
        if now < since:
            self.stuck_check_at = since
            return []
        self.stuck_flagged_at, self.stuck_check_at = since, None
        return self._emit(Stuck(dossier_code=self.code, unit_code=self.unit_code,
                                last_step_at=self.last_action_at, at=since,
                                working_days=working_days))

    def clear_stuck(self, at: datetime) -> list[EventData]:
        """After a step: the watchdog counts again from it; a stuck dossier is no longer."""
        self.stuck_check_at = None
        if self.stuck_flagged_at is None:
            return []
        # Never before the flag: a step back-dated into the stuck spell still ends it after
        # the flag, in the time order every consumer folds events by.
        flagged, self.stuck_flagged_at = self.stuck_flagged_at, None
        return self._emit(Unstuck(dossier_code=self.code, at=max(at, flagged, self.received_at)))

    def flag_if_overdue(self, now: datetime) -> list[EventData]:
        """The watchdog's notice, once, when the due time has passed unresolved."""
        if self.state not in CLOCK_RUNNING or self.overdue_sent_at or now <= self.due_at:
            return []
        self.overdue_sent_at = now
        return self._emit(Overdue(dossier_code=self.code, due_at=self.due_at, at=self.due_at))


def stuck_from(last_step: datetime, working_days: int, cal: WorkingCalendar,
               tz: tzinfo) -> datetime:
    """When a dossier whose last step was at ``last_step`` is stuck: at the end (local
    midnight) of the ``working_days``-th working day after that step's day, so that that many
    whole working days went by with no step. A step on Friday with 2 days: stuck from
    Wednesday 00:00 (Monday and Tuesday passed), not on Tuesday evening."""
    day = last_step.astimezone(tz).date()
    return datetime.combine(cal.add_working_days(day, working_days) + timedelta(days=1),
                            time(0), tz)


def _due_soon_at(deadline: datetime, received_at: datetime, policy: OfficePolicy) -> datetime:
    """The watchdog warns when the day of the apology deadline opens, so that a timely
    apology is still possible that day."""
    local = deadline.astimezone(policy.tz)
    opens = local.replace(hour=policy.office_open.hour, minute=policy.office_open.minute,
                          second=0, microsecond=0)
    return min(max(opens, received_at), deadline)


DOSSIER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Dossier))
