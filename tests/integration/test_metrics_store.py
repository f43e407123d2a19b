"""Metrics' store on the real database: a dossier's events arriving over several batches,
one of them delivered again after it was stored (as after a rebuild that read it from the
topic first), give the facts and per-day counts of the fold of the distinct set."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from services.metrics.adapters import store
from services.metrics.domain import tallies
from services.metrics.domain.facts import EventRecord, Facts, fold
from shared.db import create_pool
from shared.migrations import migrate_service
from tests.conftest import ROOT, Infra
from tests.unit.test_metrics_golden import RB, ev, received, resolved

pytestmark = pytest.mark.integration
VN = timezone(timedelta(hours=7))


def rows(code: str, events: list[EventRecord]) -> list[tuple[object, ...]]:
    return [(e.event_id, code, e.type, e.occurred_at, e.data) for e in events]


async def test_batches_and_a_repeat_give_the_fold_of_the_distinct_events(
        infra: Infra, schema_factory: Callable[[str], str]) -> None:
    at = datetime(2026, 10, 5, 9, tzinfo=VN)
    got = received("S-1", at, at + timedelta(days=3))
    done = resolved(at + timedelta(days=1))
    back = ev("dossier.result_returned", at + timedelta(days=2),
              returned_at=(at + timedelta(days=2)).isoformat(), method="counter")
    schema = schema_factory("metrics")
    pool = await create_pool(infra.database_url, schema)
    try:
        await migrate_service(pool, schema, ROOT / "services" / "metrics" / "sql")
        for batch in ([got], [done, got], [back, done]):  # repeats of stored events
            async with pool.acquire() as conn, conn.transaction():
                await store.add_events(conn, rows("S-1", batch), RB)
        want = fold("S-1", [got, done, back], RB)
        row = await pool.fetchrow(f"SELECT {', '.join(store.FACT_FIELDS)} FROM facts")
        assert Facts(*row) == want
        assert want.returned_at is not None and want.end_kind == "resolved"
        assert await pool.fetchval("SELECT count(*) FROM dossier_events") == 3
        counted: Counter[str] = Counter()
        for r in await pool.fetch(f"SELECT {', '.join(tallies.COUNTS)} FROM daily_counts"):
            counted.update({c: r[c] for c in tallies.COUNTS if r[c]})
        expected: Counter[str] = Counter()
        for counts in tallies.delta([], [want]).values():
            expected.update({c: n for c, n in counts.items() if n})
        assert counted == expected and counted["received"] == 1
    finally:
        await pool.close()
