"""`make chaos`: faults under load, then an audit of what was lost or counted twice.

On a stack of its own (own Kafka, own PostgreSQL cluster, own ports, so nothing else is
disturbed), the province simulator drives load through the public APIs while this script
crashes, one after the other, the Kafka broker, PostgreSQL and each of the five services
with SIGKILL, brings each back, and finally restarts every service in turn with SIGTERM (a
rolling restart, which must drain). When the load is done and the pipeline is quiet it
checks, from the real stores and topics:

* every dossier the simulator got a 2xx receipt for exists, once, in every service's store;
* every event on the topics was applied, in effect once, by every consumer that takes it
  (each consumer's inbox holds every such event id; the inbox's key holds it to once);
* the metrics API's figures equal those the simulator computes from its own log;
* no outbox row is left unsent, no message went to a dead-letter topic.

Figures go to ``--results`` (JSON) and a Markdown summary beside it. Exit status 0 only if
nothing was lost, nothing counted twice, and every figure matched.

    python -m tests.chaos.chaos                      # the full run (make chaos)
    python -m tests.chaos.chaos --days 2 --per-day 12 --faults kafka,postgresql,processing
    python -m tests.chaos.chaos --long              # Kafka down 5 min, PostgreSQL 2 min

With ``--long`` the faults are outages of minutes under load: Kafka unreachable for
``--kafka-outage-s`` (300) while portals keep filing (intake accepts, its outbox grows, then
drains; /readyz answers "degraded", still ready; the DependencyDown alert fires in a real
Prometheus), then
PostgreSQL unreachable for ``--pg-outage-s`` (120): clear 503s with Retry-After, nothing
half-written (the audit at the end). Each outage's figures go to the results.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events import (
    ALL_DOSSIER_TOPICS,
    INTAKE_TOPIC,
    POSTAL_TOPIC,
    PROCESSING_TOPIC,
    from_kafka,
)
from tests.support.children import stop_child
from tests.support.kafka import committed_lag
from tests.support.national_portal import StandIn

ROOT = Path(__file__).resolve().parents[2]
VN = ZoneInfo("Asia/Ho_Chi_Minh")
SERVICES = ("intake", "processing", "postal", "feedback", "metrics", "national_portal")
FAULTS = ("kafka", "postgresql", *SERVICES, "national-portal-outage", "rolling-restart")
# `--long`: outages of minutes, under load, watched as they go (and a real Prometheus
# evaluating deploy/prometheus/alerts.yml against the services' /metrics).
LONG_FAULTS = ("kafka-outage", "postgresql-outage", "broker-disk-full")
ALL_FAULTS = (*FAULTS, *LONG_FAULTS)
HISTORY_DAYS = 120  # how far back the duplicate-replay check reads figures
STORES = {  # where each service keeps what it knows of a dossier, and the code's column
    "intake": ("intake.dossiers", "code"),
    "processing": ("processing.dossiers", "code"),
    "postal": ("postal.dossier_units", "code"),
    "feedback": ("feedback.dossiers", "code"),
    "metrics": ("metrics.facts", "dossier_code"),
    "national_portal": ("national_portal.dossiers", "code"),
}


def consumers() -> dict[str, tuple[str, tuple[str, ...], frozenset[str] | None]]:
    """consumer name -> (schema, topics, event types it takes or None for all), as the
    services' apps declare them."""
    from services.feedback.app import CONSUMED as FEEDBACK_TYPES
    from services.metrics.adapters.store import FOLDED_TYPES as METRICS_TYPES
    from services.national_portal.app import CONSUMED as NATIONAL_PORTAL_TYPES
    from services.postal.app import CONSUMED as POSTAL_TYPES
    from services.processing.app import CONSUMED_TYPES as PROCESSING_TYPES

    return {
        "intake-status": ("intake", (PROCESSING_TOPIC, POSTAL_TOPIC), None),
        "processing-workflow": ("processing", (INTAKE_TOPIC, POSTAL_TOPIC), PROCESSING_TYPES),
        "postal-shipments": ("postal", (INTAKE_TOPIC, PROCESSING_TOPIC), POSTAL_TYPES),
        "feedback-dossiers": ("feedback", (INTAKE_TOPIC, PROCESSING_TOPIC, POSTAL_TOPIC),
                              FEEDBACK_TYPES),
        "metrics-facts": ("metrics", ALL_DOSSIER_TOPICS, METRICS_TYPES),
        "national-portal-sync": ("national_portal", (INTAKE_TOPIC, PROCESSING_TOPIC, POSTAL_TOPIC),
                                 NATIONAL_PORTAL_TYPES),
    }


@dataclass
class Ports:
    kafka: int = 29192
    controller: int = 29193
    postgres: int = 25732
    service_base: int = 18900


