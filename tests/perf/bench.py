"""`make bench`: the product's speed on this machine, with Kafka and PostgreSQL alongside,
and the references that bound it, in one run. Writes tests/perf/results.json and
tests/perf/RESULTS.md. Benchmarks, not tests: nothing here passes or fails on a number.

1. intake: sustained POST /v1/dossiers (wrk, fixed connections): throughput, p50/p99;
2. freshness: a dossier's POST to its effect on the metrics stream, under 500 dossiers/s;
3. metrics consume rate from a pre-filled topic (events/s);
4. `metrics rebuild` of one million events;
5. metrics API p99 with one million dossiers, beside a month-end SQL GROUP BY report;
5b. printed forms: GET .../forms/01 (a warm renderer), beside the dossier's JSON view under
   the same load, and one render's cost in-process;
6. references: Kafka's ProducerPerformance / ConsumerPerformance on the same broker, and a
   bare FastAPI endpoint under the same load generator.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import multiprocessing
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from services.metrics.adapters import store  # noqa: E402
from services.metrics.adapters.events_in import MetricsConsumer  # noqa: E402
from services.metrics.domain import tallies  # noqa: E402
from services.metrics.domain.facts import EventRecord, fold  # noqa: E402
from services.metrics.rebuild import rebuild  # noqa: E402
from services.metrics.settings import Settings as MetricsSettings  # noqa: E402
from shared import events as ev  # noqa: E402
from shared.collector import settle_after_start_up  # noqa: E402
from shared.consumer import EventConsumer  # noqa: E402
from shared.db import create_pool  # noqa: E402
from shared.kafka import ensure_topics  # noqa: E402
from shared.migrations import migrate_service  # noqa: E402
from shared.rulebook import load_rulebook  # noqa: E402
from shared.settings import DEFAULT_DATABASE_URL, DEFAULT_KAFKA_BOOTSTRAP, DEFAULT_RULEBOOK  # noqa: E402
from tests.perf import procs  # noqa: E402
from tests.support.children import stop_child  # noqa: E402
from tests.support.stack import SERVICES, create_database, drop_database, service_stack  # noqa: E402

VN = ZoneInfo("Asia/Ho_Chi_Minh")
OUT = ROOT / "tests" / "perf"
KAFKA = os.environ.get("MOTCUA_KAFKA_BOOTSTRAP", DEFAULT_KAFKA_BOOTSTRAP)
PG = os.environ.get("MOTCUA_DATABASE_URL", DEFAULT_DATABASE_URL)
RB = load_rulebook(str(DEFAULT_RULEBOOK))
METRICS = MetricsSettings()  # the consumer as the service runs it
PAIRS = [(u, p.code) for p in RB.procedures for u in p.units
         if RB.unit(u) is not None and RB.unit(u).block == "department"]  # type: ignore[union-attr]
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))  # 0.1 for a quick run
# The history sizes the metrics are measured at: dossiers for the API, events already
# stored for the consumer. The largest is what 24 GiB and the bench's 30 minutes allow.
API_SIZES = tuple(int(n * SCALE) for n in (100_000, 1_000_000, 3_000_000))
CONSUME_HISTORY = tuple(int(n * SCALE) for n in (100_000, 1_000_000, 3_000_000))
DESK_KEY = "desk-demo.local-demo-desk-key"  # counter filings come from a desk
# BENCH_ONLY=forms,intake,freshness,metrics_api,metrics_consume measures those parts alone and merges them
# into the last results.json.
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ load generator: wrk
WRK_POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "%(key)s"
local pairs = {%(pairs)s}
request = function()
  local p = pairs[math.random(#pairs)]
  local body = string.format('{"unit_code":"%%s","procedure_code":"%%s","channel":"counter",' ..
    '"applicant":{"full_name":"Nguyen Van An","id_number":"031203%%06d"}}',
    p[1], p[2], math.random(0, 999999))
  return wrk.format(nil, nil, nil, body)
end
%(done)s
"""
WRK_GET = """
%(headers)s
local paths = {%(paths)s}
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
%(done)s
"""
# The same paths, each request judged at a moment of its own (the last hour of the period's
# last day, to the microsecond): nothing kept can answer it, so it measures counting.
WRK_GET_AS_OF = """
local paths = {%(paths)s}
request = function()
  local moment = string.format("&as_of=%(day)sT23:%%02d:%%02d.%%06d%%%%2B07:00",
    math.random(0, 59), math.random(0, 59), math.random(0, 999999))
  return wrk.format("GET", paths[math.random(#paths)] .. moment)
end
%(done)s
"""
WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT {\\"requests\\":%d,\\"duration_us\\":%d,\\"p50_us\\":%d," ..
    "\\"p90_us\\":%d,\\"p99_us\\":%d,\\"max_us\\":%d,\\"non2xx\\":%d,\\"socket_errors\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def wrk(url: str, script: str, seconds: int, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s",
                          "--timeout", "10s", "-s", f.name, url],
                         capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"RESULT (\{.*\})", out.stdout)
    if not match:
        raise RuntimeError(out.stdout + out.stderr)
    r = json.loads(match.group(1))
    seconds_run = r["duration_us"] / 1e6
    return {"requests": r["requests"], "seconds": round(seconds_run, 2),
            "throughput_per_s": round(r["requests"] / seconds_run, 1),
            "p50_ms": r["p50_us"] / 1000, "p90_ms": r["p90_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "max_ms": r["max_us"] / 1000,
            "non_2xx": r["non2xx"], "socket_errors": r["socket_errors"],
            "connections": connections}


def post_script(key: str) -> str:
    pairs = ",".join(f'{{"{u}","{p}"}}' for u, p in PAIRS)
    return WRK_POST % {"key": key, "pairs": pairs, "done": WRK_DONE}


# ------------------------------------------------------------------ 1. intake, 6b. bare FastAPI
async def settled(db: str, quiet_s: float = 3.0, limit_s: float = 180.0) -> float:
    """Wait until every consumer has caught up (no inbox grows and no outbox row waits for
    ``quiet_s``); returns the seconds waited."""
    conn = await asyncpg.connect(db)
    started = time.perf_counter()
    try:
        last, same_since = None, time.perf_counter()
        while time.perf_counter() - started < limit_s:
            state = []
            for s in SERVICES:
                state.append(await conn.fetchval(f"SELECT count(*) FROM {s}.inbox"))
                state.append(await conn.fetchval(
                    f"SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL"))
            if state != last:
                last, same_since = state, time.perf_counter()
            elif time.perf_counter() - same_since >= quiet_s and not any(state[1::2]):
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return round(time.perf_counter() - started, 1)


_PG_TABLES = """SELECT schemaname AS schema, sum(n_tup_ins + n_tup_upd + n_tup_del) AS written
                FROM pg_stat_user_tables GROUP BY schemaname"""


async def pg_work(db: str) -> dict[str, Any]:
    """PostgreSQL's counters for the bench's database: transactions committed, and rows
    written per schema (inserted, updated or deleted). The counters lag a backend's commits
    by at most a second; taken after a quiet spell, they are complete."""
    conn = await asyncpg.connect(db)
    try:
        commits = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        written = {r["schema"]: int(r["written"]) for r in await conn.fetch(_PG_TABLES)}
    finally:
        await conn.close()
    return {"transactions": int(commits), "rows_written": written}


def pg_work_per_dossier(before: dict[str, Any], after: dict[str, Any],
                        dossiers: int) -> dict[str, Any]:
    n = max(dossiers, 1)
    by_schema = {s: round((w - before["rows_written"].get(s, 0)) / n, 2)
                 for s, w in after["rows_written"].items() if s in SERVICES}
    return {"transactions": round((after["transactions"] - before["transactions"]) / n, 2),
            "rows_written": round(sum(by_schema.values()), 2),
            "rows_written_by_service": dict(sorted(by_schema.items(), key=lambda kv: -kv[1]))}


async def bench_intake(stack: Any, db: str) -> dict[str, Any]:
    """Sustained filings, and what they cost: the CPU seconds each process of the pipeline
    spends per 1,000 dossiers accepted (from the filing until every consumer has applied
    them), and each one's resident memory after the load."""
    log("intake: warm-up, then 20 s of POST /v1/dossiers")
    url = stack.url("intake") + "/v1/dossiers"
    await asyncio.to_thread(wrk, url, post_script(DESK_KEY), 3, CONNECTIONS)
    await settled(db)
    idle_from = procs.snapshot(stack.pids())
    await asyncio.sleep(5)
    idle_to = procs.snapshot(stack.pids())
    pg_before = await pg_work(db)
    before = procs.snapshot(stack.pids())
    load_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = await asyncio.to_thread(wrk, url, post_script(DESK_KEY),
                                     int(20 * max(SCALE, 0.5)), CONNECTIONS)
    load_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["caught_up_after_s"] = await settled(db)
    after = procs.snapshot(stack.pids())
    accepted = result["requests"] - result["non_2xx"]
    # Where PostgreSQL's share goes. The settle loop's reads write no row, and commit about
    # twenty read-only transactions a second while it waits: a few per thousand dossiers.
    result["postgresql_per_dossier"] = pg_work_per_dossier(pg_before, await pg_work(db),
                                                           accepted)
    per_1000 = procs.cost(before, after, accepted)
    per_1000["load generator (wrk)"] = round(
        (load_after.ru_utime + load_after.ru_stime - load_before.ru_utime
         - load_before.ru_stime) * 1000 / max(accepted, 1), 3)
    result["accepted"] = accepted
    result["cpu_s_per_1000_dossiers"] = per_1000
    result["cpu_ms_per_dossier_pipeline"] = round(
        sum(v for k, v in per_1000.items() if k != "load generator (wrk)"), 3)
    result["rss_mib_after"] = {name: round(rss / 2**20, 1) for name, (_, rss) in after.items()}
    # What each process burns with no load at all (its timers, leader loops, polls), per
    # second: part of every figure above, and the same at any rate.
    result["idle_cpu_s_per_s"] = {name: round((idle_to[name][0] - idle_from[name][0]) / 5, 4)
                                  for name in idle_to}
    result["load_seconds"] = result["seconds"] + result["caught_up_after_s"]
    return result


def bench_bare_fastapi() -> dict[str, Any]:
    log("reference: a bare FastAPI endpoint with the same body and load")
    port = 18690
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.perf.bare_app:app",
                             "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            cwd=ROOT)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        wrk(f"http://127.0.0.1:{port}/v1/dossiers", post_script("x"), 2, CONNECTIONS)
        return wrk(f"http://127.0.0.1:{port}/v1/dossiers", post_script("x"), 10, CONNECTIONS)
    finally:
        stop_child(proc)


# ------------------------------------------------------------------ 2. freshness
async def bench_freshness(stack: Any, connections: int, seconds: float = 20) -> dict[str, Any]:
    """Probes on H26.114 (their own client and connection), each timed from its POST to the
    stream's message that shows it, while wrk keeps `connections` busy filing elsewhere."""
    log(f"freshness: probes on H26.114 while wrk files with {connections} connections")
    probe_client = httpx.AsyncClient(timeout=30)
    stream_client = httpx.AsyncClient(timeout=None)
    key = {"X-API-Key": DESK_KEY}
    seen: dict[int, float] = {}

    async def listen() -> None:
        async with stream_client.stream("GET", stack.url("metrics") + "/v1/metrics/stream") as r:
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "unit":
                    m = orjson.loads(line[5:])
                    if m["unit_code"] == "H26.114":
                        seen.setdefault(m["figures"]["received"], time.perf_counter())

    baseline = (await probe_client.get(stack.url("metrics") + "/v1/metrics/units/H26.114")
                ).json()["figures"]["received"]
    listener = asyncio.create_task(listen())
    await asyncio.sleep(1)
    background = asyncio.create_task(asyncio.to_thread(
        wrk, stack.url("intake") + "/v1/dossiers", post_script(DESK_KEY),
        int(seconds), connections))
    await asyncio.sleep(2)
    procedure = next(p.code for p in RB.procedures if "H26.114" in p.units)
    sent: dict[int, float] = {}
    n = baseline
    end = time.perf_counter() + seconds - 4
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        r = await probe_client.post(stack.url("intake") + "/v1/dossiers", headers=key, json={
            "unit_code": "H26.114", "procedure_code": procedure, "channel": "counter",
            "applicant": {"full_name": "Nguyen Van An", "id_number": "031203000001"}})
        if r.status_code == 201:
            n += 1
            sent[n] = t0
        await asyncio.sleep(0.5)
    load = await background
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and not all(k in seen for k in sent):
        await asyncio.sleep(0.1)
    listener.cancel()
    await probe_client.aclose()
    await stream_client.aclose()
    lat = sorted((seen[k] - sent[k]) * 1000 for k in sent if k in seen)
    return {"probes": len(sent), "observed": len(lat), "p50_ms": round(_pct(lat, 50), 1),
            "p99_ms": round(_pct(lat, 99), 1), "max_ms": round(max(lat), 1) if lat else None,
            "background_connections": connections,
            "achieved_per_s": load["throughput_per_s"], "background_p99_ms": load["p99_ms"]}


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return sorted(values)[k]


# ------------------------------------------------------------------ synthetic events
def lifecycle(code: str, unit: str, procedure: str, day: datetime, rng: random.Random
              ) -> list[ev.Envelope[Any]]:
    received = day + timedelta(minutes=rng.randrange(60, 480))
    due = received + timedelta(days=5)
    resolved = received + timedelta(days=rng.randint(1, 7), hours=rng.randint(0, 6))
    src = {"intake": ev.Envelope, "processing": ev.Envelope}
    masked = ev.MaskedApplicant(name="N. V. A.", id_number="*********123")
    out: list[ev.Envelope[Any]] = [
        src["intake"](source="intake", data=ev.DossierReceived(
            dossier_code=code, unit_code=unit, procedure_code=procedure, channel="counter",
            received_at=received, counted_from=received, due_at=due, processing_days=5,
            return_method="counter", applicant=masked, rulebook="bench")),
        ev.Envelope(source="processing", data=ev.Accepted(dossier_code=code, at=received, by="o")),
        ev.Envelope(source="processing", data=ev.Resolved(dossier_code=code, resolved_at=resolved)),
        ev.Envelope(source="processing", data=ev.ResultReturned(
            dossier_code=code, returned_at=resolved + timedelta(hours=2), method="counter")),
        ev.Envelope(source="feedback", data=ev.FeedbackSubmitted(
            dossier_code=code, unit_code=unit, rating="very_satisfied",
            at=resolved + timedelta(hours=3))),
    ]
    return out


async def produce(prefix: str, dossiers: int) -> int:
    topics = [prefix + t for t in ev.ALL_DOSSIER_TOPICS]
    await ensure_topics(KAFKA, topics, partitions=6)
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True,
                                linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    rng = random.Random(1)
    start = datetime(2026, 1, 5, tzinfo=VN)
    sent = 0
    try:
        futures = []
        for i in range(dossiers):
            unit, procedure = PAIRS[i % len(PAIRS)]
            day = start + timedelta(days=(i * 300) // dossiers)
            for env in lifecycle(f"B{prefix[:6]}-{i:07d}", unit, procedure, day, rng):
                key, value, headers = ev.to_kafka(env)
                futures.append(await producer.send(prefix + env.data.topic, value, key=key,
                                                   headers=headers))
                sent += 1
            if len(futures) >= 20000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


async def drop_topics(prefix: str) -> None:
    """Delete a measurement's topics (and their dead-letter topics) once it is done: a broker
    that keeps every earlier measurement's partitions is not the one the next measures on."""
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="bench-admin")
        await admin.start()
        try:
            ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if ours:
                await admin.delete_topics(ours)
        finally:
            await admin.close()
    except Exception as exc:  # housekeeping: never the measurement's own outcome
        log(f"topics {prefix}* not deleted: {exc!r}")


# ------------------------------------------------------------------ history
HISTORY_END = datetime(2026, 11, 26, 8, tzinfo=VN)
HISTORY_PER_DAY = 1000  # dossiers a day, province-wide; more history reaches further back


def history_dossier(i: int, rng: random.Random) -> tuple[str, list[EventRecord]]:
    """The ``i``-th dossier back from ``HISTORY_END``: received, resolved (late for one in
    seven, some with an apology), its result returned, one in three rated; the last month's
    some still open. Events as the fold reads them, folded by the real fold."""
    code = f"H-{i:08d}"
    unit, procedure = PAIRS[i % len(PAIRS)]
    received = HISTORY_END - timedelta(days=i // HISTORY_PER_DAY,
                                       minutes=rng.randrange(0, 540))
    due = received + timedelta(days=5)
    at = received.isoformat()
    events = [EventRecord(uuid.uuid4(), "dossier.received", received, {
        "dossier_code": code, "unit_code": unit, "procedure_code": procedure,
        "channel": ("counter", "online", "postal")[i % 3], "received_at": at,
        "counted_from": at, "due_at": due.isoformat(), "processing_days": 5,
        "return_method": "counter"})]
    if i < 30 * HISTORY_PER_DAY and rng.random() < 0.2:
        return code, events  # still open
    late = rng.random() < 1 / 7
    resolved = received + timedelta(days=rng.randint(6, 9) if late else rng.randint(1, 4),
                                    hours=rng.randint(0, 6))
    if late and rng.random() < 0.6:
        sorry = due - timedelta(hours=rng.randint(-4, 20))
        events.append(EventRecord(uuid.uuid4(), "dossier.apology_issued", sorry, {
            "issued_at": sorry.isoformat(), "reason": "r", "original_due_at": due.isoformat(),
            "new_due_at": (due + timedelta(days=3)).isoformat(), "timely": sorry < due}))
    events.append(EventRecord(uuid.uuid4(), "dossier.resolved", resolved, {
        "resolved_at": resolved.isoformat(), "outcome": "approved"}))
    back = resolved + timedelta(hours=2)
    events.append(EventRecord(uuid.uuid4(), "dossier.result_returned", back, {
        "returned_at": back.isoformat(), "method": "counter"}))
    if i % 3 == 0:
        rated = resolved + timedelta(hours=3)
        events.append(EventRecord(uuid.uuid4(), "feedback.submitted", rated, {
            "unit_code": unit, "rating": ("very_satisfied", "satisfied", "unsatisfied")[i % 2],
            "at": rated.isoformat(), "criteria": {"decree61": [2] * 9}}))
    return code, events


def _fill_share(db: str, schema: str, first: int, last: int, with_events: bool) -> int:
    """Fold dossiers ``[first, last)`` and COPY their facts (and events) in; their per-day
    counts are added in the same transaction. Runs in a process of its own."""
    async def run() -> int:
        conn = await asyncpg.connect(db, server_settings={"search_path": schema})
        await conn.set_type_codec("jsonb", encoder=lambda v: b"\x01" + orjson.dumps(v),
                                  decoder=lambda b: orjson.loads(b[1:]), schema="pg_catalog",
                                  format="binary")
        rng = random.Random(first)
        try:
            for start in range(first, last, 20_000):
                folded, rows = [], []
                for i in range(start, min(last, start + 20_000)):
                    code, events = history_dossier(i, rng)
                    folded.append(fold(code, events, RB))
                    if with_events:
                        rows += [(e.event_id, code, e.type, e.occurred_at, e.data)
                                 for e in events]
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "facts", columns=[*store.FACT_FIELDS, "tallied"],
                        records=[(*(getattr(f, c) for c in store.FACT_FIELDS), True)
                                 for f in folded])
                    if rows:
                        await conn.copy_records_to_table(
                            "dossier_events", records=rows,
                            columns=["event_id", "dossier_code", "type", "occurred_at", "data"])
                    await store.add_counts(conn, tallies.delta([], folded))
        finally:
            await conn.close()
        return last - first
    return asyncio.run(run())


