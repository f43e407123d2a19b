"""Portal API keys (docs/security.md): stored as SHA-256 digests only, added, rotated and
revoked with ``python -m services.intake.cli``, on a stack of its own whose intake trusts a
key look-up for one second (``INTAKE_PORTAL_KEY_CACHE_S``), so that a revoked key is refused
within that.

Rotation without downtime: ``add-key`` (the old and the new key both work), then
``revoke <portal> --keep <new key>``; ``rotate`` adds a key and revokes the others at once."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import JWT_SECRET, Infra
from tests.support.api import DESK_KEY, IMPORTER_KEY, PORTAL_KEY, ROOT_DIR, Api
from tests.support.stack import Stack, own_stack

pytestmark = pytest.mark.integration

OWN_PORT_BASE = 18500
CACHE_S = 1.0


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def cli(stack: Stack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.intake.cli", *args], cwd=ROOT_DIR,
                          env=stack.env, input=stdin, capture_output=True, text=True, timeout=120)


async def run_cli(stack: Stack, *args: str, stdin: str | None = None) -> str:
    done = await asyncio.to_thread(cli, stack, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


async def new_key(stack: Stack, *args: str) -> str:
    out = await run_cli(stack, *args)
    key = out.strip().splitlines()[-1]
    portal = args[1]
    assert key.startswith(portal + ".") and len(key) >= len(portal) + 40, out
    return key


async def everything_stored(conn: asyncpg.Connection, stack: Stack) -> str:
    """Every row of every table of every schema, and the services' logs, as one text."""
    tables = await conn.fetch(
        """SELECT table_schema, table_name FROM information_schema.tables
           WHERE table_type = 'BASE TABLE'
             AND table_schema NOT IN ('pg_catalog', 'information_schema')""")
    assert {t["table_schema"] for t in tables} >= {"intake", "processing", "postal", "feedback",
                                                   "metrics"}
    parts: list[str] = []
    for t in tables:
        for row in await conn.fetch(f'SELECT * FROM "{t["table_schema"]}"."{t["table_name"]}"'):
            parts.extend(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                         for v in row.values())
    parts.extend(p.read_text(encoding="utf-8", errors="replace")
                 for p in stack.run_dir.glob("*.log"))
    return "\n".join(parts)


async def assert_hashed_only(conn: asyncpg.Connection, stack: Stack, keys: list[str]) -> None:
    stored = await everything_stored(conn, stack)
    hashes = {r["key_hash"] for r in await conn.fetch("SELECT key_hash FROM intake.portal_keys")}
    for key in keys:
        secret = key.split(".", 1)[1]
        assert secret not in stored, f"the secret of {key.split('.')[0]} is stored or logged"
        assert digest(key) in hashes


class Portal:
    """Calls intake with one key: a look-up of a dossier the key's portal filed, which needs
    a valid key (a portal sees only its own dossiers)."""

    def __init__(self, api: Api, code: str) -> None:
        self.api = api
        self.code = code
        self.codes = {PORTAL_KEY.split(".", 1)[0]: code}  # portal id -> a dossier it filed

    async def status(self, key: str) -> int:
        code = self.codes[key.split(".", 1)[0]]
        r = await self.api.http.get(self.api.url("intake", f"/v1/dossiers/{code}"),
                                    headers={"X-API-Key": key})
        assert r.status_code in (200, 401), r.text
        if r.status_code == 401:
            assert r.headers["content-type"] == "application/problem+json"
            assert r.headers["www-authenticate"] == "ApiKey"
        return r.status_code

    async def refused_within(self, key: str, limit_s: float) -> float:
        """Seconds until the key is refused (polling), at most ``limit_s``."""
        start = time.monotonic()
        while await self.status(key) != 401:
            assert time.monotonic() - start < limit_s, "a revoked key is still accepted"
            await asyncio.sleep(0.05)
        return time.monotonic() - start


async def test_portal_keys_are_hashed_and_rotate_with_the_cli(infra: Infra, tmp_path: Path) -> None:
    async with own_stack(tmp_path, kafka=infra.kafka_bootstrap, base_url=infra.database_url,
                         port_base=OWN_PORT_BASE,
                         extra_env={"MOTCUA_JWT_SECRET": JWT_SECRET,
                                    "INTAKE_PORTAL_KEY_CACHE_S": str(CACHE_S)}) as stack:
        api = Api(stack, infra, JWT_SECRET)
        conn = await asyncpg.connect(stack.database_url)
        try:
            await _scenario(api, stack, conn)
        finally:
            await conn.close()
            await api.close()


