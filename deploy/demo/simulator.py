"""The province simulator: realistic dossier lifecycles driven through the public REST APIs
only (portal and importer keys, officer and importer tokens, the signed courier webhook,
the feedback PIN).

    python -m deploy.demo.simulator backfill --days 30      # a month of history, back-dated
    python -m deploy.demo.simulator live --rate 0.5          # a live trickle (dossiers / s)
    python -m deploy.demo.simulator verify                   # expected figures vs the API

Every dossier's plan and what the APIs answered go to a JSON-lines log; ``expected`` figures
are computed from that log alone, by plain comparisons of the times the simulator chose and
the due dates the APIs returned — not by the metrics service's code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson

from deploy.demo import profile
from services.postal.domain.signature import sign
from shared.auth import mint_token
from shared.rulebook import Procedure, Rulebook, load_rulebook
from shared.settings import DEFAULT_RULEBOOK, ServiceSettings

VN = ZoneInfo("Asia/Ho_Chi_Minh")
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LOG = ROOT / ".local" / "demo" / "simulator.jsonl"
IMPORTER_KEY = os.environ.get("SIM_IMPORTER_KEY", "legacy-import.local-demo-importer-key")
PORTAL_KEY = os.environ.get("SIM_PORTAL_KEY", "dvc-demo.local-demo-portal-key")
DESK_KEY = os.environ.get("SIM_DESK_KEY", "desk-demo.local-demo-desk-key")
COURIER = os.environ.get("SIM_COURIER", "vnpost:local-development-only-courier-secret")


@dataclass
class Record:
    """What happened to one dossier, as the simulator did it and the APIs answered."""

    code: str
    unit: str
    procedure: str
    channel: str
    return_method: str
    received_at: str
    due_at: str
    current_unit: str
    supplements: int = 0
    supplement_pending_since: str | None = None
    apology_at: str | None = None
    apology_timely: bool | None = None
    new_due_at: str | None = None
    end_kind: str | None = None
    end_at: str | None = None
    returned_at: str | None = None
    returned_method: str | None = None
    rating: str | None = None
    rated_at: str | None = None
    rating_unit: str | None = None
    errors: list[str] = field(default_factory=list)


# 429: a portal over its request rate waits and sends again, as a real one would.
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class Api:
    """The public APIs, as a patient client: a dropped connection or a 5xx (a service or its
    database restarting) is retried with the same request until ``patience_s`` runs out, so
    only requests that carry an idempotency guarantee (an ``Idempotency-Key``, a courier
    ``event_id``) or that are reconciled by reading back are sent through it."""

    def __init__(self, base: str, jwt_secret: str, concurrency: int,
                 patience_s: float = 60.0) -> None:
        host, _, port = base.rpartition(":")
        self.urls = {s: f"{host}:{int(port) + i}" for i, s in enumerate(
            ("intake", "processing", "postal", "feedback", "metrics"))}
        self.http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency * 2))
        self.importer = {"Authorization": "Bearer " + mint_token(
            jwt_secret, subject="legacy-import", role="importer", units=["*"], ttl_s=86400)}
        self.operator = {"Authorization": "Bearer " + mint_token(
            jwt_secret, subject="simulator", role="operator", units=["*"], ttl_s=86400)}
        self.courier_id, _, self.courier_secret = COURIER.partition(":")
        self.patience_s = patience_s
        self.calls = 0
        self.attempts = 0
        self.retried: dict[str, int] = defaultdict(int)  # why a request was sent again

    async def request(self, method: str, service: str, path: str, *,
                      fresh_headers: Callable[[], dict[str, str]] | None = None,
                      **kw: Any) -> httpx.Response:
        self.calls += 1
        deadline = time.monotonic() + self.patience_s
        pause = 0.2
        while True:
            self.attempts += 1
            if fresh_headers is not None:
                kw["headers"] = fresh_headers()
            try:
                r = await self.http.request(method, self.urls[service] + path, **kw)
                if r.status_code not in RETRIED_STATUSES or time.monotonic() > deadline:
                    return r
                self.retried[f"{service} {r.status_code}"] += 1
            except httpx.TransportError as exc:
                if time.monotonic() > deadline:
                    raise
                self.retried[f"{service} {type(exc).__name__}"] += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    async def wait(self, service: str, path: str, ok: Any, headers: dict[str, str],
                   timeout_s: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout_s or self.patience_s)
        while True:
            r = await self.request("GET", service, path, headers=headers)
            if r.status_code == 200 and ok(r.json()):
                return dict(r.json()) if isinstance(r.json(), dict) else {"items": r.json()}
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service}{path}: {r.status_code} {r.text[:200]}")
            await asyncio.sleep(0.1)

    async def act(self, code: str, action: str, at: datetime, **body: Any) -> httpx.Response:
        # One key per intended action: a retry after a lost answer is not applied twice.
        return await self.request("POST", "processing", f"/v1/dossiers/{code}/actions/{action}",
                                  json={"at": at.isoformat(), **body},
                                  headers={**self.importer, "Idempotency-Key": uuid.uuid4().hex})

    async def courier(self, shipment: str, kind: str, at: datetime) -> httpx.Response:
        body = orjson.dumps({"event_id": uuid.uuid4().hex, "shipment_id": shipment,
                             "kind": kind, "at": at.isoformat()})

        def signed() -> dict[str, str]:
            # A resent event is signed afresh (a repeated signature is a replay); the same
            # event_id makes it change nothing the second time.
            ts = int(time.time())
            return {"X-Courier-Id": self.courier_id, "X-Timestamp": str(ts),
                    "X-Signature": sign(self.courier_secret, ts, body),
                    "content-type": "application/json"}

        return await self.request("POST", "postal", "/v1/courier/events", content=body,
                                  fresh_headers=signed)

    async def intake_status(self, code: str) -> str:
        r = await self.request("GET", "intake", f"/v1/dossiers/{code}",
                               headers={"X-API-Key": IMPORTER_KEY})
        return str(r.json()["status"]) if r.status_code == 200 else ""

    def stats(self) -> dict[str, Any]:
        return {"calls": self.calls, "attempts": self.attempts, "retried": dict(self.retried)}


def applicant(rng: random.Random) -> dict[str, Any]:
    family = rng.choice(["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"])
    middle = rng.choice(["Văn", "Thị", "Minh", "Đức", "Thu", "Quang"])
    given = rng.choice(["An", "Bình", "Chi", "Dũng", "Hà", "Hùng", "Lan", "Nam", "Trang"])
    return {"kind": "citizen", "full_name": f"{family} {middle} {given}",
            "id_number": f"031{rng.randrange(10**9):09d}",
            "phone": f"09{rng.randrange(10**8):08d}", "address": "Hải Phòng"}


def pick(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


class Simulator:
    def __init__(self, api: Api, rulebook: Rulebook, log_path: Path, seed: int) -> None:
        self.api = api
        self.rb = rulebook
        self.log_path = log_path
        self.rng = random.Random(seed)
        self.records: list[Record] = []
        units = [u for u in rulebook.units if u.block in profile.BLOCK_WEIGHTS
                 and rulebook.merger_of(u.code) is None  # a merged unit files nothing now
                 and any(u.code in p.units for p in rulebook.procedures)]
        self.units = units
        self.weights = [profile.BLOCK_WEIGHTS[u.block] for u in units]

    # ------------------------------------------------------------- planning
    def _procedure(self, unit: str) -> Procedure:
        return self.rng.choice([p for p in self.rb.procedures if unit in p.units])

    def _channels(self, unit: str, procedure: Procedure) -> tuple[str, str]:
        shares = dict(profile.CHANNEL_SHARES)
        if unit == profile.POSTAL_HEAVY_UNIT:
            shares["postal"] = profile.POSTAL_HEAVY_SHARE
        channel = pick(self.rng, shares)
        if channel == "postal" and not procedure.postal_filing:
            channel = "counter"
        postal_return = min(0.9, shares["postal"] * profile.POSTAL_RETURN_FACTOR)
        if procedure.postal_return and self.rng.random() < postal_return:
            returned = "postal"
        else:
            returned = "online" if channel == "online" and self.rng.random() < 0.5 else "counter"
        return channel, returned

    def _office_time(self, day: date) -> datetime:
        minutes = self.rng.randint(7 * 60 + 30, 16 * 60 + 45)
        return datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=VN)

    # ------------------------------------------------------------- one dossier
    async def dossier(self, received_at: datetime, now: datetime) -> Record | None:
        rng = self.rng
        unit = rng.choices(self.units, weights=self.weights)[0].code
        procedure = self._procedure(unit)
        channel, return_method = self._channels(unit, procedure)
        r = await self.api.request("POST", "intake", "/v1/dossiers", headers={
            "X-API-Key": IMPORTER_KEY, "Idempotency-Key": uuid.uuid4().hex}, json={
            "unit_code": unit, "procedure_code": procedure.code, "channel": channel,
            "return_method": return_method, "applicant": applicant(rng),
            "received_at": received_at.isoformat()})
        if r.status_code not in (200, 201):
            print(f"filing refused: {r.status_code} {r.text[:200]}", file=sys.stderr)
            return None
        receipt = r.json()
        code, pin = receipt["code"], receipt["pin"]
        rec = Record(code=code, unit=unit, procedure=procedure.code, channel=channel,
                     return_method=return_method, received_at=receipt["received_at"],
                     due_at=receipt["due_at"], current_unit=unit)
        try:
            await self._live_through(rec, pin, now)
        except (TimeoutError, httpx.HTTPError) as exc:
            rec.errors.append(repr(exc)[:300])
        return rec

    async def _live_through(self, rec: Record, pin: str, now: datetime) -> None:
        rng, api = self.rng, self.api
        view = await api.wait("processing", f"/v1/dossiers/{rec.code}", lambda v: True,
                              api.operator)
        t = datetime.fromisoformat(view["counted_from"]).astimezone(VN)
        t = max(t, datetime.fromisoformat(rec.received_at).astimezone(VN)) + timedelta(minutes=30)
        outcome = pick(rng, profile.OUTCOMES)
        if t > now:
            return
        if outcome == "withdrawn":
            at = t + timedelta(hours=rng.randint(1, 30))
            if at <= now:
                r = await api.request("POST", "intake", f"/v1/dossiers/{rec.code}/withdraw",
                                      headers={"X-API-Key": IMPORTER_KEY},
                                      json={"at": at.isoformat(), "reason": "theo đề nghị"})
                # 409 after a lost answer: the first attempt did it (only we withdraw).
                if r.status_code == 200 or (r.status_code == 409
                                            and await api.intake_status(rec.code) == "withdrawn"):
                    rec.end_kind, rec.end_at = "withdrawn", at.isoformat()
            return
        if (await api.act(rec.code, "accept", t)).status_code != 200:
            rec.errors.append("accept refused")
            return
        if outcome == "rejected":
            at = t + timedelta(hours=rng.randint(1, 20))
            if at <= now and (await api.act(rec.code, "reject", at, reason="không đủ điều kiện")
                              ).status_code == 200:
                rec.end_kind, rec.end_at = "rejected", at.isoformat()
            return
        if rng.random() < profile.TRANSFER_SHARE:
            others = [u.code for u in self.units if u.block == "department" and u.code != rec.unit]
            target = rng.choice(others)
            t += timedelta(hours=2)
            if t > now or (await api.act(rec.code, "transfer", t, to_unit=target)).status_code != 200:
                return
            rec.current_unit = target
        if rng.random() < profile.SUPPLEMENT_SHARE:
            t += timedelta(hours=3)
            if t > now:
                return
            if (await api.act(rec.code, "request-supplement", t, reason="bổ sung giấy tờ")
                    ).status_code != 200:
                return
            rec.supplements += 1
            rec.supplement_pending_since = t.isoformat()
            await api.wait("intake", f"/v1/dossiers/{rec.code}",
                           lambda v: v["status"] == "awaiting_supplement",
                           {"X-API-Key": IMPORTER_KEY})
            t += timedelta(days=rng.randint(1, 4))
            if t > now:
                return
            r = await api.request("POST", "intake", f"/v1/dossiers/{rec.code}/supplements",
                                  headers={"X-API-Key": IMPORTER_KEY},
                                  json={"documents": [{"name": "Giấy tờ bổ sung"}],
                                        "at": t.isoformat()})
            if r.status_code != 200 and not (
                    r.status_code == 409
                    and await api.intake_status(rec.code) not in ("awaiting_supplement", "")):
                return
            rec.supplement_pending_since = None
            await api.wait("processing", f"/v1/dossiers/{rec.code}",
                           lambda v: v["state"] == "processing", api.operator)
        view = await api.wait("processing", f"/v1/dossiers/{rec.code}", lambda v: True,
                              api.operator)
        due = datetime.fromisoformat(view["due_at"]).astimezone(VN)
        rec.due_at = due.isoformat()
        deadline = datetime.fromisoformat(view["apology_deadline"]).astimezone(VN)
        end = self._end_time(outcome, t, due)
        if outcome == "late":
            how = pick(rng, profile.APOLOGY_SHARES)
            apology_at = (deadline - timedelta(hours=rng.randint(1, 6)) if how == "timely"
                          else deadline + timedelta(hours=rng.randint(1, 8)) if how == "late"
                          else None)
            if apology_at is not None:
                apology_at = max(apology_at, t + timedelta(minutes=5))
                new_due = due + timedelta(days=rng.randint(2, 5))
                if rng.random() >= profile.MISSED_REAPPOINTMENT_SHARE:
                    end = min(end, new_due - timedelta(hours=2))
                    end = max(end, due + timedelta(hours=1))
                else:
                    end = new_due + timedelta(hours=rng.randint(2, 30))
                if apology_at <= now and apology_at < end:
                    r = await api.act(rec.code, "apologize", apology_at, reason="cần xác minh",
                                      new_due_at=new_due.isoformat())
                    if r.status_code == 200:
                        rec.apology_at = apology_at.isoformat()
                        rec.apology_timely = bool(r.json()["apology_timely"])
                        rec.new_due_at = new_due.isoformat()
        end = max(end, t + timedelta(minutes=10))
        if end > now:
            return
        r = await api.act(rec.code, "resolve", end, result_ref=f"KQ-{rec.code}")
        if r.status_code != 200:
            rec.errors.append(f"resolve refused {r.status_code}")
            return
        rec.end_kind, rec.end_at = "resolved", end.isoformat()
        await self._return(rec, end, now)
        await self._rate(rec, pin, end, now)

    def _end_time(self, outcome: str, start: datetime, due: datetime) -> datetime:
        rng = self.rng
        if outcome == "early":
            span = (due.replace(hour=7, minute=30) - start).total_seconds()
            if span > 3600:
                return start + timedelta(seconds=rng.uniform(600, span - 600))
            return due - timedelta(hours=rng.uniform(0.5, 3))
        if outcome == "on_time":
            opening = max(due.replace(hour=7, minute=45), start + timedelta(minutes=10))
            return opening + (due - opening) * rng.uniform(0.05, 0.95)
        return due + timedelta(hours=rng.randint(2, 96))

    async def _return(self, rec: Record, resolved: datetime, now: datetime) -> None:
        api, rng = self.api, self.rng
        if rec.return_method == "postal":
            await api.wait("postal", f"/v1/shipments?dossier_code={rec.code}",
                           lambda v: any(s["direction"] == "outbound" for s in v), api.operator)
            handover = resolved + timedelta(hours=1)
            if handover > now:
                return
            if (await api.courier(f"OUT-{rec.code}", "picked_up", handover)).status_code == 200:
                rec.returned_at, rec.returned_method = handover.isoformat(), "postal"
            delivered = handover + timedelta(days=1)
            kind = "delivery_failed" if rng.random() < profile.DELIVERY_FAILURE_SHARE else "delivered"
            if delivered <= now:
                await api.courier(f"OUT-{rec.code}", kind, delivered)
            return
        at = resolved + timedelta(hours=rng.randint(1, 48))
        if at <= now and (await api.act(rec.code, "return", at, method=rec.return_method)
                          ).status_code == 200:
            rec.returned_at, rec.returned_method = at.isoformat(), rec.return_method

    async def _rate(self, rec: Record, pin: str, resolved: datetime, now: datetime) -> None:
        rng = self.rng
        if rng.random() >= profile.RATED_SHARE:
            return
        level = pick(rng, profile.RATING_SHARES)
        at = (datetime.fromisoformat(rec.returned_at) if rec.returned_at else resolved) \
            + timedelta(minutes=rng.randint(1, 120))
        if at > now:
            return
        body: dict[str, Any] = {"dossier_code": rec.code, "pin": pin, "rating": level,
                                "at": at.isoformat()}
        if rng.random() < 0.4:
            high = level != "unsatisfied"
            body["criteria"] = {
                "decree61": [rng.choice([2, 2, 1]) if high else rng.choice([0, 1]) for _ in range(9)],
                "sipas": {k: rng.choice([4, 5, 5]) if high else rng.choice([2, 3])
                          for k in ("access", "procedure", "civil_servant", "result",
                                    "feedback_handling")}}
        for _ in range(100):  # feedback learns of the resolution through Kafka
            r = await self.api.request("POST", "feedback", "/v1/feedback", json=body,
                                       headers=self.api.importer)
            if r.status_code == 201 or (r.status_code == 409 and await self._rated(rec.code, level)):
                rec.rating, rec.rated_at, rec.rating_unit = level, at.isoformat(), rec.current_unit
                return
            if r.status_code not in (404, 409):
                return
            await asyncio.sleep(0.1)

    async def _rated(self, code: str, level: str) -> bool:
        """After a lost answer the rating may already be in (only we rate)."""
        r = await self.api.request("GET", "feedback", f"/v1/feedback/{code}",
                                   headers=self.api.operator)
        return r.status_code == 200 and r.json().get("rating") == level

    # ------------------------------------------------------------- runs
    async def backfill(self, days: int, per_day: int, concurrency: int) -> None:
        now = datetime.now(VN)
        start = (now - timedelta(days=days)).date()
        moments = []
        d = start
        while d <= now.date():
            if d.weekday() < 5:
                n = max(1, int(self.rng.gauss(per_day, per_day * 0.15)))
                moments += [self._office_time(d) for _ in range(n)]
            d += timedelta(days=1)
        moments = sorted(m for m in moments if m <= now)
        queue: asyncio.Queue[datetime] = asyncio.Queue()
        for m in moments:
            queue.put_nowait(m)
        started = time.perf_counter()

        async def worker() -> None:
            while not queue.empty():
                moment = queue.get_nowait()
                rec = await self.dossier(moment, now)
                if rec is not None:
                    self._log(rec)
                done = len(self.records)
                if done % 100 == 0:
                    print(f"  {done}/{len(moments)} dossiers, {self.api.calls} API calls, "
                          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        print(f"back-filled {len(self.records)} dossiers with {self.api.calls} API calls in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)

    async def live(self, rate: float, duration_s: float | None) -> None:
        started = time.monotonic()
        pending: list[tuple[Record, str]] = []
        while duration_s is None or time.monotonic() - started < duration_s:
            unit = self.rng.choices(self.units, weights=self.weights)[0].code
            procedure = self._procedure(unit)
            channel, _ = self._channels(unit, procedure)
            channel = "counter" if channel == "postal" else channel  # live postal needs a courier
            r = await self.api.request("POST", "intake", "/v1/dossiers", headers={
                "X-API-Key": DESK_KEY if channel == "counter" else PORTAL_KEY}, json={
                "unit_code": unit, "procedure_code": procedure.code, "channel": channel,
                "return_method": "counter", "applicant": applicant(self.rng)})
            if r.status_code == 201:
                receipt = r.json()
                rec = Record(code=receipt["code"], unit=unit, procedure=procedure.code,
                             channel=channel, return_method="counter",
                             received_at=receipt["received_at"], due_at=receipt["due_at"],
                             current_unit=unit)
                pending.append((rec, receipt["pin"]))
                self._log(rec)
            if len(pending) > 5 and self.rng.random() < 0.5:
                rec, _pin = pending.pop(0)
                now = datetime.now(VN)
                officer = {"Authorization": "Bearer " + mint_token(
                    self._secret(), subject="officer-live", role="officer", units=[rec.unit])}
                for action in ("accept", "resolve"):
                    await self.api.request("POST", "processing",
                                           f"/v1/dossiers/{rec.code}/actions/{action}",
                                           json={}, headers=officer)
                rec.end_kind, rec.end_at = "resolved", now.isoformat()
                self._log(rec)
            await asyncio.sleep(1 / rate)

    def _secret(self) -> str:
        return ServiceSettings().jwt_secret

    def _log(self, rec: Record) -> None:
        self.records.append(rec)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as f:
            f.write(orjson.dumps(asdict(rec)) + b"\n")


# ------------------------------------------------------------------ expected figures
FIELDS = ("received", "resolved", "rejected", "withdrawn", "returned", "population", "early",
          "on_time", "late", "overdue_open", "open_not_due", "late_with_timely_apology",
          "late_with_late_apology", "late_without_apology", "ratings_total")


def read_log(path: Path) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            rec = orjson.loads(line)
            latest[rec["code"]] = rec  # a later line about the same dossier supersedes
    return list(latest.values())


def expected(records: list[dict[str, Any]], first: date, last: date,
             as_of: datetime) -> dict[str, dict[str, int]]:
    """Per receiving unit, from the log alone: plain comparisons of chosen times and dues."""
    start = datetime(first.year, first.month, first.day, tzinfo=VN)
    end = datetime(last.year, last.month, last.day, tzinfo=VN) + timedelta(days=1)
    horizon = min(end, as_of)
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))

    def t(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    def within(value: datetime | None) -> bool:
        return value is not None and start <= value < end and value <= as_of

    for rec in records:
        received, finished, due = t(rec["received_at"]), t(rec["end_at"]), t(rec["due_at"])
        assert received is not None and due is not None
        g = out[rec["unit"]]
        if within(t(rec["rated_at"])) and rec["rating_unit"]:
            out[rec["rating_unit"]]["ratings_total"] += 1
        if received >= horizon or (received < start and finished is not None and finished < start):
            continue
        g["population"] += 1
        g["received"] += within(received)
        if rec["end_kind"] in ("resolved", "rejected", "withdrawn") and within(finished):
            g[rec["end_kind"]] += 1
        g["returned"] += within(t(rec["returned_at"]))
        if finished is not None and finished <= as_of:
            if finished > due:
                verdict = "late"
            elif finished.astimezone(VN).date() < due.astimezone(VN).date():
                verdict = "early"
            else:
                verdict = "on_time"
        else:
            # While a supplement is awaited the legal clock stands still at the request.
            paused = t(rec.get("supplement_pending_since"))
            clock = min(as_of, paused) if paused is not None else as_of
            verdict = "overdue_open" if due < clock else "open_not_due"
        g[verdict] += 1
        if verdict == "late":
            if rec["apology_at"] is None:
                g["late_without_apology"] += 1
            elif rec["apology_timely"]:
                g["late_with_timely_apology"] += 1
            else:
                g["late_with_late_apology"] += 1
    return out


def logged_span(records: list[dict[str, Any]], as_of: datetime) -> tuple[date, date]:
    """The local days the log covers, from its first filing to ``as_of``: the period that
    is checked, named explicitly (the current month may be a day old on the 1st)."""
    last = as_of.astimezone(VN).date()
    firsts = [datetime.fromisoformat(r["received_at"]).astimezone(VN).date() for r in records
              if r.get("received_at")]
    return min([*firsts, last]), last


async def verify(api: Api, log: Path, as_of: datetime) -> int:
    records = read_log(log)
    first, last = logged_span(records, as_of)
    want = expected(records, first, last, as_of)
    mismatches = 0
    print(f"{'unit':10} " + " ".join(f"{f[:9]:>9}" for f in FIELDS))
    for unit in sorted(want):
        r = await api.request("GET", "metrics", f"/v1/metrics/units/{unit}", params={
            "from": first.isoformat(), "to": last.isoformat(), "as_of": as_of.isoformat()})
        got = r.json()["figures"]
        diff = [f for f in FIELDS if got[f] != want[unit][f]]
        mismatches += bool(diff)
        print(f"{unit:10} " + " ".join(f"{want[unit][f]:>9}" for f in FIELDS)
              + ("   ok" if not diff else "   DIFFERS: " + ", ".join(
                  f"{f} api={got[f]} sim={want[unit][f]}" for f in diff)))
    print(f"{len(want)} units compared over {first} to {last}, {mismatches} with differences")
    return mismatches


async def until_quiet(api: Api, as_of: datetime, span: tuple[date, date] | None = None,
                      seconds: float = 1.5, timeout_s: float = 120) -> None:
    """Waits until the metrics overview, judged at a fixed time, stops changing (every event
    consumed)."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        params = {"as_of": as_of.isoformat()}
        if span is not None:
            params.update({"from": span[0].isoformat(), "to": span[1].isoformat()})
        r = await api.request("GET", "metrics", "/v1/metrics/overview", params=params)
        snapshot = r.json()["units"]
        if snapshot == last:
            return
        last = snapshot
        await asyncio.sleep(seconds)


