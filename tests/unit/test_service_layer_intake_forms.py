"""Intake's printed forms through the service layer (IntakeHandlers.form and .register),
against the in-memory unit of work: visibility as for the dossier, the refusals, and what
goes into each form."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.intake.adapters.repository import Portal
from services.intake.domain.applicant import Applicant
from services.intake.domain.forms import FormNotApplicable
from services.intake.service_layer.commands import FileDossier, Requested
from services.intake.service_layer.handlers import DossierNotFound, IntakeHandlers, UnknownUnit
from shared.events import Envelope, Rejected, SupplementRequested
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from tests.support.fakes import FakeIntakeUnitOfWork

VN = ZoneInfo("Asia/Ho_Chi_Minh")
T = datetime(2026, 11, 2, 9, 0, tzinfo=VN)
DESK = Portal("desk-demo", "desk")
OTHER = Portal("dvc-demo", "portal")
IMPORTER = Portal("legacy-import", "importer")
RB = load_rulebook(str(DEFAULT_RULEBOOK))


@pytest.fixture
def uow() -> FakeIntakeUnitOfWork:
    return FakeIntakeUnitOfWork()


@pytest.fixture
def app(uow: FakeIntakeUnitOfWork) -> IntakeHandlers:
    return IntakeHandlers(RB, lambda: uow, "p" * 40, "https://look.example/?ma={code}")


async def filed(app: IntakeHandlers, at: datetime = T) -> str:
    applicant = Applicant(full_name="Nguyễn Văn An", id_number="031203004567",
                          phone="0912345678")
    request: dict[str, Any] = {"n": at.isoformat()}
    done = await app.file(FileDossier(Requested(DESK, at, request), "H26.01", "2.000488",
                                      "counter", "counter", applicant,
                                      [{"name": "Tờ khai"}], None, None, False))
    return done.dossier.code


async def test_forms_follow_the_dossier(app: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    code = await filed(app)
    receipt = await app.form(code, "01", DESK, T)
    assert receipt.number == "01" and receipt.lookup_url == f"https://look.example/?ma={code}"
    assert ("Tổ chức, cá nhân nộp hồ sơ", "Nguyễn Văn An") in receipt.lines
    assert ("Mã tra cứu, đánh giá (PIN)", app.receipt_pin(code)) in receipt.lines
    for number in ("02", "03", "04", "06"):
        with pytest.raises(FormNotApplicable):
            await app.form(code, number, DESK, T)
    asked = SupplementRequested(dossier_code=code, requested_at=T + timedelta(hours=1),
                                reason="thiếu bản sao", requested_by="officer-1")
    await app.apply_event(uow, Envelope(source="processing", data=asked))
    form = await app.form(code, "02", DESK, T)
    assert ("Nội dung cần bổ sung, hoàn thiện", "thiếu bản sao") in form.lines
    rejected = Rejected(dossier_code=code, at=T + timedelta(hours=2), reason="không đủ điều kiện")
    await app.apply_event(uow, Envelope(source="processing", data=rejected))
    refused = await app.form(code, "03", IMPORTER, T)
    assert ("Lý do từ chối", "không đủ điều kiện") in refused.lines


async def test_another_portal_sees_no_form_and_the_register_is_the_caller_s(
        app: IntakeHandlers) -> None:
    mine = await filed(app)
    with pytest.raises(DossierNotFound):
        await app.form(mine, "01", OTHER, T)
    day = datetime(2026, 11, 2, tzinfo=VN)
    own = await app.register("H26.01", day, day + timedelta(days=1), DESK, T)
    assert [row[1] for row in own.table[1:]] == [mine]
    assert len(own.table) == 2 and own.lookup_url == "https://look.example/?ma="
    theirs = await app.register("H26.01", day, day + timedelta(days=1), OTHER, T)
    assert len(theirs.table) == 1  # headers only
    everyone = await app.register("H26.01", day, day + timedelta(days=1), IMPORTER, T)
    assert [row[1] for row in everyone.table[1:]] == [mine]
    with pytest.raises(UnknownUnit):
        await app.register("H99.99", day, day + timedelta(days=1), DESK, T)
