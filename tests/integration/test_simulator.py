"""The province simulator against a stack of its own: a few back-filled working days through
the public APIs, then the figures it computes from its own log equal the metrics API's for
every unit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import JWT_SECRET, Infra
from tests.support.api import ROOT_DIR
from tests.support.stack import own_stack

pytestmark = pytest.mark.integration


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy.demo.simulator", *args], cwd=ROOT_DIR,
                          env=env, capture_output=True, text=True, timeout=600)


async def test_simulated_province_figures_equal_the_metrics_api(infra: Infra,
                                                                 tmp_path: Path) -> None:
    async with own_stack(tmp_path, kafka=infra.kafka_bootstrap, base_url=infra.database_url,
                         port_base=18400, extra_env={"MOTCUA_JWT_SECRET": JWT_SECRET}) as stack:
        log = str(tmp_path / "sim.jsonl")
        common = ["--base", stack.url("intake"), "--log", log]
        filled = await asyncio.to_thread(
            run, ["backfill", "--days", "6", "--per-day", "25", "--seed", "11", *common],
            stack.env)
        assert filled.returncode == 0, filled.stderr[-3000:]
        assert "back-filled" in filled.stderr
        checked = await asyncio.to_thread(run, ["verify", *common], stack.env)
        assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-2000:]
        summary = checked.stdout.strip().splitlines()[-1]
        assert summary.endswith("0 with differences") and int(summary.split()[0]) >= 10
