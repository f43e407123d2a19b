"""`make run` on a stack of its own (own folder and ports): Kafka, PostgreSQL and the five
services come up, stay up and answer /readyz; Ctrl-C (SIGINT) stops every process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid

import httpx
import pytest

from tests.conftest import ROOT
from tests.support.stack import alive

pytestmark = pytest.mark.integration


def test_make_run_stays_up_and_ctrl_c_stops_everything() -> None:
    # Every port below the kernel's ephemeral range (32768+): the suite's thousands of client
    # connections must not be able to hold one of them when this stack starts.
    local = ROOT / ".local" / f"make-run-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOTCUA_", "INTAKE_"))}
    env.update({"MOTCUA_LOCAL": str(local), "MOTCUA_KAFKA_PORT": "29092",
                "MOTCUA_KAFKA_CONTROLLER_PORT": "29093", "MOTCUA_PG_PORT": "25632",
                "MOTCUA_PORT_BASE": "18800", "MOTCUA_RUN_DIR": str(local / "run")})
    log = (ROOT / ".local" / f"{local.name}.log").open("wb")
    proc = subprocess.Popen(["make", "-s", "run"], cwd=ROOT, env=env, stdout=log, stderr=log,
                            start_new_session=True)
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 240
        text = ""
        while "is running" not in text and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1)
            text = (ROOT / ".local" / f"{local.name}.log").read_text(errors="replace")
        if "is running" not in text:
            pg_log = local / "pg" / "postgres.log"
            kafka_log = local / "kafka" / "logs" / "stdout.log"
            details = "".join(f"\n--- {f.name}\n" + f.read_text(errors="replace")[-2000:]
                              for f in (pg_log, kafka_log) if f.exists())
            raise AssertionError(text[-3000:] + details)
        time.sleep(8)  # it must stay up, not only come up
        assert proc.poll() is None, text[-3000:]
        for i, service in enumerate(("intake", "processing", "postal", "feedback", "metrics",
                                     "national_portal")):
            r = httpx.get(f"http://127.0.0.1:{18801 + i}/readyz", timeout=10)
            assert r.status_code == 200, (service, r.text)
            pids[service] = int((local / "run" / f"{service}.pid").read_text())
        pids["kafka"] = int((local / "kafka" / "kafka.pid").read_text())
        pg_pid = (local / "pg" / "data" / "postmaster.pid").read_text().split()[0]
        pids["postgres"] = int(pg_pid)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
        deadline = time.monotonic() + 30  # PostgreSQL's fast shutdown writes a checkpoint
        while time.monotonic() < deadline and any(alive(pid) for pid in pids.values()):
            time.sleep(0.5)
        assert {name: pid for name, pid in pids.items() if alive(pid)} == {}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        subprocess.run([str(ROOT / "deploy/local/stack.sh"), "stop"], env=env, check=False)
        log.close()
        shutil.rmtree(local, ignore_errors=True)
        (ROOT / ".local" / f"{local.name}.log").unlink(missing_ok=True)
