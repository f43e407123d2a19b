"""Applicant notifications of a dossier's steps (docs/rules/notifications.md), in intake's
schema: queued with the timeline entry they announce (``TimelineRepository.record``), so a
committed step is never left unannounced; the applicant's preference; the desk's history.
The shared package (``shared/notifications``) composes, stores and sends them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict

from services.intake.domain.dossier import Dossier
from shared.events import Envelope
from shared.notifications import Contact, Preference, compose, history, prefer
from shared.notifications.contact import DEFAULT_PREFERENCE
from shared.notifications.messages import (
    APOLOGY_ISSUED,
    PICKED_UP,
    RECEIVED,
    REJECTED,
    RESOLVED,
    STOPPED,
    SUPPLEMENT_REQUESTED,
)
from shared.notifications.store import QUEUE, preference_of, queued_row
from shared.rows import Db

# The timeline entries the applicant is told of; a courier's pick-up only of the result.
NOTIFIED = frozenset({RECEIVED, SUPPLEMENT_REQUESTED, APOLOGY_ISSUED, RESOLVED, PICKED_UP,
                      STOPPED, REJECTED})

# The applicant's contact for a dossier's notification, read with its timeline entry
# (``TimelineRepository.record``, where $2 names the dossier).
CONTACT = f"""
    SELECT true AS found, d.applicant->>'email' AS email, d.applicant->>'phone' AS phone,
           d.due_at, d.return_method, p.name AS procedure_name,
           coalesce(np.preference, '{DEFAULT_PREFERENCE}') AS preference
    FROM dossiers d
    LEFT JOIN procedures p ON p.code = d.procedure_code
    LEFT JOIN notification_preferences np ON np.subject_code = d.code
    WHERE d.code = $2"""


def notified(kind: str, detail: dict[str, Any]) -> bool:
    return kind in NOTIFIED and (kind != PICKED_UP or detail.get("direction") == "outbound")


class ContactRow(TypedDict):
    """What ``CONTACT`` reads, or what a filing knows already (``contact_at_filing``)."""

    found: bool | None
    email: str | None
    phone: str | None
    due_at: datetime | None
    return_method: str | None
    procedure_name: str | None
    preference: Preference


def contact_at_filing(d: Dossier, procedure_name: str, preference: Preference) -> ContactRow:
    """The contact of a dossier being filed, as ``CONTACT`` would read it after the insert:
    the filing knows every part of it, so its notification is queued in the statement that
    writes the dossier (decision 0030)."""
    return ContactRow(found=True, email=d.applicant.get("email"), phone=d.applicant.get("phone"),
                      due_at=d.due_at, return_method=d.return_method,
                      procedure_name=procedure_name, preference=preference)


def step_notification(env: Envelope[Any], detail: dict[str, Any],
                      row: Mapping[str, Any]) -> tuple[str | None, ...] | None:
    """The applicant's notification of a timeline entry (``queued_row``'s values), or None
    when the entry tells the applicant nothing. ``row``: the dossier's ``ContactRow``
    (``found`` null when there is no such dossier)."""
    kind, code = env.type, env.data.dossier_code
    if not notified(kind, detail) or not row["found"]:
        return None
    facts = dict(detail)
    if kind == RECEIVED:
        facts["due_at"] = row["due_at"]  # the dossier's own, whatever the entry says
    if kind == RESOLVED and not facts.get("return_method"):
        facts["return_method"] = row["return_method"]
    message = compose(kind, code, row["procedure_name"], facts)
    contact = Contact(email=row["email"], phone=row["phone"], preference=row["preference"])
    return queued_row(dedup_key=f"{env.id}:{kind}", subject_code=code, kind=kind,
                      contact=contact, message=message)


async def notify_step(db: Db, env: Envelope[Any], detail: dict[str, Any],
                      row: Mapping[str, Any]) -> str | None:
    """Queue the applicant's notification of a timeline entry just recorded, in the same
    transaction (skipped at once when opted out or without contact); the notification's
    id, or None when the entry tells the applicant nothing."""
    values = step_notification(env, detail, row)
    if values is None:
        return None
    found: str | None = await db.fetchval(QUEUE, *values)
    return found


class NotificationRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def prefer(self, code: str, preference: Preference, at: datetime) -> None:
        await prefer(self.db, code, preference, at)

    async def preference(self, code: str) -> Preference:
        return await preference_of(self.db, code)

    async def history(self, code: str) -> list[dict[str, Any]]:
        return await history(self.db, code)
