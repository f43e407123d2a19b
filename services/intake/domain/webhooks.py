"""Portals' webhooks, as pure rules: what may be subscribed to, which URLs are accepted, and
what becomes of a delivery after each try (Standard Webhooks; docs/rules/webhooks.md)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from shared.retry import backoff

# What a portal may subscribe to: the entries of a dossier's timeline at intake, each a step
# the applicant or the portal cares about. "*" is every one.
EVENT_KINDS = frozenset({
    "dossier.received", "dossier.filed_by_post", "dossier.accepted", "dossier.transferred",
    "dossier.supplement_requested", "dossier.supplement_received", "dossier.payment_requested",
    "dossier.paid", "dossier.apology_issued", "dossier.resolved", "dossier.rejected",
    "dossier.stopped", "dossier.withdrawn", "dossier.result_returned", "dossier.due_soon",
    "dossier.overdue", "dossier.stuck", "dossier.unstuck", "postal.shipment_created",
    "postal.picked_up", "postal.delivered", "postal.delivery_failed",
})
DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True)
class Retry:
    base_s: float = 30.0
    cap_s: float = 3600.0
    give_up_after: timedelta = timedelta(days=1)


def url_refusal(url: str, production: bool) -> str | None:
    """Why a webhook URL is refused; None when it is accepted. Production takes https only;
    a local run also takes http (for a receiver on this machine)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "an absolute http(s) URL is required"
    if production and parts.scheme != "https":
        return "webhook URLs must be https in production"
    if production and _internal(parts.hostname):
        return "a webhook cannot point inside the province's network"
    if parts.username or parts.password:
        return "credentials do not belong in the URL: verify the signature instead"
    if parts.fragment:
        return "a URL fragment is never sent"
    return None


def _internal(host: str) -> bool:
    """A loopback, private or link-local address, or localhost (no requests from inside)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified


def kinds_refusal(events: list[str]) -> str | None:
    unknown = sorted(set(events) - EVENT_KINDS - {"*"})
    if not events:
        return "name at least one event type, or *"
    if unknown:
        return f"unknown event types: {', '.join(unknown)}"
    return None


def after_try(status: int | None, attempts: int, retry_from: datetime, now: datetime,
              retry: Retry, draw: float) -> tuple[DeliveryStatus, datetime]:
    """A delivery after try number ``attempts`` got ``status`` (None: no answer): delivered
    on 2xx; else failed once a day (``give_up_after``) has passed since ``retry_from``;
    else pending until the backoff's time."""
    if status is not None and 200 <= status < 300:
        return "delivered", now
    if now - retry_from >= retry.give_up_after:
        return "failed", now
    return "pending", now + backoff(attempts - 1, retry.base_s, retry.cap_s, draw)
