"""A dossier as intake keeps it: filed, received (at once, or at the courier's handover for
a postal filing), its status as portals see it, and the applicant's own changes
(supplements, withdrawal). Every status change goes through one table, ``STATUS_AFTER``,
whether the event is this service's own or another service's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.events import (
    ApologyIssued,
    DossierReceived,
    EventData,
    FiledByPost,
    MaskedApplicant,
    SupplementReceived,
    SupplementRequested,
    Transferred,
    Withdrawn,
)
from shared.refusals import FieldRefusal
from shared.status import FINISHED, STATUS_AFTER, TERMINAL, Status, next_status
from shared.workdays import (
    Deadline,
    OfficePolicy,
    WorkingCalendar,
    due_after_supplement,
    due_date,
)


class StatusRefused(Exception):
    """The applicant's change is not possible in the dossier's current status (409)."""

    def __init__(self, message: str, status: Status) -> None:
        super().__init__(message)
        self.status = status


class TimeRefused(FieldRefusal):
    """A time that would come before the dossier's own history (422 on ``field``)."""

    field: str

    def __init__(self, message: str, field: str = "at") -> None:
        super().__init__(message, field)


@dataclass
class Dossier:
    code: str
    unit_code: str
    current_unit: str
    procedure_code: str
    channel: str
    return_method: str
    filed_at: datetime
    received_at: datetime | None
    counted_from: datetime | None
    due_at: datetime | None
    processing_days: int
    status: Status
    status_at: datetime
    applicant: dict[str, Any]  # personal data: this service's schema only, never an event
    applicant_masked: dict[str, Any]
    pin_digest: str
    portal_id: str
    request_hash: str
    rulebook: str
    external_ref: str | None = None
    idempotency_key: str | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    appointment_at: datetime | None = None
    supplement_requested_at: datetime | None = None
    online_mode: str | None = None  # what the national index counts (docs/rules/index766.md)
    population_data: str | None = None
    receiving_unit: str | None = None  # the desk that received it, when not unit_code's own

    @property
    def desk(self) -> str:
        """The unit whose desk received the dossier (and returns its result there)."""
        return self.receiving_unit or self.unit_code

    # ------------------------------------------------------------- filing and receipt
    def filed(self, deadline: Deadline | None) -> EventData:
        """The event of a new filing: received now, or (no deadline yet) on its way by post."""
        if deadline is None:
            self.status = "in_transit"
            return FiledByPost(dossier_code=self.code, unit_code=self.unit_code,
                               procedure_code=self.procedure_code,
                               return_method=self.return_method,
                               at=self.filed_at)
        return self._receive(self.filed_at, deadline,
                             "awaiting_receipt" if self.channel == "online" else "received")

    def hand_over(self, at: datetime, cal: WorkingCalendar,
                  policy: OfficePolicy) -> DossierReceived | None:
        """The courier handed a postal filing over at the desk: its legal receipt, now.
        None when it was received already (a repeated delivery report)."""
        if self.status != "in_transit":
            return None
        return self._receive(at, due_date(at, self.processing_days, cal, policy), "received")

    def _receive(self, at: datetime, deadline: Deadline, status: Status) -> DossierReceived:
        self.received_at, self.counted_from, self.due_at = at, deadline.counted_from, \
            deadline.due_at
        self.status, self.status_at = status, at
        return DossierReceived.model_validate({
            "dossier_code": self.code, "unit_code": self.unit_code,
            "receiving_unit": self.receiving_unit,
            "procedure_code": self.procedure_code, "channel": self.channel, "received_at": at,
            "counted_from": deadline.counted_from, "due_at": deadline.due_at,
            "processing_days": self.processing_days, "return_method": self.return_method,
            "applicant": MaskedApplicant.model_validate(self.applicant_masked),
            "rulebook": self.rulebook, "external_ref": self.external_ref,
            "online_mode": self.online_mode, "population_data": self.population_data,
            "documents_total": len(self.documents),
            "documents_digitised": sum(1 for d in self.documents if d.get("digitised")),
            "documents_reused": sum(1 for d in self.documents if d.get("reused"))})

    # ------------------------------------------------------------- the applicant's changes
    def hand_in_supplement(self, at: datetime, cal: WorkingCalendar,
                           policy: OfficePolicy) -> SupplementReceived:
        """The documents a supplement request asked for: the clock resumes and the due date
        moves by the working time it was paused (as processing computes it)."""
        if self.status != "awaiting_supplement" or self.due_at is None:
            raise StatusRefused(f"dossier {self.code} is not awaiting a supplement", self.status)
        requested = self.supplement_requested_at or at
        if at < requested:
            raise TimeRefused("must not be before the supplement request")
        event = SupplementReceived(dossier_code=self.code, received_at=at)
        self.status, self.status_at = STATUS_AFTER[event.event_type], at
        self.due_at = due_after_supplement(self.due_at, requested, at, self.processing_days,
                                           cal, policy)
        self.supplement_requested_at = None
        return event

    def withdraw(self, at: datetime, reason: str | None) -> Withdrawn:
        if self.status in FINISHED:
            raise StatusRefused(f"dossier {self.code} is already {self.status}", self.status)
        if at < self.filed_at:
            raise TimeRefused("must not be before the dossier was filed")
        event = Withdrawn(dossier_code=self.code, at=at, reason=reason)
        self.status, self.status_at = STATUS_AFTER[event.event_type], at
        return event

    # ------------------------------------------------------------- other services' events
    def apply(self, data: EventData) -> bool:
        """Processing's and postal's events: the status, the supplement request, a new
        appointment, the unit it moved to. Whether anything changed."""
        changed = self._move(data.event_type, data.occurred_at)
        if isinstance(data, SupplementRequested) and self.status == "awaiting_supplement" \
                and changed:
            self.supplement_requested_at = data.requested_at
        if isinstance(data, ApologyIssued):
            self.appointment_at, changed = data.new_due_at, True
        if isinstance(data, Transferred):
            self.current_unit, changed = data.to_unit, True
        return changed

    def _move(self, event_type: str, at: datetime) -> bool:
        new = next_status(self.status, self.status_at, event_type, at)
        if new is None:
            if STATUS_AFTER.get(event_type) == self.status and self.status not in TERMINAL \
                    and at > self.status_at:
                # The same status again, later: an earlier event heard after this one (from
                # another topic) must not move it back.
                self.status_at = at
                return True
            return False
        self.status, self.status_at = new, at
        return True
