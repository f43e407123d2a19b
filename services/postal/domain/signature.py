"""Courier webhook signatures: HMAC-SHA256 over ``<timestamp>.<raw body>`` with the
courier's shared secret, hex-encoded. Pure functions; replay protection is the adapter's."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

Verdict = Literal["ok", "unknown-courier", "bad-timestamp", "stale", "bad-signature"]


_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(secrets: dict[str, str], courier: str | None, timestamp: str | None,
           signature: str | None, body: bytes, now: float, tolerance_s: int) -> Verdict:
    secret = secrets.get(courier) if courier else None
    if secret is None:
        return "unknown-courier"
    # ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
    if timestamp is None or not _UNIX_SECONDS.fullmatch(timestamp):
        return "bad-timestamp"
    if abs(now - int(timestamp)) > tolerance_s:
        return "stale"
    # Bytes: compare_digest refuses str with characters beyond ASCII (a 500 instead of a 401).
    if signature is None or not hmac.compare_digest(sign(secret, int(timestamp), body).encode(),
                                                    signature.encode()):
        return "bad-signature"
    return "ok"