async def fill_history(db: str, schema: str, have: int, want: int, *,
                       with_events: bool = False) -> dict[str, Any]:
    """Dossiers ``[have, want)`` of the history, in two processes; then ANALYZE."""
    if want <= have:
        return {"added": 0, "seconds": 0.0}
    t0 = time.perf_counter()
    cut = have + (want - have) // 2
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        await asyncio.gather(
            loop.run_in_executor(pool, _fill_share, db, schema, have, cut, with_events),
            loop.run_in_executor(pool, _fill_share, db, schema, cut, want, with_events))
    conn = await asyncpg.connect(db)
    try:
        # Written behind the consumer's back: say so, as a write by hand must.
        await conn.execute("SELECT pg_notify('metrics_changed', '[]')")
        await conn.execute(f"ANALYZE {schema}.facts")
        await conn.execute(f"ANALYZE {schema}.daily_counts")
        if with_events:
            await conn.execute(f"ANALYZE {schema}.dossier_events")
    finally:
        await conn.close()
    return {"added": want - have, "seconds": round(time.perf_counter() - t0, 1)}


# ------------------------------------------------------------------ 3. consume rate
def metrics_member(pool: Any, schema: str, group: str, topics: list[str]) -> EventConsumer:
    """A member of metrics' consumer group, configured as the service configures it."""
    return EventConsumer(pool=pool, schema=schema, name=group, group_id=group, bootstrap=KAFKA,
                         topics=topics, batch_handler=MetricsConsumer(RB),
                         batch_size=METRICS.consumer_batch_size,
                         event_types=MetricsConsumer.event_types, aligned=True)