async def _scenario(api: Api, stack: Stack, conn: asyncpg.Connection) -> None:
    # The table holds digests, never keys.
    columns = {r["column_name"] for r in await conn.fetch(
        """SELECT column_name FROM information_schema.columns
           WHERE table_schema = 'intake' AND table_name = 'portal_keys'""")}
    assert columns == {"key_hash", "portal_id", "created_at", "revoked_at", "bootstrap"}
    filed = await api.file(channel="online")
    assert filed.status_code == 201, filed.text
    portal = Portal(api, filed.json()["code"])
    await assert_hashed_only(conn, stack, [PORTAL_KEY, IMPORTER_KEY, DESK_KEY])

    # A new portal key works at once, and only its digest is stored.
    first = await new_key(stack, "add-key", "dvc-rot", "--name", "Cổng DVC thử nghiệm")
    r = await api.file(key=first, channel="online")
    assert r.status_code == 201, r.text
    assert await conn.fetchval("SELECT portal_id FROM intake.dossiers WHERE code = $1",
                               r.json()["code"]) == "dvc-rot"
    portal.codes["dvc-rot"] = r.json()["code"]
    assert await conn.fetchval("SELECT role FROM intake.portals WHERE id = 'dvc-rot'") == "portal"

    # Rotation without downtime: a second key, both work ...
    second = await new_key(stack, "add-key", "dvc-rot")
    assert [await portal.status(first), await portal.status(second)] == [200, 200]
    # ... a mistyped --keep revokes nothing ...
    typo = await asyncio.to_thread(cli, stack, "revoke", "dvc-rot", "--keep", second + "x")
    assert typo.returncode != 0 and "nothing revoked" in typo.stderr
    assert await conn.fetchval("""SELECT count(*) FROM intake.portal_keys
                                  WHERE portal_id = 'dvc-rot' AND revoked_at IS NULL""") == 2
    # ... then the old one is revoked (the key read from stdin, not the command line).
    assert await portal.status(first) == 200  # cached now in intake
    out = await run_cli(stack, "revoke", "dvc-rot", "--keep", "-", stdin=second + "\n")
    assert "revoked 1 key(s)" in out
    await portal.refused_within(first, CACHE_S + 2)
    assert await portal.status(second) == 200
    assert await portal.status(PORTAL_KEY) == 200  # another portal is not affected

    # A revoked key is answered exactly as an unknown one: nothing tells them apart.
    url = api.url("intake", f"/v1/dossiers/{portal.code}")
    revoked = await api.http.get(url, headers={"X-API-Key": first})
    unknown = await api.http.get(url, headers={"X-API-Key": "dvc-rot.never-issued"})
    assert (revoked.status_code, revoked.json()) == (unknown.status_code, unknown.json())
    assert (await api.file(key=first)).status_code == 401

    # `rotate`: a new key, every other key of the portal revoked at once.
    assert await portal.status(second) == 200
    out = await run_cli(stack, "rotate", "dvc-rot")
    assert "revoked 1 older key(s)" in out
    third = out.strip().splitlines()[-1]
    assert third.startswith("dvc-rot.") and third not in (first, second)
    assert await portal.status(third) == 200
    await portal.refused_within(second, CACHE_S + 2)
    assert await portal.status(first) == 401

    # `revoke` without --keep: the portal is shut out.
    assert "revoked 1 key(s)" in await run_cli(stack, "revoke", "dvc-rot")
    await portal.refused_within(third, CACHE_S + 2)
    assert await portal.status(PORTAL_KEY) == 200
    rows: list[Any] = await conn.fetch(
        "SELECT key_hash, revoked_at FROM intake.portal_keys WHERE portal_id = 'dvc-rot'")
    assert {r["key_hash"] for r in rows} == {digest(k) for k in (first, second, third)}
    assert all(r["revoked_at"] is not None for r in rows)

    # Each key change, the refused one too, is in intake's audit trail, by the OS user.
    audited = await conn.fetch("""SELECT actor, actor_role, action, outcome, detail, source
                                  FROM intake.audit_log WHERE subject = 'dvc-rot' ORDER BY seq""")
    assert [(r["actor_role"], r["action"], r["outcome"]) for r in audited] == [
        ("cli", "key:add", "ok"), ("cli", "key:add", "ok"),
        ("cli", "key:revoke", "refused:not-a-live-key"), ("cli", "key:revoke", "ok"),
        ("cli", "key:rotate", "ok"), ("cli", "key:revoke", "ok")]
    assert audited[0]["actor"] == getpass.getuser() and audited[0]["source"].startswith("cli@")
    assert audited[4]["detail"] == "role=portal revoked=1"

    # An importer key from the CLI may back-date a filing; a portal key may not.
    importer = await new_key(stack, "add-key", "legacy-2", "--role", "importer")
    earlier = "2026-03-02T09:00:00+07:00"
    assert (await api.file(key=importer, received_at=earlier)).status_code == 201
    assert (await api.file(received_at=earlier)).status_code == 403

    # After all this, no key is stored or logged anywhere in plain text.
    await assert_hashed_only(conn, stack, [PORTAL_KEY, IMPORTER_KEY, DESK_KEY, first, second,
                                           third, importer])

    # The start-up keys come from INTAKE_PORTAL_KEYS: a start whose setting no longer lists
    # them revokes them (the demo keys stop working), and keys made with the CLI stay.
    portal.codes["legacy-2"] = (await api.file(key=importer, channel="online")).json()["code"]
    assert await portal.status(PORTAL_KEY) == 200
    restarted = await asyncio.to_thread(
        subprocess.run, [str(Path(ROOT_DIR) / "deploy/local/services.sh"), "restart", "intake"],
        env={**stack.env, "INTAKE_PORTAL_KEYS": ""}, capture_output=True, text=True, timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    for key in (PORTAL_KEY, IMPORTER_KEY, DESK_KEY):
        assert await conn.fetchval("""SELECT revoked_at IS NOT NULL FROM intake.portal_keys
                                      WHERE key_hash = $1""", digest(key)), key
    assert await portal.status(PORTAL_KEY) == 401
    assert await portal.status(importer) == 200
