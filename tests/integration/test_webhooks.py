"""Portals' webhooks end to end (docs/rules/webhooks.md): a portal subscribes; each step of its
dossiers is POSTed to a local receiver that verifies the Standard Webhooks signature with
the ``standardwebhooks`` package (an independent implementation) and refuses a forged or
stale one; deliveries are retried while the receiver fails and stop at its first success; a
replay resends one; a receiver that never answers well ends failed; another portal's
dossiers are never posted."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.webhooks import signed_headers
from tests.support.api import DESK_KEY, PORTAL_KEY, UNIT, Api
from tests.support.wait import until

pytestmark = pytest.mark.integration


class Receiver:
    """An HTTP receiver on 127.0.0.1 that verifies every request and answers 500 to the first
    ``failures`` well-signed tries of each message (``always_fail``: to all of them)."""

    def __init__(self, failures: int = 0, always_fail: bool = False) -> None:
        self.secret = ""
        self.failures, self.always_fail = failures, always_fail
        self.seen: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                    tried = sum(1 for s in receiver.seen if s["id"] == headers["webhook-id"])
                    status = 500 if receiver.always_fail or tried < receiver.failures else 200
                except WebhookVerificationError:
                    payload, status = None, 401
                receiver.seen.append({"id": headers.get("webhook-id"), "status": status,
                                      "payload": payload})
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of(self, code: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [s for s in self.seen if s["payload"] and s["payload"]["data"]["dossier_code"]
                == code and (kind is None or s["payload"]["type"] == kind)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=2)
    yield r
    r.close()


MADE: list[str] = []  # this module's subscriptions, removed after each test


@pytest.fixture(autouse=True)
async def unsubscribed_after(api: Api) -> AsyncIterator[None]:
    yield
    while MADE:
        await api.http.delete(api.url("intake", f"/v1/webhooks/{MADE.pop()}"),
                              headers={"X-API-Key": DESK_KEY})


async def subscribe(api: Api, url: str, events: list[str], key: str = DESK_KEY) -> dict[str, Any]:
    r = await api.http.post(api.url("intake", "/v1/webhooks"), json={"url": url, "events": events},
                            headers={"X-API-Key": key})
    assert r.status_code == 201, r.text
    MADE.append(r.json()["id"])
    return dict(r.json())


async def deliveries(api: Api, code: str, key: str = DESK_KEY) -> list[dict[str, Any]]:
    r = await api.http.get(api.url("intake", "/v1/webhooks/deliveries"),
                           params={"dossier_code": code}, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_each_step_is_posted_signed_retried_and_replayed(api: Api,
                                                               receiver: Receiver) -> None:
    made = await subscribe(api, receiver.url, ["dossier.received", "dossier.accepted"])
    receiver.secret = made["secret"]
    listed = (await api.http.get(api.url("intake", "/v1/webhooks"),
                                 headers={"X-API-Key": DESK_KEY})).json()
    assert made["id"] in {s["id"] for s in listed} and all(s["secret"] is None for s in listed)
    r = await api.file()
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    await api.processing_view(code)
    assert (await api.act(code, "accept")).status_code == 200

    async def both_received() -> bool | None:
        kinds = {s["payload"]["type"] for s in receiver.of(code) if s["status"] == 200}
        return True if kinds == {"dossier.received", "dossier.accepted"} else None

    await until(both_received, 30)
    # Two failures, then the success: three tries of one message under one webhook-id.
    tries = receiver.of(code, "dossier.received")
    assert [t["status"] for t in tries] == [500, 500, 200]
    assert len({t["id"] for t in tries}) == 1 and tries[0]["id"].startswith("msg_")
    payload = tries[-1]["payload"]
    assert payload["data"]["status"] == "received" and payload["data"]["dossier_code"] == code
    assert payload["timestamp"].endswith("+07:00") and datetime.fromisoformat(payload["timestamp"])
    await asyncio.sleep(1.5)  # nothing more after the success
    assert len(receiver.of(code, "dossier.received")) == 3
    found = {d["event_type"]: d for d in await deliveries(api, code)}
    assert (found["dossier.received"]["status"], found["dossier.received"]["attempts"],
            found["dossier.received"]["last_status"]) == ("delivered", 3, 200)
    assert "dossier.supplement_requested" not in found  # not subscribed

    # A replay resends that one delivery, once, with the same id.
    delivery = found["dossier.received"]["id"]
    r = await api.http.post(api.url("intake", f"/v1/webhooks/deliveries/{delivery}/replay"),
                            headers={"X-API-Key": DESK_KEY})
    assert r.status_code == 202

    async def replayed() -> bool | None:
        return True if len(receiver.of(code, "dossier.received")) == 4 else None

    await until(replayed, 30)
    assert receiver.of(code, "dossier.received")[-1] == {**tries[-1]}
    # Another portal may not replay it, nor see it.
    r = await api.http.post(api.url("intake", f"/v1/webhooks/deliveries/{delivery}/replay"),
                            headers={"X-API-Key": PORTAL_KEY})
    assert r.status_code == 404
    assert await deliveries(api, code, PORTAL_KEY) == []


async def test_the_receiver_refuses_a_forged_or_stale_signature(api: Api,
                                                                receiver: Receiver) -> None:
    """What the independent verifier does with what we did not sign, or signed long ago."""
    from shared.webhooks import new_secret

    receiver.secret, receiver.failures = new_secret(), 0
    body = json.dumps({"type": "dossier.resolved", "timestamp": "2026-12-01T09:00:00+07:00",
                       "data": {"dossier_code": "X"}}).encode()
    now = int(time.time())
    good = signed_headers(receiver.secret, "msg_a", now, body)
    cases = {"good": good, "forged": signed_headers(new_secret(), "msg_a", now, body),
             "stale": signed_headers(receiver.secret, "msg_a", now - 3600, body),
             "other id": {**good, "webhook-id": "msg_b"}}
    got = {name: (await api.http.post(receiver.url, content=body, headers=h)).status_code
           for name, h in cases.items()}
    assert got == {"good": 200, "forged": 401, "stale": 401, "other id": 401}


async def test_only_the_portal_s_own_dossiers_and_only_while_subscribed(
        api: Api, receiver: Receiver) -> None:
    receiver.failures = 0
    made = await subscribe(api, receiver.url, ["*"])
    receiver.secret = made["secret"]
    theirs = await api.file(channel="online", return_method="online")  # the portal's filing
    assert theirs.status_code == 201, theirs.text
    mine = await api.file()
    code = mine.json()["code"]

    async def mine_posted() -> bool | None:
        return True if receiver.of(code, "dossier.received") else None

    await until(mine_posted, 30)
    assert receiver.of(theirs.json()["code"]) == []
    r = await api.http.delete(api.url("intake", f"/v1/webhooks/{made['id']}"),
                              headers={"X-API-Key": DESK_KEY})
    assert r.status_code == 204
    await api.processing_view(code)
    assert (await api.act(code, "accept")).status_code == 200
    await asyncio.sleep(1.5)
    assert receiver.of(code, "dossier.accepted") == []
    # Subscribing to a URL that is not absolute http(s) is a 422 that makes nothing.
    r = await api.http.post(api.url("intake", "/v1/webhooks"),
                            json={"url": "ftp://x.example/h", "events": ["*"]},
                            headers={"X-API-Key": DESK_KEY})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body:/url"


async def test_a_receiver_that_keeps_failing_ends_failed(api: Api) -> None:
    down = Receiver(always_fail=True)
    try:
        made = await subscribe(api, down.url, ["dossier.received"])
        down.secret = made["secret"]
        r = await api.file(unit_code=UNIT)
        code = r.json()["code"]

        async def failed() -> dict[str, Any] | None:
            found = [d for d in await deliveries(api, code) if d["subscription_id"] == made["id"]]
            return found[0] if found and found[0]["status"] == "failed" else None

        given_up = await until(failed, 60)
        assert given_up["attempts"] >= 3 and given_up["last_status"] == 500
        tries = len(down.of(code))
        await asyncio.sleep(1.5)
        assert len(down.of(code)) == tries  # no more tries once failed
    finally:
        down.close()


async def test_rotating_the_secret_keeps_what_is_not_yet_delivered(api: Api) -> None:
    """Subscribing the same URL again gives a new secret; the deliveries not yet made move to
    the new subscription and arrive signed with it."""
    down = Receiver(always_fail=True)
    try:
        first = await subscribe(api, down.url, ["dossier.received"])
        down.secret = first["secret"]
        code = (await api.file()).json()["code"]

        async def tried_twice() -> bool | None:
            return True if len(down.of(code)) >= 2 else None

        await until(tried_twice, 30)
        second = await subscribe(api, down.url, ["dossier.received"])
        assert second["secret"] != first["secret"]
        down.secret, down.always_fail = second["secret"], False

        async def delivered() -> dict[str, Any] | None:
            found = [d for d in await deliveries(api, code) if d["status"] == "delivered"
                     and d["subscription_id"] == second["id"]]
            return found[0] if found else None

        moved = await until(delivered, 30)
        assert moved["event_type"] == "dossier.received"
        assert down.of(code)[-1]["status"] == 200  # verified under the new secret
    finally:
        down.close()
