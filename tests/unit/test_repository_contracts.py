"""The repository contracts (tests/contracts) against the in-memory fakes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts import repositories as c
from tests.support.fakes import (
    FakeFeedbackUnitOfWork,
    FakeIntakeUnitOfWork,
    FakePostalUnitOfWork,
    FakeProcessingUnitOfWork,
)


class Processing:
    @pytest.fixture
    def repos(self) -> Any:
        return FakeProcessingUnitOfWork()


class Intake:
    @pytest.fixture
    def repos(self) -> Any:
        return FakeIntakeUnitOfWork()


class Postal:
    @pytest.fixture
    def repos(self) -> Any:
        return FakePostalUnitOfWork()


class Feedback:
    @pytest.fixture
    def repos(self) -> Any:
        return FakeFeedbackUnitOfWork()


class TestFakeProcessingDossiers(Processing, c.ProcessingDossiersContract): ...
class TestFakeHops(Processing, c.HopsContract): ...
class TestFakeIntakeDossiers(Intake, c.IntakeDossiersContract): ...
class TestFakeTimeline(Intake, c.TimelineContract): ...
class TestFakeRequestKeys(Intake, c.RequestKeysContract): ...
class TestFakeShipments(Postal, c.ShipmentsContract): ...
class TestFakeCouriers(Postal, c.CouriersContract): ...
class TestFakeUnits(Postal, c.UnitsContract): ...
class TestFakeRatedDossiers(Feedback, c.RatedDossiersContract): ...
class TestFakeGuesses(Feedback, c.GuessesContract): ...
