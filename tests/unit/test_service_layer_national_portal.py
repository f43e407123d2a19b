"""The national portal connector's service layer (services/national_portal/service_layer/
handlers.py) against an in-memory unit of work and duck-typed portal and intake clients: no
Kafka, no PostgreSQL, no HTTP.

The fake repository below follows the SQL of services/national_portal/adapters/repository.py
(what is pending, what a sync, a refusal, a failure and a resend change); its unit of work is
tests/support/fakes.py's, so a use case left without a commit changes nothing.

Dossiers of Lý lịch tư pháp (2.000488) received at Sở Tư pháp (H26.01) on Monday 02/11/2026
09:00 (+07:00) and accepted at 10:00; the sender runs from 12:00.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import pytest

from services.national_portal.adapters.clients import IntakeClient, PortalClient, PortalUnavailable
from services.national_portal.adapters.repository import Pending, SyncState, UnitCounts
from services.national_portal.domain.documents import (
    DOSSIER_SERVICE,
    STEP_SERVICE,
    Applicant,
    Documents,
)
from services.national_portal.domain.dossier import SyncDossier
from services.national_portal.service_layer.handlers import (
    Backoff,
    NotSynced,
    Sent,
    SyncHandlers,
)
from services.national_portal.service_layer.unit_of_work import PostgresSyncUnitOfWork
from shared.events import (
    Accepted,
    DossierReceived,
    Envelope,
    EventData,
    FiledByPost,
    MaskedApplicant,
    NationalPortalRefused,
    NationalPortalSynced,
    Transferred,
)
from shared.retry import backoff
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from tests.support.fakes import FakeUnitOfWork, published

PLUS7 = timezone(timedelta(hours=7))
RULEBOOK = load_rulebook(str(DEFAULT_RULEBOOK))
UNIT, OTHER_UNIT = "H26.01", "H26.02"
PROCEDURE = "2.000488"
NATIONAL_FILER = "dvcqg"
DELAYS = Backoff(base_s=2.0, cap_s=300.0)
DRAW = 0.5
PHONE = "0912345678"


def t(day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=PLUS7)


NOW = t(2, 12)


def code(n: int = 1, unit: str = UNIT) -> str:
    return f"{unit}-261102-{n:04d}"


CODE = code()


# ================================================================== the fake repository
@dataclass
class Row:
    """A row of the ``dossiers`` table (services/national_portal/sql/0001_national_portal.sql)."""

    code: str
    unit_code: str
    received_at: datetime | None
    view: dict[str, Any]
    version: int
    steps: int
    pending_since: datetime | None
    next_attempt_at: datetime
    synced_version: int = 0
    synced_steps: int = 0
    attempts: int = 0
    refused_version: int | None = None
    refused_code: str | None = None
    refused_text: str | None = None
    refused_at: datetime | None = None
    first_synced_at: datetime | None = None
    last_synced_at: datetime | None = None

    @property
    def pending(self) -> bool:
        """repository.PENDING, without the time."""
        return (self.unit_code != ""
                and (self.version > self.synced_version or self.steps > self.synced_steps)
                and self.refused_version != self.version)

    def state(self) -> SyncState:
        fields = asdict(self)
        del fields["received_at"], fields["view"]
        return SyncState(**fields)


class FakeSyncDossiers:
    """The SyncRepository's methods the handlers call, as its SQL does them."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.locked: list[str] = []

    async def get(self, code: str, *, lock: bool = False) -> SyncDossier | None:
        if lock:
            self.locked.append(code)
        row = self.rows.get(code)
        return SyncDossier.from_json(copy.deepcopy(row.view)) if row else None

    async def get_many(self, codes: Collection[str], *,
                       lock: bool = False) -> dict[str, SyncDossier]:
        got = {code: await self.get(code, lock=lock) for code in sorted(codes)}
        return {code: d for code, d in got.items() if d is not None}

    async def save_many(self, dossiers: Sequence[SyncDossier], now: datetime) -> None:
        for d in dossiers:
            await self.save(d, now)

    async def save(self, d: SyncDossier, now: datetime) -> None:
        view = json.loads(json.dumps(d.to_json()))  # what jsonb keeps
        received = datetime.fromisoformat(d.received_at) if d.received_at else None
        row = self.rows.get(d.code)
        if row is None:
            self.rows[d.code] = Row(d.code, d.unit_code, received, view, d.version,
                                    len(d.steps), pending_since=now, next_attempt_at=now)
            return
        row.unit_code, row.received_at, row.view = d.unit_code, received, view
        row.version, row.steps = d.version, len(d.steps)
        row.pending_since = row.pending_since if row.pending_since is not None else now
        # The SQL takes LEAST(next_attempt_at, now()) with the database's clock; the fake
        # takes the time the use case was given.
        row.attempts, row.next_attempt_at = 0, min(row.next_attempt_at, now)

    async def pending(self, now: datetime, limit: int) -> list[Pending]:
        due = sorted((r for r in self.rows.values() if r.pending and r.next_attempt_at <= now),
                     key=lambda r: (r.next_attempt_at, r.code))
        return [Pending(SyncDossier.from_json(copy.deepcopy(r.view)), r.synced_steps,
                        r.attempts) for r in due[:limit]]

    async def synced(self, code: str, version: int, steps: int, at: datetime) -> bool:
        row = self.rows.get(code)
        if row is None:
            return False
        clear = row.refused_version is not None and row.refused_version <= version
        done = row.version <= version and row.steps <= steps
        row.synced_version = max(row.synced_version, version)
        row.synced_steps = max(row.synced_steps, steps)
        row.attempts = 0
        row.first_synced_at = row.first_synced_at or at
        row.last_synced_at = at
        if clear:
            row.refused_version = row.refused_code = row.refused_text = row.refused_at = None
        if done:
            row.pending_since = None
        return row.pending_since is None

    async def refused(self, code: str, version: int, error_code: str, text: str,
                      at: datetime) -> None:
        row = self.rows.get(code)
        if row is not None and row.synced_version < version:
            row.refused_version, row.refused_code, row.refused_text = version, error_code, text
            row.refused_at, row.attempts = at, 0

    async def failed(self, codes: list[str], next_attempts: list[datetime]) -> None:
        for c, at in zip(codes, next_attempts, strict=True):
            if c in self.rows:
                self.rows[c].attempts += 1
                self.rows[c].next_attempt_at = at

    async def resend(self, code: str | None, unit_code: str | None, now: datetime) -> int:
        count = 0
        for row in self.rows.values():
            if row.refused_version is not None and code in (None, row.code) \
                    and unit_code in (None, row.unit_code):
                row.refused_version = row.refused_code = row.refused_text = None
                row.refused_at, row.attempts, row.next_attempt_at = None, 0, now
                count += 1
        return count

    async def state(self, code: str) -> SyncState | None:
        row = self.rows.get(code)
        return row.state() if row else None

    async def refusals(self, unit_code: str | None, limit: int) -> list[SyncState]:
        found = sorted((r for r in self.rows.values() if r.refused_version is not None
                        and unit_code in (None, r.unit_code)),
                       key=lambda r: (r.refused_at is None, r.refused_at or NOW, r.code))
        return [r.state() for r in found[:limit]]

    async def reconciliation(self, units: list[str] | None, start: datetime,
                             end: datetime) -> list[UnitCounts]:
        by_unit: dict[str, list[Row]] = {}
        for r in self.rows.values():
            if r.received_at is not None and start <= r.received_at < end \
                    and (units is None or r.unit_code in units):
                by_unit.setdefault(r.unit_code, []).append(r)
        out = []
        for unit, rows in sorted(by_unit.items()):
            waiting = [r.pending_since for r in rows if r.pending and r.pending_since]
            out.append(UnitCounts(
                unit_code=unit, received=len(rows),
                synced=sum(r.first_synced_at is not None for r in rows),
                pending=sum(r.pending for r in rows),
                refused=sum(r.refused_version is not None for r in rows),
                oldest_pending=min(waiting) if waiting else None))
        return out

    async def backlog(self) -> dict[str, Any]:
        waiting = [r.pending_since for r in self.rows.values() if r.pending and r.pending_since]
        return {"pending": sum(r.pending for r in self.rows.values()),
                "oldest_pending": min(waiting) if waiting else None,
                "refused": sum(r.refused_version is not None for r in self.rows.values())}


class FakeSyncUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        self.dossiers = FakeSyncDossiers()
        super().__init__("national_portal", self.dossiers)


# ================================================================== the fake clients
Trace = list[tuple[str, str, int]]  # ("spend", "", n) or ("send", service, documents)


@dataclass
class FakePortal:
    trace: Trace
    refuse: dict[str, tuple[str, str]] = field(default_factory=dict)  # MaHoSo -> code, text
    refuse_steps: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)  # services that do not answer
    calls: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    async def send(self, service: str, documents: list[dict[str, Any]],
                   updating: bool = True) -> list[tuple[str, str, str]]:
        self.trace.append(("send", service, len(documents)))
        self.calls.append((service, copy.deepcopy(documents)))
        if service in self.down:
            raise PortalUnavailable("HTTP 503")
        out = []
        for doc in documents:
            m = str(doc["MaHoSo"])
            if service == DOSSIER_SERVICE:
                error = self.refuse.get(m, ("0", ""))
            else:
                error = self.refuse_steps.get((m, int(doc["ThuTu"])), ("0", ""))
            out.append((m, *error))
        return out

    def sent(self, service: str) -> list[dict[str, Any]]:
        return [doc for s, docs in self.calls if s == service for doc in docs]


@dataclass
class FakeIntake:
    applicants_by_code: dict[str, Applicant] = field(default_factory=dict)
    down: bool = False
    calls: list[list[str]] = field(default_factory=list)

    async def applicants(self, codes: list[str]) -> dict[str, Applicant]:
        self.calls.append(list(codes))
        if self.down:
            raise PortalUnavailable("intake: HTTP 503")
        return {c: self.applicants_by_code[c] for c in codes if c in self.applicants_by_code}