@dataclass
class Run:
    local: Path
    ports: Ports
    env: dict[str, str] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    portal: StandIn = field(init=False)

    def __post_init__(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MOTCUA_", "INTAKE_", "PROCESSING_", "POSTAL_", "FEEDBACK_",
                                    "METRICS_", "NATIONAL_PORTAL_"))}
        env.update({
            "MOTCUA_LOCAL": str(self.local),
            "MOTCUA_KAFKA_PORT": str(self.ports.kafka),
            "MOTCUA_KAFKA_CONTROLLER_PORT": str(self.ports.controller),
            "MOTCUA_PG_PORT": str(self.ports.postgres),
            "MOTCUA_PORT_BASE": str(self.ports.service_base),
            "MOTCUA_RUN_DIR": str(self.local / "run"),
            "MOTCUA_OUTBOX_POLL_INTERVAL_S": "0.2",
            "PYTHONPATH": str(ROOT),
            # The national portal's stand-in, in this process (see Run.portal).
            "NATIONAL_PORTAL_PORTAL_URL": f"http://127.0.0.1:{self.ports.service_base + 90}",
            "NATIONAL_PORTAL_INTERVAL_S": "0.2", "NATIONAL_PORTAL_BACKOFF_BASE_S": "0.5",
            "NATIONAL_PORTAL_BACKOFF_CAP_S": "5", "NATIONAL_PORTAL_BREAKER_OPEN_S": "3",
            "NATIONAL_PORTAL_PORTAL_TIMEOUT_S": "3", "NATIONAL_PORTAL_RATE_PER_S": "200",
        })
        self.portal = StandIn(self.ports.service_base + 90)
        self.env = env

    long: dict[str, Any] = field(default_factory=dict)  # each long outage's figures
    prometheus: subprocess.Popen[bytes] | None = None

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.service_base + 95}"

    @property
    def database_url(self) -> str:
        return f"postgresql://motcua:motcua@127.0.0.1:{self.ports.postgres}/motcua"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.kafka}"

    def script(self, name: str, *args: str) -> None:
        r = subprocess.run([str(ROOT / "deploy/local" / name), *args], env=self.env,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed:\n{r.stderr[-3000:]}")

    def note(self, what: str, **extra: Any) -> None:
        entry = {"t_s": round(time.monotonic() - self.started, 1), "what": what, **extra}
        self.timeline.append(entry)
        print(f"[chaos] {entry['t_s']:7.1f}s {what}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the stack
def prepare(run: Run) -> None:
    """A fresh stack folder; the broker's jars are shared with the main local stack."""
    unmount_broker_disk(run)  # a disk an interrupted run left mounted
    if run.local.exists():
        shutil.rmtree(run.local)
    (run.local / "kafka").mkdir(parents=True)
    jars = ROOT / ".local" / "kafka" / "libs"
    if (jars / ".complete").exists():
        (run.local / "kafka" / "libs").symlink_to(jars)


def start(run: Run) -> None:
    run.portal.start()
    run.script("stack.sh", "start")
    run.script("services.sh", "start")
    run.note("stack and services up")


DISK_MB = 512  # the broker's log directory, on a filesystem of its own (broker-disk-full)


def mount_broker_disk(run: Run) -> None:
    """The broker's log directory on a small loop-mounted ext4 of this run's own, so that
    it can be filled without touching the machine's disks (root, a loop device)."""
    image, disk = run.local / "broker-disk.img", run.local / "kafka" / "disk"
    disk.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dd", "if=/dev/zero", f"of={image}", "bs=1M", f"count={DISK_MB}",
                    "status=none"], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(disk)], check=True)
    # Kafka takes every directory in its log directory for a partition: not lost+found.
    (disk / "data").mkdir()
    (run.local / "kafka" / "data").symlink_to(disk / "data")
    run.note(f"broker log directory on a {DISK_MB} MB filesystem of its own")


def unmount_broker_disk(run: Run) -> None:
    disk = run.local / "kafka" / "disk"
    if disk.exists() and subprocess.run(["mountpoint", "-q", str(disk)]).returncode == 0:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def start_prometheus(run: Run) -> None:
    """A real Prometheus (Debian's), scraping every service and evaluating the alert rules
    every 5 s, so that an outage's alerts are seen as an operator would see them."""
    targets = [f"127.0.0.1:{run.ports.service_base + i + 1}" for i in range(len(SERVICES))]
    config = run.local / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 5s, evaluation_interval: 5s}\n"
        f"rule_files: [{ROOT / 'deploy' / 'prometheus' / 'alerts.yml'}]\n"
        "scrape_configs:\n  - job_name: motcua\n    static_configs:\n"
        f"      - targets: {orjson.dumps(targets).decode()}\n")
    log = (run.local / "prometheus.log").open("ab")
    run.prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={run.local / 'prom'}",
         f"--web.listen-address=127.0.0.1:{run.ports.service_base + 95}"],
        stdout=log, stderr=log)
    run.note("prometheus up")


def stop(run: Run) -> None:
    if run.prometheus is not None:
        stop_child(run.prometheus)
    run.portal.stop()
    for name, args in (("services.sh", ("stop",)), ("stack.sh", ("stop",))):
        try:
            run.script(name, *args)
        except Exception as exc:  # leave nothing running, whatever failed
            print(f"[chaos] {name} {args}: {exc}", file=sys.stderr)
    unmount_broker_disk(run)


