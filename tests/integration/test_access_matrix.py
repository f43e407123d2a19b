"""Who may call what, on every endpoint of the five services (docs/security.md).

The routes are read from the services' own FastAPI apps (and the live OpenAPI documents must
list the same), so an endpoint added without a row in ``MATRIX`` fails
``test_every_route_has_an_access_rule``: nobody adds an unguarded route silently.

For each route, ``test_access`` sends the refusals its rule calls for against real sample
dossiers of ``UNIT`` and checks that every one is problem details and changes nothing:

* bearer routes (JWT): no / expired / forged / wrong-audience / wrong-issuer / not-yet-valid /
  ``alg: none`` / HS512 / expiry-less / unknown-role / garbage / Basic tokens → 401; each role
  outside the rule → 403; each allowed role of another unit, or of no unit → 404 exactly as
  for a dossier that does not exist (nothing of the dossier leaks), an empty list, or 403;
* portal routes (intake, ``X-API-Key``): missing, empty, unknown, revoked, secret-only,
  the stored digest itself, the key as a bearer token, an officer token → 401; a portal
  (not importer) key giving an importer-only time → 403;
* the courier webhook (HMAC): unsigned, unknown courier, other secret, stale, future or
  malformed timestamp, no signature, tampered body, another timestamp → 401;
* complaints: a portal key (feedback's list) or any valid token; by the complaint's PIN: wrong or
  another's PIN → 404 as for an absent complaint;
* feedback by PIN: wrong PIN, another dossier's PIN → 403; a back-dated rating without a
  valid importer token → 401 or 403;
* public routes answer without credentials, and credentials change nothing;
* metrics figures are public by default (``METRICS_PUBLIC_READ``); on a stack of its own with
  the setting off they need a valid token of any role (``test_figures_need_a_token_...``).

Then a positive control per route: each allowed credential gets past the guard (200, or a
harmless 409/404 for writes), and an owner's answer shows what a stranger's must not.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib
import json
import time
import uuid
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import jwt
import pytest

from services.intake.adapters.repository import add_portal_key, revoke_portal_keys
from services.processing.domain.workflow import ACTIONS
from shared.auth import ALL_UNITS_ROLES, mint_token
from tests.conftest import JWT_SECRET, Infra
from tests.support.api import (
    CONNECTOR_KEY,
    DESK_KEY,
    IMPORTER_KEY,
    OTHER_UNIT,
    PORTAL_KEY,
    PROCEDURE,
    SERVICES_ORDER,
    UNIT,
    Api,
    Courier,
)
from tests.support.dates import new_appointment
from tests.support.stack import Stack, own_stack
from tests.support.wait import until

pytestmark = pytest.mark.integration

SERVICES = ("intake", "processing", "postal", "feedback", "metrics", "national_portal")
ROLES = ("officer", "leader", "importer", "operator")
ACTORS = ("officer", "leader", "importer")  # operators read, never act (docs/security.md)
OWN_PORT_BASE = 18500  # the stack with METRICS_PUBLIC_READ=false


class Access(StrEnum):
    PUBLIC = "public"  # anyone; credentials are ignored
    FIGURES = "figures"  # public while METRICS_PUBLIC_READ (default true), else any valid token
    PORTAL = "portal"  # X-API-Key of a portal or importer (intake)
    BEARER = "bearer"  # JWT of one of `roles`, and only the caller's units
    COURIER = "courier"  # HMAC over timestamp and body, per courier secret
    PIN = "pin"  # the receipt's PIN; back-dating needs an importer token
    CONNECTOR = "connector"  # X-API-Key of the national portal connector alone (intake)
    COMPLAINT = "complaint"  # a portal's X-API-Key (feedback's list), or an officer's JWT
    COMPLAINT_PIN = "complaint_pin"  # the complaint's PIN; back-dating needs an importer token


@dataclass(frozen=True)
class Rule:
    access: Access
    roles: tuple[str, ...] = ()
    why: str = ""


Key = tuple[str, str, str]  # service, method, path template

_OPERATIONS = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs")
_FIGURES = Rule(Access.FIGURES, why="figures carry no personal data (docs/security.md); "
                                    "METRICS_PUBLIC_READ=false closes them")

# The access rule of every route. A route missing here fails the suite; one whose OpenAPI
# document says otherwise fails test_the_documents_declare_how_each_route_authenticates.
MATRIX: dict[Key, Rule] = {
    **{(s, "GET", p): Rule(Access.PUBLIC, why="operations and API documents")
       for s in SERVICES for p in _OPERATIONS},
    **{(s, "ANY", "/docs-assets"): Rule(Access.PUBLIC, why="Swagger UI's files, served locally")
       for s in SERVICES},
    ("intake", "GET", "/v1/dossiers"): Rule(Access.PORTAL),
    ("intake", "POST", "/v1/dossiers"): Rule(Access.PORTAL),
    ("intake", "GET", "/v1/dossiers/{code}"): Rule(Access.PORTAL),
    ("intake", "POST", "/v1/dossiers/{code}/supplements"): Rule(Access.PORTAL),
    ("intake", "POST", "/v1/dossiers/{code}/withdraw"): Rule(Access.PORTAL),
    ("intake", "GET", "/v1/units"): Rule(Access.PUBLIC, why="the catalog"),
    ("intake", "GET", "/v1/procedures"): Rule(Access.PUBLIC, why="the catalog"),
    ("processing", "GET", "/v1/worklist"): Rule(Access.BEARER, ROLES),
    ("processing", "GET", "/v1/units/{unit_code}/stuck"): Rule(Access.BEARER, ROLES),
    ("processing", "GET", "/v1/dossiers/{code}"): Rule(Access.BEARER, ROLES),
    ("processing", "GET", "/v1/dossiers/{code}/control-slip"): Rule(Access.BEARER, ROLES),
    ("processing", "POST", "/v1/dossiers/{code}/actions/{action}"): Rule(Access.BEARER, ACTORS),
    ("postal", "POST", "/v1/courier/events"): Rule(Access.COURIER),
    ("postal", "GET", "/v1/shipments/{shipment_id}"): Rule(Access.BEARER, ROLES),
    ("postal", "GET", "/v1/shipments"): Rule(Access.BEARER, ROLES),
    ("feedback", "POST", "/v1/feedback"): Rule(Access.PIN),
    ("feedback", "GET", "/v1/feedback/{dossier_code}"): Rule(Access.BEARER, ROLES),
    ("intake", "GET", "/v1/dossiers/{code}/notifications"): Rule(Access.PORTAL),
    ("intake", "PUT", "/v1/dossiers/{code}/notifications"): Rule(Access.PORTAL),
    **{(s, m, p): Rule(Access.BEARER, ("operator",), why="dead letters are the service's, "
                                                         "not a unit's; masked")
       for s in SERVICES for m, p in (("GET", "/v1/ops/dead-letters"),
                                      ("GET", "/v1/ops/dead-letters/{dead_letter_id}"),
                                      ("POST", "/v1/ops/dead-letters/{dead_letter_id}/redrive"),
                                      ("POST", "/v1/ops/dead-letters/redrive"))},
    **{(s, "GET", p): Rule(Access.BEARER, ("operator",), why="the service's audit trail: "
                                                          "codes and subjects, no personal data")
       for s in SERVICES for p in ("/v1/ops/audit", "/v1/ops/audit/verify")},
    ("feedback", "POST", "/v1/complaints"): Rule(Access.COMPLAINT),
    ("feedback", "GET", "/v1/complaints"): Rule(Access.BEARER, ROLES),
    ("feedback", "GET", "/v1/complaints/{code}"): Rule(Access.BEARER, ROLES),
    ("feedback", "POST", "/v1/complaints/{code}/steps"): Rule(Access.BEARER, ACTORS),
    ("feedback", "POST", "/v1/complaints/{code}/info"): Rule(Access.COMPLAINT_PIN),
    ("feedback", "POST", "/v1/complaints/{code}/reaction"): Rule(Access.COMPLAINT_PIN),
    ("feedback", "GET", "/v1/public/complaints"): Rule(Access.PUBLIC, why="published answers, "
                                                       "without personal data"),
    ("feedback", "GET", "/v1/public/complaints/{code}"): Rule(Access.PUBLIC,
                                                              why="a published answer"),
    ("metrics", "GET", "/v1/metrics/units/{unit_code}"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/rankings"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/procedures/{code}"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/overview"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/desks"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/stuck"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/stream"): _FIGURES,
    ("metrics", "GET", "/"): Rule(Access.PUBLIC, why="the dashboard page; it holds no figures"),
    ("intake", "GET", "/v1/dossiers/{code}/forms/{form}"): Rule(Access.PORTAL),
    ("intake", "GET", "/v1/units/{unit_code}/register"): Rule(Access.PORTAL),
    ("intake", "POST", "/v1/webhooks"): Rule(Access.PORTAL),
    ("intake", "GET", "/v1/webhooks"): Rule(Access.PORTAL),
    ("intake", "DELETE", "/v1/webhooks/{subscription_id}"): Rule(Access.PORTAL),
    ("intake", "GET", "/v1/webhooks/deliveries"): Rule(Access.PORTAL),
    ("intake", "POST", "/v1/webhooks/deliveries/{delivery_id}/replay"): Rule(Access.PORTAL),
    ("processing", "GET", "/v1/dossiers/{code}/forms/05"): Rule(Access.BEARER, ROLES),
    ("intake", "POST", "/v1/applicants/lookup"): Rule(
        Access.CONNECTOR, why="personal data leaves intake for the national portal only"),
    ("national_portal", "GET", "/v1/national-portal/dossiers/{code}"):
        Rule(Access.BEARER, ("operator",)),
    ("national_portal", "GET", "/v1/national-portal/refused"): Rule(Access.BEARER, ("operator",)),
    ("national_portal", "POST", "/v1/national-portal/dossiers/{code}/resend"):
        Rule(Access.BEARER, ("operator",)),
    ("national_portal", "POST", "/v1/national-portal/units/{unit_code}/resend-refused"):
        Rule(Access.BEARER, ("operator",)),
    ("national_portal", "GET", "/v1/national-portal/reconciliation"):
        Rule(Access.BEARER, ("operator",)),
    ("metrics", "GET", "/v1/metrics/units/{unit_code}/index766"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/units/{unit_code}/index766/trend"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/units/{unit_code}/index766/at-risk"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/index766/rankings"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/index766/export"): _FIGURES,
    ("metrics", "GET", "/v1/metrics/reports/ii06a"): _FIGURES,
    ("metrics", "PUT", "/v1/metrics/units/{unit_code}/index766/inputs/{month}/{indicator}"):
        Rule(Access.BEARER, ("operator",), why="operators enter the catalogue indicators"),
    ("metrics", "GET", "/v1/metrics/units/{unit_code}/index766/inputs/{month}"):
        Rule(Access.BEARER, ("operator",), why="who entered what: the operators' audit"),
}


# ------------------------------------------------------------------ the routes of the code
def _flat_routes(routes: list[Any]) -> list[Any]:
    try:  # FastAPI >= 0.13x keeps included routers as branches
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return routes
    return list(iter_route_contexts(routes))


def discover() -> dict[Key, bool]:
    """Every (service, method, path) the apps answer, with whether OpenAPI lists it."""
    found: dict[Key, bool] = {}
    for service in SERVICES:
        app = importlib.import_module(f"services.{service}.app").create_app()
        for route in _flat_routes(app.routes):
            methods = set(getattr(route, "methods", None) or {"ANY"}) - {"HEAD"}
            for method in methods:
                found[(service, method, route.path)] = bool(getattr(route, "include_in_schema",
                                                                    False))
    return found


ROUTES = discover()


def _id(key: Key) -> str:
    return " ".join(key)


def test_every_route_has_an_access_rule() -> None:
    missing = sorted(k for k in ROUTES if k not in MATRIX)
    assert not missing, f"routes without an access rule in MATRIX (add one): {missing}"
    stale = sorted(k for k in MATRIX if k not in ROUTES)
    assert not stale, f"MATRIX rows for routes that no longer exist: {stale}"
    for key, rule in MATRIX.items():
        assert (rule.access == Access.BEARER) == bool(rule.roles), key
        assert set(rule.roles) <= set(ROLES), key


# What each access rule looks like in an OpenAPI document: the alternatives of its
# `security` (an empty requirement: none needed), so that a generated client authenticates.
DECLARED: dict[Access, list[dict[str, list[str]]] | None] = {
    Access.PUBLIC: None,
    Access.FIGURES: [{}, {"bearerToken": []}, {"accessToken": []}],
    Access.PORTAL: [{"portalApiKey": []}],
    Access.BEARER: [{"bearerToken": []}],
    Access.COURIER: [{"courierId": [], "courierSignature": []}],
    Access.PIN: [{}, {"bearerToken": []}],
    Access.CONNECTOR: [{"portalApiKey": []}],
    Access.COMPLAINT: [{"portalApiKey": []}, {"bearerToken": []}],
    Access.COMPLAINT_PIN: [{}, {"bearerToken": []}],
}
SCHEMES = {"bearerToken": ("http", "bearer"), "portalApiKey": ("apiKey", "header"),
           "courierId": ("apiKey", "header"), "courierSignature": ("apiKey", "header"),
           "accessToken": ("apiKey", "query")}


def test_the_documents_declare_how_each_route_authenticates() -> None:
    for service in SERVICES:
        doc = importlib.import_module(f"services.{service}.app").create_app().openapi()
        schemes = doc.get("components", {}).get("securitySchemes", {})
        for name, scheme in schemes.items():
            assert (scheme["type"], scheme.get("scheme") or scheme.get("in")) == SCHEMES[name]
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                rule = MATRIX[(service, method.upper(), path)]
                assert operation.get("security") == DECLARED[rule.access], (service, path)
                for requirement in operation.get("security") or []:
                    assert set(requirement) <= set(schemes), (service, path)


async def test_the_live_services_serve_exactly_these_routes(api: Api) -> None:
    for service in SERVICES:
        r = await api.http.get(api.url(service, "/openapi.json"))
        assert r.status_code == 200
        live = {(service, method.upper(), path) for path, ops in r.json()["paths"].items()
                for method in ops if method in {"get", "post", "put", "patch", "delete"}}
        documented = {k for k, listed in ROUTES.items() if k[0] == service and listed}
        assert live == documented, service


# ------------------------------------------------------------------ sample data
@dataclass(frozen=True)
class World:
    code: str  # filed at the counter, received in processing
    pin: str
    due_at: datetime
    postal_code: str  # filed by post: its inbound shipment exists
    shipment: str
    rated: str  # resolved and rated
    rated_pin: str
    withdrawn: str
    revoked_key: str
    complaint: str  # submitted by the portal about UNIT, received
    complaint_pin: str

    @property
    def codes(self) -> list[str]:
        return [self.code, self.postal_code, self.rated, self.withdrawn]


ABSENT = f"{UNIT}-991231-9999"
NO_COMPLAINT = "PAKN-991231-9999"
COMPLAINT = {"subject": "Xếp hàng lâu", "body": "Chờ hơn một giờ ở quầy.", "unit_code": UNIT}
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")  # a well-formed dossier code that does not exist


async def footprint(conn: asyncpg.Connection, w: World) -> dict[str, Any]:
    """What a refused request must not change: the samples' rows in every service's
    schema, their events in the outboxes, and the tables a slipped-through request would
    add to."""
    queries = {
        "intake dossiers": "SELECT count(*) FROM intake.dossiers",
        "intake samples": "SELECT jsonb_agg(to_jsonb(d) ORDER BY code)::text FROM intake.dossiers d "
                          "WHERE code = ANY($1)",
        "intake timeline": "SELECT count(*) FROM intake.timeline WHERE dossier_code = ANY($1)",
        "intake supplements": "SELECT count(*) FROM intake.supplements",
        "portal keys": "SELECT jsonb_agg(to_jsonb(k) ORDER BY key_hash)::text FROM intake.portal_keys k",
        "processing samples": "SELECT jsonb_agg(to_jsonb(d) ORDER BY code)::text "
                              "FROM processing.dossiers d WHERE code = ANY($1)",
        "processing hops": "SELECT count(*) FROM processing.hops WHERE dossier_code = ANY($1)",
        "shipments": "SELECT jsonb_agg(to_jsonb(s) ORDER BY id)::text FROM postal.shipments s "
                     "WHERE dossier_code = ANY($1)",
        "courier events": "SELECT count(*) FROM postal.courier_events",
        "courier signatures": "SELECT count(*) FROM postal.courier_signatures",
        "ratings": "SELECT jsonb_agg(to_jsonb(r) ORDER BY dossier_code)::text FROM feedback.ratings r",
        "complaints": "SELECT jsonb_agg(to_jsonb(c) ORDER BY code)::text FROM feedback.complaints c",
        **{f"{s} outbox": f"SELECT count(*) FROM {s}.outbox WHERE key = ANY($1)"
           for s in ("intake", "processing", "postal", "feedback")},
    }
    return {name: await conn.fetchval(sql, *([w.codes] if "$1" in sql else []))
            for name, sql in queries.items()}


@pytest.fixture(scope="module")
async def world(stack: Stack, infra: Infra) -> AsyncIterator[World]:
    api = Api(stack, infra, JWT_SECRET)
    try:
        receipt = (await api.file()).json()
        view = await api.processing_view(receipt["code"])

        postal = (await api.file(channel="postal", return_method="postal")).json()["code"]
        shipment = (await Courier(api).shipment(postal, "inbound"))["id"]

        rated = (await api.file()).json()
        await api.processing_view(rated["code"])
        assert (await api.act(rated["code"], "accept")).status_code == 200
        assert (await api.act(rated["code"], "resolve")).status_code == 200

        async def rate() -> bool:
            r = await api.http.post(api.url("feedback", "/v1/feedback"), json={
                "dossier_code": rated["code"], "pin": rated["pin"], "rating": "satisfied"})
            assert r.status_code in (201, 404, 409), r.text  # 404/409: not heard of yet
            return r.status_code == 201

        await until(rate, 30, every_s=0.2)

        withdrawn = (await api.file()).json()["code"]
        await api.processing_view(withdrawn)
        r = await api.http.post(api.url("intake", f"/v1/dossiers/{withdrawn}/withdraw"),
                                json={"reason": "đổi ý"}, headers={"X-API-Key": DESK_KEY})
        assert r.status_code == 200, r.text
        await api.wait_processing_state(withdrawn, "withdrawn")

        portal_id = f"gone-{uuid.uuid4().hex[:8]}"
        revoked = f"{portal_id}.{uuid.uuid4().hex}"
        conn = await asyncpg.connect(stack.database_url, server_settings={"search_path": "intake"})
        try:
            await add_portal_key(conn, portal_id, "portal", revoked)
            assert await revoke_portal_keys(conn, portal_id) == 1
        finally:
            await conn.close()

        r = await api.http.post(api.url("feedback", "/v1/complaints"), json=COMPLAINT,
                                headers={"X-API-Key": PORTAL_KEY})
        assert r.status_code == 201, r.text
        w = World(code=receipt["code"], pin=receipt["pin"],
                  due_at=datetime.fromisoformat(view["due_at"]), postal_code=postal,
                  shipment=shipment, rated=rated["code"], rated_pin=rated["pin"],
                  withdrawn=withdrawn, revoked_key=revoked, complaint=r.json()["code"],
                  complaint_pin=r.json()["pin"])
        # Until the events about the samples have been consumed everywhere.
        db = await api.db()
        last: dict[str, Any] = {}

        async def settled() -> bool:
            nonlocal last
            now = await footprint(db, w)
            same, last = now == last, now
            return same

        await until(settled, 30, every_s=1.0)
        yield w
    finally:
        await api.close()


# ------------------------------------------------------------------ requests
@dataclass(frozen=True)
class Call:
    """One request of a route, and what its rule means for it."""

    service: str
    method: str
    path: str
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    ok: int | None = 200  # an allowed caller's status; None: not sent (it would change state)
    mark: str | None = None  # in an allowed caller's answer, never in a stranger's
    # another unit's caller: hidden (404 as if absent), filtered, forbidden, or any (the
    # answer does not depend on the caller's units)
    foreign: str = "hidden"
    subject: str | None = None  # the sample's id in the path
    absent: str | None = None  # an id of the same kind that does not exist
    backdate: str | None = None  # the importer-only time field of the body
    headers: dict[str, str] = field(default_factory=dict)

    def about_absent(self) -> Call:
        assert self.subject and self.absent
        return replace(self, path=self.path.replace(self.subject, self.absent))


PROCESSING_BODIES: dict[str, dict[str, Any]] = {
    "assign": {"assignee": "officer-2"}, "transfer": {"to_unit": OTHER_UNIT},
    "request-supplement": {"reason": "thiếu bản sao"}, "request-payment": {"amount": "1000"},
    "apologize": {"reason": "r", "new_due_at": new_appointment()},
    "reject": {"reason": "r"}, "stop": {"reason": "r"}, "return": {"method": "counter"},
}


def filing() -> dict[str, Any]:
    return {"unit_code": UNIT, "procedure_code": PROCEDURE, "channel": "counter",
            "return_method": "counter",
            "applicant": {"kind": "citizen", "full_name": "Trần Thị Bình",
                          "id_number": "031203009999", "phone": "0987654321",
                          "address": "5 Điện Biên Phủ, Hồng Bàng, Hải Phòng"}}


def last_month_label() -> str:
    """Last month in local time, YYYY-MM (an operator's entry is for a month begun)."""
    first = datetime.now(UTC).astimezone(VN_TZ).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def calls_for(key: Key, w: World | None) -> list[Call]:
    """The requests that exercise a route; routes with path parameters need a row here."""
    s, m, p = key
    if p == "/docs-assets":
        return [Call(s, "GET", f"{p}/swagger-ui.css", mark=".swagger-ui")]
    month = last_month_label()
    inputs = {
        ("metrics", "PUT", "/v1/metrics/units/{unit_code}/index766/inputs/{month}/{indicator}"):
            Call(s, m, f"/v1/metrics/units/{UNIT}/index766/inputs/{month}/1.1",
                 body={"numerator": 5, "denominator": 6}, mark='"numerator":5', subject=UNIT,
                 absent="H99.99"),
        ("metrics", "GET", "/v1/metrics/units/{unit_code}/index766/inputs/{month}"):
            Call(s, m, f"/v1/metrics/units/{UNIT}/index766/inputs/{month}", mark="[",
                 subject=UNIT, absent="H99.99"),
    }
    if key in inputs:
        return [inputs[key]]
    if p.startswith("/v1/ops/dead-letters"):
        nowhere = p.replace("{dead_letter_id}", "999999999")
        return [Call(s, m, nowhere, mark=None if "9999" in nowhere else "[",
                     ok=404 if "9999" in nowhere else 200, foreign="any",
                     body={"topic": "no-such-topic"} if p.endswith("/redrive") and
                     "9999" not in nowhere else None)]
    if p.startswith("/v1/ops/audit"):
        return [Call(s, m, p, mark='"intact"' if p.endswith("/verify") else "[",
                     params=None if p.endswith("/verify") else {"limit": 5}, foreign="any")]
    if key[0] == "metrics":
        metrics_paths = {
            "/v1/metrics/units/{unit_code}/index766": (f"/v1/metrics/units/{UNIT}/index766", UNIT),
            "/v1/metrics/units/{unit_code}/index766/trend": (
                f"/v1/metrics/units/{UNIT}/index766/trend", '"months"'),
            "/v1/metrics/units/{unit_code}/index766/at-risk": (
                f"/v1/metrics/units/{UNIT}/index766/at-risk", "points_now"),
            "/v1/metrics/index766/rankings": (p, "department"),
            "/v1/metrics/index766/export": (p, UNIT), "/v1/metrics/reports/ii06a": (p, "total"),
            "/v1/metrics/units/{unit_code}": (f"/v1/metrics/units/{UNIT}", UNIT),
                         "/v1/metrics/procedures/{code}": (f"/v1/metrics/procedures/{PROCEDURE}",
                                                           PROCEDURE),
                         "/v1/metrics/stream": (p, "hello"), "/v1/metrics/overview": (p, UNIT),
                         "/v1/metrics/rankings": (p, "department"),
                         "/v1/metrics/desks": (p, "handed_over"),
                         "/v1/metrics/stuck": (p, UNIT)}
        path, mark = metrics_paths.get(p, (p, None))
        return [Call(s, m, path, mark=mark)]
    if "{" not in p and MATRIX[key].access == Access.PUBLIC:
        return [Call(s, m, p, params={"unit": UNIT} if p == "/v1/procedures" else None,
                     mark={"/v1/units": UNIT, "/v1/procedures": PROCEDURE}.get(p))]
    assert w is not None
    window = {"due_after": (w.due_at - timedelta(hours=1)).astimezone(UTC).isoformat(),
              "due_before": (w.due_at + timedelta(hours=1)).astimezone(UTC).isoformat(),
              "state": "received", "limit": 500}
    table: dict[Key, list[Call]] = {
        ("intake", "POST", "/v1/dossiers"): [
            Call(s, m, p, body=filing(), ok=201, backdate="received_at")],
        ("intake", "GET", "/v1/dossiers/{code}"): [
            Call(s, m, f"/v1/dossiers/{w.code}", mark=w.code)],
        ("intake", "GET", "/v1/dossiers"): [Call(s, m, p, params={"limit": 5}, mark='"next"')],
        ("intake", "POST", "/v1/dossiers/{code}/supplements"): [
            Call(s, m, f"/v1/dossiers/{w.code}/supplements",
                 body={"documents": [{"name": "Bản sao CCCD"}]}, ok=409, backdate="at")],
        ("intake", "POST", "/v1/dossiers/{code}/withdraw"): [
            Call(s, m, f"/v1/dossiers/{w.code}/withdraw", body={"reason": "r"}, ok=None,
                 backdate="at"),
            Call(s, m, f"/v1/dossiers/{w.withdrawn}/withdraw", body={"reason": "r"}, ok=409)],
        ("processing", "GET", "/v1/worklist"): [
            Call(s, m, p, params=window, mark=w.code, foreign="filtered"),
            Call(s, m, p, params={**window, "unit": UNIT}, mark=w.code, foreign="forbidden")],
        ("processing", "GET", "/v1/dossiers/{code}"): [
            Call(s, m, f"/v1/dossiers/{w.code}", mark=PROCEDURE, subject=w.code, absent=ABSENT)],
        ("processing", "GET", "/v1/units/{unit_code}/stuck"): [
            Call(s, m, f"/v1/units/{UNIT}/stuck", mark="[", foreign="forbidden")],
        ("processing", "GET", "/v1/dossiers/{code}/control-slip"): [
            Call(s, m, f"/v1/dossiers/{w.code}/control-slip", mark=PROCEDURE, subject=w.code,
                 absent=ABSENT)],
        ("processing", "POST", "/v1/dossiers/{code}/actions/{action}"): [
            # Only `return` (illegal while received: 409) is sent by allowed callers.
            Call(s, m, f"/v1/dossiers/{w.code}/actions/{a}", body=PROCESSING_BODIES.get(a, {}),
                 ok=409 if a == "return" else None, subject=w.code, absent=ABSENT)
            for a in ACTIONS],
        ("postal", "POST", "/v1/courier/events"): [
            Call(s, m, p, body={"event_id": f"ev-{uuid.uuid4().hex[:8]}", "shipment_id": w.shipment,
                                "kind": "picked_up", "at": datetime.now(UTC).isoformat()},
                 ok=None)],
        ("postal", "GET", "/v1/shipments/{shipment_id}"): [
            Call(s, m, f"/v1/shipments/{w.shipment}", mark=w.postal_code, subject=w.shipment,
                 absent="IN-" + ABSENT)],
        ("postal", "GET", "/v1/shipments"): [
            Call(s, m, p, params={"dossier_code": w.postal_code}, mark=w.shipment,
                 foreign="filtered")],
        ("feedback", "POST", "/v1/feedback"): [
            Call(s, m, p, body={"dossier_code": w.rated, "pin": w.rated_pin,
                                "rating": "unsatisfied"}, ok=409)],
        ("intake", "GET", "/v1/dossiers/{code}/notifications"): [
            Call(s, m, f"/v1/dossiers/{w.code}/notifications", mark='"preference"')],
        ("intake", "PUT", "/v1/dossiers/{code}/notifications"): [
            Call(s, m, f"/v1/dossiers/{w.code}/notifications", body={"channel": "auto"},
                 mark='"preference"')],
        ("intake", "GET", "/v1/dossiers/{code}/forms/{form}"): [
            Call(s, m, f"/v1/dossiers/{w.code}/forms/01", mark="%PDF-")],
        ("intake", "GET", "/v1/units/{unit_code}/register"): [
            Call(s, m, f"/v1/units/{UNIT}/register", mark="%PDF-",
                 params={"from": datetime.now(VN_TZ).date().isoformat(),
                         "to": datetime.now(VN_TZ).date().isoformat()})],
        ("processing", "GET", "/v1/dossiers/{code}/forms/05"): [
            Call(s, m, f"/v1/dossiers/{w.code}/forms/05", mark="%PDF-", subject=w.code,
                 absent=ABSENT)],
        # Subscribing to a receiver that is not there: its deliveries retry and fail, harmless.
        ("intake", "POST", "/v1/webhooks"): [
            Call(s, m, p, body={"url": "http://127.0.0.1:9/hooks", "events": ["dossier.resolved"]},
                 ok=201, mark="whsec_")],
        ("intake", "GET", "/v1/webhooks"): [Call(s, m, p, mark="[")],
        ("intake", "DELETE", "/v1/webhooks/{subscription_id}"): [
            Call(s, m, f"/v1/webhooks/{uuid.uuid4()}", ok=404)],
        ("intake", "GET", "/v1/webhooks/deliveries"): [Call(s, m, p, mark="[")],
        ("intake", "POST", "/v1/webhooks/deliveries/{delivery_id}/replay"): [
            Call(s, m, "/v1/webhooks/deliveries/msg_absent/replay", ok=404)],
        ("intake", "POST", "/v1/applicants/lookup"): [
            Call(s, m, p, body={"codes": [w.code, ABSENT]}, mark="Nguyễn Văn An")],
        ("national_portal", "GET", "/v1/national-portal/dossiers/{code}"): [
            Call(s, m, f"/v1/national-portal/dossiers/{w.code}", mark=w.code, subject=w.code,
                 absent=ABSENT)],
        ("national_portal", "GET", "/v1/national-portal/refused"): [
            Call(s, m, p, params={"unit": UNIT}, mark="[", foreign="empty")],
        ("national_portal", "POST", "/v1/national-portal/dossiers/{code}/resend"): [
            Call(s, m, f"/v1/national-portal/dossiers/{w.code}/resend", mark='"resent"',
                 subject=w.code, absent=ABSENT)],
        ("national_portal", "POST", "/v1/national-portal/units/{unit_code}/resend-refused"): [
            Call(s, m, f"/v1/national-portal/units/{UNIT}/resend-refused", mark='"resent"',
                 subject=UNIT, absent="H99.99")],
        ("national_portal", "GET", "/v1/national-portal/reconciliation"): [
            Call(s, m, p, mark=UNIT, foreign="filtered")],
        ("feedback", "GET", "/v1/feedback/{dossier_code}"): [
            Call(s, m, f"/v1/feedback/{w.rated}", mark="satisfied", subject=w.rated,
                 absent=ABSENT)],
        ("feedback", "POST", "/v1/complaints"): [
            Call(s, m, p, body=COMPLAINT, ok=201, mark='"pin"', backdate="at")],
        ("feedback", "GET", "/v1/complaints"): [
            Call(s, m, p, params={"limit": 500}, mark=w.complaint, foreign="filtered")],
        ("feedback", "GET", "/v1/complaints/{code}"): [
            Call(s, m, f"/v1/complaints/{w.complaint}", mark=w.complaint, subject=w.complaint,
                 absent=NO_COMPLAINT)],
        # A step the received complaint does not allow (publish): refused, harmless.
        ("feedback", "POST", "/v1/complaints/{code}/steps"): [
            Call(s, m, f"/v1/complaints/{w.complaint}/steps", body={"action": "publish"},
                 ok=None, subject=w.complaint, absent=NO_COMPLAINT)],
        # Nothing awaited of the citizen, no reply to react to: 409 past the guard.
        ("feedback", "POST", "/v1/complaints/{code}/info"): [
            Call(s, m, f"/v1/complaints/{w.complaint}/info",
                 body={"pin": w.complaint_pin, "info": "Bổ sung"}, ok=409)],
        ("feedback", "POST", "/v1/complaints/{code}/reaction"): [
            Call(s, m, f"/v1/complaints/{w.complaint}/reaction",
                 body={"pin": w.complaint_pin, "reaction": "accepted"}, ok=409)],
        ("feedback", "GET", "/v1/public/complaints/{code}"): [
            Call(s, m, f"/v1/public/complaints/{w.complaint}", ok=404)],
    }
    if key not in table:
        pytest.fail(f"{_id(key)}: add its sample requests to calls_for()")
    return table[key]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: httpx.Headers
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


async def send(http: httpx.AsyncClient, base: str, call: Call,
               headers: dict[str, str] | None = None, *, body: dict[str, Any] | None = None,
               params: dict[str, Any] | None = None, raw: bytes | None = None) -> Reply:
    """The reply, reading a Server-Sent Events stream only up to its first event."""
    kw: dict[str, Any] = {"content": raw} if raw is not None else {"json": body or call.body}
    async with http.stream(call.method, base + call.path, params=params or call.params,
                           headers={**call.headers, **(headers or {})}, **kw) as r:
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            text = ""
            async with asyncio.timeout(10):
                async for line in r.aiter_lines():
                    text += line + "\n"
                    if line.startswith("data:"):
                        break
        else:
            text = (await r.aread()).decode(errors="replace")  # a PDF is bytes
    return Reply(r.status_code, r.headers, text)


def refused(r: Reply, status: int, why: str, challenge: str | None = None) -> None:
    assert r.status == status, f"{why}: {r.status} {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/problem+json"), why
    body = r.json()
    assert body["status"] == status and body["title"], why
    if challenge:
        assert r.headers.get("www-authenticate", "").startswith(challenge), why


