"""Stuck dossiers end to end (docs/rules/lifecycle.md, "Stuck dossiers"): a dossier received
on a Friday weeks ago and never touched is flagged by the watchdog from the end of the fifth
working day after it (computed on the unit's calendar, across the weekend), listed for its
unit's leaders, counted by metrics and by the gauge; one filed today is not; the next step
clears it."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta
from typing import Any

import pytest

from shared.clock import VN
from shared.events import PROCESSING_TOPIC
from tests.support.api import IMPORTER_KEY, Api
from tests.support.dates import at, calendar_of, today
from tests.support.wait import until

pytestmark = pytest.mark.integration
UNIT, PROCEDURE = "H26.113", "1.001193"  # Ủy ban nhân dân xã Kiến Thụy, a commune procedure
STUCK_AFTER = 5  # the demo rulebook's defaults.stuck_after_working_days


def a_friday_weeks_ago() -> datetime:
    d = today() - timedelta(days=28)
    while d.weekday() != 4 or not calendar_of(UNIT).is_working_day(d):
        d -= timedelta(days=1)
    return at(d, 10)


async def stuck_list(api: Api) -> list[dict[str, Any]]:
    r = await api.http.get(api.url("processing", f"/v1/units/{UNIT}/stuck"),
                           headers=api.token([UNIT], role="leader"))
    assert r.status_code == 200, r.text
    return list(r.json())


async def metrics_stuck(api: Api) -> int:
    r = await api.http.get(api.url("metrics", "/v1/metrics/stuck"))
    assert r.status_code == 200, r.text
    return int(next(u for u in r.json()["units"] if u["unit_code"] == UNIT)["stuck"])


async def published(api: Api, code: str, *kinds: str) -> list[dict[str, Any]]:
    """The dossier's events of these kinds on the processing topic, once each kind is there."""
    async def there() -> list[dict[str, Any]] | None:
        events = await api.topic_events(PROCESSING_TOPIC, code, expect=0)
        found = [{"type": kind, **json.loads(v)} for kind, _, v in events if kind in kinds]
        return found if {e["type"] for e in found} == set(kinds) else None

    return await until(there, 30, every_s=0.5)


async def test_an_untouched_dossier_is_flagged_and_a_step_clears_it(api: Api) -> None:
    friday = a_friday_weeks_ago()
    old = await api.file(key=IMPORTER_KEY, unit_code=UNIT, procedure_code=PROCEDURE,
                         received_at=friday.isoformat())
    assert old.status_code == 201, old.text
    fresh = await api.file(unit_code=UNIT, procedure_code=PROCEDURE)
    assert fresh.status_code == 201, fresh.text
    code, new = old.json()["code"], fresh.json()["code"]

    # Five working days after Friday, counted on the unit's calendar: the weekend is skipped.
    last_working_day = calendar_of(UNIT).add_working_days(friday.date(), STUCK_AFTER)
    stuck_from = datetime.combine(last_working_day + timedelta(days=1), time(0), VN)
    assert (stuck_from - friday).days >= STUCK_AFTER + 2

    async def flagged() -> dict[str, Any] | None:
        return next((d for d in await stuck_list(api) if d["code"] == code), None)

    found = await until(flagged, 30)
    assert datetime.fromisoformat(found["stuck_flagged_at"]) == stuck_from
    assert datetime.fromisoformat(found["last_action_at"]) == friday
    assert new not in {d["code"] for d in await stuck_list(api)}
    stuck = await published(api, code, "dossier.stuck")
    assert len(stuck) == 1 and stuck[0]["working_days"] == STUCK_AFTER
    assert datetime.fromisoformat(stuck[0]["at"]) == stuck_from

    async def counted() -> int | None:
        n = await metrics_stuck(api)
        return n if n >= 1 else None

    before = await until(counted, 30)

    async def gauge() -> float | None:
        text = (await api.http.get(api.url("processing", "/metrics"))).text
        m = re.search(r'motcua_stuck_dossiers\{unit="' + re.escape(UNIT) + r'"\} (\S+)', text)
        return float(m.group(1)) if m and float(m.group(1)) >= 1 else None

    assert await until(gauge, 60) >= 1
    # Another unit's officer may not list them.
    r = await api.http.get(api.url("processing", f"/v1/units/{UNIT}/stuck"),
                           headers=api.token(["H26.01"]))
    assert r.status_code == 403

    # The next step clears it: gone from the list, unstuck on the topic, one fewer in metrics.
    assert (await api.act(code, "accept", units=[UNIT])).status_code == 200
    assert await flagged() is None
    events = await published(api, code, "dossier.stuck", "dossier.unstuck")
    assert [e["type"] for e in events] == ["dossier.stuck", "dossier.unstuck"]

    async def cleared() -> bool | None:
        return True if await metrics_stuck(api) == before - 1 else None

    await until(cleared, 30)
