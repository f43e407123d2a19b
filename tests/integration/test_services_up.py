"""`make run`'s service start-up: five processes answering /healthz and /readyz with 200
against the real broker and database; stopping them leaves no process behind."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Infra
from tests.support.stack import SERVICES, alive, create_database, drop_database, service_stack

pytestmark = pytest.mark.integration


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_five_services_start_answer_and_stop_cleanly(infra: Infra, tmp_path: Path) -> None:
    db = await create_database(infra.database_url)
    try:
        with service_stack(tmp_path, kafka=infra.kafka_bootstrap, database_url=db,
                           port_base=18100) as stack:
            pids = stack.pids()
            assert set(pids) == set(SERVICES)
            async with httpx.AsyncClient(timeout=10) as client:
                for service in SERVICES:
                    health = await client.get(stack.url(service) + "/healthz")
                    ready = await client.get(stack.url(service) + "/readyz")
                    assert health.status_code == 200, service
                    assert ready.status_code == 200, (service, ready.text)
                    assert ready.json()["checks"] == {"postgres": "ok", "kafka": "ok"}
                    metrics = await client.get(stack.url(service) + "/metrics")
                    assert "motcua_http_requests_total" in metrics.text
                    openapi = await client.get(stack.url(service) + "/openapi.json")
                    assert openapi.json()["info"]["title"].endswith(service)
        deadline = time.monotonic() + 10  # `stop` has returned; the exit may still be reaped
        while time.monotonic() < deadline and any(alive(pid) for pid in pids.values()):
            await asyncio.sleep(0.2)
        for service, pid in pids.items():
            assert not alive(pid), service
            assert not _port_open(18100 + SERVICES.index(service) + 1)
    finally:
        await drop_database(infra.database_url, db)
