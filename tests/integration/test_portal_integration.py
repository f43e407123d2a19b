"""What a portal integrator relies on: catching up on what changed (cursor pages, while new
filings arrive), retrying supplements and withdrawals safely, actions without a body, and
errors that say what to fix."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import orjson
import pytest

from services.intake.adapters.repository import add_portal_key
from shared.events import INTAKE_TOPIC
from tests.support.api import DESK_KEY, Api
from tests.support.wait import until

pytestmark = pytest.mark.integration


async def new_portal(api: Api) -> str:
    key = f"catch-up-{uuid.uuid4().hex[:6]}.{uuid.uuid4().hex}"
    conn = await asyncpg.connect(api.stack.database_url, server_settings={"search_path": "intake"})
    try:
        await add_portal_key(conn, key.split(".", 1)[0], "portal", key)
    finally:
        await conn.close()
    return key


async def page(api: Api, key: str, cursor: str | None, limit: int = 10) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if cursor is not None:
        params["changed_since"] = cursor
    r = await api.http.get(api.url("intake", "/v1/dossiers"), params=params,
                           headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_changed_since_pages_through_more_than_a_page_while_filings_arrive(api: Api) -> None:
    key = await new_portal(api)

    async def file(n: int) -> list[str]:
        codes = []
        for _ in range(n):
            r = await api.file(key=key, channel="online")
            assert r.status_code == 201, r.text
            codes.append(r.json()["code"])
        return codes

    filed = await file(25)
    # A page stops short of changes that a transaction still in flight could precede, so a
    # page may hold fewer than the limit; never more.
    first = await page(api, key, None)
    assert 0 < len(first["items"]) <= 10
    seen = [d["code"] for d in first["items"]]
    cursor, pages = first["next"], 1
    arriving = asyncio.create_task(file(10))  # new filings while the portal pages
    for _ in range(400):
        p = await page(api, key, cursor)
        assert len(p["items"]) <= 10
        seen += [d["code"] for d in p["items"]]
        cursor, pages = p["next"], pages + bool(p["items"])
        if arriving.done() and not p["more"] and len(set(seen)) >= 35:
            break
        if not p["items"]:
            await asyncio.sleep(0.05)
    filed += await arriving
    assert pages >= 4
    assert sorted(seen) == sorted(filed), "each dossier once, none missed, none of others'"
    assert seen[:25] == filed[:25]  # change order is filing order here
    # An empty page keeps the cursor; a later change brings the dossier back.
    idle = await page(api, key, cursor)
    assert idle["items"] == [] and idle["next"] == cursor and idle["more"] is False
    r = await api.http.post(api.url("intake", f"/v1/dossiers/{filed[3]}/withdraw"),
                            json={"reason": "nộp nhầm"}, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    async def changed() -> dict[str, Any] | None:
        p = await page(api, key, cursor)
        return p if p["items"] else None

    again = await until(changed)
    assert [(d["code"], d["status"]) for d in again["items"]] == [(filed[3], "withdrawn")]
    assert again["items"][0]["status_at"].endswith("+07:00")
    # A cursor this service never handed out is a 422 naming the parameter.
    for bad in ("not-a-cursor", "YzEueHl6", "Yzk5LjE"):
        r = await api.http.get(api.url("intake", "/v1/dossiers"),
                               params={"changed_since": bad}, headers={"X-API-Key": key})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query:/changed_since"


async def test_supplements_and_withdrawals_take_an_idempotency_key(api: Api) -> None:
    desk = {"X-API-Key": DESK_KEY}
    # A withdrawal sent twice under one key: withdrawn once, the second answer replayed.
    code = (await api.file()).json()["code"]
    url = api.url("intake", f"/v1/dossiers/{code}/withdraw")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await api.http.post(url, json={"reason": "đổi ý"}, headers={**desk, **key})
    again = await api.http.post(url, json={"reason": "đổi ý"}, headers={**desk, **key})
    assert first.status_code == again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.json()["status"] == "withdrawn"
    other = await api.http.post(url, json={"reason": "khác"}, headers={**desk, **key})
    assert other.status_code == 422 and other.json()["type"].endswith("idempotency-key-reused")
    events = await api.topic_events(INTAKE_TOPIC, code, expect=2)
    assert [t for t, _h, _v in events].count("dossier.withdrawn") == 1

    # A supplement sent twice under one key: received once.
    code = (await api.file()).json()["code"]
    await api.processing_view(code)
    assert (await api.act(code, "accept")).status_code == 200
    assert (await api.act(code, "request-supplement", {"reason": "thiếu bản sao"})).status_code == 200
    await api.wait_intake_status(code, "awaiting_supplement")
    url = api.url("intake", f"/v1/dossiers/{code}/supplements")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"documents": [{"name": "Bản sao CCCD"}]}
    answers = [await api.http.post(url, json=body, headers={**desk, **key}) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], answers[1].text
    assert answers[1].headers["idempotent-replayed"] == "true"
    db = await api.db()
    assert await db.fetchval("SELECT count(*) FROM intake.supplements WHERE dossier_code = $1",
                             code) == 1
    events = await api.topic_events(INTAKE_TOPIC, code, expect=2)
    assert [t for t, _h, _v in events].count("dossier.supplement_received") == 1


async def test_actions_and_withdrawals_without_fields_take_an_empty_body(api: Api) -> None:
    code = (await api.file()).json()["code"]
    await api.processing_view(code)
    r = await api.http.post(api.url("processing", f"/v1/dossiers/{code}/actions/accept"),
                            headers=api.token(["H26.01"]))
    assert r.status_code == 200 and r.json()["state"] == "processing", r.text
    other = (await api.file()).json()["code"]
    r = await api.http.post(api.url("intake", f"/v1/dossiers/{other}/withdraw"),
                            headers={"X-API-Key": DESK_KEY})
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text


async def test_errors_say_what_to_fix(api: Api) -> None:
    url = api.url("intake", "/v1/dossiers")
    desk = {"X-API-Key": DESK_KEY}
    form = await api.http.post(url, content=orjson.dumps(api.filing()),
                               headers={**desk, "content-type": "text/plain"})
    assert form.status_code == 415 and "Content-Type: application/json" in form.json()["detail"]
    broken = b'{\n  "unit_code": "H26.01",\n  "channel": counter\n}'
    r = await api.http.post(url, content=broken, headers={**desk, "content-type": "application/json"})
    assert r.status_code == 400 and "line 3, column 14" in r.json()["detail"], r.text
    search = await api.http.get(api.url("intake", "/v1/procedures"), params={"q": "ly lich"})
    names = [p["name"] for p in search.json()]
    assert names and all("lý lịch" in n.lower() for n in names), names
    docs = await api.http.get(api.url("intake", "/docs"))
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    asset = await api.http.get(api.url("intake", "/docs-assets/swagger-ui-bundle.js"))
    assert asset.status_code == 200 and len(asset.content) > 100_000
    spec = (await api.http.get(api.url("intake", "/openapi.json"))).json()
    assert spec["servers"][0]["url"] == api.stack.url("intake")
    assert "Problem" in spec["components"]["schemas"]
    status = spec["components"]["schemas"]["DossierView"]["properties"]["status"]
    assert "withdrawn" in status["enum"]