def applicant(portal_id: str = "quay-tiep-nhan") -> Applicant:
    return Applicant(full_name="Nguyễn Văn An", kind="citizen", phone=PHONE,
                     email="an.nguyen@example.vn", portal_id=portal_id)


@dataclass
class World:
    uow: FakeSyncUnitOfWork
    h: SyncHandlers
    portal: FakePortal
    intake: FakeIntake
    trace: Trace
    spent: list[int] = field(default_factory=list)

    async def spend(self, n: int) -> None:
        self.spent.append(n)
        self.trace.append(("spend", "", n))

    async def send(self, now: datetime = NOW, limit: int = 50, per_request: int = 100) -> Sent:
        return await self.h.send(cast(PortalClient, self.portal), cast(IntakeClient, self.intake),
                                 limit, now, self.spend, per_request)

    async def apply(self, data: EventData, source: str = "processing",
                    now: datetime | None = None) -> Envelope[EventData]:
        env: Envelope[EventData] = Envelope(data=data, source=source, time=data.occurred_at)
        await self.h.apply_event(cast(PostgresSyncUnitOfWork, self.uow), env,
                                 now or data.occurred_at)
        return env

    async def file(self, c: str = CODE, *, unit: str = UNIT, at: datetime | None = None,
                   external_ref: str | None = None, portal_id: str = "quay-tiep-nhan",
                   accept: bool = True) -> None:
        """Received (and accepted) at ``at``; intake knows its applicant."""
        at = at or t(2)
        await self.apply(received(c, unit, at, external_ref), "intake")
        if accept:
            await self.apply(Accepted(dossier_code=c, at=at + timedelta(hours=1), by="can.bo.a"))
        self.intake.applicants_by_code[c] = applicant(portal_id)

    def row(self, c: str = CODE) -> Row:
        return self.uow.dossiers.rows[c]


def received(c: str = CODE, unit: str = UNIT, at: datetime | None = None,
             external_ref: str | None = None) -> DossierReceived:
    at = at or t(2)
    return DossierReceived(
        dossier_code=c, unit_code=unit, procedure_code=PROCEDURE, channel="counter",
        received_at=at, counted_from=at, due_at=t(16, 17), processing_days=10,
        return_method="counter",
        applicant=MaskedApplicant(name="Nguyễn V. A.", id_number="*********567"),
        rulebook="2026.12-1", external_ref=external_ref)


@pytest.fixture
def w() -> World:
    uow = FakeSyncUnitOfWork()
    trace: Trace = []
    h = SyncHandlers(lambda: cast(PostgresSyncUnitOfWork, uow), Documents(RULEBOOK, NATIONAL_FILER),
                     DELAYS, lambda: DRAW)
    return World(uow, h, FakePortal(trace), FakeIntake(), trace)


