"""Rating a dossier: the PIN guessing limits, the check of the PIN, and the rating with its
event, on one connection. No second connection is taken while a lock is held: the attempts
on one dossier take turns (a transaction-scoped advisory lock), the failure is committed
before the answer, and only the right PIN opens the transaction that locks the dossier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.feedback.adapters import repository as repo
from services.feedback.domain.rating import GuessingPolicy, Refusal, refusal, retry_after
from shared.auth import pin_matches
from shared.events import CriteriaScores, Envelope, FeedbackSubmitted, Rating
from shared.masking import mask_personal_data
from shared.service import Emit


@dataclass(frozen=True)
class SubmitRating:
    dossier_code: str
    pin: str
    rating: Rating
    criteria: CriteriaScores | None
    comment: str | None
    at: datetime
    source: str  # whom the per-source limit counts (see domain.rating.source_key)


@dataclass(frozen=True)
class Rated:
    unit_code: str
    comment: str | None  # as stored and published: masked


class TooManyGuesses(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class WrongPin(Exception):
    """The dossier code and PIN match no receipt (also when the dossier is unknown)."""


class RatingRefused(Exception):
    def __init__(self, why: Refusal) -> None:
        super().__init__(why.value)
        self.why = why


async def submit_rating(pool: asyncpg.Pool, emit: Emit, cmd: SubmitRating, *, now: datetime,
                        policy: GuessingPolicy, pepper: str) -> Rated:
    right_pin = pin_matches(cmd.dossier_code, cmd.pin, pepper)
    async with pool.acquire() as conn:
        async with conn.transaction():
            await repo.take_turn(conn, cmd.dossier_code)
            by_dossier, by_source = await repo.recent_failures(conn, cmd.dossier_code,
                                                               cmd.source, now - policy.window)
            wait = retry_after(by_dossier, by_source, now, policy)
            if wait is None and not right_pin:
                await repo.record_failure(conn, cmd.dossier_code, cmd.source, now)
        if wait is not None:
            raise TooManyGuesses(wait)
        if not right_pin:
            raise WrongPin()
        comment = mask_personal_data(cmd.comment) if cmd.comment else None
        criteria = cmd.criteria.model_dump(mode="json") if cmd.criteria else None
        async with conn.transaction():
            dossier = await repo.dossier_for_rating(conn, cmd.dossier_code)
            why = refusal(dossier["finished"] if dossier else None,
                          bool(dossier and dossier["rated"]))
            if why is not None:
                raise RatingRefused(why)
            assert dossier is not None
            unit = str(dossier["unit_code"])
            await repo.insert_rating(conn, cmd.dossier_code, unit, cmd.rating, criteria,
                                     comment, cmd.at)
            await emit(conn, [Envelope(source="feedback", data=FeedbackSubmitted(
                dossier_code=cmd.dossier_code, unit_code=unit, rating=cmd.rating,
                criteria=cmd.criteria, comment=comment, at=cmd.at))])
    return Rated(unit_code=unit, comment=comment)
