"""The repository contracts (tests/contracts) against the PostgreSQL adapters, each service in
a throwaway schema migrated like the service's own; every test runs in a transaction that is
rolled back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import pytest

from services.feedback.service_layer.unit_of_work import PostgresFeedbackUnitOfWork
from services.intake.adapters.notifications import (
    CONTACT,
    contact_at_filing,
    step_notification,
)
from services.intake.adapters.repository import (
    DuplicateFiling,
    FirstEntry,
    add_portal_key,
    load_catalog,
)
from services.intake.service_layer.unit_of_work import PostgresIntakeUnitOfWork
from services.postal.service_layer.unit_of_work import PostgresPostalUnitOfWork
from services.processing.service_layer.unit_of_work import PostgresProcessingUnitOfWork
from shared.db import create_pool
from shared.migrations import migrate_service
from shared.notifications import Preference
from shared.notifications.store import QUEUED_COLUMNS
from shared.outbox import OutboxWriter
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from shared.timebounds import in_legal_zone
from shared.unit_of_work import PostgresUnitOfWork
from shared.workdays import due_date
from tests.conftest import Infra
from tests.contracts import repositories as c

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KINDS: dict[str, type[PostgresUnitOfWork]] = {
    "processing": PostgresProcessingUnitOfWork, "intake": PostgresIntakeUnitOfWork,
    "postal": PostgresPostalUnitOfWork, "feedback": PostgresFeedbackUnitOfWork}


@pytest.fixture(scope="module")
async def pools(infra: Infra) -> AsyncIterator[dict[str, tuple[asyncpg.Pool, str]]]:
    made: dict[str, tuple[asyncpg.Pool, str]] = {}
    for service in KINDS:
        schema = f"t_contract_{service}_{uuid.uuid4().hex[:8]}"
        pool = await create_pool(infra.database_url, schema, min_size=1, max_size=2)
        await migrate_service(pool, schema, ROOT / "services" / service / "sql")
        made[service] = (pool, schema)
    async with made["intake"][0].acquire() as conn:  # what the dossiers' foreign keys need
        await load_catalog(conn, load_rulebook(str(DEFAULT_RULEBOOK)))
        await add_portal_key(conn, c.PORTAL, "portal", "contract-portal.secret")
    yield made
    for pool, schema in made.values():
        async with pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()


async def _repos(pools: dict[str, tuple[asyncpg.Pool, str]], service: str) -> AsyncIterator[Any]:
    pool, schema = pools[service]
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            async with KINDS[service].joining(conn, OutboxWriter(schema, service)) as uow:
                yield uow
        finally:
            await tx.rollback()


class OnPostgres:
    """The contracts' ``repos`` on the real unit of work of ``service``, rolled back after."""

    service: ClassVar[str]

    @pytest.fixture
    async def repos(self, pools: dict[str, tuple[asyncpg.Pool, str]]) -> AsyncIterator[Any]:
        async for uow in _repos(pools, self.service):
            yield uow


class Processing(OnPostgres):
    service = "processing"


class Intake(OnPostgres):
    service = "intake"


class Postal(OnPostgres):
    service = "postal"


class Feedback(OnPostgres):
    service = "feedback"


class TestPostgresProcessingDossiers(Processing, c.ProcessingDossiersContract): ...
class TestPostgresHops(Processing, c.HopsContract): ...
class TestPostgresIntakeDossiers(Intake, c.IntakeDossiersContract): ...
class TestPostgresTimeline(Intake, c.TimelineContract): ...
class TestPostgresRequestKeys(Intake, c.RequestKeysContract): ...
class TestPostgresShipments(Postal, c.ShipmentsContract): ...
class TestPostgresCouriers(Postal, c.CouriersContract): ...
class TestPostgresUnits(Postal, c.UnitsContract): ...
class TestPostgresRatedDossiers(Feedback, c.RatedDossiersContract): ...
class TestPostgresGuesses(Feedback, c.GuessesContract): ...


@pytest.mark.parametrize("preference", ["auto", "none"])
async def test_a_filing_in_one_statement_writes_what_its_steps_one_by_one_would(
        pools: dict[str, tuple[asyncpg.Pool, str]], preference: Preference) -> None:
    """A filing writes its dossier, its first timeline entry, the entry's webhook deliveries
    and its notification in one statement (``dossiers.add`` with a ``FirstEntry``), the
    notification composed from the contact the filing knows (``contact_at_filing``). Every
    later step records its entry after the dossier is there and reads the contact back
    (``CONTACT``). Both give the same rows."""
    rb = load_rulebook(str(DEFAULT_RULEBOOK))
    procedure = rb.procedure(c.PROCEDURE)
    assert procedure is not None
    deadline = due_date(c.T0, procedure.processing_days, rb.calendar_for(c.UNIT),
                        rb.policy_for(c.UNIT))
    async for uow in _repos(pools, "intake"):
        await uow.conn.execute(
            """INSERT INTO webhook_subscriptions (id, portal_id, url, events, secret, created_at)
               VALUES (gen_random_uuid(), $1, 'https://portal.example.vn/hooks', '{*}',
                       'whsec_x', now())""", c.PORTAL)
        d = c.intake_dossier("N-1", external_ref="ref-N-1", applicant={
            "kind": "citizen", "full_name": "Trần Thị Bình", "id_number": "031203004568",
            "email": "binh@example.vn", "phone": "0912345679"})
        [env] = uow.publish(d.filed(deadline))  # as the handler: filed, then added
        detail = {"channel": d.channel, "due_at": in_legal_zone(deadline.due_at)}
        if preference != "auto":
            await uow.notifications.prefer(d.code, preference, c.T0)
        await uow.dossiers.add(d, FirstEntry(env, c.T0, detail,
                                             contact_at_filing(d, procedure.name, preference),
                                             events=uow.outbox_part))
        # The event was written by the same statement, and the commit writes it no more.
        assert uow.pending == []
        await uow.commit()  # joined: writes the outbox, leaves the commit to the caller
        assert uow.committed == [env]
        assert await uow.conn.fetch("SELECT event_id, event_type, key FROM outbox") == [
            (env.id, env.type, env.key)]

        assert await uow.dossiers.get(d.code) == d
        entries, total = await uow.timeline.latest(d.code, 10)
        assert total == 1 and entries[0]["event_type"] == env.type
        assert entries[0]["detail"] == detail
        [hook] = await uow.conn.fetch(
            "SELECT event_id, payload FROM webhook_deliveries WHERE dossier_code = $1", d.code)
        assert hook["event_id"] == env.id
        data = dict(hook["payload"]["data"])
        assert datetime.fromisoformat(data.pop("status_at")) == d.status_at
        assert data == {"dossier_code": d.code, "external_ref": "ref-N-1", "status": d.status,
                        "detail": detail}
        queued = await uow.conn.fetchrow(
            f"SELECT {QUEUED_COLUMNS} FROM applicant_notifications WHERE subject_code = $1",
            d.code)
        read_back = await uow.conn.fetchrow(
            f"SELECT * FROM ({CONTACT.replace('$2', '$1')}) AS c", d.code)
        expected = step_notification(env, detail, read_back)
        assert queued is not None and expected is not None
        assert tuple(queued)[1:] == expected[1:]  # all but the new id
        assert queued["status"] == ("pending" if preference == "auto" else "skipped")
        with pytest.raises(DuplicateFiling):  # the same code again
            await uow.dossiers.add(d, FirstEntry(env, c.T0, detail,
                                                 contact_at_filing(d, procedure.name,
                                                                   preference)))
