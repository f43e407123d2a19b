"""The collector settled at the end of start-up (shared/collector.py): the start-up heap is
frozen, the thresholds are the settings', and a setting that would switch it off is refused."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from services.intake.settings import Settings as IntakeSettings
from shared.collector import DEFAULT_THRESHOLDS, settle_after_start_up
from shared.settings import ServiceSettings


@pytest.fixture
def collector_restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("collector_restored")
def test_what_start_up_built_is_frozen_and_the_thresholds_are_set() -> None:
    gc.unfreeze()
    built_at_start_up = [{"n": i} for i in range(1000)]
    frozen = settle_after_start_up((12_345, 7, 3))
    # How many were frozen (some of them, the settling's own temporaries, are freed since).
    assert frozen > len(built_at_start_up)
    assert gc.get_threshold() == (12_345, 7, 3)
    # A full collection no longer walks them: only what is made after start-up is tracked.
    assert not any(o is built_at_start_up for o in gc.get_objects())
    made_later: list[int] = []
    assert any(o is made_later for o in gc.get_objects())


@pytest.mark.usefixtures("collector_restored")
def test_cyclic_garbage_made_after_start_up_is_still_collected() -> None:
    settle_after_start_up((10, 10, 10))

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2


def test_the_thresholds_are_a_setting_and_none_may_switch_the_collector_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().gc_thresholds == DEFAULT_THRESHOLDS
    monkeypatch.setenv("MOTCUA_GC_THRESHOLDS", "[2000, 10, 10]")
    assert ServiceSettings().gc_thresholds == (2000, 10, 10)
    monkeypatch.setenv("INTAKE_GC_THRESHOLDS", "[3000, 5, 5]")  # a service's own wins
    assert IntakeSettings().gc_thresholds == (3000, 5, 5)
    monkeypatch.delenv("INTAKE_GC_THRESHOLDS")
    monkeypatch.setenv("MOTCUA_GC_THRESHOLDS", "[0, 10, 10]")  # 0 disables collection
    with pytest.raises(ValidationError, match="gc_thresholds"):
        ServiceSettings()
