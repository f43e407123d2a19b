"""The event contract (docs/events.md): topic names, one pydantic model per event type, and the
CloudEvents 1.0 envelope in Kafka binary mode (attributes in ``ce_*`` headers, the JSON
``data`` as the message value, the dossier code as the key).

The binary-mode mapping is a dozen lines; it is written here rather than taken from the
``cloudevents`` SDK so that the data is validated straight into these models, with no
intermediate event type.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import orjson
from asyncpg.pgproto.pgproto import UUID as _FastUUID
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.clock import SYSTEM_CLOCK
from shared.masking import FreeText
from shared.timebounds import LocalAwareTime

SPEC_VERSION = "1.0"
SCHEMA_VERSION = "1.0"  # major.minor; a consumer refuses an unknown major version
CONTENT_TYPE = "application/json"

INTAKE_TOPIC = "intake.dossier-events.v1"
PROCESSING_TOPIC = "processing.dossier-events.v1"
POSTAL_TOPIC = "postal.shipment-events.v1"
FEEDBACK_TOPIC = "feedback.rating-events.v1"
METRICS_TOPIC = "metrics.unit-snapshots.v1"
NATIONAL_PORTAL_TOPIC = "national-portal.sync-events.v1"
COMPLAINTS_TOPIC = "feedback.complaint-events.v1"
# Every topic the services publish on (complaints are keyed by their own code, not a dossier's).
ALL_DOSSIER_TOPICS = (INTAKE_TOPIC, PROCESSING_TOPIC, POSTAL_TOPIC, FEEDBACK_TOPIC,
                      NATIONAL_PORTAL_TOPIC, COMPLAINTS_TOPIC)


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


Channel = Literal["counter", "online", "postal"]
ReturnMethod = Literal["counter", "online", "postal"]
Direction = Literal["inbound", "outbound"]
Rating = Literal["very_satisfied", "satisfied", "unsatisfied"]
# What the national index (Decision 766) counts; every one optional, so that portals that
# do not send them keep working (docs/rules/index766.md).
OnlineMode = Literal["whole", "partial"]  # online through the whole process (toàn trình) or not
PopulationData = Literal["vneid", "lookup"]  # VNeID sign-in, or looked up in the population DB
PaymentChannel = Literal["national_platform", "provincial_platform", "desk"]
DossierCode = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9.\-_]+$")]
ComplaintCode = Annotated[str, Field(pattern=r"^PAKN-\d{6}-\d{4,6}$")]


class EventData(BaseModel):
    """Base of every event's ``data``. Unknown fields from a newer minor version are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    event_type: ClassVar[str]
    topic: ClassVar[str]

    dossier_code: DossierCode

    @property
    def key(self) -> str:
        return self.dossier_code

    @property
    def subject(self) -> str:
        """What the event is about (``ce_subject``): the dossier, or the complaint."""
        return self.dossier_code

    @property
    def occurred_at(self) -> datetime:
        """When the fact happened (business time, which an importer may set in the past)."""
        for name in _time_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, datetime):
                return value
        raise AttributeError(f"{type(self).__name__} has no time field")


_TIME_FIELDS = ("at", "received_at", "requested_at", "issued_at", "resolved_at", "returned_at")


@cache
def _time_fields(model: type[EventData]) -> tuple[str, ...]:
    """Which of ``_TIME_FIELDS`` the model declares, in that order (found once per model:
    the property is read for every event consumed, and asking a model for a field it does
    not have is slow)."""
    return tuple(name for name in _TIME_FIELDS if name in model.model_fields)


