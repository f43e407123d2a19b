"""Portal keys given in a setting (``portal_id:role:key,...``): intake registers them at
start-up; the feedback service takes portals' complaints with the same keys. Only their
keyed hash is kept in memory."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from shared.auth import hash_api_key

# Who holds a key: a portal files online or by post, a desk files at the counter, an
# importer back-fills anything; the national portal connector files nothing and reads the
# applicants of the dossiers it syncs (docs/decisions/0011).
CLIENT_ROLES = ("portal", "desk", "importer", "connector")
DEMO_PORTAL_KEYS = (
    "dvc-demo:portal:dvc-demo.local-demo-portal-key,"
    "desk-demo:desk:desk-demo.local-demo-desk-key,"
    "legacy-import:importer:legacy-import.local-demo-importer-key,"
    "dvcqg:portal:dvcqg.local-demo-national-portal-key,"
    "national-portal-connector:connector:national-portal-connector.local-demo-key")


def parse_portal_keys(setting: str) -> list[tuple[str, str, str]]:
    """``(portal_id, role, key)`` of each entry; :raises ValueError: on an unknown role."""
    out = []
    for entry in filter(None, (e.strip() for e in setting.split(","))):
        portal_id, role, key = entry.split(":", 2)
        if role not in CLIENT_ROLES:
            raise ValueError(f"portal {portal_id}: role must be one of {', '.join(CLIENT_ROLES)}")
        out.append((portal_id, role, key))
    return out


@dataclass(frozen=True)
class KeyHolder:
    portal_id: str
    role: str


class ConfiguredKeys:
    """Who holds an API key, among the configured ones."""

    def __init__(self, entries: Iterable[tuple[str, str, str]]) -> None:
        self._by_hash = {hash_api_key(k): KeyHolder(p, r) for p, r, k in entries}

    def holder(self, key: str) -> KeyHolder | None:
        digest = hash_api_key(key)
        for known, holder in self._by_hash.items():  # constant time per entry
            if hmac.compare_digest(known, digest):
                return holder
        return None
