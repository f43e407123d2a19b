"""Authentication shared by the services (docs/security.md).

* Portals: API keys ``<portal_id>.<secret>``; only a SHA-256 of the key is stored (keys are
  long random strings, so a fast hash is enough), several keys per portal for rotation.
* Officers, importers and operators: JWT bearer tokens (HS256) whose claims carry their
  role and unit codes; audience, issuer and expiry are checked.
* Receipt PINs: kept only as an HMAC with a server-side pepper and the dossier code, so a
  leaked table or event cannot be brute-forced without the pepper.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.clock import CLOCK_SKEW, SYSTEM_CLOCK
from shared.problems import Problem, invalid

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


def decode_token(token: str, secret: str, audience: str, issuer: str, *,
                 now: float | None = None) -> Principal:
    """The principal of a valid token. Every refusal is a 401 with a short detail of our
    own: the library's messages are not echoed."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=audience, issuer=issuer,
                            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                            leeway=CLOCK_SKEW)
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("token expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise _unauthorized("token is for another audience") from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise _unauthorized("invalid token") from exc
    current = SYSTEM_CLOCK.now().timestamp() if now is None else now
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or not isinstance(iat, int | float) \
            or exp - iat > MAX_TOKEN_LIFETIME_S or exp > current + MAX_TOKEN_LIFETIME_S:
        raise _unauthorized(f"token lives longer than {MAX_TOKEN_LIFETIME_S // 3600} hours")
    role = claims.get("role")
    units = claims.get("units", [])
    if role not in ROLES or not isinstance(units, list) or not all(isinstance(u, str) for u in units):
        raise _unauthorized("token lacks a valid role or units claim")
    if "*" in units and role not in ALL_UNITS_ROLES:
        raise _unauthorized(f"{role} tokens must name their units; '*' is for "
                            f"{' and '.join(sorted(ALL_UNITS_ROLES))} tokens only")
    return Principal(str(claims["sub"]), role, frozenset(units))


def authenticate(request: Request, secret: str, audience: str, issuer: str,
                 roles: Sequence[str] = ROLES) -> Principal:
    """The caller's principal from its bearer token, or 401/403 as problem details."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("a bearer token is required")
    principal = decode_token(token.strip(), secret, audience, issuer)
    request.state.principal = principal  # who is asking, for the audit trail
    if principal.role not in roles:
        raise Problem(403, "Forbidden", f"role {principal.role!r} may not do this")
    return principal


# The OpenAPI documents declare the scheme on every route that takes a token.
OFFICER_TOKEN = HTTPBearer(auto_error=False, scheme_name="bearerToken", bearerFormat="JWT",
                           description="a JWT (HS256 for local runs) whose claims carry `role` "
                                       "and `units`; see docs/security.md")
TokenSent = Annotated[HTTPAuthorizationCredentials | None, Depends(OFFICER_TOKEN)]


def bearer(*roles: str) -> Callable[..., Principal]:
    """A FastAPI dependency checking the token against the running service's settings."""
    allowed = roles or ROLES

    def dependency(request: Request, _declared: TokenSent = None) -> Principal:
        s = request.app.state.runtime.settings
        return authenticate(request, s.jwt_secret, s.jwt_audience, s.jwt_issuer, allowed)

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
