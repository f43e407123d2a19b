"""Stuck dossiers (hồ sơ treo): an open dossier whose clock runs and that has had no step for
the rulebook's working days is flagged once per spell, at the end of the last of those days,
and the next step clears it. Computed by hand on the demo province's calendar (weekends off,
24/11 off for Culture Day), with two working days."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.metrics.domain.facts import fold
from services.processing.domain.workflow import stuck_from
from services.processing.service_layer.handlers import ProcessingHandlers
from shared.clock import VN
from shared.events import Stuck, Unstuck
from shared.rulebook import Rulebook, parse_rulebook
from shared.settings import DEFAULT_RULEBOOK
from tests.support.api import UNIT
from tests.support.fakes import FakeProcessingUnitOfWork, published
from tests.unit.test_metrics_golden import ev, received
from tests.unit.test_service_layer_processing import CODE, IMPORTER, act, receive, stored


def rulebook(days: int) -> Rulebook:
    raw: dict[str, Any] = json.loads(DEFAULT_RULEBOOK.read_text(encoding="utf-8"))
    raw["defaults"]["stuck_after_working_days"] = days
    return parse_rulebook(raw)


RB2 = rulebook(2)
CAL = RB2.calendar_for(UNIT)


def t(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=VN)


@pytest.mark.parametrize(("last_step", "days", "stuck"), [
    (t(13, 10), 2, t(18, 0)),  # Friday: Monday and Tuesday pass, stuck from Wednesday 00:00
    (t(16, 16), 2, t(19, 0)),  # Monday afternoon: Tuesday and Wednesday, whatever the hour
    (t(20, 10), 2, t(26, 0)),  # Friday before Culture Day (Tuesday 24/11): Monday, Wednesday
    (t(14, 10), 1, t(17, 0)),  # a Saturday step: Monday is the one day
    (t(13, 10), 5, t(21, 0)),  # the default five: the whole next week
])
def test_when_a_dossier_is_stuck(last_step: datetime, days: int, stuck: datetime) -> None:
    assert stuck_from(last_step, days, CAL, VN) == stuck


@pytest.fixture
def uow() -> FakeProcessingUnitOfWork:
    return FakeProcessingUnitOfWork()


@pytest.fixture
def h(uow: FakeProcessingUnitOfWork) -> ProcessingHandlers:
    return ProcessingHandlers(RB2, lambda: uow)


async def test_flagged_after_two_working_days_across_a_weekend_and_not_before(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow, received_at=t(13, 10), due_at=t(27, 17))  # Friday
    # The first look says when to look again: Wednesday 00:00.
    assert await h.watch_stuck(uow, t(13, 11), 10) == (1, [])
    assert stored(uow).stuck_check_at == t(18, 0)
    assert await h.watch_stuck(uow, t(17, 23, 59), 10) == (0, [])  # Tuesday night: not yet
    looked, sent = await h.watch_stuck(uow, t(18, 0), 10)
    assert (looked, sent) == (1, [Stuck(dossier_code=CODE, unit_code=UNIT,
                                        last_step_at=t(13, 10), at=t(18, 0), working_days=2)])
    assert await h.watch_stuck(uow, t(19, 9), 10) == (0, [])  # once per spell
    assert await h.stuck_counts() == {UNIT: 1}
    assert [d.code for d in await h.stuck([UNIT], 10)] == [CODE]

    # The next step clears it, and the count starts again from that step.
    await h.act(act("accept", t(18, 9)))
    assert published(uow)[-2:] == ["dossier.accepted", "dossier.unstuck"]
    assert uow.committed[-1].data == Unstuck(dossier_code=CODE, at=t(18, 9))
    assert await h.stuck_counts() == {}
    assert await h.watch_stuck(uow, t(18, 10), 10) == (1, [])
    assert stored(uow).stuck_check_at == t(21, 0)  # Thursday, Friday: from Saturday 00:00
    looked, sent = await h.watch_stuck(uow, t(23, 8), 10)
    assert [type(e) for e in sent] == [Stuck] and sent[0].occurred_at == t(21, 0)
    assert published(uow).count("dossier.stuck") == 2


async def test_a_step_back_dated_into_the_spell_ends_it_after_the_flag(
        h: ProcessingHandlers, uow: FakeProcessingUnitOfWork) -> None:
    """An importer records a step dated Tuesday afternoon once the dossier was flagged from
    Wednesday 00:00: the unstuck event is dated at the flag, so that metrics, folding in time
    order, sees the flag end."""
    await receive(h, uow, received_at=t(13, 10), due_at=t(27, 17))
    await h.watch_stuck(uow, t(13, 11), 10)
    await h.watch_stuck(uow, t(18, 1), 10)
    await h.act(act("accept", t(17, 15), given_at=t(17, 15), actor=IMPORTER))
    events = [e.data for e in uow.committed[-2:]]
    assert events[-1] == Unstuck(dossier_code=CODE, at=t(18, 0))
    stuck = next(e.data for e in uow.committed if isinstance(e.data, Stuck))
    facts = fold(CODE, [received(CODE, t(13, 10), t(27, 17)),
                        ev("dossier.stuck", stuck.at, **stuck.model_dump(mode="json")),
                        ev("dossier.unstuck", events[-1].at,
                           **events[-1].model_dump(mode="json"))], RB2)
    assert facts.stuck_since is None


async def test_a_paused_or_finished_dossier_is_not_stuck(h: ProcessingHandlers,
                                                         uow: FakeProcessingUnitOfWork) -> None:
    paused, done = f"{UNIT}-261113-0001", f"{UNIT}-261113-0002"
    for code in (paused, done):
        await receive(h, uow, code, received_at=t(13, 10), due_at=t(27, 17))
    await h.act(act("request-supplement", t(13, 11), code=paused, reason="thiếu tờ khai"))
    await h.act(act("accept", t(13, 11), code=done))
    await h.act(act("resolve", t(13, 12), code=done))
    assert await h.watch_stuck(uow, t(30, 9), 10) == (0, [])
    assert "dossier.stuck" not in published(uow)


async def test_a_step_while_not_stuck_sends_no_unstuck(h: ProcessingHandlers,
                                                       uow: FakeProcessingUnitOfWork) -> None:
    await receive(h, uow, received_at=t(13, 10), due_at=t(27, 17))
    await h.watch_stuck(uow, t(13, 11), 10)
    await h.act(act("accept", t(16, 9)))
    assert "dossier.unstuck" not in published(uow)
    assert stored(uow).stuck_check_at is None  # looked at again from the new step


def test_metrics_knows_a_dossier_is_stuck_until_its_next_step() -> None:
    base = [received("S-1", t(13, 10), t(27, 17))]
    stuck = ev("dossier.stuck", t(18, 0), unit_code="H26.06", at=t(18, 0).isoformat(),
               last_step_at=t(13, 10).isoformat(), working_days=2)
    unstuck = ev("dossier.unstuck", t(18, 9), at=t(18, 9).isoformat())
    assert fold("S-1", [*base, stuck], RB2).stuck_since == t(18, 0)
    assert fold("S-1", [unstuck, *base, stuck], RB2).stuck_since is None  # any arrival order
    again = ev("dossier.stuck", t(21, 0), unit_code="H26.06", at=t(21, 0).isoformat(),
               last_step_at=t(18, 9).isoformat(), working_days=2)
    assert fold("S-1", [again, unstuck, stuck, *base], RB2).stuck_since == t(21, 0)
    assert t(21, 0) - t(18, 0) == timedelta(days=3)