# ================================================================== events
async def test_an_event_raises_the_version_and_a_redelivery_changes_nothing(w: World) -> None:
    env = await w.apply(received(), "intake", now=t(2, 9, 1))
    row = w.row()
    assert (row.version, row.steps, row.unit_code, row.received_at) == (1, 1, UNIT, t(2))
    assert (row.pending_since, row.next_attempt_at) == (t(2, 9, 1), t(2, 9, 1))
    assert w.uow.dossiers.locked == [CODE]  # read for update

    before = copy.deepcopy(row)
    await w.h.apply_event(cast(PostgresSyncUnitOfWork, w.uow), env, t(2, 9, 30))
    assert w.row() == before

    await w.apply(Accepted(dossier_code=CODE, at=t(2, 10), by="can.bo.a"), now=t(2, 10, 1))
    row = w.row()
    assert (row.version, row.steps) == (2, 2)
    assert (row.pending_since, row.next_attempt_at) == (t(2, 9, 1), t(2, 9, 1))  # kept
    assert w.uow.committed == []  # an event in publishes nothing
    view = SyncDossier.from_json(row.view)
    assert (view.status, len(view.seen), view.seen[0]) == ("processing", 2, str(env.id))


async def test_a_dossier_not_yet_filed_is_not_sent(w: World) -> None:
    await w.apply(Accepted(dossier_code=CODE, at=t(2, 10), by="can.bo.a"))
    assert (w.row().unit_code, w.row().version) == ("", 1)
    assert await w.send() == Sent(0, 0, 0)
    assert (w.portal.calls, w.intake.calls) == ([], [])
    assert (await w.h.backlog())["pending"] == 0

    await w.apply(received(), "intake")
    w.intake.applicants_by_code[CODE] = applicant()
    assert await w.send() == Sent(1, 1, 0)
    assert [s["ThuTu"] for s in w.portal.sent(STEP_SERVICE)] == [1, 2]


# ================================================================== sending
async def test_send_syncs_the_dossier_and_its_steps(w: World) -> None:
    await w.file()
    assert await w.send() == Sent(1, 1, 0)

    assert [(s, [d["MaHoSo"] for d in docs]) for s, docs in w.portal.calls] == \
        [(DOSSIER_SERVICE, [CODE]), (STEP_SERVICE, [CODE, CODE])]
    doc = w.portal.sent(DOSSIER_SERVICE)[0]
    assert (doc["ChuHoSo"], doc["SoDienThoai"], doc["PhienBan"], doc["TrangThaiHoSo"]) == \
        ("Nguyễn Văn An", PHONE, 2, "4")
    assert [s["ThuTu"] for s in w.portal.sent(STEP_SERVICE)] == [1, 2]
    assert w.intake.calls == [[CODE]]
    assert w.uow.events() == [NationalPortalSynced(dossier_code=CODE, unit_code=UNIT,
                                                   version=2, at=NOW)]
    assert published(w.uow) == ["national_portal.synced"]
    assert w.uow.committed[0].source == "national_portal"
    # The personal data looked up went to the portal only: the stored view has none.
    assert PHONE not in json.dumps(w.row().view) and "Nguyễn Văn An" not in json.dumps(w.row().view)

    s = await w.h.state(CODE)
    assert (s.version, s.synced_version, s.steps, s.synced_steps, s.attempts) == (2, 2, 2, 2, 0)
    assert (s.pending_since, s.first_synced_at, s.last_synced_at) == (None, NOW, NOW)
    assert s.refused_version is None

    # Nothing more to send.
    assert await w.send(NOW + timedelta(minutes=1)) == Sent(0, 0, 0)
    assert len(w.portal.calls) == 2 and w.intake.calls == [[CODE]]


async def test_a_later_change_sends_the_new_version_and_only_the_new_steps(w: World) -> None:
    await w.file()
    await w.send()
    later = NOW + timedelta(hours=1)
    await w.apply(Transferred(dossier_code=CODE, from_unit=UNIT, to_unit=OTHER_UNIT,
                              at=t(2, 13)), now=t(2, 13))
    assert w.row().pending_since == t(2, 13)
    assert await w.send(later) == Sent(1, 1, 0)

    doc = w.portal.sent(DOSSIER_SERVICE)[-1]
    assert (doc["PhienBan"], doc["DonViXuLy"]) == (3, "Sở Xây dựng")
    assert [(s["ThuTu"], s["PhienBan"]) for s in w.portal.calls[-1][1]] == [(3, 3)]
    s = await w.h.state(CODE)
    assert (s.synced_version, s.synced_steps, s.first_synced_at, s.last_synced_at) == \
        (3, 3, NOW, later)
    assert [e.version for e in w.uow.events() if isinstance(e, NationalPortalSynced)] == [2, 3]