def inject(run: Run, fault: str, down_s: float) -> None:
    """One fault: a crash (SIGKILL), some seconds down, and the restart; or the rolling
    restart, which stops (SIGTERM, drained) and starts each service in turn."""
    if fault == "rolling-restart":
        for service in SERVICES:
            run.note(f"SIGTERM {service} (rolling restart)")
            run.script("services.sh", "restart", service)
        run.note("rolling restart done")
        return
    if fault == "national-portal-outage":
        # The national portal refuses connections, then answers 503, then comes back.
        run.note("national portal down (connections refused)")
        run.portal.stop()
        time.sleep(down_s)
        run.portal.portal.faults.mode = "503"
        run.portal.start()
        run.note("national portal answering 503")
        time.sleep(down_s)
        run.portal.portal.faults.mode = "ok"
        run.note("national portal back")
        return
    if fault in LONG_FAULTS:
        run.long[fault] = asyncio.run(outage(run, fault, down_s))
        return
    run.note(f"SIGKILL {fault}")
    if fault == "kafka":
        run.script("stack.sh", "kafka-kill")
    elif fault == "postgresql":
        run.script("stack.sh", "pg-kill")
    else:
        run.script("services.sh", "kill", fault)
    time.sleep(down_s)
    if fault == "kafka":
        run.script("stack.sh", "kafka-start")
    elif fault == "postgresql":
        run.script("stack.sh", "pg-start")
    run.script("services.sh", "start")  # brings back whatever is down, waits until ready
    run.note(f"{fault} back")


async def outage(run: Run, fault: str, seconds: float, every_s: float = 5.0) -> dict[str, Any]:
    """Stop Kafka or PostgreSQL for ``seconds`` under load, sampling what an operator sees
    (intake's /readyz, its outbox, the filings it accepts or refuses, the alerts), then bring
    it back and wait until the backlog drains."""
    import httpx

    intake = f"http://127.0.0.1:{run.ports.service_base + 1}"
    kafka = fault in ("kafka-outage", "broker-disk-full")
    conn = await asyncpg.connect(run.database_url)
    accepted_before = await conn.fetchval("SELECT count(*) FROM intake.dossiers")
    if not kafka:
        await conn.close()
    samples: list[dict[str, Any]] = []
    filing = {"unit_code": "H26.01", "procedure_code": "2.000488", "channel": "counter",
              "return_method": "counter",
              "applicant": {"full_name": "Nguyễn Văn Thử", "id_number": "031203000001"}}
    disk = fault == "broker-disk-full"
    ballast = run.local / "kafka" / "disk" / "ballast"
    async with httpx.AsyncClient(timeout=10) as http:
        run.note(f"{fault}: down for {seconds:.0f} s")
        if disk:  # fill the broker's filesystem to the last block
            await asyncio.to_thread(fill, ballast)
        else:
            await asyncio.to_thread(run.script, "stack.sh", "kafka-stop" if kafka else "pg-stop")
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            sample: dict[str, Any] = {"t_s": round(time.monotonic() - started)}
            try:
                ready = await http.get(f"{intake}/readyz")
                sample["readyz"] = ready.status_code
                body = ready.json()
                sample["readyz_status"] = body.get("status") if ready.status_code == 200 \
                    else body.get("detail")
                sample["readyz_checks"] = body.get("checks")
            except (httpx.HTTPError, ValueError) as exc:
                sample["readyz"] = type(exc).__name__
            if kafka:
                sample["outbox_pending"] = await conn.fetchval(
                    "SELECT count(*) FROM intake.outbox WHERE sent_at IS NULL")
                sample["accepted_so_far"] = await conn.fetchval(
                    "SELECT count(*) FROM intake.dossiers") - accepted_before
            else:
                try:
                    r = await http.post(f"{intake}/v1/dossiers", json=filing,
                                        headers={"X-API-Key": "desk-demo.local-demo-desk-key"})
                    sample["filing"] = r.status_code
                    sample["retry_after"] = r.headers.get("retry-after")
                    sample["problem"] = r.headers.get("content-type", "").startswith(
                        "application/problem+json")
                except httpx.HTTPError as exc:
                    sample["filing"] = type(exc).__name__
            try:
                alerts = (await http.get(f"{run.prometheus_url}/api/v1/alerts")).json()
                sample["alerts"] = sorted({f"{a['labels']['alertname']}:{a['state']}"
                                           for a in alerts["data"]["alerts"]})
            except (httpx.HTTPError, ValueError, KeyError):
                sample["alerts"] = None
            samples.append(sample)
            await asyncio.sleep(every_s)
        if disk:
            broker_alive = await asyncio.to_thread(kafka_running, run)
            ballast.unlink(missing_ok=True)
            sample_note = {"broker_alive_when_full": broker_alive}
        await asyncio.to_thread(run.script, "stack.sh", "kafka-start" if kafka else "pg-start")
        back = time.monotonic()
        run.note(f"{fault}: back")
        await asyncio.to_thread(run.script, "services.sh", "start")
        if not kafka:
            conn = await asyncpg.connect(run.database_url)
        drained_after = None
        async with asyncio.timeout(600):
            while True:
                pending = await conn.fetchval(
                    "SELECT count(*) FROM intake.outbox WHERE sent_at IS NULL")
                if pending == 0:
                    drained_after = round(time.monotonic() - back, 1)
                    break
                await asyncio.sleep(1)
        accepted = await conn.fetchval("SELECT count(*) FROM intake.dossiers") - accepted_before
        await conn.close()
    alerts_seen = sorted({a for x in samples for a in (x.get("alerts") or [])})
    summary: dict[str, Any] = {
        "seconds": seconds, "samples": len(samples),
        "readyz_seen": sorted({f"{x['readyz']} {x.get('readyz_status')}" for x in samples}),
        "alerts_seen": alerts_seen, "outbox_drained_after_s": drained_after,
        "dossiers_accepted_from_start_to_drained": accepted,
    }
    if disk:
        summary.update(sample_note)
        summary["broker_log_says"] = broker_log_tail(run)
    if kafka:
        summary["dossiers_accepted_while_down"] = max(
            (x.get("accepted_so_far", 0) for x in samples), default=0)
        summary["outbox_pending_max"] = max((x.get("outbox_pending", 0) for x in samples),
                                            default=0)
        summary["readyz_checks_while_down"] = samples[-1].get("readyz_checks") if samples else None
    else:
        filings = [x.get("filing") for x in samples]
        summary["filing_answers_while_down"] = {str(k): filings.count(k) for k in set(filings)}
        summary["every_503_had_retry_after"] = all(
            x.get("retry_after") for x in samples if x.get("filing") == 503)
        summary["every_refusal_was_problem_details"] = all(
            x.get("problem") for x in samples if isinstance(x.get("filing"), int)
            and x["filing"] >= 400)
    (run.local / f"{fault}-samples.json").write_bytes(orjson.dumps(samples,
                                                                  option=orjson.OPT_INDENT_2))
    run.note(f"{fault}: drained", **{k: v for k, v in summary.items() if k != "samples"})
    return summary


