"""A receipt's (or a complaint's) PIN, checked under the guessing limits: the attempts on one
code take turns (a transaction-scoped advisory lock), and a wrong PIN is committed before
the answer, so that the limits hold across replicas and restarts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.feedback.domain.rating import GuessingPolicy, TooManyGuesses, retry_after
from services.feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from shared.auth import pin_matches


class PinCheck:
    def __init__(self, unit_of_work: Callable[[], FeedbackUnitOfWork], policy: GuessingPolicy,
                 pepper: str, now: Callable[[], datetime]) -> None:
        self.unit_of_work = unit_of_work
        self.policy = policy
        self.pepper = pepper
        self.now = now

    async def check(self, code: str, pin: str, source: str) -> bool:
        """Whether ``pin`` is ``code``'s; a wrong one counts against the code and the source.

        :raises TooManyGuesses: too many wrong PINs lately (nothing is checked then)."""
        right = pin_matches(code, pin, self.pepper)
        now = self.now()
        async with self.unit_of_work() as uow:
            await uow.guesses.take_turn(code)
            by_code, by_source = await uow.guesses.recent_failures(
                code, source, now - self.policy.window)
            wait = retry_after(by_code, by_source, now, self.policy)
            if wait is None and not right:
                await uow.guesses.record_failure(code, source, now)
            await uow.commit()
        if wait is not None:
            raise TooManyGuesses(wait)
        return right