async def test_a_batch_takes_at_most_limit_dossiers_oldest_first(w: World) -> None:
    for n, minute in ((3, 1), (1, 2), (2, 3)):
        await w.apply(received(code(n)), "intake", now=t(2, 9, minute))
        w.intake.applicants_by_code[code(n)] = applicant()
    assert await w.send(limit=2) == Sent(2, 2, 0)
    assert [d["MaHoSo"] for d in w.portal.sent(DOSSIER_SERVICE)] == [code(3), code(1)]
    assert w.intake.calls == [sorted([code(3), code(1)])]
    assert await w.send(limit=2) == Sent(1, 1, 0)
    assert w.portal.calls[-2][1][0]["MaHoSo"] == code(2)


async def test_requests_are_chunked_and_each_is_spent_before_it_is_sent(w: World) -> None:
    for n in range(1, 6):
        await w.file(code(n))
    assert await w.send(per_request=3) == Sent(5, 5, 0)

    # Five dossier documents in requests of 3 and 2; ten steps in 3, 3, 3 and 1.
    assert w.spent == [3, 2, 3, 3, 3, 1]
    assert w.trace == [
        ("spend", "", 3), ("send", DOSSIER_SERVICE, 3), ("spend", "", 2),
        ("send", DOSSIER_SERVICE, 2),
        ("spend", "", 3), ("send", STEP_SERVICE, 3), ("spend", "", 3), ("send", STEP_SERVICE, 3),
        ("spend", "", 3), ("send", STEP_SERVICE, 3), ("spend", "", 1), ("send", STEP_SERVICE, 1),
    ]
    assert sum(w.spent) == len(w.portal.sent(DOSSIER_SERVICE)) + len(w.portal.sent(STEP_SERVICE))


async def test_one_document_per_request(w: World) -> None:
    await w.file(accept=False)
    assert await w.send(per_request=1) == Sent(1, 1, 0)
    assert w.trace == [("spend", "", 1), ("send", DOSSIER_SERVICE, 1),
                       ("spend", "", 1), ("send", STEP_SERVICE, 1)]


async def test_a_spend_that_fails_sends_nothing_of_its_chunk(w: World) -> None:
    await w.file()

    async def limited(n: int) -> None:
        raise PortalUnavailable("rate limit gave up")

    with pytest.raises(PortalUnavailable):
        await w.h.send(cast(PortalClient, w.portal), cast(IntakeClient, w.intake), 50, NOW,
                       limited, 100)
    assert w.portal.calls == []
    assert w.row().attempts == 1


async def test_the_national_portals_own_code_is_sent_and_mapped_back(w: World) -> None:
    national = "G22.99-261102-000042"
    await w.file(external_ref=national, portal_id=NATIONAL_FILER)
    await w.file(code(2), external_ref="TINH-0007", portal_id="cong-tinh")
    assert await w.send() == Sent(2, 2, 0)

    assert {d["MaHoSo"] for d in w.portal.sent(DOSSIER_SERVICE)} == {national, code(2)}
    assert [d["MaHoSo"] for d in w.portal.sent(STEP_SERVICE)] == [national, national,
                                                                   code(2), code(2)]
    assert {e.dossier_code for e in w.uow.events()} == {CODE, code(2)}
    assert (await w.h.state(CODE)).synced_version == 2

    # A refusal under the portal's code is the dossier's own.
    await w.apply(Transferred(dossier_code=CODE, from_unit=UNIT, to_unit=OTHER_UNIT,
                              at=t(2, 13)), now=t(2, 13))
    w.portal.refuse[national] = ("E09", "Mã hồ sơ đã tồn tại")
    assert await w.send(NOW + timedelta(hours=2)) == Sent(1, 0, 1)
    assert w.uow.events()[-1] == NationalPortalRefused(
        dossier_code=CODE, unit_code=UNIT, version=3, error_code="E09",
        error_text="Mã hồ sơ đã tồn tại", at=NOW + timedelta(hours=2))
    assert (await w.h.state(CODE)).refused_version == 3


