"""In-memory units of work and repositories for the service-layer tests. They obey the same
contracts as the PostgreSQL ones (tests/contracts), and a unit of work left without a
commit rolls its repositories back, as a transaction would."""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Self

from services.feedback.domain.complaint import Complaint
from services.feedback.domain.rating import RatedDossier
from services.intake.adapters.repository import FirstEntry
from services.intake.domain.dossier import Dossier as IntakeDossier
from services.postal.domain.shipment import Shipment
from services.processing.adapters.repository import NewHop
from services.processing.domain.control_slip import Hop
from services.processing.domain.workflow import Dossier as ProcessingDossier
from services.processing.domain.workflow import State
from services.processing.service_layer.commands import Worklist
from shared.events import Envelope, EventData
from shared.notifications import Contact, Message
from shared.unit_of_work import EventCollector, OutboxPart, UnitOfWorkError


class FakeUnitOfWork(EventCollector):
    """Commits by keeping the repositories' state and the events; anything else restores the
    state they had when it was entered."""

    def __init__(self, source: str, *repositories: object) -> None:
        super().__init__(source)
        self._repositories = repositories
        self._saved: list[dict[str, Any]] = []
        self.committed: list[Envelope[Any]] = []
        self.commits = 0
        self.entered = False

    async def __aenter__(self) -> Self:
        if self.entered:
            raise UnitOfWorkError("a unit of work is entered once at a time")
        self.entered = True
        self._saved = [copy.deepcopy(vars(r)) for r in self._repositories]
        return self

    def outbox_part(self, first: int) -> OutboxPart | None:
        """Nothing to put in a statement: the fakes run none, and the events stay pending
        until ``commit`` keeps them, as a real unit of work's commit does."""
        return None

    async def commit(self) -> None:
        if not self.entered:
            raise UnitOfWorkError("commit outside the unit of work")
        self.committed += self.pending
        self.pending = []
        self._saved = [copy.deepcopy(vars(r)) for r in self._repositories]
        self.commits += 1

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        for repository, saved in zip(self._repositories, self._saved, strict=True):
            vars(repository).clear()
            vars(repository).update(saved)
        self.pending = []
        self.entered = False

    def events(self) -> list[EventData]:
        return [e.data for e in self.committed]


