"""The deadline watchdog with two processing instances on the same database and topics:
each due dossier gets exactly one due_soon and one overdue event, also when an instance is
killed (SIGKILL) and restarted while dossiers keep coming."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.events import PROCESSING_TOPIC
from tests.support.api import IMPORTER_KEY, ROOT_DIR, Api
from tests.support.children import stop_child
from tests.support.kafka import read_all

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")
SECOND_PORT = 18290


def start_second_instance(api: Api) -> subprocess.Popen[bytes]:
    env = dict(api.stack.env, PROCESSING_PORT=str(SECOND_PORT))
    with open(api.stack.run_dir / "processing-2.log", "ab") as log:  # the child keeps its own
        return subprocess.Popen([sys.executable, "-m", "services.processing.main"], env=env,
                                cwd=ROOT_DIR, stdout=log, stderr=log)


async def wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(60):
        while True:
            try:
                if (await client.get(url + "/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


async def file_overdue(api: Api, n: int, start: datetime) -> list[str]:
    """Back-filled dossiers whose apology deadline and due date have both passed."""
    codes = []
    for i in range(n):
        r = await api.file(key=IMPORTER_KEY, procedure_code="1.001193", unit_code="H26.101",
                           received_at=(start + timedelta(minutes=i)).isoformat())
        assert r.status_code == 201, r.text
        codes.append(r.json()["code"])
    return codes


async def warnings_by_code(api: Api, codes: set[str], *,
                           timeout_s: float = 90) -> dict[str, dict[str, set[str]]]:
    topic = api.stack.topic_prefix + PROCESSING_TOPIC
    found: dict[str, dict[str, set[str]]] = {}
    async with asyncio.timeout(timeout_s):
        while True:
            found = defaultdict(lambda: defaultdict(set))
            for r in await read_all(api.infra.kafka_bootstrap, topic, expect=0):
                code = r.key.decode()
                headers = dict(r.headers)
                if code in codes and headers["ce_type"] in (b"dossier.due_soon", b"dossier.overdue"):
                    found[code][headers["ce_type"].decode()].add(headers["ce_id"].decode())
            if all(len(found[c]) == 2 for c in codes):
                return found
            await asyncio.sleep(0.5)


def kill_stack_processing(api: Api) -> None:
    pid = api.stack.pids()["processing"]
    os.kill(pid, signal.SIGKILL)


async def test_one_due_soon_and_one_overdue_per_dossier_across_replicas_and_kills(api: Api) -> None:
    second = start_second_instance(api)
    try:
        await wait_ready(f"http://127.0.0.1:{SECOND_PORT}")
        monday = datetime(2026, 11, 2, 9, 0, tzinfo=VN)
        codes = await file_overdue(api, 10, monday)
        await warnings_by_code(api, set(codes))

        kill_stack_processing(api)  # SIGKILL: no clean shutdown, locks die with the session
        codes += await file_overdue(api, 10, monday + timedelta(days=1))
        await warnings_by_code(api, set(codes))
        assert api.stack.script("start").returncode == 0  # brings the killed one back

        stop_child(second, sig=signal.SIGKILL)
        codes += await file_overdue(api, 10, monday + timedelta(days=2))
        second = start_second_instance(api)
        await wait_ready(f"http://127.0.0.1:{SECOND_PORT}")
        codes += await file_overdue(api, 10, monday + timedelta(days=3))

        found = await warnings_by_code(api, set(codes))
        for code in codes:
            assert {t: len(ids) for t, ids in found[code].items()} == {
                "dossier.due_soon": 1, "dossier.overdue": 1}, code
        db = await api.db()
        sent = await db.fetchval(
            """SELECT count(*) FROM processing.dossiers WHERE code = ANY($1::text[])
               AND due_soon_sent_at IS NOT NULL AND overdue_sent_at IS NOT NULL""", codes)
        assert sent == len(codes)

        # The leading watchdog also reports them for the apology-deadline alert.
        async def gauge() -> float:
            best = 0.0
            async with httpx.AsyncClient() as client:
                for url in (api.stack.url("processing"), f"http://127.0.0.1:{SECOND_PORT}"):
                    text = (await client.get(url + "/metrics")).text
                    for family in text_string_to_metric_families(text):
                        for sample in family.samples:
                            if sample.name == "motcua_dossiers_past_apology_deadline_without_apology" \
                                    and sample.labels.get("unit") == "H26.101":
                                best = max(best, sample.value)
            return best

        async with asyncio.timeout(30):
            while await gauge() < len(codes):
                await asyncio.sleep(0.5)
    finally:
        stop_child(second)
