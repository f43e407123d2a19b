"""Every event model round-trips through Kafka headers and value (docs/events.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest

from shared import events as ev
from shared.events import Envelope, PoisonMessage, from_kafka, to_kafka

T = datetime(2026, 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=7)))
CODE = "H26.01-261123-0001"
COMMON: dict[str, Any] = {"dossier_code": CODE}
SAMPLES: dict[type[ev.EventData], dict[str, Any]] = {
    ev.DossierReceived: dict(unit_code="H26.01", procedure_code="1.001234", channel="postal",
                             received_at=T, counted_from=T, due_at=T + timedelta(days=3),
                             processing_days=3, return_method="postal", rulebook="2026.11-1",
                             applicant=ev.MaskedApplicant(name="Nguyễn V. A.",
                                                          id_number="*********123")),
    ev.FiledByPost: dict(unit_code="H26.01", procedure_code="1.001234", return_method="postal",
                         at=T),
    ev.SupplementReceived: dict(received_at=T),
    ev.Withdrawn: dict(at=T, reason="applicant request"),
    ev.Accepted: dict(at=T, by="officer-7"),
    ev.SupplementRequested: dict(requested_at=T, reason="thiếu bản sao", requested_by="officer-7"),
    ev.Transferred: dict(from_unit="H26.01", to_unit="H26.02", at=T),
    ev.PaymentRequested: dict(amount=Decimal("200000"), at=T),
    ev.Paid: dict(amount=Decimal("200000"), at=T),
    ev.ApologyIssued: dict(issued_at=T, reason="cần xác minh", original_due_at=T,
                           new_due_at=T + timedelta(days=5), timely=True),
    ev.DueSoon: dict(due_at=T, at=T),
    ev.Overdue: dict(due_at=T, at=T),
    ev.Stuck: dict(unit_code="H26.01", last_step_at=T - timedelta(days=9), at=T,
                   working_days=5),
    ev.Unstuck: dict(at=T),
    ev.Resolved: dict(resolved_at=T, result_ref="QD-123", return_method="counter"),
    ev.Rejected: dict(at=T, reason="không đủ điều kiện"),
    ev.Stopped: dict(at=T, reason="applicant died"),
    ev.ResultReturned: dict(returned_at=T, method="counter"),
    ev.ShipmentCreated: dict(shipment_id="S1", direction="inbound", at=T),
    ev.PickedUp: dict(shipment_id="S1", direction="inbound", at=T),
    ev.Delivered: dict(shipment_id="S1", direction="outbound", at=T),
    ev.DeliveryFailed: dict(shipment_id="S1", direction="outbound", at=T, attempt=2,
                            returned_to_desk=True),
    ev.FeedbackSubmitted: dict(unit_code="H26.01", rating="very_satisfied", at=T,
                               criteria=ev.CriteriaScores(
                                   decree61=[2, 2, 1, 2, 2, 2, 2, 1, 2],
                                   sipas=ev.SipasScores(access=5, procedure=4, civil_servant=5,
                                                        result=4, feedback_handling=3))),
    ev.NationalPortalSynced: dict(unit_code="H26.01", version=3, at=T),
    ev.NationalPortalRefused: dict(unit_code="H26.01", version=3, at=T, error_code="E17",
                                   error_text="Mã thủ tục không khớp, gọi 0912345678"),
    # Complaints are keyed by their own code (COMPLAINT below), about a dossier or none.
    ev.ComplaintSubmitted: dict(unit_code="H26.01", category="conduct", via="hotline",
                                received_at=T, refuse_by=T, request_info_by=T, answer_by=T,
                                repeat_of="PAKN-261120-0007"),
    ev.ComplaintClassified: dict(unit_code="H26.02", category="procedure", at=T),
    ev.ComplaintRefused: dict(unit_code="H26.01", at=T, reason="ngoài phạm vi", refuse_by=T),
    ev.ComplaintInfoRequested: dict(unit_code="H26.01", at=T, what="bản sao giấy hẹn",
                                    request_info_by=T),
    ev.ComplaintInfoReceived: dict(unit_code="H26.01", at=T, answer_by=T),
    ev.ComplaintAnswered: dict(unit_code="H26.01", at=T, answer_by=T, publish_by=T),
    ev.ComplaintPublished: dict(unit_code="H26.01", at=T, publish_by=T),
    ev.ComplaintReacted: dict(unit_code="H26.01", at=T, reaction="disliked"),
    ev.ComplaintRepeated: dict(unit_code="H26.01", at=T, repeated_by="PAKN-261123-0002"),
    ev.ComplaintOverdue: dict(unit_code="H26.01", at=T, step="publish"),
}
COMPLAINT = "PAKN-261123-0001"


def test_every_event_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(ev.EVENT_MODELS)


@pytest.mark.parametrize("model", ev.EVENT_MODELS, ids=lambda m: m.event_type)
def test_round_trip_through_headers_and_value(model: type[ev.EventData]) -> None:
    about = {"complaint_code": COMPLAINT} if issubclass(model, ev.ComplaintEvent) else {}
    data = model(**COMMON, **about, **SAMPLES[model])
    env = Envelope(data=data, source="processing")
    key, value, headers = to_kafka(env)
    h = dict(headers)
    subject = COMPLAINT if about else CODE
    assert key == subject.encode()
    assert h["ce_type"] == model.event_type.encode()
    assert h["ce_subject"] == subject.encode()
    assert h["ce_specversion"] == b"1.0"
    assert h["content-type"] == b"application/json"
    assert h["ce_time"].endswith(b"Z")
    back = from_kafka(headers, value)
    assert back.data == data
    assert back.id == env.id and back.source == "processing" and back.type == model.event_type
    assert back.time == env.time
    # Times keep their instant whatever zone they were written in.
    for name, field_value in data:
        if isinstance(field_value, datetime):
            assert getattr(back.data, name) == field_value


def _headers(**override: bytes) -> list[tuple[str, bytes]]:
    env = Envelope(data=ev.Overdue(dossier_code=CODE, due_at=T, at=T), source="processing")
    h = dict(to_kafka(env)[2])
    h.update(override)
    return [(k, v) for k, v in h.items() if v != b"<drop>"]


def _value() -> bytes:
    return orjson.dumps({"dossier_code": CODE, "due_at": T.isoformat(), "at": T.isoformat()})


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        (_headers(), b"\x00\xff", "undecodable"),
        (_headers(), None, "undecodable"),
        (_headers(ce_type=b"dossier.teleported"), _value(), "unknown-type"),
        (_headers(ce_schemaversion=b"2.0"), _value(), "unknown-version"),
        (_headers(ce_id=b"<drop>"), _value(), "invalid-envelope"),
        (_headers(ce_id=b"not-a-uuid"), _value(), "invalid-envelope"),
        (_headers(ce_id=b"a66df746-1269-410b-a8f5-a57a479b19a"), _value(), "invalid-envelope"),
        (_headers(ce_id=b"a66df746-1269-410b-a8f5-a57a479b19a5f"), _value(), "invalid-envelope"),
        (_headers(ce_id=b"g66df746-1269-410b-a8f5-a57a479b19a5"), _value(), "invalid-envelope"),
        (_headers(ce_time=b"2026-11-23T10:00:00"), _value(), "invalid-envelope"),
        (_headers(ce_subject=b"OTHER-1"), _value(), "invalid-envelope"),
        (_headers(), orjson.dumps({"dossier_code": CODE, "at": T.isoformat()}), "schema-violation"),
        (_headers(), orjson.dumps({"dossier_code": CODE, "due_at": "2026-11-23T10:00:00",
                                   "at": T.isoformat()}), "schema-violation"),
    ],
)
def test_poison_is_named(headers: list[tuple[str, bytes]], value: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonMessage) as info:
        from_kafka(headers, value)
    assert info.value.reason == reason


def test_a_newer_minor_version_with_extra_fields_is_accepted() -> None:
    payload = orjson.loads(_value()) | {"added_in_1_1": True}
    env = from_kafka(_headers(ce_schemaversion=b"1.1"), orjson.dumps(payload))
    assert env.data == ev.Overdue(dossier_code=CODE, due_at=T, at=T)


def test_criteria_scores_are_bounded() -> None:
    with pytest.raises(ValueError):
        ev.CriteriaScores(decree61=[3, 0, 0, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError):
        ev.CriteriaScores(decree61=[1] * 8)
    with pytest.raises(ValueError):
        ev.SipasScores(access=0, procedure=1, civil_servant=1, result=1, feedback_handling=1)


def test_postal_result_returned_travels_on_the_postal_topic() -> None:
    assert ev.PostalResultReturned.topic == ev.POSTAL_TOPIC
    assert ev.PostalResultReturned.event_type == ev.ResultReturned.event_type
    assert ev.ResultReturned.topic == ev.PROCESSING_TOPIC


def test_times_must_be_aware() -> None:
    with pytest.raises(ValueError):
        ev.Overdue(dossier_code=CODE, due_at=datetime(2026, 1, 1), at=datetime.now(UTC))


def test_a_complaint_about_no_dossier_travels_and_a_foreign_subject_is_refused() -> None:
    data = ev.ComplaintReacted(complaint_code=COMPLAINT, unit_code="H26.01", at=T,
                               reaction="accepted")
    key, value, headers = to_kafka(Envelope(data=data, source="feedback"))
    assert key == COMPLAINT.encode() and orjson.loads(value)["dossier_code"] is None
    assert from_kafka(headers, value).data == data
    forged = [(k, CODE.encode() if k == "ce_subject" else v) for k, v in headers]
    with pytest.raises(PoisonMessage, match="subject"):
        from_kafka(forged, value)
