"""CPU time and resident memory of the pipeline's processes, read from ``/proc`` (Linux):
each service's process tree (uvicorn's workers included), the PostgreSQL cluster's
processes and the Kafka broker, so that the bench can say where each dossier's CPU goes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    cpu_s: float  # user + system, this process only
    rss_bytes: int


def _read(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is the state (stat's 3rd field): ppid is the 4th, utime/stime the 14th/15th
    return Proc(pid, int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / TICKS,
                int(statm[1]) * PAGE)


def processes() -> dict[int, Proc]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (p := _read(int(entry.name))) is not None:
            out[p.pid] = p
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def tree(root: int, procs: Mapping[int, Proc]) -> list[Proc]:
    """``root`` and every process below it."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            found.append(procs[pid])
            todo += [p.pid for p in procs.values() if p.ppid == pid]
    return found


def snapshot(services: Mapping[str, int]) -> dict[str, tuple[float, int]]:
    """(CPU seconds so far, resident bytes now) of each service's tree, of the PostgreSQL
    cluster (every ``postgres`` process) and of the Kafka broker."""
    procs = processes()
    out = {}
    for name, pid in services.items():
        members = tree(pid, procs)
        out[name] = (sum(p.cpu_s for p in members), sum(p.rss_bytes for p in members))
    pg = [p for p in procs.values() if p.comm == "postgres" or p.comm.startswith("postgres:")]
    out["postgresql"] = (sum(p.cpu_s for p in pg), sum(p.rss_bytes for p in pg))
    kafka = [p for p in procs.values() if p.comm == "java" and "kafka.Kafka" in _cmdline(p.pid)]
    out["kafka"] = (sum(p.cpu_s for p in kafka), sum(p.rss_bytes for p in kafka))
    return out


def cost(before: Mapping[str, tuple[float, int]], after: Mapping[str, tuple[float, int]],
         dossiers: int) -> dict[str, float]:
    """CPU seconds per 1,000 dossiers, per process group, between two snapshots."""
    return {name: round((after[name][0] - before[name][0]) * 1000 / dossiers, 3)
            for name in after if name in before and dossiers}
