"""The province's identity provider (OIDC): its signing keys, found through discovery and
cached, and the claims that carry an officer's role and units (docs/security.md).

* ``{issuer}/.well-known/openid-configuration`` names the provider's ``issuer`` (it must be
  the configured one) and its ``jwks_uri``. The key set is fetched from there and kept for
  ``cache_s``; a token whose ``kid`` is not in it makes one fetch again (the provider
  rotated its keys), but not more often than every ``min_refresh_s``, so that tokens with
  made-up kids cannot make the services hammer the provider.
* While the provider cannot be reached, the keys already fetched keep working; with none at
  all, a token cannot be checked (503).
* Only the asymmetric algorithms the provider signs with are taken: RS256 and ES256.
* The role and the units come from configurable claims (a dotted path, e.g.
  ``realm_access.roles``), and the provider's role names map to ours (``role_map``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

ALGORITHMS = ("RS256", "ES256")


class ProviderUnreachable(Exception):
    """No signing key could be fetched from the identity provider yet."""


class UnknownKey(Exception):
    """The token names a key the provider does not publish."""


@dataclass(frozen=True)
class ClaimNames:
    role: str = "role"
    units: str = "units"
    role_map: Mapping[str, str] = field(default_factory=dict)  # provider's name -> ours


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``realm_access.roles``); None when absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def role_of(claims: Mapping[str, Any], names: ClaimNames, ours: Sequence[str]) -> str | None:
    """The first of the token's roles (a string, or a list of them) that maps to one of
    ``ours``."""
    found = claim(claims, names.role)
    values = [found] if isinstance(found, str) else found if isinstance(found, list) else []
    for value in values:
        mapped = names.role_map.get(value, value) if isinstance(value, str) else None
        if mapped in ours:
            return mapped
    return None


def units_of(claims: Mapping[str, Any], names: ClaimNames) -> list[str] | None:
    """The units claim: a list of codes, or one string of codes separated by spaces or
    commas; None when it is neither."""
    found = claim(claims, names.units)
    if found is None:
        return []
    if isinstance(found, str):
        return [u for u in found.replace(",", " ").split() if u]
    if isinstance(found, list) and all(isinstance(u, str) for u in found):
        return list(found)
    return None


def parse_role_map(setting: str) -> dict[str, str]:
    """``provider-name:our-role,...``."""
    out = {}
    for entry in filter(None, (e.strip() for e in setting.split(","))):
        theirs, sep, ours = entry.rpartition(":")
        if not sep or not theirs:
            raise ValueError(f"role map entry {entry!r} is not provider-name:role")
        out[theirs] = ours
    return out


class ProviderKeys:
    """The provider's signing keys by ``kid``, fetched through discovery and cached."""

    def __init__(self, issuer: str, *, cache_s: float = 300.0, min_refresh_s: float = 30.0,
                 timeout_s: float = 5.0, http: httpx.Client | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer.rstrip("/")
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self.http = http or httpx.Client(timeout=timeout_s, follow_redirects=False)
        self.clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._jwks_uri: str | None = None
        self._lock = threading.Lock()

    def _discover(self) -> str:
        if self._jwks_uri is None:
            found = self.http.get(f"{self.issuer}/.well-known/openid-configuration")
            found.raise_for_status()
            document = found.json()
            if str(document.get("issuer", "")).rstrip("/") != self.issuer:
                raise ProviderUnreachable("the discovery document names another issuer")
            self._jwks_uri = str(document["jwks_uri"])
        return self._jwks_uri

    def refresh(self) -> None:
        """Fetch the key set now (at start-up, and when a kid is unknown)."""
        with self._lock:
            self._fetched_at = self.clock()  # a failure counts too: no hammering
            answer = self.http.get(self._discover())
            answer.raise_for_status()
            keys = {}
            for raw in answer.json().get("keys", []):
                if raw.get("use", "sig") != "sig" or not raw.get("kid"):
                    continue
                try:
                    keys[str(raw["kid"])] = jwt.PyJWK(raw)
                except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError, ValueError):
                    continue  # a key of a kind we do not take
            self._keys = keys

    def key(self, kid: str | None) -> jwt.PyJWK:
        """:raises UnknownKey, ProviderUnreachable:"""
        now = self.clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self.cache_s
        missing = kid is not None and kid not in self._keys
        may_refresh = self._fetched_at is None or now - self._fetched_at >= self.min_refresh_s
        if stale or (missing and may_refresh):
            try:
                self.refresh()
            except (httpx.HTTPError, ValueError, KeyError, ProviderUnreachable) as exc:
                if not self._keys:
                    raise ProviderUnreachable(str(exc)) from exc
        if kid is None or kid not in self._keys:
            raise UnknownKey(kid or "")
        return self._keys[kid]
