"""Authentication shared by the services (docs/security.md).

* Portals: API keys ``<portal_id>.<secret>``; only a SHA-256 of the key is stored (keys are
  long random strings, so a fast hash is enough), several keys per portal for rotation.
* Officers, importers and operators: JWT bearer tokens whose claims carry their role and
  unit codes; audience, issuer and expiry are checked. In production they are the
  province's identity provider's (RS256/ES256, its keys found through OIDC discovery,
  ``shared/oidc.py``); HS256 tokens signed with a shared secret are for local runs only.
* Receipt PINs: kept only as an HMAC with a server-side pepper and the dossier code, so a
  leaked table or event cannot be brute-forced without the pepper.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.clock import CLOCK_SKEW, SYSTEM_CLOCK
from shared.oidc import (
    ALGORITHMS,
    ClaimNames,
    ProviderKeys,
    ProviderUnreachable,
    UnknownKey,
    parse_role_map,
    role_of,
    units_of,
)
from shared.problems import Problem, invalid

if TYPE_CHECKING:
    from shared.settings import ServiceSettings

Role = Literal["officer", "leader", "importer", "operator"]
ROLES: tuple[str, ...] = ("officer", "leader", "importer", "operator")


# The longest a token may live (exp - iat), and so the furthest ahead its exp may be: an
# officer's working day and some. Longer-lived tokens are refused, whoever signed them.
MAX_TOKEN_LIFETIME_S = 24 * 3600
# Only these roles may hold every unit ("*"): an officer or a leader belongs to units.
ALL_UNITS_ROLES = frozenset({"importer", "operator"})


def business_time(given: datetime | None, may_backdate: bool, field: str = "at", *,
                  now: datetime) -> datetime:
    """When a fact happened: ``now`` (the service's clock), or the time given by a caller
    allowed to give one (an importer back-filling history, a courier reporting) — never in
    the future."""
    if given is None:
        return now
    if not may_backdate:
        raise Problem(403, "Forbidden", f"only an importer may set {field!r} explicitly")
    if given > now + CLOCK_SKEW:
        raise invalid((f"body:/{field}", "must not be in the future"))
    return given


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key(portal_id: str) -> str:
    return f"{portal_id}.{secrets.token_urlsafe(32)}"


def pin_digest(pin: str, dossier_code: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), f"{dossier_code}:{pin}".encode(), hashlib.sha256).hexdigest()


def receipt_pin(dossier_code: str, pepper: str) -> str:
    """The receipt PIN is derived from the code with a server-side secret, so it can be
    printed again (and answered again on an idempotent retry) without ever being stored;
    the feedback service checks it the same way."""
    mac = hmac.new(pepper.encode(), f"pin:{dossier_code}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(mac[:8], 'big') % 1_000_000:06d}"


def pin_matches(dossier_code: str, pin: str, pepper: str) -> bool:
    return hmac.compare_digest(receipt_pin(dossier_code, pepper), pin)


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    units: frozenset[str]

    def may_act_on(self, unit_code: str) -> bool:
        """``*`` in the units claim means every unit (an importer or a provincial operator)."""
        return "*" in self.units or unit_code in self.units

    @property
    def is_importer(self) -> bool:
        return self.role == "importer"


def mint_token(secret: str, *, subject: str, role: str, units: Sequence[str],
               audience: str = "motcua", issuer: str = "motcua-idp",
               ttl_s: int = 8 * 3600, now: float | None = None) -> str:
    """For development, tests and the simulator; production tokens come from the IdP."""
    issued = int(now if now is not None else SYSTEM_CLOCK.now().timestamp())
    claims = {"sub": subject, "role": role, "units": list(units), "aud": audience, "iss": issuer,
              "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class TokenVerifier:
    """Who a bearer token is: an HS256 token signed with ``secret`` (local runs only: in
    production there is none), or an RS256/ES256 token of the province's identity provider
    (``provider``), its role and units read from the claims ``names`` say. Every refusal is
    a 401 with a short detail of our own: the libraries' messages are not echoed."""

    secret: str | None
    audience: str
    issuer: str  # of the HS256 tokens; the provider's own issuer for its tokens
    provider: ProviderKeys | None = None
    names: ClaimNames = field(default_factory=ClaimNames)
    leeway: timedelta = CLOCK_SKEW

    def principal(self, token: str, *, now: float | None = None) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise _unauthorized("invalid token") from exc
        algorithm = header.get("alg")
        if algorithm == "HS256" and self.secret is not None:
            claims = self._decode(token, self.secret, "HS256", self.issuer)
            role, units = claims.get("role"), claims.get("units", [])
        elif algorithm in ALGORITHMS and self.provider is not None:
            try:
                key = self.provider.key(header.get("kid"))
            except UnknownKey as exc:
                raise _unauthorized("token signed by a key the identity provider does not "
                                    "publish") from exc
            except ProviderUnreachable as exc:
                raise Problem(503, "Service Unavailable", "the identity provider's keys "
                              "cannot be fetched; try again shortly",
                              headers={"Retry-After": "10"}) from exc
            claims = self._decode(token, key.key, str(algorithm), self.provider.issuer)
            role, units = role_of(claims, self.names, ROLES), units_of(claims, self.names)
        else:
            raise _unauthorized("invalid token")
        current = SYSTEM_CLOCK.now().timestamp() if now is None else now
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, int | float) or not isinstance(iat, int | float) \
                or exp - iat > MAX_TOKEN_LIFETIME_S or exp > current + MAX_TOKEN_LIFETIME_S:
            raise _unauthorized(f"token lives longer than {MAX_TOKEN_LIFETIME_S // 3600} hours")
        if role not in ROLES or not isinstance(units, list) \
                or not all(isinstance(u, str) for u in units):
            raise _unauthorized("token lacks a valid role or units claim")
        if "*" in units and role not in ALL_UNITS_ROLES:
            raise _unauthorized(f"{role} tokens must name their units; '*' is for "
                                f"{' and '.join(sorted(ALL_UNITS_ROLES))} tokens only")
        return Principal(str(claims["sub"]), str(role), frozenset(units))

    def _decode(self, token: str, key: Any, algorithm: str, issuer: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], audience=self.audience, issuer=issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]}, leeway=self.leeway)
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise _unauthorized("token is for another audience") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise _unauthorized("invalid token") from exc
        return claims