def fill(path: Path) -> None:
    """Take every free block of the filesystem ``path`` is on."""
    with path.open("wb") as f:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    subprocess.run(["sync"], check=False)


def kafka_running(run: Run) -> bool:
    pid_file = run.local / "kafka" / "kafka.pid"
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
        return True
    except (OSError, ValueError):
        return False


def broker_log_tail(run: Run) -> list[str]:
    """What the broker said about its disk (the lines naming the failure)."""
    found = []
    for log in sorted((run.local / "kafka" / "logs").glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "No space left" in line or "offline" in line.lower() or "Shutdown" in line:
                found.append(line[:300])
    return found[-6:]


# ------------------------------------------------------------------ the load
def simulator(run: Run, *args: str) -> subprocess.Popen[bytes]:
    log = (run.local / "simulator.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.demo.simulator", *args,
         "--base", f"http://127.0.0.1:{run.ports.service_base + 1}",
         "--log", str(run.local / "simulator.jsonl")],
        cwd=ROOT, env=run.env, stdout=log, stderr=log)


async def drive(run: Run, faults: list[str], *, days: int, per_day: int, concurrency: int,
                warmup_s: float, between_s: float, down_s: float,
                durations: dict[str, float] | None = None,
                patience_s: float = 180) -> dict[str, Any]:
    """Back-fill batches run one after another until every fault was injected."""
    batches: list[subprocess.Popen[bytes]] = []

    def next_batch() -> None:
        stats = run.local / f"sim-stats-{len(batches)}.json"
        batches.append(simulator(run, "backfill", "--days", str(days), "--per-day", str(per_day),
                                 "--seed", str(100 + len(batches)), "--concurrency",
                                 str(concurrency), "--patience", str(int(patience_s)),
                                 "--stats", str(stats)))
        run.note(f"load batch {len(batches)} started")

    next_batch()

    async def faulting() -> None:
        await asyncio.sleep(warmup_s)
        for fault in faults:
            await asyncio.to_thread(inject, run, fault, (durations or {}).get(fault, down_s))
            await asyncio.sleep(between_s)

    task = asyncio.create_task(faulting())
    while not task.done() or batches[-1].poll() is None:
        if batches[-1].poll() is not None and not task.done():
            next_batch()
        await asyncio.sleep(0.5)
    await task
    failed = [b.returncode for b in batches if b.returncode != 0]
    if failed:
        raise RuntimeError(f"simulator batches failed: {failed}; see {run.local}/simulator.log")
    total = load_figures(run)
    run.note("load done", **{k: total[k] for k in ("calls", "dossiers_accepted")})
    return total


def load_figures(run: Run) -> dict[str, Any]:
    """The simulator batches' request counts, added up."""
    stats_files = sorted(run.local.glob("sim-stats-*.json"))
    total: dict[str, Any] = {"batches": len(stats_files), "calls": 0, "attempts": 0,
                             "retried": {}, "dossiers_accepted": 0, "dossiers_with_errors": 0}
    for f in stats_files:
        s = orjson.loads(f.read_bytes())
        for k in ("calls", "attempts", "dossiers_accepted", "dossiers_with_errors"):
            total[k] += s[k]
        for k, v in s["retried"].items():
            total["retried"][k] = total["retried"].get(k, 0) + v
    return total