def allowed(r: Reply, call: Call, why: str) -> None:
    assert r.status == call.ok, f"{why}: {r.status} {r.text[:300]}"
    if call.mark:
        assert call.mark in r.text, f"{why}: {call.mark} not in {r.text[:300]}"


# ------------------------------------------------------------------ credentials
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_tokens(api: Api) -> dict[str, dict[str, str]]:
    now = int(time.time())
    claims = {"sub": "officer-1", "role": "officer", "units": [UNIT], "aud": "motcua",
              "iss": "motcua-idp", "iat": now, "exp": now + 3600}
    unsigned = _b64(b'{"alg":"none","typ":"JWT"}') + "." + _b64(json.dumps(claims).encode()) + "."
    no_exp = {k: v for k, v in claims.items() if k != "exp"}
    with warnings.catch_warnings():  # the suite's secret is short for HS512, and that is fine
        warnings.simplefilter("ignore")
        hs512 = jwt.encode(claims, api.secret, algorithm="HS512")

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + token}

    return {
        "no credentials": {},
        "expired": api.token([UNIT], now=now - 100_000),
        "forged (another secret)": bearer(mint_token("another-secret-of-enough-length-for-hs256",
                                                     subject="officer-1", role="officer",
                                                     units=[UNIT])),
        "wrong audience": api.token([UNIT], audience="another-system"),
        "wrong issuer": api.token([UNIT], issuer="evil-idp"),
        "not yet valid": api.token([UNIT], now=now + 3600),
        "alg none": bearer(unsigned),
        "HS512 with the right secret": bearer(hs512),
        "no expiry": bearer(jwt.encode(no_exp, api.secret, algorithm="HS256")),
        "unknown role": api.token([UNIT], role="admin"),
        "lives for ever (exp 10^30)": bearer(jwt.encode({**claims, "exp": 10**30}, api.secret,
                                                        algorithm="HS256")),
        "lives two days": api.token([UNIT], ttl_s=2 * 86400),
        "no issued-at": bearer(jwt.encode({k: v for k, v in claims.items() if k != "iat"},
                                          api.secret, algorithm="HS256")),
        "officer of every unit": api.token(["*"], role="officer"),
        "garbage": bearer("abc.def.ghi"),
        "undecodable payload": bearer(_b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(b"\xff\xfe")
                                      + "." + _b64(b"x" * 32)),
        "scheme without a token": {"Authorization": "Bearer"},
        "basic scheme": {"Authorization": "Basic " + base64.b64encode(b"officer-1:pw").decode()},
    }


