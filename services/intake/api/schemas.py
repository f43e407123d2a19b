"""Request and response bodies of the intake API."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.intake.domain.applicant import Applicant
from shared.events import Channel, MaskedApplicant, OnlineMode, PopulationData, ReturnMethod
from shared.notifications import Preference
from shared.rulebook import UNIT_CODE
from shared.status import Status
from shared.textbounds import PersonName, PlainText, WebUrl
from shared.timebounds import AwareMoment, LocalTime

REF = r"^[A-Za-z0-9._:/\-]{1,100}$"


class DocumentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PersonName = Field(min_length=1, max_length=300)
    copies: int = Field(default=1, ge=1, le=100)
    url: WebUrl | None = Field(default=None, max_length=1000, description="http(s) only")
    digitised: bool = Field(default=False, description="the component was digitised at intake")
    reused: bool = Field(default=False, description="taken from data digitised before (the "
                         "citizen's store or an earlier dossier), not submitted again")


class NotifyChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Preference = Field(default="auto", description=(
        "auto: e-mail if the applicant gave one, else SMS to the phone; email, sms or zalo "
        "(Zalo ZNS, to the phone): that one, falling back to auto without its contact; "
        "none: no notification (opted out)"))


class FilingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "unit_code": "H26.01", "procedure_code": "2.000488", "channel": "online",
        "return_method": "postal", "external_ref": "DVC-2026-000123",
        "applicant": {"kind": "citizen", "full_name": "Nguyễn Văn An",
                      "id_number": "031203004567", "phone": "0912 345 678",
                      "address": "12 Lạch Tray, Ngô Quyền, Hải Phòng"},
        "documents": [{"name": "Tờ khai cấp phiếu lý lịch tư pháp", "copies": 1,
                       "url": "https://dichvucong.example.vn/files/123"}]}]})
    unit_code: str = Field(pattern=UNIT_CODE, max_length=32,
                           description="the competent unit, which resolves the dossier")
    receiving_unit: str | None = Field(
        default=None, pattern=UNIT_CODE, max_length=32,
        description="the desk that receives it, where it is not the competent unit's own "
                    "(filing regardless of administrative boundaries; the procedure's "
                    "filing_desks say which desks may)")
    procedure_code: str = Field(pattern=r"^[A-Za-z0-9.\-]{1,32}$")
    channel: Channel
    return_method: ReturnMethod = "counter"
    applicant: Applicant
    external_ref: str | None = Field(default=None, pattern=REF,
                                     description="the portal's own reference; filing is idempotent on it")
    received_at: AwareMoment | None = Field(
        default=None, description="importer role only: the receipt time in the legacy system")
    documents: list[DocumentRef] = Field(default_factory=list, max_length=100)
    note: PlainText | None = Field(default=None, max_length=2000)
    online_mode: OnlineMode | None = Field(default=None, description=(
        "online filings only: through the whole process (toàn trình) or in part"))
    population_data: PopulationData | None = Field(default=None, description=(
        "the applicant signed in with VNeID, or their data was looked up in the national "
        "population database"))
    notify: NotifyChoice | None = Field(default=None, description=(
        "how the applicant is told of the dossier's steps (docs/rules/notifications.md); "
        "default auto (none for an importer's back-filled dossier)"))


class Receipt(BaseModel):
    """Form 01 (giấy tiếp nhận hồ sơ và hẹn trả kết quả) as data."""

    code: str
    unit_code: str = Field(description="the competent unit")
    unit_name: str
    receiving_unit: str = Field(description="the desk that received it")
    receiving_unit_name: str
    procedure_code: str
    procedure_name: str
    channel: Channel
    return_method: ReturnMethod
    filed_at: LocalTime
    received_at: LocalTime | None = Field(description="null while a postal filing is in transit")
    counted_from: LocalTime | None
    due_at: LocalTime | None
    processing_days: int
    fee: int
    pin: str = Field(description="printed on the receipt; needed to rate the service")
    status: Status
    rulebook: str
    replayed: bool = Field(default=False, description="true when an idempotent retry found it")


class SupplementRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentRef] = Field(min_length=1, max_length=100)
    note: PlainText | None = Field(default=None, max_length=2000)
    at: AwareMoment | None = Field(default=None, description="importer role only")


class WithdrawRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: PlainText | None = Field(default=None, max_length=2000)
    at: AwareMoment | None = Field(default=None, description="importer role only")


class NotificationEntry(BaseModel):
    id: str = Field(description="ntf_…: the e-mail's Message-ID, the SMS client_ref, the "
                                "Zalo tracking_id, the same on every try")
    kind: str = Field(description="the step told of (dossier.received, ...)")
    channel: Literal["email", "sms", "zalo"] | None = Field(
        description="null when skipped with no channel (opted out, no contact)")
    address: str | None = Field(description="masked: n***@example.vn, 09******78")
    status: Literal["pending", "sent", "failed", "skipped"]
    attempts: int
    created_at: LocalTime
    next_attempt_at: LocalTime | None = Field(description="while pending: the next try")
    last_attempt_at: LocalTime | None
    last_error: str | None = Field(description="why the last try failed, or why skipped")
    sent_at: LocalTime | None


class NotificationsView(BaseModel):
    preference: Preference
    items: list[NotificationEntry] = Field(description="oldest first")


class TimelineEntry(BaseModel):
    at: LocalTime
    type: str
    source: str
    detail: dict[str, Any]


class DossierView(BaseModel):
    code: str
    unit_code: str = Field(description="the competent unit at filing")
    current_unit: str = Field(description="the competent unit now (transfers move it)")
    receiving_unit: str = Field(description="the desk that received it")
    procedure_code: str
    channel: Channel
    return_method: ReturnMethod
    status: Status
    filed_at: LocalTime
    received_at: LocalTime | None
    counted_from: LocalTime | None
    due_at: LocalTime | None
    appointment_at: LocalTime | None
    processing_days: int
    applicant: MaskedApplicant
    external_ref: str | None
    rulebook: str
    documents: list[DocumentRef] = Field(description="the documents listed at filing")
    note: str | None = None
    online_mode: OnlineMode | None = None
    population_data: PopulationData | None = None
    timeline: list[TimelineEntry] = Field(description="the latest entries, in time order")
    timeline_total: int = Field(description="entries in all (more than shown when over the "
                                            "timeline_limit)")


class DossierChange(BaseModel):
    """A dossier as it is after its latest change."""

    code: str
    external_ref: str | None
    unit_code: str
    current_unit: str
    receiving_unit: str
    procedure_code: str
    channel: Channel
    status: Status
    status_at: LocalTime
    received_at: LocalTime | None
    due_at: LocalTime | None
    appointment_at: LocalTime | None


class ChangesPage(BaseModel):
    items: list[DossierChange] = Field(description="in change order; a dossier changed again "
                                                   "later appears again on a later page")
    next: str = Field(description="the cursor to send as changed_since for the next page "
                                  "(also when the page is empty: keep it, and ask again later)")
    more: bool = Field(description="whether the next page is known to have items already")


class UnitView(BaseModel):
    code: str
    name: str
    parent: str | None
    block: str
    cutoff: str
    merged_into: str | None = Field(default=None, description="the unit that replaced this "
                                    "one in a merger: it receives no filing from merged_on")
    merged_on: date | None = None


class ProcedureView(BaseModel):
    code: str
    name: str
    field: str
    processing_days: int
    fee: int
    postal_filing: bool
    postal_return: bool
    level: str
    units: list[str] = Field(description="the competent units, which resolve it")
    filing_desks: Literal["province", "competent"] | list[str] = Field(
        description="the desks that may receive it: any in the province, the competent "
                    "units' own, or these units (besides the competent ones)")