# ------------------------------------------------------------------ the audit
@dataclass(frozen=True)
class Message:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    id: str
    type: str


async def topic_events(bootstrap: str, topics: list[str]) -> dict[str, list[Message]]:
    """Every message of the topics, up to their current ends."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                              enable_auto_commit=False, client_id="chaos-audit")
    await reader.start()
    try:
        cluster = await reader._client.fetch_all_metadata()  # aiokafka has no public call for it
        parts = [TopicPartition(t, p) for t in topics for p in cluster.partitions_for_topic(t) or ()]
        reader.assign(parts)
        await reader.seek_to_beginning(*parts)
        ends = await reader.end_offsets(parts)
        out: dict[str, list[Message]] = {t: [] for t in topics}
        async def behind() -> bool:
            return any([await reader.position(tp) < ends[tp] for tp in parts])

        while await behind():
            batch = await reader.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset < ends[tp]:
                        env = from_kafka(rec.headers, rec.value)
                        out[tp.topic].append(Message(tp.topic, rec.key, rec.value,
                                                     list(rec.headers), str(env.id), env.type))
        return out
    finally:
        await reader.stop()


async def wait_quiet(run: Run, conn: asyncpg.Connection, timeout_s: float = 300) -> None:
    """Until every outbox is sent and every consumer group has caught up (twice in a row)."""
    groups = consumers()
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while quiet < 2:
        unsent = sum([await conn.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL")
                      for s in SERVICES])
        # A group with nothing to consume yet (on a holiday, no dossier may have moved on)
        # has committed nothing and is not behind.
        behind = sum([await committed_lag(run.bootstrap, name, topics=topics)
                      for name, (_schema, topics, _types) in groups.items()])
        # And the national portal has every change (none pending at the connector).
        pending = await conn.fetchval(
            "SELECT count(*) FROM national_portal.dossiers WHERE unit_code <> '' "
            "AND (version > synced_version OR steps > synced_steps) "
            "AND refused_version IS DISTINCT FROM version")
        quiet = quiet + 1 if unsent == 0 and behind == 0 and pending == 0 else 0
        if time.monotonic() > deadline:
            raise TimeoutError(f"not quiet after {timeout_s} s: {unsent} unsent, lag {behind}, "
                               f"{pending} not synced to the national portal")
        await asyncio.sleep(1.0)
    run.note("pipeline quiet")


def accepted_codes(run: Run) -> set[str]:
    codes = set()
    for line in (run.local / "simulator.jsonl").read_bytes().splitlines():
        if line.strip():
            codes.add(orjson.loads(line)["code"])
    return codes


async def audit(run: Run) -> dict[str, Any]:
    conn = await asyncpg.connect(run.database_url)
    try:
        await wait_quiet(run, conn)
        accepted = accepted_codes(run)
        intake_codes = {r["code"] for r in await conn.fetch("SELECT code FROM intake.dossiers")}
        unknown_to_client = intake_codes - accepted  # accepted, but the answer never arrived
        stores: dict[str, Any] = {}
        for service, (table, column) in STORES.items():
            codes = {r[0] for r in await conn.fetch(f"SELECT {column} FROM {table}")}
            stores[service] = {"rows": len(codes), "lost": len(accepted - codes),
                               "lost_examples": sorted(accepted - codes)[:5],
                               # a dossier intake never filed: an event applied to a phantom
                               "phantoms": len(codes - intake_codes)}

        topics = list(ALL_DOSSIER_TOPICS)
        wire = await topic_events(run.bootstrap, topics)
        effects: dict[str, Any] = {}
        declared = consumers()
        running = {r[0] for s in SERVICES
                   for r in await conn.fetch(f"SELECT DISTINCT consumer FROM {s}.inbox")}
        if running - set(declared):  # a consumer this audit does not know would go unchecked
            raise RuntimeError(f"consumers missing from chaos.consumers(): {running - set(declared)}")
        for name, (schema, its_topics, types) in declared.items():
            want = {m.id for t in its_topics for m in wire[t] if types is None or m.type in types}
            rows = await conn.fetch(f"SELECT event_id::text AS id FROM {schema}.inbox "
                                    "WHERE consumer = $1", name)
            have = [r["id"] for r in rows]
            effects[name] = {"events": len(want), "applied": len(set(have) & want),
                             "skipped": len(want - set(have))}
        messages = sum(len(v) for v in wire.values())
        distinct = len({m.id for v in wire.values() for m in v})
        metrics_types = declared["metrics-facts"][2]
        distinct_folded = len({m.id for v in wire.values() for m in v
                               if metrics_types is None or m.type in metrics_types})
        unsent = {s: await conn.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL")
                  for s in SERVICES}
        dead = {s: await conn.fetchval(f"SELECT count(*) FROM {s}.dead_letters") for s in SERVICES}
        metrics_events = await conn.fetchval("SELECT count(*) FROM metrics.dossier_events")
        sync = {r["code"]: (r["version"], r["synced_version"]) for r in await conn.fetch(
            "SELECT code, version, synced_version FROM national_portal.dossiers")}
    finally:
        await conn.close()
    verify = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "deploy.demo.simulator", "verify",
         "--base", f"http://127.0.0.1:{run.ports.service_base + 1}",
         "--log", str(run.local / "simulator.jsonl")],
        cwd=ROOT, env=run.env, capture_output=True, text=True, timeout=600)
    summary = verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr
    differing = [line for line in verify.stdout.splitlines() if "DIFFERS" in line]
    replayed = await replays(run, wire)
    portal = run.portal.portal
    at_final = {c for c in accepted if c in sync and sync[c][0] == sync[c][1]
                and (portal.latest(c) or {}).get("PhienBan") == sync[c][0]}
    return {
        "national_portal_not_at_final_version": len(accepted - at_final),
        "national_portal_not_at_final_examples": sorted(accepted - at_final)[:5],
        "national_portal_regressions": len(portal.regressions),
        "replay": replayed,
        "dossiers_accepted": len(accepted),
        "dossiers_lost": max(s["lost"] for s in stores.values()),
        "dossiers_phantom": max(s["phantoms"] for s in stores.values()),
        "dossiers_accepted_unanswered": len(unknown_to_client),
        "stores": stores,
        "messages_on_topics": messages,
        "distinct_events": distinct,
        "distinct_folded_events": distinct_folded,
        "redelivered_on_the_wire": messages - distinct,
        "metrics_event_rows": metrics_events,
        "effects": effects,
        "events_skipped": sum(e["skipped"] for e in effects.values()),
        "outbox_unsent": sum(unsent.values()),
        "dead_letters": sum(dead.values()),
        "metrics_check": summary,
        "metrics_units_differing": len(differing),
        "metrics_differences": differing[:10],
        "metrics_check_ok": verify.returncode == 0 and summary.endswith(" 0 with differences"),
    }


async def replays(run: Run, wire: dict[str, list[Message]], seed: int = 7) -> dict[str, Any]:
    """Duplicates and reordering, on this run's own events:

    1. every message is published to its topic a second time: no live figure changes;
    2. every event, twice, shuffled, in batches of random size, into a fresh metrics store:
       the same figures as the live store, for every unit."""
    from aiokafka import AIOKafkaProducer

    from services.metrics.adapters.events_in import MetricsConsumer
    from services.metrics.adapters.reader import MetricsReader
    from services.metrics.domain.figures import Period
    from shared.db import create_pool
    from shared.migrations import migrate_service
    from shared.rulebook import load_rulebook
    from shared.settings import DEFAULT_RULEBOOK

    rulebook = load_rulebook(str(DEFAULT_RULEBOOK))
    # The whole back-filled history (not the current month, nearly empty on the 1st).
    now = datetime.now(UTC)
    first = now.astimezone(VN).date() - timedelta(days=HISTORY_DAYS)
    period = Period.of(first, now.astimezone(VN).date(), now, now)
    messages = [m for v in wire.values() for m in v]
    live = await create_pool(run.database_url, "metrics", min_size=1, max_size=2)
    fresh = await create_pool(run.database_url, "metrics_replay", min_size=1, max_size=2)
    try:
        before = await MetricsReader(live, rulebook).all_units(period)
        producer = AIOKafkaProducer(bootstrap_servers=run.bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for m in messages:
                await producer.send(m.topic, m.value, key=m.key, headers=m.headers)
            await producer.flush()
        finally:
            await producer.stop()
        conn = await asyncpg.connect(run.database_url)
        try:
            await wait_quiet(run, conn)
        finally:
            await conn.close()
        after = await MetricsReader(live, rulebook).all_units(period)
        run.note(f"{len(messages)} messages published again")

        await migrate_service(fresh, "metrics_replay", ROOT / "services" / "metrics" / "sql")
        events = [from_kafka(m.headers, m.value) for m in messages] * 2
        rng = random.Random(seed)
        rng.shuffle(events)
        handler = MetricsConsumer(rulebook)
        i = 0
        while i < len(events):
            n = rng.randint(1, 64)
            async with fresh.acquire() as c, c.transaction():
                await handler(c, events[i:i + n])
            i += n
        rebuilt = await MetricsReader(fresh, rulebook).all_units(period)
        run.note(f"{len(events)} events fed shuffled to a fresh metrics store")
    finally:
        await live.close()
        await fresh.close()
    return {
        "republished_messages": len(messages),
        "units_changed_by_republishing": sorted(u for u in before if before[u] != after[u]),
        "shuffled_events_fed": len(events),
        "units_differing_in_fresh_store": sorted(u for u in after if after[u] != rebuilt[u]),
        "units_with_dossiers": sum(1 for f in after.values() if f.population),
    }


def verdict(report: dict[str, Any]) -> bool:
    a = report["audit"]
    return bool(a["dossiers_lost"] == 0 and a["dossiers_phantom"] == 0
                and a["events_skipped"] == 0 and a["outbox_unsent"] == 0
                and a["dead_letters"] == 0 and a["metrics_check_ok"]
                and a["metrics_event_rows"] == a["distinct_folded_events"]
                and not a["replay"]["units_changed_by_republishing"]
                and not a["replay"]["units_differing_in_fresh_store"]
                and a["national_portal_not_at_final_version"] == 0
                and a["national_portal_regressions"] == 0
                and all(long_outage_ok(f, o) for f, o in (report.get("long") or {}).items()))


def long_outage_ok(fault: str, o: dict[str, Any]) -> bool:
    """Kafka down: intake kept accepting, /readyz said it was degraded (still ready), the
    alert fired, the outbox drained. PostgreSQL down: /readyz 503, and every filing refused
    with a 503 problem and Retry-After."""
    if o["outbox_drained_after_s"] is None:
        return False
    if fault == "broker-disk-full":  # as a Kafka outage: nothing accepted is lost
        return bool(o["dossiers_accepted_from_start_to_drained"] > 0)
    if fault == "kafka-outage":  # ready but degraded: intake keeps filing
        return bool(o["dossiers_accepted_while_down"] > 0 and "200 degraded" in o["readyz_seen"]
                    and "DependencyDown:firing" in o["alerts_seen"])
    answers = o["filing_answers_while_down"]
    return bool(any(r.startswith("503") for r in o["readyz_seen"])
                and set(answers) == {"503"} and o["every_503_had_retry_after"]
                and o["every_refusal_was_problem_details"])


def write_results(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    a, load = report["audit"], report["load"]
    lines = [
        "# Chaos run" + (" — long outages (`make chaos CHAOS_ARGS=--long`)"
                         if report.get("long") else ""), "",
        f"{report['finished_at']}, {report['host']}; faults: {', '.join(report['faults'])}.", "",
        "| figure | value |", "|---|---|",
        f"| API requests sent (logical / attempts incl. retries) | {load['calls']} / {load['attempts']} |",
        f"| dossiers accepted with a 2xx | {a['dossiers_accepted']} |",
        f"| faults injected | {len(report['faults'])} ({report['kills']} SIGKILLs, "
        f"{report['sigterms']} SIGTERMs) |",
        f"| dossiers lost (worst store) | {a['dossiers_lost']} |",
        f"| dossiers in a store that intake never filed | {a['dossiers_phantom']} |",
        f"| accepted but the answer was lost (kept, not lost) | {a['dossiers_accepted_unanswered']} |",
        f"| messages on the topics / distinct events | {a['messages_on_topics']} / {a['distinct_events']} |",
        f"| events skipped by a consumer | {a['events_skipped']} |",
        f"| metrics' event rows / distinct events its folds read (a redelivery counted twice "
        f"would show) | {a['metrics_event_rows']} / {a['distinct_folded_events']} |",
        f"| outbox rows left unsent | {a['outbox_unsent']} |",
        f"| dead letters | {a['dead_letters']} |",
        f"| metrics vs the simulator's log | {a['metrics_check']} |",
        f"| every message published again: units whose figures changed "
        f"| {len(a['replay']['units_changed_by_republishing'])} |",
        f"| every event twice, shuffled, into a fresh metrics store: units differing "
        f"| {len(a['replay']['units_differing_in_fresh_store'])} of "
        f"{a['replay']['units_with_dossiers']} with dossiers |",
        f"| dossiers the national portal (stand-in) lacks at their final version "
        f"| {a['national_portal_not_at_final_version']} |",
        f"| national portal documents older than one it had (regressions) "
        f"| {a['national_portal_regressions']} |",
        f"| verdict | {'PASS' if report['passed'] else 'FAIL'} |", "",
        "Requests resent by the simulator, by cause: "
        + (", ".join(f"{k} ×{v}" for k, v in sorted(load["retried"].items())) or "none") + ".", "",
    ]
    for fault, o in (report.get("long") or {}).items():
        lines += [f"### {fault}: {o['seconds']:.0f} s down, under load", "",
                  "| figure | value |", "|---|---|",
                  f"| intake's /readyz answers seen | {', '.join(o['readyz_seen'])} |",
                  f"| alerts seen (name:state) | {', '.join(o['alerts_seen']) or 'none'} |",
                  f"| outbox drained after it came back | {o['outbox_drained_after_s']} s |",
                  f"| dossiers accepted from its start until drained "
                  f"| {o['dossiers_accepted_from_start_to_drained']} |"]
        if fault == "broker-disk-full":
            lines += [f"| the broker process alive with its disk full | "
                      f"{o.get('broker_alive_when_full')} |",
                      "| what the broker logged | "
                      + "<br>".join(x.replace("|", "/") for x in o.get("broker_log_says", []))
                      + " |"]
        if fault in ("kafka-outage", "broker-disk-full"):
            lines += [f"| dossiers accepted while Kafka was down | "
                      f"{o['dossiers_accepted_while_down']} |",
                      f"| outbox rows pending, at most | {o['outbox_pending_max']} |"]
        else:
            lines += [f"| filings' answers while it was down | "
                      f"{', '.join(f'{k} ×{v}' for k, v in o['filing_answers_while_down'].items())} |",
                      f"| every 503 had Retry-After | {o['every_503_had_retry_after']} |",
                      f"| every refusal was problem details | "
                      f"{o['every_refusal_was_problem_details']} |"]
        lines += ["", "Lost: the audit above (every accepted dossier in every store).", ""]
    outages = sorted(report.get("long") or {})
    section = ("standard" if not outages else "long" if {"kafka-outage", "postgresql-outage"}
               <= set(outages) else "long-" + "-".join(outages))
    write_section(path.parent / "RESULTS.md", section, "\n".join(lines))


def write_section(md: Path, name: str, text: str) -> None:
    """``text`` as the section ``name`` of ``md``, keeping the other sections (the standard
    run, the long outages, the soak each write their own)."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    old = md.read_text() if md.exists() else ""
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1].lstrip("\n")
    elif "<!-- " in old:
        new = old.rstrip() + "\n\n" + block
    else:  # a file written before sections: it was the standard run's
        new = (f"<!-- standard: begin -->\n{old.rstrip()}\n<!-- standard: end -->\n\n"
               if old.strip() and name != "standard" else "") + block
    md.write_text(new)


