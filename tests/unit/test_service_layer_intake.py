"""Intake's service layer (services/intake/service_layer/handlers.py and portal_access.py)
against the in-memory unit of work of tests/support/fakes.py: no Kafka, no PostgreSQL.

Filings are made Monday 02/11/2026 09:00 (+07:00) at Sở Tư pháp, procedure 2.000488 of 10
working days: received at once, due Monday 16/11 17:00. A postal filing is received at the
courier's handover instead.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from services.intake.adapters.repository import DuplicateFiling, Portal, PortalKeys
from services.intake.domain.applicant import Applicant
from services.intake.domain.dossier import Dossier, StatusRefused, TimeRefused
from services.intake.service_layer.commands import (
    FileDossier,
    HandInSupplement,
    Requested,
    Withdraw,
)
from services.intake.service_layer.handlers import (
    ChannelRefused,
    DossierNotFound,
    Filed,
    FilingRefused,
    IntakeHandlers,
)
from services.intake.service_layer.portal_access import OverRate, PortalAccess, UnknownKey
from shared.auth import pin_digest, receipt_pin
from shared.clock import VN
from shared.events import (
    Accepted,
    ApologyIssued,
    Delivered,
    DossierReceived,
    Envelope,
    EventData,
    FiledByPost,
    Paid,
    PaymentRequested,
    PickedUp,
    PostalResultReturned,
    Rejected,
    Resolved,
    ResultReturned,
    SupplementReceived,
    SupplementRequested,
    Transferred,
    Withdrawn,
)
from shared.idempotency import KeyReused
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from tests.support.api import OTHER_UNIT, PROCEDURE, UNIT, applicant
from tests.support.fakes import FakeIntakeDossiers, FakeIntakeUnitOfWork, FakeTimeline, published

RB = load_rulebook(str(DEFAULT_RULEBOOK))
PEPPER = "test-pin-pepper"
OTHER_PROCEDURE = "1.009984"  # Sở Xây dựng's, 10 working days


def t(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN)


FILED = t(2)  # Monday
DUE = t(16, 17)
CODE = f"{UNIT}-261102-0001"

PORTAL = Portal("dvc-demo", "portal")
OTHER_PORTAL = Portal("dvc-other", "portal")
DESK = Portal("desk-demo", "desk")
IMPORTER = Portal("legacy-import", "importer")


@pytest.fixture
def uow() -> FakeIntakeUnitOfWork:
    return FakeIntakeUnitOfWork()


@pytest.fixture
def h(uow: FakeIntakeUnitOfWork) -> IntakeHandlers:
    return IntakeHandlers(RB, lambda: uow, PEPPER)


def filing(portal: Portal = DESK, at: datetime = FILED, key: str | None = None,
           **over: Any) -> FileDossier:
    """A filing command as the route makes it from a request body."""
    channel = over.get("channel", "counter")
    body: dict[str, Any] = {
        "unit_code": UNIT, "procedure_code": PROCEDURE, "channel": channel,
        "return_method": "online" if channel == "online" else "counter",
        "applicant": applicant(), "documents": [{"name": "to-khai.pdf"}], "note": None,
        "external_ref": None, "received_at": None}
    body.update(over)
    return FileDossier(
        Requested(portal, at, body, key), body["unit_code"], body["procedure_code"],
        body["channel"], body["return_method"], Applicant.model_validate(body["applicant"]),
        body["documents"], body["note"], body["external_ref"],
        received_at_given=body["received_at"] is not None,
        receiving_unit=body.get("receiving_unit"))


def asked(portal: Portal = PORTAL, at: datetime = t(5, 10), key: str | None = None,
          **body: Any) -> Requested:
    return Requested(portal, at, body, key)


def stored(uow: FakeIntakeUnitOfWork, code: str = CODE) -> Dossier:
    return uow.dossiers.rows[code]


def processing(data: EventData) -> Envelope[EventData]:
    return Envelope(source="processing", data=data)


def postal(data: EventData) -> Envelope[EventData]:
    return Envelope(source="postal", data=data)


async def file_online(h: IntakeHandlers, **over: Any) -> Dossier:
    return (await h.file(filing(PORTAL, channel="online", **over))).dossier


# ------------------------------------------------------------------ filing
async def test_a_counter_filing_at_the_desk_is_received_at_once(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    filed = await h.file(filing(DESK))

    assert filed.replayed is False
    d = filed.dossier
    assert d.code == CODE
    assert (d.status, d.channel, d.portal_id) == ("received", "counter", DESK.id)
    assert (d.received_at, d.counted_from, d.due_at) == (FILED, FILED, DUE)
    assert stored(uow) == d
    [event] = uow.events()
    assert isinstance(event, DossierReceived)
    assert (event.dossier_code, event.channel, event.received_at, event.due_at) == \
        (CODE, "counter", FILED, DUE)
    assert (event.processing_days, event.rulebook) == (10, RB.version)
    # Only the masked applicant leaves intake.
    assert event.applicant.name == "Nguyễn V. A."
    assert event.applicant.id_number == "*********567"
    assert "0912345678" not in event.model_dump_json()
    assert d.applicant["id_number"] == "031203004567"
    # The PIN is derived, never stored: only its digest is.
    assert h.receipt_pin(CODE) == receipt_pin(CODE, PEPPER)
    assert d.pin_digest == pin_digest(receipt_pin(CODE, PEPPER), CODE, PEPPER)
    [entry] = (await h.dossier(CODE, DESK)).timeline
    assert (entry["event_type"], entry["at"], entry["source"]) == \
        ("dossier.received", FILED, "intake")
    assert entry["detail"] == {"channel": "counter", "due_at": "2026-11-16T17:00:00+07:00"}


async def test_an_online_filing_awaits_receipt(h: IntakeHandlers,
                                               uow: FakeIntakeUnitOfWork) -> None:
    d = await file_online(h)
    assert (d.status, d.channel, d.due_at, d.portal_id) == \
        ("awaiting_receipt", "online", DUE, PORTAL.id)
    [event] = uow.events()
    assert isinstance(event, DossierReceived)
    assert event.channel == "online"


async def test_a_filing_after_the_cut_off_counts_from_the_next_working_day(
        h: IntakeHandlers) -> None:
    d = (await h.file(filing(DESK, at=t(2, 16)))).dossier
    assert (d.received_at, d.counted_from, d.due_at) == (t(2, 16), t(3, 7, 30), t(17, 17))


async def test_a_postal_filing_is_in_transit_with_no_due_date(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    d = (await h.file(filing(PORTAL, channel="postal", return_method="postal"))).dossier

    assert (d.status, d.received_at, d.counted_from, d.due_at) == \
        ("in_transit", None, None, None)
    assert uow.events() == [FiledByPost(dossier_code=CODE, unit_code=UNIT,
                                        procedure_code=PROCEDURE, return_method="postal",
                                        at=FILED)]
    [entry] = uow.timeline.rows.values()
    assert entry["detail"] == {"channel": "postal"}


async def test_an_importer_s_postal_filing_is_received_at_once(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    back = t(2, month=10)  # Friday 02/10/2026, back-filled from the old system
    d = (await h.file(filing(IMPORTER, at=back, channel="postal",
                             received_at=back.isoformat()))).dossier
    assert d.code == f"{UNIT}-261002-0001"
    assert (d.status, d.received_at, d.due_at) == ("received", back, t(16, 17, month=10))
    [event] = uow.events()
    assert isinstance(event, DossierReceived)
    assert (event.channel, event.received_at) == ("postal", back)


@pytest.mark.parametrize(("over", "fields"), [
    ({"unit_code": "H99.99"}, ["body:/unit_code"]),
    ({"procedure_code": "9.999999"}, ["body:/procedure_code"]),
    ({"unit_code": "H99.99", "procedure_code": "9.999999"},
     ["body:/unit_code", "body:/procedure_code"]),
    ({"procedure_code": OTHER_PROCEDURE}, ["body:/procedure_code"]),  # not Sở Tư pháp's
    ({"unit_code": "H26.11", "procedure_code": "2.001220", "channel": "postal"},
     ["body:/channel"]),  # the ID card is not filed by post
    ({"unit_code": "H26.02", "procedure_code": OTHER_PROCEDURE, "receiving_unit": "H26.105"},
     ["body:/receiving_unit"]),  # Sở Xây dựng's is received at its desk or the centre's
    ({"receiving_unit": "H99.99"}, ["body:/receiving_unit"]),
    ({"unit_code": "H26.901", "procedure_code": "1.001193"},
     ["body:/unit_code"]),  # phường Minh Khai was merged into phường Hồng Bàng in 2025
])
async def test_a_filing_outside_the_catalog_is_refused(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork, over: dict[str, Any],
        fields: list[str]) -> None:
    portal = PORTAL if over.get("channel") == "postal" else DESK
    with pytest.raises(FilingRefused) as refused:
        await h.file(filing(portal, **over))
    assert [e.field for e in refused.value.errors] == fields
    assert uow.dossiers.rows == {}
    assert uow.dossiers.counters == {}
    assert uow.committed == []


@pytest.mark.parametrize(("portal", "channel"), [
    (PORTAL, "counter"),  # a portal's filing never counts as the desk's
    (DESK, "online"),
    (DESK, "postal"),
    (Portal("odd", "reader"), "online"),
])
async def test_a_client_files_through_its_own_channels(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork, portal: Portal, channel: str) -> None:
    with pytest.raises(ChannelRefused):
        await h.file(filing(portal, channel=channel))
    assert uow.dossiers.rows == {}
    assert uow.committed == []


async def test_codes_are_numbered_per_unit_and_local_day(h: IntakeHandlers) -> None:
    async def code(at: datetime, **over: Any) -> str:
        return (await h.file(filing(DESK, at=at, **over))).dossier.code

    assert await code(t(2, 9)) == f"{UNIT}-261102-0001"
    assert await code(t(2, 10)) == f"{UNIT}-261102-0002"
    assert await code(t(2, 10), unit_code=OTHER_UNIT, procedure_code=OTHER_PROCEDURE) == \
        f"{OTHER_UNIT}-261102-0001"
    # 17:30 UTC on the 2nd is 00:30 on the 3rd in Hải Phòng: the local day counts.
    assert await code(datetime(2026, 11, 2, 17, 30, tzinfo=UTC)) == f"{UNIT}-261103-0001"
    # 16:59 UTC is still the 2nd there.
    assert await code(datetime(2026, 11, 2, 16, 59, tzinfo=UTC)) == f"{UNIT}-261102-0003"


async def test_a_retry_under_the_same_key_is_a_replay(h: IntakeHandlers,
                                                      uow: FakeIntakeUnitOfWork) -> None:
    first = await h.file(filing(DESK, key="k-1"))
    again = await h.file(filing(DESK, at=t(2, 9, 5), key="k-1"))  # retried five minutes on

    assert (first.replayed, again.replayed) == (False, True)
    assert again.dossier == first.dossier
    assert list(uow.dossiers.rows) == [CODE]
    assert uow.dossiers.counters == {(UNIT, FILED.date()): 1}
    assert published(uow) == ["dossier.received"]


async def test_a_retry_with_the_same_external_ref_is_a_replay(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    first = await file_online(h, external_ref="DVC-000123")
    again = await h.file(filing(PORTAL, channel="online", external_ref="DVC-000123"))
    assert again == Filed(first, replayed=True)
    assert published(uow) == ["dossier.received"]
    # Another portal's external_ref of the same value is its own.
    other = await h.file(filing(OTHER_PORTAL, channel="online", external_ref="DVC-000123"))
    assert other.replayed is False
    assert other.dossier.code == f"{UNIT}-261102-0002"


async def test_the_same_key_with_another_request_is_refused(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    await h.file(filing(DESK, key="k-1"))
    with pytest.raises(KeyReused) as refused:
        await h.file(filing(DESK, key="k-1", note="một hồ sơ khác"))
    assert refused.value.name == "Idempotency-Key"
    with pytest.raises(KeyReused):
        await h.file(filing(DESK, key="k-1", applicant=applicant(full_name="Trần Thị Bình")))
    assert list(uow.dossiers.rows) == [CODE]
    assert published(uow) == ["dossier.received"]
    # Another portal's key of the same value is its own.
    assert (await h.file(filing(IMPORTER, key="k-1", note="khác"))).replayed is False


async def test_the_same_external_ref_with_another_request_is_refused(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    await file_online(h, external_ref="DVC-000123")
    with pytest.raises(KeyReused) as refused:
        await h.file(filing(PORTAL, channel="online", external_ref="DVC-000123",
                            applicant=applicant(full_name="Trần Thị Bình")))
    assert refused.value.name == "external_ref"
    assert len(uow.dossiers.rows) == 1


class RacedDossiers(FakeIntakeDossiers):
    """Two tries of one filing racing: the loser looked for an earlier filing before the
    winner committed, found none, and its insert then clashes with the winner's row."""

    def __init__(self, timeline: FakeTimeline) -> None:
        super().__init__(timeline)
        blind: list[bool] = []
        # A function, so that the rollback of the losing try does not restore the list.
        self._blind: Callable[[], list[bool]] = lambda: blind

    def miss_the_next_look(self) -> None:
        self._blind().append(True)

    async def find_filed(self, portal_id: str, idempotency_key: str | None,
                         external_ref: str | None) -> Dossier | None:
        if self._blind():
            self._blind().pop()
            return None
        return await super().find_filed(portal_id, idempotency_key, external_ref)