class MaskedApplicant(BaseModel):
    """The only form of an applicant that may leave the intake service."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["citizen", "organization"] = "citizen"
    name: str = Field(max_length=200, description="e.g. 'Nguyễn V. A.'")
    id_number: str = Field(max_length=32, description="e.g. '********1234'")
    phone: str | None = Field(default=None, max_length=32)


# ------------------------------------------------------------------ intake
class DossierReceived(EventData):
    event_type = "dossier.received"
    topic = INTAKE_TOPIC
    unit_code: str = Field(description="the competent unit: the one that resolves the dossier")
    receiving_unit: str | None = Field(
        default=None, description="the desk that received it, where it is not the competent "
                                  "unit's own (filing regardless of administrative boundaries)")
    procedure_code: str
    channel: Channel
    received_at: LocalAwareTime
    counted_from: LocalAwareTime
    due_at: LocalAwareTime
    processing_days: int = Field(ge=0)
    return_method: ReturnMethod
    applicant: MaskedApplicant
    rulebook: str
    external_ref: str | None = None
    online_mode: OnlineMode | None = Field(default=None, description="online filings: through "
                                           "the whole process (toàn trình) or in part")
    population_data: PopulationData | None = Field(
        default=None, description="the applicant signed in with VNeID, or was looked up in the "
                                  "national population database")
    documents_total: int = Field(default=0, ge=0, description="components listed at filing")
    documents_digitised: int = Field(default=0, ge=0, description="of them, digitised")
    documents_reused: int = Field(default=0, ge=0, description="of them, taken from data "
                                  "digitised before (not submitted again)")


class FiledByPost(EventData):
    """A dossier the applicant sends by post: the courier will pick it up; its legal receipt
    is the handover at the desk (an event added for the postal service; docs/events.md)."""

    event_type = "dossier.filed_by_post"
    topic = INTAKE_TOPIC
    unit_code: str
    procedure_code: str
    return_method: ReturnMethod
    at: LocalAwareTime


class SupplementReceived(EventData):
    event_type = "dossier.supplement_received"
    topic = INTAKE_TOPIC
    received_at: LocalAwareTime


class Withdrawn(EventData):
    event_type = "dossier.withdrawn"
    topic = INTAKE_TOPIC
    at: LocalAwareTime
    reason: FreeText | None = None


# ------------------------------------------------------------------ processing
class Accepted(EventData):
    """An officer took the dossier into processing (an event added for portals; docs/events.md)."""

    event_type = "dossier.accepted"
    topic = PROCESSING_TOPIC
    at: LocalAwareTime
    by: str


class SupplementRequested(EventData):
    event_type = "dossier.supplement_requested"
    topic = PROCESSING_TOPIC
    requested_at: LocalAwareTime
    reason: FreeText
    requested_by: str


class Transferred(EventData):
    event_type = "dossier.transferred"
    topic = PROCESSING_TOPIC
    from_unit: str
    to_unit: str
    at: LocalAwareTime


class PaymentRequested(EventData):
    event_type = "dossier.payment_requested"
    topic = PROCESSING_TOPIC
    amount: Decimal = Field(ge=0)
    at: LocalAwareTime


class Paid(EventData):
    event_type = "dossier.paid"
    topic = PROCESSING_TOPIC
    amount: Decimal = Field(ge=0)
    at: LocalAwareTime
    via: PaymentChannel | None = Field(default=None, description="paid online on the national "
                                       "or the provincial payment platform, or at the desk")


class ApologyIssued(EventData):
    event_type = "dossier.apology_issued"
    topic = PROCESSING_TOPIC
    issued_at: LocalAwareTime
    reason: FreeText
    original_due_at: LocalAwareTime
    new_due_at: LocalAwareTime
    timely: bool = Field(description="issued no later than the apology deadline")


class DueSoon(EventData):
    event_type = "dossier.due_soon"
    topic = PROCESSING_TOPIC
    due_at: LocalAwareTime
    at: LocalAwareTime


class Overdue(EventData):
    event_type = "dossier.overdue"
    topic = PROCESSING_TOPIC
    due_at: LocalAwareTime
    at: LocalAwareTime


class Stuck(EventData):
    """An open dossier with no step for the rulebook's working days (hồ sơ treo): flagged to
    its unit's leaders (an event added for the watchdog; docs/events.md)."""

    event_type = "dossier.stuck"
    topic = PROCESSING_TOPIC
    unit_code: str
    last_step_at: LocalAwareTime
    at: LocalAwareTime = Field(description="stuck from then: the end of the last of the "
                                           "working days that passed without a step")
    working_days: int = Field(ge=1)


