"""What the connector knows of a dossier, from the events of intake, processing and postal:
the fields the national portal's documents need (no personal data: the applicant is looked
up at sending time, docs/decisions/0011), a version that every change raises, and the
processing steps in order. The status follows the portals' table (shared/status.py), so
events arriving out of order across topics give the same result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.events import (
    ApologyIssued,
    Delivered,
    DossierReceived,
    EventData,
    FiledByPost,
    Paid,
    PaymentRequested,
    Rejected,
    Resolved,
    ResultReturned,
    Stopped,
    SupplementReceived,
    SupplementRequested,
    Transferred,
    Withdrawn,
)
from shared.status import STATUS_AFTER, TERMINAL, next_status

# What each step is called on the national portal's progress (NoiDungXuLy).
STEP_TEXT: dict[str, str] = {
    "dossier.received": "Tiếp nhận hồ sơ",
    "dossier.accepted": "Chuyển xử lý hồ sơ",
    "dossier.transferred": "Chuyển hồ sơ liên thông",
    "dossier.supplement_requested": "Yêu cầu bổ sung hồ sơ",
    "dossier.supplement_received": "Tiếp nhận hồ sơ bổ sung",
    "dossier.payment_requested": "Yêu cầu thực hiện nghĩa vụ tài chính",
    "dossier.paid": "Đã thực hiện nghĩa vụ tài chính",
    "dossier.apology_issued": "Xin lỗi và hẹn lại ngày trả kết quả",
    "dossier.resolved": "Đã giải quyết xong",
    "dossier.rejected": "Từ chối giải quyết",
    "dossier.stopped": "Dừng xử lý hồ sơ",
    "dossier.withdrawn": "Công dân rút hồ sơ",
    "dossier.result_returned": "Trả kết quả",
}


@dataclass
class Supplement:
    requested_at: str
    requested_by: str
    reason: str
    due_before: str | None
    received_at: str | None = None
    due_after: str | None = None


@dataclass
class Step:
    seq: int
    event_id: str
    kind: str
    at: str
    by: str
    unit_code: str
    status: str
    due_at: str | None
    detail: str | None = None


@dataclass
class SyncDossier:
    code: str
    unit_code: str = ""
    current_unit: str = ""
    procedure_code: str = ""
    processing_days: int = 0
    channel: str = ""
    return_method: str = "counter"
    external_ref: str | None = None
    filed_at: str | None = None
    received_at: str | None = None
    due_at: str | None = None
    appointment_at: str | None = None
    status: str = "received"
    status_at: str | None = None
    ended_at: str | None = None
    returned_at: str | None = None
    result_ref: str | None = None
    electronic_result_ref: str | None = None
    paid_online: bool = False
    digitised: bool = False
    vneid: bool = False
    supplements: list[Supplement] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # event ids applied (a redelivery is a no-op)
    unmatched_receipts: list[str] = field(default_factory=list)  # supplements before requests
    version: int = 0

    @property
    def known(self) -> bool:
        """Whether its filing was heard of: before that there is nothing to send."""
        return bool(self.unit_code)

    # ------------------------------------------------------------- events
    def apply(self, event_id: str, source: str, data: EventData) -> bool:
        """Apply another service's event; whether the dossier changed (its version rose)."""
        if event_id in self.seen:
            return False
        self.seen.append(event_id)
        at = data.occurred_at
        self._fields(data)
        moved = next_status(self._status(), _parse(self.status_at), data.event_type, at)
        if moved is not None:
            self.status, self.status_at = moved, at.isoformat()
        elif STATUS_AFTER.get(data.event_type) == self.status and self.status not in TERMINAL \
                and at > _parse(self.status_at):
            # The status again, later: an earlier event heard after this must not move it.
            self.status_at = at.isoformat()
        if data.event_type in STEP_TEXT and not isinstance(data, FiledByPost | Delivered):
            self.steps.append(Step(
                seq=len(self.steps) + 1, event_id=event_id, kind=data.event_type,
                at=at.isoformat(), by=_actor(data, source), unit_code=self.current_unit,
                status=moved or self.status, due_at=self.appointment_at or self.due_at,
                detail=_detail(data)))
        self.version += 1
        return True

    def _status(self) -> Any:
        return self.status

    def _fields(self, data: EventData) -> None:
        if isinstance(data, FiledByPost):
            self.unit_code = self.unit_code or data.unit_code
            self.current_unit = self.current_unit or data.unit_code
            self.procedure_code, self.channel = data.procedure_code, "postal"
            self.filed_at, self.return_method = data.at.isoformat(), data.return_method
            if self.status_at is None:
                self.status, self.status_at = STATUS_AFTER[data.event_type], data.at.isoformat()
        elif isinstance(data, DossierReceived):
            self.unit_code = data.unit_code
            self.current_unit = self.current_unit or data.unit_code
            self.procedure_code, self.channel = data.procedure_code, data.channel
            self.return_method, self.external_ref = data.return_method, data.external_ref
            self.received_at, self.due_at = data.received_at.isoformat(), data.due_at.isoformat()
            self.processing_days = data.processing_days
            self.filed_at = self.filed_at or self.received_at
            self.vneid = data.population_data == "vneid"
            self.digitised = data.documents_digitised > 0
        elif isinstance(data, Transferred):
            self.current_unit = data.to_unit
        elif isinstance(data, SupplementRequested):
            asked = Supplement(requested_at=data.requested_at.isoformat(),
                               requested_by=data.requested_by, reason=data.reason,
                               due_before=self.appointment_at or self.due_at)
            # A receipt heard before its request (intake's topic ahead of processing's).
            early = sorted(r for r in self.unmatched_receipts if r >= asked.requested_at)
            if early:
                asked.received_at = early[0]
                self.unmatched_receipts.remove(early[0])
            self.supplements.append(asked)
            self.supplements.sort(key=lambda x: x.requested_at)
        elif isinstance(data, SupplementReceived):
            waiting = next((s for s in self.supplements if s.received_at is None), None)
            if waiting is not None:
                waiting.received_at = data.received_at.isoformat()
            else:
                self.unmatched_receipts.append(data.received_at.isoformat())
        elif isinstance(data, ApologyIssued):
            self.appointment_at = data.new_due_at.isoformat()
        elif isinstance(data, Paid):
            self.paid_online = self.paid_online or data.via in ("national_platform",
                                                                "provincial_platform")
        elif isinstance(data, Resolved):
            self.ended_at = self.ended_at or data.resolved_at.isoformat()
            self.result_ref, self.electronic_result_ref = data.result_ref, \
                data.electronic_result_ref
            if data.return_method:
                self.return_method = data.return_method
        elif isinstance(data, Rejected | Stopped | Withdrawn):
            self.ended_at = self.ended_at or data.at.isoformat()
        elif isinstance(data, ResultReturned):
            self.returned_at = self.returned_at or data.returned_at.isoformat()

    # ------------------------------------------------------------- storage
    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SyncDossier:
        d = cls(**{k: v for k, v in data.items() if k not in ("supplements", "steps")})
        d.supplements = [Supplement(**s) for s in data.get("supplements", [])]
        d.steps = [Step(**s) for s in data.get("steps", [])]
        return d


def _actor(data: EventData, source: str) -> str:
    for name in ("by", "requested_by"):
        value = getattr(data, name, None)
        if isinstance(value, str) and value:
            return value
    return source


def _detail(data: EventData) -> str | None:
    for name in ("reason", "to_unit", "method"):
        value = getattr(data, name, None)
        if isinstance(value, str) and value:
            return value
    if isinstance(data, PaymentRequested | Paid):
        return str(data.amount)
    return None


def _parse(value: str | None) -> datetime:
    return datetime.fromisoformat(value) if value else datetime.min.replace(tzinfo=UTC)
