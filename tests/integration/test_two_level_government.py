"""The 2025 one-stop rules end to end (docs/rules/two_level_government.md): a dossier filed at
a commune desk for a department's procedure is resolved by the department and counted for
it, while the commune desk's report counts what it received, handed over and returned; a
desk that may not take a procedure gets a 422 and nothing is written; and a merger rolls the
old unit into the new one for a period that reaches it, while the old unit's own history
stays readable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest

from tests.integration.test_forms import read
from tests.support.api import DESK_KEY, IMPORTER_KEY, UNIT, Api
from tests.support.dates import today
from tests.support.wait import until

pytestmark = pytest.mark.integration
COMMUNE = "H26.105"  # Ủy ban nhân dân phường An Biên: any desk of the province takes PROCEDURE
CENTRE_ONLY = "1.009994"  # Sở Xây dựng's: received at its own desk or the service centre's
OLD, NEW = "H26.901", "H26.101"  # phường Minh Khai, merged into phường Hồng Bàng on 01/07/2025
COMMUNE_PROCEDURE = "1.001193"
SPAN = {"from": "2025-06-16", "to": "2025-07-15"}  # a month with the merger halfway
JUNE = {"from": "2025-06-01", "to": "2025-06-30"}  # before it


async def get(api: Api, path: str, **params: Any) -> dict[str, Any]:
    r = await api.http.get(api.url("metrics", path), params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def desks(api: Api, **period: str) -> dict[str, dict[str, Any]]:
    return {d["unit_code"]: d for d in (await get(api, "/v1/metrics/desks", **period))["desks"]}


async def figures(api: Api, unit: str, **period: str) -> dict[str, Any]:
    return dict((await get(api, f"/v1/metrics/units/{unit}", **period))["figures"])


async def population_766(api: Api, unit: str, **period: str) -> int:
    found = await get(api, f"/v1/metrics/units/{unit}/index766", **period)
    return int(next(i for i in found["indicators"] if i["id"] == "2.1")["denominator"] or 0)


async def settles(check: Callable[[], Awaitable[bool]]) -> None:
    async def done() -> bool | None:
        return True if await check() else None

    await until(done, 30)


async def test_a_commune_desk_receives_what_the_department_resolves(api: Api) -> None:
    day = {"from": today().isoformat(), "to": today().isoformat()}
    desk0, dept0 = await desks(api, **day), await figures(api, UNIT, **day)
    dept766, commune766 = (await population_766(api, UNIT, **day),
                           await population_766(api, COMMUNE, **day))
    r = await api.file(receiving_unit=COMMUNE)
    assert r.status_code == 201, r.text
    receipt = r.json()
    code = receipt["code"]
    assert (receipt["unit_code"], receipt["receiving_unit"]) == (UNIT, COMMUNE)
    assert receipt["receiving_unit_name"] == "Ủy ban nhân dân phường An Biên"

    # The receipt is the commune desk's paper, naming the department that resolves it.
    form = await api.http.get(api.url("intake", f"/v1/dossiers/{code}/forms/01"),
                              headers={"X-API-Key": DESK_KEY})
    text, _ = read(form.content)
    assert "phường An Biên".upper() in text.upper() and "Cơ quan giải quyết: Sở Tư pháp" in text

    # The department's officers see it in their worklist and act on it; the commune's do not.
    await api.processing_view(code)
    worklist = await api.http.get(api.url("processing", "/v1/worklist"),
                                  params={"state": "received", "limit": 500},
                                  headers=api.token([UNIT]))
    assert code in {d["code"] for d in worklist.json()}
    commune_officer = await api.http.get(api.url("processing", f"/v1/dossiers/{code}"),
                                         headers=api.token([COMMUNE]))
    assert commune_officer.status_code in (403, 404)
    assert (await api.act(code, "accept", units=[COMMUNE])).status_code in (403, 404)
    for action, body in (("accept", {}), ("resolve", {}), ("return", {"method": "counter"})):
        assert (await api.act(code, action, body)).status_code == 200, action

    # The commune desk sees it as received there and returned.
    seen = await api.wait_intake_status(code, "returned")
    assert (seen["receiving_unit"], seen["unit_code"]) == (COMMUNE, UNIT)
    register = await api.http.get(api.url("intake", f"/v1/units/{COMMUNE}/register"),
                                  params=day, headers={"X-API-Key": DESK_KEY})
    assert code in read(register.content)[0]
    register = await api.http.get(api.url("intake", f"/v1/units/{UNIT}/register"),
                                  params=day, headers={"X-API-Key": DESK_KEY})
    assert code not in read(register.content)[0]

    # The desk report counts it for the commune; the figures and the index for the department.
    async def counted() -> bool:
        d = (await desks(api, **day))[COMMUNE]
        return bool(d["returned"] > desk0[COMMUNE]["returned"])

    await settles(counted)
    d, before = (await desks(api, **day))[COMMUNE], desk0[COMMUNE]
    assert d["handed_over"] == before["handed_over"] + 1
    assert d["received"] >= before["received"] + 1
    assert d["returned_at_counter"] >= before["returned_at_counter"] + 1
    assert (await desks(api, **day))[UNIT]["handed_over"] == desk0[UNIT]["handed_over"]
    dept = await figures(api, UNIT, **day)
    assert dept["received"] >= dept0["received"] + 1 and dept["resolved"] >= dept0["resolved"] + 1
    assert await population_766(api, UNIT, **day) >= dept766 + 1
    assert await population_766(api, COMMUNE, **day) == commune766


async def test_a_desk_that_may_not_take_the_procedure_is_refused(api: Api) -> None:
    db = await api.db()
    before = await db.fetchval("SELECT count(*) FROM intake.dossiers")
    for desk in (COMMUNE, "H99.99"):
        r = await api.file(unit_code="H26.02", procedure_code=CENTRE_ONLY, receiving_unit=desk)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == ["body:/receiving_unit"], r.json()
    assert await db.fetchval("SELECT count(*) FROM intake.dossiers") == before
    r = await api.file(unit_code="H26.02", procedure_code=CENTRE_ONLY, receiving_unit="H26.00")
    assert r.status_code == 201, r.text
    assert r.json()["receiving_unit_name"] == "Trung tâm Phục vụ hành chính công thành phố Hải Phòng"


async def file_back_then(api: Api, unit: str, received_at: str) -> Any:
    return await api.file(key=IMPORTER_KEY, unit_code=unit, procedure_code=COMMUNE_PROCEDURE,
                          received_at=received_at)


async def test_a_merger_rolls_the_old_unit_into_the_new_one(api: Api) -> None:
    new0 = (await get(api, f"/v1/metrics/units/{NEW}", **SPAN))["figures"]["received"]
    old0 = (await figures(api, OLD, **SPAN))["received"]
    old_june0 = (await figures(api, OLD, **JUNE))["received"]
    before = await api.file(key=IMPORTER_KEY, unit_code=OLD, procedure_code=COMMUNE_PROCEDURE,
                            received_at="2025-06-20T09:00:00+07:00")
    assert before.status_code == 201, before.text
    old_code = before.json()["code"]
    assert old_code.startswith(f"{OLD}-250620-")
    after = await file_back_then(api, NEW, "2025-07-10T09:00:00+07:00")
    assert after.status_code == 201, after.text
    # From the merger on, the old unit receives nothing.
    refused = await file_back_then(api, OLD, "2025-07-03T09:00:00+07:00")
    assert refused.status_code == 422, refused.text
    assert "merged into H26.101 on 01/07/2025" in refused.text

    async def counted() -> bool:
        g = await get(api, f"/v1/metrics/units/{NEW}", **SPAN)
        return bool(g["figures"]["received"] == new0 + 2)

    await settles(counted)
    new = await get(api, f"/v1/metrics/units/{NEW}", **SPAN)
    assert new["units"] == [NEW, OLD]
    assert new["rolled_in"] == [{"unit_code": OLD, "name": "Ủy ban nhân dân phường Minh Khai",
                                 "merged_on": "2025-07-01"}]
    # One row for the new unit in every list of the period, the old unit's rolled in.
    overview = {u["unit_code"]: u for u in (await get(api, "/v1/metrics/overview", **SPAN))["units"]}
    assert OLD not in overview and overview[NEW]["figures"]["received"] == new0 + 2
    assert [r["unit_code"] for r in overview[NEW]["rolled_in"]] == [OLD]
    table = {u["unit_code"]: u for u in (await get(api, "/v1/metrics/index766/export",
                                                   format="json", **SPAN))["units"]}
    assert OLD not in table and [r["unit_code"] for r in table[NEW]["rolled_in"]] == [OLD]
    assert table[NEW]["units"] == [NEW, OLD]
    rankings = await get(api, "/v1/metrics/rankings", block="commune", min_sample=1, **SPAN)
    assert OLD not in {u["unit_code"] for u in rankings["units"]}
    assert OLD not in await desks(api, **SPAN)
    # The old unit's own history: its figures, its dossier under its own code, and June, when
    # it still existed, lists it on its own.
    old = await get(api, f"/v1/metrics/units/{OLD}", **SPAN)
    assert old["figures"]["received"] == old0 + 1 and old["units"] == [OLD]
    assert old["merged_into"] == {"unit_code": NEW, "name": "Ủy ban nhân dân phường Hồng Bàng",
                                  "merged_on": "2025-07-01"}
    assert (await api.intake_view(old_code))["unit_code"] == OLD
    june = {u["unit_code"]: u for u in (await get(api, "/v1/metrics/overview", **JUNE))["units"]}
    assert june[OLD]["figures"]["received"] == old_june0 + 1 and june[NEW]["rolled_in"] == []
    units = await api.http.get(api.url("intake", "/v1/units"), params={"block": "commune"})
    merged = next(u for u in units.json() if u["code"] == OLD)
    assert (merged["merged_into"], merged["merged_on"]) == (NEW, date(2025, 7, 1).isoformat())