class Unstuck(EventData):
    """The first step on a stuck dossier: it is no longer stuck."""

    event_type = "dossier.unstuck"
    topic = PROCESSING_TOPIC
    at: LocalAwareTime


class Resolved(EventData):
    event_type = "dossier.resolved"
    topic = PROCESSING_TOPIC
    resolved_at: LocalAwareTime
    outcome: Literal["approved"] = "approved"
    result_ref: FreeText | None = None
    return_method: ReturnMethod | None = None
    electronic_result_ref: FreeText | None = Field(
        default=None, description="the reference of the electronic result issued, if one was")
    result_digitised: bool = Field(default=False, description="the result was digitised")
    shared_to_citizen: bool = Field(default=False, description="the result was pushed to the "
                                    "citizen's data store")


class Rejected(EventData):
    event_type = "dossier.rejected"
    topic = PROCESSING_TOPIC
    at: LocalAwareTime
    reason: FreeText


class Stopped(EventData):
    event_type = "dossier.stopped"
    topic = PROCESSING_TOPIC
    at: LocalAwareTime
    reason: FreeText


class ResultReturned(EventData):
    """Emitted by processing (desk, online) or postal (handover to the courier)."""

    event_type = "dossier.result_returned"
    topic = PROCESSING_TOPIC
    returned_at: LocalAwareTime
    method: ReturnMethod


class PostalResultReturned(ResultReturned):
    topic = POSTAL_TOPIC


# ------------------------------------------------------------------ postal
class _ShipmentEvent(EventData):
    topic = POSTAL_TOPIC
    shipment_id: str
    direction: Direction
    at: LocalAwareTime


class ShipmentCreated(_ShipmentEvent):
    event_type = "postal.shipment_created"


class PickedUp(_ShipmentEvent):
    event_type = "postal.picked_up"


class Delivered(_ShipmentEvent):
    event_type = "postal.delivered"


class DeliveryFailed(_ShipmentEvent):
    event_type = "postal.delivery_failed"
    attempt: int = Field(ge=1)
    reason: FreeText | None = None
    returned_to_desk: bool = False


# ------------------------------------------------------------------ feedback
class SipasScores(BaseModel):
    """The five SIPAS factors, 1–5 each."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    access: int = Field(ge=1, le=5)
    procedure: int = Field(ge=1, le=5)
    civil_servant: int = Field(ge=1, le=5)
    result: int = Field(ge=1, le=5)
    feedback_handling: int = Field(ge=1, le=5)


class CriteriaScores(BaseModel):
    """Optional detail of a rating: the nine Decree 61 indicators (0–2) and SIPAS."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    decree61: Annotated[
        list[Annotated[int, Field(ge=0, le=2)]], Field(min_length=9, max_length=9)
    ] | None = None
    sipas: SipasScores | None = None


class FeedbackSubmitted(EventData):
    event_type = "feedback.submitted"
    topic = FEEDBACK_TOPIC
    unit_code: str
    rating: Rating
    criteria: CriteriaScores | None = None
    comment: FreeText | None = Field(default=None, max_length=2000, description="masked")
    at: LocalAwareTime


class NationalPortalSynced(EventData):
    """The national portal accepted the dossier's document at this version (and its steps)."""

    event_type = "national_portal.synced"
    topic = NATIONAL_PORTAL_TOPIC
    unit_code: str
    version: int = Field(ge=1)
    at: LocalAwareTime


class NationalPortalRefused(EventData):
    """The national portal refused the dossier's document at this version; it is kept and
    shown to operators until it is resent."""

    event_type = "national_portal.refused"
    topic = NATIONAL_PORTAL_TOPIC
    unit_code: str
    version: int = Field(ge=1)
    error_code: str = Field(max_length=64)
    error_text: FreeText = Field(max_length=1000, description="masked")
    at: LocalAwareTime


# ------------------------------------------------------------------ complaints (PAKN)
ComplaintCategory = Literal["procedure", "conduct", "other"]