class RacedUnitOfWork(FakeIntakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.raced = self.dossiers = RacedDossiers(self.timeline)
        self._repositories = (self.dossiers, self.timeline, self.supplements, self.request_keys)


async def test_a_lost_race_answers_with_the_winner_s_dossier() -> None:
    uow = RacedUnitOfWork()
    h = IntakeHandlers(RB, lambda: uow, PEPPER)
    winner = (await h.file(filing(DESK, key="k-1"))).dossier
    commits = uow.commits
    uow.raced.miss_the_next_look()

    filed = await h.file(filing(DESK, key="k-1"))

    assert filed == Filed(winner, replayed=True)
    assert list(uow.dossiers.rows) == [winner.code]
    assert uow.commits == commits  # the loser's filing rolled back
    assert published(uow) == ["dossier.received"]
    # Its sequence number too: the next filing takes the number after the winner's.
    assert uow.dossiers.counters == {(UNIT, FILED.date()): 1}
    assert (await h.file(filing(DESK))).dossier.code == f"{UNIT}-261102-0002"


async def test_a_lost_race_with_another_request_is_refused() -> None:
    uow = RacedUnitOfWork()
    h = IntakeHandlers(RB, lambda: uow, PEPPER)
    winner = (await h.file(filing(DESK, key="k-1"))).dossier
    uow.raced.miss_the_next_look()
    with pytest.raises(KeyReused):
        await h.file(filing(DESK, key="k-1", note="một hồ sơ khác"))
    assert list(uow.dossiers.rows) == [winner.code]
    assert published(uow) == ["dossier.received"]


async def test_a_clash_with_no_earlier_filing_is_raised(h: IntakeHandlers,
                                                        uow: FakeIntakeUnitOfWork) -> None:
    squatter = (await h.file(filing(DESK))).dossier
    uow.dossiers.counters.clear()  # the next filing is given the squatter's code
    with pytest.raises(DuplicateFiling):
        await h.file(filing(DESK, key="k-2"))
    assert list(uow.dossiers.rows) == [squatter.code]
    assert published(uow) == ["dossier.received"]


# ------------------------------------------------------------------ supplements
async def awaiting_supplement(h: IntakeHandlers, uow: FakeIntakeUnitOfWork,
                              requested_at: datetime = t(4, 10)) -> Dossier:
    await file_online(h)
    await h.apply_event(uow, processing(Accepted(dossier_code=CODE, at=t(2, 10), by="cb")))
    await h.apply_event(uow, processing(SupplementRequested(
        dossier_code=CODE, requested_at=requested_at, reason="thiếu bản sao",
        requested_by="cb")))
    assert stored(uow).status == "awaiting_supplement"
    return stored(uow)


async def test_a_supplement_resumes_and_moves_the_due_date(h: IntakeHandlers,
                                                           uow: FakeIntakeUnitOfWork) -> None:
    await awaiting_supplement(h, uow)
    before = len(uow.committed)

    replayed = await h.hand_in_supplement(HandInSupplement(
        CODE, asked(at=t(6, 10), note="bổ sung"), [{"name": "ban-sao.pdf"}], "bổ sung"))

    assert replayed is False
    d = stored(uow)
    # Asked Wednesday, handed in Friday: two working days paused.
    assert (d.status, d.status_at, d.due_at, d.supplement_requested_at) == \
        ("processing", t(6, 10), t(18, 17), None)
    assert uow.events()[before:] == [SupplementReceived(dossier_code=CODE, received_at=t(6, 10))]
    assert uow.supplements.rows == [(CODE, t(6, 10), "bổ sung", [{"name": "ban-sao.pdf"}],
                                     PORTAL.id)]
    entry = (await h.dossier(CODE, PORTAL)).timeline[-1]
    assert entry["event_type"] == "dossier.supplement_received"
    assert entry["detail"] == {"documents": 1, "due_at": "2026-11-18T17:00:00+07:00"}


async def test_a_supplement_is_refused_unless_one_is_awaited(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    await file_online(h)
    before = copy.deepcopy(stored(uow))
    with pytest.raises(StatusRefused) as refused:
        await h.hand_in_supplement(HandInSupplement(CODE, asked(key="s-1"), [], None))
    assert refused.value.status == "awaiting_receipt"
    assert stored(uow) == before
    assert uow.supplements.rows == []
    assert uow.request_keys.rows == {}
    assert published(uow) == ["dossier.received"]


async def test_a_supplement_before_its_request_is_refused(h: IntakeHandlers,
                                                          uow: FakeIntakeUnitOfWork) -> None:
    before = copy.deepcopy(await awaiting_supplement(h, uow))
    with pytest.raises(TimeRefused) as refused:
        await h.hand_in_supplement(HandInSupplement(CODE, asked(at=t(4, 9)), [], None))
    assert refused.value.field == "at"
    assert stored(uow) == before
    assert uow.supplements.rows == []


async def test_a_supplement_retried_under_its_key_is_handed_in_once(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    await awaiting_supplement(h, uow)
    cmd = HandInSupplement(CODE, asked(key="s-1", note="n"), [{"name": "a.pdf"}], "n")
    assert await h.hand_in_supplement(cmd) is False
    assert await h.hand_in_supplement(cmd) is True
    assert len(uow.supplements.rows) == 1
    assert published(uow).count("dossier.supplement_received") == 1
    assert uow.request_keys.rows[(PORTAL.id, "s-1")][:2] == ("supplement", CODE)
    with pytest.raises(KeyReused):  # the key with another body
        await h.hand_in_supplement(HandInSupplement(CODE, asked(key="s-1", note="khác"),
                                                    [], "khác"))
    with pytest.raises(KeyReused):  # or for another action
        await h.withdraw(Withdraw(CODE, asked(key="s-1", note="n"), None))
    assert stored(uow).status == "processing"


async def test_a_supplement_follows_the_unit_the_dossier_moved_to(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    await awaiting_supplement(h, uow)
    await h.apply_event(uow, processing(Transferred(dossier_code=CODE, from_unit=UNIT,
                                                    to_unit=OTHER_UNIT, at=t(4, 11))))
    assert (stored(uow).unit_code, stored(uow).current_unit) == (UNIT, OTHER_UNIT)
    await h.hand_in_supplement(HandInSupplement(CODE, asked(at=t(6, 10)), [], None))
    assert stored(uow).due_at == t(18, 17)


# ------------------------------------------------------------------ withdrawal
async def test_a_withdrawal_ends_the_dossier(h: IntakeHandlers,
                                             uow: FakeIntakeUnitOfWork) -> None:
    await file_online(h)
    replayed = await h.withdraw(Withdraw(
        CODE, asked(key="w-1", reason="gọi 0912345678"), "gọi 0912345678"))
    assert replayed is False
    assert (stored(uow).status, stored(uow).status_at) == ("withdrawn", t(5, 10))
    event = uow.events()[-1]
    assert isinstance(event, Withdrawn)
    assert event.reason == "gọi *******678"  # masked before it leaves
    entry = (await h.dossier(CODE, PORTAL)).timeline[-1]
    assert entry["detail"] == {"reason": "gọi *******678"}
    again = await h.withdraw(Withdraw(
        CODE, asked(key="w-1", reason="gọi 0912345678"), "gọi 0912345678"))
    assert again is True
    assert published(uow) == ["dossier.received", "dossier.withdrawn"]


@pytest.mark.parametrize("finish", [
    Resolved(dossier_code=CODE, resolved_at=t(4, 10)),
    Rejected(dossier_code=CODE, at=t(4, 10), reason="sai"),
    Withdrawn(dossier_code=CODE, at=t(4, 10)),
])
async def test_a_finished_dossier_cannot_be_withdrawn(h: IntakeHandlers,
                                                      uow: FakeIntakeUnitOfWork,
                                                      finish: EventData) -> None:
    await file_online(h)
    await h.apply_event(uow, processing(Accepted(dossier_code=CODE, at=t(2, 10), by="cb")))
    await h.apply_event(uow, processing(finish))
    before, events = copy.deepcopy(stored(uow)), list(uow.committed)
    with pytest.raises(StatusRefused):
        await h.withdraw(Withdraw(CODE, asked(key="w-1"), None))
    assert stored(uow) == before
    assert uow.committed == events
    assert uow.request_keys.rows == {}


async def test_a_withdrawal_before_the_filing_is_refused(h: IntakeHandlers,
                                                         uow: FakeIntakeUnitOfWork) -> None:
    await file_online(h)
    with pytest.raises(TimeRefused):
        await h.withdraw(Withdraw(CODE, asked(at=t(1, 9)), None))
    assert stored(uow).status == "awaiting_receipt"


# ------------------------------------------------------------------ who sees what
async def test_a_portal_sees_its_own_dossiers_the_importer_all(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    await file_online(h)
    before = copy.deepcopy(stored(uow))
    with pytest.raises(DossierNotFound):
        await h.dossier(CODE, OTHER_PORTAL)
    with pytest.raises(DossierNotFound):
        await h.dossier(CODE, DESK)
    with pytest.raises(DossierNotFound):
        await h.withdraw(Withdraw(CODE, asked(OTHER_PORTAL), None))
    with pytest.raises(DossierNotFound):
        await h.hand_in_supplement(HandInSupplement(CODE, asked(OTHER_PORTAL), [], None))
    with pytest.raises(DossierNotFound):
        await h.dossier(f"{UNIT}-261102-0999", PORTAL)
    assert stored(uow) == before
    seen = await h.dossier(CODE, IMPORTER)
    assert (seen.dossier.code, seen.timeline_total) == (CODE, 1)
    assert await h.withdraw(Withdraw(CODE, asked(IMPORTER), None)) is False
    assert stored(uow).status == "withdrawn"


async def test_the_timeline_is_limited_to_the_latest(h: IntakeHandlers,
                                                     uow: FakeIntakeUnitOfWork) -> None:
    await awaiting_supplement(h, uow)
    seen = await h.dossier(CODE, PORTAL, timeline_limit=2)
    assert seen.timeline_total == 3
    assert [e["event_type"] for e in seen.timeline] == \
        ["dossier.accepted", "dossier.supplement_requested"]


# ------------------------------------------------------------------ other services' events
async def test_the_status_follows_processing_s_events(h: IntakeHandlers,
                                                      uow: FakeIntakeUnitOfWork) -> None:
    await file_online(h)
    steps: list[tuple[EventData, str]] = [
        (Accepted(dossier_code=CODE, at=t(2, 10), by="cb"), "processing"),
        (PaymentRequested(dossier_code=CODE, amount=200000, at=t(3, 10)), "awaiting_payment"),
        (Paid(dossier_code=CODE, amount=200000, at=t(3, 11)), "processing"),
        (Resolved(dossier_code=CODE, resolved_at=t(4, 10)), "resolved"),
        (ResultReturned(dossier_code=CODE, returned_at=t(4, 11), method="online"), "returned"),
    ]
    for data, status in steps:
        await h.apply_event(uow, processing(data))
        assert (stored(uow).status, stored(uow).status_at) == (status, data.occurred_at)
    seen = await h.dossier(CODE, PORTAL)
    assert [e["event_type"] for e in seen.timeline] == [
        "dossier.received", "dossier.accepted", "dossier.payment_requested", "dossier.paid",
        "dossier.resolved", "dossier.result_returned"]
    assert published(uow) == ["dossier.received"]  # intake republishes none of them


async def test_a_redelivered_event_is_recorded_once(h: IntakeHandlers,
                                                    uow: FakeIntakeUnitOfWork) -> None:
    await file_online(h)
    env = processing(Accepted(dossier_code=CODE, at=t(2, 10), by="cb"))
    await h.apply_event(uow, env)
    await h.apply_event(uow, env)
    assert (await h.dossier(CODE, PORTAL)).timeline_total == 2


@pytest.mark.parametrize(("first", "late", "status"), [
    (Rejected(dossier_code=CODE, at=t(4, 10), reason="sai"),
     Accepted(dossier_code=CODE, at=t(2, 10), by="cb"), "rejected"),
    (Rejected(dossier_code=CODE, at=t(4, 10), reason="sai"),
     Resolved(dossier_code=CODE, resolved_at=t(4, 11)), "rejected"),  # terminal: never left
    (Resolved(dossier_code=CODE, resolved_at=t(4, 10)),
     Accepted(dossier_code=CODE, at=t(2, 10), by="cb"), "resolved"),
    (Resolved(dossier_code=CODE, resolved_at=t(4, 10)),
     PostalResultReturned(dossier_code=CODE, returned_at=t(4, 9), method="postal"),
     "returned"),  # resolved is left for returned, whatever the times
    (PaymentRequested(dossier_code=CODE, amount=1, at=t(3, 10)),
     Accepted(dossier_code=CODE, at=t(2, 10), by="cb"), "awaiting_payment"),  # older loses
    (Accepted(dossier_code=CODE, at=t(2, 10), by="cb"),
     Rejected(dossier_code=CODE, at=t(2, 9, 30), reason="sai"), "rejected"),  # a finish wins
])
async def test_events_out_of_order(h: IntakeHandlers, uow: FakeIntakeUnitOfWork,
                                   first: EventData, late: EventData, status: str) -> None:
    await file_online(h)
    await h.apply_event(uow, processing(first))
    await h.apply_event(uow, processing(late))
    assert stored(uow).status == status
    assert (await h.dossier(CODE, PORTAL)).timeline_total == 3  # both in the timeline


async def test_an_apology_moves_the_appointment(h: IntakeHandlers,
                                                uow: FakeIntakeUnitOfWork) -> None:
    await file_online(h)
    await h.apply_event(uow, processing(ApologyIssued(
        dossier_code=CODE, issued_at=t(12, 10), reason="lý do", original_due_at=DUE,
        new_due_at=t(20, 17), timely=True)))
    d = stored(uow)
    assert (d.appointment_at, d.due_at, d.status) == (t(20, 17), DUE, "awaiting_receipt")


async def test_the_courier_s_handover_receives_a_postal_filing_once(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    await h.file(filing(PORTAL, channel="postal", return_method="postal"))
    shipment = f"IN-{CODE}"
    await h.apply_event(uow, postal(PickedUp(dossier_code=CODE, shipment_id=shipment,
                                             direction="inbound", at=t(3, 9))))
    assert stored(uow).status == "in_transit"
    delivered = postal(Delivered(dossier_code=CODE, shipment_id=shipment,
                                 direction="inbound", at=t(4, 10)))

    await h.apply_event(uow, delivered)

    d = stored(uow)
    # Received Wednesday 04/11 10:00: ten working days on, Wednesday 18/11.
    assert (d.status, d.received_at, d.counted_from, d.due_at) == \
        ("received", t(4, 10), t(4, 10), t(18, 17))
    event = uow.events()[-1]
    assert isinstance(event, DossierReceived)
    assert (event.channel, event.received_at, event.due_at, event.return_method) == \
        ("postal", t(4, 10), t(18, 17), "postal")
    assert uow.committed[-1].source == "intake"

    await h.apply_event(uow, delivered)  # the courier reports it again
    await h.apply_event(uow, postal(Delivered(dossier_code=CODE, shipment_id=shipment,
                                              direction="inbound", at=t(5, 10))))
    assert published(uow) == ["dossier.filed_by_post", "dossier.received"]
    assert stored(uow).received_at == t(4, 10)
    seen = await h.dossier(CODE, PORTAL)
    assert [e["event_type"] for e in seen.timeline].count("dossier.received") == 1


async def test_an_outbound_delivery_receives_nothing(h: IntakeHandlers,
                                                     uow: FakeIntakeUnitOfWork) -> None:
    await file_online(h, return_method="postal")
    await h.apply_event(uow, processing(Accepted(dossier_code=CODE, at=t(2, 10), by="cb")))
    await h.apply_event(uow, processing(Resolved(dossier_code=CODE, resolved_at=t(4, 10),
                                                 return_method="postal")))
    await h.apply_event(uow, postal(Delivered(dossier_code=CODE, shipment_id=f"OUT-{CODE}",
                                              direction="outbound", at=t(6, 10))))
    assert stored(uow).status == "resolved"
    assert published(uow) == ["dossier.received"]


async def test_a_withdrawn_postal_filing_is_not_received_at_the_handover(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    await h.file(filing(PORTAL, channel="postal", return_method="postal"))
    await h.withdraw(Withdraw(CODE, asked(at=t(3, 9)), None))
    await h.apply_event(uow, postal(Delivered(dossier_code=CODE, shipment_id=f"IN-{CODE}",
                                              direction="inbound", at=t(4, 10))))
    assert (stored(uow).status, stored(uow).received_at) == ("withdrawn", None)
    assert published(uow) == ["dossier.filed_by_post", "dossier.withdrawn"]


async def test_an_event_of_a_dossier_filed_elsewhere_is_ignored(
        h: IntakeHandlers, uow: FakeIntakeUnitOfWork) -> None:
    await h.apply_event(uow, processing(Accepted(dossier_code="H27.01-261102-0001",
                                                 at=t(2, 10), by="cb")))
    assert uow.dossiers.rows == {}
    assert uow.timeline.rows == {}
    assert uow.committed == []


# ------------------------------------------------------------------ portal access
@dataclass
class StubKeys:
    portals: dict[str, Portal]
    asked: int = 0

    async def portal_for(self, key: str) -> Portal | None:
        self.asked += 1
        return self.portals.get(key)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def access(keys: StubKeys, clock: Clock, rate_per_s: float = 0.5, burst: int = 2) -> PortalAccess:
    return PortalAccess(cast(PortalKeys, keys), rate_per_s=rate_per_s, burst=burst,
                        monotonic=clock)


async def test_an_unknown_key_is_refused() -> None:
    keys = StubKeys({"dvc-demo.secret": PORTAL})
    with pytest.raises(UnknownKey):
        await access(keys, Clock()).admit("dvc-demo.wrong")
    assert keys.asked == 1


async def test_a_portal_over_its_burst_waits_and_is_refilled() -> None:
    clock = Clock()
    gate = access(StubKeys({"k": PORTAL, "o": OTHER_PORTAL}), clock, rate_per_s=0.5, burst=2)
    assert await gate.admit("k") == PORTAL
    assert await gate.admit("k") == PORTAL
    with pytest.raises(OverRate) as over:
        await gate.admit("k")
    assert over.value.wait_s == pytest.approx(2.0)  # one token at 0.5 per second
    assert await gate.admit("o") == OTHER_PORTAL  # each portal has its own bucket

    clock.now += 1.0
    with pytest.raises(OverRate) as still:
        await gate.admit("k")
    assert 0 < still.value.wait_s < over.value.wait_s
    clock.now += 2.0
    assert await gate.admit("k") == PORTAL


async def test_a_portal_s_own_rate_overrides_the_default() -> None:
    clock = Clock()
    fast = Portal("dvc-fast", "portal", rate_per_s=10, burst=5)
    gate = access(StubKeys({"f": fast}), clock, rate_per_s=0.5, burst=1)
    for _ in range(5):
        assert await gate.admit("f") == fast
    with pytest.raises(OverRate) as over:
        await gate.admit("f")
    assert over.value.wait_s == pytest.approx(0.1)
    clock.now += 0.1
    assert await gate.admit("f") == fast


async def test_a_commune_desk_files_for_the_department(h: IntakeHandlers,
                                                      uow: FakeIntakeUnitOfWork) -> None:
    """Filing regardless of administrative boundaries: the department stays the competent
    unit (the code, the deadline's calendar), the commune is the receiving desk."""
    filed = await h.file(filing(DESK, receiving_unit="H26.105"))
    d = filed.dossier
    assert (d.code, d.unit_code, d.receiving_unit, d.desk) == (CODE, UNIT, "H26.105", "H26.105")
    event = uow.committed[0].data
    assert isinstance(event, DossierReceived)
    assert (event.unit_code, event.receiving_unit) == (UNIT, "H26.105")
    # Naming the competent unit's own desk is the same as naming none.
    again = await h.file(filing(DESK, at=t(3), receiving_unit=UNIT))
    assert again.dossier.receiving_unit is None and again.dossier.desk == UNIT


async def test_the_old_unit_takes_history_from_before_its_merger(h: IntakeHandlers) -> None:
    filed = await h.file(filing(IMPORTER, at=datetime(2025, 6, 30, 9, tzinfo=VN),
                                unit_code="H26.901", procedure_code="1.001193",
                                received_at="2025-06-30T09:00:00+07:00"))
    assert filed.dossier.code.startswith("H26.901-250630-")
