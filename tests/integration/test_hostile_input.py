"""Hostile input at the edge: oversized bodies, deep JSON, malformed JSON and a portal over
its rate get clear problem-details refusals, and nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.intake.adapters.repository import add_portal_key
from tests.support.api import Api

pytestmark = pytest.mark.integration


async def counts(api: Api) -> tuple[int, int]:
    db = await api.db()
    row = await db.fetchrow("SELECT (SELECT count(*) FROM intake.dossiers) AS d, "
                            "(SELECT count(*) FROM intake.outbox) AS o")
    return row["d"], row["o"]


async def test_oversized_deep_and_malformed_bodies_are_refused(api: Api) -> None:
    before = await counts(api)
    url = api.url("intake", "/v1/dossiers")
    headers = {"X-API-Key": "desk-demo.local-demo-desk-key", "content-type": "application/json"}
    big = b'{"note": "' + b"x" * 1_100_000 + b'"}'
    r = await api.http.post(url, content=big, headers=headers)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(12):
            yield b"x" * 100_000

    r = await api.http.post(url, content=chunks(), headers=headers)  # no Content-Length
    assert r.status_code == 413, r.text
    deep = b'{"applicant": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = await api.http.post(url, content=deep, headers=headers)
    assert r.status_code == 400 and "nested" in r.json()["detail"]
    r = await api.http.post(url, content=b'{"unit_code": "H26.01",', headers=headers)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert "line 1, column" in r.json()["detail"], r.text  # where the JSON stops being JSON
    for service in ("processing", "postal", "feedback"):
        path = {"processing": "/v1/dossiers/X/actions/accept", "postal": "/v1/courier/events",
                "feedback": "/v1/feedback"}[service]
        r = await api.http.post(api.url(service, path), content=deep,
                                headers={"content-type": "application/json"})
        assert r.status_code == 400, service
    assert await counts(api) == before


async def test_a_portal_over_its_rate_gets_429_with_retry_after(api: Api) -> None:
    db = await api.db()
    await db.execute("SET search_path TO intake")
    await add_portal_key(db, "slow-portal", "portal", "slow-portal.test-key")
    await db.execute("UPDATE intake.portals SET rate_per_s = 0.5, burst = 2 "
                     "WHERE id = 'slow-portal'")
    await db.execute("RESET search_path")
    statuses = []
    for _ in range(4):
        r = await api.file(key="slow-portal.test-key", channel="online")
        statuses.append(r.status_code)
    assert statuses[:2] == [201, 201] and statuses[2:] == [429, 429]
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["content-type"] == "application/problem+json"
    # Another portal is not affected.
    assert (await api.file()).status_code == 201
