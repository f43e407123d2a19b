"""The national portal connector through real Kafka and PostgreSQL, against the local
stand-in of the national portal (tests/support/national_portal.py): a dossier's lifecycle as
one dossier document per change and one step document per step; a dossier the national
portal filed synced back under its code; a refused document shown to operators and resent;
an outage with a backlog that converges without regressions or floods; a connector killed
while sending; and the index's 1.4 equal to the reconciliation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from shared.auth import mint_token
from tests.conftest import JWT_SECRET, Infra
from tests.support.api import DESK_KEY, IMPORTER_KEY, NATIONAL_PORTAL_KEY, applicant
from tests.support.national_portal import StandIn
from tests.support.stack import Stack, own_stack
from tests.support.wait import until

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")
UNIT, PROCEDURE = "H26.01", "2.000488"
RATE, BURST = 60, 30
TIME = re.compile(r"^\d{14}$")


def local(t: str) -> str:
    return datetime.fromisoformat(t).astimezone(VN).strftime("%Y%m%d%H%M%S")


@dataclass
class World:
    stack: Stack
    http: httpx.AsyncClient
    portal: StandIn

    def url(self, service: str, path: str) -> str:
        return self.stack.url(service) + path

    def officer(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + mint_token(JWT_SECRET, subject="officer-1",
                                                         role="officer", units=[UNIT])}

    def operator(self, units: list[str] | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + mint_token(JWT_SECRET, subject="operator-1",
                                                         role="operator",
                                                         units=units or ["*"])}

    async def file(self, key: str = DESK_KEY, **over: Any) -> str:
        body = {"unit_code": UNIT, "procedure_code": PROCEDURE, "channel": "counter",
                "return_method": "counter", "applicant": applicant(), **over}
        r = await self.http.post(self.url("intake", "/v1/dossiers"), json=body,
                                 headers={"X-API-Key": key})
        assert r.status_code == 201, r.text
        return str(r.json()["code"])

    async def act(self, code: str, action: str, **body: Any) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            r = await self.http.post(self.url("processing", f"/v1/dossiers/{code}/actions/"
                                                            f"{action}"), json=body,
                                     headers=self.officer())
            if r.status_code in (404, 409):
                return None
            assert r.status_code == 200, (action, r.text)
            return dict(r.json())

        return await until(done, timeout_s=30)

    async def state(self, code: str) -> dict[str, Any] | None:
        r = await self.http.get(self.url("national_portal", f"/v1/national-portal/dossiers/"
                                                            f"{code}"), headers=self.operator())
        return dict(r.json()) if r.status_code == 200 else None

    async def in_sync(self, code: str, national: str | None = None, timeout_s: float = 60,
                      where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The stand-in's latest document once the connector says it has every change (and
        the document shows ``where``: the change just made has reached the connector)."""
        async def synced() -> dict[str, Any] | None:
            s = await self.state(code)
            if s is None or s["synced_version"] < s["version"] or s["pending_since"]:
                return None
            doc = self.portal.portal.latest(national or code)
            return doc if doc is not None and (where is None or where(doc)) else None

        return await until(synced, timeout_s=timeout_s)


