"""The opaque cursor of the changes feed: a portal keeps the last one it was given and sends
it back; its content (a position: the changing transaction's id and the change's number) is
ours to change."""

from __future__ import annotations

import base64
import binascii

_PREFIX = "c2."
START = (0, 0)
Position = tuple[int, int]
_NOT_OURS = "not a cursor this service handed out"


def encode_cursor(position: Position) -> str:
    text = f"{_PREFIX}{position[0]}.{position[1]}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position in ``cursor``; ValueError for anything this service did not hand out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(_NOT_OURS) from exc
    if not text.startswith(_PREFIX):
        raise ValueError(_NOT_OURS)
    parts = text[len(_PREFIX):].split(".")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 19 for p in parts):
        raise ValueError(_NOT_OURS)
    xid, number = int(parts[0]), int(parts[1])
    if xid >= 2**63 or number >= 2**63:
        raise ValueError(_NOT_OURS)
    return xid, number
