"""Portals' webhooks, as pure rules: what may be subscribed to and which URLs are accepted
(Standard Webhooks; docs/rules/webhooks.md). What becomes of a delivery after each try is
``shared.retry``'s ``after_try``, shared with the other senders."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

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


def url_refusal(url: str, production: bool) -> str | None:
    """Why a webhook URL is refused; None when it is accepted. Production takes https only;
    a local run also takes http (for a receiver on this machine)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "an absolute http(s) URL is required"
    if production and parts.scheme != "https":
        return "webhook URLs must be https in production"
    if production and not _public_name(parts.hostname):
        return ("a webhook names a public host by its DNS name (no address literal, no "
                "localhost): it cannot point inside the province's network")
    if parts.username or parts.password:
        return "credentials do not belong in the URL: verify the signature instead"
    if parts.fragment:
        return "a URL fragment is never sent"
    return None


_DNS_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _public_name(host: str) -> bool:
    """A DNS name with a letters-only top-level label, not localhost: every address literal
    (127.1, 0x7f.1, 2130706433, [::1]) and a trailing dot fail. Where the name leads is
    checked again when sending (``is_public_address``)."""
    host = host.lower()
    return bool(_DNS_NAME.fullmatch(host)) and not (host == "localhost"
                                                    or host.endswith(".localhost"))


def is_public_address(address: str) -> bool:
    """Whether a resolved address is on the public internet (not loopback, private, shared,
    link-local, reserved or unspecified)."""
    return ipaddress.ip_address(address).is_global


def kinds_refusal(events: list[str]) -> str | None:
    unknown = sorted(set(events) - EVENT_KINDS - {"*"})
    if not events:
        return "name at least one event type, or *"
    if unknown:
        return f"unknown event types: {', '.join(unknown)}"
    return None

