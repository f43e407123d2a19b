"""Schemathesis against the live OpenAPI document of every service (docs/api.md): whatever a
client sends, no answer is a 5xx, and every 4xx is an RFC 9457 problem document
(``application/problem+json``, with a ``title`` and a ``status`` equal to the HTTP status).

Each service is fuzzed without credentials (the refusals themselves must be problem
documents) and with valid ones (portal and importer API keys; officer, importer and
operator tokens; a courier's HMAC signature over the exact bytes sent), so that generated
requests get past authentication into validation and the handlers. With credentials,
generated path, query and body values are sometimes replaced by ones that exist (seeded
dossiers in several states, a shipment, units, procedures, a receipt PIN) and bodies are
sometimes completed with the fields the handler needs, so that the handlers' own logic runs
too, not only their 404s and 422s; generated dates and times are often replaced by calendar
extremes, which random generation seldom reaches.

Two deterministic sweeps go with the fuzzing, both read from the same documents: without
credentials, every method a path does not declare (405 as a problem); with them, every
path and query parameter and top-level body field set in turn to its edge values (calendar
extremes for dates and times, a NUL character for text) in an otherwise complete request.

Generation is deterministic (derandomized, no example database, no shrinking) and bounded
per operation; positive and negative cases are mixed; there is no stateful phase. The SSE
stream never ends, so it is checked on its own. (Schemathesis' own pytest integration,
``from_fixture(...).parametrize()``, does not run under pytest 9, so the operations'
strategies are driven with Hypothesis directly.)
"""
from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NotSet

from services.postal.domain.signature import sign
from shared.auth import mint_token
from tests.conftest import JWT_SECRET
from tests.support.api import (
    CONNECTOR_KEY,
    COURIER,
    COURIER_SECRET,
    DESK_KEY,
    IMPORTER_KEY,
    OTHER_UNIT,
    PORTAL_KEY,
    PROCEDURE,
    UNIT,
    applicant,
    filer_key,
)
from tests.support.dates import new_appointment
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

PROBLEM_JSON = "application/problem+json"
# Examples per operation and caller; MOTCUA_FUZZ_SCALE=10 runs ten times as many (a deeper
# local hunt; the default keeps the whole module around a minute).
_SCALE = float(os.environ.get("MOTCUA_FUZZ_SCALE", "1"))
EXAMPLES = {"anonymous": round(8 * _SCALE), "credentials": round(20 * _SCALE)}
STREAM = "/v1/metrics/stream"
WEBHOOK = "/v1/courier/events"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def bearer(role: str, units: list[str]) -> dict[str, str]:
    token = mint_token(JWT_SECRET, subject="fuzzer", role=role, units=units)
    return {"Authorization": "Bearer " + token}


# (service, who): the credentials sent with every generated request (the courier's are
# computed per request).
CALLERS: dict[tuple[str, str], Callable[[], dict[str, str]]] = {
    **{(s, "anonymous"): dict for s in ("intake", "processing", "postal", "feedback", "metrics",
                                        "national_portal")},
    ("intake", "portal"): lambda: {"X-API-Key": PORTAL_KEY},
    ("intake", "desk"): lambda: {"X-API-Key": DESK_KEY},
    ("intake", "importer"): lambda: {"X-API-Key": IMPORTER_KEY},
    ("processing", "officer"): lambda: bearer("officer", [UNIT]),
    ("processing", "importer"): lambda: bearer("importer", ["*"]),
    ("postal", "operator"): lambda: bearer("operator", ["*"]),
    ("postal", "courier"): dict,
    ("feedback", "officer"): lambda: bearer("officer", [UNIT]),
    ("feedback", "importer"): lambda: bearer("importer", ["*"]),
    ("metrics", "operator"): lambda: bearer("operator", ["*"]),
    ("intake", "connector"): lambda: {"X-API-Key": CONNECTOR_KEY},
    ("national_portal", "operator"): lambda: bearer("operator", ["*"]),
}


@dataclass(frozen=True)
class Seeded:
    """Dossiers for the handlers to work on; each caller gets its own where fuzzing may
    finish them (withdrawn, rated)."""

    intake: dict[str, list[str]]  # by caller: received, awaiting receipt
    processing: list[str]  # received, awaiting receipt, in processing, resolved
    resolved: dict[str, tuple[str, str]]  # by caller: code and receipt PIN, for feedback
    posted: str  # filed by post, with an inbound shipment
    shipments: list[str]


