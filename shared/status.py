"""A dossier's status as portals see it (intake's view, and what the national portal is
told), from the events of every service: one table, ``STATUS_AFTER``, and one rule for
events that arrive out of order, ``next_status``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

# What a portal sees of a dossier (the national portal's vocabulary, and in_transit for a
# postal filing on its way to the desk).
Status = Literal["in_transit", "awaiting_receipt", "received", "processing",
                 "awaiting_supplement", "awaiting_payment", "resolved", "returned", "rejected",
                 "stopped", "withdrawn"]
TERMINAL: frozenset[Status] = frozenset({"returned", "rejected", "stopped", "withdrawn"})
FINISHED: frozenset[Status] = TERMINAL | {"resolved"}

# The status a portal sees after each event; an event not listed leaves it unchanged.
STATUS_AFTER: dict[str, Status] = {
    "dossier.filed_by_post": "in_transit",
    "dossier.received": "received",
    "dossier.accepted": "processing",
    "dossier.supplement_requested": "awaiting_supplement",
    "dossier.supplement_received": "processing",
    "dossier.payment_requested": "awaiting_payment",
    "dossier.paid": "processing",
    "dossier.resolved": "resolved",
    "dossier.rejected": "rejected",
    "dossier.stopped": "stopped",
    "dossier.withdrawn": "withdrawn",
    "dossier.result_returned": "returned",
}


def next_status(current: Status, current_at: datetime, event_type: str,
                event_at: datetime) -> Status | None:
    """Events from several topics may arrive out of order: a terminal status is never left,
    resolved is left only for returned, and otherwise the later event wins. None: unchanged."""
    new = STATUS_AFTER.get(event_type)
    if new is None or new == current or current in TERMINAL:
        return None
    if current == "resolved":
        return new if new == "returned" else None
    if new in FINISHED:
        return new
    return new if event_at >= current_at else None
