"""Contract: the national index's counts PostgreSQL makes (``sql_index766``) equal the pure
function's (``domain.index766_counts.index_counts``) on the same facts: the figures' golden
scenario, and dossiers carrying every flag the index counts, for each unit alone, with
sub-units, all units, and several periods and ``as_of`` times."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.metrics.adapters import sql_index766, store
from services.metrics.domain.complaints import ComplaintFacts, complained_dossiers
from services.metrics.domain.facts import EventRecord
from services.metrics.domain.index766_counts import ProcedureTerms, index_counts
from shared.db import create_pool
from shared.migrations import migrate_service
from tests.conftest import ROOT, Infra
from tests.integration.test_metrics_sql_contract import VN, periods
from tests.unit.test_metrics_golden import SCENARIO, all_facts, ev, rating, received, resolved

pytestmark = pytest.mark.integration
TERMS = {
    "P3": ProcedureTerms("P3", 50_000, "whole", frozenset({"H26.06", "H26.06.01"})),
    "P4": ProcedureTerms("P4", 0, "partial", frozenset({"H26.06", "H26.07"})),
    "P5": ProcedureTerms("P5", 20_000, "none", frozenset({"H26.07"})),
    "P6": ProcedureTerms("P6", 10_000, "whole", frozenset({"H26.07"})),  # never filed
}


def flagged(n: int, seed: int = 7) -> dict[str, list[EventRecord]]:
    """Dossiers with random flags, payments, results and ratings in Oct–Dec 2026."""
    rng = random.Random(seed)
    out: dict[str, list[EventRecord]] = {}
    for i in range(n):
        code = f"F{i:03d}"
        unit = rng.choice(["H26.06", "H26.06.01", "H26.07"])
        at = datetime(2026, 10, 1, 9, tzinfo=VN) + timedelta(days=rng.randrange(80),
                                                             hours=rng.randrange(8))
        channel = rng.choice(["counter", "online", "postal"])
        event = received(code, at, at + timedelta(days=rng.randrange(1, 15)), unit=unit,
                         channel=channel)
        total = rng.randrange(4)
        event.data.update(
            procedure_code=rng.choice(["P3", "P4", "P5"]),
            online_mode=rng.choice(["whole", "partial"]) if channel == "online" else None,
            population_data=rng.choice([None, "vneid", "lookup"]), documents_total=total,
            documents_digitised=rng.randrange(total + 1), documents_reused=rng.randrange(2))
        events = [event]
        if rng.random() < 0.5:
            events.append(ev("dossier.supplement_requested", at + timedelta(days=1),
                             requested_at=(at + timedelta(days=1)).isoformat()))
            if rng.random() < 0.7:
                events.append(ev("dossier.supplement_received", at + timedelta(days=2),
                                 received_at=(at + timedelta(days=2)).isoformat()))
                if rng.random() < 0.4:
                    events.append(ev("dossier.supplement_requested", at + timedelta(days=3),
                                     requested_at=(at + timedelta(days=3)).isoformat()))
        if rng.random() < 0.6:
            paid = at + timedelta(days=rng.randrange(1, 6))
            events.append(ev("dossier.paid", paid, amount="50000", at=paid.isoformat(),
                             via=rng.choice(["national_platform", "provincial_platform", "desk",
                                             None])))
        if rng.random() < 0.7:
            done = at + timedelta(days=rng.randrange(1, 20), hours=2)
            r = resolved(done)
            r.data.update(electronic_result_ref=rng.choice([None, f"KQ-{i}"]),
                          result_digitised=rng.random() < 0.5,
                          shared_to_citizen=rng.random() < 0.3)
            events.append(r)
            if rng.random() < 0.5:
                events.append(rating(done + timedelta(days=1),
                                     rng.choice(["very_satisfied", "satisfied", "unsatisfied"]),
                                     None, unit=unit))
        if rng.random() < 0.6:
            first = at + timedelta(hours=rng.randrange(1, 72))
            events.append(ev("national_portal.synced", first, unit_code=unit, version=1,
                             at=first.isoformat()))
        out[code] = events
    return out


async def test_sql_counts_equal_the_pure_function(infra: Infra,
                                                  schema_factory: Callable[[str], str]) -> None:
    facts = all_facts(SCENARIO | flagged(120))
    schema = schema_factory("metrics")
    pool = await create_pool(infra.database_url, schema)
    try:
        await migrate_service(pool, schema, ROOT / "services" / "metrics" / "sql")
        # Complaints about some of the dossiers, received at various times: for 5.4, a dossier
        # complained about by as_of is not satisfied.
        rng = random.Random(766)
        complaints = [ComplaintFacts(f"PAKN-260101-{i:04d}", unit_code=f.unit_code,
                                     category="procedure", dossier_code=f.dossier_code,
                                     received_at=f.received_at + timedelta(days=rng.randrange(40)))
                      for i, f in enumerate(facts) if f.received_at and rng.random() < 0.3]
        async with pool.acquire() as conn:
            await store.upsert_facts(conn, facts)
            await store.upsert_complaint_facts(conn, complaints)
        unit_sets: list[list[str] | None] = [["H26.06"], ["H26.06.01"], ["H26.07"], ["H26.01"],
                                             ["H26.06", "H26.06.01"], None]
        checked: list[dict[str, Any]] = []
        for p in periods():
            for units in unit_sets:
                pure = index_counts(facts, p, units, TERMS,
                                    complained=complained_dossiers(complaints, p.as_of))
                counted = await sql_index766.index_counts(pool, units, p, TERMS)
                assert counted == pure, (p, units)
                checked.append({k: v for k, v in pure.items() if v is not None})
            by_unit = await sql_index766.index_counts_by_unit(pool, p, TERMS,
                                                              ["H26.06", "H26.07", "H26.01"])
            for unit, counted in by_unit.items():
                assert counted == index_counts(
                    facts, p, [unit], TERMS,
                    complained=complained_dossiers(complaints, p.as_of)), (p, unit)
        # The scenario is not trivial: every counted indicator is non-empty somewhere.
        for key in ("1.4", "2.1", "2.2", "3.1", "3.2", "3.3", "3.4", "4.1", "4.2", "4.3", "4.4", "4.5",
                    "5.4"):
            assert any(c[key].numerator > 0 for c in checked), key
        assert any(index_counts(facts, p, None, TERMS)["5.4"] != index_counts(
            facts, p, None, TERMS, complained=complained_dossiers(complaints, p.as_of))["5.4"]
            for p in periods()), "the complaints take some dossiers out of 5.4"
    finally:
        await pool.close()
