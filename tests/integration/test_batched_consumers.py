"""A consumer's batch leaves in PostgreSQL what its events applied one by one would.

Processing, postal, feedback and the national portal connector apply a poll's events
together (each dossier read once and written once, new dossiers in a row added in one
statement). For each, the same shuffled events about four dossiers (filings by post and at
the desk, a redelivered receipt, transfers, supplements, withdrawals, results returned by
post, finishes) go to two schemas migrated like the service's own: one event per
transaction in one, a few batches in the other. Every table the consumer writes, its outbox
included, must then hold the same rows. (The repository contracts hold each statement to
the in-memory fakes; this holds the batching to the one-by-one order.)
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.feedback.adapters.events_in import FeedbackConsumer
from services.feedback.app import CONSUMED as FEEDBACK_CONSUMED
from services.feedback.domain.rating import GuessingPolicy
from services.feedback.service_layer.handlers import FeedbackHandlers
from services.national_portal.adapters.events_in import SyncConsumer
from services.national_portal.app import CONSUMED as PORTAL_CONSUMED
from services.national_portal.domain.documents import Documents
from services.national_portal.service_layer.handlers import Backoff, SyncHandlers
from services.postal.adapters.events_in import PostalConsumer
from services.postal.app import CONSUMED as POSTAL_CONSUMED
from services.postal.service_layer.handlers import PostalHandlers
from services.processing.adapters.events_in import ProcessingConsumer
from services.processing.app import CONSUMED_TYPES as PROCESSING_CONSUMED
from services.processing.service_layer.handlers import ProcessingHandlers
from shared.batching import runs
from shared.clock import VN, FixedClock
from shared.db import create_pool
from shared.events import (
    Accepted,
    DossierReceived,
    Envelope,
    EventData,
    FiledByPost,
    MaskedApplicant,
    PostalResultReturned,
    Rejected,
    Resolved,
    SupplementReceived,
    Transferred,
    Withdrawn,
)
from shared.migrations import migrate_service
from shared.outbox import OutboxWriter
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from tests.conftest import Infra
from tests.support.api import OTHER_UNIT, PROCEDURE, UNIT

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RULEBOOK = load_rulebook(str(DEFAULT_RULEBOOK))
NOW = datetime(2026, 11, 20, 9, tzinfo=VN)
Apply = Callable[[asyncpg.Connection, Sequence[Envelope[EventData]]], Awaitable[None]]


def t(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=VN)


def received(code: str, channel: str = "counter", back: str = "counter") -> DossierReceived:
    return DossierReceived.model_validate({
        "dossier_code": code, "unit_code": UNIT, "procedure_code": PROCEDURE,
        "channel": channel, "received_at": t(2), "counted_from": t(2), "due_at": t(16, 17),
        "processing_days": 10, "return_method": back,
        "applicant": MaskedApplicant(name="Nguyễn V. A.", id_number="*********567"),
        "rulebook": RULEBOOK.version})


def story(code: str, n: int) -> list[Envelope[EventData]]:
    """One dossier's events, each with its source as the consumers see it."""
    intake: list[EventData] = [received(code, "postal" if n % 2 else "counter", "postal"),
                               SupplementReceived(dossier_code=code, received_at=t(4))]
    if n % 2:
        intake.insert(0, FiledByPost(dossier_code=code, unit_code=UNIT,
                                     procedure_code=PROCEDURE, return_method="postal",
                                     at=t(1)))
    if n == 3:
        intake.append(Withdrawn(dossier_code=code, at=t(5)))
    processing: list[EventData] = [
        Accepted(dossier_code=code, at=t(2, 10), by="can.bo.a"),
        *([Transferred(dossier_code=code, from_unit=UNIT, to_unit=OTHER_UNIT, at=t(3))]
          if n % 2 == 0 else []),
        Rejected(dossier_code=code, at=t(6), reason="thiếu giấy tờ") if n == 2
        else Resolved(dossier_code=code, resolved_at=t(6), return_method="postal")]
    postal: list[EventData] = [PostalResultReturned(dossier_code=code, returned_at=t(7),
                                                    method="postal")]
    return ([Envelope(source="intake", data=d) for d in intake]
            + [Envelope(source="processing", data=d) for d in processing]
            + [Envelope(source="postal", data=d) for d in postal])


def shuffled_events(seed: int) -> list[Envelope[EventData]]:
    """Four dossiers' events interleaved at random, each dossier's from one source in their
    order (as one partition of each topic delivers them); one receipt delivered twice. Seed
    0 takes each source's events in a block, postal's and processing's before intake's, as
    a batch holds a partition's records after another's when one topic is behind."""
    rng = random.Random(seed)
    queues = [list(q) for n in range(4) for q in _by_source(story(f"{UNIT}-261102-{n:04d}", n))]
    out: list[Envelope[EventData]] = []
    if seed == 0:  # within intake's block, the filings by post, the receipts, the rest
        order = {"postal": 0, "processing": 1, "intake": 2}
        out = sorted((e for q in queues for e in q), key=lambda e: (
            order[e.source], e.source == "intake" and _intake_rank(e)))
        queues = []
    while any(queues):
        out.append(rng.choice([q for q in queues if q]).pop(0))
    again = next(e for e in out if isinstance(e.data, DossierReceived))
    out.insert(rng.randrange(out.index(again) + 1, len(out) + 1), again)
    return out


