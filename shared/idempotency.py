"""Idempotency keys: a client that did not get an answer (a timeout, a dropped connection,
a restarted service) sends the same request again with the same ``Idempotency-Key`` and is
told what happened the first time instead of acting twice."""

from __future__ import annotations

import hashlib
from typing import Annotated

import orjson
from fastapi import Header, Response

from shared.problems import Problem

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="a client-chosen key; a repeated request with the same key is not acted on "
                "twice, it gets the first request's outcome")]


def request_fingerprint(body: object) -> str:
    """What a repeated key must be sent with again: the same request, field for field."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


REPLAYED_HEADER = "Idempotent-Replayed"


class KeyReused(Exception):
    """A key sent again with a different request (answered as :func:`key_reused`)."""

    def __init__(self, name: str = "Idempotency-Key") -> None:
        super().__init__(f"{name} reused")
        self.name = name


def is_repeat(first_fingerprint: str | None, fingerprint: str,
              name: str = "Idempotency-Key") -> bool:
    """Whether a request sent under a key (or a filing's ``external_ref``) was made before:
    ``first_fingerprint`` is what the first request under it was, None if there was none.

    :raises KeyReused: when the key was first sent with another request."""
    if first_fingerprint is None:
        return False
    if first_fingerprint != fingerprint:
        raise KeyReused(name)
    return True


def mark_replayed(response: Response) -> None:
    """Every service answers a replay with ``Idempotent-Replayed: true``."""
    response.headers[REPLAYED_HEADER] = "true"


def key_reused(name: str = "Idempotency-Key") -> Problem:
    """The problem for a key (``Idempotency-Key``, or a filing's ``external_ref``) sent again
    with a different request: nothing is done, and the first request's outcome is not shown."""
    return Problem(422, f"{name} reused",
                   f"this {name} was used for a different request; send the same request "
                   "again to get its outcome, or use a new one",
                   type_="idempotency-key-reused")
