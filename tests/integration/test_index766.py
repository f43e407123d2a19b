"""The national index (Decision 766) end to end, on a stack of its own: a scenario of filings,
actions, payments, supplements, ratings and operators' entries through the public APIs, all
back-dated into last month by the importer, gives the 766 table computed by hand below, from
the API, from the XLSX export (read back with openpyxl) and again after `metrics rebuild`.

Last month, R its first working day from the 2nd on, Rn the n-th working day after R, 09:00:

| dossier | unit, procedure (fee, online)   | what happens                                              | 2.1 (766)        |
|---------|---------------------------------|-----------------------------------------------------------|------------------|
| D1      | H26.06, A 1.004616 (1 000 000)  | counter; 2/2 components digitised; paid on the national   | early            |
|         |                                 | platform; resolved R2 with an electronic result, digitised |                  |
|         |                                 | and shared to the citizen's store; rated unsatisfied      | (disliked: 5.4)  |
| D2      | H26.06, A                       | online through the whole process, VNeID; 1 component      | late: two        |
|         |                                 | reused; supplement asked R1, handed in R2, asked again R3 | supplement asks  |
| D3      | H26.06, B 1.011946 (360 000)    | online in part, population data looked up; one supplement | on time: judged  |
|         |                                 | asked R1, never handed in                                 | at the request   |
| D5      | H26.06, B                       | counter, received R7; nothing more                        | open, not due    |
| D4      | H26.07, 1.005092 (0 days, free) | counter R 09:00; resolved R 10:00; returned R1            | on time (resolved|
|         |                                 |                                                           | before returned) |

H26.06 (population 4, received 4, resolved 1), with operators' entries 1.1 9/10, 1.2 4/4,
1.3 1/2, 4.6 3/4, 4.7 0/5:

| id  | num / den | ratio  | points | why                                                      |
|-----|-----------|--------|--------|----------------------------------------------------------|
| 1.1 | 9 / 10    | 90.00  | 5.40   | 6 × 0.9                                                  |
| 1.2 | 4 / 4     | 100.00 | 4.00   |                                                          |
| 1.3 | 1 / 2     | 50.00  | 1.00   | 2 × 0.5                                                  |
| 1.4 | 0 / 4     | 0.00   | 0.00   | this stack's national portal is not reachable: none synced |
| 2.1 | 3 / 4     | 75.00  | 15.00  | D1, D3, D5 good; D2 late                                 |
| 3.1 | 1 / 4     | 25.00  | 3.00   | D2 alone online through the whole process                |
| 3.2 | 1 / 4     | 25.00  | 1.50   | D1 paid online, of 4 fee dossiers                        |
| 3.3 | 1 / 2     | 50.00  | 1.25   | A has an online payment, B not; T 80: 2 × 50 / 80        |
| 3.4 | 2 / 2     | 100.00 | 2.00   | both fee procedures of the unit had dossiers             |
| 4.1 | 1 / 1     | 100.00 | 6.00   |                                                          |
| 4.2 | 1 / 4     | 25.00  | 1.00   | D1: components and result digitised                      |
| 4.3 | 1 / 4     | 25.00  | 0.63   | D2; T 80: 2 × 25 / 80 = 0.625, half up                   |
| 4.4 | 1 / 4     | 25.00  | 1.00   | D1                                                       |
| 4.5 | 2 / 4     | 50.00  | 1.00   | D2 VNeID, D3 looked up                                   |
| 4.6 | 3 / 4     | 75.00  | 1.50   |                                                          |
| 4.7 | 0 / 5     | 0.00   | 0.00   |                                                          |
| 5.2 | 0 / 0     |        | 6.00   | no complaint in the period: full points, by the rule     |
| 5.3 | 0 / 0     |        | 6.00   |                                                          |
| 5.4 | 2 / 4     | 50.00  | 3.33   | good and not disliked: D3, D5; T 90: 6 × 50 / 90         |

Groups 10.40 + 15.00 + 3.00 + 4.75 + 11.13 + 15.33 = 59.61, average (trung bình), complete (the
complaints are counted, and there were none). H26.07: 2.1 is 1 / 1 (D4 resolved on its due day, before 17:00, returned the day
after: the resolution is its end).
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook

from shared.auth import mint_token
from shared.rulebook import load_rulebook
from shared.settings import DEFAULT_RULEBOOK
from tests.conftest import JWT_SECRET, Infra
from tests.support.api import IMPORTER_KEY, ROOT_DIR, applicant
from tests.support.stack import Stack, own_stack
from tests.support.wait import until

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")
RB = load_rulebook(str(DEFAULT_RULEBOOK))
A, B, FREE = "1.004616", "1.011946", "1.005092"
HAND: dict[str, tuple[int | None, int | None, float]] = {
    "1.1": (9, 10, 5.40), "1.2": (4, 4, 4.00), "1.3": (1, 2, 1.00), "1.4": (0, 4, 0.0),
    "2.1": (3, 4, 15.00), "3.1": (1, 4, 3.00), "3.2": (1, 4, 1.50), "3.3": (1, 2, 1.25),
    "3.4": (2, 2, 2.00), "4.1": (1, 1, 6.00), "4.2": (1, 4, 1.00), "4.3": (1, 4, 0.63),
    "4.4": (1, 4, 1.00), "4.5": (2, 4, 1.00), "4.6": (3, 4, 1.50), "4.7": (0, 5, 0.00),
    "5.2": (0, 0, 6.0), "5.3": (0, 0, 6.0), "5.4": (2, 4, 3.33),
}
GROUPS = {"transparency": 10.40, "progress": 15.00, "online_service": 3.00,
          "online_payment": 4.75, "digitisation": 11.13, "satisfaction": 15.33}
ENTRIES = {"1.1": (9, 10), "1.2": (4, 4), "1.3": (1, 2), "4.6": (3, 4), "4.7": (0, 5)}


def last_month() -> tuple[date, date]:
    first = datetime.now(VN).date().replace(day=1)
    last = first - timedelta(days=1)
    return last.replace(day=1), last


@dataclass
class Scenario:
    stack: Stack
    http: httpx.AsyncClient
    first: date
    last: date
    codes: dict[str, str]

    @property
    def month(self) -> str:
        return self.first.strftime("%Y-%m")

    def params(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def token(role: str, units: list[str]) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(JWT_SECRET, subject=f"{role}-1", role=role,
                                                     units=units)}


class Driver:
    def __init__(self, stack: Stack, http: httpx.AsyncClient) -> None:
        self.stack, self.http = stack, http
        self.importer = token("importer", ["*"])

    async def file(self, at: datetime, **body: Any) -> tuple[str, str]:
        full = {"unit_code": "H26.06", "return_method": "counter", "applicant": applicant(),
                "received_at": at.isoformat(), **body}
        r = await self.http.post(self.stack.url("intake") + "/v1/dossiers", json=full,
                                 headers={"X-API-Key": IMPORTER_KEY})
        assert r.status_code == 201, r.text
        return r.json()["code"], r.json()["pin"]

    async def act(self, code: str, action: str, at: datetime, **body: Any) -> None:
        async def done() -> bool | None:
            r = await self.http.post(
                self.stack.url("processing") + f"/v1/dossiers/{code}/actions/{action}",
                json={**body, "at": at.isoformat()}, headers=self.importer)
            if r.status_code in (404, 409):  # processing has not heard of it, or of a
                return None                    # supplement handed in at intake, yet
            assert r.status_code == 200, (action, r.text)
            return True

        await until(done, timeout_s=30)

    async def supplement(self, code: str, at: datetime) -> None:
        async def done() -> bool | None:
            r = await self.http.post(
                self.stack.url("intake") + f"/v1/dossiers/{code}/supplements",
                json={"documents": [{"name": "Bản sao CCCD"}], "at": at.isoformat()},
                headers={"X-API-Key": IMPORTER_KEY})
            if r.status_code == 409:  # intake has not heard of the request yet
                return None
            assert r.status_code == 200, r.text
            return True

        await until(done, timeout_s=30)

    async def rate(self, code: str, pin: str, at: datetime) -> None:
        async def done() -> bool | None:
            r = await self.http.post(self.stack.url("feedback") + "/v1/feedback", json={
                "dossier_code": code, "pin": pin, "rating": "unsatisfied", "at": at.isoformat()},
                headers=self.importer)
            if r.status_code == 409:  # not finished yet, as far as feedback knows
                return None
            assert r.status_code == 201, r.text
            return True

        await until(done, timeout_s=30)


async def play(stack: Stack, http: httpx.AsyncClient) -> Scenario:
    first, last = last_month()
    cal = RB.calendar_for("H26.06")
    day = first + timedelta(days=1)
    while not cal.is_working_day(day):
        day += timedelta(days=1)
    r = [datetime.combine(cal.add_working_days(day, n), time(9), VN) for n in range(8)]
    assert r[7].date() <= last, "the scenario fits in the month"
    d = Driver(stack, http)
    two_digitised = [{"name": "Đơn đề nghị", "digitised": True},
                     {"name": "Bản sao giấy phép", "digitised": True}]
    d1, pin1 = await d.file(r[0], procedure_code=A, channel="counter", documents=two_digitised)
    d2, _ = await d.file(r[0], procedure_code=A, channel="online", online_mode="whole",
                         population_data="vneid",
                         documents=[{"name": "Bản sao CCCD", "reused": True}])
    d3, _ = await d.file(r[0], procedure_code=B, channel="online", online_mode="partial",
                         population_data="lookup")
    d4, _ = await d.file(r[0], unit_code="H26.07", procedure_code=FREE, channel="counter")
    d5, _ = await d.file(r[7], procedure_code=B, channel="counter")
    for code in (d1, d2, d3, d4):
        await d.act(code, "accept", r[0] + timedelta(minutes=10))
    await d.act(d1, "request-payment", r[0] + timedelta(minutes=20), amount="1000000")
    await d.act(d1, "record-payment", r[0] + timedelta(minutes=30), via="national_platform")
    await d.act(d1, "resolve", r[2], electronic_result_ref="KQ-0001", result_digitised=True,
                shared_to_citizen=True)
    await d.rate(d1, pin1, r[3])
    await d.act(d2, "request-supplement", r[1], reason="thiếu bản sao")
    await d.supplement(d2, r[2])
    await d.act(d2, "request-supplement", r[3], reason="bản sao chưa rõ")
    await d.act(d3, "request-supplement", r[1], reason="thiếu tờ khai")
    await d.act(d4, "resolve", r[0] + timedelta(hours=1))
    await d.act(d4, "return", r[1], method="counter")
    s = Scenario(stack, http, first, last, {"D1": d1, "D2": d2, "D3": d3, "D4": d4, "D5": d5})
    operator = token("operator", ["H26.06"])
    for indicator, (n, den) in ENTRIES.items():
        r2 = await http.put(stack.url("metrics") + f"/v1/metrics/units/H26.06/index766/inputs/"
                            f"{s.month}/{indicator}", json={"numerator": n, "denominator": den},
                            headers=operator)
        assert r2.status_code == 200, r2.text
    return s


@pytest.fixture(scope="module")
async def scenario(infra: Infra, tmp_path_factory: pytest.TempPathFactory
                   ) -> AsyncIterator[Scenario]:
    async with own_stack(tmp_path_factory.mktemp("index766"), kafka=infra.kafka_bootstrap,
                         base_url=infra.database_url, port_base=18300,
                         extra_env={"MOTCUA_JWT_SECRET": JWT_SECRET,
                                    "METRICS_LIVE_INDEX_INTERVAL_S": "1"}) as stack, \
            httpx.AsyncClient(timeout=30) as http:
        yield await play(stack, http)


async def index_of(s: Scenario, unit: str) -> dict[str, Any]:
    r = await s.http.get(s.stack.url("metrics") + f"/v1/metrics/units/{unit}/index766",
                         params=s.params())
    assert r.status_code == 200, r.text
    return dict(r.json())


async def settled(s: Scenario) -> dict[str, Any]:
    """The H26.06 table once the events are all in (its 2.1 and 5.4 populations complete)."""
    async def ready() -> dict[str, Any] | None:
        found = await index_of(s, "H26.06")
        by_id = {i["id"]: i for i in found["indicators"]}
        done = (by_id["2.1"]["denominator"] == 4 and by_id["5.4"]["numerator"] == 2
                and by_id["4.1"]["denominator"] == 1 and by_id["2.1"]["numerator"] == 3)
        return found if done else None

    return await until(ready, timeout_s=60)


def check_table(found: dict[str, Any]) -> None:
    by_id = {i["id"]: i for i in found["indicators"]}
    for key, (n, d, points) in HAND.items():
        i = by_id[key]
        assert (i["numerator"], i["denominator"], i["points"]) == (n, d, points), (key, i)
        assert i["missing"] == (n is None), key
        if n is not None and d:
            assert i["ratio"] == round(100 * n / d + 1e-9, 2), key
    assert {g["id"]: g["score"] for g in found["groups"]} == GROUPS
    assert found["total"] == 59.61 and found["grade"]["key"] == "average"
    assert found["grade"]["label"] == "trung bình"
    assert found["complete"] is True and found["missing"] == []
    assert found["on_time_rate_766"] == 0.75


async def test_the_766_table_follows_the_hand_computation(scenario: Scenario) -> None:
    check_table(await settled(scenario))
    other = await index_of(scenario, "H26.07")
    on_time = next(i for i in other["indicators"] if i["id"] == "2.1")
    assert (on_time["numerator"], on_time["denominator"]) == (1, 1)
    # The figures keep their own on-time rate beside the index's: D2 is open and not yet
    # due there (its clock stopped at the second request), late for the index.
    r = await scenario.http.get(scenario.stack.url("metrics") + "/v1/metrics/units/H26.06",
                                params=scenario.params())
    figures = r.json()["figures"]
    assert figures["on_time_rate"] == 1.0 and figures["on_time_rate_766"] == 0.75
    assert figures["multiple_supplement_requests"] == 1


async def test_the_dossier_views_show_what_was_captured(scenario: Scenario) -> None:
    http, stack = scenario.http, scenario.stack
    r = await http.get(stack.url("intake") + f"/v1/dossiers/{scenario.codes['D2']}",
                       headers={"X-API-Key": IMPORTER_KEY})
    view = r.json()
    assert (view["online_mode"], view["population_data"]) == ("whole", "vneid")
    assert view["documents"][0]["reused"] is True
    r = await http.get(stack.url("processing") + f"/v1/dossiers/{scenario.codes['D1']}",
                       headers=token("operator", ["*"]))
    state = r.json()
    assert state["payment_via"] == "national_platform"
    assert (state["electronic_result_ref"], state["result_digitised"],
            state["shared_to_citizen"]) == ("KQ-0001", True, True)


async def test_the_xlsx_export_holds_the_same_table(scenario: Scenario) -> None:
    found = await settled(scenario)
    r = await scenario.http.get(scenario.stack.url("metrics") + "/v1/metrics/index766/export",
                                params={**scenario.params(), "format": "xlsx"})
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    header = next(row for row in rows if row and "H26.06" not in row and any(
        isinstance(v, str) and "2.1" in v for v in row))
    unit_row = next(row for row in rows if "H26.06" in row)
    values = dict(zip(header, unit_row, strict=False))

    def cell(indicator: str, what: str) -> Any:
        keys = [k for k in values if isinstance(k, str) and k.startswith(indicator + " ")
                and what in k.lower()]
        assert keys, (indicator, what, header)
        return values[keys[0]]

    for key, (n, _, points) in HAND.items():
        if n is None:
            continue
        assert float(str(cell(key, "điểm"))) == points, key
    assert float(str(values["Tổng điểm"])) == found["total"]
    for indicator, (n, d, _) in HAND.items():
        if n is not None:
            assert (cell(indicator, "tử số"), cell(indicator, "mẫu số")) == (n, d), indicator


async def test_rebuild_gives_the_same_table(scenario: Scenario) -> None:
    before = await settled(scenario)
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "services.metrics.rebuild"], cwd=ROOT_DIR,
        env=scenario.stack.env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    after = await index_of(scenario, "H26.06")
    assert after == before
    check_table(after)


async def test_bad_input_changes_nothing(scenario: Scenario) -> None:
    http, stack = scenario.http, scenario.stack
    operator = token("operator", ["H26.06"])
    before = await index_of(scenario, "H26.06")
    r = await http.post(stack.url("intake") + "/v1/dossiers", headers={"X-API-Key": IMPORTER_KEY},
                        json={"unit_code": "H26.06", "procedure_code": A, "channel": "counter",
                              "online_mode": "whole", "applicant": applicant(),
                              "received_at": datetime.combine(scenario.first + timedelta(days=3),
                                                              time(9), VN).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body:/online_mode", r.text
    metrics = stack.url("metrics") + "/v1/metrics/units"
    cases = [
        (f"{metrics}/H99.99/index766/inputs/{scenario.month}/1.1", operator, {"numerator": 1,
                                                                              "denominator": 2}, 404),
        (f"{metrics}/H26.06/index766/inputs/2026-13/1.1", operator,
         {"numerator": 1, "denominator": 2}, 422),
        (f"{metrics}/H26.06/index766/inputs/{scenario.month}/2.1", operator,
         {"numerator": 1, "denominator": 2}, 422),
        (f"{metrics}/H26.06/index766/inputs/{scenario.month}/1.1", operator,
         {"numerator": 3, "denominator": 2}, 422),
        (f"{metrics}/H26.06/index766/inputs/2999-01/1.1", operator,
         {"numerator": 1, "denominator": 2}, 422),
        (f"{metrics}/H26.06/index766/inputs/{scenario.month}/1.1", token("officer", ["H26.06"]),
         {"numerator": 1, "denominator": 2}, 403),
        (f"{metrics}/H26.06/index766/inputs/{scenario.month}/1.1", {},
         {"numerator": 1, "denominator": 2}, 401),
    ]
    for url, headers, body, status in cases:
        r = await http.put(url, json=body, headers=headers)
        assert r.status_code == status, (url, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    await asyncio.sleep(1.0)
    assert await index_of(scenario, "H26.06") == before
    log = await http.get(f"{metrics}/H26.06/index766/inputs/{scenario.month}", headers=operator)
    assert [e["indicator"] for e in log.json()] == list(ENTRIES)  # the five entries, no more
    assert all(e["entered_by"] == "operator-1" for e in log.json())


async def test_the_stream_and_the_gauges_carry_the_index(scenario: Scenario) -> None:
    """A filing this month moves H26.06's current index: the stream says so, in an
    `index766` event, and /metrics has its total and groups."""
    http, stack = scenario.http, scenario.stack
    seen: list[dict[str, Any]] = []

    async def listen() -> None:
        async with http.stream("GET", stack.url("metrics") + "/v1/metrics/stream") as r:
            event = ""
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "index766":
                    data = json.loads(line.split(":", 1)[1])
                    if data["unit_code"] == "H26.06":
                        seen.append(data)
                        return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(1.0)
    await Driver(stack, http).file(datetime.now(VN) - timedelta(minutes=1), procedure_code=A,
                                   channel="counter")
    await asyncio.wait_for(listener, timeout=30)
    [event] = seen
    assert set(event["groups"]) == set(GROUPS) and event["complete"] is False
    # This month's population: D2, D3 and D5, still open, and the new one: D2 late, 3 / 4.
    assert event["groups"]["progress"] == 15.0
    text = (await http.get(stack.url("metrics") + "/metrics")).text
    assert 'motcua_unit_index766_total{block="department",unit="H26.06"}' in text
    assert 'motcua_unit_index766_group{block="department",group="progress",unit="H26.06"} 15.0' \
        in text


def test_the_scenario_table_adds_up() -> None:
    """The hand computation is consistent with itself before it is compared with anything."""
    assert round(sum(GROUPS.values()), 2) == 59.61
    assert round(sum(p for _, _, p in HAND.values()), 2) == 59.61

