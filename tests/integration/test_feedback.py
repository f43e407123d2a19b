"""Ratings through the real feedback service: only for finished dossiers, once, with the
receipt's PIN, validated, rate-limited, and with no personal data in the event."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from shared.events import FEEDBACK_TOPIC
from tests.support.api import UNIT, Api

pytestmark = pytest.mark.integration
SIPAS = {"access": 5, "procedure": 4, "civil_servant": 5, "result": 4, "feedback_handling": 3}


async def rate(api: Api, code: str, pin: str, **over: Any) -> Any:
    body = {"dossier_code": code, "pin": pin, "rating": "very_satisfied"} | over
    return await api.http.post(api.url("feedback", "/v1/feedback"), json=body)


async def filed(api: Api) -> tuple[str, str]:
    receipt = (await api.file()).json()
    await api.processing_view(receipt["code"])
    return receipt["code"], receipt["pin"]


async def test_a_rating_is_accepted_once_the_dossier_is_finished_and_only_once(api: Api) -> None:
    code, pin = await filed(api)
    early = None
    for _ in range(100):  # until feedback has heard of the dossier at all
        early = await rate(api, code, pin)
        if early.status_code != 404:
            break
        await asyncio.sleep(0.1)
    assert early is not None and early.status_code == 409
    assert "not finished" in early.json()["detail"]

    assert (await api.act(code, "accept")).status_code == 200
    assert (await api.act(code, "resolve")).status_code == 200
    criteria = {"decree61": [2, 2, 1, 2, 2, 2, 2, 1, 2], "sipas": SIPAS}
    comment = "Cán bộ nhiệt tình. Gọi tôi 0912345678, CCCD 031203004567."
    accepted = None
    for _ in range(100):
        accepted = await rate(api, code, pin, criteria=criteria, comment=comment)
        if accepted.status_code != 409:
            break
        await asyncio.sleep(0.1)
    assert accepted is not None
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["decree61_total"] == 16
    assert "0912345678" not in accepted.text and "031203004567" not in accepted.text

    second = await rate(api, code, pin, rating="unsatisfied")
    assert second.status_code == 409 and "already been rated" in second.json()["detail"]

    [(etype, _headers, value)] = await api.topic_events(FEEDBACK_TOPIC, code, expect=1)
    assert etype == "feedback.submitted"
    event = orjson.loads(value)
    assert event["unit_code"] == UNIT and event["rating"] == "very_satisfied"
    assert event["criteria"]["sipas"] == SIPAS
    for secret in ("0912345678", "031203004567", pin, "Nguyễn Văn An"):
        assert secret not in value.decode()
    assert event["comment"].startswith("Cán bộ nhiệt tình")

    read = await api.http.get(api.url("feedback", f"/v1/feedback/{code}"),
                              headers=api.token([UNIT], role="operator"))
    assert read.status_code == 200 and read.json()["rating"] == "very_satisfied"
    other = await api.http.get(api.url("feedback", f"/v1/feedback/{code}"),
                               headers=api.token(["H26.02"], role="operator"))
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        ({"decree61": [3, 2, 2, 2, 2, 2, 2, 2, 2]}, "body:/criteria/decree61/0"),
        ({"decree61": [2, 2, 2]}, "body:/criteria/decree61"),
        ({"sipas": SIPAS | {"access": 6}}, "body:/criteria/sipas/access"),
        ({"sipas": SIPAS | {"result": 0}}, "body:/criteria/sipas/result"),
        ({"stars": 5}, "body:/criteria/stars"),
    ],
)
async def test_out_of_range_scores_are_422_naming_the_field(api: Api, criteria: dict[str, Any],
                                                            field: str) -> None:
    r = await rate(api, "H26.01-261123-0001", "123456", criteria=criteria)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


async def test_wrong_pins_are_refused_then_rate_limited(api: Api) -> None:
    code, pin = await filed(api)
    wrong = f"{(int(pin) + 1) % 1_000_000:06d}"
    statuses = []
    for _ in range(100):
        r = await rate(api, code, wrong)
        if r.status_code != 404:
            statuses.append(r.status_code)
            break
        await asyncio.sleep(0.1)
    for _ in range(5):
        statuses.append((await rate(api, code, wrong)).status_code)
    assert statuses == [403, 403, 403, 403, 403, 429]
    limited = await rate(api, code, pin)  # even the right PIN waits now
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    db = await api.db()
    assert await db.fetchval("SELECT count(*) FROM feedback.ratings WHERE dossier_code = $1",
                             code) == 0