def verifier_from(settings: ServiceSettings) -> TokenVerifier:
    """The service's verifier: HS256 with the shared secret in local runs only, and the
    identity provider's tokens whenever an issuer is set (docs/security.md)."""
    provider = ProviderKeys(settings.oidc_issuer, cache_s=settings.oidc_jwks_cache_s,
                            min_refresh_s=settings.oidc_min_refresh_s,
                            timeout_s=settings.oidc_timeout_s) if settings.oidc_issuer else None
    names = ClaimNames(settings.oidc_role_claim, settings.oidc_units_claim,
                       parse_role_map(settings.oidc_role_map))
    secret = settings.jwt_secret if settings.env == "local" else None
    return TokenVerifier(secret, settings.jwt_audience, settings.jwt_issuer, provider, names)


def decode_token(token: str, secret: str, audience: str, issuer: str, *,
                 now: float | None = None) -> Principal:
    """The principal of a valid HS256 token (local runs, tests, tools)."""
    return TokenVerifier(secret, audience, issuer).principal(token, now=now)


def verify_token(request: Request, token: str) -> Principal:
    """The caller of this request by its token, as the running service verifies tokens (its
    ``TokenVerifier``, made once at start from its settings); kept on the request for the
    audit trail."""
    principal: Principal = request.app.state.verifier.principal(token.strip())
    request.state.principal = principal
    return principal


def authenticate(request: Request, roles: Sequence[str] = ROLES) -> Principal:
    """The caller's principal from its bearer token, or 401/403 as problem details."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("a bearer token is required")
    principal = verify_token(request, token)
    if principal.role not in roles:
        raise Problem(403, "Forbidden", f"role {principal.role!r} may not do this")
    return principal


# The OpenAPI documents declare the scheme on every route that takes a token.
OFFICER_TOKEN = HTTPBearer(auto_error=False, scheme_name="bearerToken", bearerFormat="JWT",
                           description="a JWT of the province's identity provider (RS256 or "
                                       "ES256; HS256 for local runs) whose claims carry the "
                                       "role and the units; see docs/security.md")
TokenSent = Annotated[HTTPAuthorizationCredentials | None, Depends(OFFICER_TOKEN)]


def bearer(*roles: str) -> Callable[..., Principal]:
    """A FastAPI dependency checking the token against the running service's settings."""
    allowed = roles or ROLES

    def dependency(request: Request, _declared: TokenSent = None) -> Principal:
        return authenticate(request, allowed)

    return dependency


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m shared.auth --sub officer-1 --role officer --units H26.01``: a token for
    local runs (signed with MOTCUA_JWT_SECRET or the local default)."""
    import argparse

    from shared.settings import ServiceSettings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--sub", required=True)
    parser.add_argument("--role", choices=ROLES, default="officer")
    parser.add_argument("--units", nargs="+", required=True, help="unit codes, or * for all")
    parser.add_argument("--ttl", type=int, default=8 * 3600, help="seconds")
    args = parser.parse_args(argv)
    s = ServiceSettings()
    print(mint_token(s.jwt_secret, subject=args.sub, role=args.role, units=args.units,
                     audience=s.jwt_audience, issuer=s.jwt_issuer, ttl_s=args.ttl))


if __name__ == "__main__":
    main()