OUR_401_DETAILS = {"a bearer token is required", "token expired", "invalid token",
                   "token is for another audience", "token lives longer than 24 hours",
                   "token lacks a valid role or units claim",
                   "officer tokens must name their units; '*' is for importer and operator "
                   "tokens only",
                   "leader tokens must name their units; '*' is for importer and operator "
                   "tokens only"}


def bad_keys(api: Api, w: World) -> dict[str, dict[str, str]]:
    return {
        "no key": {},
        "empty key": {"X-API-Key": ""},
        "unknown key": {"X-API-Key": "dvc-demo.not-the-key"},
        "revoked key": {"X-API-Key": w.revoked_key},
        "secret without the portal": {"X-API-Key": PORTAL_KEY.split(".", 1)[1]},
        "the stored digest": {"X-API-Key": hashlib.sha256(PORTAL_KEY.encode()).hexdigest()},
        "key as a bearer token": {"Authorization": "Bearer " + PORTAL_KEY},
        "an operator token": api.token(["*"], role="operator"),
    }


# ------------------------------------------------------------------ the checks
async def check_public(http: httpx.AsyncClient, base: str, calls: list[Call]) -> None:
    for call in calls:
        for name, headers in {"anonymous": {}, "garbage token": {"Authorization": "Bearer x.y.z"},
                              "unknown key": {"X-API-Key": "nobody.nothing"}}.items():
            r = await send(http, base, call, headers)
            allowed(r, call, f"{call.path} {name}")
            assert r.text, call.path


