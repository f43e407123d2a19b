"""SIGTERM is a clean stop: requests in flight get their answers, the outbox relay publishes
what was committed before the process exits, and consumers leave their offsets committed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.events import INTAKE_TOPIC
from tests.conftest import JWT_SECRET, Infra
from tests.support.api import DESK_KEY, UNIT, applicant
from tests.support.kafka import committed_lag, read_all
from tests.support.stack import Stack, alive, own_stack
from tests.support.wait import until

pytestmark = pytest.mark.integration

WORKERS = 16


async def terminate(stack: Stack, service: str) -> None:
    pid = stack.pids()[service]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while alive(pid):
        assert time.monotonic() < deadline, f"{service} did not stop within 60 s of SIGTERM"
        await asyncio.sleep(0.1)


async def test_sigterm_drains_requests_flushes_the_outbox_and_commits_offsets(
        infra: Infra, tmp_path: Path) -> None:
    async with own_stack(tmp_path, kafka=infra.kafka_bootstrap,
                         base_url=infra.database_url, port_base=18050, extra_env={
                           "MOTCUA_JWT_SECRET": JWT_SECRET,
                           # A slow relay: committed events are still waiting at SIGTERM.
                           "INTAKE_OUTBOX_POLL_INTERVAL_S": "30",
                           "INTAKE_OUTBOX_LINGER_MS": "3000"}) as stack:
        answered: list[tuple[float, float, str]] = []  # (sent, answered, code)
        errors: list[int] = []
        refused: list[Exception] = []
        sigterm_at = float("inf")

        async def filer(http: httpx.AsyncClient) -> None:
            while True:
                sent = time.monotonic()
                try:
                    r = await http.post(stack.url("intake") + "/v1/dossiers", json={
                        "unit_code": UNIT, "procedure_code": "2.000488",
                        "channel": "counter", "return_method": "counter",
                        "applicant": applicant()}, headers={
                        "X-API-Key": DESK_KEY, "Idempotency-Key": uuid.uuid4().hex})
                except httpx.TransportError as exc:
                    refused.append(exc)
                    return
                if r.status_code == 201:
                    answered.append((sent, time.monotonic(), r.json()["code"]))
                else:
                    errors.append(r.status_code)
                    return

        async with httpx.AsyncClient(timeout=60) as http:
            filers = [asyncio.create_task(filer(http)) for _ in range(WORKERS)]
            await until(lambda: asyncio.sleep(0, len(answered) >= 40), timeout_s=60)
            sigterm_at = time.monotonic()
            await terminate(stack, "intake")
            await asyncio.gather(*filers)
        codes = [code for _, _, code in answered]
        assert errors == [], "SIGTERM answered requests with errors"
        # Requests in flight when the signal came were answered, not cut off.
        assert any(sent < sigterm_at < done for sent, done, _ in answered)
        # After it, new connections are refused or closed: never a half answer.
        assert all(isinstance(e, httpx.ConnectError | httpx.RemoteProtocolError
                              | httpx.ReadError) for e in refused), refused
        conn = await asyncpg.connect(stack.database_url)
        try:
            stored = {r["code"] for r in await conn.fetch("SELECT code FROM intake.dossiers")}
            unsent = await conn.fetchval(
                "SELECT count(*) FROM intake.outbox WHERE sent_at IS NULL")
        finally:
            await conn.close()
        assert set(codes) <= stored
        assert unsent == 0, "the relay did not flush the outbox before the process exited"
        received = await read_all(infra.kafka_bootstrap, stack.topic_prefix + INTAKE_TOPIC,
                                  expect=len(stored))
        on_topic = {r.key.decode() for r in received}
        assert stored <= on_topic

        # Processing applies those events, then stops on SIGTERM with its offsets committed.
        async def applied() -> bool:
            c = await asyncpg.connect(stack.database_url)
            try:
                n = await c.fetchval("SELECT count(*) FROM processing.dossiers")
            finally:
                await c.close()
            return bool(n == len(stored))

        await until(applied, timeout_s=60)
        await terminate(stack, "processing")
        group = stack.topic_prefix + "processing-workflow"
        assert await committed_lag(infra.kafka_bootstrap, group) == 0
        for service in ("intake", "processing"):  # the lifespan ran from its end of start-up
            log = (stack.run_dir / f"{service}.log").read_text()  # to the end of its shutdown
            assert "garbage collector settled" in log
            assert "service stopped" in log
