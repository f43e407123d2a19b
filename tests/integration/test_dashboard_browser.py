"""The live dashboard in headless Chromium (Debian's package, driven by Playwright): the
period is chosen with the page's selector (a preset, then a range of days built from now),
and while the page is open a dossier is filed and resolved late in that range through the
public APIs; the page's figures change without a reload. The national index (Decision 766)
on the same page: a unit's total and six group bars, moved by the stream's index766 events
when dossiers are filed this month; its drill-down (each indicator's counts, the 12-month
trend chart, the dossiers at risk with the 2.1 projection); the rankings of each block. The
page loads nothing but the metrics service's own URLs (it works offline)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from services.metrics.domain.figures import Period
from shared.clock import VN
from tests.support.api import DESK_KEY, IMPORTER_KEY, Api
from tests.support.dates import Weeks, at, calendar_of, last_month, this_month, today

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
UNIT, PROCEDURE = "H26.112", "1.004873"
# A commune no other test files dossiers for, and its 3-working-day procedure.
UNIT_766, PROCEDURE_766 = "H26.113", "1.004873"
GROUPS_766 = ["transparency", "progress", "online_service", "online_payment", "digitisation",
              "satisfaction"]
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                             "(make test installs it when run as root)")
async def test_dashboard_updates_without_reload(api: Api, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1800})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(api.url("metrics", "/?min_sample=1"))
            await page.wait_for_selector("#status.live", timeout=30_000)
            row = f'tr[data-unit="{UNIT}"]'
            await page.wait_for_selector(row, timeout=30_000)

            async def shown_period() -> tuple[str, str]:
                start, end = str(await page.evaluate("document.body.dataset.period")).split("/")
                return start, end

            def bounds(first: Any, last: Any) -> tuple[str, str]:
                p = Period.of(first, last, None, at(first))
                return p.start.isoformat(), p.end.isoformat()

            # By default, this month; a preset chosen in the selector goes into the URL.
            assert await shown_period() == bounds(*this_month())
            await page.select_option("#period-select", "last_month")
            await page.wait_for_function("([want]) => document.body.dataset.period === want",
                                         arg=["/".join(bounds(*last_month()))], timeout=30_000)
            assert "period=last_month" in page.url

            # A range of days, from the working day six weeks ago to today.
            w = Weeks.ago(UNIT)
            await page.select_option("#period-select", "range")
            await page.fill("#from", w.first.isoformat())
            await page.fill("#to", today().isoformat())
            await page.click("#apply")
            await page.wait_for_function("([want]) => document.body.dataset.period === want",
                                         arg=["/".join(bounds(w.first, today()))],
                                         timeout=30_000)
            assert f"from={w.first.isoformat()}" in page.url and "period=" not in page.url
            await page.wait_for_selector("#status.live", timeout=30_000)

            async def cell(figure: str) -> str:
                return str(await page.inner_text(f'{row} td[data-figure="{figure}"]')).strip()

            before: dict[str, Any] = {f: await cell(f) for f in ("received", "late",
                                                                 "late_without_apology")}
            assert before == {"received": "0", "late": "0", "late_without_apology": "0"}
            reloads: list[str] = []
            page.on("framenavigated", lambda frame: reloads.append(frame.url))

            # Filed on W0 (due W3), resolved on W5: late, without apology.
            r = await api.file(key=IMPORTER_KEY, unit_code=UNIT, procedure_code=PROCEDURE,
                               received_at=w.at(0).isoformat())
            assert r.status_code == 201, r.text
            code = r.json()["code"]
            await api.processing_view(code)
            for action, body in (("accept", {"at": w.at(0, 10).isoformat()}),
                                 ("resolve", {"at": w.at(5, 10).isoformat()})):
                resp = await api.act(code, action, body, units=["*"], role="importer")
                assert resp.status_code == 200, resp.text

            await page.wait_for_function(
                """([row]) => {
                     const c = document.querySelector(row + ' td[data-figure="late"]');
                     return c && c.textContent.trim() === "1";
                   }""", arg=[row], timeout=30_000)
            assert await cell("received") == "1"
            assert await cell("late_without_apology") == "1"
            assert await cell("on_time_rate") == "0.0%"
            assert int(await page.evaluate("document.body.dataset.updates || '0'")) >= 1
            assert reloads == []  # the same page, never navigated again
            assert errors == []  # no script error, the index 766 parts included
            await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            await browser.close()


@asynccontextmanager
async def dashboard(api: Api, query: str) -> AsyncIterator[tuple[Page, list[str]]]:
    """The dashboard open in Chromium, and every URL the page requested; no script error."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1800})
            requested: list[str] = []
            errors: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(api.url("metrics", "/" + query))
            await page.wait_for_selector("#status.live", timeout=30_000)
            yield page, requested
            assert errors == []
        finally:
            await browser.close()


