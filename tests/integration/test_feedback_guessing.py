"""PIN guessing against a feedback service of its own, with a pool of three connections and
low limits: concurrent wrong PINs cannot freeze it (each is answered, and the service still
answers afterwards), a source address that keeps guessing is held back whatever dossier it
names, and an unknown dossier is answered exactly as a wrong PIN."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import JWT_SECRET, Infra
from tests.support.api import Api
from tests.support.stack import Stack, own_stack

pytestmark = pytest.mark.integration
POOL = 3
PER_SOURCE = 8
ANSWERED_WITHIN_S = 5.0  # no request may hang: the old code waited for ever


@pytest.fixture(scope="module")
async def guarded(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with own_stack(tmp_path_factory.mktemp("guessing"), kafka=infra.kafka_bootstrap,
                         base_url=infra.database_url, port_base=18700,
                         extra_env={"MOTCUA_JWT_SECRET": JWT_SECRET,
                                    "FEEDBACK_DATABASE_POOL_MAX": str(POOL),
                                    "FEEDBACK_DATABASE_POOL_MIN": "1",
                                    "FEEDBACK_MAX_SOURCE_PIN_FAILURES": str(PER_SOURCE)}) as s:
        yield s


def wrong(pin: str) -> str:
    return f"{(int(pin) + 1) % 1_000_000:06d}"


async def rate(http: httpx.AsyncClient, stack: Stack, code: str, pin: str,
               source: str) -> httpx.Response:
    # The services sit behind a reverse proxy that names the client (uvicorn trusts the
    # X-Forwarded-For of a proxy on 127.0.0.1).
    return await http.post(stack.url("feedback") + "/v1/feedback",
                           json={"dossier_code": code, "pin": pin, "rating": "satisfied"},
                           headers={"X-Forwarded-For": source})


async def known_to_feedback(api: Api, stack: Stack) -> tuple[str, str]:
    """A dossier the feedback service has heard of (the right PIN then answers 409)."""
    receipt = (await api.file()).json()
    for _ in range(300):
        r = await rate(api.http, stack, receipt["code"], receipt["pin"], "192.0.2.1")
        if r.status_code == 409:
            db = await api.db()
            if await db.fetchval("SELECT 1 FROM feedback.dossiers WHERE code = $1",
                                 receipt["code"]):
                return receipt["code"], receipt["pin"]
        await asyncio.sleep(0.1)
    raise AssertionError("feedback never heard of the dossier")


async def test_three_times_the_pool_of_concurrent_wrong_pins_are_all_answered(
        guarded: Stack, infra: Infra) -> None:
    api = Api(guarded, infra, JWT_SECRET)
    try:
        code, pin = await known_to_feedback(api, guarded)

        async def guess(i: int) -> int:
            r = await asyncio.wait_for(rate(api.http, guarded, code, wrong(pin), f"198.51.100.{i}"),
                                       ANSWERED_WITHIN_S)
            return r.status_code

        statuses = await asyncio.gather(*(guess(i) for i in range(3 * POOL)))
        # The attempts on one dossier take turns: exactly the five allowed are judged.
        assert sorted(statuses) == [403] * 5 + [429] * (3 * POOL - 5), statuses
        # The service still answers: ready, and a later rating attempt gets its answer.
        ready = await api.http.get(guarded.url("feedback") + "/readyz", timeout=5)
        assert ready.status_code == 200
        later = await asyncio.wait_for(rate(api.http, guarded, code, pin, "203.0.113.9"),
                                       ANSWERED_WITHIN_S)
        assert later.status_code == 429  # the dossier's own limit (5 wrong PINs) holds
    finally:
        await api.close()


async def test_a_guessing_source_is_held_back_and_unknown_codes_look_like_wrong_pins(
        guarded: Stack, infra: Infra) -> None:
    api = Api(guarded, infra, JWT_SECRET)
    try:
        code, pin = await known_to_feedback(api, guarded)
        unknown = "H26.01-991231-9999"
        a, b = "198.51.100.200", "198.51.100.201"

        wrong_pin = await rate(api.http, guarded, code, wrong(pin), b)
        no_dossier = await rate(api.http, guarded, unknown, "123456", b)
        assert wrong_pin.status_code == no_dossier.status_code == 403

        def shape(r: httpx.Response) -> dict[str, Any]:
            body = dict(r.json())
            body.pop("instance", None)
            return body

        assert shape(wrong_pin) == shape(no_dossier)  # nothing tells them apart

        # One source guessing across many dossiers: held back after PER_SOURCE wrong PINs,
        # even for a dossier it never named and even with the right PIN of another one ...
        statuses = [(await rate(api.http, guarded, f"H26.01-991231-{i:04d}", "000000", a))
                    .status_code for i in range(PER_SOURCE)]
        assert statuses == [403] * PER_SOURCE
        held = await rate(api.http, guarded, code, pin, a)
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
        # ... while another source is not (and the dossier itself is not locked by it).
        other = await rate(api.http, guarded, "H26.01-991231-0999", "000000", b)
        assert other.status_code == 403
        assert (await rate(api.http, guarded, code, pin, "203.0.113.20")).status_code == 409
    finally:
        await api.close()