def _intake_rank(e: Envelope[EventData]) -> int:
    """The order of a dossier's own intake events: the sort keeps each dossier's."""
    return [FiledByPost, DossierReceived, SupplementReceived, Withdrawn].index(type(e.data))


def _by_source(events: list[Envelope[EventData]]) -> list[list[Envelope[EventData]]]:
    sources: dict[str, list[Envelope[EventData]]] = {}
    for e in events:
        sources.setdefault(e.source, []).append(e)
    return list(sources.values())


def _none() -> Any:
    raise AssertionError("a consumer works in the unit of work it joins")


def feedback(outbox: OutboxWriter) -> Apply:
    return FeedbackConsumer(FeedbackHandlers(
        _none, GuessingPolicy(3, 5, timedelta(minutes=15)), "pepper", lambda: NOW), outbox)


def portal(outbox: OutboxWriter) -> Apply:
    handlers = SyncHandlers(_none, Documents(RULEBOOK, "dvcqg"), Backoff(2.0, 300.0),
                            lambda: 0.5)
    return SyncConsumer(handlers, outbox, FixedClock(NOW))


def postal(outbox: OutboxWriter) -> Apply:
    return PostalConsumer(PostalHandlers(_none, 2), outbox)


def processing(outbox: OutboxWriter) -> Apply:
    return ProcessingConsumer(ProcessingHandlers(RULEBOOK, _none), outbox)


# service: (its consumer, the event types it takes, what its tables hold, ordered)
SERVICES: dict[str, tuple[Callable[[OutboxWriter], Apply], frozenset[str], list[str]]] = {
    "feedback": (feedback, FEEDBACK_CONSUMED, ["SELECT * FROM dossiers ORDER BY code"]),
    "national_portal": (portal, PORTAL_CONSUMED, ["SELECT * FROM dossiers ORDER BY code"]),
    "postal": (postal, POSTAL_CONSUMED, [
        "SELECT * FROM dossier_units ORDER BY code",
        "SELECT * FROM shipments ORDER BY id"]),
    "processing": (processing, PROCESSING_CONSUMED, [
        "SELECT * FROM dossiers ORDER BY code",
        "SELECT dossier_code, step, unit_code, actor, at, due_at, detail FROM hops "
        "ORDER BY dossier_code, id"]),
}
OUTBOX = "SELECT topic, key, event_type, payload FROM outbox ORDER BY seq"


@pytest.fixture
async def two_schemas(infra: Infra, request: pytest.FixtureRequest
                      ) -> AsyncIterator[list[tuple[asyncpg.Pool, str]]]:
    service = request.node.callspec.params["service"]
    made = []
    for _ in range(2):
        schema = f"t_batched_{service}_{uuid.uuid4().hex[:8]}"
        pool = await create_pool(infra.database_url, schema, min_size=1, max_size=1)
        await migrate_service(pool, schema, ROOT / "services" / service / "sql")
        made.append((pool, schema))
    yield made
    for pool, schema in made:
        async with pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()


async def _apply(pool: asyncpg.Pool, schema: str, service: str,
                 batches: list[list[Envelope[EventData]]]) -> list[list[asyncpg.Record]]:
    make, wanted, _ = SERVICES[service]
    apply = make(OutboxWriter(schema, service))
    async with pool.acquire() as conn:
        for batch in batches:
            async with conn.transaction():
                await apply(conn, [e for e in batch if e.type in wanted])
        return [await conn.fetch(q) for q in [*SERVICES[service][2], OUTBOX]]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_a_batch_leaves_what_its_events_one_by_one_would(
        two_schemas: list[tuple[asyncpg.Pool, str]], service: str, seed: int) -> None:
    events = shuffled_events(seed)
    cut = sorted(random.Random(seed).sample(range(1, len(events)), 3))
    batches = [events[a:b] for a, b in zip([0, *cut], [*cut, len(events)], strict=True)]
    (one_pool, one_schema), (many_pool, many_schema) = two_schemas

    one_by_one = await _apply(one_pool, one_schema, service, [[e] for e in events])
    batched = await _apply(many_pool, many_schema, service, batches)

    assert [[dict(r) for r in rows] for rows in batched] \
        == [[dict(r) for r in rows] for rows in one_by_one]
    assert all(one_by_one[:-1]), "every table the consumer writes has rows"
    if seed == 0:  # receipts in a row were applied together
        wanted = SERVICES[service][1]
        assert any(len(run) > 1 for b in batches for together, run in runs(
            [e for e in b if e.type in wanted], lambda e: isinstance(e.data, DossierReceived),
            lambda e: e.data.dossier_code) if together)
