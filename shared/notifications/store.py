"""Notifications in PostgreSQL (the service's own schema, ``shared/sql/0002_notifications.sql``):
``enqueue`` in the caller's transaction, the applicant's preference, the desk's history, and
the sender's leased claim and its record of each try."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

from shared.notifications.contact import (
    DEFAULT_PREFERENCE,
    Contact,
    Preference,
    choose_channel,
    why_not_sent,
)
from shared.notifications.messages import Message
from shared.rows import Db

Status = Literal["pending", "sent", "failed", "skipped"]


def new_id() -> str:
    return "ntf_" + uuid.uuid4().hex


# The columns of a queued notification, in the order ``queued_row`` gives their values; a
# statement that queues one with other writes (intake's filing, decision 0030) inserts these.
QUEUED_COLUMNS = ("id, subject_code, kind, dedup_key, channel, address, subject, text, status, "
                  "last_error")
# One notification queued ($1..$10: ``queued_row``), once per dedup key; its id.
QUEUE = f"""INSERT INTO applicant_notifications ({QUEUED_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (dedup_key) DO NOTHING RETURNING id"""


def queued_row(*, dedup_key: str, subject_code: str, kind: str, contact: Contact,
               message: Message) -> tuple[str | None, ...]:
    """The values of a notification queued now: pending on the channel ``choose_channel``
    gives, or at once ``skipped`` with the reason (opted out, no contact) so the desk sees
    it."""
    chosen = choose_channel(contact)
    channel, address = chosen if chosen else (None, None)
    return (new_id(), subject_code, kind, dedup_key, channel, address, message.subject,
            message.text, "pending" if chosen else "skipped",
            None if chosen else why_not_sent(contact))


async def enqueue(db: Db, *, dedup_key: str, subject_code: str, kind: str, contact: Contact,
                  message: Message) -> str | None:
    """The notification of one step (``queued_row``), written in the caller's transaction
    (so a committed step is never left unannounced and a rolled-back one announces
    nothing). Its id; None when ``dedup_key`` was queued before (an event applied twice)."""
    found: str | None = await db.fetchval(QUEUE, *queued_row(
        dedup_key=dedup_key, subject_code=subject_code, kind=kind, contact=contact,
        message=message))
    return found


async def prefer(db: Db, subject_code: str, preference: Preference, now: datetime) -> None:
    """The applicant's preference; opting out ("none") also skips what is still pending."""
    await db.execute(
        """INSERT INTO notification_preferences (subject_code, preference, updated_at)
           VALUES ($1, $2, $3) ON CONFLICT (subject_code)
           DO UPDATE SET preference = EXCLUDED.preference, updated_at = EXCLUDED.updated_at""",
        subject_code, preference, now)
    if preference == "none":
        await db.execute(
            """UPDATE applicant_notifications SET status = 'skipped', last_error = 'opted out'
               WHERE subject_code = $1 AND status = 'pending'""", subject_code)


async def preference_of(db: Db, subject_code: str) -> Preference:
    found = await db.fetchval("SELECT preference FROM notification_preferences "
                              "WHERE subject_code = $1", subject_code)
    return DEFAULT_PREFERENCE if found is None else found


async def history(db: Db, subject_code: str, limit: int = 200) -> list[dict[str, Any]]:
    """The notifications of a dossier, oldest first, address included (mask it to show)."""
    rows = await db.fetch(
        """SELECT id, kind, channel, address, status, attempts, created_at, next_attempt_at,
                  last_attempt_at, last_error, sent_at
           FROM applicant_notifications WHERE subject_code = $1 ORDER BY created_at, id LIMIT $2""",
        subject_code, limit)
    return [dict(r) for r in rows]


class NotificationOutbox:
    """``enqueue`` on a unit of work's connection: the port a service layer writes through."""

    def __init__(self, db: Db) -> None:
        self.db = db

    async def enqueue(self, *, dedup_key: str, subject_code: str, kind: str, contact: Contact,
                      message: Message) -> str | None:
        return await enqueue(self.db, dedup_key=dedup_key, subject_code=subject_code,
                             kind=kind, contact=contact, message=message)


class NotificationStore:
    """The sender's side: due notifications claimed under a lease, and each try's answer."""

    def __init__(self, db: asyncpg.Pool) -> None:
        self.db = db

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[asyncpg.Record]:
        """Due notifications, leased: tried now, and again after the lease if no answer is
        recorded (a sender that died). Each claim counts a try; the answer is recorded only
        for that try (``record``'s ``attempt``). With each, the applicant's preference now."""
        return list(await self.db.fetch(
            """UPDATE applicant_notifications n
               SET attempts = n.attempts + 1, last_attempt_at = $1, next_attempt_at = $1 + $3
               WHERE n.id IN (
                   SELECT id FROM applicant_notifications
                   WHERE status = 'pending' AND next_attempt_at <= $1
                   ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
               RETURNING n.id, n.subject_code, n.kind, n.channel, n.address, n.subject, n.text,
                         n.attempts, n.retry_from,
                         (SELECT p.preference FROM notification_preferences p
                          WHERE p.subject_code = n.subject_code) AS preference""",
            now, limit, lease))

    async def record(self, notification_id: str, attempt: int, status: Status,
                     next_at: datetime, error: str | None, now: datetime) -> bool:
        """The answer to try ``attempt``; nothing if the notification was claimed again since
        (a lease that ran out) or is no longer pending (opted out meanwhile): a late answer
        never overwrites a newer one. Whether it was recorded."""
        done: str = await self.db.execute(
            """UPDATE applicant_notifications SET status = $3, next_attempt_at = $4, last_error = $5,
                      sent_at = CASE WHEN $3 = 'sent' THEN $6::timestamptz END
               WHERE id = $1 AND attempts = $2 AND status = 'pending'""",
            notification_id, attempt, status, next_at, error, now)
        return done.endswith(" 1")

    async def pending(self) -> int:
        n: int = await self.db.fetchval(
            "SELECT count(*) FROM applicant_notifications WHERE status = 'pending'")
        return n
