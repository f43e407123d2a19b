"""The metrics service end to end: figures from events that went through the public APIs of
intake, processing and feedback, the live stream, Prometheus, and `metrics rebuild`.

Unit H26.110 (a commune) is used by these tests only; procedure 1.004873 takes 3 working
days. Dates are built from now: W0 is the working day about six weeks ago, Wn the n-th
working day after it, and the period read is named explicitly (W0 to today):
  M1 received W0 09:00, due W3; resolved W2; returned W3         — early
  M2 received W0 09:00, due W3; resolved W5                      — late, no apology
  M3 received W5 09:00, due W8; open                             — overdue open
  M4 received now, due in a few working days; open               — open, not yet due
  M1 is rated very satisfied.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.clock import VN
from tests.support.api import IMPORTER_KEY, ROOT_DIR, Api
from tests.support.dates import Weeks, this_month, today
from tests.support.wait import until

pytestmark = pytest.mark.integration
UNIT, PROCEDURE = "H26.110", "1.004873"
W = Weeks.ago(UNIT)


def t(n: int, hour: int = 9) -> str:
    """The n-th working day after W0, at a local hour."""
    return W.at(n, hour).isoformat()


def since_w0() -> dict[str, str]:
    """The period of the scenario, named explicitly: W0 to today."""
    return {"from": W.first.isoformat(), "to": today().isoformat()}


async def figures(api: Api, unit: str = UNIT, **params: Any) -> dict[str, Any]:
    r = await api.http.get(api.url("metrics", f"/v1/metrics/units/{unit}"), params=params)
    assert r.status_code == 200, r.text
    return dict(r.json()["figures"])


async def importer(api: Api, code: str, action: str, **body: Any) -> None:
    r = await api.act(code, action, body, units=["*"], role="importer")
    assert r.status_code == 200, (action, r.text)


@pytest.fixture(scope="module")
async def scenario(stack: Any, infra: Any) -> dict[str, Any]:
    from tests.conftest import JWT_SECRET

    api = Api(stack, infra, JWT_SECRET)
    try:
        codes: dict[str, str] = {}
        pins: dict[str, str] = {}
        received_at: dict[str, str] = {}
        for name, received in (("M1", t(0)), ("M2", t(0)), ("M3", t(5))):
            r = await api.file(key=IMPORTER_KEY, unit_code=UNIT, procedure_code=PROCEDURE,
                               received_at=received)
            assert r.status_code == 201, r.text
            codes[name], pins[name] = r.json()["code"], r.json()["pin"]
            received_at[name] = r.json()["received_at"]
        r = await api.file(unit_code=UNIT, procedure_code=PROCEDURE)
        codes["M4"], received_at["M4"] = r.json()["code"], r.json()["received_at"]
        for code in codes.values():
            await api.processing_view(code)
        await importer(api, codes["M1"], "accept", at=t(0, 10))
        await importer(api, codes["M1"], "resolve", at=t(2, 10))
        await importer(api, codes["M1"], "return", at=t(3, 9), method="counter")
        await importer(api, codes["M2"], "accept", at=t(0, 10))
        await importer(api, codes["M2"], "resolve", at=t(5, 10))

        async def rated() -> bool:
            r = await api.http.post(api.url("feedback", "/v1/feedback"), json={
                "dossier_code": codes["M1"], "pin": pins["M1"], "rating": "very_satisfied"})
            return r.status_code == 201

        await until(rated)
        return {"codes": codes, "received_at": received_at}
    finally:
        await api.close()


async def test_figures_follow_what_happened_through_the_apis(api: Api,
                                                             scenario: dict[str, Any]) -> None:
    async def settled() -> dict[str, Any] | None:
        g = await figures(api, **since_w0())
        return g if (g["received"], g["resolved"], g["ratings_total"]) == (4, 2, 1) else None

    g = await until(settled)
    assert (g["population"], g["early"], g["on_time"], g["late"], g["overdue_open"],
            g["open_not_due"], g["in_progress"], g["returned"]) == (4, 1, 0, 1, 1, 1, 2, 1)
    assert g["on_time_rate"] == 0.5 and g["on_time_rate_closed"] == 0.5
    assert g["late_without_apology"] == 1 and g["apology_compliance"] == 0.0
    assert g["ratings"]["very_satisfied"] == 1 and g["satisfaction_rate"] == 1.0
    assert g["returned_by_method"]["counter"] == 1

    # Judged at W6 noon: M3 was not yet due, M4 not yet filed, M2 resolved late.
    early = await figures(api, **since_w0(), as_of=t(6, 12))
    assert (early["population"], early["early"], early["late"], early["overdue_open"],
            early["open_not_due"]) == (3, 1, 1, 0, 1)
    # The month before W0: nothing of it.
    before = await figures(api, **{"from": (W.first - timedelta(days=31)).isoformat(),
                                   "to": (W.first - timedelta(days=1)).isoformat()})
    assert before["population"] == 0
    # The province with all its units includes this commune's dossiers.
    province = await figures(api, "H26", include_subunits="true", **since_w0())
    assert province["received"] >= 4 and province["late"] >= 1

    procedure = await api.http.get(api.url("metrics", f"/v1/metrics/procedures/{PROCEDURE}"),
                                   params={"unit": UNIT, **since_w0()})
    assert procedure.status_code == 200
    # M1: 2 working days (W1, W2); M2: 5 (W1 to W5) -> 3.5
    assert procedure.json()["figures"]["avg_processing_working_days"] == 3.5

    rankings = await api.http.get(api.url("metrics", "/v1/metrics/rankings"),
                                  params={"block": "commune", "by": "on_time_rate",
                                          "min_sample": 4, **since_w0()})
    ranked = {u["unit_code"]: u for u in rankings.json()["units"]}
    assert ranked[UNIT]["rank"] is not None and ranked[UNIT]["value"] == 0.5
    assert ranked["H26.114"]["rank"] is None  # no dossiers: listed, not ranked


async def test_bad_queries_are_problem_details(api: Api) -> None:
    for path, params in (("/v1/metrics/units/H99", {}),
                         ("/v1/metrics/units/H26.110", {"from": "2026-11-30", "to": "2026-11-01"}),
                         ("/v1/metrics/rankings", {"by": "shoe_size"}),
                         ("/v1/metrics/rankings", {"block": "galaxy"}),
                         ("/v1/metrics/units/H26.110", {"from": "yesterday"})):
        r = await api.http.get(api.url("metrics", path), params=params)
        assert r.status_code in (404, 422), (path, params)
        assert r.headers["content-type"] == "application/problem+json"


async def test_the_stream_carries_a_changed_units_figures(api: Api) -> None:
    unit = "H26.111"
    seen: list[dict[str, Any]] = []

    async def listen() -> None:
        async with api.http.stream("GET", api.url("metrics", "/v1/metrics/stream")) as r:
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "unit":
                    message = orjson.loads(line.split(":", 1)[1])
                    if message["unit_code"] == unit and message["figures"]["received"] >= 1:
                        seen.append(message)
                        return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.5)
    r = await api.file(unit_code=unit, procedure_code=PROCEDURE)
    assert r.status_code == 201
    await asyncio.wait_for(listener, timeout=30)
    assert seen[0]["figures"]["received"] == 1


async def test_prometheus_text_parses_and_equals_the_api(api: Api,
                                                         scenario: dict[str, Any]) -> None:
    async def scraped() -> dict[str, float] | None:
        text = (await api.http.get(api.url("metrics", "/metrics"))).text
        values = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get("unit") == UNIT and "key" not in sample.labels:
                    values[sample.name] = sample.value
        api_figures = await figures(api)
        want = {f"motcua_unit_{k}": float(v) for k, v in api_figures.items()
                if isinstance(v, int | float) and not isinstance(v, bool)}
        return values if values and all(values.get(k) == v for k, v in want.items()) else None

    values = await until(scraped)
    # The gauges are this month's: count the scenario's filings that fall in it.
    first, last = this_month()
    in_month = [n for n, t in scenario["received_at"].items()
                if first <= datetime.fromisoformat(t).astimezone(VN).date() <= last]
    assert values["motcua_unit_received"] == float(len(in_month))
    text = (await api.http.get(api.url("metrics", "/metrics"))).text
    assert "motcua_consumer_lag" in text and "motcua_outbox_pending" in text


async def test_rebuild_from_the_topics_gives_the_live_figures(api: Api,
                                                              scenario: dict[str, Any]) -> None:
    # Judged at one fixed moment, so that nothing but the damage can change the figures.
    params = {**since_w0(), "as_of": datetime.now(VN).replace(microsecond=0).isoformat()}

    async def overview() -> list[dict[str, Any]]:
        r = await api.http.get(api.url("metrics", "/v1/metrics/overview"), params=params)
        return list(r.json()["units"])

    async def quiet() -> list[dict[str, Any]] | None:
        first = await overview()
        await asyncio.sleep(1.5)
        return first if await overview() == first else None

    live = await until(quiet, timeout_s=60)
    # Damage the live facts, as a bug might: the rebuild must restore them from the topics.
    db = await api.db()
    # (the facts, and the per-day counts the figures read for days already over).
    await db.execute("UPDATE metrics.facts SET closed_timeliness = 'early' "
                     "WHERE dossier_code = $1", scenario["codes"]["M2"])
    await db.execute("UPDATE metrics.daily_counts SET late = late + 3, population = population + 3"
                     " WHERE unit_code = (SELECT unit_code FROM metrics.facts"
                     " WHERE dossier_code = $1)", scenario["codes"]["M2"])
    # Figures judged in the past are kept until a change is announced, as the consumer's
    # writes are; a write by hand must announce itself (docs/operations.md).
    await db.execute("SELECT pg_notify('metrics_changed', '[]')")

    async def damaged() -> bool:
        return await overview() != live
    assert await until(damaged, timeout_s=10)

    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "services.metrics.rebuild"], cwd=ROOT_DIR,
        env=api.stack.env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RebuildReport(messages=" in result.stdout
    assert await overview() == live
