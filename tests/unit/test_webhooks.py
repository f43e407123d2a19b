"""Portals' webhooks as pure rules and through their handlers: signatures that the
``standardwebhooks`` package (an independent implementation) verifies, and refuses when
forged or stale; the URLs and event types taken; what becomes of a delivery after a try."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.intake.adapters.repository import Portal
from services.intake.adapters.webhooks import Subscription
from services.intake.domain.webhooks import (
    is_public_address,
    kinds_refusal,
    url_refusal,
)
from services.intake.service_layer.webhooks import (
    NotAPortal,
    NotFound,
    WebhookHandlers,
    WebhookRefused,
)
from shared.retry import Retry, after_try
from shared.webhooks import new_secret, signed_headers

T0 = datetime(2026, 11, 16, 9, tzinfo=UTC)
BODY = json.dumps({"type": "dossier.resolved", "data": {"dossier_code": "H26.01-261116-0001"}},
                  ensure_ascii=False).encode()


def test_what_we_sign_verifies_with_an_independent_implementation() -> None:
    secret, now = new_secret(), int(time.time())
    assert secret.startswith("whsec_")
    headers = signed_headers(secret, "msg_1", now, BODY)
    assert Webhook(secret).verify(BODY, headers)["type"] == "dossier.resolved"
    forged = {**headers, "webhook-signature": signed_headers(new_secret(), "msg_1", now,
                                                             BODY)["webhook-signature"]}
    stale = signed_headers(secret, "msg_1", now - 3600, BODY)
    tampered = BODY.replace(b"resolved", b"rejected")
    for h, body in ((forged, BODY), (stale, BODY), (headers, tampered),
                    ({**headers, "webhook-id": "msg_2"}, BODY)):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, h)


@pytest.mark.parametrize(("url", "production", "refused"), [
    ("https://portal.example.vn/hooks", True, None),
    ("http://portal.example.vn/hooks", True, "https in production"),
    ("http://127.0.0.1:8080/hooks", False, None),  # a local run's receiver
    ("https://127.0.0.1/hooks", True, "inside"),
    ("https://10.1.2.3/hooks", True, "inside"),
    ("https://localhost/hooks", True, "inside"),
    ("https://localhost./hooks", True, "inside"),
    ("https://2130706433/hooks", True, "inside"),  # 127.0.0.1 as one number
    ("https://127.1/hooks", True, "inside"),
    ("https://0x7f.1/hooks", True, "inside"),
    ("https://[::1]/hooks", True, "inside"),
    ("https://api.dvc.localhost/hooks", True, "inside"),
    ("https://user:pw@portal.example.vn/hooks", True, "credentials"),
    ("https://portal.example.vn/hooks#x", True, "fragment"),
    ("ftp://portal.example.vn/hooks", False, "http(s)"),
    ("/hooks", False, "http(s)"),
])
def test_which_urls_are_taken(url: str, production: bool, refused: str | None) -> None:
    why = url_refusal(url, production)
    assert (why is None) if refused is None else (why is not None and refused in why), why


def test_which_resolved_addresses_are_public() -> None:
    for inside in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "100.64.0.1",
                   "169.254.169.254", "0.0.0.0", "::1", "fe80::1", "fc00::1"):
        assert not is_public_address(inside), inside
    for outside in ("203.162.4.190", "8.8.8.8", "2001:4860:4860::8888"):
        assert is_public_address(outside), outside


def test_which_event_types_are_taken() -> None:
    assert kinds_refusal(["dossier.resolved", "dossier.stuck"]) is None
    assert kinds_refusal(["*"]) is None
    assert kinds_refusal([]) is not None
    assert "dossier.exploded" in (kinds_refusal(["dossier.exploded"]) or "")


def test_after_a_try() -> None:
    retry = Retry(base_s=30, cap_s=3600, give_up_after=timedelta(days=1))
    assert after_try(204, 1, T0, T0, retry, 0.5) == ("delivered", T0)
    # Full jitter under the doubling ceiling: 30 s after the first try, 60 s after the second.
    assert after_try(500, 1, T0, T0, retry, 0.5) == ("pending", T0 + timedelta(seconds=15))
    assert after_try(None, 2, T0, T0, retry, 0.999) == ("pending",
                                                        T0 + timedelta(seconds=59.94))
    assert after_try(503, 20, T0, T0, retry, 1.0)[1] == T0 + timedelta(hours=1)  # the cap
    later = T0 + timedelta(days=1)
    assert after_try(500, 30, T0, later, retry, 0.5) == ("failed", later)  # a day of tries
    assert after_try(200, 30, T0, later, retry, 0.5) == ("delivered", later)


class FakeWebhooks:
    def __init__(self) -> None:
        self.subs: dict[uuid.UUID, tuple[str, Subscription]] = {}
        self.replayed: list[str] = []

    async def subscribe(self, portal_id: str, url: str, events: list[str],
                        now: datetime) -> Subscription:
        made = Subscription(uuid.uuid4(), url, sorted(events), now, new_secret())
        self.subs[made.id] = (portal_id, made)
        return made

    async def subscriptions(self, portal_id: str) -> list[Subscription]:
        return [s for p, s in self.subs.values() if p == portal_id]

    async def unsubscribe(self, portal_id: str, sid: uuid.UUID, now: datetime) -> bool:
        if sid not in self.subs or self.subs[sid][0] != portal_id:
            return False
        del self.subs[sid]
        return True

    async def deliveries(self, portal_id: str, status: str | None, dossier_code: str | None,
                         limit: int) -> list[dict[str, Any]]:
        return []

    async def replay(self, portal_id: str, delivery_id: str, now: datetime) -> bool:
        self.replayed.append(delivery_id)
        return delivery_id == "msg_mine"


async def test_the_handlers_refuse_what_the_rules_refuse() -> None:
    store = FakeWebhooks()
    h = WebhookHandlers(store, production=True)
    portal = Portal("dvc-demo", "portal")
    with pytest.raises(WebhookRefused) as refused:
        await h.subscribe(portal, "http://portal.example.vn/hooks", ["*"], T0)
    assert refused.value.field == "body:/url" and store.subs == {}
    with pytest.raises(WebhookRefused) as refused:
        await h.subscribe(portal, "https://portal.example.vn/hooks", ["nope"], T0)
    assert refused.value.field == "body:/events"
    with pytest.raises(NotAPortal):
        await h.subscribe(Portal("national-portal-connector", "connector"),
                          "https://portal.example.vn/hooks", ["*"], T0)
    made = await h.subscribe(portal, "https://portal.example.vn/hooks", ["*"], T0)
    assert [s.id for s in await h.subscriptions(portal)] == [made.id]
    assert await h.subscriptions(Portal("other", "portal")) == []
    with pytest.raises(NotFound):
        await h.unsubscribe(Portal("other", "portal"), made.id, T0)
    await h.replay(portal, "msg_mine", T0)
    with pytest.raises(NotFound):
        await h.replay(portal, "msg_theirs", T0)
