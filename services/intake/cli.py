"""Portal API keys: ``python -m services.intake.cli add-key <portal> [--role importer]`` prints
a new key once (only its hash is stored); ``rotate <portal>`` adds a new key and revokes the
others at once; ``revoke <portal>`` revokes every key of the portal, or with ``--keep KEY``
(``-``: read from stdin) every key but that one.

Rotation without downtime: ``add-key``, give the new key to the portal (both keys work
meanwhile), then ``revoke <portal> --keep <new key>``. A revoked key may still be accepted
for up to ``INTAKE_PORTAL_KEY_CACHE_S`` (30 s) by a replica that looked it up just before.

Every change (and a refused ``--keep``) is recorded in intake's audit trail, in the same
transaction, with ``--by`` (default: the OS user) as the actor (shared/audit.py)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from services.intake.adapters.repository import add_portal_key, has_live_key, revoke_portal_keys
from services.intake.settings import Settings
from shared.audit import Entry, append
from shared.auth import generate_api_key
from shared.clock import SYSTEM_CLOCK
from shared.db import create_pool
from shared.migrations import migrate_service
from shared.portal_keys import CLIENT_ROLES

KEY_ACTIONS = {"add-key": "key:add", "rotate": "key:rotate", "revoke": "key:revoke"}


def _entry(args: argparse.Namespace, outcome: str, detail: str) -> Entry:
    """The audit record of a key change: who ran the command (``--by``, else the OS user),
    on which machine, about which portal."""
    return Entry(args.by or getpass.getuser(), "cli", KEY_ACTIONS[args.command], args.portal,
                 f"cli@{socket.gethostname()}", outcome, detail)


async def _change(conn: asyncpg.Connection, args: argparse.Namespace) -> None:
    """The key change and its audit record, in one transaction."""
    at = SYSTEM_CLOCK.now()
    if args.command in ("add-key", "rotate"):
        key = generate_api_key(args.portal)
        async with conn.transaction():
            await add_portal_key(conn, args.portal, args.role, key, args.name)
            n = await revoke_portal_keys(conn, args.portal, keep_key=key) \
                if args.command == "rotate" else 0
            await append(conn, [_entry(args, "ok", f"role={args.role} revoked={n}")], at)
        if args.command == "rotate":
            print(f"# revoked {n} older key(s) of {args.portal}")
        print(key)
        return
    keep = sys.stdin.readline().strip() if args.keep == "-" else args.keep
    if keep is not None and not await has_live_key(conn, args.portal, keep):
        # A mistyped key would otherwise revoke every key the portal has.
        await append(conn, [_entry(args, "refused:not-a-live-key", "revoked=0")], at)
        raise SystemExit(f"--keep: not a valid key of portal {args.portal}; nothing revoked")
    async with conn.transaction():
        n = await revoke_portal_keys(conn, args.portal, keep_key=keep)
        await append(conn, [_entry(args, "ok", f"revoked={n} kept={'yes' if keep else 'no'}")],
                     at)
    print(f"# revoked {n} key(s) of {args.portal}")


async def _run(args: argparse.Namespace) -> None:
    settings = Settings()
    pool = await create_pool(settings.database_url, settings.db_schema, min_size=1, max_size=2)
    try:
        await migrate_service(pool, settings.db_schema, Path(__file__).parent / "sql")
        async with pool.acquire() as conn:
            await _change(conn, args)
    finally:
        await pool.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["add-key", "rotate", "revoke"])
    parser.add_argument("portal", help="portal id, e.g. dvc-haiphong")
    parser.add_argument("--role", choices=list(CLIENT_ROLES), default="portal")
    parser.add_argument("--name", default=None)
    parser.add_argument("--keep", default=None, metavar="KEY",
                        help="revoke: spare this key of the portal (- reads it from stdin)")
    parser.add_argument("--by", default=None, help="who runs it, for the audit trail "
                                                   "(default: the OS user)")
    asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
