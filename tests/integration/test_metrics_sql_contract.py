"""Contract: the figures PostgreSQL counts (``sql_figures``) equal the pure function's
(``domain.figures``) on the same facts — the golden scenario and its ranking extras — for
every unit alone, with sub-units, and for several periods and ``as_of`` times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from services.metrics.adapters import sql_figures, store
from services.metrics.domain import tallies
from services.metrics.domain.facts import fold
from services.metrics.domain.figures import Period, desk_counts, figures
from shared.db import create_pool
from shared.migrations import migrate_service
from tests.conftest import ROOT, Infra
from tests.unit.test_metrics_golden import RB, SCENARIO, all_facts, ev, received, resolved

pytestmark = pytest.mark.integration
VN = timezone(timedelta(hours=7))


def periods() -> list[Period]:
    now = datetime(2027, 1, 1, tzinfo=VN)
    return [
        Period.of(date(2026, 11, 1), date(2026, 11, 30), None, now),
        Period.of(date(2026, 11, 1), date(2026, 11, 30), datetime(2026, 11, 11, 12, tzinfo=VN), now),
        Period.of(date(2026, 11, 1), date(2026, 11, 30), datetime(2026, 11, 4, 9, tzinfo=VN), now),
        Period.of(date(2026, 10, 1), date(2026, 10, 31), None, now),
        Period.of(date(2026, 10, 15), date(2026, 12, 31), None, now),
        # judged after its end, mid-day; and before its start
        Period.of(date(2026, 10, 1), date(2026, 10, 31), datetime(2026, 11, 3, 10, tzinfo=VN), now),
        Period.of(date(2026, 11, 5), date(2026, 11, 30), datetime(2026, 11, 3, 10, tzinfo=VN), now),
    ]


async def test_sql_figures_equal_the_pure_function(infra: Infra,
                                                   schema_factory: Callable[[str], str]) -> None:
    extra = {}
    for unit, n in (("H26.02", 5), ("H26.01", 2)):
        for i in range(n):
            code = f"{unit}-{i}"
            extra[code] = [received(code, datetime(2026, 11, 2, 9, tzinfo=VN),
                                    datetime(2026, 11, 5, 17, tzinfo=VN), unit=unit),
                           resolved(datetime(2026, 11, 3, 10, tzinfo=VN))]
    # Resolved in October, returned in November: a flow of November outside its population;
    # and two supplement requests: on time for the figures, late for the index's 2.1.
    extra["LATE-RETURN"] = [received("LATE-RETURN", datetime(2026, 10, 26, 9, tzinfo=VN),
                                     datetime(2026, 10, 29, 17, tzinfo=VN)),
                            resolved(datetime(2026, 10, 28, 10, tzinfo=VN)),
                            ev("dossier.result_returned", datetime(2026, 11, 3, 9, tzinfo=VN),
                               returned_at="2026-11-03T09:00:00+07:00", method="postal")]
    extra["TWO-REQUESTS"] = [
        received("TWO-REQUESTS", datetime(2026, 11, 2, 9, tzinfo=VN),
                 datetime(2026, 11, 20, 17, tzinfo=VN)),
        *(ev(kind, datetime(2026, 11, day, 9, tzinfo=VN), **{field: f"2026-11-{day:02d}T09:00:00+07:00"})
          for kind, field, day in (("dossier.supplement_requested", "requested_at", 3),
                                   ("dossier.supplement_received", "received_at", 4),
                                   ("dossier.supplement_requested", "requested_at", 5),
                                   ("dossier.supplement_received", "received_at", 6))),
        resolved(datetime(2026, 11, 10, 10, tzinfo=VN))]
    # Received at a commune's desk for a department, one of them returned at the counter.
    for i, returned in enumerate((True, False)):
        code = f"DESK-{i}"
        got = received(code, datetime(2026, 11, 9, 9, tzinfo=VN),
                       datetime(2026, 11, 12, 17, tzinfo=VN), unit="H26.01")
        got.data["receiving_unit"] = "H26.105"
        extra[code] = [got, resolved(datetime(2026, 11, 10, 10, tzinfo=VN))] + (
            [ev("dossier.result_returned", datetime(2026, 11, 11, 9, tzinfo=VN),
                returned_at="2026-11-11T09:00:00+07:00", method="counter")] if returned else [])
    facts = all_facts(SCENARIO | extra)
    assert any(f.receiving_unit == "H26.105" and f.unit_code == "H26.01" for f in facts)
    schema = schema_factory("metrics")
    pool = await create_pool(infra.database_url, schema)
    try:
        await migrate_service(pool, schema, ROOT / "services" / "metrics" / "sql")
        async with pool.acquire() as conn:
            await store.upsert_facts(conn, facts)
        unit_sets = [[u] for u in ("H26.06", "H26.06.01", "H26.01", "H26.02", "H26.07")]
        unit_sets += [RB.subunits("H26.06"), RB.subunits("H26"), None]  # type: ignore[list-item]
        for p in periods():
            for units in unit_sets:
                pure = figures([f for f in facts if units is None or f.unit_code in units],
                               [f for f in facts if units is None or f.rating_unit in units], p)
                counted = await sql_figures.figures(pool, units, p)
                assert counted == pure, (p, units)
                assert await sql_figures.settled_until(pool, units, p) == tallies.settled_until(
                    [f for f in facts if units is None or f.unit_code in units],
                    [f for f in facts if units is None or f.rating_unit in units], p), (p, units)
            by_unit = await sql_figures.figures_by_unit(pool, p)
            for unit, counted in by_unit.items():
                pure = figures([f for f in facts if f.unit_code == unit],
                               [f for f in facts if f.rating_unit == unit], p)
                assert counted == pure, (p, unit)
            # A merger rolls the old unit's dossiers and ratings into its successor's row,
            # and the desks' workload agrees with the pure function, rolled up or not.
            rollup = {"H26.06.01": "H26.06"}
            rolled = await sql_figures.figures_by_unit(pool, p, rollup=rollup)
            assert "H26.06.01" not in rolled
            assert rolled["H26.06"] == figures(
                [f for f in facts if f.unit_code in ("H26.06", "H26.06.01")],
                [f for f in facts if f.rating_unit in ("H26.06", "H26.06.01")], p), p
            assert await sql_figures.figures_by_unit(pool, p, ["H26.06"], rollup) == {
                "H26.06": rolled["H26.06"]}
            for desks_rollup in (None, rollup):
                assert await sql_figures.desk_counts(pool, p, desks_rollup) == desk_counts(
                    facts, p, desks_rollup), (p, desks_rollup)
        # A procedure filter narrows both the dossiers and the ratings.
        p = periods()[0]
        assert (await sql_figures.figures(pool, None, p, procedure="P3")).population > 0
        assert (await sql_figures.figures(pool, None, p, procedure="nothing")).population == 0
        # Facts folded before the per-day counts existed (tallied false, no live span) are
        # counted at the service's next start, and the figures are the same again.
        async with pool.acquire() as conn:
            before = {p: await sql_figures.figures_by_unit(conn, p) for p in periods()}
            await conn.execute("""UPDATE facts SET tallied = false, live_from = NULL,
                                  live_until = NULL""")
            await conn.execute("TRUNCATE daily_counts")
            assert await sql_figures.figures_by_unit(conn, periods()[0]) != before[periods()[0]]
            assert await store.tally_untallied(conn, batch=7) == len(facts)
            assert await store.tally_untallied(conn) == 0
            for p in periods():
                assert await sql_figures.figures_by_unit(conn, p) == before[p], p
    finally:
        await pool.close()


async def test_sql_figures_equal_the_pure_function_for_random_dossiers(
        infra: Infra, schema_factory: Callable[[str], str]) -> None:
    """The same, for dossiers drawn as the per-day counts' contract test draws them (times
    in order or not, events one at a time in a random order, written by the consumer's
    path), and periods cut mid-day: the PostgreSQL reads (the per-day rows, the live part,
    the recent ratings) against the fold."""
    import random
    import warnings

    from hypothesis.errors import NonInteractiveExampleWarning

    from tests.unit.test_metrics_tallies import UNITS, dossier, times_of, window

    warnings.simplefilter("ignore", NonInteractiveExampleWarning)  # drawn outside @given
    schema = schema_factory("metrics")
    pool = await create_pool(infra.database_url, schema)
    rng = random.Random(7)
    try:
        await migrate_service(pool, schema, ROOT / "services" / "metrics" / "sql")
        for round_ in range(6):
            events = {f"R{round_}-{i}": dossier(f"R{round_}-{i}").example() for i in range(12)}
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("TRUNCATE facts, daily_counts")
                arrivals = [(code, e) for code, evs in events.items() for e in evs]
                rng.shuffle(arrivals)
                seen: dict[str, list[Any]] = {}
                for code, e in arrivals:  # one event at a time, as late as it comes
                    seen.setdefault(code, []).append(e)
                    await store.upsert_facts(conn, [fold(code, seen[code], RB)])
            facts = [fold(code, evs, RB) for code, evs in events.items()]
            for _ in range(8):
                p = window(times_of(events)).example()
                for units in ([UNITS[0]], list(UNITS), None):
                    pure = figures([f for f in facts if units is None or f.unit_code in units],
                                   [f for f in facts if units is None or f.rating_unit in units],
                                   p)
                    assert await sql_figures.figures(pool, units, p) == pure, (p, units, events)
                    for procedure in (None, "P3"):
                        mine = [f for f in facts if (units is None or f.unit_code in units)
                                and procedure in (None, f.procedure_code)]
                        rated = [f for f in facts if (units is None or f.rating_unit in units)
                                 and procedure in (None, f.procedure_code)]
                        assert await sql_figures.settled_until(pool, units, p, procedure) == \
                            tallies.settled_until(mine, rated, p), (p, units, procedure, events)
                assert await sql_figures.desk_counts(pool, p) == desk_counts(facts, p), p
    finally:
        await pool.close()