# ------------------------------------------------------------------ processing
class FakeProcessingDossiers:
    def __init__(self) -> None:
        self.rows: dict[str, ProcessingDossier] = {}

    async def get(self, code: str, *, lock: bool = False) -> ProcessingDossier | None:
        found = self.rows.get(code)
        return copy.deepcopy(found) if found else None

    async def add(self, d: ProcessingDossier) -> bool:
        if d.code in self.rows:
            return False
        self.rows[d.code] = copy.deepcopy(d)
        return True

    async def add_many(self, dossiers: Sequence[ProcessingDossier]) -> set[str]:
        return {d.code for d in dossiers if await self.add(d)}

    async def save(self, d: ProcessingDossier) -> None:
        if d.code in self.rows:
            self.rows[d.code] = copy.deepcopy(d)

    async def save_many(self, dossiers: Sequence[ProcessingDossier]) -> None:
        for d in dossiers:
            await self.save(d)

    async def worklist(self, q: Worklist) -> list[ProcessingDossier]:
        found = [d for d in self.rows.values()
                 if (q.units is None or d.unit_code in q.units)
                 and (not q.states or d.state in q.states)
                 and (q.due_before is None or d.due_at <= q.due_before)
                 and (q.due_after is None or d.due_at >= q.due_after)
                 and (q.assignee is None or d.assignee == q.assignee)]
        found.sort(key=lambda d: (d.due_at, d.code))
        return copy.deepcopy(found[q.offset:q.offset + q.limit])

    async def claim_for_watch(self, states: frozenset[State], now: datetime,
                              limit: int) -> list[ProcessingDossier]:
        found = [d for d in self.rows.values() if d.state in states and (
            (d.due_soon_sent_at is None and d.due_soon_at <= now)
            or (d.overdue_sent_at is None and d.due_at < now))]
        return copy.deepcopy(sorted(found, key=lambda d: d.due_at)[:limit])

    async def claim_for_stuck(self, states: frozenset[State], now: datetime,
                              limit: int) -> list[ProcessingDossier]:
        found = [d for d in self.rows.values() if d.state in states and d.stuck_flagged_at is None
                 and (d.stuck_check_at is None or d.stuck_check_at <= now)]
        never = datetime.min.replace(tzinfo=UTC)
        found.sort(key=lambda d: (d.stuck_check_at is not None, d.stuck_check_at or never,
                                  d.code))
        return copy.deepcopy(found[:limit])

    async def stuck_counts(self, states: frozenset[State]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.rows.values():
            if d.state in states and d.stuck_flagged_at is not None:
                counts[d.unit_code] = counts.get(d.unit_code, 0) + 1
        return counts

    async def stuck(self, states: frozenset[State], units: list[str],
                    limit: int) -> list[ProcessingDossier]:
        found = [d for d in self.rows.values() if d.state in states
                 and d.stuck_flagged_at is not None and d.unit_code in units]
        return copy.deepcopy(sorted(found, key=lambda d: (d.stuck_flagged_at, d.code))[:limit])

    async def past_apology_deadline(self, states: frozenset[State],
                                    now: datetime) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.rows.values():
            if d.state in states and d.apology_count == 0 and d.apology_deadline < now:
                counts[d.unit_code] = counts.get(d.unit_code, 0) + 1
        return counts


class FakeHops:
    def __init__(self) -> None:
        self.rows: list[NewHop] = []

    async def add(self, hop: NewHop) -> None:
        if hop.idempotency_key is not None and any(
                h.dossier_code == hop.dossier_code and h.idempotency_key == hop.idempotency_key
                for h in self.rows):
            raise ValueError("an Idempotency-Key is used once per dossier")
        self.rows.append(replace(hop, detail=dict(hop.detail)))

    async def add_many(self, hops: Sequence[NewHop]) -> None:
        for hop in hops:
            await self.add(hop)

    async def first_request(self, code: str, idempotency_key: str) -> str | None:
        return next((h.request_hash for h in self.rows if h.dossier_code == code
                     and h.idempotency_key == idempotency_key), None)

    async def of(self, code: str) -> list[Hop]:
        mine = sorted((h for h in self.rows if h.dossier_code == code), key=lambda h: h.at)
        return [Hop(h.step, h.unit_code, h.actor, h.at, h.due_at, dict(h.detail)) for h in mine]


class FakeProcessingUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        self.dossiers = FakeProcessingDossiers()
        self.hops = FakeHops()
        super().__init__("processing", self.dossiers, self.hops)


# ------------------------------------------------------------------ intake
class FakeIntakeDossiers:
    def __init__(self, timeline: FakeTimeline) -> None:
        self.rows: dict[str, IntakeDossier] = {}
        self.counters: dict[tuple[str, date], int] = {}
        self.timeline = timeline  # where a filing's first entry goes

    async def get(self, code: str, *, lock: bool = False) -> IntakeDossier | None:
        found = self.rows.get(code)
        return copy.deepcopy(found) if found else None

    async def add(self, d: IntakeDossier, first: FirstEntry | None = None) -> None:
        from services.intake.adapters.repository import DuplicateFiling

        clash = d.code in self.rows or any(
            o.portal_id == d.portal_id and (
                (d.idempotency_key and o.idempotency_key == d.idempotency_key)
                or (d.external_ref and o.external_ref == d.external_ref))
            for o in self.rows.values())
        if clash:
            raise DuplicateFiling(d.code)
        self.rows[d.code] = copy.deepcopy(d)
        if first is not None:
            await self.timeline.record(first.env, first.at, first.detail)

    async def save(self, d: IntakeDossier) -> None:
        if d.code in self.rows:
            self.rows[d.code] = copy.deepcopy(d)

    async def find_filed(self, portal_id: str, idempotency_key: str | None,
                         external_ref: str | None) -> IntakeDossier | None:
        for field, value in (("idempotency_key", idempotency_key),
                             ("external_ref", external_ref)):
            if value:
                for d in self.rows.values():
                    if d.portal_id == portal_id and getattr(d, field) == value:
                        return copy.deepcopy(d)
        return None

    async def next_sequence(self, unit_code: str, day: date) -> int:
        self.counters[(unit_code, day)] = self.counters.get((unit_code, day), 0) + 1
        return self.counters[(unit_code, day)]

    async def applicants(self, codes: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
        return [(c, self.rows[c].portal_id, copy.deepcopy(self.rows[c].applicant))
                for c in codes if c in self.rows]

    async def filed_at_unit(self, unit_code: str, start: datetime, end: datetime,
                            portal_id: str | None) -> list[IntakeDossier]:
        found = [d for d in self.rows.values() if d.desk == unit_code
                 and start <= d.filed_at < end and portal_id in (None, d.portal_id)]
        return copy.deepcopy(sorted(found, key=lambda d: (d.filed_at, d.code)))


class FakeTimeline:
    def __init__(self) -> None:
        self.rows: dict[Any, dict[str, Any]] = {}

    async def record(self, env: Envelope[Any], at: datetime, detail: dict[str, Any]) -> None:
        self.rows.setdefault(env.id, {"dossier_code": env.data.dossier_code, "at": at,
                                      "event_type": env.type, "source": env.source,
                                      "detail": copy.deepcopy(detail)})

    async def latest(self, code: str, limit: int) -> tuple[list[Any], int]:
        mine = sorted((r for r in self.rows.values() if r["dossier_code"] == code),
                      key=lambda r: (r["at"], r["event_type"]))
        return mine[-limit:], len(mine)


class FakeSupplements:
    def __init__(self) -> None:
        self.rows: list[tuple[str, datetime, str | None, list[dict[str, Any]], str]] = []

    async def add(self, code: str, at: datetime, note: str | None,
                  documents: list[dict[str, Any]], portal_id: str) -> None:
        self.rows.append((code, at, note, copy.deepcopy(documents), portal_id))


class FakeRequestKeys:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[str, str, str]] = {}

    async def first_request(self, portal_id: str, key: str) -> str | None:
        found = self.rows.get((portal_id, key))
        return found[2] if found else None

    async def remember(self, portal_id: str, key: str, action: str, code: str,
                       fingerprint: str) -> None:
        if (portal_id, key) in self.rows:
            raise ValueError("a key is remembered once per portal")
        self.rows[(portal_id, key)] = (action, code, fingerprint)


class FakeNotifications:
    """Preferences, and the history rows a test puts in ``rows``."""

    def __init__(self) -> None:
        self.preferences: dict[str, tuple[str, datetime]] = {}
        self.rows: list[dict[str, Any]] = []

    async def prefer(self, code: str, preference: str, at: datetime) -> None:
        self.preferences[code] = (preference, at)
        if preference == "none":
            for row in self.rows:
                if row["subject_code"] == code and row["status"] == "pending":
                    row.update(status="skipped", last_error="opted out")

    async def preference(self, code: str) -> Any:
        return self.preferences.get(code, ("auto", None))[0]

    async def history(self, code: str) -> list[dict[str, Any]]:
        return copy.deepcopy([r for r in self.rows if r["subject_code"] == code])


class FakeIntakeUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        self.timeline = FakeTimeline()
        self.dossiers = FakeIntakeDossiers(self.timeline)
        self.supplements = FakeSupplements()
        self.request_keys = FakeRequestKeys()
        self.notifications = FakeNotifications()
        super().__init__("intake", self.dossiers, self.timeline, self.supplements,
                         self.request_keys, self.notifications)


# ------------------------------------------------------------------ postal
class FakeShipments:
    def __init__(self) -> None:
        self.rows: dict[str, Shipment] = {}
        self.notifications: list[tuple[str, str]] = []

    async def get(self, shipment_id: str, *, lock: bool = False) -> Shipment | None:
        found = self.rows.get(shipment_id)
        return copy.deepcopy(found) if found else None

    async def of_dossier(self, dossier_code: str, limit: int = 20) -> list[Shipment]:
        mine = sorted((s for s in self.rows.values() if s.dossier_code == dossier_code),
                      key=lambda s: s.created_at)
        return copy.deepcopy(mine[:limit])

    async def unplaced(self, dossier_codes: Sequence[str]) -> list[Shipment]:
        return copy.deepcopy(sorted((s for s in self.rows.values()
                                     if s.dossier_code in dossier_codes and not s.unit_code),
                                    key=lambda s: s.id))

    async def add(self, s: Shipment) -> bool:
        if s.id in self.rows:
            return False
        self.rows[s.id] = copy.deepcopy(s)
        return True

    async def save(self, s: Shipment) -> None:
        stored = copy.deepcopy(s)
        stored.notifications = []
        self.rows[s.id] = stored
        self.notifications += [(s.dossier_code, m) for m in s.notifications]


class FakeCourierLog:
    def __init__(self) -> None:
        self.signatures: set[tuple[str, str]] = set()  # a signature once, whatever its time
        self.events: dict[tuple[str, str], tuple[str, str, datetime]] = {}

    async def first_signature(self, courier: str, signature: str, timestamp: int) -> bool:
        if (courier, signature) in self.signatures:
            return False
        self.signatures.add((courier, signature))
        return True

    async def seen(self, courier: str, event_id: str) -> bool:
        return (courier, event_id) in self.events

    async def record(self, courier: str, event_id: str, shipment_id: str, kind: str,
                     at: datetime) -> None:
        if (courier, event_id) in self.events:
            raise ValueError("a courier event is recorded once")
        self.events[(courier, event_id)] = (shipment_id, kind, at)


class FakeUnits:
    def __init__(self) -> None:
        self.rows: dict[str, str] = {}

    async def place(self, code: str, unit_code: str, *, moved: bool) -> None:
        if moved or code not in self.rows:
            self.rows[code] = unit_code

    async def place_many(self, filed_at: Mapping[str, str]) -> dict[str, str]:
        for code, unit_code in filed_at.items():
            await self.place(code, unit_code, moved=False)
        return {code: self.rows[code] for code in filed_at}

    async def unit_of(self, code: str) -> str | None:
        return self.rows.get(code)


class FakePostalUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        self.shipments = FakeShipments()
        self.couriers = FakeCourierLog()
        self.units = FakeUnits()
        super().__init__("postal", self.shipments, self.couriers, self.units)


# ------------------------------------------------------------------ feedback
class FakeGuesses:
    def __init__(self) -> None:
        self.failures: list[tuple[str, str, datetime]] = []
        self.turns: list[str] = []

    async def take_turn(self, code: str) -> None:
        self.turns.append(code)

    async def recent_failures(self, code: str, source: str,
                              since: datetime) -> tuple[list[datetime], list[datetime]]:
        recent = sorted((f for f in self.failures if f[2] > since), key=lambda f: f[2])
        return ([f[2] for f in recent if f[0] == code], [f[2] for f in recent if f[1] == source])

    async def record_failure(self, code: str, source: str, at: datetime) -> None:
        self.failures.append((code, source, at))


class FakeRatedDossiers:
    def __init__(self, ratings: FakeRatings) -> None:
        self.rows: dict[str, RatedDossier] = {}
        # A function, so that a rollback's copy of this repository keeps the same ratings.
        self._is_rated: Callable[[str], bool] = lambda code: code in ratings.rows

    async def get(self, code: str, *, lock: bool = False) -> RatedDossier | None:
        found = self.rows.get(code)
        if found is None:
            return None
        return replace(found, rated=self._is_rated(code))

    async def get_many(self, codes: Collection[str], *,
                       lock: bool = False) -> dict[str, RatedDossier]:
        return {code: replace(self.rows[code], rated=self._is_rated(code))
                for code in codes if code in self.rows}

    async def save(self, *dossiers: RatedDossier) -> None:
        for d in dossiers:
            self.rows[d.code] = replace(d, rated=False)


class FakeRatings:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def add(self, code: str, unit_code: str, rating: str, criteria: dict[str, Any] | None,
                  comment: str | None, at: datetime) -> None:
        if code in self.rows:
            raise ValueError("one rating per dossier")
        self.rows[code] = {"dossier_code": code, "unit_code": unit_code, "rating": rating,
                           "criteria": copy.deepcopy(criteria), "comment": comment, "at": at}

    async def of(self, code: str) -> dict[str, Any] | None:
        found = self.rows.get(code)
        return dict(found) if found else None


class FakeComplaints:
    def __init__(self) -> None:
        self.rows: dict[str, Complaint] = {}
        self.counters: dict[date, int] = {}

    async def next_code(self, day: date) -> str:
        self.counters[day] = self.counters.get(day, 0) + 1
        return f"PAKN-{day:%y%m%d}-{self.counters[day]:04d}"

    async def get(self, code: str, *, lock: bool = False) -> Complaint | None:
        found = self.rows.get(code)
        return copy.deepcopy(found) if found else None

    async def add(self, c: Complaint) -> None:
        if c.code in self.rows:
            raise ValueError("duplicate complaint code")
        self.rows[c.code] = copy.deepcopy(replace(c, events=[]))

    async def save(self, c: Complaint) -> None:
        self.rows[c.code] = copy.deepcopy(replace(c, events=[]))

    async def first_about(self, dossier_code: str, category: str) -> str | None:
        found = sorted((c.received_at, c.code) for c in self.rows.values()
                       if c.dossier_code == dossier_code and c.category == category
                       and c.repeat_of is None)
        return found[0][1] if found else None

    async def of_units(self, units: list[str] | None, state: str | None,
                       limit: int) -> list[Complaint]:
        found = [c for c in self.rows.values() if (units is None or c.unit_code in units)
                 and (state is None or c.state == state)]
        return sorted(found, key=lambda c: (c.received_at, c.code), reverse=True)[:limit]

    async def published(self, unit_code: str | None, limit: int,
                        code: str | None = None) -> list[Any]:
        found = [c for c in self.rows.values() if c.published_at is not None
                 and (unit_code is None or c.unit_code == unit_code)
                 and (code is None or c.code == code)]
        return [{"code": c.code, "unit_code": c.unit_code, "answer_text": c.answer_text}
                for c in found][:limit]

    async def awaiting_overdue(self, now: datetime, limit: int) -> list[Complaint]:
        due = [c for c in self.rows.values() if (a := c.awaited()) is not None and a[1] < now
               and a[0] not in c.overdue_flagged]
        return [copy.deepcopy(c) for c in sorted(due, key=lambda c: c.code)[:limit]]


class FakeNotificationOutbox:
    def __init__(self) -> None:
        self.queued: dict[str, tuple[str, str, Contact, Message]] = {}

    async def enqueue(self, *, dedup_key: str, subject_code: str, kind: str, contact: Contact,
                      message: Message) -> str | None:
        if dedup_key in self.queued:
            return None
        self.queued[dedup_key] = (subject_code, kind, contact, message)
        return f"ntf_{len(self.queued)}"


class FakeFeedbackUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        self.guesses = FakeGuesses()
        self.ratings = FakeRatings()
        self.dossiers = FakeRatedDossiers(self.ratings)
        self.complaints = FakeComplaints()
        self.notifications = FakeNotificationOutbox()
        super().__init__("feedback", self.guesses, self.ratings, self.dossiers, self.complaints,
                         self.notifications)


def published(uow: FakeUnitOfWork) -> Sequence[str]:
    """The types of the events a fake unit of work committed, in order."""
    return [e.type for e in uow.committed]