async def check_bearer(api: Api, rule: Rule, calls: list[Call]) -> None:
    base = api.stack.url(calls[0].service)
    for call in calls:
        where = f"{call.method} {call.path}"
        for name, headers in bad_tokens(api).items():
            r = await send(api.http, base, call, headers)
            refused(r, 401, f"{where} {name}", "Bearer")
            # Our own words only: the JOSE library's messages are not echoed.
            assert r.json().get("detail") in OUR_401_DETAILS, (where, name, r.text[:300])
        for role in set(ROLES) - set(rule.roles):
            for units in ([UNIT], ["*"]):
                # An officer's or leader's token naming every unit is not a valid token.
                status = 401 if units == ["*"] and role not in ALL_UNITS_ROLES else 403
                refused(await send(api.http, base, call, api.token(units, role=role)), status,
                        f"{where} as {role} of {units}")
        for role in rule.roles:
            for units in ([OTHER_UNIT], []):
                stranger = api.token(units, role=role, sub="stranger")
                why = f"{where} as {role} of {units}"
                r = await send(api.http, base, call, stranger)
                if call.foreign == "hidden":
                    refused(r, 404, why)
                    absent = call.about_absent()
                    r2 = await send(api.http, base, absent, stranger)
                    assert call.subject and call.absent
                    assert (r.status, r.text.replace(call.subject, "<id>")) == \
                        (r2.status, r2.text.replace(call.absent, "<id>")), why
                elif call.foreign == "filtered":
                    assert r.status == 200, f"{why}: {r.status} {r.text[:300]}"
                    assert call.mark and call.mark not in r.text, why
                    body = r.json()
                    items = body["units"] if isinstance(body, dict) else body
                    assert all(item["unit_code"] != UNIT for item in items), why
                elif call.foreign == "any":
                    allowed(r, call, why)
                elif call.foreign == "empty":
                    assert (r.status, r.json()) == (200, []), f"{why}: {r.status} {r.text[:300]}"
                else:
                    refused(r, 403, why)