@pytest.fixture(scope="module")
async def world(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    portal = StandIn(18390)
    portal.start()
    env = {"MOTCUA_JWT_SECRET": JWT_SECRET, "NATIONAL_PORTAL_PORTAL_URL": portal.url,
           "NATIONAL_PORTAL_RATE_PER_S": str(RATE), "NATIONAL_PORTAL_BURST": str(BURST),
           "NATIONAL_PORTAL_INTERVAL_S": "0.2", "NATIONAL_PORTAL_BACKOFF_BASE_S": "0.2",
           "NATIONAL_PORTAL_BACKOFF_CAP_S": "2", "NATIONAL_PORTAL_BREAKER_OPEN_S": "2",
           "NATIONAL_PORTAL_PORTAL_TIMEOUT_S": "2", "INTAKE_PORTAL_RATE_PER_S": "1000",
           "INTAKE_PORTAL_BURST": "1000"}
    try:
        async with own_stack(tmp_path_factory.mktemp("national"), kafka=infra.kafka_bootstrap,
                             base_url=infra.database_url, port_base=18380,
                             extra_env=env) as stack, httpx.AsyncClient(timeout=30) as http:
            yield World(stack, http, portal)
    finally:
        portal.stop()


async def test_a_lifecycle_reaches_the_portal_change_by_change(world: World) -> None:
    code = await world.file()
    received = await world.in_sync(code)
    assert received["TrangThaiHoSo"] == "2" and received["KenhThucHien"] == 1
    assert received["ChuHoSo"] == "Nguyễn Văn An" and received["SoDienThoai"] == "0912345678"
    assert received["LoaiDoiTuong"] == 1 and received["MaTTHC"] == PROCEDURE
    assert received["MaLinhVuc"].startswith("LV") and received["TenLinhVuc"] == "Lý lịch tư pháp"
    assert received["DonViXuLy"] == "Sở Tư pháp"
    for action, body, status in (("accept", {}, "4"),
                                 ("request-supplement", {"reason": "thiếu bản sao CCCD"}, "5")):
        await world.act(code, action, **body)
        await world.in_sync(code, where=status_is(status))
    r = await world.http.post(world.url("intake", f"/v1/dossiers/{code}/supplements"),
                              json={"documents": [{"name": "Bản sao CCCD"}]},
                              headers={"X-API-Key": DESK_KEY})
    assert r.status_code == 200, r.text
    supplied = await world.in_sync(code, where=lambda d: d["TrangThaiHoSo"] == "4" and bool(
        d["DanhSachHoSoBoSung"] and d["DanhSachHoSoBoSung"][0]["NgayTiepNhanBoSung"]))
    view = await world.act(code, "apologize", reason="cần xác minh thêm",
                           new_due_at=(datetime.fromisoformat(supplied_due(supplied))
                                       + timedelta(days=3)).isoformat())
    await world.in_sync(code, where=lambda d: d["NgayHenTra"] == local(view["appointment_at"]))
    for action, body, status in (("resolve", {"electronic_result_ref": "KQ-HP-0001"}, "9"),
                                 ("return", {"method": "counter"}, "10")):
        await world.act(code, action, **body)
        await world.in_sync(code, where=status_is(status))
    statuses = [d["TrangThaiHoSo"] for d in world.portal.portal.dossiers[code]]
    assert [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]] == [
        "2", "4", "5", "4", "9", "10"]
    final = world.portal.portal.latest(code)
    assert final is not None
    assert [int(d["PhienBan"]) for d in world.portal.portal.dossiers[code]] == sorted(
        int(d["PhienBan"]) for d in world.portal.portal.dossiers[code])
    assert len(world.portal.portal.dossiers[code]) >= 7  # one document per change at least
    [supplement] = final["DanhSachHoSoBoSung"]
    assert supplement["NoiDungBoSung"] == "thiếu bản sao CCCD" and supplement["NgayHenTraMoi"]
    assert final["DanhSachGiayToKetQua"][0]["DuongDanTepTinKetQua"] == "KQ-HP-0001"
    for key in ("NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy"):
        assert TIME.match(final[key]), key
    steps = world.portal.portal.steps[code]
    assert [steps[i]["NoiDungXuLy"].split(":")[0] for i in sorted(steps)] == [
        "Tiếp nhận hồ sơ", "Chuyển xử lý hồ sơ", "Yêu cầu bổ sung hồ sơ",
        "Tiếp nhận hồ sơ bổ sung", "Xin lỗi và hẹn lại ngày trả kết quả", "Đã giải quyết xong",
        "Trả kết quả"]
    assert [steps[i]["TrangThai"] for i in sorted(steps)] == ["2", "4", "5", "4", "4", "9", "10"]
    assert all(TIME.match(s["ThoiDiemXuLy"]) for s in steps.values())