async def main_async(args: argparse.Namespace) -> int:
    faults = [f for f in args.faults.split(",") if f]
    if args.long:
        faults = [f for f in faults if f in LONG_FAULTS] or list(LONG_FAULTS)
    unknown = set(faults) - set(ALL_FAULTS)
    if unknown:
        raise SystemExit(f"unknown faults {sorted(unknown)}; choose from {', '.join(ALL_FAULTS)}")
    run = Run(args.local, Ports(args.kafka_port, args.kafka_port + 1, args.pg_port,
                                      args.port_base))
    if not args.audit_only:
        prepare(run)
        if "broker-disk-full" in faults:
            mount_broker_disk(run)
    try:
        if args.audit_only:  # of a run left with --keep
            load = load_figures(run)
        else:
            await asyncio.to_thread(start, run)
            if set(faults) & set(LONG_FAULTS):
                await asyncio.to_thread(start_prometheus, run)
            durations = {"kafka-outage": args.kafka_outage_s,
                         "postgresql-outage": args.pg_outage_s,
                         "broker-disk-full": args.disk_full_s}
            load = await drive(run, faults, days=args.days, per_day=args.per_day,
                               concurrency=args.concurrency, warmup_s=args.warmup,
                               between_s=args.between, down_s=args.down, durations=durations,
                               patience_s=max(180, 2 * max(durations.values())))
        result = await audit(run)
    finally:
        if not args.keep:
            await asyncio.to_thread(stop, run)
    report = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": f"{os.cpu_count()} cores",
        "faults": faults,
        "kills": sum(1 for f in faults if f not in ("rolling-restart", "national-portal-outage",
                                                    *LONG_FAULTS)),
        "sigterms": len(SERVICES) * faults.count("rolling-restart"),
        "load": load, "audit": result, "timeline": run.timeline, "long": run.long,
    }
    report["passed"] = verdict(report)
    write_results(Path(args.results), report)
    print((Path(args.results).parent / "RESULTS.md").read_text())
    return 0 if report["passed"] else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help=f"in order, comma-separated, from: {', '.join(ALL_FAULTS)}")
    parser.add_argument("--long", action="store_true",
                        help="outages of minutes: " + ", ".join(LONG_FAULTS))
    parser.add_argument("--kafka-outage-s", type=float, default=300.0)
    parser.add_argument("--pg-outage-s", type=float, default=120.0)
    parser.add_argument("--disk-full-s", type=float, default=60.0,
                        help="how long the broker's disk stays full (root and a loop device)")
    parser.add_argument("--days", type=int, default=5, choices=range(1, HISTORY_DAYS),
                        metavar="DAYS", help="days of history per load batch")
    parser.add_argument("--per-day", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds of load before faults")
    parser.add_argument("--between", type=float, default=6.0, help="seconds between faults")
    parser.add_argument("--down", type=float, default=3.0, help="seconds a crashed part stays down")
    parser.add_argument("--local", default=str(ROOT / ".local" / "chaos"))
    parser.add_argument("--kafka-port", type=int, default=29192)
    parser.add_argument("--pg-port", type=int, default=25732)
    parser.add_argument("--port-base", type=int, default=18900)
    parser.add_argument("--results", default=str(ROOT / "tests" / "chaos" / "results.json"))
    parser.add_argument("--keep", action="store_true", help="leave the stack running after")
    parser.add_argument("--audit-only", action="store_true",
                        help="only audit the stack a run left with --keep")
    args = parser.parse_args()
    args.local = Path(args.local).resolve()
    if args.long and args.results == parser.get_default("results"):
        args.results = str(Path(args.results).with_name("results-long.json"))
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