# ================================================================== refusals
async def test_a_refused_document_is_kept_masked_and_not_sent_again(w: World) -> None:
    await w.file()
    text = f"Số điện thoại {PHONE} của chủ hồ sơ không hợp lệ"
    w.portal.refuse[CODE] = ("E07", text)
    assert await w.send() == Sent(1, 0, 1)

    event = w.uow.events()[0]
    assert isinstance(event, NationalPortalRefused)
    assert (event.dossier_code, event.unit_code, event.version, event.error_code, event.at) == \
        (CODE, UNIT, 2, "E07", NOW)
    assert PHONE not in event.error_text
    assert event.error_text == "Số điện thoại *******678 của chủ hồ sơ không hợp lệ"
    assert [s for s, _ in w.portal.calls] == [DOSSIER_SERVICE]  # no steps of a refused one

    s = await w.h.state(CODE)
    assert (s.refused_version, s.refused_code, s.refused_at, s.synced_version) == \
        (2, "E07", NOW, 0)
    assert s.refused_text == event.error_text
    assert [r.code for r in await w.h.refusals(None, 10)] == [CODE]
    assert [r.code for r in await w.h.refusals(UNIT, 10)] == [CODE]
    assert await w.h.refusals(OTHER_UNIT, 10) == []
    assert await w.h.backlog() == {"pending": 0, "oldest_pending": None, "refused": 1}

    # Not sent again by itself.
    assert await w.send(NOW + timedelta(hours=1)) == Sent(0, 0, 0)
    assert len(w.portal.calls) == 1

    # The operator fixed it and resends.
    del w.portal.refuse[CODE]
    assert await w.h.resend(CODE, None, NOW + timedelta(hours=2)) == 1
    s = await w.h.state(CODE)
    assert (s.refused_version, s.refused_code, s.refused_text, s.refused_at) == \
        (None, None, None, None)
    assert (s.next_attempt_at, s.attempts) == (NOW + timedelta(hours=2), 0)
    assert await w.h.resend(CODE, None, NOW + timedelta(hours=2)) == 0  # nothing refused now
    assert await w.send(NOW + timedelta(hours=2)) == Sent(1, 1, 0)
    assert published(w.uow) == ["national_portal.refused", "national_portal.synced"]
    assert await w.h.refusals(None, 10) == []


async def test_a_refusal_without_text_and_with_a_long_code(w: World) -> None:
    await w.file(accept=False)
    w.portal.refuse[CODE] = ("E" * 100, "")
    assert await w.send() == Sent(1, 0, 1)
    event = w.uow.events()[0]
    assert isinstance(event, NationalPortalRefused)
    assert (event.error_code, event.error_text) == ("E" * 64, "-")
    s = await w.h.state(CODE)
    assert (s.refused_code, s.refused_text) == ("E" * 64, "")


async def test_a_newer_change_of_a_refused_dossier_is_sent_as_usual(w: World) -> None:
    await w.file()
    w.portal.refuse[CODE] = ("E07", "Sai định dạng")
    await w.send()
    w.portal.refuse.clear()
    await w.apply(Transferred(dossier_code=CODE, from_unit=UNIT, to_unit=OTHER_UNIT,
                              at=t(2, 13)), now=t(2, 13))
    assert await w.send(NOW + timedelta(hours=2)) == Sent(1, 1, 0)
    s = await w.h.state(CODE)
    assert (s.synced_version, s.synced_steps, s.refused_version, s.refused_code) == \
        (3, 3, None, None)
    # All three steps went: none had been accepted before.
    assert [x["ThuTu"] for x in w.portal.calls[-1][1]] == [1, 2, 3]


async def test_a_refused_step_refuses_the_dossier(w: World) -> None:
    await w.file()
    w.portal.refuse_steps[(CODE, 2)] = ("E11", "Thiếu người xử lý")
    assert await w.send() == Sent(1, 0, 1)
    event = w.uow.events()[0]
    assert isinstance(event, NationalPortalRefused)
    assert (event.error_code, event.error_text) == ("E11", "Thiếu người xử lý")
    assert ((await w.h.state(CODE)).synced_version, (await w.h.state(CODE)).refused_version) == \
        (0, 2)


async def test_a_refused_step_among_accepted_ones_refuses_the_dossier(w: World) -> None:
    await w.file()
    w.portal.refuse_steps[(CODE, 1)] = ("E11", "Thiếu người xử lý")
    assert await w.send() == Sent(1, 0, 1)


async def test_steps_are_sent_for_the_accepted_dossiers_only(w: World) -> None:
    await w.file(code(1))
    await w.file(code(2))
    w.portal.refuse[code(2)] = ("E07", "Sai mã thủ tục")
    assert await w.send() == Sent(2, 1, 1)
    assert [s for s, _ in w.portal.calls] == [DOSSIER_SERVICE, STEP_SERVICE]
    assert {d["MaHoSo"] for d in w.portal.sent(STEP_SERVICE)} == {code(1)}
    assert [type(e) for e in w.uow.events()] == [NationalPortalSynced, NationalPortalRefused]