async def index766(api: Api, path: str, **params: str) -> dict[str, Any]:
    r = await api.http.get(api.url("metrics", "/v1/metrics" + path), params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def file_resolved_now(api: Api) -> str:
    """A dossier filed at the counter, accepted and resolved now: this month's, on time."""
    r = await api.file(key=DESK_KEY, unit_code=UNIT_766, procedure_code=PROCEDURE_766)
    assert r.status_code == 201, r.text
    code = str(r.json()["code"])
    await api.processing_view(code)
    for action in ("accept", "resolve"):
        resp = await api.act(code, action, units=[UNIT_766])
        assert resp.status_code == 200, resp.text
    return code


async def file_due_soon(api: Api) -> str:
    """A dossier received on the last working day before today at 09:00 and still open: due
    at office close of the third working day after it, after today and within the next three
    working days, so at risk within a 3-day horizon."""
    cal, d = calendar_of(UNIT_766), today() - timedelta(days=1)
    while not cal.is_working_day(d):
        d -= timedelta(days=1)
    r = await api.file(key=IMPORTER_KEY, unit_code=UNIT_766, procedure_code=PROCEDURE_766,
                       received_at=at(d, 9).isoformat())
    assert r.status_code == 201, r.text
    code = str(r.json()["code"])
    await api.processing_view(code)
    resp = await api.act(code, "accept", {"at": at(d, 10).isoformat()}, units=["*"],
                         role="importer")
    assert resp.status_code == 200, resp.text
    return code


def counts(score: dict[str, Any], indicator: str) -> tuple[int, int]:
    found = next(i for i in score["indicators"] if i["id"] == indicator)
    return found["numerator"] or 0, found["denominator"] or 0


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                             "(make test installs it when run as root)")
async def test_dashboard_index766(api: Api, tmp_path: Path) -> None:
    unit_path = f"/units/{UNIT_766}/index766"
    before = await index766(api, unit_path)
    async with dashboard(api, "?min_sample=1") as (page, requested):
        cell = f'tr[data-unit="{UNIT_766}"] td[data-figure="index766"]'
        await page.wait_for_selector(f"{cell} .t766", timeout=30_000)
        reloads: list[str] = []
        page.on("framenavigated", lambda frame: reloads.append(frame.url))
        await page.evaluate("window.sameDocument = true")  # gone if the page were reloaded

        # This month's population gains two dossiers: one filed and resolved now (on time),
        # one received on the last working day and still open (due within 3 working days).
        _, population = counts(before, "2.1")
        _, resolved = counts(before, "4.1")
        await file_resolved_now(api)
        due_soon = await file_due_soon(api)

        async def both_counted() -> dict[str, Any]:
            async with asyncio.timeout(30):
                while True:
                    score = await index766(api, unit_path)
                    if (counts(score, "2.1")[1], counts(score, "4.1")[1]) == (
                            population + 2, resolved + 1):
                        return score
                    await asyncio.sleep(0.3)

        score = await both_counted()
        assert score["total"] != before["total"]  # 2.1 and 5.4 now have a population
        # The stream's index766 event moves the total and the bars, without a reload.
        await page.wait_for_function(
            """([cell, total]) => {
                 const t = document.querySelector(cell + " .t766");
                 return t && Number(t.dataset.value) === total;
               }""", arg=[cell, score["total"]], timeout=30_000)
        assert int(await page.evaluate("document.body.dataset.updates766 || '0'")) >= 1
        assert reloads == []
        bars = await page.eval_on_selector_all(
            f"{cell} .g766", "els => els.map(e => [e.dataset.group, Number(e.dataset.score), "
                             "Number(e.dataset.max), e.firstElementChild.style.height])")
        assert [b[0] for b in bars] == GROUPS_766
        for group, (gid, shown, max_points, height) in zip(score["groups"], bars, strict=True):
            assert gid == group["id"] and max_points == group["max_points"]
            assert shown == group["score"], (gid, shown, group["score"])
            assert height.endswith("%")
            assert abs(float(height[:-1]) - 100 * group["score"] / group["max_points"]) < 0.06
        progress = next(g for g in score["groups"] if g["id"] == "progress")
        assert progress["score"] > 0
        assert not score["complete"] and score["missing"]  # no operator entries yet
        assert (await page.inner_text(f"{cell} .incomplete")).strip() == (
            "chưa đầy đủ: thiếu " + ", ".join(score["missing"]))

        # The drill-down: each indicator, the 12-month trend, the dossiers at risk.
        await page.click(f'tr[data-unit="{UNIT_766}"] a.drill')
        await page.wait_for_function("([u]) => document.body.dataset.drill === u",
                                     arg=[UNIT_766], timeout=30_000)
        assert f"unit={UNIT_766}" in page.url
        score = await index766(api, unit_path)
        for ind in score["indicators"]:
            row = f'#drill-indicators tr[data-indicator="{ind["id"]}"]'
            shown = (await page.inner_text(f'{row} td[data-col="counts"]')).strip()
            if ind["missing"]:
                assert shown == "chưa nhập", (ind["id"], shown)
            elif ind["numerator"] is None:  # an information-only indicator with no counts
                assert shown == "—", (ind["id"], shown)
            else:
                assert shown == f'{ind["numerator"]} / {ind["denominator"]}', (ind["id"], shown)
            if ind["max_points"]:
                assert (await page.inner_text(f'{row} td[data-col="points"]')).strip() == (
                    f'{ind["points"]:.2f} / {ind["max_points"]:g}')
        assert (await page.inner_text('#drill-indicators tr[data-indicator="2.1"] '
                                      'td[data-col="ratio"]')).strip() == (
            f'{next(i for i in score["indicators"] if i["id"] == "2.1")["ratio"]:.2f}%')
        points = str(await page.get_attribute("#trend766 polyline", "points")).split()
        assert len(points) == 12 and await page.locator("#trend766 circle").count() == 12
        trend = await index766(api, unit_path + "/trend", months="12")
        assert len(trend["months"]) == 12
        assert await page.get_attribute("#trend766 circle:last-of-type", "data-month") == (
            trend["months"][-1]["month"])

        risk = await index766(api, unit_path + "/at-risk", days="3")
        assert (await page.inner_text('#atrisk [data-proj="now"]')).strip() == (
            f'{risk["points_now"]:.2f}')
        assert (await page.inner_text('#atrisk [data-proj="nothing"]')).strip() == (
            f'{risk["points_if_nothing_on_time"]:.2f}')
        assert (await page.inner_text('#atrisk [data-proj="at_risk"]')).strip() == (
            f'{risk["points_if_at_risk_on_time"]:.2f}')
        listed = await page.eval_on_selector_all("#atrisk tr[data-dossier]",
                                                 "rows => rows.map(r => r.dataset.dossier)")
        assert due_soon in listed and listed == [d["dossier_code"] for d in risk["dossiers"]]
        for d in risk["dossiers"]:
            due = datetime.fromisoformat(d["due_at"]).astimezone(VN)
            text = await page.inner_text(f'#atrisk tr[data-dossier="{d["dossier_code"]}"]')
            assert f"{due:%d/%m/%Y}" in text and f"{due:%H:%M}" in text, (text, due)
            assert f'{d["points"]:.2f}' in text

        # Another commune, from the rankings: its dossiers at risk, or a message that none is.
        other = "H26.111"
        await page.click(f'#rank766 a.drill[data-drill="{other}"]')
        await page.wait_for_function("([u]) => document.body.dataset.drill === u",
                                     arg=[other], timeout=30_000)
        risk = await index766(api, f"/units/{other}/index766/at-risk", days="3")
        listed = await page.eval_on_selector_all("#atrisk tr[data-dossier]",
                                                 "rows => rows.map(r => r.dataset.dossier)")
        assert listed == [d["dossier_code"] for d in risk["dossiers"]]
        if not risk["dossiers"]:
            assert "Không có hồ sơ nào có nguy cơ trễ hạn" in await page.inner_text(
                '#atrisk [data-empty="atrisk"]')
        assert f"unit={other}" in page.url
        await page.click("#drill-close")
        assert await page.is_hidden("#drill") and "unit=" not in page.url

        # The rankings of each block by the 766 total; units without a sample come last.
        for block in ("commune", "department"):
            ranking = await index766(api, "/index766/rankings", block=block, by="total",
                                     min_sample="1")
            table = f'#rank766 [data-ranking-block="{block}"] tbody tr[data-rank-unit]'
            await page.wait_for_function(  # re-read shortly after the last index766 event
                """([table, want]) => [...document.querySelectorAll(table)]
                     .map(r => r.dataset.rankUnit + ":" + r.querySelector("td.rank")
                     .textContent.trim()).join() === want""",
                arg=[table, ",".join(f'{u["unit_code"]}:{u["rank"] or "–"}'
                                     for u in ranking["units"])], timeout=30_000)
            rows = await page.eval_on_selector_all(
                table, "rows => rows.map(r => [r.dataset.rankUnit, "
                       "r.querySelector('td.rank').textContent.trim(), r.textContent])")
            assert [r[0] for r in rows] == [u["unit_code"] for u in ranking["units"]]
            for (code, rank, text), unit in zip(rows, ranking["units"], strict=True):
                assert rank == (str(unit["rank"]) if unit["rank"] is not None else "–"), code
                assert ("chưa đủ mẫu" in text) == (unit["rank"] is None), code
        commune = await index766(api, "/index766/rankings", block="commune", by="total",
                                 min_sample="1")
        mine = next(u for u in commune["units"] if u["unit_code"] == UNIT_766)
        assert mine["rank"] is not None and any(u["rank"] is None for u in commune["units"])

        # Nothing but the metrics service's own URLs: no CDN, no external asset.
        base = api.url("metrics", "/")
        assert requested and all(u.startswith(base) for u in requested), requested
        assert await page.evaluate("window.sameDocument === true")  # the drill-down too
        await page.screenshot(path=str(tmp_path / "dashboard-766.png"), full_page=True)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                    "(deploy/local/test.sh installs it)")
async def test_the_dashboard_says_which_units_it_rolled_in(api: Api) -> None:
    """A period that reaches the demo province's merger (phường Minh Khai into phường Hồng
    Bàng on 01/07/2025) shows one row for the new ward, saying whose figures it includes."""
    async with dashboard(api, "?from=2025-06-16&to=2025-07-15") as (page, _):
        note = await page.wait_for_selector('tr[data-unit="H26.101"] .merged', timeout=30_000)
        assert note is not None
        assert await note.get_attribute("data-rolled-in") == "H26.901"
        assert "phường Minh Khai (H26.901, sáp nhập 01/07/2025)" in await note.inner_text()
        assert await page.query_selector('tr[data-unit="H26.901"]') is None
    async with dashboard(api, "?from=2025-06-01&to=2025-06-30") as (page, _):
        await page.wait_for_selector('tr[data-unit="H26.901"]', timeout=30_000)
        assert await page.query_selector('tr[data-unit="H26.101"] .merged') is None
