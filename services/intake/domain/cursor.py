"""The opaque cursor of the changes feed: a portal keeps the last one it was given and sends
it back; its content (a position in the change sequence) is ours to change."""

from __future__ import annotations

import base64
import binascii

_PREFIX = "c1."


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position in ``cursor``; ValueError for anything this service did not hand out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not a cursor this service handed out") from exc
    if not text.startswith(_PREFIX) or not text[len(_PREFIX):].isascii() \
            or not text[len(_PREFIX):].isdigit():
        raise ValueError("not a cursor this service handed out")
    position = int(text[len(_PREFIX):])
    if position > 2**62:
        raise ValueError("not a cursor this service handed out")
    return position