async def test_resend_every_refused_dossier_of_a_unit(w: World) -> None:
    for c, unit in ((code(1), UNIT), (code(2), UNIT), (code(3, OTHER_UNIT), OTHER_UNIT)):
        await w.file(c, unit=unit)
        w.portal.refuse[c] = ("E07", "Sai")
    await w.file(code(4))
    assert await w.send() == Sent(4, 1, 3)
    assert [r.code for r in await w.h.refusals(None, 2)] == [code(1), code(2)]
    assert await w.h.resend(None, UNIT, NOW + timedelta(hours=1)) == 2
    assert [r.code for r in await w.h.refusals(None, 10)] == [code(3, OTHER_UNIT)]
    w.portal.refuse.clear()
    assert await w.send(NOW + timedelta(hours=1)) == Sent(2, 2, 0)
    assert await w.h.resend(None, None, NOW + timedelta(hours=2)) == 1


# ================================================================== outages
async def test_an_unavailable_portal_records_the_retry_times(w: World) -> None:
    await w.file()
    w.portal.down = {DOSSIER_SERVICE}
    with pytest.raises(PortalUnavailable, match="503"):
        await w.send()
    first = NOW + backoff(0, DELAYS.base_s, DELAYS.cap_s, DRAW)
    assert first == NOW + timedelta(seconds=1)
    s = await w.h.state(CODE)
    assert (s.attempts, s.next_attempt_at, s.synced_version, s.pending_since) == \
        (1, first, 0, t(2, 9))
    assert w.uow.committed == []  # nothing published

    # Not taken again before its time.
    assert await w.send(NOW + timedelta(seconds=0.5)) == Sent(0, 0, 0)
    assert len(w.portal.calls) == 1

    with pytest.raises(PortalUnavailable):
        await w.send(first)
    second = first + backoff(1, DELAYS.base_s, DELAYS.cap_s, DRAW)
    assert second == first + timedelta(seconds=2)
    s = await w.h.state(CODE)
    assert (s.attempts, s.next_attempt_at) == (2, second)

    w.portal.down.clear()
    assert await w.send(second) == Sent(1, 1, 0)
    s = await w.h.state(CODE)
    assert (s.attempts, s.synced_version, s.pending_since) == (0, 2, None)


async def test_the_backoff_draws_once_per_dossier(w: World) -> None:
    draws = iter([0.25, 0.75])
    h = SyncHandlers(lambda: cast(PostgresSyncUnitOfWork, w.uow),
                     Documents(RULEBOOK, NATIONAL_FILER), Backoff(4.0, 300.0),
                     lambda: next(draws))
    await w.file(code(1))
    await w.file(code(2))
    w.portal.down = {DOSSIER_SERVICE}
    with pytest.raises(PortalUnavailable):
        await h.send(cast(PortalClient, w.portal), cast(IntakeClient, w.intake), 50, NOW,
                     w.spend, 100)
    assert [(w.row(c).attempts, w.row(c).next_attempt_at) for c in (code(1), code(2))] == \
        [(1, NOW + timedelta(seconds=1)), (1, NOW + timedelta(seconds=3))]


async def test_an_unavailable_intake_sends_nothing(w: World) -> None:
    await w.file()
    w.intake.down = True
    with pytest.raises(PortalUnavailable, match="intake"):
        await w.send()
    assert w.portal.calls == [] and w.spent == []
    assert (w.row().attempts, w.row().next_attempt_at) == (1, NOW + timedelta(seconds=1))


async def test_an_outage_while_sending_the_steps_retries_the_whole_dossier(w: World) -> None:
    await w.file()
    w.portal.down = {STEP_SERVICE}
    with pytest.raises(PortalUnavailable):
        await w.send()
    assert [s for s, _ in w.portal.calls] == [DOSSIER_SERVICE, STEP_SERVICE]
    assert (w.row().attempts, w.row().synced_version, w.row().synced_steps) == (1, 0, 0)
    w.portal.down.clear()
    assert await w.send(NOW + timedelta(seconds=1)) == Sent(1, 1, 0)
    assert [d["PhienBan"] for d in w.portal.sent(DOSSIER_SERVICE)] == [2, 2]  # the same again


async def test_a_new_change_during_an_outage_is_taken_at_once(w: World) -> None:
    await w.file()
    w.portal.down = {DOSSIER_SERVICE}
    for n in range(3):
        with pytest.raises(PortalUnavailable):
            await w.send(NOW + timedelta(minutes=n))
    assert w.row().attempts == 3
    assert w.row().next_attempt_at == t(2, 12, 2, 4)  # 12:02 + 4 s
    await w.apply(Transferred(dossier_code=CODE, from_unit=UNIT, to_unit=OTHER_UNIT,
                              at=t(2, 12, 2, 1)), now=t(2, 12, 2, 1))
    assert (w.row().attempts, w.row().next_attempt_at) == (0, t(2, 12, 2, 1))