class ComplaintEvent(EventData):
    """A step of a complaint (docs/rules/complaints.md), keyed by the complaint's code; the
    dossier it is about, if any. Nothing of the complainant travels."""

    topic = COMPLAINTS_TOPIC
    complaint_code: ComplaintCode
    dossier_code: DossierCode | None = None  # type: ignore[assignment]  # a complaint may be about none
    unit_code: str

    @property
    def key(self) -> str:
        return self.complaint_code

    @property
    def subject(self) -> str:
        return self.complaint_code


class ComplaintSubmitted(ComplaintEvent):
    """A complaint received, with its deadlines (office close of their working days)."""

    event_type = "complaint.submitted"
    category: ComplaintCategory
    via: Literal["portal", "desk", "hotline"]
    received_at: LocalAwareTime
    refuse_by: LocalAwareTime
    request_info_by: LocalAwareTime
    answer_by: LocalAwareTime
    repeat_of: ComplaintCode | None = Field(default=None, description="the first complaint "
                                            "about the same matter")


class ComplaintClassified(ComplaintEvent):
    """Classified again (and possibly given to another unit: ``unit_code`` is the new one)."""

    event_type = "complaint.classified"
    category: ComplaintCategory
    at: LocalAwareTime


class ComplaintRefused(ComplaintEvent):
    """Refused as out of scope."""

    event_type = "complaint.refused"
    at: LocalAwareTime
    reason: FreeText = Field(max_length=2000, description="masked")
    refuse_by: LocalAwareTime


class ComplaintInfoRequested(ComplaintEvent):
    """More information asked of the citizen: the clock stands still until it comes."""

    event_type = "complaint.info_requested"
    at: LocalAwareTime
    what: FreeText = Field(max_length=2000, description="masked")
    request_info_by: LocalAwareTime


class ComplaintInfoReceived(ComplaintEvent):
    """The citizen's information arrived; the answer's deadline moved by the pause."""

    event_type = "complaint.info_received"
    at: LocalAwareTime
    answer_by: LocalAwareTime


class ComplaintAnswered(ComplaintEvent):
    """Answered; the answer is due to be published by ``publish_by``."""

    event_type = "complaint.answered"
    at: LocalAwareTime
    answer_by: LocalAwareTime
    publish_by: LocalAwareTime


class ComplaintPublished(ComplaintEvent):
    """The answer published (readable by anyone, without personal data)."""

    event_type = "complaint.published"
    at: LocalAwareTime
    publish_by: LocalAwareTime


class ComplaintReacted(ComplaintEvent):
    """The citizen accepted or disliked the reply."""

    event_type = "complaint.reacted"
    at: LocalAwareTime
    reaction: Literal["accepted", "disliked"]


class ComplaintRepeated(ComplaintEvent):
    """A later complaint about the same matter was linked to this one."""

    event_type = "complaint.repeated"
    at: LocalAwareTime
    repeated_by: ComplaintCode


class ComplaintOverdue(ComplaintEvent):
    """The step awaited from the officers (the answer, or its publication) fell due."""

    event_type = "complaint.overdue"
    at: LocalAwareTime
    step: Literal["answer", "publish"]


EVENT_MODELS: tuple[type[EventData], ...] = (
    DossierReceived,
    FiledByPost,
    SupplementReceived,
    Withdrawn,
    Accepted,
    SupplementRequested,
    Transferred,
    PaymentRequested,
    Paid,
    ApologyIssued,
    DueSoon,
    Overdue,
    Stuck,
    Unstuck,
    Resolved,
    Rejected,
    Stopped,
    ResultReturned,
    ShipmentCreated,
    PickedUp,
    Delivered,
    DeliveryFailed,
    FeedbackSubmitted,
    NationalPortalSynced,
    NationalPortalRefused,
    ComplaintSubmitted,
    ComplaintClassified,
    ComplaintRefused,
    ComplaintInfoRequested,
    ComplaintInfoReceived,
    ComplaintAnswered,
    ComplaintPublished,
    ComplaintReacted,
    ComplaintRepeated,
    ComplaintOverdue,
)
# The same type may travel on more than one topic (result_returned: processing or postal).
_BY_TYPE: dict[str, type[EventData]] = {m.event_type: m for m in EVENT_MODELS}


