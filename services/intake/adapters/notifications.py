"""Applicant notifications of a dossier's steps (docs/rules/notifications.md), in intake's
schema: queued with the timeline entry they announce (``TimelineRepository.record``), so a
committed step is never left unannounced; the applicant's preference; the desk's history.
The shared package (``shared/notifications``) composes, stores and sends them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.events import Envelope
from shared.notifications import Contact, Preference, compose, enqueue, history, prefer
from shared.notifications.messages import (
    APOLOGY_ISSUED,
    PICKED_UP,
    RECEIVED,
    REJECTED,
    RESOLVED,
    STOPPED,
    SUPPLEMENT_REQUESTED,
)
from shared.notifications.store import preference_of
from shared.rows import Db

# The timeline entries the applicant is told of; a courier's pick-up only of the result.
NOTIFIED = frozenset({RECEIVED, SUPPLEMENT_REQUESTED, APOLOGY_ISSUED, RESOLVED, PICKED_UP,
                      STOPPED, REJECTED})

# The applicant's contact for a dossier's notification, read with its timeline entry
# (``TimelineRepository.record``, where $2 names the dossier).
CONTACT = """
    SELECT true AS found, d.applicant->>'email' AS email, d.applicant->>'phone' AS phone,
           d.due_at, d.return_method, p.name AS procedure_name,
           coalesce(np.preference, 'auto') AS preference
    FROM dossiers d
    LEFT JOIN procedures p ON p.code = d.procedure_code
    LEFT JOIN notification_preferences np ON np.subject_code = d.code
    WHERE d.code = $2"""


def notified(kind: str, detail: dict[str, Any]) -> bool:
    return kind in NOTIFIED and (kind != PICKED_UP or detail.get("direction") == "outbound")


async def notify_step(db: Db, env: Envelope[Any], detail: dict[str, Any],
                      row: Mapping[str, Any]) -> str | None:
    """Queue the applicant's notification of a timeline entry just recorded, in the same
    transaction (skipped at once when opted out or without contact); the notification's
    id, or None when the entry tells the applicant nothing. ``row``: the dossier's
    ``CONTACT`` (``found`` null when there is no such dossier)."""
    kind, code = env.type, env.data.dossier_code
    if not notified(kind, detail):
        return None
    if not row["found"]:
        return None
    facts = dict(detail)
    if kind == RECEIVED:
        facts["due_at"] = row["due_at"]  # the dossier's own, whatever the entry says
    if kind == RESOLVED and not facts.get("return_method"):
        facts["return_method"] = row["return_method"]
    message = compose(kind, code, row["procedure_name"], facts)
    contact = Contact(email=row["email"], phone=row["phone"], preference=row["preference"])
    return await enqueue(db, dedup_key=f"{env.id}:{kind}", subject_code=code, kind=kind,
                         contact=contact, message=message)


class NotificationRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def prefer(self, code: str, preference: Preference, at: datetime) -> None:
        await prefer(self.db, code, preference, at)

    async def preference(self, code: str) -> Preference:
        return await preference_of(self.db, code)

    async def history(self, code: str) -> list[dict[str, Any]]:
        return await history(self.db, code)