async def bearer_allowed(api: Api, rule: Rule, calls: list[Call]) -> None:
    base = api.stack.url(calls[0].service)
    for call in calls:
        if call.ok is None:
            continue
        for role in rule.roles:
            for units in ([UNIT], [OTHER_UNIT, UNIT]):
                r = await send(api.http, base, call, api.token(units, role=role))
                allowed(r, call, f"{call.method} {call.path} as {role} of {units}")
                if call.ok == 409:
                    assert r.json()["state"] == "received"


async def check_portal(api: Api, w: World, calls: list[Call]) -> None:
    base = api.stack.url("intake")
    for call in calls:
        where = f"{call.method} {call.path}"
        for name, headers in bad_keys(api, w).items():
            refused(await send(api.http, base, call, headers), 401, f"{where} {name}", "ApiKey")
        if call.backdate:
            assert call.body is not None
            earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
            r = await send(api.http, base, call, {"X-API-Key": DESK_KEY},
                           body={**call.body, call.backdate: earlier})
            refused(r, 403, f"{where}: a desk key giving {call.backdate}")


async def portal_allowed(api: Api, calls: list[Call]) -> None:
    for call in calls:
        if call.ok is None:
            continue
        for key in (DESK_KEY, IMPORTER_KEY):  # the world's dossiers are counter filings
            r = await send(api.http, api.stack.url("intake"), call, {"X-API-Key": key})
            allowed(r, call, f"{call.method} {call.path} with {key.split('.')[0]}")


