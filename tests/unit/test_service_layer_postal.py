"""Postal's service layer (services/postal/service_layer/handlers.py) against the in-memory
unit of work of tests/support/fakes.py: no Kafka, no PostgreSQL.

A postal filing of Monday 02/11/2026 09:00 (+07:00) at Sở Tư pháp opens an inbound
shipment; a result resolved for return by post opens an outbound one at the unit the
dossier is at then. Couriers report with signed requests: a signature is accepted once, a
courier's event id is applied once.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest

from services.postal.domain.shipment import CourierTimeRefused, IllegalCourierEvent, Kind
from services.postal.service_layer.handlers import (
    PostalHandlers,
    RecordCourierEvent,
    ShipmentNotFound,
    SignatureReplayed,
)
from shared.auth import Principal
from shared.clock import VN
from shared.events import (
    POSTAL_TOPIC,
    Delivered,
    DeliveryFailed,
    DossierReceived,
    Envelope,
    EventData,
    FiledByPost,
    MaskedApplicant,
    PickedUp,
    PostalResultReturned,
    Resolved,
    ShipmentCreated,
    Transferred,
)
from tests.support.api import OTHER_UNIT, PROCEDURE, UNIT
from tests.support.fakes import FakePostalUnitOfWork, published

MAX_ATTEMPTS = 3


def t(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN)


CODE = f"{UNIT}-261102-0001"
INBOUND = f"IN-{CODE}"
OUTBOUND = f"OUT-{CODE}"
COURIER = "vnpost"
OFFICER = Principal("can.bo.a", "officer", frozenset({UNIT}))
STRANGER = Principal("can.bo.x", "officer", frozenset({OTHER_UNIT}))
OPERATOR = Principal("so-tttt", "operator", frozenset({"*"}))


@pytest.fixture
def uow() -> FakePostalUnitOfWork:
    return FakePostalUnitOfWork()


@pytest.fixture
def h(uow: FakePostalUnitOfWork) -> PostalHandlers:
    return PostalHandlers(lambda: uow, MAX_ATTEMPTS)


def env(data: EventData, source: str = "intake") -> Envelope[EventData]:
    return Envelope(source=source, data=data)


def filed_by_post(code: str = CODE, at: datetime = t(2)) -> FiledByPost:
    return FiledByPost(dossier_code=code, unit_code=UNIT, procedure_code=PROCEDURE,
                       return_method="postal", at=at)


def received(code: str = CODE, unit: str = UNIT) -> DossierReceived:
    return DossierReceived.model_validate({
        "dossier_code": code, "unit_code": unit, "procedure_code": PROCEDURE,
        "channel": "counter", "received_at": t(2), "counted_from": t(2), "due_at": t(16, 17),
        "processing_days": 10, "return_method": "postal",
        "applicant": MaskedApplicant(name="Nguyễn V. A.", id_number="*********567"),
        "rulebook": "2026.11-1"})


def resolved(code: str = CODE, at: datetime = t(5, 10),
             method: str | None = "postal") -> Resolved:
    return Resolved.model_validate({"dossier_code": code, "resolved_at": at,
                                    "result_ref": "PLLTP-1", "return_method": method})


_signatures = iter(range(1_000_000))


def report(kind: Kind, at: datetime, *, shipment: str = INBOUND, event_id: str | None = None,
           signature: str | None = None, reason: str | None = None) -> RecordCourierEvent:
    n = next(_signatures)
    return RecordCourierEvent(COURIER, signature or f"sig-{n}", int(at.timestamp()),
                              event_id or f"ev-{n}", shipment, kind, at, reason)


async def open_inbound(h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    await h.apply_event(uow, env(filed_by_post()))


async def open_outbound(h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    await h.apply_event(uow, env(received()))
    await h.apply_event(uow, env(resolved(), "processing"))


# ------------------------------------------------------------------ opened by events
async def test_a_postal_filing_opens_an_inbound_shipment_once(
        h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    filed = env(filed_by_post())
    await h.apply_event(uow, filed)

    s = uow.shipments.rows[INBOUND]
    assert (s.dossier_code, s.direction, s.unit_code, s.status, s.created_at) == \
        (CODE, "inbound", UNIT, "created", t(2))
    assert uow.events() == [ShipmentCreated(dossier_code=CODE, shipment_id=INBOUND,
                                            direction="inbound", at=t(2))]
    assert uow.committed[0].source == "postal"

    await h.apply_event(uow, filed)  # redelivered
    await h.apply_event(uow, env(filed_by_post(at=t(2, 10))))  # or sent again
    assert list(uow.shipments.rows) == [INBOUND]
    assert uow.shipments.rows[INBOUND].created_at == t(2)
    assert published(uow) == ["postal.shipment_created"]


async def test_a_postal_result_opens_an_outbound_shipment_where_the_dossier_is(
        h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    await h.apply_event(uow, env(received()))
    await h.apply_event(uow, env(Transferred(dossier_code=CODE, from_unit=UNIT,
                                             to_unit=OTHER_UNIT, at=t(3)), "processing"))
    result = env(resolved(), "processing")
    await h.apply_event(uow, result)

    s = uow.shipments.rows[OUTBOUND]
    assert (s.direction, s.unit_code, s.status, s.created_at) == \
        ("outbound", OTHER_UNIT, "created", t(5, 10))
    assert uow.events() == [ShipmentCreated(dossier_code=CODE, shipment_id=OUTBOUND,
                                            direction="outbound", at=t(5, 10))]
    await h.apply_event(uow, result)
    assert published(uow) == ["postal.shipment_created"]


async def test_a_transfer_heard_of_before_the_receipt_is_kept(
        h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    await h.apply_event(uow, env(Transferred(dossier_code=CODE, from_unit=UNIT,
                                             to_unit=OTHER_UNIT, at=t(3)), "processing"))
    await h.apply_event(uow, env(received()))  # late, on intake's topic
    await h.apply_event(uow, env(resolved(), "processing"))
    assert uow.units.rows == {CODE: OTHER_UNIT}
    assert uow.shipments.rows[OUTBOUND].unit_code == OTHER_UNIT


async def test_a_result_heard_of_before_the_receipt_is_shipped_from_the_unit(
        h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    await h.apply_event(uow, env(resolved(), "processing"))
    await h.apply_event(uow, env(received()))  # late, on intake's topic
    assert uow.shipments.rows[OUTBOUND].unit_code == UNIT
    assert (await h.shipment(OUTBOUND, OFFICER)).id == OUTBOUND


@pytest.mark.parametrize("method", ["counter", "online", None])
async def test_a_result_not_sent_by_post_opens_nothing(h: PostalHandlers,
                                                       uow: FakePostalUnitOfWork,
                                                       method: str | None) -> None:
    await h.apply_event(uow, env(received()))
    await h.apply_event(uow, env(resolved(method=method), "processing"))
    assert uow.shipments.rows == {}
    assert uow.committed == []


# ------------------------------------------------------------------ couriers' reports
async def test_a_signed_report_is_applied_once(h: PostalHandlers,
                                               uow: FakePostalUnitOfWork) -> None:
    await open_inbound(h, uow)
    cmd = report("picked_up", t(3, 8), event_id="vn-1", signature="sig-a")

    recorded = await h.record_courier_event(cmd)

    assert recorded.accepted is True
    assert (recorded.shipment.status, recorded.shipment.picked_up_at) == ("picked_up", t(3, 8))
    assert uow.shipments.rows[INBOUND] == recorded.shipment
    assert uow.events()[-1] == PickedUp(dossier_code=CODE, shipment_id=INBOUND,
                                        direction="inbound", at=t(3, 8))
    assert uow.couriers.events == {(COURIER, "vn-1"): (INBOUND, "picked_up", t(3, 8))}
    assert len(uow.couriers.signatures) == 1  # remembered (whatever the log keys it by)

    before, events = copy.deepcopy(uow.shipments.rows), list(uow.committed)
    with pytest.raises(SignatureReplayed):  # the same signed request again
        await h.record_courier_event(cmd)
    assert uow.shipments.rows == before
    assert uow.committed == events


async def test_a_repeated_courier_event_under_a_new_signature_changes_nothing(
        h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    await open_inbound(h, uow)
    await h.record_courier_event(report("picked_up", t(3, 8), event_id="vn-1"))
    before, events = copy.deepcopy(uow.shipments.rows), list(uow.committed)

    again = await h.record_courier_event(report("picked_up", t(3, 8), event_id="vn-1",
                                                signature="sig-retry"))

    assert again.accepted is False
    assert again.shipment == before[INBOUND]
    assert uow.shipments.rows == before
    assert uow.committed == events
    # The new signature is remembered: that request cannot be replayed either.
    with pytest.raises(SignatureReplayed):
        await h.record_courier_event(report("picked_up", t(3, 8), event_id="vn-1",
                                            signature="sig-retry"))


async def test_an_unknown_shipment_is_not_found(h: PostalHandlers,
                                                uow: FakePostalUnitOfWork) -> None:
    await open_inbound(h, uow)
    events = list(uow.committed)
    with pytest.raises(ShipmentNotFound):
        await h.record_courier_event(report("picked_up", t(3, 8), shipment=OUTBOUND))
    assert uow.couriers.events == {}
    assert uow.couriers.signatures == set()
    assert uow.committed == events


@pytest.mark.parametrize(("kind", "at", "refusal"), [
    ("delivered", t(3, 8), IllegalCourierEvent),  # never picked up
    ("delivery_failed", t(3, 8), IllegalCourierEvent),
    ("picked_up", t(2, 8), CourierTimeRefused),  # before the shipment was created
])
async def test_a_refused_report_commits_nothing(h: PostalHandlers, uow: FakePostalUnitOfWork,
                                                kind: Kind, at: datetime,
                                                refusal: type[Exception]) -> None:
    await open_inbound(h, uow)
    before, events = copy.deepcopy(uow.shipments.rows), list(uow.committed)
    cmd = report(kind, at, event_id="vn-1", signature="sig-a")

    with pytest.raises(refusal):
        await h.record_courier_event(cmd)

    assert uow.shipments.rows == before
    assert uow.committed == events
    assert uow.couriers.events == {}
    assert uow.couriers.signatures == set()  # rolled back with the rest
    with pytest.raises(refusal):  # so the same request is refused again, not as a replay
        await h.record_courier_event(cmd)


async def test_a_report_before_the_latest_one_is_refused(h: PostalHandlers,
                                                         uow: FakePostalUnitOfWork) -> None:
    await open_inbound(h, uow)
    await h.record_courier_event(report("picked_up", t(3, 8)))
    before = copy.deepcopy(uow.shipments.rows)
    with pytest.raises(CourierTimeRefused):
        await h.record_courier_event(report("delivered", t(3, 7, 59)))
    assert uow.shipments.rows == before
    assert published(uow) == ["postal.shipment_created", "postal.picked_up"]


async def test_a_report_within_the_clock_skew_of_the_creation_is_taken(
        h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    await open_inbound(h, uow)
    at = t(2) - timedelta(seconds=30)
    recorded = await h.record_courier_event(report("picked_up", at))
    assert recorded.shipment.picked_up_at == at


async def test_an_inbound_delivery_is_the_handover_at_the_desk(
        h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    await open_inbound(h, uow)
    await h.record_courier_event(report("picked_up", t(3, 8)))
    recorded = await h.record_courier_event(report("delivered", t(4, 10)))
    assert (recorded.shipment.status, recorded.shipment.delivered_at) == ("delivered", t(4, 10))
    assert uow.events()[-1] == Delivered(dossier_code=CODE, shipment_id=INBOUND,
                                         direction="inbound", at=t(4, 10))
    with pytest.raises(IllegalCourierEvent):  # the desk always takes an inbound one
        await h.record_courier_event(report("delivery_failed", t(4, 11)))


async def test_an_outbound_pickup_returns_the_result_by_post(
        h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    await open_outbound(h, uow)
    await h.record_courier_event(report("picked_up", t(6, 8), shipment=OUTBOUND))

    assert published(uow)[-2:] == ["postal.picked_up", "dossier.result_returned"]
    returned = uow.committed[-1]
    assert returned.data == PostalResultReturned(dossier_code=CODE, returned_at=t(6, 8),
                                                 method="postal")
    assert type(returned.data) is PostalResultReturned
    assert returned.data.topic == POSTAL_TOPIC
    assert returned.source == "postal"


async def test_the_applicant_is_told_after_the_last_failed_attempt(
        h: PostalHandlers, uow: FakePostalUnitOfWork) -> None:
    await open_outbound(h, uow)
    await h.record_courier_event(report("picked_up", t(6, 8), shipment=OUTBOUND))
    for attempt in range(1, MAX_ATTEMPTS):
        recorded = await h.record_courier_event(report(
            "delivery_failed", t(6 + attempt, 10), shipment=OUTBOUND, reason="vắng nhà"))
        assert (recorded.shipment.status, recorded.shipment.attempts) == \
            ("delivery_failed", attempt)
    assert uow.shipments.notifications == []

    last = await h.record_courier_event(report("delivery_failed", t(13, 10), shipment=OUTBOUND,
                                               reason="gọi 0912345678 không được"))

    assert (last.shipment.status, last.shipment.attempts) == ("returned_to_desk", MAX_ATTEMPTS)
    assert last.shipment.returned_to_desk_at == t(13, 10)
    [(code, message)] = uow.shipments.notifications
    assert code == CODE
    assert CODE in message
    assert f"{MAX_ATTEMPTS} lần" in message
    failures = [e for e in uow.events() if isinstance(e, DeliveryFailed)]
    assert [(e.attempt, e.returned_to_desk) for e in failures] == \
        [(1, False), (2, False), (3, True)]
    assert failures[-1].reason == "gọi *******678 không được"  # masked in the event
    with pytest.raises(IllegalCourierEvent):
        await h.record_courier_event(report("delivery_failed", t(16, 10), shipment=OUTBOUND))
    assert len(uow.shipments.notifications) == 1


async def test_a_delivery_after_a_failed_attempt(h: PostalHandlers,
                                                 uow: FakePostalUnitOfWork) -> None:
    await open_outbound(h, uow)
    await h.record_courier_event(report("picked_up", t(6, 8), shipment=OUTBOUND))
    await h.record_courier_event(report("delivery_failed", t(6, 15), shipment=OUTBOUND))
    recorded = await h.record_courier_event(report("delivered", t(9, 10), shipment=OUTBOUND))
    assert (recorded.shipment.status, recorded.shipment.attempts) == ("delivered", 1)
    assert uow.shipments.notifications == []


# ------------------------------------------------------------------ officers' reads
async def test_a_shipment_is_seen_by_its_unit(h: PostalHandlers,
                                              uow: FakePostalUnitOfWork) -> None:
    await open_inbound(h, uow)
    assert (await h.shipment(INBOUND, OFFICER)).id == INBOUND
    assert (await h.shipment(INBOUND, OPERATOR)).id == INBOUND
    with pytest.raises(ShipmentNotFound):
        await h.shipment(INBOUND, STRANGER)
    with pytest.raises(ShipmentNotFound):
        await h.shipment(OUTBOUND, OFFICER)


async def test_the_shipments_of_a_dossier(h: PostalHandlers,
                                          uow: FakePostalUnitOfWork) -> None:
    await open_inbound(h, uow)
    await h.apply_event(uow, env(received()))
    await h.apply_event(uow, env(Transferred(dossier_code=CODE, from_unit=UNIT,
                                             to_unit=OTHER_UNIT, at=t(3)), "processing"))
    await h.apply_event(uow, env(resolved(), "processing"))

    assert [s.id for s in await h.shipments_of(CODE, OPERATOR, 20)] == [INBOUND, OUTBOUND]
    assert [s.id for s in await h.shipments_of(CODE, OPERATOR, 1)] == [INBOUND]
    assert [s.id for s in await h.shipments_of(CODE, OFFICER, 20)] == [INBOUND]
    assert [s.id for s in await h.shipments_of(CODE, STRANGER, 20)] == [OUTBOUND]
    assert await h.shipments_of(f"{UNIT}-261102-0999", OPERATOR, 20) == []
