"""Shipments (services/postal/domain/shipment.py) and courier webhook signatures
(services/postal/domain/signature.py)."""

from __future__ import annotations

import copy
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import TypeVar, get_args

import pytest

from services.postal.domain.shipment import (
    CourierTimeRefused,
    Direction,
    IllegalCourierEvent,
    Kind,
    Shipment,
    Status,
    shipment_id,
)
from services.postal.domain.signature import sign, verify
from shared.clock import CLOCK_SKEW
from shared.events import (
    POSTAL_TOPIC,
    Delivered,
    DeliveryFailed,
    EventData,
    PickedUp,
    PostalResultReturned,
    ShipmentCreated,
)
from shared.workdays import VN_TZ

E = TypeVar("E", bound=EventData)

CODE = "H26.06-261123-0007"
UNIT = "H26.06"
CREATED = datetime(2026, 11, 23, 8, 0, tzinfo=VN_TZ)
KINDS: tuple[Kind, ...] = get_args(Kind)
STATUSES: tuple[Status, ...] = get_args(Status)
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)


def later(minutes: int) -> datetime:
    return CREATED + timedelta(minutes=minutes)


def opened(direction: Direction = "outbound") -> Shipment:
    s, _ = Shipment.open(CODE, direction, UNIT, CREATED)
    return s


def of(event: EventData, kind: type[E]) -> E:
    assert type(event) is kind
    assert isinstance(event, kind)
    assert event.dossier_code == CODE
    return event


# ------------------------------------------------------------------ ids and opening
@pytest.mark.parametrize(("direction", "expected"), [("inbound", "IN-D1"),
                                                     ("outbound", "OUT-D1")])
def test_shipment_id(direction: str, expected: str) -> None:
    assert shipment_id("D1", direction) == expected


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_open(direction: Direction) -> None:
    s, events = Shipment.open(CODE, direction, UNIT, CREATED)
    assert s.id == shipment_id(CODE, direction)
    assert (s.dossier_code, s.direction, s.unit_code, s.status, s.created_at) == (
        CODE, direction, UNIT, "created", CREATED)
    assert (s.attempts, s.version, s.last_event_at, s.notifications) == (0, 0, None, [])
    (ev,) = events
    created = of(ev, ShipmentCreated)
    assert (created.shipment_id, created.direction, created.at) == (s.id, direction, CREATED)
    assert created.topic == POSTAL_TOPIC


# ------------------------------------------------------------------ inbound
def test_inbound_pickup_and_delivery() -> None:
    s = opened("inbound")
    (ev,) = s.apply("picked_up", later(30), reason=None, max_attempts=3)
    picked = of(ev, PickedUp)  # no result_returned for an inbound pickup
    assert (picked.shipment_id, picked.direction, picked.at) == ("IN-" + CODE, "inbound",
                                                                 later(30))
    assert (s.status, s.picked_up_at, s.version, s.last_event_at) == (
        "picked_up", later(30), 1, later(30))
    (ev,) = s.apply("delivered", later(120), reason=None, max_attempts=3)
    assert of(ev, Delivered).at == later(120)
    assert (s.status, s.delivered_at, s.version, s.last_event_at) == (
        "delivered", later(120), 2, later(120))


def test_inbound_delivery_cannot_fail() -> None:
    s = opened("inbound")
    s.apply("picked_up", later(30), reason=None, max_attempts=3)
    before = copy.deepcopy(s)
    with pytest.raises(IllegalCourierEvent) as caught:
        s.apply("delivery_failed", later(60), reason="vắng nhà", max_attempts=3)
    assert caught.value.kind == "delivery_failed"
    assert "inbound" in caught.value.status
    assert s == before
    assert s.last_event_at == later(30)


# ------------------------------------------------------------------ outbound
def test_outbound_pickup_returns_the_result() -> None:
    s = opened()
    picked, returned = s.apply("picked_up", later(30), reason=None, max_attempts=3)
    assert of(picked, PickedUp).direction == "outbound"
    r = of(returned, PostalResultReturned)
    assert (r.returned_at, r.method, r.topic) == (later(30), "postal", POSTAL_TOPIC)


def test_outbound_failed_attempts_then_back_to_the_desk() -> None:
    s = opened()
    s.apply("picked_up", later(30), reason=None, max_attempts=3)
    for attempt in (1, 2):
        (ev,) = s.apply("delivery_failed", later(60 * attempt), reason="vắng nhà",
                        max_attempts=3)
        failed = of(ev, DeliveryFailed)
        assert (failed.attempt, failed.reason, failed.returned_to_desk, failed.at) == (
            attempt, "vắng nhà", False, later(60 * attempt))
        assert (s.status, s.attempts, s.returned_to_desk_at) == ("delivery_failed", attempt, None)
        assert s.notifications == []
    (ev,) = s.apply("delivery_failed", later(180), reason=None, max_attempts=3)
    failed = of(ev, DeliveryFailed)
    assert (failed.attempt, failed.reason, failed.returned_to_desk) == (3, None, True)
    assert (s.status, s.attempts, s.returned_to_desk_at, s.version) == (
        "returned_to_desk", 3, later(180), 4)
    (note,) = s.notifications
    assert note.startswith(f"Kết quả hồ sơ {CODE} không giao được sau 3 lần")
    assert "Bộ phận Một cửa" in note
    for kind in KINDS:
        with pytest.raises(IllegalCourierEvent):
            s.apply(kind, later(240), reason=None, max_attempts=3)