async def check_connector(api: Api, w: World, calls: list[Call]) -> None:
    base = api.stack.url("intake")
    for call in calls:
        where = f"{call.method} {call.path}"
        for name, headers in bad_keys(api, w).items():
            refused(await send(api.http, base, call, headers), 401, f"{where} {name}", "ApiKey")
        for key in (PORTAL_KEY, DESK_KEY, IMPORTER_KEY):
            r = await send(api.http, base, call, {"X-API-Key": key})
            refused(r, 403, f"{where} with {key.split('.')[0]}")
            assert "Nguyễn" not in r.text and w.code not in r.text, where


async def connector_allowed(api: Api, calls: list[Call]) -> None:
    for call in calls:
        r = await send(api.http, api.stack.url("intake"), call, {"X-API-Key": CONNECTOR_KEY})
        allowed(r, call, f"{call.method} {call.path} with the connector's key")
        assert ABSENT not in r.text


async def check_courier(api: Api, calls: list[Call]) -> None:
    courier = Courier(api)
    base = api.stack.url("postal")
    [call] = calls
    assert call.body is not None
    raw, good = courier.signed(call.body)
    stamp = int(good["X-Timestamp"])
    tampered = json.dumps({**call.body, "kind": "delivered"}).encode()

    def without(name: str) -> dict[str, str]:
        return {k: v for k, v in good.items() if k != name}

    cases: dict[str, tuple[bytes, dict[str, str]]] = {
        "unsigned": (raw, {"content-type": "application/json"}),
        "unknown courier": (raw, {**good, "X-Courier-Id": "ghost-post"}),
        "another secret": courier.signed(call.body, secret="not-the-courier-secret"),
        "stale": courier.signed(call.body, ts=stamp - 3600),
        "from the future": courier.signed(call.body, ts=stamp + 3600),
        "malformed timestamp": (raw, {**good, "X-Timestamp": "yesterday"}),
        "no timestamp": (raw, without("X-Timestamp")),
        "no signature": (raw, without("X-Signature")),
        "tampered body": (tampered, good),
        "another timestamp": (raw, {**good, "X-Timestamp": str(stamp - 1)}),
        "officer token instead": (raw, {"content-type": "application/json",
                                        **api.token([UNIT])}),
    }
    for name, (body, headers) in cases.items():
        r = await send(api.http, base, call, headers, raw=body)
        refused(r, 401, f"courier {name}")
        assert r.json()["type"].endswith("courier-signature"), name


