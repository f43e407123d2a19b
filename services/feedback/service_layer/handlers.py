"""Feedback's use cases: a citizen's rating (the PIN guessing limits, the check of the PIN,
the rating and its event), an officer's read, and the dossiers heard of from the events.

The rating takes two units of work, one after the other, never two connections at once:
the PIN's (``pins.PinCheck``), then, for the right PIN only, the one that locks the
dossier."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.feedback.domain.rating import (
    GuessingPolicy,
    RatedDossier,
    RatingRefused,
    Refusal,
    WrongPin,
)
from services.feedback.service_layer.pins import PinCheck
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from shared.auth import Principal
from shared.events import (
    CriteriaScores,
    DossierReceived,
    Envelope,
    EventData,
    FeedbackSubmitted,
    Rating,
    Transferred,
)
from shared.masking import mask_personal_data


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


class RatingNotFound(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(f"no rating for {code} among your units")


class FeedbackHandlers:
    def __init__(self, unit_of_work: Callable[[], FeedbackUnitOfWork], policy: GuessingPolicy,
                 pepper: str, now: Callable[[], datetime]) -> None:
        self.unit_of_work = unit_of_work
        self.pins = PinCheck(unit_of_work, policy, pepper, now)

    async def submit_rating(self, cmd: SubmitRating) -> Rated:
        """:raises TooManyGuesses, WrongPin, RatingRefused:"""
        if not await self.pins.check(cmd.dossier_code, cmd.pin, cmd.source):
            raise WrongPin()
        comment = mask_personal_data(cmd.comment) if cmd.comment else None
        async with self.unit_of_work() as uow:
            d = await uow.dossiers.get(cmd.dossier_code, lock=True)
            if d is None:
                raise RatingRefused(Refusal.NOT_FINISHED)
            d.check_rateable()
            await uow.ratings.add(cmd.dossier_code, d.unit_code, cmd.rating,
                                  cmd.criteria.model_dump(mode="json") if cmd.criteria else None,
                                  comment, cmd.at)
            uow.publish(FeedbackSubmitted(dossier_code=cmd.dossier_code, unit_code=d.unit_code,
                                          rating=cmd.rating, criteria=cmd.criteria,
                                          comment=comment, at=cmd.at))
            await uow.commit()
        return Rated(unit_code=d.unit_code, comment=comment)

    async def rating_of(self, code: str, who: Principal) -> Any:
        async with self.unit_of_work() as uow:
            row = await uow.ratings.of(code)
        if row is None or not who.may_act_on(row["unit_code"]):
            raise RatingNotFound(code)
        return row

    async def apply_event(self, uow: FeedbackUnitOfWork, env: Envelope[EventData]) -> None:
        await self.apply_events(uow, [env])

    async def apply_events(self, uow: FeedbackUnitOfWork,
                           events: Sequence[Envelope[EventData]]) -> None:
        """Which dossiers exist, at which unit, and whether (and how) they finished: the
        events in their order, each dossier they name read once and written once."""
        async with uow:
            known = await uow.dossiers.get_many({e.data.dossier_code for e in events},
                                                lock=True)
            changed: dict[str, RatedDossier] = {}
            for env in events:
                data = env.data
                d = known.setdefault(data.dossier_code, RatedDossier(data.dossier_code))
                if isinstance(data, DossierReceived):
                    moved = d.receive(data.unit_code)
                elif isinstance(data, Transferred):
                    moved = d.transfer(data.to_unit)
                else:
                    moved = d.finish(env.type, data.occurred_at)
                if moved:
                    changed[d.code] = d
            if changed:
                await uow.dossiers.save(*changed.values())
            await uow.commit()
