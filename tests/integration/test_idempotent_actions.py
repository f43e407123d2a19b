"""A processing action sent again with the same Idempotency-Key (a retry after a lost
answer) is not applied twice; a key reused for another action is refused."""

from __future__ import annotations

import uuid

import pytest

from tests.support.api import UNIT, Api

pytestmark = pytest.mark.integration


async def test_a_repeated_action_is_applied_once(api: Api) -> None:
    code = str((await api.file()).json()["code"])
    await api.processing_view(code)
    url = api.url("processing", f"/v1/dossiers/{code}/actions/request-supplement")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    headers = {**api.token([UNIT]), **key}
    accepted = await api.act(code, "accept")
    assert accepted.status_code == 200
    first = await api.http.post(url, json={"reason": "thiếu bản sao"}, headers=headers)
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = await api.http.post(url, json={"reason": "thiếu bản sao"}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["state"] == "awaiting_supplement"
    # One supplement request, not two: one hop on the slip, one event on the topic.
    slip = await api.http.get(api.url("processing", f"/v1/dossiers/{code}/control-slip"),
                              headers=api.token([UNIT]))
    steps = [e["step"] for e in slip.json()["entries"]]
    assert steps.count("request-supplement") == 1, steps
    # Without a key the same request is a new action, refused in this state.
    assert (await api.http.post(url, json={"reason": "thiếu bản sao"},
                                headers=api.token([UNIT]))).status_code == 409
    # The key used for another action, or another body, is refused and changes nothing.
    other = await api.http.post(api.url("processing", f"/v1/dossiers/{code}/actions/reject"),
                                json={"reason": "x"}, headers=headers)
    assert other.status_code == 422, other.text
    assert other.json()["type"].endswith("idempotency-key-reused")
    changed = await api.http.post(url, json={"reason": "khác"}, headers=headers)
    assert changed.status_code == 422
    assert (await api.processing_view(code))["state"] == "awaiting_supplement"