# ================================================================== operators
async def test_the_state_of_an_unknown_dossier(w: World) -> None:
    with pytest.raises(NotSynced, match=f"not heard of dossier {CODE}"):
        await w.h.state(CODE)


async def test_the_reconciliation_per_unit(w: World) -> None:
    await w.file(code(1), at=t(2))                       # synced
    await w.file(code(2), at=t(3))                       # refused
    await w.file(code(3, OTHER_UNIT), unit=OTHER_UNIT, at=t(4))  # synced
    await w.file(code(9), at=t(30))                      # out of the span
    await w.apply(FiledByPost(dossier_code=code(8), unit_code=UNIT, procedure_code=PROCEDURE,
                              return_method="postal", at=t(5)), "intake")  # not received yet
    w.portal.refuse[code(2)] = ("E07", "Sai")
    assert await w.send(t(30, 12), limit=3) == Sent(3, 2, 1)
    await w.file(code(4), at=t(6))                       # pending
    await w.apply(Transferred(dossier_code=code(3, OTHER_UNIT), from_unit=OTHER_UNIT,
                              to_unit=UNIT, at=t(30, 13)), now=t(30, 13))  # pending again

    span = (t(1, 0), t(30, 0))
    assert await w.h.reconciliation(None, *span) == [
        UnitCounts(unit_code=UNIT, received=3, synced=1, pending=1, refused=1,
                   oldest_pending=t(6)),
        UnitCounts(unit_code=OTHER_UNIT, received=1, synced=1, pending=1, refused=0,
                   oldest_pending=t(30, 13)),
    ]
    assert await w.h.reconciliation([OTHER_UNIT], *span) == [
        UnitCounts(unit_code=OTHER_UNIT, received=1, synced=1, pending=1, refused=0,
                   oldest_pending=t(30, 13))]
    assert await w.h.reconciliation(None, t(1, 0), t(2, 0)) == []


async def test_the_backlog(w: World) -> None:
    assert await w.h.backlog() == {"pending": 0, "oldest_pending": None, "refused": 0}
    await w.file(code(1), at=t(2))
    await w.file(code(2), at=t(3))
    await w.file(code(3), at=t(4))
    w.portal.refuse[code(3)] = ("E07", "Sai")
    assert await w.h.backlog() == {"pending": 3, "oldest_pending": t(2), "refused": 0}
    # An outage does not take them out of the backlog.
    w.portal.down = {DOSSIER_SERVICE}
    with pytest.raises(PortalUnavailable):
        await w.send(t(4, 12), limit=1)
    assert (await w.h.backlog())["pending"] == 3
    assert w.row(code(1)).next_attempt_at == t(4, 12, 0, 1)
    w.portal.down.clear()
    assert await w.send(t(4, 12)) == Sent(2, 1, 1)  # the first waits for its next attempt
    assert await w.h.backlog() == {"pending": 1, "oldest_pending": t(2), "refused": 1}
    assert await w.send(t(4, 12, 0, 1)) == Sent(1, 1, 0)
    assert await w.h.backlog() == {"pending": 0, "oldest_pending": None, "refused": 1}


# ================================================================== the fake itself
async def test_the_fake_never_moves_a_sync_backwards() -> None:
    uow = FakeSyncUnitOfWork()
    d = SyncDossier(CODE, unit_code=UNIT, version=3)
    async with uow:
        await uow.dossiers.save(d, NOW)
        await uow.commit()
    repo = uow.dossiers
    assert await repo.synced(CODE, 3, 0, NOW) is True
    assert await repo.synced(CODE, 1, 0, NOW + timedelta(minutes=1)) is True
    assert (repo.rows[CODE].synced_version, repo.rows[CODE].first_synced_at) == (3, NOW)
    await repo.refused(CODE, 2, "E", "old", NOW)  # a refusal older than the sync: ignored
    assert repo.rows[CODE].refused_version is None
    assert await repo.synced("nothing", 1, 0, NOW) is False
    assert await repo.state("nothing") is None and await repo.get("nothing") is None


async def test_the_fake_rolls_back_without_a_commit() -> None:
    uow = FakeSyncUnitOfWork()
    async with uow:
        await uow.dossiers.save(SyncDossier(CODE, unit_code=UNIT, version=1), NOW)
    assert uow.dossiers.rows == {}
