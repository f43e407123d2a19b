"""The six real services, started as processes by deploy/local/services.sh (as `make run`
does) against a throwaway database and topic prefix on the real broker."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "processing", "postal", "feedback", "metrics", "national_portal")


def alive(pid: int) -> bool:
    """Whether the process runs; one that has exited but is not yet reaped by its new parent
    (a zombie) has stopped and counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@dataclass(frozen=True)
class Stack:
    run_dir: Path
    port_base: int
    env: dict[str, str]
    database_url: str
    topic_prefix: str

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port_base + SERVICES.index(service) + 1}"

    def pids(self) -> dict[str, int]:
        found = {}
        for s in SERVICES:
            f = self.run_dir / f"{s}.pid"
            if f.exists():
                found[s] = int(f.read_text())
        return found

    def script(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / "deploy/local/services.sh"), *command], env=self.env,
                              capture_output=True, text=True, timeout=180)


async def create_database(base_url: str) -> str:
    name = f"motcua_test_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return base_url.rsplit("/", 1)[0] + "/" + name


async def drop_database(base_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@contextmanager
def service_stack(tmp: Path, *, kafka: str, database_url: str, port_base: int,
                  extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    env = dict(os.environ)
    env.update({
        "MOTCUA_ENV": "local",
        "MOTCUA_RUN_DIR": str(tmp),
        "MOTCUA_PORT_BASE": str(port_base),
        "MOTCUA_KAFKA_BOOTSTRAP": kafka,
        "MOTCUA_DATABASE_URL": database_url,
        "MOTCUA_TOPIC_PREFIX": prefix,
        "MOTCUA_OUTBOX_POLL_INTERVAL_S": "0.2",
        "MOTCUA_PYTHON": str(ROOT / ".venv/bin/python"),
    })
    env.update(extra_env or {})
    stack = Stack(tmp, port_base, env, database_url, prefix)
    started = stack.script("start")
    try:
        if started.returncode != 0:
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in tmp.glob("*.log"))
            raise RuntimeError(f"services did not start: {started.stderr}\n{logs}")
        yield stack
    finally:
        stack.script("stop")


@asynccontextmanager
async def own_stack(tmp: Path, *, kafka: str, base_url: str, port_base: int,
                    extra_env: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    """The five services on a database of their own, dropped afterwards: for a test that
    stops services or needs settings of its own."""
    db = await create_database(base_url)
    try:
        with service_stack(tmp, kafka=kafka, database_url=db, port_base=port_base,
                           extra_env=extra_env) as stack:
            yield stack
    finally:
        await drop_database(base_url, db)