@dataclass(frozen=True)
class Target:
    service: str
    who: str
    base_url: str
    headers: dict[str, str]
    known: dict[str, list[Any]]  # values that exist, by parameter or body field name
    complete: dict[str, dict[str, Any]]  # fields a handler needs, by operation path

    @property
    def anonymous(self) -> bool:
        return self.who == "anonymous"


def _poll(check: Callable[[], Any], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("the stack did not converge")


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> Iterator[Seeded]:
    """Dossiers in different states and an inbound shipment for the handlers to work on;
    each service's fuzzing gets dossiers of its own, since it changes their states."""
    officer = bearer("officer", [UNIT])
    with httpx.Client(timeout=30) as http:
        def file(channel: str = "counter", return_method: str = "counter",
                 key: str | None = None) -> dict[str, Any]:
            r = http.post(stack.url("intake") + "/v1/dossiers",
                          headers={"X-API-Key": key or filer_key(channel)}, json={
                "unit_code": UNIT, "procedure_code": PROCEDURE, "channel": channel,
                "return_method": return_method, "applicant": applicant()})
            assert r.status_code == 201, r.text
            return dict(r.json())

        def act(code: str, action: str, body: dict[str, Any]) -> None:
            def done() -> bool:  # once processing has heard of the dossier
                r = http.post(stack.url("processing") + f"/v1/dossiers/{code}/actions/{action}",
                              headers=officer, json=body)
                assert r.status_code in (200, 404), r.text
                return r.status_code == 200

            _poll(done)

        def shipments(code: str) -> list[str]:
            r = http.get(stack.url("postal") + "/v1/shipments", headers=officer,
                         params={"dossier_code": code})
            return [s["id"] for s in r.json()] if r.status_code == 200 else []

        intake = {"portal": [file("online")["code"], file("postal", "postal")["code"]],
                  "desk": [file()["code"], file()["code"]],
                  "importer": [file(key=IMPORTER_KEY)["code"],
                               file("online", key=IMPORTER_KEY)["code"]]}
        received, online, accepted = file()["code"], file("online")["code"], file()["code"]
        resolved = {who: file(return_method="postal") for who in ("officer", "importer")}
        posted = file("postal", "postal")["code"]
        for code in (accepted, *(r["code"] for r in resolved.values())):
            act(code, "accept", {})
        for r in resolved.values():
            act(r["code"], "resolve", {"result_ref": "KQ-1"})
        shipment_ids = _poll(lambda: shipments(posted))
    yield Seeded(intake, [received, online, accepted, resolved["officer"]["code"]],
                 {who: (r["code"], r["pin"]) for who, r in resolved.items()}, posted,
                 shipment_ids)


@pytest.fixture(scope="module", params=list(CALLERS), ids=lambda p: f"{p[0]}-{p[1]}")
def target(request: pytest.FixtureRequest, stack: Stack, seeded: Seeded) -> Target:
    service, who = request.param
    rated, pin = seeded.resolved.get(who, seeded.resolved["officer"])
    codes = {"intake": seeded.intake.get(who, seeded.intake["portal"]),
             "processing": seeded.processing, "postal": [seeded.posted],
             "feedback": [rated], "national_portal": seeded.processing}.get(service, [])
    known: dict[str, list[Any]] = {
        "code": [PROCEDURE] if service == "metrics" else codes,
        "dossier_code": codes or [rated], "shipment_id": seeded.shipments,
        "unit_code": [UNIT], "unit": [UNIT], "to_unit": [OTHER_UNIT],
        "procedure_code": [PROCEDURE], "pin": [pin], "action": ["apologize"],
        "month": [(datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")],
        "indicator": ["1.1"], "codes": [codes or [rated]],
    }
    complete: dict[str, dict[str, Any]] = {
        "/v1/dossiers": {"unit_code": UNIT, "procedure_code": PROCEDURE,
                         "channel": "online" if who == "portal" else "counter",
                         "applicant": applicant()},
        "/v1/dossiers/{code}/supplements": {"documents": [{"name": "Tờ khai bổ sung"}]},
        "/v1/dossiers/{code}/actions/{action}": {
            "assignee": "officer-2", "to_unit": OTHER_UNIT, "reason": "fuzz", "amount": "1000",
            "new_due_at": new_appointment()},
        "/v1/feedback": {"dossier_code": rated, "pin": pin, "rating": "satisfied"},
        WEBHOOK: {"shipment_id": seeded.shipments[0], "event_id": "fuzz-1", "kind": "picked_up"},
    }
    if who == "importer":  # who may say when things happened
        now = datetime.now(UTC).isoformat()
        for path, fields in complete.items():
            fields["received_at" if path == "/v1/dossiers" else "at"] = now
    return Target(service, who, stack.url(service), CALLERS[service, who](), known, complete)


# Calendar extremes: valid ISO 8601, but outside what the working-day calendar (and, for
# some, Python's UTC conversion) can handle; generated dates and times are often replaced
# by them, since random generation seldom reaches them.
EDGE_TIMES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1999-12-31T23:59:59Z")
EDGE_DAYS = ("0001-01-01", "9999-12-31", "1999-12-31")


def _edges(value: Any) -> tuple[str, ...] | None:
    """The extremes to try in place of a generated date or date-time string, if it is one."""
    if not isinstance(value, str):
        return None
    try:
        date.fromisoformat(value)
        return EDGE_DAYS
    except ValueError:
        pass
    try:
        datetime.fromisoformat(value)
        return EDGE_TIMES
    except ValueError:
        return None


def _hook(name: str, target: Target) -> Callable[[Any, Any], st.SearchStrategy[Any]]:
    """A flatmap hook (schemathesis knows its kind by its name) giving the generated value or
    a variant of it: with values that exist in place of generated ones, completed with the
    fields the handler needs, or with calendar extremes in its dates and times."""

    def hook(context: Any, value: Any) -> st.SearchStrategy[Any]:
        if not isinstance(value, dict):
            return st.just(value)
        variants = [st.just(value)]
        base = value
        if not target.anonymous:
            names = [n for n in value if n in target.known]
            if names:
                variants.append(st.fixed_dictionaries(
                    {n: st.sampled_from(target.known[n]) for n in names}).map(
                    lambda found: {**value, **found}))
            fields = target.complete.get(context.operation.path) \
                if name.endswith("body") else None
            if fields:
                base = {**value, **fields}
                variants.append(st.just(base))
        edges = {n: (base[n], *options) for n in base if (options := _edges(base[n]))}
        if edges:  # each date or time kept or replaced
            variants.append(st.fixed_dictionaries(
                {n: st.sampled_from(options) for n, options in edges.items()}).map(
                lambda chosen: {**base, **chosen}))
        return st.one_of(variants)

    hook.__name__ = name
    return hook


def load_schema(target: Target) -> Any:
    schema = schemathesis.openapi.from_url(target.base_url + "/openapi.json")
    for container in ("path_parameters", "query", "body"):
        schema.hook(_hook(f"flatmap_{container}", target))
    return schema


def problem_violation(status: int, content_type: str, body: Any) -> str | None:
    """Why an answer breaks the contract, or None."""
    if status >= 500:
        return f"server error {status}"
    if status < 400:
        return None
    media_type = content_type.split(";")[0].strip()
    if media_type != PROBLEM_JSON:
        return f"{status} answered as {media_type or 'no content type'}, not {PROBLEM_JSON}"
    if not isinstance(body, dict):
        return f"{status} problem body is not a JSON object"
    if not isinstance(body.get("title"), str) or not body["title"]:
        return f"{status} problem without a title"
    if body.get("status") != status:
        return f"{status} problem with status {body.get('status')!r}"
    return None


def _courier_signed(body: Any) -> dict[str, Any]:
    """The body as bytes, signed as the courier signs it."""
    raw = body if isinstance(body, bytes) else b"" if isinstance(body, NotSet) \
        else json.dumps(body).encode()
    stamp = int(time.time())
    return {"data": raw, "headers": {"X-Courier-Id": COURIER, "X-Timestamp": str(stamp),
                                     "X-Signature": sign(COURIER_SECRET, stamp, raw),
                                     "Content-Type": "application/json"}}


def fuzz(operation: Any, target: Target, session: requests.Session) -> dict[str, str]:
    """Positive and negative cases for one operation: one report per kind of violation."""
    found: dict[str, str] = {}
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))
    examples = EXAMPLES["anonymous" if target.anonymous else "credentials"]
    sign_it = target.who == "courier" and operation.path == WEBHOOK

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def run(case: Any) -> None:
        extra = _courier_signed(case.body) if sign_it else {"headers": target.headers}
        response = case.call(base_url=target.base_url, session=session, timeout=10, **extra)
        try:
            body = response.json()
        except ValueError:
            body = None
        why = problem_violation(response.status_code,
                                (response.headers.get("content-type") or [""])[0], body)
        if why is not None and f"{operation.label}: {why}" not in found:
            found[f"{operation.label}: {why}"] = (
                f"{operation.label} ({target.service} as {target.who}): {why}\n"
                f"  {case.as_curl_command(headers=extra['headers'])}\n"
                f"  -> {response.text[:800]}")

    run()
    return found


def unexpected_methods(schema: Any, target: Target) -> list[str]:
    """A method a path does not declare is refused (405) as a problem document."""
    found = []
    for path, item in schema.raw_schema["paths"].items():
        url = target.base_url + path.replace("{", "").replace("}", "")
        for method in METHODS:
            if method.lower() in item:
                continue
            r = requests.request(method, url, headers=target.headers, timeout=10)
            why = problem_violation(r.status_code, r.headers.get("content-type", ""),
                                    r.json() if r.content.startswith(b"{") else None)
            if why is not None:
                found.append(f"{method} {path} ({target.service}): {why}\n  -> {r.text[:300]}")
    return found


NUL = "a\x00b"  # valid JSON and URL text that PostgreSQL cannot store


def _edge_values(schema: dict[str, Any]) -> tuple[str, ...]:
    """What to try in a parameter or property: calendar extremes for a date or date-time
    (possibly nullable), a NUL character for other text."""
    options = [schema, *schema.get("anyOf", [])]
    formats = {option.get("format") for option in options}
    if "date" in formats:
        return EDGE_DAYS
    if "date-time" in formats:
        return EDGE_TIMES
    return (NUL,) if any(option.get("type") == "string" for option in options) else ()


def edge_values(schema: Any, target: Target) -> list[str]:
    """Every path and query parameter and body field a request takes, set in turn to each of
    its edge values in an otherwise complete request: a problem, never a crash."""
    raw, found = schema.raw_schema, []
    for path, item in raw["paths"].items():
        for method, op in item.items() if path != STREAM else ():  # it never ends
            body_schema = (op.get("requestBody", {}).get("content", {})
                           .get("application/json", {}).get("schema", {}))
            if "$ref" in body_schema:
                body_schema = raw["components"]["schemas"][body_schema["$ref"].rsplit("/", 1)[-1]]
            slots = [(p["in"], p["name"], _edge_values(p["schema"]))
                     for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            slots += [("body", name, _edge_values(prop))
                      for name, prop in body_schema.get("properties", {}).items()]
            for where, name, edges in slots:
                for edge in edges:
                    path_values = {n: str((target.known.get(n) or ["x"])[0])
                                   for n in re.findall(r"{(\w+)}", path)}
                    if where == "path":
                        path_values[name] = edge
                    url = target.base_url + path.format_map(
                        {n: quote(v, safe="") for n, v in path_values.items()})
                    body = {**target.complete.get(path, {}), name: edge} if where == "body" \
                        else target.complete.get(path)
                    sign_it = target.who == "courier" and path == WEBHOOK
                    extra = _courier_signed(body) if sign_it \
                        else {"json": body, "headers": target.headers}
                    # Not on the session: a crash closes the connection.
                    r = requests.request(method.upper(), url, timeout=10,
                                         params={name: edge} if where == "query" else None,
                                         **extra)
                    why = problem_violation(r.status_code, r.headers.get("content-type", ""),
                                            r.json() if r.content.startswith(b"{") else None)
                    if why is not None:
                        found.append(f"{method.upper()} {path} with {where} {name}={edge!r} "
                                     f"({target.service} as {target.who}): {why}\n"
                                     f"  -> {r.text[:300]}")
    return found


def test_no_server_error_and_every_refusal_is_a_problem(target: Target) -> None:
    schema = load_schema(target)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5, "the OpenAPI document lists too few operations"
    violations: dict[str, str] = {}
    if target.anonymous:
        violations |= {v: v for v in unexpected_methods(schema, target)}
    else:
        violations |= {v: v for v in edge_values(schema, target)}
    with requests.Session() as session:
        for operation in operations:
            if operation.path != STREAM:  # never ends; see below
                violations |= fuzz(operation, target, session)
    assert not violations, "\n\n".join(violations.values())


def test_the_stream_opens_as_server_sent_events(stack: Stack) -> None:
    with httpx.Client(timeout=10) as http, \
            http.stream("GET", stack.url("metrics") + STREAM) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
