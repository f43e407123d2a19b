"""A dossier's whole life through the public APIs of intake and processing, with real
Kafka and PostgreSQL: every state, every event on its topic, the paused time, the slip.

Times are given by the importer role so that they are known: received Mon 19/10/2026
10:00 for a 10-working-day procedure, so due Mon 2/11 17:00; a supplement asked on Fri
23/10 10:00 and handed in on Mon 26/10 10:00 holds the clock one working day (due Tue 3/11)
and 9.5 working hours; the apology on Mon 2/11 is before its deadline (Mon 2/11 17:00)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from shared.events import INTAKE_TOPIC, PROCESSING_TOPIC
from tests.support.api import DESK_KEY, IMPORTER_KEY, PROCEDURE, UNIT, Api
from tests.support.wait import until

pytestmark = pytest.mark.integration
# What the watchdog adds to a dossier's processing events besides the workflow's own.
WATCHDOG = ("dossier.due_soon", "dossier.overdue", "dossier.stuck", "dossier.unstuck")
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def t(day: int, month: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN)


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_file_accept_supplement_apologize_resolve_return(api: Api) -> None:
    r = await api.file(key=IMPORTER_KEY, received_at=t(19, 10, 10).isoformat(),
                       procedure_code=PROCEDURE)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert iso(r.json()["due_at"]) == t(2, 11, 17)

    view = await api.processing_view(code)
    assert view["state"] == "received" and iso(view["due_at"]) == t(2, 11, 17)
    assert iso(view["apology_deadline"]) == t(30, 10, 17)

    async def act(action: str, **body: object) -> dict[str, object]:
        resp = await api.act(code, action, body, units=["*"], role="importer")
        assert resp.status_code == 200, (action, resp.text)
        return dict(resp.json())

    s = await act("accept", at=t(19, 10, 11).isoformat())
    assert s["state"] == "processing"
    s = await act("request-supplement", at=t(23, 10, 10).isoformat(), reason="thiếu bản sao CCCD")
    assert s["state"] == "awaiting_supplement" and s["supplement_count"] == 1

    await api.wait_intake_status(code, "awaiting_supplement")
    resp = await api.http.post(api.url("intake", f"/v1/dossiers/{code}/supplements"),
                               headers={"X-API-Key": IMPORTER_KEY},
                               json={"documents": [{"name": "Bản sao CCCD"}],
                                     "at": t(26, 10, 10).isoformat()})
    assert resp.status_code == 200, resp.text
    assert iso(resp.json()["due_at"]) == t(3, 11, 17)

    # Processing resumes the clock when it consumes intake's supplement_received.
    view = await api.wait_processing_state(code, "processing")
    assert iso(view["due_at"]) == t(3, 11, 17) and iso(view["original_due_at"]) == t(2, 11, 17)
    assert view["paused_days"] == 1 and view["paused_working_seconds"] == 9.5 * 3600
    assert iso(view["apology_deadline"]) == t(2, 11, 17)

    s = await act("apologize", at=t(2, 11, 10).isoformat(), reason="cần xác minh thêm",
                  new_due_at=t(6, 11, 17).isoformat())
    assert s["apology_timely"] is True and iso(str(s["appointment_at"])) == t(6, 11, 17)
    s = await act("resolve", at=t(4, 11, 15).isoformat(), result_ref="LLTP-2026-0001")
    assert s["state"] == "resolved"
    s = await act("return", at=t(5, 11, 9).isoformat(), method="counter")
    assert s["state"] == "returned"

    # Events, each on its topic, in order for this dossier.
    intake_events = await api.topic_events(INTAKE_TOPIC, code, expect=2)
    assert [e[0] for e in intake_events] == ["dossier.received", "dossier.supplement_received"]
    # The watchdog may add warnings and stuck flags on the same topic: wait for the five
    # workflow events.
    async def all_five() -> list[tuple[str, dict[str, bytes], bytes]] | None:
        found = await api.topic_events(PROCESSING_TOPIC, code, expect=5)
        kinds = [e[0] for e in found if e[0] not in WATCHDOG]
        return found if len(kinds) >= 5 else None

    processing = await until(all_five)
    workflow = [e[0] for e in processing if e[0] not in WATCHDOG]
    assert workflow == ["dossier.accepted", "dossier.supplement_requested",
                        "dossier.apology_issued", "dossier.resolved", "dossier.result_returned"]
    # The dossier was back-filled past its dates, so the watchdog may have warned while it
    # was open (depending on when its scan ran) — but never more than once of each kind.
    watchdog = [e[0] for e in processing if e[0] in ("dossier.due_soon", "dossier.overdue")]
    assert len(watchdog) == len(set(watchdog))
    # A back-filled step days after the one before may find the dossier flagged stuck in
    # between; each flag is followed by the step that cleared it.
    flags = [e[0] for e in processing if e[0] in ("dossier.stuck", "dossier.unstuck")]
    assert flags == ["dossier.stuck", "dossier.unstuck"] * (len(flags) // 2)
    apology = orjson.loads(next(e[2] for e in processing if e[0] == "dossier.apology_issued"))
    assert apology["timely"] is True
    assert iso(apology["original_due_at"]) == t(3, 11, 17)
    assert iso(apology["new_due_at"]) == t(6, 11, 17)
    returned = orjson.loads(next(e[2] for e in processing if e[0] == "dossier.result_returned"))
    assert returned["method"] == "counter" and iso(returned["returned_at"]) == t(5, 11, 9)

    # The control slip (Form 05): every hop, judged against the due date then in force.
    slip = (await api.http.get(api.url("processing", f"/v1/dossiers/{code}/control-slip"),
                               headers=api.token([UNIT]))).json()
    steps = [(e["step"], e["timeliness"]) for e in slip["entries"]]
    assert steps == [
        ("received", "early"),
        ("accept", "early"),
        ("request-supplement", "early"),
        ("supplement-received", "early"),
        ("apologize", "early"),
        ("resolve", "late"),
        ("return", "late"),
    ]
    assert slip["entries"][3]["working_seconds_since_previous"] == 9.5 * 3600

    # Intake's public view followed every step through the events.
    final = await api.wait_intake_status(code, "returned")
    assert iso(final["appointment_at"]) == t(6, 11, 17)
    types = [e["type"] for e in final["timeline"]]
    for expected in ("dossier.received", "dossier.accepted", "dossier.supplement_requested",
                     "dossier.supplement_received", "dossier.apology_issued",
                     "dossier.resolved", "dossier.result_returned"):
        assert expected in types


async def test_withdrawal_reaches_processing_and_blocks_later_actions(api: Api) -> None:
    code = (await api.file()).json()["code"]
    await api.processing_view(code)
    r = await api.http.post(api.url("intake", f"/v1/dossiers/{code}/withdraw"),
                            headers={"X-API-Key": DESK_KEY},
                            json={"reason": "applicant request"})
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    await api.wait_processing_state(code, "withdrawn")
    r = await api.act(code, "accept")
    assert r.status_code == 409 and r.json()["state"] == "withdrawn"
    again = await api.http.post(api.url("intake", f"/v1/dossiers/{code}/withdraw"),
                                headers={"X-API-Key": DESK_KEY}, json={})
    assert again.status_code == 409


async def test_a_supplement_nobody_asked_for_is_409(api: Api) -> None:
    code = (await api.file()).json()["code"]
    r = await api.http.post(api.url("intake", f"/v1/dossiers/{code}/supplements"),
                            headers={"X-API-Key": DESK_KEY},
                            json={"documents": [{"name": "x"}]})
    assert r.status_code == 409 and r.json()["status_now"] == "received"
