"""Applicant personal data (ID number, phone, e-mail, address, full name) appears in no Kafka
message (values or headers, dead-letter topics included), no service log line, no /metrics
output and no metrics API answer, after a dossier's whole life through the public APIs,
with the applicant notified of its steps by e-mail, SMS and Zalo (the contact details
stay in intake's tables; docs/rules/notifications.md), and after a complaint about it with
the same contact, answered (and e-mailed) and published (the complainant's contact stays in
the feedback service's tables)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from shared.events import ALL_DOSSIER_TOPICS, dlq_topic
from tests.conftest import Standins
from tests.support.api import DESK_KEY, SERVICES_ORDER, UNIT, Api, Courier, applicant
from tests.support.kafka import read_all
from tests.support.wait import until

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")
SECRETS = {"id_number": "079099012345", "phone": "0987654321",
           "phone as sent": "84987654321", "email": "tran.bich.ngoc77@example.vn",
           "address": "Số 77 phố Đặng Tiến Đông", "full_name": "Trần Thị Bích Ngọc"}


async def every_message(api: Api) -> AsyncIterator[tuple[str, Any, str]]:
    """(topic, record, value and headers as text) of every message on every topic the
    services produce and on their dead-letter topics."""
    for topic in ALL_DOSSIER_TOPICS:
        for name in (topic, dlq_topic(topic)):
            for rec in await read_all(api.infra.kafka_bootstrap, api.stack.topic_prefix + name,
                                      expect=0):
                blob = (rec.value or b"") + b"".join(v for _k, v in rec.headers or ())
                yield name, rec, blob.decode("utf-8", errors="replace")


async def test_no_personal_data_leaves_intake(api: Api, standins: Standins) -> None:
    person = applicant(full_name=SECRETS["full_name"], id_number=SECRETS["id_number"],
                       phone=SECRETS["phone"], address=SECRETS["address"],
                       email=SECRETS["email"])
    r = await api.file(applicant=person, return_method="postal",
                       note=f"gọi {SECRETS['phone']} trước khi đến")
    assert r.status_code == 201, r.text
    code, pin = r.json()["code"], r.json()["pin"]
    # The same applicant told by SMS and by Zalo of two more dossiers.
    for channel in ("sms", "zalo"):
        other = await api.file(applicant=person, notify={"channel": channel})
        assert other.status_code == 201, other.text
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

    # The applicant complains about the dossier with their contact, and the answer is
    # e-mailed to them by the feedback service (so the scans cover complaints too).
    complained = await api.http.post(api.url("feedback", "/v1/complaints"),
                                     headers={"X-API-Key": DESK_KEY}, json={
        "subject": "Phản ánh", "body": f"Gọi tôi {SECRETS['phone']}, CCCD {SECRETS['id_number']}",
        "dossier_code": code, "pin": pin, "category": "conduct",
        "complainant": {"full_name": SECRETS["full_name"], "phone": SECRETS["phone"],
                        "email": SECRETS["email"]}})
    assert complained.status_code == 201, complained.text
    complaint = complained.json()["code"]
    steps = api.url("feedback", f"/v1/complaints/{complaint}/steps")
    for step in ({"action": "answer", "text": "Đã nhắc nhở cán bộ."}, {"action": "publish"}):
        answered = await api.http.post(steps, json=step, headers=api.token([UNIT]))
        assert answered.status_code == 200, answered.text
    public = await api.http.get(api.url("feedback", f"/v1/public/complaints/{complaint}"))
    assert public.status_code == 200 and not any(s in public.text for s in SECRETS.values())

    # The applicant was told, at each address (so the scans below cover the senders).
    async def told() -> bool | None:
        mails = standins.mailbox.to(SECRETS["email"])
        answered = any(complaint in str(m["Subject"]) for m in mails)
        return True if answered and standins.sms.to(SECRETS["phone as sent"]) \
            and standins.zalo.to(SECRETS["phone as sent"]) else None

    await until(told, timeout_s=30)
    history = await api.http.get(api.url("intake", f"/v1/dossiers/{code}/notifications"),
                                 headers={"X-API-Key": DESK_KEY})
    assert history.status_code == 200 and "t***@example.vn" in history.text
    assert not any(s in history.text for s in SECRETS.values())
    # Every topic the services produce, and their dead-letter topics.
    scanned = 0
    async for name, rec, text in every_message(api):
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
            if service == "intake":
                assert 'motcua_notifications_total{channel="email",outcome="sent"}' in text
        overview = (await client.get(api.stack.url("metrics") + "/v1/metrics/overview")).text
        assert not any(s in overview for s in SECRETS.values())
    # The intake service itself still has it, for the desk (and only there).
    db = await api.db()
    assert await db.fetchval("SELECT count(*) FROM intake.applicant_notifications "
                             "WHERE address = ANY($1::text[])",
                             [SECRETS["email"], SECRETS["phone"]]) >= 3
    stored = await db.fetchval("SELECT applicant->>'id_number' FROM intake.dossiers "
                               "WHERE code = $1", code)
    assert stored == SECRETS["id_number"]
    # The national portal connector keeps the dossier without its applicant (it looks the
    # applicant up only when sending, docs/decisions/0011).
    async def connector_view() -> str | None:
        value = await db.fetchval("SELECT view::text FROM national_portal.dossiers "
                                  "WHERE code = $1", code)
        return None if value is None else str(value)

    view = await until(connector_view, timeout_s=20)
    assert code in view and not any(s in view for s in SECRETS.values())
    stored_comment = await db.fetchval("SELECT comment FROM feedback.ratings "
                                       "WHERE dossier_code = $1", code)
    assert SECRETS["phone"] not in stored_comment and SECRETS["id_number"] not in stored_comment
    assert (datetime.now(VN) - timedelta(days=1)).year >= 2026


# Personal data typed into free text, in the forms people type it.
TYPED = {"mobile spaced": "0987 654 321", "mobile +84": "+84 987 654 321",
         "mobile 84": "84987654321", "mobile dotted": "0987.654.321",
         "citizen ID": "079099012345", "ID grouped": "079 099 012 345",
         "e-mail": "bich.ngoc79@gmail.com"}
FREE_TEXT = ("Liên hệ chị Ngọc: " + ", ".join(TYPED.values()) + ".")


def leaks(text: str) -> list[str]:
    found = [kind for kind, value in TYPED.items() if value in text]
    if "bich.ngoc79" in text:
        found.append("e-mail local part")
    return found


async def test_free_text_in_every_field_reaches_no_topic_unmasked(api: Api) -> None:
    courier = Courier(api)
    desk = {"X-API-Key": DESK_KEY}

    async def act(code: str, action: str, **body: object) -> None:
        r = await api.act(code, action, dict(body))
        assert r.status_code == 200, (action, r.text)

    # A: a note at filing, a supplement request and its answer, an apology, a result that
    # could not be delivered, and a rating comment.
    a = (await api.file(return_method="postal", note=FREE_TEXT)).json()
    await api.processing_view(a["code"])
    await act(a["code"], "accept")
    await act(a["code"], "request-supplement", reason=FREE_TEXT)
    await api.wait_intake_status(a["code"], "awaiting_supplement")
    r = await api.http.post(api.url("intake", f"/v1/dossiers/{a['code']}/supplements"),
                            json={"documents": [{"name": "Bản sao"}], "note": FREE_TEXT},
                            headers=desk)
    assert r.status_code == 200, r.text
    await api.wait_processing_state(a["code"], "processing")
    view = await api.processing_view(a["code"])
    new_date = datetime.fromisoformat(view["due_at"]) + timedelta(days=1)
    await act(a["code"], "apologize", reason=FREE_TEXT, new_due_at=new_date.isoformat())
    await act(a["code"], "resolve")
    outbound = await courier.shipment(a["code"], "outbound")
    picked = datetime.now(VN)
    assert (await courier.report(outbound["id"], "picked_up", picked.isoformat())).status_code == 200
    failed = await courier.report(outbound["id"], "delivery_failed",
                                  (picked + timedelta(seconds=1)).isoformat(), reason=FREE_TEXT)
    assert failed.status_code == 200, failed.text
    for _ in range(100):
        rated = await api.http.post(api.url("feedback", "/v1/feedback"), json={
            "dossier_code": a["code"], "pin": a["pin"], "rating": "unsatisfied",
            "comment": FREE_TEXT})
        if rated.status_code == 201:
            break
        await asyncio.sleep(0.1)
    assert rated.status_code == 201, rated.text
    assert not leaks(rated.text)
    # B withdrawn, C rejected, D stopped, each with the same text as its reason.
    codes = {}
    for name in ("B", "C", "D"):
        codes[name] = (await api.file()).json()["code"]
        await api.processing_view(codes[name])
    r = await api.http.post(api.url("intake", f"/v1/dossiers/{codes['B']}/withdraw"),
                            json={"reason": FREE_TEXT}, headers=desk)
    assert r.status_code == 200 and not leaks(r.text), r.text
    for name, action in (("C", "reject"), ("D", "stop")):
        await act(codes[name], "accept")
        await act(codes[name], action, reason=FREE_TEXT)

    # Every event of these dossiers, on every topic and dead-letter topic, once all are in.
    mine = {a["code"], *codes.values()}
    await api.wait_intake_status(codes["B"], "withdrawn")
    await asyncio.sleep(1.0)
    seen: set[str] = set()
    async for name, rec, text in every_message(api):
        assert not leaks(text), (name, rec.offset, leaks(text))
        if rec.key and rec.key.decode() in mine and "Liên hệ chị Ngọc" in text:
            seen.add(dict(rec.headers)["ce_type"].decode())
    # The free text did travel (masked) in each kind of event that carries one.
    assert {"dossier.supplement_requested", "dossier.apology_issued", "dossier.rejected",
            "dossier.stopped", "dossier.withdrawn", "postal.delivery_failed",
            "feedback.submitted"} <= seen, seen
    # The portal's timeline shows the masked text too; the logs never the typed one.
    for code in (a["code"], codes["B"]):
        timeline = await api.http.get(api.url("intake", f"/v1/dossiers/{code}"), headers=desk)
        assert timeline.status_code == 200 and not leaks(timeline.text), code
    for log in api.stack.run_dir.glob("*.log"):
        assert not leaks(log.read_text(encoding="utf-8", errors="replace")), log.name
