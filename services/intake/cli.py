"""Portal API keys: ``python -m services.intake.cli add-key <portal> [--role importer]`` prints
a new key once (only its hash is stored); ``rotate <portal>`` adds a new key and revokes the
others at once; ``revoke <portal>`` revokes every key of the portal, or with ``--keep KEY``
(``-``: read from stdin) every key but that one.

Rotation without downtime: ``add-key``, give the new key to the portal (both keys work
meanwhile), then ``revoke <portal> --keep <new key>``. A revoked key may still be accepted
for up to ``INTAKE_PORTAL_KEY_CACHE_S`` (30 s) by a replica that looked it up just before."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from services.intake.adapters.repository import add_portal_key, has_live_key, revoke_portal_keys
from services.intake.settings import Settings
from shared.auth import generate_api_key
from shared.db import create_pool
from shared.migrations import migrate_service
from shared.portal_keys import CLIENT_ROLES


async def _run(args: argparse.Namespace) -> None:
    settings = Settings()
    pool = await create_pool(settings.database_url, settings.db_schema, min_size=1, max_size=2)
    try:
        await migrate_service(pool, settings.db_schema, Path(__file__).parent / "sql")
        async with pool.acquire() as conn:
            if args.command in ("add-key", "rotate"):
                key = generate_api_key(args.portal)
                await add_portal_key(conn, args.portal, args.role, key, args.name)
                if args.command == "rotate":
                    n = await revoke_portal_keys(conn, args.portal, keep_key=key)
                    print(f"# revoked {n} older key(s) of {args.portal}")
                print(key)
            else:
                keep = sys.stdin.readline().strip() if args.keep == "-" else args.keep
                if keep is not None and not await has_live_key(conn, args.portal, keep):
                    # A mistyped key would otherwise revoke every key the portal has.
                    raise SystemExit(f"--keep: not a valid key of portal {args.portal}; "
                                     "nothing revoked")
                n = await revoke_portal_keys(conn, args.portal, keep_key=keep)
                print(f"# revoked {n} key(s) of {args.portal}")
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
    asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
