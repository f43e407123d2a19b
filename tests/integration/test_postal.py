"""Postal filing and postal return end to end, and the courier webhook's security."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from shared.events import POSTAL_TOPIC, PROCESSING_TOPIC
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from shared.workdays import due_date
from tests.support.api import UNIT, Api, Courier
from tests.support.wait import until

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")


async def test_postal_filing_is_received_at_the_handover_not_the_pickup(api: Api) -> None:
    courier = Courier(api)
    r = await api.file(channel="postal", return_method="postal")
    assert r.status_code == 201, r.text
    receipt = r.json()
    code = receipt["code"]
    assert receipt["status"] == "in_transit" and receipt["received_at"] is None
    assert receipt["due_at"] is None

    inbound = await courier.shipment(code, "inbound")
    assert inbound["status"] == "created" and inbound["id"] == f"IN-{code}"
    # Picked up at the applicant's door, then handed over at the desk (a courier's times may
    # not precede the filing nor lie ahead of now).
    picked = datetime.now(VN)
    await asyncio.sleep(1.1)
    handed = datetime.now(VN)
    assert (await courier.report(inbound["id"], "picked_up", picked.isoformat())).status_code == 200
    assert (await courier.report(inbound["id"], "delivered", handed.isoformat())).status_code == 200

    view = await api.wait_intake_status(code, "received")
    assert datetime.fromisoformat(view["received_at"]) == handed
    # 10 working days counted from the handover, by the unit's own calendar.
    rb = load_rulebook(str(DEFAULT_RULEBOOK))
    due = due_date(handed, 10, rb.calendar_for(UNIT), rb.policy_for(UNIT)).due_at
    assert datetime.fromisoformat(view["due_at"]) == due
    processing = await api.processing_view(code)
    assert processing["channel"] == "postal"
    assert datetime.fromisoformat(processing["due_at"]) == due
    timeline = [e["type"] for e in view["timeline"]]
    assert timeline.index("postal.picked_up") < timeline.index("dossier.received")


async def _resolved_for_post(api: Api) -> str:
    r = await api.file(return_method="postal")
    code = str(r.json()["code"])
    await api.processing_view(code)
    assert (await api.act(code, "accept")).status_code == 200
    resolved = await api.act(code, "resolve", {"result_ref": "KQ-1"})
    assert resolved.status_code == 200 and resolved.json()["return_method"] == "postal"
    return code


async def test_postal_return_counts_at_the_handover_and_delivery_is_tracked_after(api: Api) -> None:
    courier = Courier(api)
    code = await _resolved_for_post(api)
    outbound = await courier.shipment(code, "outbound")
    handover = datetime.now(VN)
    r = await courier.report(outbound["id"], "picked_up", handover.isoformat())
    assert r.status_code == 200 and r.json()["shipment"]["status"] == "picked_up"

    async def returned() -> bool:
        return bool((await api.processing_view(code))["state"] == "returned")

    await until(returned)
    assert (await api.wait_intake_status(code, "returned"))["status"] == "returned"
    events = await api.topic_events(POSTAL_TOPIC, code, expect=3)
    kinds = [e[0] for e in events]
    assert kinds == ["postal.shipment_created", "postal.picked_up", "dossier.result_returned"]
    returned_event = orjson.loads(events[2][2])
    assert returned_event["method"] == "postal"
    assert datetime.fromisoformat(returned_event["returned_at"]) == handover

    delivered_at = datetime.now(VN)
    r = await courier.report(outbound["id"], "delivered", delivered_at.isoformat())
    assert r.status_code == 200 and r.json()["shipment"]["status"] == "delivered"
    events = await api.topic_events(POSTAL_TOPIC, code, expect=4)
    assert events[3][0] == "postal.delivered"
    # Processing was told once that the result was returned; delivery changes nothing there.
    processing = await api.topic_events(PROCESSING_TOPIC, code, expect=2)
    assert "dossier.result_returned" not in [e[0] for e in processing]


async def test_a_result_that_cannot_be_delivered_goes_back_to_the_desk(api: Api) -> None:
    courier = Courier(api)
    code = await _resolved_for_post(api)
    outbound = await courier.shipment(code, "outbound")
    base = datetime.now(VN)
    assert (await courier.report(outbound["id"], "picked_up", base.isoformat())).status_code == 200
    statuses = []
    for attempt in range(1, 4):
        r = await courier.report(outbound["id"], "delivery_failed",
                                 (base + timedelta(seconds=attempt)).isoformat(),
                                 reason="không có người nhận")
        assert r.status_code == 200, r.text
        statuses.append((r.json()["shipment"]["status"], r.json()["shipment"]["attempts"]))
    assert statuses == [("delivery_failed", 1), ("delivery_failed", 2), ("returned_to_desk", 3)]
    r = await courier.report(outbound["id"], "delivered", (base + timedelta(seconds=9)).isoformat())
    assert r.status_code == 409
    events = await api.topic_events(POSTAL_TOPIC, code, expect=6)
    failed = [orjson.loads(e[2]) for e in events if e[0] == "postal.delivery_failed"]
    assert [(f["attempt"], f["returned_to_desk"]) for f in failed] == [(1, False), (2, False),
                                                                      (3, True)]
    db = await api.db()
    notes = await db.fetch("SELECT kind, message FROM postal.notifications WHERE dossier_code = $1",
                           code)
    assert [n["kind"] for n in notes] == ["collect-at-desk"] and code in notes[0]["message"]


async def test_courier_times_cannot_rewrite_history(api: Api) -> None:
    courier = Courier(api)
    code = await _resolved_for_post(api)
    outbound = await courier.shipment(code, "outbound")
    before = await courier.shipment(code, "outbound")
    # Dated 2001, before the shipment existed: refused, nothing changed.
    r = await courier.report(outbound["id"], "picked_up", "2001-01-02T09:00:00+07:00")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body:/at", r.text
    # Ahead of now by more than the clock skew: refused.
    ahead = (datetime.now(VN) + timedelta(hours=1)).isoformat()
    assert (await courier.report(outbound["id"], "picked_up", ahead)).status_code == 422
    assert await courier.shipment(code, "outbound") == before
    picked = datetime.now(VN)
    assert (await courier.report(outbound["id"], "picked_up", picked.isoformat())).status_code == 200
    # A delivery reported before the pick-up: refused.
    r = await courier.report(outbound["id"], "delivered",
                             (picked - timedelta(minutes=5)).isoformat())
    assert r.status_code == 422, r.text


async def test_a_timestamp_of_non_ascii_digits_is_401(api: Api) -> None:
    courier = Courier(api)
    raw, headers = courier.signed({"event_id": "x", "shipment_id": "OUT-x", "kind": "picked_up",
                                   "at": datetime.now(VN).isoformat()})
    for stamp in ("\u00b2", "\u0661\u0662\u0663"):
        sent = [(k.encode(), v.encode()) for k, v in headers.items() if k != "X-Timestamp"]
        r = await api.http.post(api.url("postal", "/v1/courier/events"), content=raw,
                                headers=[*sent, (b"X-Timestamp", stamp.encode())])
        assert r.status_code == 401 and "bad-timestamp" in r.json()["detail"], r.text


async def test_courier_requests_are_authenticated_and_not_replayable(api: Api) -> None:
    courier = Courier(api)
    code = await _resolved_for_post(api)
    outbound = await courier.shipment(code, "outbound")
    body = {"event_id": "vnp-1", "shipment_id": outbound["id"], "kind": "picked_up",
            "at": datetime.now(VN).isoformat()}

    forged = courier.signed(body, secret="not-the-courier-secret")
    stale = courier.signed(body, ts=int(time.time()) - 3600)
    for raw, headers in (forged, stale):
        r = await courier.send_raw(raw, headers)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    unsigned = await api.http.post(api.url("postal", "/v1/courier/events"), json=body)
    assert unsigned.status_code == 401
    assert (await courier.shipment(code, "outbound"))["status"] == "created"  # nothing changed

    raw, headers = courier.signed(body)
    first = await courier.send_raw(raw, headers)
    assert first.status_code == 200 and first.json()["accepted"] is True
    replay = await courier.send_raw(raw, headers)
    assert replay.status_code == 409
    # The courier retries the same event in a new, genuine request: accepted, no change.
    await asyncio.sleep(1.1)
    again = await courier.send_raw(*courier.signed(body))
    assert again.status_code == 200 and again.json()["accepted"] is False
    events = await api.topic_events(POSTAL_TOPIC, code, expect=3)
    assert [e[0] for e in events].count("postal.picked_up") == 1
    assert [e[0] for e in events].count("dossier.result_returned") == 1


async def test_officers_see_only_their_units_shipments(api: Api) -> None:
    courier = Courier(api)
    code = await _resolved_for_post(api)
    outbound = await courier.shipment(code, "outbound")
    own = await api.http.get(api.url("postal", f"/v1/shipments/{outbound['id']}"),
                             headers=api.token([UNIT]))
    other = await api.http.get(api.url("postal", f"/v1/shipments/{outbound['id']}"),
                               headers=api.token(["H26.02"]))
    assert own.status_code == 200 and other.status_code == 404