def model_for(event_type: str) -> type[EventData] | None:
    return _BY_TYPE.get(event_type)


E = TypeVar("E", bound=EventData)


@dataclass(frozen=True)
class Envelope(Generic[E]):
    """A CloudEvent whose ``data`` is one of the models above."""

    data: E
    source: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime = field(default_factory=SYSTEM_CLOCK.now)  # ce_time: when it was written
    schemaversion: str = SCHEMA_VERSION
    # The data as read from the message (JSON, already validated into ``data``): a consumer
    # that stores it keeps it without dumping the model again.
    payload: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def data_json(self) -> dict[str, Any]:
        """The data as JSON: as read, or dumped from the model."""
        return self.payload if self.payload is not None else self.data.model_dump(mode="json")

    @property
    def type(self) -> str:
        return self.data.event_type

    @property
    def subject(self) -> str:
        return self.data.subject

    @property
    def key(self) -> str:
        return self.data.key


class PoisonMessage(Exception):
    """A message that cannot be turned into a valid event; it belongs on the dead-letter topic."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def encode_data(data: EventData) -> bytes:
    return orjson.dumps(data.model_dump(mode="json"))


def to_headers(env: Envelope[Any]) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", str(env.id).encode()),
        ("ce_type", env.type.encode()),
        ("ce_source", env.source.encode()),
        ("ce_time", env.time.astimezone(UTC).isoformat().replace("+00:00", "Z").encode()),
        ("ce_subject", env.subject.encode()),
        ("ce_schemaversion", env.schemaversion.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]


def to_kafka(env: Envelope[Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) for a producer."""
    return env.key.encode(), encode_data(env.data), to_headers(env)


def from_kafka(headers: Sequence[tuple[str, bytes]], value: bytes | None) -> Envelope[EventData]:
    """Decode and validate a message; raises :class:`PoisonMessage` with the reason."""
    attrs: dict[str, str] = {}
    try:
        for name, raw in headers:
            if name.startswith("ce_") or name == "content-type":
                attrs[name] = raw.decode()
    except UnicodeDecodeError as exc:
        raise PoisonMessage("undecodable", f"header is not UTF-8: {exc}") from exc
    for required in ("ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time"):
        if required not in attrs:
            raise PoisonMessage("invalid-envelope", f"missing header {required}")
    if attrs["ce_specversion"] != SPEC_VERSION:
        raise PoisonMessage("invalid-envelope", f"unsupported specversion {attrs['ce_specversion']}")
    version = attrs.get("ce_schemaversion", SCHEMA_VERSION)
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise PoisonMessage("unknown-version", f"schema version {version} of {attrs['ce_type']}")
    model = model_for(attrs["ce_type"])
    if model is None:
        raise PoisonMessage("unknown-type", f"event type {attrs['ce_type']!r}")
    try:
        # asyncpg's UUID, a uuid.UUID in C: parsed eight times faster, and the one asyncpg
        # gives back from PostgreSQL, so the ids of a batch compare and hash alike.
        event_id: uuid.UUID = _FastUUID(attrs["ce_id"])
        time = datetime.fromisoformat(attrs["ce_time"])  # "Z" is read as UTC
    except ValueError as exc:
        raise PoisonMessage("invalid-envelope", str(exc)) from exc
    if time.tzinfo is None:
        raise PoisonMessage("invalid-envelope", "ce_time has no timezone")
    if value is None:
        raise PoisonMessage("undecodable", "empty value")
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PoisonMessage("undecodable", f"value is not JSON: {exc}") from exc
    try:
        data = model.model_validate(payload)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise PoisonMessage("schema-violation", errors) from exc
    subject = attrs.get("ce_subject")
    if subject is not None and subject != data.subject:
        raise PoisonMessage("invalid-envelope", "ce_subject differs from the data's subject")
    return Envelope(data=data, source=attrs["ce_source"], id=event_id, time=time,
                    schemaversion=version, payload=payload if isinstance(payload, dict) else None)
