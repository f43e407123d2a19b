"""Portals' webhooks: subscribing, and what a portal may see and do with its deliveries
(docs/rules/webhooks.md). The deliveries themselves are written with the timeline, and sent
by ``adapters.webhooks.WebhookSender``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from services.intake.adapters.repository import Portal
from services.intake.adapters.webhooks import Subscription, TooManySubscriptions
from services.intake.domain.webhooks import kinds_refusal, url_refusal
from shared.refusals import FieldRefusal


class Webhooks(Protocol):
    async def subscribe(self, portal_id: str, url: str, events: list[str],
                        now: datetime) -> Subscription: ...
    async def subscriptions(self, portal_id: str) -> list[Subscription]: ...
    async def unsubscribe(self, portal_id: str, sid: uuid.UUID, now: datetime) -> bool: ...
    async def deliveries(self, portal_id: str, status: str | None, dossier_code: str | None,
                         limit: int) -> list[dict[str, Any]]: ...
    async def replay(self, portal_id: str, delivery_id: str, now: datetime) -> bool: ...


class WebhookRefused(FieldRefusal):
    """A subscription that cannot be taken; ``field`` names what is wrong (422)."""

    field: str


class NotAPortal(PermissionError):
    """The connector's key files nothing, so it has no deliveries (403)."""


class NotFound(LookupError):
    """No such subscription or delivery of this portal (404)."""


class WebhookHandlers:
    def __init__(self, store: Webhooks, production: bool) -> None:
        self.store = store
        self.production = production

    @staticmethod
    def _filer(portal: Portal) -> str:
        if portal.role == "connector":
            raise NotAPortal("the connector's key files nothing and has no webhooks")
        return portal.id

    async def subscribe(self, portal: Portal, url: str, events: list[str],
                        now: datetime) -> Subscription:
        """:raises WebhookRefused, NotAPortal:"""
        who = self._filer(portal)
        for field, refusal in (("url", url_refusal(url, self.production)),
                               ("events", kinds_refusal(events))):
            if refusal is not None:
                raise WebhookRefused(refusal, f"body:/{field}")
        try:
            return await self.store.subscribe(who, url, events, now)
        except TooManySubscriptions as exc:
            raise WebhookRefused(str(exc), "body:/url") from exc

    async def subscriptions(self, portal: Portal) -> list[Subscription]:
        return await self.store.subscriptions(self._filer(portal))

    async def unsubscribe(self, portal: Portal, sid: uuid.UUID, now: datetime) -> None:
        if not await self.store.unsubscribe(self._filer(portal), sid, now):
            raise NotFound(f"no subscription {sid}")

    async def deliveries(self, portal: Portal, status: str | None, dossier_code: str | None,
                         limit: int) -> list[dict[str, Any]]:
        return await self.store.deliveries(self._filer(portal), status, dossier_code, limit)

    async def replay(self, portal: Portal, delivery_id: str, now: datetime) -> None:
        if not await self.store.replay(self._filer(portal), delivery_id, now):
            raise NotFound(f"no delivery {delivery_id}")