async def consume_fresh(pool: Any, schema: str, events: int) -> dict[str, Any]:
    """``events`` fresh events produced to new topics, consumed by one member, as the
    service runs it."""
    prefix = f"c{uuid.uuid4().hex[:6]}."
    total = await produce(prefix, events // 5)
    topics = [prefix + t for t in ev.ALL_DOSSIER_TOPICS]
    consumer = metrics_member(pool, schema, f"bench-{prefix}", topics)
    await consumer.start()
    async with asyncio.timeout(120):  # it holds every partition
        while len(consumer.assignment()) != 6 * len(topics):
            await asyncio.sleep(0.2)
    # From the moment it holds the partitions of the full topics: the first fetches and the
    # first batch are part of consuming.
    seen, start = 0, time.perf_counter()
    try:
        while seen < total:
            seen += await consumer.poll_once(200)
        elapsed = time.perf_counter() - start
    finally:
        await consumer.stop()
        await drop_topics(prefix)
    return {"events": total, "seconds": round(elapsed, 2),
            "events_per_s": round(total / elapsed, 1) if elapsed else None}


def _replica(db: str, schema: str, topics: list[str], group: str, index: int, held: Any,
             seen: Any, stop: Any) -> None:
    """One metrics replica in a process of its own (spawned), polling as the service does
    until ``stop``: it reports how many partitions it holds and counts the records."""
    # Its group's changes go to the bench's log: a rebalance during the run shows there.
    logging.basicConfig(format=f"[replica {index}] %(asctime)s %(name)s: %(message)s",
                        level=logging.WARNING)
    logging.getLogger("aiokafka.consumer.group_coordinator").setLevel(logging.INFO)

    async def run() -> None:
        settle_after_start_up(METRICS.gc_thresholds)
        pool = await create_pool(db, schema, max_size=4)
        consumer = metrics_member(pool, schema, group, topics)
        await consumer.start()
        try:
            while not stop.is_set():
                n = await consumer.poll_once(200)
                with seen.get_lock():
                    seen.value += n
                held[index] = len(consumer.assignment())
        finally:
            await consumer.stop()
            await pool.close()
    asyncio.run(run())


async def consume_replicas(db: str, schema: str, events: int, replicas: int
                           ) -> dict[str, Any]:
    """``events`` fresh events consumed by ``replicas`` members of one group, each in a
    process of its own, as replicas of the service run. The clock starts when every member
    holds a share of the partitions and all of them are held; what was consumed before that
    (while the group formed) is left out of the rate. A group that does not form within two
    minutes is reported as such."""
    prefix = f"c{uuid.uuid4().hex[:6]}."
    total = await produce(prefix, events // 5)
    topics = [prefix + t for t in ev.ALL_DOSSIER_TOPICS]
    ctx = multiprocessing.get_context("spawn")
    held, seen, stop = ctx.Array("i", replicas), ctx.Value("q", 0), ctx.Event()
    procs_ = [ctx.Process(target=_replica, args=(db, schema, topics, f"bench-{prefix}", i,
                                                 held, seen, stop)) for i in range(replicas)]
    for proc in procs_:
        proc.start()
    out: dict[str, Any] = {"events_produced": total, "replicas": replicas}
    try:
        try:
            async with asyncio.timeout(120):
                while not (all(held[:]) and sum(held[:]) == 6 * len(topics)):
                    await asyncio.sleep(0.02)
        except TimeoutError:
            return {**out, "group_formed": False, "partitions_each": list(held[:]),
                    "events": None, "seconds": None, "events_per_s": None}
        start, before = time.perf_counter(), seen.value
        out["partitions_each"] = list(held[:])
        async with asyncio.timeout(600):
            while seen.value < total:
                await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
    finally:
        stop.set()
        for proc in procs_:
            await asyncio.to_thread(proc.join, 60)
            if proc.is_alive():
                proc.kill()
        await drop_topics(prefix)
    conn = await asyncpg.connect(db)
    try:  # a replica that could not apply its events dead-letters them: none may have
        out["dead_lettered"] = await conn.fetchval(f"SELECT count(*) FROM {schema}.dead_letters")
    finally:
        await conn.close()
    return {**out, "group_formed": True, "consumed_before_the_clock": before,
            "events": total - before, "seconds": round(elapsed, 2),
            "events_per_s": round((total - before) / elapsed, 1) if elapsed else None}


async def bench_consume(db: str, events_target: int, history_events: tuple[int, ...] = (0,),
                        replicas: int = 2) -> list[dict[str, Any]]:
    """``events_target`` fresh events consumed into a schema already holding each of
    ``history_events`` events (about three a dossier) and their facts, by one member; from
    1M stored on (at full scale), also by ``replicas`` members in processes of their own."""
    schema = f"metrics_bench_{uuid.uuid4().hex[:6]}"
    pool = await create_pool(db, schema, max_size=4)
    await migrate_service(pool, schema, ROOT / "services" / "metrics" / "sql")
    out: list[dict[str, Any]] = []
    have = 0
    try:
        for size in history_events:
            dossiers = size * 100 // 294  # 2.94 events a dossier on average (measured)
            filled = await fill_history(db, schema, have, dossiers, with_events=True)
            have = max(have, dossiers)
            stored = await pool.fetchval("SELECT count(*) FROM dossier_events")
            log(f"metrics consume: {stored} events stored; producing {events_target} more")
            run = await consume_fresh(pool, schema, events_target)
            out.append({"events_stored_before": stored, "history_fill": filled, **run})
            if replicas > 1 and size >= events_target * 10:  # scaled out, from 1M stored
                stored = await pool.fetchval("SELECT count(*) FROM dossier_events")
                log(f"metrics consume: {stored} events stored; {replicas} replicas, "
                    f"{2 * events_target} more (twice as many: the run is twice as fast)")
                run = await consume_replicas(db, schema, 2 * events_target, replicas)
                out.append({"events_stored_before": stored, **run})
    finally:
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()
    return out


# ------------------------------------------------------------------ 4. rebuild
async def bench_rebuild(db: str, events_target: int) -> dict[str, Any]:
    prefix = f"r{uuid.uuid4().hex[:6]}."
    log(f"rebuild: producing {events_target} events, then `metrics rebuild`")
    t0 = time.perf_counter()
    total = await produce(prefix, events_target // 5)
    produced_s = time.perf_counter() - t0
    settings = MetricsSettings(database_url=db, kafka_bootstrap=KAFKA, topic_prefix=prefix)
    try:
        report = await rebuild(settings)
    finally:
        await drop_topics(prefix)
    return {"events": total, "produce_seconds": round(produced_s, 1), "seconds": report.seconds,
            "events_per_s": round(total / report.seconds, 1), "dossiers": report.dossiers,
            "messages_replayed": report.messages}


# ------------------------------------------------------------------ 5. API at history sizes
MONTH_END_REPORT = """
SELECT unit_code, count(*) AS received,
       count(*) FILTER (WHERE end_kind = 'resolved') AS resolved,
       count(*) FILTER (WHERE closed_timeliness IN ('early', 'on_time')) AS on_time,
       count(*) FILTER (WHERE closed_timeliness = 'late') AS late,
       count(*) FILTER (WHERE end_at IS NULL AND effective_due_at < $2) AS overdue_open
FROM metrics.facts WHERE received_at >= $1 AND received_at < $2
GROUP BY unit_code
"""


async def bench_api(stack: Any, db: str, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """The figures and the national index of every unit for October 2026 (judged at its
    end) and for this month so far, with the history grown to each of ``sizes`` dossiers
    (back in time, at ``HISTORY_PER_DAY``: October holds the same dossiers at every size)."""
    units = [u.code for u in RB.units if u.block in ("department", "commune")]
    out = []
    conn = await asyncpg.connect(db)
    try:
        have = await conn.fetchval("SELECT count(*) FROM metrics.facts WHERE dossier_code "
                                   "LIKE 'H-%'")
    finally:
        await conn.close()
    for size in sizes:
        log(f"metrics API: history of {size} dossiers")
        filled = await fill_history(db, "metrics", have, size)
        have = max(have, size)
        conn = await asyncpg.connect(db)
        try:
            count = await conn.fetchval("SELECT count(*) FROM metrics.facts")
            timings = []
            for _ in range(7):
                t0 = time.perf_counter()
                await conn.fetch(MONTH_END_REPORT, datetime(2026, 10, 1, tzinfo=VN),
                                 datetime(2026, 11, 1, tzinfo=VN))
                timings.append((time.perf_counter() - t0) * 1000)
        finally:
            await conn.close()
        row: dict[str, Any] = {"dossiers": count, "history_fill": filled,
                               "sql_month_end_report_one_month_ms": {
                                   "median": round(statistics.median(timings), 1),
                                   "max": round(max(timings), 1)}}
        for name, query in (("api", "/v1/metrics/units/{u}?from=2026-10-01&to=2026-10-31"),
                            ("api_this_month", "/v1/metrics/units/{u}"),
                            ("index766", "/v1/metrics/units/{u}/index766"
                                         "?from=2026-10-01&to=2026-10-31")):
            paths = ",".join(f'"{query.format(u=u)}"' for u in units)
            script = WRK_GET % {"paths": paths, "done": WRK_DONE, "headers": ""}
            await asyncio.to_thread(wrk, stack.url("metrics"), script, 3, 8)
            row[name] = await asyncio.to_thread(wrk, stack.url("metrics"), script, 15, 8)
            if name == "api":  # one request at a time: the service time, with no queue
                row["api_one_connection"] = await asyncio.to_thread(
                    wrk, stack.url("metrics"), script, 10, 1)
                # Judged at a moment of its own each time: counted, never kept.
                counting = WRK_GET_AS_OF % {"paths": paths, "done": WRK_DONE,
                                            "day": "2026-10-31"}
                row["api_counted"] = await asyncio.to_thread(
                    wrk, stack.url("metrics"), counting, 15, 8)
                row["api_counted_one_connection"] = await asyncio.to_thread(
                    wrk, stack.url("metrics"), counting, 10, 1)
        out.append(row)
    return out


# ------------------------------------------------------------------ 5b. printed forms
def one_render_ms(runs: int = 60) -> dict[str, float]:
    """Form 01 built and rendered to PDF in this process: the first (cold: fonts loaded) and
    the median and worst of the warm ones."""
    from services.intake.domain import forms
    from shared.forms import render
    from tests.unit.test_forms import dossier

    d, now = dossier(), datetime(2026, 11, 2, 9, tzinfo=VN)
    names = forms.Names("Sở Tư pháp", "Cấp phiếu lý lịch tư pháp", "Hải Phòng")
    timings, size = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        size = len(render(forms.receipt(d, names, "123456", "https://dichvucong.gov.vn/x", now)))
        timings.append((time.perf_counter() - t0) * 1000)
    warm = timings[3:]
    return {"cold_ms": round(timings[0], 1), "median_ms": round(statistics.median(warm), 2),
            "max_ms": round(max(warm), 2), "pdf_bytes": size}


async def bench_forms(stack: Any, dossiers: int = 40, connections: int = 2) -> dict[str, Any]:
    log(f"forms: {dossiers} dossiers filed at the desk; wrk on GET .../forms/01, then on the "
        "dossier's JSON view")
    codes = []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(dossiers):
            unit, procedure = PAIRS[i % len(PAIRS)]
            r = await client.post(stack.url("intake") + "/v1/dossiers", headers={
                "X-API-Key": DESK_KEY}, json={
                "unit_code": unit, "procedure_code": procedure, "channel": "counter",
                "applicant": {"full_name": "Nguyễn Văn An", "id_number": f"031203{i:06d}"},
                "documents": [{"name": "Tờ khai"}, {"name": "Bản sao CCCD", "copies": 2}]})
            r.raise_for_status()
            codes.append(r.json()["code"])
        for code in codes:  # every worker's renderer warm
            (await client.get(stack.url("intake") + f"/v1/dossiers/{code}/forms/01",
                              headers={"X-API-Key": DESK_KEY})).raise_for_status()
    headers = f'wrk.headers["X-API-Key"] = "{DESK_KEY}"'
    results: dict[str, Any] = {"dossiers": dossiers, "one_render": one_render_ms()}
    for name, suffix in (("form01", "/forms/01"), ("dossier_json", "")):
        paths = ",".join(f'"/v1/dossiers/{c}{suffix}"' for c in codes)
        script = WRK_GET % {"paths": paths, "done": WRK_DONE, "headers": headers}
        wrk(stack.url("intake"), script, 2, connections)
        results[name] = wrk(stack.url("intake"), script, int(15 * max(SCALE, 0.5)), connections)
    return results


# ------------------------------------------------------------------ 6a. Kafka's own tools
def bench_kafka_reference(records: int) -> dict[str, Any]:
    tools = ROOT / ".local" / "kafka" / "tools"
    subprocess.run([str(ROOT / "deploy/local/stack.sh"), "tools-fetch"], check=True)
    topic = f"perf-ref-{uuid.uuid4().hex[:6]}"
    asyncio.run(ensure_topics(KAFKA, [topic], partitions=6, with_dlq=False))
    cp = f"{tools}/*"
    log(f"reference: Kafka ProducerPerformance, {records} records of 500 bytes, acks=all")
    prod = subprocess.run(["java", "-cp", cp, "org.apache.kafka.tools.ProducerPerformance",
                           "--topic", topic, "--num-records", str(records), "--record-size", "500",
                           "--throughput", "-1", "--producer-props", f"bootstrap.servers={KAFKA}",
                           "acks=all", "enable.idempotence=true"],
                          capture_output=True, text=True, timeout=600)
    line = [ln for ln in prod.stdout.splitlines() if "records sent" in ln][-1]
    producer_rate = float(re.search(r"([\d.]+) records/sec", line).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"([\d.]+) ms 99th", line)
    log("reference: Kafka ConsumerPerformance")
    cons = subprocess.run(["java", "-cp", cp, "org.apache.kafka.tools.ConsumerPerformance",
                           "--bootstrap-server", KAFKA, "--topic", topic, "--messages",
                           str(records), "--timeout", "60000"],
                          capture_output=True, text=True, timeout=600)
    rows = [ln for ln in cons.stdout.splitlines() if ln and ln[0].isdigit()]
    fields = rows[-1].split(",")
    consumer_rate = float(fields[5])
    return {"records": records, "record_bytes": 500,
            "producer_records_per_s": producer_rate,
            "producer_p99_ms": float(p99.group(1)) if p99 else None,
            "consumer_records_per_s": consumer_rate}


# ------------------------------------------------------------------ main
TARGETS = {"intake_throughput_per_s": 1000, "intake_p99_ms": 100, "freshness_p99_ms": 1000,
           "consume_events_per_s": 20000, "rebuild_1m_seconds": 60, "api_p99_ms": 20,
           "form01_p99_ms": 100}


async def run() -> dict[str, Any]:
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "scale": SCALE},
        "targets": TARGETS,
    }
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is required (apt-get install wrk)")
    # The collector as a service process sets it once started: the consume and rebuild
    # measurements run their members in this process.
    settle_after_start_up(METRICS.gc_thresholds)
    db = await create_database(PG)
    try:
        tmp = Path(tempfile.mkdtemp(prefix="bench-"))
        with service_stack(tmp, kafka=KAFKA, database_url=db, port_base=18600,
                           extra_env={"MOTCUA_LOG_LEVEL": "WARNING",
                                      "MOTCUA_DATABASE_POOL_MAX": "20",
                                      # Measure intake, not the per-portal limiter.
                                      "INTAKE_PORTAL_RATE_PER_S": "1000000",
                                      "INTAKE_PORTAL_BURST": "1000000",
                                      "INTAKE_WORKERS": os.environ.get("BENCH_INTAKE_WORKERS",
                                                                       "2")}) as stack:
            if ONLY:  # some parts alone, merged into the last full run's results
                if "forms" in ONLY:
                    results["forms"] = await bench_forms(stack)
                if "intake" in ONLY:
                    results["intake"] = await bench_intake(stack, db)
                if "freshness" in ONLY:
                    results["freshness"] = await bench_freshness(
                        stack, CONNECTIONS, seconds=20 * max(SCALE, 0.5))
                    results["freshness_sustainable"] = await bench_freshness(
                        stack, 2, seconds=20 * max(SCALE, 0.5))
                if "metrics_api" in ONLY:
                    results["metrics_api"] = await bench_api(stack, db, API_SIZES)
                if "metrics_consume" in ONLY:
                    results["metrics_consume"] = await bench_consume(
                        db, int(100_000 * SCALE), CONSUME_HISTORY)
                return merged_with_earlier(results)
            results["forms"] = await bench_forms(stack)
            results["intake"] = await bench_intake(stack, db)
            # As much load as intake takes (the 500/s of the target is beyond this machine),
            # then a lighter load it sustains with short queues.
            results["freshness"] = await bench_freshness(stack, CONNECTIONS,
                                                         seconds=20 * max(SCALE, 0.5))
            results["freshness_sustainable"] = await bench_freshness(
                stack, 2, seconds=20 * max(SCALE, 0.5))
            results["metrics_consume"] = await bench_consume(db, int(100_000 * SCALE),
                                                             CONSUME_HISTORY)
            results["rebuild"] = await bench_rebuild(db, int(1_000_000 * SCALE))
            results["metrics_api"] = await bench_api(stack, db, API_SIZES)
        results["bare_fastapi"] = await asyncio.to_thread(bench_bare_fastapi)
        results["kafka_reference"] = await asyncio.to_thread(bench_kafka_reference,
                                                             int(200_000 * SCALE))
    finally:
        await drop_database(PG, db)
    api, consume = results["metrics_api"], one_member(results["metrics_consume"])
    results["ratios"] = {
        "intake_vs_bare_fastapi": round(results["intake"]["throughput_per_s"]
                                        / results["bare_fastapi"]["throughput_per_s"], 3),
        "metrics_consume_vs_kafka_consumer": round(
            consume[1]["events_per_s"] / results["kafka_reference"]["consumer_records_per_s"], 3),
        "metrics_consume_largest_vs_smallest_history": round(
            consume[-1]["events_per_s"] / consume[0]["events_per_s"], 3),
        **replica_ratios(results["metrics_consume"]),
        "rebuild_vs_kafka_consumer": round(
            results["rebuild"]["events_per_s"]
            / results["kafka_reference"]["consumer_records_per_s"], 3),
        "intake_vs_kafka_producer": round(
            results["intake"]["throughput_per_s"]
            / results["kafka_reference"]["producer_records_per_s"], 4),
        "form01_p99_vs_dossier_json_p99": round(
            results["forms"]["form01"]["p99_ms"] / results["forms"]["dossier_json"]["p99_ms"], 3),
        **api_ratios(api),
    }
    return results


def api_ratios(api: list[dict[str, Any]]) -> dict[str, float]:
    """At the middle history size (1M dossiers at full scale), and the largest against it."""
    mid = api[1]
    return {
        "index766_p99_vs_figures_p99": round(mid["index766"]["p99_ms"] / mid["api"]["p99_ms"], 3),
        "api_p99_vs_sql_month_end_report": round(
            mid["api"]["p99_ms"] / mid["sql_month_end_report_one_month_ms"]["median"], 3),
        "api_p99_largest_vs_1m_history": round(api[-1]["api"]["p99_ms"] / mid["api"]["p99_ms"],
                                               3),
    }


def one_member(consume: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The consume runs of one member, by history size (the replicas' run left out)."""
    return [c for c in consume if "replicas" not in c]


def replica_ratios(consume: list[dict[str, Any]]) -> dict[str, float]:
    """Each replicas' rate against one member's just before it, on the same history."""
    return {f"metrics_consume_{c['replicas']}_replicas_vs_one_at_{alone['events_stored_before']}"
            "_stored": round(c["events_per_s"] / alone["events_per_s"], 3)
            for alone, c in itertools.pairwise(consume)
            if "replicas" in c and "replicas" not in alone and c["events_per_s"]}


def merged_with_earlier(results: dict[str, Any]) -> dict[str, Any]:
    """``BENCH_ONLY=forms,metrics_api``: this run's parts into the last full run's results,
    each part with the time it was measured, and the ratios that depend on it again."""
    earlier = json.loads((OUT / "results.json").read_text()) if (OUT / "results.json").exists() \
        else {}
    ratios = earlier.setdefault("ratios", {})
    measured = earlier.setdefault("measured_alone", {})
    if "forms" in results:
        earlier["forms"] = results["forms"]
        ratios["form01_p99_vs_dossier_json_p99"] = round(
            results["forms"]["form01"]["p99_ms"] / results["forms"]["dossier_json"]["p99_ms"], 3)
        measured["forms"] = results["when"]
    if "intake" in results:
        earlier["intake"] = results["intake"]
        if "bare_fastapi" in earlier:
            ratios["intake_vs_bare_fastapi"] = round(
                results["intake"]["throughput_per_s"]
                / earlier["bare_fastapi"]["throughput_per_s"], 3)
        measured["intake"] = results["when"]
    for part in ("freshness", "freshness_sustainable"):
        if part in results:
            earlier[part] = results[part]
            measured[part] = results["when"]
    if "metrics_api" in results:
        earlier["metrics_api"] = results["metrics_api"]
        ratios.update(api_ratios(results["metrics_api"]))
        measured["metrics_api"] = results["when"]
    if "metrics_consume" in results:
        earlier["metrics_consume"] = results["metrics_consume"]
        consume = one_member(results["metrics_consume"])
        ratios.update(replica_ratios(results["metrics_consume"]))
        ratios["metrics_consume_largest_vs_smallest_history"] = round(
            consume[-1]["events_per_s"] / consume[0]["events_per_s"], 3)
        if "kafka_reference" in earlier:
            ratios["metrics_consume_vs_kafka_consumer"] = round(
                consume[1]["events_per_s"]
                / earlier["kafka_reference"]["consumer_records_per_s"], 3)
        measured["metrics_consume"] = results["when"]
    earlier.pop("forms_measured", None)
    return earlier


def main() -> None:
    results = asyncio.run(run())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    log(f"wrote {OUT / 'results.json'}")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