def status_is(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda doc: bool(doc["TrangThaiHoSo"] == status)


def supplied_due(doc: dict[str, Any]) -> str:
    t = doc["NgayHenTra"]
    return datetime.strptime(t, "%Y%m%d%H%M%S").replace(tzinfo=VN).isoformat()


async def test_a_dossier_the_national_portal_filed_goes_back_under_its_code(
        world: World) -> None:
    national = f"G22.{datetime.now(VN):%y%m%d%H%M%S%f}"
    code = await world.file(key=NATIONAL_PORTAL_KEY, channel="online", online_mode="whole",
                            external_ref=national, population_data="vneid")
    r = await world.http.get(world.url("intake", f"/v1/dossiers/{code}"),
                             headers={"X-API-Key": IMPORTER_KEY})
    assert r.json()["external_ref"] == national
    doc = await world.in_sync(code, national)
    assert doc["MaHoSo"] == national and doc["KenhThucHien"] == 2
    assert doc["TaiKhoanDuocXacThucVoiVNeID"] == 1 and code not in world.portal.portal.dossiers


async def test_a_refused_document_is_kept_shown_and_resent(world: World) -> None:
    world.portal.portal.faults.mode = "slow"  # the three go in one batch
    codes = [await world.file() for _ in range(3)]
    world.portal.portal.faults.refuse[codes[1]] = ("E17", "Mã thủ tục không khớp danh mục")
    world.portal.portal.faults.mode = "ok"
    for code in (codes[0], codes[2]):
        await world.in_sync(code)

    async def refused() -> dict[str, Any] | None:
        s = await world.state(codes[1])
        return s if s and s["refused_version"] else None

    state = await until(refused, timeout_s=30)
    assert (state["refused_code"], state["refused_text"]) == ("E17", "Mã thủ tục không khớp "
                                                                     "danh mục")
    r = await world.http.get(world.url("national_portal", "/v1/national-portal/refused"),
                             params={"unit": UNIT}, headers=world.operator([UNIT]))
    assert codes[1] in [s["dossier_code"] for s in r.json()]
    await asyncio.sleep(1.0)  # refused stays refused: not resent by itself
    assert (await world.state(codes[1]) or {})["refused_version"] == state["refused_version"]
    del world.portal.portal.faults.refuse[codes[1]]
    r = await world.http.post(world.url("national_portal", f"/v1/national-portal/dossiers/"
                                                           f"{codes[1]}/resend"),
                              headers=world.operator([UNIT]))
    assert r.json() == {"resent": 1}
    doc = await world.in_sync(codes[1])
    assert doc["MaHoSo"] == codes[1]
    r = await world.http.get(world.url("national_portal", "/v1/national-portal/refused"),
                             headers=world.operator())
    assert codes[1] not in [s["dossier_code"] for s in r.json()]


async def test_an_outage_with_a_backlog_converges_without_regressions_or_floods(
        world: World) -> None:
    world.portal.stop()  # connections refused
    codes = await asyncio.gather(*(world.file() for _ in range(500)))
    await asyncio.gather(*(world.act(c, "accept") for c in codes[:250]))
    await asyncio.sleep(2)
    world.portal.portal.faults.mode = "503"
    world.portal.start()
    await asyncio.sleep(3)
    assert all(c not in world.portal.portal.dossiers for c in codes)
    await asyncio.gather(*(world.act(c, "resolve") for c in codes[:125]))
    world.portal.portal.faults.mode = "ok"
    start = len(world.portal.portal.arrivals)
    for code in codes:
        await world.in_sync(code, timeout_s=120)
    portal = world.portal.portal
    assert portal.regressions == []
    expected = {c: (await world.state(c) or {})["version"] for c in codes}
    assert {c: int(portal.dossiers[c][-1]["PhienBan"]) for c in codes} == expected
    assert {portal.dossiers[c][-1]["TrangThaiHoSo"] for c in codes[:125]} == {"9"}
    assert {portal.dossiers[c][-1]["TrangThaiHoSo"] for c in codes[125:250]} == {"4"}
    # No flood: documents (dossiers and steps) per second stayed under the limit and its
    # burst, and the backlog took as long as the limit says.
    arrivals = portal.arrivals[start:]
    busiest = max(sum(1 for t in arrivals if s <= t < s + 1.0) for s in arrivals)
    assert busiest <= RATE + BURST + 1
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - BURST) / RATE - 1
    r = await world.http.get(world.url("national_portal", "/v1/national-portal/reconciliation"),
                             headers=world.operator())
    total = r.json()["total"]
    assert total["pending"] == 0 and total["synced"] == total["received"] - total["refused"]


async def test_the_connector_killed_while_sending_loses_nothing(world: World) -> None:
    world.portal.portal.faults.mode = "slow"
    codes = await asyncio.gather(*(world.file() for _ in range(40)))
    await asyncio.sleep(1.5)
    killed = world.stack.script("kill", "national_portal")
    assert killed.returncode == 0, killed.stderr
    world.portal.portal.faults.mode = "ok"
    started = world.stack.script("start")
    assert started.returncode == 0, started.stderr
    for code in codes:
        await world.in_sync(code, timeout_s=120)
    assert world.portal.portal.regressions == []


async def test_indicator_1_4_equals_the_reconciliation(world: World) -> None:
    today = datetime.now(VN).date()
    first = today.replace(day=1)
    r = await world.http.get(world.url("national_portal", "/v1/national-portal/reconciliation"),
                             params={"unit": UNIT, "from": first.isoformat(),
                                     "to": today.isoformat()}, headers=world.operator())
    [unit] = r.json()["units"]

    async def agrees() -> dict[str, Any] | None:
        index = await world.http.get(world.url("metrics", f"/v1/metrics/units/{UNIT}/index766"),
                                     params={"from": first.isoformat(), "to": today.isoformat()})
        one_four = next(i for i in index.json()["indicators"] if i["id"] == "1.4")
        return one_four if (one_four["numerator"], one_four["denominator"]) == (
            unit["synced"], unit["received"]) else None

    one_four = await until(agrees, timeout_s=30)
    assert one_four["denominator"] > 500
