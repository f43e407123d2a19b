"""Who may do what in processing, and the workflow's refusals, through the real service."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from services.processing.domain.workflow import ACTIONS
from shared.auth import mint_token
from tests.support.api import OTHER_UNIT, UNIT, Api
from tests.support.dates import new_appointment

pytestmark = pytest.mark.integration

BODIES = {"assign": {"assignee": "x"}, "transfer": {"to_unit": OTHER_UNIT},
          "request-supplement": {"reason": "r"}, "request-payment": {"amount": "1000"},
          "apologize": {"reason": "r", "new_due_at": new_appointment()},
          "reject": {"reason": "r"}, "stop": {"reason": "r"}}


async def _received(api: Api) -> str:
    code = str((await api.file()).json()["code"])
    await api.processing_view(code)
    return code


async def test_an_officer_of_another_unit_sees_nothing(api: Api) -> None:
    code = await _received(api)
    stranger = api.token([OTHER_UNIT])
    for path in (f"/v1/dossiers/{code}", f"/v1/dossiers/{code}/control-slip"):
        r = await api.http.get(api.url("processing", path), headers=stranger)
        assert r.status_code == 404, path
    for action in ACTIONS:
        r = await api.act(code, action, BODIES.get(action, {}), units=[OTHER_UNIT])
        assert r.status_code == 404, (action, r.text)
    r = await api.http.get(api.url("processing", "/v1/worklist"), headers=stranger,
                           params={"unit": UNIT})
    assert r.status_code == 403
    r = await api.http.get(api.url("processing", "/v1/worklist"), headers=stranger,
                           params={"limit": 500})
    assert code not in {d["code"] for d in r.json()}
    # ... while the dossier's own unit sees it, soonest due first.
    r = await api.http.get(api.url("processing", "/v1/worklist"), headers=api.token([UNIT]),
                           params={"limit": 500, "state": "received"})
    listed = r.json()
    assert code in {d["code"] for d in listed}
    assert [d["due_at"] for d in listed] == sorted(d["due_at"] for d in listed)
    # Nothing changed.
    assert (await api.processing_view(code))["state"] == "received"


async def test_tokens_are_checked(api: Api) -> None:
    code = await _received(api)
    url = api.url("processing", f"/v1/dossiers/{code}")
    now = time.time()
    cases = {
        "none": {},
        "expired": {"Authorization": "Bearer " + mint_token(
            api.secret, subject="o", role="officer", units=[UNIT], now=now - 100_000)},
        "forged": {"Authorization": "Bearer " + mint_token(
            "another-secret-of-enough-length-for-hs256", subject="o", role="officer", units=[UNIT])},
        "wrong audience": api.token([UNIT], audience="someone-else"),
        "wrong issuer": api.token([UNIT], issuer="evil-idp"),
        "garbage": {"Authorization": "Bearer abc.def.ghi"},
    }
    for name, headers in cases.items():
        r = await api.http.get(url, headers=headers)
        assert r.status_code == 401, name
        assert r.headers["content-type"] == "application/problem+json"
    # An operator reads but may not act; an officer may not back-date.
    assert (await api.http.get(url, headers=api.token([UNIT], role="operator"))).status_code == 200
    assert (await api.act(code, "accept", role="operator")).status_code == 403
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = await api.act(code, "accept", {"at": past})
    assert r.status_code == 403


async def test_workflow_refusals(api: Api) -> None:
    code = await _received(api)
    r = await api.act(code, "return", {"method": "counter"})
    assert r.status_code == 409 and r.json()["state"] == "received"
    assert r.json()["type"].endswith("illegal-state")
    r = await api.act(code, "resolve")
    assert r.status_code == 409 and r.json()["state"] == "received"
    r = await api.act(code, "apologize", {"reason": "r"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body:/new_due_at"
    r = await api.act(code, "teleport")
    assert r.status_code == 422
    assert (await api.act(code, "accept")).status_code == 200

    view = await api.processing_view(code)
    before = datetime.fromisoformat(view["due_at"])
    r = await api.act(code, "apologize", {"reason": "r",
                                          "new_due_at": (before - timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body:/new_due_at"
    # A new date is bounded by policy: at most the procedure's processing time again.
    r = await api.act(code, "apologize", {"reason": "r", "new_due_at": "2099-06-01T17:00:00+07:00"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body:/new_due_at"
    assert "processing time" in r.json()["errors"][0]["message"]
    first = await api.act(code, "apologize", {"reason": "r",
                                              "new_due_at": (before + timedelta(days=3)).isoformat()})
    assert first.status_code == 200 and first.json()["apology_count"] == 1
    second = await api.act(code, "apologize", {"reason": "again",
                                               "new_due_at": (before + timedelta(days=9)).isoformat()})
    assert second.status_code == 409 and "re-appointment" in second.json()["detail"]
    assert (await api.processing_view(code))["apology_count"] == 1
    r = await api.act(code, "transfer", {"to_unit": "H99.99"})
    assert r.status_code == 422
    r = await api.act(code, "return", {"method": "postal"})
    assert r.status_code == 409
    assert (await api.act(code, "resolve")).status_code == 200
    r = await api.act(code, "return", {"method": "postal"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body:/method"
    r = await api.act(code, "reject", {"reason": "late idea"})
    assert r.status_code == 409 and r.json()["state"] == "resolved"
