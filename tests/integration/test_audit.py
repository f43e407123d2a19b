"""The audit trail (shared/audit.py, docs/decisions/0017) on real PostgreSQL and services:

* reading a dossier writes a record with the portal as actor and the dossier's code, an
  officer's action one with the officer's subject, refusals of identified callers too, and
  nothing for a caller with no credential; operators search and verify it over the API;
* on a schema of its own, an edited and a deleted record are found by ``check`` and by
  ``python -m shared.audit verify`` (exit 1), and concurrent appends stay one chain;
* the route table of every service: each route whose answer carries personal data (found in
  the OpenAPI response schemas, and PDFs) is in ``PERSONAL`` or ``EXEMPT`` with a reason,
  each route in ``PERSONAL`` and each route that changes something declares its audit, and
  calling each route in ``PERSONAL`` with a valid caller writes a record.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from shared.audit import AuditWriter, Entry, append, audit_of, check
from shared.db import create_pool
from shared.migrations import migrate_service
from tests.conftest import Infra
from tests.integration.test_access_matrix import SERVICES, Key, _flat_routes
from tests.support.api import CONNECTOR_KEY, DESK_KEY, PORTAL_KEY, UNIT, Api

pytestmark = pytest.mark.integration
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PORTALS = ("desk-demo", "dvc-demo")


async def records(db: asyncpg.Connection, schema: str, after: int = 0) -> list[dict[str, Any]]:
    rows = await db.fetch(f"SELECT * FROM {schema}.audit_log WHERE seq > $1 ORDER BY seq", after)
    return [dict(r) for r in rows]


async def last_seq(db: asyncpg.Connection, schema: str) -> int:
    return int(await db.fetchval(f"SELECT coalesce(max(seq), 0) FROM {schema}.audit_log"))


# ------------------------------------------------------------------ through the services
async def test_reads_and_actions_are_recorded_with_who_and_what(api: Api) -> None:
    db = await api.db()
    code = (await api.file()).json()["code"]
    await api.processing_view(code)
    before = await last_seq(db, "intake")
    view = api.url("intake", f"/v1/dossiers/{code}")
    assert (await api.http.get(view, headers={"X-API-Key": DESK_KEY})).status_code == 200
    assert (await api.http.get(view, headers={"X-API-Key": PORTAL_KEY})).status_code == 404
    assert (await api.http.get(view)).status_code == 401  # nobody identified: not recorded
    # (The national portal connector's look-ups may be recorded meanwhile: left out.)
    mine = [r for r in await records(db, "intake", before) if r["actor"] in PORTALS]
    assert [(r["actor"], r["actor_role"], r["action"], r["subject"], r["outcome"])
            for r in mine] == [("desk-demo", "desk", "read:dossier", code, "ok"),
                               ("dvc-demo", "portal", "read:dossier", code, "refused:404")]
    assert all(r["source"] == "127.0.0.1" and r["detail"] is None for r in mine)

    before = await last_seq(db, "processing")
    r = await api.http.post(api.url("processing", f"/v1/dossiers/{code}/actions/accept"),
                            json={}, headers=api.token([UNIT], sub="officer-audit"))
    assert r.status_code == 200, r.text
    r = await api.http.post(api.url("processing", f"/v1/dossiers/{code}/actions/accept"),
                            json={}, headers=api.token(["*"], role="operator", sub="ops-1"))
    assert r.status_code == 403
    found = [(r["actor"], r["actor_role"], r["action"], r["subject"], r["outcome"])
             for r in await records(db, "processing", before)]
    assert found == [("officer-audit", "officer", "change:processing.accept", code, "ok"),
                     ("ops-1", "operator", "change:processing.accept", code, "refused:403")]

    # The operators' API: search, newest first, and the chain's state.
    ops = api.token(["*"], role="operator", sub="ops-1")
    r = await api.http.get(api.url("intake", "/v1/ops/audit"),
                           params={"subject": code, "action": "read:"}, headers=ops)
    assert r.status_code == 200, r.text
    assert [(x["actor"], x["outcome"]) for x in r.json() if x["actor"] in PORTALS] == \
        [("dvc-demo", "refused:404"), ("desk-demo", "ok")]
    r = await api.http.get(api.url("intake", "/v1/ops/audit"),
                           params={"actor": "officer-audit"}, headers=ops)
    assert r.json() == []  # the officer acted in processing, not here
    for service in SERVICES:
        r = await api.http.get(api.url(service, "/v1/ops/audit/verify"), headers=ops)
        assert r.status_code == 200 and r.json()["intact"], (service, r.text)
        assert r.json()["first_broken_seq"] is None
    r = await api.http.get(api.url("intake", "/v1/ops/audit/verify"), headers=api.token([UNIT]))
    assert r.status_code == 403


# ------------------------------------------------------------------ tampering, on a schema of its own
@pytest.fixture
async def audit_pool(infra: Infra, schema_factory: Callable[[str], str]) -> AsyncIterator[
        tuple[asyncpg.Pool, str]]:
    schema = schema_factory("audit")
    pool = await create_pool(infra.database_url, schema, min_size=1, max_size=10)
    await migrate_service(pool, schema, None)
    yield pool, schema
    await pool.close()


def command(infra: Infra, schema: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared.audit", "verify", "--database-url",
                           infra.database_url, "--schema", schema], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=False)


async def test_an_edited_and_a_deleted_record_break_the_chain(
        infra: Infra, audit_pool: tuple[asyncpg.Pool, str]) -> None:
    pool, schema = audit_pool
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        for i in range(1, 7):
            await append(conn, [Entry("officer-1", "officer", "read:dossier",
                                      f"{UNIT}-260302-{i:04d}", "10.0.0.7", "ok")],
                         now + timedelta(seconds=i))
        state = await check(conn)
        assert state == await check(pool)
        assert (state.checked, state.first_broken_seq, state.last_seq) == (6, None, 6)
        assert command(infra, schema).returncode == 0

        # The table refuses changes outright; it takes disabling its triggers to tamper.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 2")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log WHERE seq = 2")
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")

        await conn.execute("UPDATE audit_log SET subject = $1 WHERE seq = 4",
                           f"{UNIT}-260302-9999")
        state = await check(conn)
        assert (state.checked, state.first_broken_seq) == (3, 4)
        ran = command(infra, schema)
        assert ran.returncode == 1 and '"first_broken_seq": 4' in ran.stdout, ran.stdout
        await conn.execute("UPDATE audit_log SET subject = $1 WHERE seq = 4",
                           f"{UNIT}-260302-0004")
        assert (await check(conn)).intact

        await conn.execute("DELETE FROM audit_log WHERE seq = 2")
        state = await check(conn)
        assert (state.checked, state.first_broken_seq) == (1, 2)
        assert command(infra, schema).returncode == 1
        # Renumbered to hide the gap: the links give it away.
        await conn.execute("UPDATE audit_log SET seq = seq + 1000 WHERE seq > 2")
        await conn.execute("UPDATE audit_log SET seq = seq - 1001 WHERE seq > 1000")
        assert (await check(conn)).first_broken_seq == 2


async def test_concurrent_appends_make_one_chain(audit_pool: tuple[asyncpg.Pool, str]) -> None:
    pool, _ = audit_pool
    now = datetime.now(UTC)

    async def one(i: int) -> None:
        async with pool.acquire() as conn:
            await append(conn, [Entry(f"officer-{i}", "officer", "read:dossier", None,
                                      "10.0.0.7", "ok")] * (1 + i % 3), now)

    await asyncio.gather(*(one(i) for i in range(40)))
    state = await check(pool)
    assert state.intact and state.checked == state.last_seq == sum(1 + i % 3 for i in range(40))


async def test_group_commits_of_two_replicas_make_one_chain_and_answer_each_caller(
        audit_pool: tuple[asyncpg.Pool, str], infra: Infra) -> None:
    """Two writers (two replicas' pools) appending for many concurrent callers: every
    caller gets its own records back, numbered in one unbroken chain."""
    pool, schema = audit_pool
    other = await create_pool(infra.database_url, schema)
    writers = [AuditWriter(pool), AuditWriter(other)]
    now = datetime.now(UTC)
    try:
        async def one(i: int) -> tuple[int, list[str]]:
            entries = [Entry(f"officer-{i}", "officer", "read:dossier", f"D{i}-{k}",
                             "10.0.0.7", "ok") for k in range(1 + i % 3)]
            got = await writers[i % 2].append(entries, now + timedelta(microseconds=i))
            return i, [r.subject or "" for r in got]

        answered = await asyncio.gather(*(one(i) for i in range(120)))
    finally:
        await other.close()
    assert all(subjects == [f"D{i}-{k}" for k in range(1 + i % 3)] for i, subjects in answered)
    state = await check(pool)
    assert state.intact and state.checked == state.last_seq == sum(1 + i % 3 for i in range(120))
    rows = await pool.fetch(f"SELECT count(DISTINCT xmin::text) AS txs FROM {schema}.audit_log")
    assert rows[0]["txs"] < 120  # callers waiting together shared a transaction


# ------------------------------------------------------------------ the route table
# Every route whose answer carries personal data (the applicant's or the complainant's, even
# masked), with the action its audit records. Adding a route whose OpenAPI answer has such a
# field (or is a PDF) without listing it here or in EXEMPT fails the suite.
PERSONAL: dict[Key, str] = {
    ("intake", "GET", "/v1/dossiers/{code}"): "read:dossier",
    ("intake", "GET", "/v1/dossiers/{code}/forms/{form}"): "read:form.01",
    ("intake", "GET", "/v1/units/{unit_code}/register"): "read:register",
    ("intake", "POST", "/v1/applicants/lookup"): "read:applicants",
    ("intake", "GET", "/v1/dossiers/{code}/notifications"): "read:notifications",
    ("intake", "PUT", "/v1/dossiers/{code}/notifications"): "change:notifications",
    ("intake", "POST", "/v1/dossiers/{code}/supplements"): "change:dossier.supplement",
    ("intake", "POST", "/v1/dossiers/{code}/withdraw"): "change:dossier.withdraw",
    ("processing", "GET", "/v1/dossiers/{code}/forms/05"): "read:form.05",
    ("feedback", "POST", "/v1/complaints"): "change:complaint.submit",
    ("feedback", "GET", "/v1/complaints"): "read:complaints",
    ("feedback", "GET", "/v1/complaints/{code}"): "read:complaint",
    ("feedback", "POST", "/v1/complaints/{code}/steps"): "change:complaint.publish",
    # Not found by its fields: the sync of the documents sent about the applicant.
    ("national_portal", "GET", "/v1/national-portal/dossiers/{code}"):
        "read:national-portal.dossier",
}
EXEMPT: dict[Key, str] = {
    ("feedback", "POST", "/v1/complaints/{code}/info"):
        "the citizen by the complaint's PIN; the complainant is left out of the answer",
    ("feedback", "POST", "/v1/complaints/{code}/reaction"):
        "the citizen by the complaint's PIN; the complainant is left out of the answer",
}
# Routes that change something and are not audited: no officer, operator, importer, portal
# or desk is behind them.
UNAUDITED_CHANGES: dict[Key, str] = {
    ("postal", "POST", "/v1/courier/events"): "the courier's machine, signed; its own log",
}
PERSONAL_FIELDS = frozenset({"applicant", "applicants", "applicant_name", "complainant",
                             "full_name", "id_number", "phone", "email", "address"})


def _fields(schema: Any, components: dict[str, Any], seen: set[str]) -> set[str]:
    """Every property name reachable from ``schema``, references followed."""
    if isinstance(schema, list):
        return set().union(*(_fields(s, components, seen) for s in schema))
    if not isinstance(schema, dict):
        return set()
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return set()
        seen.add(name)
        return _fields(components[name], components, seen)
    found = set(schema.get("properties", {}))
    return found.union(*(_fields(v, components, seen) for v in schema.values()))


def showing_personal_data() -> dict[Key, set[str]]:
    """Routes whose successful answer has a personal field, or is a PDF (a form)."""
    out: dict[Key, set[str]] = {}
    for service in SERVICES:
        doc = importlib.import_module(f"services.{service}.app").create_app().openapi()
        components = doc.get("components", {}).get("schemas", {})
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                hits: set[str] = set()
                for status, answer in operation.get("responses", {}).items():
                    for media, content in answer.get("content", {}).items() \
                            if status.startswith("2") else ():
                        hits |= {"PDF"} if media == "application/pdf" else set()
                        hits |= _fields(content.get("schema", {}), components, set()) \
                            & PERSONAL_FIELDS
                if hits:
                    out[(service, method.upper(), path)] = hits
    return out


def audits() -> dict[Key, str | None]:
    """Every route of the six apps, with the action its audit declares (None: none)."""
    out: dict[Key, str | None] = {}
    for service in SERVICES:
        app = importlib.import_module(f"services.{service}.app").create_app()
        for route in _flat_routes(app.routes):
            step = audit_of(route)
            for method in set(getattr(route, "methods", None) or {"ANY"}) - {"HEAD"}:
                out[(service, method, route.path)] = step.action if step else None
    return out


def test_every_route_showing_personal_data_is_listed_and_audited() -> None:
    found = showing_personal_data()
    unlisted = sorted(k for k in found if k not in PERSONAL and k not in EXEMPT)
    assert not unlisted, f"routes showing personal data, in neither PERSONAL nor EXEMPT: " \
                         f"{[(k, sorted(found[k])) for k in unlisted]}"
    declared = audits()
    stale = sorted(k for k in {**PERSONAL, **EXEMPT, **UNAUDITED_CHANGES} if k not in declared)
    assert not stale, f"listed routes that no longer exist: {stale}"
    unaudited = sorted(k for k in PERSONAL if declared[k] is None)
    assert not unaudited, f"routes showing personal data without audited(...): {unaudited}"
    changes = sorted(k for k, action in declared.items()
                     if k[1] in {"POST", "PUT", "PATCH", "DELETE"} and action is None
                     and k not in UNAUDITED_CHANGES)
    assert not changes, f"routes that change something without audited(...): {changes}"
    for key, action in PERSONAL.items():  # the same family: read:form.{form}, read:form.01
        assert action.startswith(str(declared[key]).split(".")[0]), (key, declared[key])


async def test_each_route_showing_personal_data_writes_a_record(api: Api) -> None:
    db = await api.db()
    code = (await api.file()).json()["code"]
    leaving = (await api.file()).json()["code"]
    await api.processing_view(code)
    await api.processing_view(leaving)
    r = await api.http.post(api.url("feedback", "/v1/complaints"), headers={"X-API-Key": PORTAL_KEY},
                            json={"subject": "Xếp hàng lâu", "body": "Chờ hơn một giờ ở quầy.",
                                  "unit_code": UNIT,
                                  "complainant": {"full_name": "Lê Văn Cường",
                                                  "phone": "0987000111"}})
    assert r.status_code == 201, r.text
    complaint = r.json()["code"]
    today = datetime.now(VN_TZ).date().isoformat()
    officer = api.token([UNIT], sub="officer-audit")
    operator = api.token(["*"], role="operator", sub="ops-audit")
    desk = {"X-API-Key": DESK_KEY}
    # (method, path, headers, body, params, the actor recorded, the subject recorded)
    calls: dict[Key, tuple[str, dict[str, str], Any, Any, str, str | None]] = {
        ("intake", "GET", "/v1/dossiers/{code}"): (
            f"/v1/dossiers/{code}", desk, None, None, "desk-demo", code),
        ("intake", "GET", "/v1/dossiers/{code}/forms/{form}"): (
            f"/v1/dossiers/{code}/forms/01", desk, None, None, "desk-demo", code),
        ("intake", "GET", "/v1/units/{unit_code}/register"): (
            f"/v1/units/{UNIT}/register", desk, None, {"from": today, "to": today},
            "desk-demo", UNIT),
        ("intake", "POST", "/v1/applicants/lookup"): (
            "/v1/applicants/lookup", {"X-API-Key": CONNECTOR_KEY}, {"codes": [code]}, None,
            "national-portal-connector", code),
        ("intake", "GET", "/v1/dossiers/{code}/notifications"): (
            f"/v1/dossiers/{code}/notifications", desk, None, None, "desk-demo", code),
        ("intake", "PUT", "/v1/dossiers/{code}/notifications"): (
            f"/v1/dossiers/{code}/notifications", desk, {"channel": "auto"}, None,
            "desk-demo", code),
        ("intake", "POST", "/v1/dossiers/{code}/supplements"): (
            f"/v1/dossiers/{code}/supplements", desk, {"documents": [{"name": "Bản sao"}]},
            None, "desk-demo", code),  # none was asked for: 409, recorded as refused
        ("intake", "POST", "/v1/dossiers/{code}/withdraw"): (
            f"/v1/dossiers/{leaving}/withdraw", desk, {"reason": "đổi ý"}, None, "desk-demo",
            leaving),
        ("processing", "GET", "/v1/dossiers/{code}/forms/05"): (
            f"/v1/dossiers/{code}/forms/05", officer, None, None, "officer-audit", code),
        ("feedback", "POST", "/v1/complaints"): (
            "/v1/complaints", officer, {"subject": "Thái độ", "body": "Cán bộ nói to.",
                                        "unit_code": UNIT, "via": "hotline"}, None,
            "officer-audit", None),
        ("feedback", "GET", "/v1/complaints"): (
            "/v1/complaints", officer, None, {"limit": 500}, "officer-audit", complaint),
        ("feedback", "GET", "/v1/complaints/{code}"): (
            f"/v1/complaints/{complaint}", officer, None, None, "officer-audit", complaint),
        ("feedback", "POST", "/v1/complaints/{code}/steps"): (
            f"/v1/complaints/{complaint}/steps", officer, {"action": "publish"}, None,
            "officer-audit", complaint),  # nothing to publish yet: refused, recorded
        ("national_portal", "GET", "/v1/national-portal/dossiers/{code}"): (
            f"/v1/national-portal/dossiers/{code}", operator, None, None, "ops-audit", code),
    }
    assert set(calls) == set(PERSONAL)
    for key, (path, headers, body, params, actor, subject) in calls.items():
        service, method, _ = key
        before = await last_seq(db, service)
        r = await api.http.request(method, api.url(service, path), headers=headers, json=body,
                                   params=params)
        assert r.status_code < 500, (key, r.status_code, r.text[:300])
        new = [x for x in await records(db, service, before) if x["actor"] == actor]
        assert new, f"{key}: no audit record for {actor} ({r.status_code})"
        assert {x["action"] for x in new} == {PERSONAL[key]}, (key, new)
        if subject is not None:
            assert subject in {x["subject"] for x in new}, (key, new)
        else:
            assert all(x["subject"] for x in new), (key, new)  # the new complaint's code
        assert all(x["outcome"] == ("ok" if r.status_code < 400 else f"refused:{r.status_code}")
                   for x in new), (key, r.status_code, new)
        # Codes and subjects only: nothing of the applicant's or the complainant's.
        text = " ".join(str(v) for x in new for v in x.values())
        assert not any(p in text for p in ("Nguyễn", "Lê Văn", "0912345678", "0987000111",
                                           "031203004567")), text