async def courier_allowed(api: Api, calls: list[Call]) -> None:
    # A genuine signature gets past the guard: 404 for a shipment that does not exist (and
    # the rolled-back transaction keeps no signature: the footprint is checked after).
    [call] = calls
    assert call.body is not None
    nowhere = {**call.body, "shipment_id": "IN-" + ABSENT}
    raw, headers = Courier(api).signed(nowhere)
    r = await send(api.http, api.stack.url("postal"), call, headers, raw=raw)
    refused(r, 404, "a genuine courier about an unknown shipment")


async def check_pin(api: Api, w: World, calls: list[Call]) -> None:
    [call] = calls
    assert call.body is not None
    base = api.stack.url("feedback")
    wrong = f"{(int(w.rated_pin) + 1) % 1_000_000:06d}"
    for name, pin in {"wrong PIN": wrong, "another dossier's PIN": w.pin}.items():
        if pin == w.rated_pin:
            continue
        r = await send(api.http, base, call, body={**call.body, "pin": pin})
        refused(r, 403, name)
    r = await send(api.http, base, call, body={k: v for k, v in call.body.items() if k != "pin"})
    refused(r, 422, "no PIN")
    earlier = {**call.body, "at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
    refused(await send(api.http, base, call, body=earlier), 403, "back-dated, no token")
    for role in ("officer", "operator", "leader"):
        r = await send(api.http, base, call, api.token(["*"], role=role), body=earlier)
        refused(r, 403 if role in ALL_UNITS_ROLES else 401, f"back-dated as {role}")
    for name, headers in bad_tokens(api).items():
        if headers.get("Authorization", "").lower().startswith("bearer "):
            r = await send(api.http, base, call, headers, body=earlier)
            refused(r, 401, f"back-dated with {name}")


async def pin_allowed(api: Api, w: World, calls: list[Call]) -> None:
    [call] = calls
    assert call.body is not None
    base = api.stack.url("feedback")
    r = await send(api.http, base, call)  # the right PIN: past the guard, already rated
    allowed(r, call, "the right PIN")
    assert r.json()["type"].endswith("feedback-refused")
    earlier = {**call.body, "at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
    r = await send(api.http, base, call, api.token(["*"], role="importer"), body=earlier)
    allowed(r, call, "an importer back-dating with the right PIN")


async def check_complaint(api: Api, w: World, calls: list[Call]) -> None:
    [call] = calls
    assert call.body is not None
    base = api.stack.url("feedback")
    keys = {n: h for n, h in bad_keys(api, w).items() if n not in ("an operator token",
                                                                   "key as a bearer token")}
    for name, headers in keys.items():
        refused(await send(api.http, base, call, headers), 401, f"complaint {name}")
    for name, headers in bad_tokens(api).items():
        refused(await send(api.http, base, call, headers), 401, f"complaint {name}")
    earlier = {**call.body, "at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    for headers in ({"X-API-Key": PORTAL_KEY}, api.token([UNIT])):
        refused(await send(api.http, base, call, headers, body=earlier), 403,
                "a complaint back-dated by other than an importer")
    r = await send(api.http, base, call, {"X-API-Key": CONNECTOR_KEY})
    refused(r, 401, "the connector's key submits nothing")


async def complaint_allowed(api: Api, calls: list[Call]) -> None:
    [call] = calls
    base = api.stack.url("feedback")
    for name, headers in {"portal key": {"X-API-Key": PORTAL_KEY},
                          "desk key": {"X-API-Key": DESK_KEY},
                          "officer": api.token([UNIT]), "operator": api.token(["*"], "operator")
                          }.items():
        allowed(await send(api.http, base, call, headers), call, f"complaint by {name}")


async def check_complaint_pin(api: Api, w: World, calls: list[Call]) -> None:
    [call] = calls
    assert call.body is not None
    base = api.stack.url("feedback")
    wrong = f"{(int(w.complaint_pin) + 1) % 1_000_000:06d}"
    r = await send(api.http, base, call, body={**call.body, "pin": wrong})
    refused(r, 404, "a wrong complaint PIN")
    absent = replace(call, path=call.path.replace(w.complaint, NO_COMPLAINT))
    r2 = await send(api.http, base, absent, body={**call.body, "pin": wrong})
    assert (r.status, r.json()["detail"]) == (r2.status, r2.json()["detail"]), "same as absent"
    refused(await send(api.http, base, call, body={**call.body, "pin": w.pin}), 404,
            "a dossier's PIN")
    refused(await send(api.http, base, call,
                       body={k: v for k, v in call.body.items() if k != "pin"}), 422, "no PIN")
    earlier = {**call.body, "at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
    refused(await send(api.http, base, call, body=earlier), 403, "back-dated, no token")
    refused(await send(api.http, base, call, api.token(["*"], role="operator"), body=earlier),
            403, "back-dated by an operator")


async def complaint_pin_allowed(api: Api, calls: list[Call]) -> None:
    [call] = calls
    allowed(await send(api.http, api.stack.url("feedback"), call), call, "the complaint's PIN")


@pytest.mark.parametrize("key", sorted(ROUTES), ids=_id)
async def test_access(key: Key, api: Api, world: World) -> None:
    rule = MATRIX.get(key)
    if rule is None:
        pytest.fail(f"{_id(key)} has no access rule in MATRIX")
    calls = calls_for(key, world)
    base = api.stack.url(key[0])
    db = await api.db()
    before = await footprint(db, world)
    match rule.access:
        case Access.PUBLIC | Access.FIGURES:  # figures: public with the default setting
            await check_public(api.http, base, calls)
        case Access.BEARER:
            await check_bearer(api, rule, calls)
        case Access.PORTAL:
            await check_portal(api, world, calls)
        case Access.COURIER:
            await check_courier(api, calls)
        case Access.PIN:
            await check_pin(api, world, calls)
        case Access.CONNECTOR:
            await check_connector(api, world, calls)
        case Access.COMPLAINT:
            await check_complaint(api, world, calls)
        case Access.COMPLAINT_PIN:
            await check_complaint_pin(api, world, calls)
    assert await footprint(db, world) == before, f"{_id(key)}: a refused request changed state"

    match rule.access:
        case Access.BEARER:
            await bearer_allowed(api, rule, calls)
        case Access.PORTAL:
            await portal_allowed(api, calls)
        case Access.COURIER:
            await courier_allowed(api, calls)
        case Access.PIN:
            await pin_allowed(api, world, calls)
        case Access.CONNECTOR:
            await connector_allowed(api, calls)
        case Access.COMPLAINT:
            await complaint_allowed(api, calls)
        case Access.COMPLAINT_PIN:
            await complaint_pin_allowed(api, calls)
    if all(c.ok != 201 for c in calls):  # only a filing's positive control adds something
        assert await footprint(db, world) == before, f"{_id(key)}: a 4xx changed state"


# ------------------------------------------------------------------ figures made private
async def test_figures_need_a_token_when_not_public(infra: Infra, tmp_path: Path) -> None:
    async with own_stack(tmp_path, kafka=infra.kafka_bootstrap, base_url=infra.database_url,
                         port_base=OWN_PORT_BASE,
                         extra_env={"MOTCUA_JWT_SECRET": JWT_SECRET,
                                    "METRICS_PUBLIC_READ": "false",
                                    "MOTCUA_METRICS_SCRAPE_TOKEN": SCRAPE_TOKEN}) as stack:
        api = Api(stack, infra, JWT_SECRET)
        try:
            await _check_private_figures(api)
            await _check_scrape_token(api)
        finally:
            await api.close()


SCRAPE_TOKEN = "scrape-token-of-this-test-0123"


async def _check_scrape_token(api: Api) -> None:
    """With a scrape token set, every service's /metrics (per-unit figures included) answers
    only Prometheus sending it."""
    for service in SERVICES_ORDER:
        url = api.stack.url(service) + "/metrics"
        for name, headers in {"anonymous": {}, "another token": {"Authorization": "Bearer nope"},
                              "an operator's JWT": api.token(["*"], role="operator")}.items():
            r = await api.http.get(url, headers=headers)
            assert r.status_code == 401, f"{service} /metrics {name}: {r.status_code}"
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "motcua_" not in r.text
        r = await api.http.get(url, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
        assert r.status_code == 200 and "motcua_http_requests_total" in r.text, service


async def _check_private_figures(api: Api) -> None:
    base = api.stack.url("metrics")
    # /metrics is closed by its own setting on this stack (see _check_scrape_token).
    keys = sorted(k for k in ROUTES if k[0] == "metrics" and k[2] != "/metrics")
    assert any(MATRIX[k].access == Access.FIGURES for k in keys)
    for key in keys:
        [call] = calls_for(key, None)
        if MATRIX[key].access == Access.PUBLIC:
            await check_public(api.http, base, [call])
            continue
        if MATRIX[key].access != Access.FIGURES:  # operators' entries: bearer either way
            continue
        for name, headers in bad_tokens(api).items():
            refused(await send(api.http, base, call, headers), 401, f"{call.path} {name}", "Bearer")
        for role in ROLES:  # any valid token, of any unit: the figures are not personal
            r = await send(api.http, base, call, api.token([OTHER_UNIT], role=role))
            allowed(r, call, f"{call.path} as {role}")
        # EventSource cannot send headers: the token may come as a query parameter.
        token = api.token([UNIT], role="operator")["Authorization"].split(" ", 1)[1]
        allowed(await send(api.http, base, call, params={**(call.params or {}),
                                                        "access_token": token}),
                call, f"{call.path} with ?access_token")
        refused(await send(api.http, base, call, params={"access_token": "abc.def.ghi"}), 401,
                f"{call.path} with a garbage ?access_token")
