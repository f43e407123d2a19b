"""The live dashboard in headless Chromium (Debian's package, driven by Playwright): the
period is chosen with the page's selector (a preset, then a range of days built from now),
and while the page is open a dossier is filed and resolved late in that range through the
public APIs; the page's figures change without a reload."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from services.metrics.domain.figures import Period
from tests.support.api import IMPORTER_KEY, Api
from tests.support.dates import Weeks, at, last_month, this_month, today

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
UNIT, PROCEDURE = "H26.112", "1.004873"
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
            await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            await browser.close()
