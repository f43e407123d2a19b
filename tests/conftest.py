"""Fixtures for the real components.

Where Kafka and PostgreSQL come from, in this order:
1. ``MOTCUA_TEST_KAFKA_BOOTSTRAP`` and ``MOTCUA_TEST_DATABASE_URL``, if both are set;
2. testcontainers (official Apache Kafka and PostgreSQL images) when a Docker engine answers;
3. the locally started broker and cluster of ``deploy/local/stack.sh`` (started if needed).
"""

from __future__ import annotations

import gc
import os
import subprocess
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.settings import DEFAULT_DATABASE_URL, DEFAULT_KAFKA_BOOTSTRAP

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    database_url: str
    origin: str


def _docker_answers() -> bool:
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    # docker-py leaks its socket when the engine does not answer; collect it here, where its
    # ResourceWarning is expected, rather than let the warning filter fail a later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker

            client = docker.from_env(timeout=3)
            try:
                client.ping()
                return True
            finally:
                client.close()
        except Exception:
            return False
        finally:
            gc.collect()


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    kafka = os.environ.get("MOTCUA_TEST_KAFKA_BOOTSTRAP")
    db = os.environ.get("MOTCUA_TEST_DATABASE_URL")
    if kafka and db:
        yield Infra(kafka, db, "environment")
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as k, \
                PostgresContainer("postgres:16", driver=None) as p:
            yield Infra(k.get_bootstrap_server(), p.get_connection_url(), "testcontainers")
        return
    subprocess.run([str(ROOT / "deploy/local/stack.sh"), "start"], check=True)
    yield Infra(DEFAULT_KAFKA_BOOTSTRAP, DEFAULT_DATABASE_URL, "local")


@pytest.fixture
def unique() -> str:
    """A short unique suffix for schema and topic names of one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def schema_factory(infra: Infra) -> AsyncIterator[object]:
    """Creates throwaway schemas and drops them after the test."""
    created: list[str] = []

    def make(prefix: str) -> str:
        name = f"t_{prefix}_{uuid.uuid4().hex[:8]}"
        created.append(name)
        return name

    yield make
    conn = await asyncpg.connect(infra.database_url)
    try:
        for name in created:
            await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await conn.close()


JWT_SECRET = "test-suite-jwt-secret-0123456789"


@dataclass(frozen=True)
class Standins:
    """The notification channels' far sides, on 127.0.0.1, for the whole session."""

    mailbox: Any
    sms: Any
    zalo: Any

    def env(self) -> dict[str, str]:
        from tests.support.sms_gateway import KEY
        from tests.support.zalo_oa import TEMPLATE, TOKEN

        return {"MOTCUA_SMTP_HOST": "127.0.0.1", "MOTCUA_SMTP_PORT": str(self.mailbox.port),
                "MOTCUA_SMTP_FROM": "Bộ phận Một cửa <motcua@haiphong.example.vn>",
                "MOTCUA_SMS_URL": self.sms.url, "MOTCUA_SMS_API_KEY": KEY,
                "MOTCUA_ZALO_URL": self.zalo.url, "MOTCUA_ZALO_ACCESS_TOKEN": TOKEN,
                "MOTCUA_ZALO_TEMPLATE_ID": TEMPLATE,
                # Retries in a test's time: tenths of a second to 3 s, for ten minutes.
                "MOTCUA_NOTIFY_INTERVAL_S": "0.2", "MOTCUA_NOTIFY_RETRY_BASE_S": "0.5",
                "MOTCUA_NOTIFY_RETRY_CAP_S": "3", "MOTCUA_NOTIFY_GIVE_UP_S": "600",
                "MOTCUA_NOTIFY_TIMEOUT_S": "3", "MOTCUA_NOTIFY_BATCH_SIZE": "16"}


@pytest.fixture(scope="session")
def standins() -> Iterator[Standins]:
    from tests.support.mailbox import Mailbox
    from tests.support.sms_gateway import SmsGateway
    from tests.support.zalo_oa import ZaloOA

    found = Standins(Mailbox(), SmsGateway(), ZaloOA())
    try:
        yield found
    finally:
        found.mailbox.close()
        found.sms.close()
        found.zalo.close()


@pytest.fixture(scope="session")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory,
          standins: Standins) -> Iterator[object]:
    """The five services as real processes (as `make run` starts them) on a fresh database,
    with a topic prefix of their own on the real broker; shared by the end-to-end tests."""
    import asyncio

    from tests.support.stack import create_database, drop_database, service_stack

    db = asyncio.run(create_database(infra.database_url))
    try:
        with service_stack(tmp_path_factory.mktemp("stack"), kafka=infra.kafka_bootstrap,
                           database_url=db,
                           port_base=int(os.environ.get("MOTCUA_TEST_PORT_BASE", "18200")),
                           extra_env={"MOTCUA_JWT_SECRET": JWT_SECRET,
                                      "PROCESSING_WATCHDOG_INTERVAL_S": "0.3",
                                      # Webhook retries in a test's time: tenths of a
                                      # second, and a day of them in twenty seconds.
                                      "INTAKE_WEBHOOK_INTERVAL_S": "0.2",
                                      "INTAKE_WEBHOOK_RETRY_BASE_S": "0.2",
                                      "INTAKE_WEBHOOK_RETRY_CAP_S": "1",
                                      "INTAKE_WEBHOOK_GIVE_UP_S": "20",
                                      **standins.env()}) as s:
            yield s
    finally:
        asyncio.run(drop_database(infra.database_url, db))


@pytest.fixture
async def api(stack: object, infra: Infra) -> AsyncIterator[object]:
    from tests.support.api import Api

    client = Api(stack, infra, JWT_SECRET)  # type: ignore[arg-type]
    yield client
    await client.close()
