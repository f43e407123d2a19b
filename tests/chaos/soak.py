"""`make soak`: 30 minutes at a steady, realistic load on a stack of its own, watching what
grows: each service's resident memory (RSS), its open sockets and PostgreSQL connections,
and the latency of the requests officers and portals make, p99 per 5 minutes.

The province simulator files dossiers live (``--rate`` a second, desk and portal, each one
accepted and resolved a little later); beside it this script reads a dossier, a worklist,
a unit's figures and the 766 index every second, timing each answer. Not part of
`make test`. Figures go to ``tests/chaos/soak.json`` and the "soak" section of
``tests/chaos/RESULTS.md``.

    python -m tests.chaos.soak                     # 30 minutes (make soak)
    python -m tests.chaos.soak --minutes 2 --rate 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from shared.auth import mint_token
from tests.chaos.chaos import (
    ROOT,
    SERVICES,
    Ports,
    Run,
    prepare,
    simulator,
    start,
    stop,
    write_section,
)

WINDOW_S = 300


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sockets(pid: int) -> int | None:
    try:
        return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir()
                   if os.readlink(fd).startswith("socket:"))
    except OSError:
        return None


def pids(run: Run) -> dict[str, int]:
    out = {}
    for s in SERVICES:
        f = run.local / "run" / f"{s}.pid"
        if f.exists():
            out[s] = int(f.read_text().split()[0])
    return out


async def resources(run: Run, conn: asyncpg.Connection) -> dict[str, Any]:
    found = pids(run)
    pg = {r["usename"] or "?": r["n"] for r in await conn.fetch(
        "SELECT usename, count(*) AS n FROM pg_stat_activity GROUP BY usename")}
    return {"rss_kib": {s: rss_kib(p) for s, p in found.items()},
            "sockets": {s: sockets(p) for s, p in found.items()},
            "pg_connections": sum(pg.values())}


def filed_dossiers(log: Path) -> int:
    """Dossiers the simulator got a receipt for (its log has a line per change of each)."""
    if not log.exists():
        return 0
    return len({orjson.loads(line)["code"] for line in log.read_bytes().splitlines() if line})


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1)


async def probe(run: Run, minutes: float) -> dict[str, Any]:
    base = run.ports.service_base
    officer = {"Authorization": "Bearer " + mint_token(
        "local-development-only-jwt-secret-change-me", subject="soak", role="officer",
        units=["H26.01"])}
    desk = {"X-API-Key": "desk-demo.local-demo-desk-key"}
    windows: list[dict[str, Any]] = []
    errors = 0
    conn = await asyncpg.connect(run.database_url)
    try:
        start_resources = await resources(run, conn)
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=30) as http:
            receipt = (await http.post(f"http://127.0.0.1:{base + 1}/v1/dossiers", headers=desk,
                                       json={"unit_code": "H26.01", "procedure_code": "2.000488",
                                             "channel": "counter", "return_method": "counter",
                                             "applicant": {"full_name": "Lê Văn Đo",
                                                           "id_number": "031203000002"}})).json()
            reads = {
                "intake dossier": (f"http://127.0.0.1:{base + 1}/v1/dossiers/{receipt['code']}",
                                   desk),
                "processing worklist": (f"http://127.0.0.1:{base + 2}/v1/worklist?limit=50",
                                        officer),
                "metrics unit": (f"http://127.0.0.1:{base + 5}/v1/metrics/units/H26.01", {}),
                "metrics 766": (f"http://127.0.0.1:{base + 5}/v1/metrics/units/H26.01/index766",
                                {}),
            }
            while time.monotonic() - started < minutes * 60:
                index = int((time.monotonic() - started) // WINDOW_S)
                while len(windows) <= index:
                    windows.append({"from_min": len(windows) * WINDOW_S // 60,
                                    "latencies": {k: [] for k in reads}})
                for name, (url, headers) in reads.items():
                    t0 = time.perf_counter()
                    r = await http.get(url, headers=headers)
                    windows[index]["latencies"][name].append(time.perf_counter() - t0)
                    errors += r.status_code >= 400
                await asyncio.sleep(1.0)
        end_resources = await resources(run, conn)
    finally:
        await conn.close()
    return {
        "start": start_resources, "end": end_resources, "probe_errors": errors,
        "p99_ms_per_5_min": [{"from_min": w["from_min"], **{k: p99(v) for k, v in
                                                             w["latencies"].items()}}
                             for w in windows],
        "requests_per_window": [sum(len(v) for v in w["latencies"].values()) for w in windows],
    }


def markdown(report: dict[str, Any]) -> str:
    s, e = report["start"], report["end"]
    names = [k for k in report["p99_ms_per_5_min"][0] if k != "from_min"]
    lines = [f"# Soak — {report['minutes']:.0f} minutes at {report['rate']} dossiers/s "
             f"(`make soak`)", "",
             f"{report['finished_at']}, {report['host']}; dossiers filed by the simulator: "
             f"{report['dossiers_filed']}; probe errors: {report['probe_errors']}.", "",
             "| service | RSS at start (MiB) | RSS at end (MiB) | sockets start → end |",
             "|---|---|---|---|"]
    for svc in SERVICES:
        a, b = s["rss_kib"].get(svc), e["rss_kib"].get(svc)
        lines.append(f"| {svc} | {a and round(a / 1024, 1)} | {b and round(b / 1024, 1)} | "
                     f"{s['sockets'].get(svc)} → {e['sockets'].get(svc)} |")
    lines += ["", f"PostgreSQL connections: {s['pg_connections']} at start, "
              f"{e['pg_connections']} at the end.", "",
              "p99 latency per 5 minutes (ms):", "",
              "| from minute | " + " | ".join(names) + " |",
              "|---|" + "---|" * len(names)]
    for w in report["p99_ms_per_5_min"]:
        lines.append(f"| {w['from_min']} | " + " | ".join(str(v) for k, v in w.items()
                                                        if k != "from_min") + " |")
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> int:
    run = Run(args.local, Ports(args.kafka_port, args.kafka_port + 1, args.pg_port,
                                args.port_base))
    prepare(run)
    try:
        await asyncio.to_thread(start, run)
        load = simulator(run, "live", "--rate", str(args.rate),
                         "--duration", str(args.minutes * 60 + 30))
        result = await probe(run, args.minutes)
        load.terminate()
        load.wait(timeout=60)
        filed = filed_dossiers(run.local / "simulator.jsonl")
    finally:
        await asyncio.to_thread(stop, run)
    report = {"finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "host": f"{os.cpu_count()} cores", "minutes": args.minutes, "rate": args.rate,
              "dossiers_filed": filed, **result}
    save(Path(args.results), report)
    print(markdown(report))
    return 0


def save(out: Path, report: dict[str, Any]) -> None:
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    write_section(out.parent / "RESULTS.md", "soak", markdown(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=2.0, help="dossiers filed per second")
    parser.add_argument("--local", default=str(ROOT / ".local" / "soak"))
    parser.add_argument("--kafka-port", type=int, default=29292)
    parser.add_argument("--pg-port", type=int, default=25832)
    parser.add_argument("--port-base", type=int, default=19100)
    parser.add_argument("--results", default=str(ROOT / "tests" / "chaos" / "soak.json"))
    args = parser.parse_args()
    args.local = Path(args.local).resolve()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
