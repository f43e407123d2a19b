"""Intake through its public API, with the real services, Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
import pytest

from services.intake.adapters.repository import add_portal_key
from shared.events import INTAKE_TOPIC
from tests.support.api import (
    DESK_KEY,
    IMPORTER_KEY,
    PORTAL_KEY,
    PROCEDURE,
    UNIT,
    Api,
    applicant,
    unique_ref,
)

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")


async def test_filing_issues_a_receipt_and_a_masked_event(api: Api) -> None:
    r = await api.file(external_ref=unique_ref())
    assert r.status_code == 201, r.text
    receipt = r.json()
    code = receipt["code"]
    assert r.headers["location"] == f"/v1/dossiers/{code}"
    today = datetime.now(VN).strftime("%y%m%d")
    assert code.startswith(f"{UNIT}-{today}-")
    assert receipt["procedure_code"] == PROCEDURE and receipt["processing_days"] == 10
    assert receipt["fee"] == 200000 and len(receipt["pin"]) == 6 and receipt["pin"].isdigit()
    assert datetime.fromisoformat(receipt["due_at"]) > datetime.fromisoformat(receipt["received_at"])

    [(etype, headers, value)] = await api.topic_events(INTAKE_TOPIC, code, expect=1)
    assert etype == "dossier.received"
    assert headers["ce_source"] == b"intake" and headers["ce_subject"] == code.encode()
    event = orjson.loads(value)
    assert event["due_at"] and event["applicant"]["id_number"] == "*********567"
    # No personal data in the event: not the ID number, phone, address or full name.
    for secret in ("031203004567", "0912345678", "Lạch Tray", "Nguyễn Văn An", receipt["pin"]):
        assert secret not in value.decode()

    view = await api.intake_view(code)
    assert view["status"] == "received" and view["timeline"][0]["type"] == "dossier.received"
    assert "031203004567" not in str(view)


async def test_two_hundred_concurrent_filings_get_consecutive_codes(api: Api) -> None:
    unit = "H26.105"  # a commune
    procedure = "1.001193"  # a commune-level procedure
    db = await api.db()
    before = await db.fetchval("SELECT coalesce(max(last), 0) FROM intake.code_counters "
                               "WHERE unit_code = $1", unit)
    responses = await asyncio.gather(*(
        api.file(unit_code=unit, procedure_code=procedure) for _ in range(200)))
    assert [r.status_code for r in responses] == [201] * 200
    codes = sorted(r.json()["code"] for r in responses)
    assert len(set(codes)) == 200
    sequences = sorted(int(c.rsplit("-", 1)[1]) for c in codes)
    assert sequences == list(range(before + 1, before + 201))


async def test_idempotency_key_returns_the_same_dossier_and_emits_once(api: Api) -> None:
    headers = {"Idempotency-Key": unique_ref()}
    first = await api.file(headers=headers)
    again = await asyncio.gather(*(api.file(headers=headers) for _ in range(5)))
    assert first.status_code == 201
    assert {r.status_code for r in again} == {200}
    assert {r.json()["code"] for r in again} == {first.json()["code"]}
    assert {r.json()["pin"] for r in again} == {first.json()["pin"]}
    assert all(r.json()["replayed"] for r in again)
    code = first.json()["code"]
    db = await api.db()
    assert await db.fetchval("SELECT count(*) FROM intake.outbox WHERE key = $1", code) == 1
    events = await api.topic_events(INTAKE_TOPIC, code, expect=1)
    assert len(events) == 1

    # The same key with a different body is refused and files nothing.
    different = await api.file(headers=headers, return_method="online")
    assert different.status_code == 422
    assert different.json()["type"].endswith("idempotency-key-reused")


async def test_external_ref_is_idempotent_too(api: Api) -> None:
    ref = unique_ref()
    first, second = await asyncio.gather(api.file(external_ref=ref), api.file(external_ref=ref))
    assert sorted([first.status_code, second.status_code]) == [200, 201]
    assert first.json()["code"] == second.json()["code"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"unit_code": "H99.99"}, 422, "body:/unit_code"),
        ({"procedure_code": "9.999999"}, 422, "body:/procedure_code"),
        ({"procedure_code": "1.001193"}, 422, "body:/procedure_code"),  # not this unit's
        ({"channel": "fax"}, 422, "body:/channel"),
        ({"return_method": "pigeon"}, 422, "body:/return_method"),
        ({"applicant": applicant(id_number="12AB")}, 422, "body:/applicant"),
        ({"applicant": applicant(phone="call me")}, 422, "body:/applicant/phone"),
        ({"applicant": {"full_name": "A"}}, 422, "body:/applicant/full_name"),
        ({"surprise": 1}, 422, "body:/surprise"),
        ({"received_at": "2026-01-01T08:00:00+07:00"}, 403, None),  # portals cannot back-date
        # Links are http(s); names carry no invisible or direction-changing characters.
        ({"documents": [{"name": "Tờ khai", "url": "javascript:alert(1)"}]}, 422,
         "body:/documents/0/url"),
        ({"documents": [{"name": "Tờ khai", "url": "data:text/html,<b>x</b>"}]}, 422,
         "body:/documents/0/url"),
        ({"applicant": applicant(full_name="\u200b\u200b\u200b")}, 422, "body:/applicant/full_name"),
        ({"applicant": applicant(full_name="Nguyễn \u202eAn")}, 422, "body:/applicant/full_name"),
        ({"note": "gọi tôi\u2066 sau\u2069"}, 422, "body:/note"),
        # A portal files online or by post; a counter filing is the desk's.
        ({"channel": "counter", "key": PORTAL_KEY}, 403, None),
        ({"channel": "online", "key": DESK_KEY}, 403, None),
    ],
)
async def test_invalid_filings_are_problem_details_and_write_nothing(
        api: Api, change: dict[str, object], status: int, field: str | None) -> None:
    db = await api.db()
    counts = "SELECT (SELECT count(*) FROM intake.dossiers), (SELECT count(*) FROM intake.outbox)"
    before = await db.fetchrow(counts)
    body: dict[str, Any] = dict(change)
    key = str(body.pop("key")) if "key" in body else None
    r = await api.file(key=key, **body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"]
    if field:
        assert any(e["field"].startswith(field) for e in body["errors"]), body
    assert await db.fetchrow(counts) == before


async def test_an_external_ref_sent_again_with_another_filing_is_refused(api: Api) -> None:
    ref = unique_ref()
    first = await api.file(external_ref=ref)
    assert first.status_code == 201
    same = await api.file(external_ref=ref)
    assert same.status_code == 200 and same.json()["replayed"] is True
    # Another applicant under the same reference: not the first applicant's receipt.
    other = await api.file(external_ref=ref,
                           applicant=applicant(full_name="Lê Văn Cường", id_number="001099000111"))
    assert other.status_code == 422, other.text
    assert other.json()["type"].endswith("idempotency-key-reused")
    assert "external_ref" in other.json()["title"]
    assert first.json()["pin"] not in other.text and first.json()["code"] not in other.text


async def test_names_and_phones_are_stored_in_one_form(api: Api) -> None:
    r = await api.file(applicant=applicant(full_name="Nguye\u0302\u0303n Văn An",
                                           phone="+84 912 345 678"))
    assert r.status_code == 201, r.text
    db = await api.db()
    stored = await db.fetchrow("SELECT applicant->>'full_name' AS name, applicant->>'phone' AS phone "
                               "FROM intake.dossiers WHERE code = $1", r.json()["code"])
    assert (stored["name"], stored["phone"]) == ("Nguyễn Văn An", "0912345678")


async def test_missing_or_unknown_api_key_is_401(api: Api) -> None:
    r = await api.http.post(api.url("intake", "/v1/dossiers"), json=api.filing())
    assert r.status_code == 401 and r.json()["detail"].startswith("an X-API-Key")
    r = await api.file(key="dvc-demo.wrong")
    assert r.status_code == 401
    r = await api.http.get(api.url("intake", "/v1/dossiers/H26.01-261123-0001"))
    assert r.status_code == 401


async def test_the_documents_and_note_of_a_filing_are_kept(api: Api) -> None:
    documents = [{"name": "Tờ khai cấp phiếu lý lịch tư pháp", "copies": 1, "url": None},
                 {"name": "Bản sao CCCD", "copies": 2, "url": "https://dvc.example/f/1"}]
    code = (await api.file(documents=documents, note="nhận kết quả buổi chiều")).json()["code"]
    r = await api.http.get(api.url("intake", f"/v1/dossiers/{code}"),
                           headers={"X-API-Key": DESK_KEY})
    # As sent, with the index's flags (not digitised, not reused) where none were given.
    assert r.json()["documents"] == [{**d, "digitised": False, "reused": False}
                                     for d in documents]
    assert r.json()["note"] == "nhận kết quả buổi chiều"


async def test_a_portal_sees_and_acts_only_on_dossiers_it_filed(api: Api) -> None:
    other_key = f"other-portal.{uuid.uuid4().hex}"
    conn = await asyncpg.connect(api.stack.database_url, server_settings={"search_path": "intake"})
    try:
        await add_portal_key(conn, "other-portal", "portal", other_key)
    finally:
        await conn.close()
    code = (await api.file()).json()["code"]
    theirs = {"X-API-Key": other_key}
    base = api.url("intake", f"/v1/dossiers/{code}")
    missing = await api.http.get(api.url("intake", "/v1/dossiers/H26.01-991231-9999"),
                                 headers=theirs)
    for method, path, body in (("GET", "", None),
                               ("POST", "/withdraw", {"reason": "không phải của tôi"}),
                               ("POST", "/supplements", {"documents": [{"name": "x"}]})):
        r = await api.http.request(method, base + path, json=body, headers=theirs)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["detail"].replace(code, "X") == \
            missing.json()["detail"].replace("H26.01-991231-9999", "X")  # nothing leaks
    # Nothing changed; the filing portal and the importer still see it.
    mine = await api.http.get(base, headers={"X-API-Key": DESK_KEY})
    assert mine.status_code == 200 and mine.json()["status"] == "received"
    assert (await api.http.get(base, headers={"X-API-Key": IMPORTER_KEY})).status_code == 200
    # The other portal's own filings are its own.
    own = (await api.file(key=other_key, channel="online")).json()["code"]
    assert (await api.http.get(api.url("intake", f"/v1/dossiers/{own}"),
                               headers=theirs)).status_code == 200


async def test_importer_back_fills_with_its_receipt_time(api: Api) -> None:
    received = datetime(2026, 11, 13, 16, 30, tzinfo=VN)  # a Friday, after the cut-off
    r = await api.file(key=IMPORTER_KEY, received_at=received.isoformat(), procedure_code=PROCEDURE)
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["code"].startswith(f"{UNIT}-261113-")
    assert datetime.fromisoformat(receipt["counted_from"]) == datetime(2026, 11, 16, 7, 30, tzinfo=VN)
    # 10 working days counted after Mon 16/11, skipping Tue 24/11: Tue 1/12
    assert datetime.fromisoformat(receipt["due_at"]) == datetime(2026, 12, 1, 17, 0, tzinfo=VN)
    future = datetime.now(VN) + timedelta(days=1)
    r = await api.file(key=IMPORTER_KEY, received_at=future.isoformat())
    assert r.status_code == 422


async def test_a_back_filled_withdrawal_is_not_before_the_filing(api: Api) -> None:
    filed = datetime(2026, 11, 16, 10, 0, tzinfo=VN)
    code = (await api.file(key=IMPORTER_KEY, received_at=filed.isoformat())).json()["code"]
    url, importer = api.url("intake", f"/v1/dossiers/{code}/withdraw"), {"X-API-Key": IMPORTER_KEY}
    early = await api.http.post(url, headers=importer,
                                json={"at": (filed - timedelta(days=1)).isoformat()})
    assert early.status_code == 422, early.text
    assert early.json()["errors"][0]["field"] == "body:/at"
    assert (await api.intake_view(code))["status"] == "received"
    later = await api.http.post(url, headers=importer,
                                json={"at": (filed + timedelta(hours=1)).isoformat()})
    assert later.status_code == 200 and later.json()["status"] == "withdrawn"


async def test_catalog_is_readable(api: Api) -> None:
    units = (await api.http.get(api.url("intake", "/v1/units"))).json()
    assert {"department", "commune", "province"} <= {u["block"] for u in units}
    procedures = (await api.http.get(api.url("intake", "/v1/procedures"),
                                     params={"unit": UNIT})).json()
    assert PROCEDURE in {p["code"] for p in procedures}
    assert all(UNIT in p["units"] for p in procedures)


async def test_every_time_is_written_in_the_units_zone(api: Api) -> None:
    """One convention for portals: +07:00 in REST answers and in event payloads (CloudEvents'
    own ce_time header stays UTC, as its specification says)."""
    from shared.events import INTAKE_TOPIC

    receipt = (await api.file()).json()
    for name in ("filed_at", "received_at", "counted_from", "due_at"):
        assert receipt[name].endswith("+07:00"), (name, receipt[name])
    view = await api.processing_view(receipt["code"])
    for name in ("received_at", "counted_from", "due_at", "apology_deadline"):
        assert view[name].endswith("+07:00"), (name, view[name])
    dossier = await api.intake_view(receipt["code"])
    assert all(e["at"].endswith("+07:00") for e in dossier["timeline"]), dossier["timeline"]
    [(_type, headers, value)] = await api.topic_events(INTAKE_TOPIC, receipt["code"], expect=1)
    event = orjson.loads(value)
    for name in ("received_at", "counted_from", "due_at"):
        assert event[name].endswith("+07:00"), (name, event[name])
    assert headers["ce_time"].endswith(b"Z")
