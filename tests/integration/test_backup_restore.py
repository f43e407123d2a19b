"""The restore drill (docs/operations.md): on a PostgreSQL cluster of its own (with WAL
archiving, as `deploy/local/stack.sh` makes them) and the six services, file and process
dossiers, take a backup (`deploy/local/backup.sh backup`), file and process more, lose the
database (the postmaster killed, its data directory deleted), restore
(`deploy/local/backup.sh restore`: the base backup, the archived WAL replayed, the consumer
offsets put back), start the services again and let the consumers catch up from Kafka.

Every dossier accepted before and after the backup is back, in intake and processing, with
its status; the figures equal the drill's own log; nothing is counted twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.clock import VN
from tests.conftest import JWT_SECRET, Infra
from tests.support.api import IMPORTER_KEY, ROOT_DIR, UNIT, Api
from tests.support.stack import service_stack
from tests.support.wait import until

pytestmark = pytest.mark.integration
PG_PORT = 25632
PORT_BASE = 18960
STACK = str(Path(ROOT_DIR) / "deploy/local/stack.sh")
BACKUP = str(Path(ROOT_DIR) / "deploy/local/backup.sh")


@pytest.fixture
def drill_dir() -> Iterator[Path]:
    """Outside pytest's own (private) tmp tree: the cluster runs as the postgres user."""
    found = Path(tempfile.mkdtemp(prefix="motcua-drill-"))
    found.chmod(0o755)
    yield found
    shutil.rmtree(found, ignore_errors=True)


def run(*command: str, env: dict[str, str]) -> str:
    done = subprocess.run(list(command), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


async def file_and_resolve(api: Api, n: int, resolve: int) -> list[str]:
    codes = []
    for _ in range(n):
        r = await api.file()
        assert r.status_code == 201, r.text
        codes.append(r.json()["code"])
    for code in codes[:resolve]:
        await api.processing_view(code, timeout_s=60)
        assert (await api.act(code, "accept")).status_code == 200
        assert (await api.act(code, "resolve")).status_code == 200
    return codes


def stop_cluster(env: dict[str, str]) -> None:
    subprocess.run([STACK, "pg-stop"], env=env, capture_output=True, timeout=120)


def period() -> dict[str, str]:
    today = datetime.now(VN).date()
    return {"from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat()}


async def figures(api: Api) -> dict[str, Any]:
    r = await api.http.get(api.url("metrics", f"/v1/metrics/units/{UNIT}"), params=period())
    assert r.status_code == 200, r.text
    return dict(r.json()["figures"])


async def settled(api: Api, received: int, resolved: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await figures(api)
        return found if (found["received"], found["resolved"]) == (received, resolved) else None
    return await until(check, timeout_s=90, every_s=0.5)


async def test_backup_lose_the_database_restore_and_catch_up(infra: Infra,
                                                             drill_dir: Path) -> None:
    database_url = f"postgresql://motcua:motcua@127.0.0.1:{PG_PORT}/motcua"
    prefix = f"t{uuid.uuid4().hex[:8]}."
    env = {**os.environ, "MOTCUA_LOCAL": str(drill_dir / "local"),
           "MOTCUA_PG_PORT": str(PG_PORT), "MOTCUA_PG_ARCHIVE_TIMEOUT_S": "5",
           "MOTCUA_KAFKA_BOOTSTRAP": infra.kafka_bootstrap, "MOTCUA_DATABASE_URL": database_url,
           "MOTCUA_TOPIC_PREFIX": prefix, "MOTCUA_ENV": "local"}
    services = {"MOTCUA_TOPIC_PREFIX": prefix, "MOTCUA_JWT_SECRET": JWT_SECRET}
    run(STACK, "pg-start", env=env)
    try:
        with service_stack(drill_dir / "run1", kafka=infra.kafka_bootstrap,
                           database_url=database_url, port_base=PORT_BASE,
                           extra_env=services) as stack:
            api = Api(stack, infra, JWT_SECRET)
            try:
                before = await file_and_resolve(api, 8, resolve=4)
                await settled(api, 8, 4)
                backup = run(BACKUP, "backup", str(drill_dir / "backup"), env=env).strip()
                after = await file_and_resolve(api, 6, resolve=3)
                # Two dossiers of before the backup resolved after it.
                for code in before[4:6]:
                    assert (await api.act(code, "accept")).status_code == 200
                    assert (await api.act(code, "resolve")).status_code == 200
                expected = await settled(api, 14, 9)
                statuses = {c: (await api.intake_view(c))["status"] for c in before + after}
            finally:
                await api.close()
        # Every write is in an archived WAL segment before the database is lost (an orderly
        # drill; a crash risks at most archive_timeout of writes: docs/operations.md).
        conn = await asyncpg.connect(database_url)
        try:
            segment = await conn.fetchval("SELECT pg_walfile_name(pg_switch_wal())")
            async def archived() -> bool:
                last = await conn.fetchval("SELECT last_archived_wal FROM pg_stat_archiver")
                return last is not None and last >= segment
            await until(archived, timeout_s=60, every_s=0.5)
        finally:
            await conn.close()

        # The database is lost.
        run(STACK, "pg-kill", env=env)
        shutil.rmtree(drill_dir / "local" / "pg" / "data")
        restored = run(BACKUP, "restore", backup, env=env)
        assert "reset" in restored

        with service_stack(drill_dir / "run2", kafka=infra.kafka_bootstrap,
                           database_url=database_url, port_base=PORT_BASE,
                           extra_env=services) as stack:
            api = Api(stack, infra, JWT_SECRET)
            try:
                got = await settled(api, 14, 9)
                assert got == expected, "the figures after the restore are those before"
                back = {}
                for code in before + after:
                    r = await api.http.get(api.url("intake", f"/v1/dossiers/{code}"),
                                           headers={"X-API-Key": IMPORTER_KEY})
                    if r.status_code == 200:
                        back[code] = r.json()["status"]
                assert back == statuses, "every dossier is back, with its status"
                for code in before + after:
                    assert (await api.processing_view(code))["code"] == code
                db = await asyncpg.connect(database_url)
                try:
                    facts = await db.fetchval(
                        "SELECT count(*) FROM metrics.facts WHERE dossier_code = ANY($1)",
                        before + after)
                    twice = await db.fetchval(
                        """SELECT count(*) FROM (SELECT event_id FROM metrics.dossier_events
                           GROUP BY event_id HAVING count(*) > 1) d""")
                finally:
                    await db.close()
                lost = len([c for c in before + after if c not in back])
                print(f"\nrestore drill: {len(before)} dossiers before the backup, {len(after)} "
                      f"after it; back: {len(back)}; lost {lost}; double-counted {twice}; "
                      f"figures received {got['received']}, resolved {got['resolved']}")
                assert facts == 14 and twice == 0 and lost == 0
            finally:
                await api.close()
    finally:
        stop_cluster(env)