async def main_async(args: argparse.Namespace) -> int:
    settings = ServiceSettings()
    api = Api(args.base, settings.jwt_secret, args.concurrency, patience_s=args.patience)
    rulebook = load_rulebook(str(DEFAULT_RULEBOOK))
    sim = Simulator(api, rulebook, Path(args.log), args.seed)
    try:
        if args.command == "backfill":
            await sim.backfill(args.days, args.per_day, args.concurrency)
        elif args.command == "live":
            await sim.live(args.rate, args.duration)
        elif args.command == "verify":
            as_of = datetime.now(UTC)
            await until_quiet(api, as_of, logged_span(read_log(Path(args.log)), as_of))
            return await verify(api, Path(args.log), as_of)
    finally:
        await api.http.aclose()
        if args.stats:
            stats = {**api.stats(), "dossiers_accepted": len({r.code for r in sim.records}),
                     "dossiers_with_errors": sum(1 for r in sim.records if r.errors)}
            await asyncio.to_thread(Path(args.stats).write_bytes, orjson.dumps(stats))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["backfill", "live", "verify"])
    parser.add_argument("--base", default="http://127.0.0.1:8001",
                        help="intake's URL; the others follow on the next ports")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=profile.DOSSIERS_PER_WORKING_DAY)
    parser.add_argument("--rate", type=float, default=0.5, help="live: dossiers per second")
    parser.add_argument("--duration", type=float, default=None, help="live: seconds")
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--log", default=str(DEFAULT_LOG))
    parser.add_argument("--patience", type=float, default=60.0,
                        help="seconds to keep resending a request a restart interrupted")
    parser.add_argument("--stats", default=None, help="write the run's request counts here (JSON)")
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