def test_one_attempt_allowed() -> None:
    s = opened()
    s.apply("picked_up", later(30), reason=None, max_attempts=1)
    (ev,) = s.apply("delivery_failed", later(60), reason="sai địa chỉ", max_attempts=1)
    assert of(ev, DeliveryFailed).returned_to_desk is True
    assert (s.status, s.attempts, len(s.notifications)) == ("returned_to_desk", 1, 1)
    assert "sau 1 lần" in s.notifications[0]


def test_delivered_after_a_failed_attempt() -> None:
    s = opened()
    s.apply("picked_up", later(30), reason=None, max_attempts=3)
    s.apply("delivery_failed", later(60), reason=None, max_attempts=3)
    (ev,) = s.apply("delivered", later(90), reason=None, max_attempts=3)
    assert of(ev, Delivered).at == later(90)
    assert (s.status, s.attempts, s.delivered_at, s.notifications) == (
        "delivered", 1, later(90), [])


# Outbound moves: (status, kind) -> the status after it (with attempts left).
OUTBOUND: dict[tuple[str, str], str] = {
    ("created", "picked_up"): "picked_up",
    ("picked_up", "delivered"): "delivered",
    ("picked_up", "delivery_failed"): "delivery_failed",
    ("delivery_failed", "delivered"): "delivered",
    ("delivery_failed", "delivery_failed"): "delivery_failed",
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_every_courier_event_in_every_status(direction: Direction, status: Status,
                                             kind: Kind) -> None:
    s = opened(direction)
    s.status = status
    before = copy.deepcopy(s)
    target = OUTBOUND.get((status, kind))
    if direction == "inbound" and kind == "delivery_failed":
        target = None
    if target is None:
        with pytest.raises(IllegalCourierEvent) as caught:
            s.apply(kind, later(30), reason=None, max_attempts=3)
        assert caught.value.kind == kind
        assert str(caught.value).startswith(f"{kind} is not possible for a shipment that is ")
        assert s == before
        assert s.last_event_at is None
        return
    events = s.apply(kind, later(30), reason=None, max_attempts=3)
    assert s.status == target
    assert (s.version, s.last_event_at) == (1, later(30))
    assert len(events) == (2 if (direction, kind) == ("outbound", "picked_up") else 1)


# ------------------------------------------------------------------ courier times
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_pickup_within_the_clock_skew_before_creation(direction: Direction) -> None:
    s = opened(direction)
    s.apply("picked_up", CREATED - CLOCK_SKEW, reason=None, max_attempts=3)
    assert s.picked_up_at == CREATED - CLOCK_SKEW


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_pickup_further_before_creation_is_refused(direction: Direction) -> None:
    s = opened(direction)
    before = copy.deepcopy(s)
    too_early = CREATED - CLOCK_SKEW - timedelta(microseconds=1)
    with pytest.raises(CourierTimeRefused, match="before the shipment was created"):
        s.apply("picked_up", too_early, reason=None, max_attempts=3)
    assert s == before


@pytest.mark.parametrize("kind", ["delivered", "delivery_failed"])
def test_report_before_the_latest_report_is_refused(kind: Kind) -> None:
    s = opened()
    s.apply("picked_up", later(30), reason=None, max_attempts=3)
    before = copy.deepcopy(s)
    with pytest.raises(CourierTimeRefused, match="latest report"):
        s.apply(kind, later(30) - timedelta(microseconds=1), reason=None, max_attempts=3)
    assert s == before
    s.apply(kind, later(30), reason=None, max_attempts=3)  # the same instant is fine
    assert s.version == 2


def test_delivery_before_creation_is_refused_even_within_the_history() -> None:
    s = opened()
    s.apply("picked_up", CREATED - CLOCK_SKEW, reason=None, max_attempts=3)
    s.last_event_at = None  # only the creation bound is left
    with pytest.raises(CourierTimeRefused, match="created"):
        s.apply("delivered", CREATED - CLOCK_SKEW - timedelta(seconds=1), reason=None,
                max_attempts=3)
    assert s.status == "picked_up"


def test_check_time_directly() -> None:
    s = opened()
    s.check_time(CREATED - CLOCK_SKEW)
    s.check_time(later(600))
    s.last_event_at = later(60)
    s.check_time(later(60))
    with pytest.raises(CourierTimeRefused):
        s.check_time(later(59))


def test_illegal_event_is_reported_before_a_bad_time() -> None:
    s = opened()
    s.apply("picked_up", later(30), reason=None, max_attempts=3)
    with pytest.raises(IllegalCourierEvent):
        s.apply("picked_up", later(0), reason=None, max_attempts=3)


# ------------------------------------------------------------------ signatures
SECRETS = {"vnpost": "s3cret-vnpost", "viettel": "s3cret-viettel"}
BODY = b'{"event_id":"e-1","shipment_id":"OUT-D1","kind":"picked_up"}'
TS = 1_795_000_000  # 2026-11-18T11:06:40Z
NOW = float(TS)
TOLERANCE = 300


def test_sign_is_hex_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret-vnpost", b"1795000000." + BODY, hashlib.sha256).hexdigest()
    got = sign("s3cret-vnpost", TS, BODY)
    assert got == expected
    assert len(got) == 64 and got == got.lower()
    assert sign("s3cret-vnpost", TS + 1, BODY) != got
    assert sign("s3cret-vnpost", TS, BODY + b" ") != got
    assert sign("s3cret-viettel", TS, BODY) != got


def good(courier: str = "vnpost", ts: int = TS, body: bytes = BODY) -> str:
    return sign(SECRETS[courier], ts, body)


@pytest.mark.parametrize("courier", ["vnpost", "viettel"])
def test_verify_ok(courier: str) -> None:
    assert verify(SECRETS, courier, str(TS), good(courier), BODY, NOW, TOLERANCE) == "ok"


@pytest.mark.parametrize("drift", [-TOLERANCE, -1, 0, 0.5, 1, TOLERANCE])
def test_verify_within_tolerance(drift: float) -> None:
    assert verify(SECRETS, "vnpost", str(TS), good(), BODY, NOW + drift, TOLERANCE) == "ok"


@pytest.mark.parametrize("drift", [-TOLERANCE - 1, TOLERANCE + 1, TOLERANCE + 0.5, -86_400])
def test_verify_stale(drift: float) -> None:
    # Stale whatever the signature: it is judged before the signature is computed.
    assert verify(SECRETS, "vnpost", str(TS), good(), BODY, NOW + drift, TOLERANCE) == "stale"
    assert verify(SECRETS, "vnpost", str(TS), "00", BODY, NOW + drift, TOLERANCE) == "stale"


@pytest.mark.parametrize("courier", [None, "", "ghn", "VNPOST", "vnpost "])
def test_verify_unknown_courier(courier: str | None) -> None:
    assert verify(SECRETS, courier, str(TS), good(), BODY, NOW, TOLERANCE) == "unknown-courier"
    assert verify(SECRETS, courier, None, None, BODY, NOW, TOLERANCE) == "unknown-courier"


@pytest.mark.parametrize("timestamp", [
    None, "", "abc", "1795000000.0", "-1795000000", "+1795000000", " 1795000000",
    "1795000000 ", "1795000000\n", "1e9",
    "²", "1795000000²",  # superscript two: str.isdigit() is true, int() refuses it
    "١٧٩٥٠٠٠٠٠٠",  # Arabic-Indic digits: int() would take them
    "１７９５００００００",  # full-width digits
    "1" * 13,  # more than 12 digits
])
def test_verify_bad_timestamp(timestamp: str | None) -> None:
    assert verify(SECRETS, "vnpost", timestamp, good(), BODY, NOW,
                  TOLERANCE) == "bad-timestamp"


def test_verify_twelve_digits_is_a_timestamp() -> None:
    # 12 digits parse (and are then simply far from now).
    assert verify(SECRETS, "vnpost", "9" * 12, good(), BODY, NOW, TOLERANCE) == "stale"
    assert verify(SECRETS, "vnpost", "0", sign(SECRETS["vnpost"], 0, BODY), BODY, 0.0,
                  TOLERANCE) == "ok"


@pytest.mark.parametrize("signature", [
    None, "", "00", good()[:-1], good() + "0", good(body=b"{}"), good(courier="viettel"),
    good(ts=TS + 1),
])
def test_verify_bad_signature(signature: str | None) -> None:
    assert verify(SECRETS, "vnpost", str(TS), signature, BODY, NOW,
                  TOLERANCE) == "bad-signature"


def test_verify_bad_signature_for_another_body() -> None:
    assert verify(SECRETS, "vnpost", str(TS), good(), BODY + b"\n", NOW,
                  TOLERANCE) == "bad-signature"


def test_verify_non_ascii_signature_is_a_bad_signature() -> None:
    # An X-Signature such as 'é' (the ASGI server decodes header bytes as Latin-1) was a
    # TypeError in compare_digest, a 500 instead of a 401.
    assert verify(SECRETS, "vnpost", str(TS), "é" * 64, BODY, NOW,
                  TOLERANCE) == "bad-signature"


def test_verify_refuses_a_missing_courier_even_with_a_nameless_secret() -> None:
    # POSTAL_COURIER_SECRETS=":secret" (a typo) must not let requests without X-Courier-Id in.
    body_sig = sign("secret", TS, BODY)
    assert verify({"": "secret"}, None, str(TS), body_sig, BODY, NOW,
                  TOLERANCE) == "unknown-courier"
    assert verify({"": "secret"}, "", str(TS), body_sig, BODY, NOW,
                  TOLERANCE) == "unknown-courier"
