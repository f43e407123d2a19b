"""A local stand-in for the province's identity provider (a Keycloak realm, say): OIDC
discovery and a JWKS endpoint over HTTP on 127.0.0.1, RSA and EC signing keys it can rotate,
and tokens it signs as the real one would (``realm_access.roles`` for the roles, a ``units``
claim). The real provider cannot be reached from here; the services talk to this one over
HTTP exactly as they would to it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "motcua"


@dataclass
class SigningKey:
    kid: str
    algorithm: str  # RS256 or ES256
    private: Any = field(repr=False)

    @classmethod
    def new(cls, algorithm: str = "RS256") -> SigningKey:
        private = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                   if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1()))
        return cls(f"{algorithm.lower()}-{uuid.uuid4().hex[:8]}", algorithm, private)

    def public_jwk(self) -> dict[str, Any]:
        algo = jwt.algorithms.RSAAlgorithm if self.algorithm == "RS256" \
            else jwt.algorithms.ECAlgorithm
        jwk: dict[str, Any] = json.loads(algo.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}


class IdentityProvider:
    """Publishes ``published`` keys; signs with ``current``."""

    def __init__(self, issuer: str = "") -> None:
        self.current = SigningKey.new()
        self.published: list[SigningKey] = [self.current]
        self.issuer = issuer
        self.fetches = 0  # of the key set: the services' caching shows here

    def rotate(self, algorithm: str = "RS256", *, keep_old: bool = True) -> SigningKey:
        """A new signing key; the old one stays published (tokens it signed still verify)
        unless ``keep_old`` is False."""
        self.current = SigningKey.new(algorithm)
        self.published = [*self.published, self.current] if keep_old else [self.current]
        return self.current

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/protocol/openid-connect/certs",
                "id_token_signing_alg_values_supported": ["RS256", "ES256"]}

    def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": [k.public_jwk() for k in self.published]}

    def token(self, *, sub: str = "can.bo.a", roles: list[str] | None = None,
              units: list[str] | str | None = None, key: SigningKey | None = None,
              ttl_s: int = 3600, now: float | None = None, **extra: Any) -> str:
        issued = int(now if now is not None else time.time())
        signer = key or self.current
        claims = {"iss": self.issuer, "sub": sub, "aud": AUDIENCE, "iat": issued,
                  "exp": issued + ttl_s, "realm_access": {"roles": roles or ["motcua-can-bo"]},
                  "units": units if units is not None else ["H26.01"], **extra}
        return jwt.encode(claims, signer.private, algorithm=signer.algorithm,
                          headers={"kid": signer.kid})


class ServedProvider(IdentityProvider):
    """The stand-in served over HTTP on 127.0.0.1 (a thread); ``close`` stops it."""

    def __init__(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.endswith("/.well-known/openid-configuration"):
                    body = provider.discovery()
                elif self.path.endswith("/protocol/openid-connect/certs"):
                    body = provider.jwks()
                else:
                    self.send_error(404)
                    return
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        super().__init__(f"http://127.0.0.1:{self.server.server_address[1]}/realms/haiphong")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
