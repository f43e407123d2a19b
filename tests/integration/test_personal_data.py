"""Applicant personal data (ID number, phone, address, full name) appears in no Kafka
message (values or headers, dead-letter topics included), no service log line, no /metrics
output and no metrics API answer, after a dossier's whole life through the public APIs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from shared.events import ALL_DOSSIER_TOPICS, dlq_topic
from tests.support.api import SERVICES_ORDER, Api, Courier, applicant
from tests.support.kafka import read_all

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")
SECRETS = {"id_number": "079099012345", "phone": "0987654321",
           "address": "Số 77 phố Đặng Tiến Đông", "full_name": "Trần Thị Bích Ngọc"}


async def test_no_personal_data_leaves_intake(api: Api) -> None:
    person = applicant(full_name=SECRETS["full_name"], id_number=SECRETS["id_number"],
                       phone=SECRETS["phone"], address=SECRETS["address"])
    r = await api.file(applicant=person, return_method="postal",
                       note=f"gọi {SECRETS['phone']} trước khi đến")
    assert r.status_code == 201, r.text
    code, pin = r.json()["code"], r.json()["pin"]
    await api.processing_view(code)
    assert (await api.act(code, "accept")).status_code == 200
    assert (await api.act(code, "resolve")).status_code == 200
    courier = Courier(api)
    outbound = await courier.shipment(code, "outbound")
    assert (await courier.report(outbound["id"], "picked_up",
                                 datetime.now(VN).isoformat())).status_code == 200
    # Phone and ID numbers typed into a comment are masked. (A name typed into free text
    # cannot be recognised by a pattern; feedback never learns the applicant's name.)
    comment = f"Cán bộ tận tình. CCCD {SECRETS['id_number']}, ĐT {SECRETS['phone']}"
    for _ in range(100):
        rated = await api.http.post(api.url("feedback", "/v1/feedback"), json={
            "dossier_code": code, "pin": pin, "rating": "satisfied", "comment": comment})
        if rated.status_code == 201:
            break
        await asyncio.sleep(0.1)
    assert rated.status_code == 201

    # Every topic the services produce, and their dead-letter topics.
    scanned = 0
    for topic in ALL_DOSSIER_TOPICS:
        for name in (topic, dlq_topic(topic)):
            for rec in await read_all(api.infra.kafka_bootstrap, api.stack.topic_prefix + name,
                                      expect=0):
                blob = (rec.value or b"") + b"".join(v for _k, v in rec.headers or ())
                text = blob.decode("utf-8", errors="replace")
                for kind, secret in SECRETS.items():
                    assert secret not in text, (kind, name, rec.offset)
                scanned += 1
    assert scanned > 0
    # Every service log, every /metrics, and the metrics API.
    await asyncio.sleep(1.0)
    for log in api.stack.run_dir.glob("*.log"):
        text = log.read_text(encoding="utf-8", errors="replace")
        for kind, secret in SECRETS.items():
            assert secret not in text, (kind, log.name)
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES_ORDER:
            text = (await client.get(api.stack.url(service) + "/metrics")).text
            assert not any(s in text for s in SECRETS.values()), service
        overview = (await client.get(api.stack.url("metrics") + "/v1/metrics/overview")).text
        assert not any(s in overview for s in SECRETS.values())
    # The intake service itself still has it, for the desk (and only there).
    db = await api.db()
    stored = await db.fetchval("SELECT applicant->>'id_number' FROM intake.dossiers "
                               "WHERE code = $1", code)
    assert stored == SECRETS["id_number"]
    stored_comment = await db.fetchval("SELECT comment FROM feedback.ratings "
                                       "WHERE dossier_code = $1", code)
    assert SECRETS["phone"] not in stored_comment and SECRETS["id_number"] not in stored_comment
    assert (datetime.now(VN) - timedelta(days=1)).year >= 2026
