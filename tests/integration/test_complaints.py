"""Complaints (phản ánh, kiến nghị) end to end through the public APIs, back-dated by the
importer into September 2026, across the National Day holiday, and indicators 5.1–5.4 of the
national index computed by hand.

The calendar (no unit override for H26.08, Sở Nội vụ): Fri 28/08 works; Sat 29, Sun 30,
Mon 31/08 (off, worked on Sat 22/08 instead), Tue 1/09 and Wed 2/09 (National Day) do not;
Thu 3/09 on, weekdays work. Deadlines are office close (17:00) of the N-th working day.

| complaint | received    | what happens                                          | 5.2     | 5.3      |
|-----------|-------------|-------------------------------------------------------|---------|----------|
| A proc.   | 28/08 10:00 | answer due 23/09 (15 days over the holiday); answered | on time | yes      |
|           |             | 22/09, published 23/09 (due 24/09), accepted          |         |          |
| B proc.   | 28/08 10:00 | answered Thu 24/09: a day late                        | late    | no       |
| C conduct | 3/09 09:00  | refused 4/09 16:00 (due 7/09 17:00)                   | on time | repeated |
| D other   | 3/09 09:00  | info asked 8/09 (due 10/09), given 14/09: 4 working   | on time | disliked |
|           |             | days paused, answer due 24/09 → 30/09; answered 29/09,|         |          |
|           |             | published 30/09, disliked                             |         |          |
| E conduct | 10/09 09:00 | repeats C; still open, due in October                 | not due | yes      |
| F proc.   | 10/08 09:00 | never answered, due 28/08 17:00: the watch flags it   | overdue | no       |
| G proc.   | 11/09 10:00 | about dossier X (its receipt PIN); answered 15/09,    | on time | yes      |
|           |             | published 16/09                                       |         |          |

5.1: 4 about procedures, 2 about conduct, 1 other, of 7 (information only).
5.2: 5 / 7 = 71.43 % → 6 × 0.7142857 = 4.29. 5.3: 3 / 7 = 42.86 % → 2.57.
5.4: dossier X (received 7/09, resolved on time 10/09, rated nothing) is the population's only
dossier; complained about by G → 0 / 1 → 0.00 (it would be 6.00 without the complaint).
`metrics rebuild` gives the same index.
A unit with no complaint at all (H26.09) gets the full 6 + 6 on 5.2 and 5.3.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime
from typing import Any

import orjson
import pytest

from shared.auth import mint_token
from shared.clock import VN
from shared.events import COMPLAINTS_TOPIC
from tests.conftest import Standins
from tests.support.api import IMPORTER_KEY, PORTAL_KEY, ROOT_DIR, Api, applicant
from tests.support.wait import until

pytestmark = pytest.mark.integration
UNIT = "H26.08"
PROCEDURE = "2.000205"  # 10 working days
SEPTEMBER = {"from": "2026-09-01", "to": "2026-09-30"}
CALLER = {"full_name": "Trần Thị Bình", "phone": "0987654321", "email": "binh@example.vn"}


def at(day: str, hm: str = "10:00") -> str:
    return datetime.fromisoformat(f"2026-{day}T{hm}:00").replace(tzinfo=VN).isoformat()


def close(day: str) -> str:
    return at(day, "17:00")


class Complaints:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.importer = {"Authorization": "Bearer " + mint_token(
            api.secret, subject="importer-1", role="importer", units=["*"])}

    def url(self, path: str) -> str:
        return self.api.url("feedback", path)

    async def submit(self, day: str, hm: str = "10:00", *, expect: int = 201,
                     **body: Any) -> dict[str, Any]:
        full = {"subject": "Chậm trả kết quả", "body": "Hồ sơ của tôi chậm so với hẹn.",
                "unit_code": UNIT, "category": "procedure", "complainant": CALLER,
                "at": at(day, hm), **body}
        r = await self.api.http.post(self.url("/v1/complaints"), json=full,
                                     headers=self.importer)
        assert r.status_code == expect, r.text
        return dict(r.json())

    async def step(self, code: str, action: str, day: str, hm: str = "10:00",
                   **body: Any) -> dict[str, Any]:
        r = await self.api.http.post(self.url(f"/v1/complaints/{code}/steps"),
                                     json={"action": action, "at": at(day, hm), **body},
                                     headers=self.importer)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def citizen(self, code: str, what: str, pin: str, day: str, hm: str = "10:00",
                      **body: Any) -> dict[str, Any]:
        r = await self.api.http.post(self.url(f"/v1/complaints/{code}/{what}"),
                                     json={"pin": pin, "at": at(day, hm), **body},
                                     headers=self.importer)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def index(self, unit: str) -> dict[str, Any]:
        r = await self.api.http.get(self.api.url("metrics", f"/v1/metrics/units/{unit}/index766"),
                                    params=SEPTEMBER)
        assert r.status_code == 200, r.text
        return dict(r.json())


async def dossier_x(api: Api, c: Complaints) -> tuple[str, str]:
    """Received Mon 7/09 09:00, resolved Thu 10/09: on time."""
    r = await api.http.post(api.url("intake", "/v1/dossiers"), headers={"X-API-Key": IMPORTER_KEY},
                            json={"unit_code": UNIT, "procedure_code": PROCEDURE,
                                  "channel": "counter", "return_method": "counter",
                                  "applicant": applicant(), "received_at": at("09-07", "09:00")})
    assert r.status_code == 201, r.text
    code, pin = r.json()["code"], r.json()["pin"]
    for action, day in (("accept", "09-07"), ("resolve", "09-10")):
        async def done(action: str = action, day: str = day) -> bool | None:
            r = await api.http.post(api.url("processing", f"/v1/dossiers/{code}/actions/{action}"),
                                    json={"at": at(day, "11:00")}, headers=c.importer)
            if r.status_code in (404, 409):
                return None
            assert r.status_code == 200, r.text
            return True
        await until(done, timeout_s=30)
    return code, pin


async def test_a_complaints_lifecycle_and_indicators_5_1_to_5_4(api: Api) -> None:
    c = Complaints(api)
    x, x_pin = await dossier_x(api, c)

    a = await c.submit("08-28")
    assert a["deadlines"] == {"refuse_by": close("09-04"), "request_info_by": close("09-09"),
                              "answer_by": close("09-23"), "publish_by": None}
    assert a["via"] == "desk" and a["state"] == "received" and len(a["pin"]) == 6
    answered = await c.step(a["code"], "answer", "09-22", text="Đã chỉ đạo trả kết quả.")
    assert answered["deadlines"]["publish_by"] == close("09-24")
    await c.step(a["code"], "publish", "09-23", "09:00")
    await c.citizen(a["code"], "reaction", a["pin"], "09-25", reaction="accepted")

    b = await c.submit("08-28")
    await c.step(b["code"], "answer", "09-24", text="Trả lời muộn.")

    cc = await c.submit("09-03", "09:00", category="conduct",
                        subject="Thái độ cán bộ", body="Cán bộ không hướng dẫn.")
    assert cc["deadlines"]["refuse_by"] == close("09-07")
    refused = await c.step(cc["code"], "refuse", "09-04", "16:00",
                           reason="Không thuộc thẩm quyền của Sở.")
    assert refused["state"] == "refused"

    d = await c.submit("09-03", "09:00", category="other")
    assert d["deadlines"]["answer_by"] == close("09-24")
    await c.step(d["code"], "request_info", "09-08", what="Bản sao giấy hẹn trả kết quả")
    given = await c.citizen(d["code"], "info", d["pin"], "09-14", info="Đã gửi bản chụp.")
    assert given["deadlines"]["answer_by"] == close("09-30"), "paused 9, 10, 11 and 14/09"
    assert given["complainant"] is None, "the citizen's own answer shows no contact"
    await c.step(d["code"], "answer", "09-29", text="Đã xem xét và trả lời.")
    await c.step(d["code"], "publish", "09-30")
    disliked = await c.citizen(d["code"], "reaction", d["pin"], "09-30", "12:00",
                               reaction="disliked")
    assert disliked["reaction"] == "disliked"

    e = await c.submit("09-10", "09:00", category="conduct", repeat_of=cc["code"])
    assert e["repeat_of"] == cc["code"]
    first = await api.http.get(c.url(f"/v1/complaints/{cc['code']}"), headers=c.importer)
    assert first.json()["repeated_at"] == at("09-10", "09:00")

    f = await c.submit("08-10", "09:00")
    assert f["deadlines"]["answer_by"] == close("08-28"), "Sat 22/08 was worked"

    g = await c.submit("09-11", dossier_code=x, pin=x_pin, unit_code=None)
    assert g["unit_code"] == UNIT and g["dossier_code"] == x
    await c.step(g["code"], "answer", "09-15", text="Đã trả kết quả.")
    await c.step(g["code"], "publish", "09-16")

    # The index, once metrics has folded every event.
    async def counted() -> dict[str, Any] | None:
        index = await c.index(UNIT)
        got = {i["id"]: i for i in index["indicators"]}
        return index if got["5.2"]["denominator"] == 7 and got["5.4"]["denominator"] == 1 \
            and got["5.3"]["numerator"] == 3 else None
    index = await until(counted, timeout_s=60)
    got = {i["id"]: i for i in index["indicators"]}
    assert (got["5.1"]["numerator"], got["5.1"]["denominator"]) == (4, 7)
    assert index["complaints_by_category"] == {"procedure": 4, "conduct": 2, "other": 1}
    assert (got["5.2"]["numerator"], got["5.2"]["ratio"], got["5.2"]["points"]) == (5, 71.43, 4.29)
    assert (got["5.3"]["numerator"], got["5.3"]["ratio"], got["5.3"]["points"]) == (3, 42.86, 2.57)
    assert (got["5.4"]["numerator"], got["5.4"]["points"]) == (0, 0.0), "X was complained about"
    assert got["2.1"]["numerator"] == 1, "X itself was on time"

    # `metrics rebuild` folds the complaints again from the topics: the same index.
    rebuilt = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "services.metrics.rebuild"], cwd=ROOT_DIR,
        env=api.stack.env, capture_output=True, text=True, timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert "complaints=" in rebuilt.stdout and "complaints=0" not in rebuilt.stdout
    assert await c.index(UNIT) == index

    quiet = {i["id"]: i for i in (await c.index("H26.09"))["indicators"]}
    assert quiet["5.2"]["empty"] and quiet["5.2"]["points"] == 6.0
    assert quiet["5.3"]["empty"] and quiet["5.3"]["points"] == 6.0

    # The watch announced F's missed answer, once; nothing of the caller travels.
    async def overdue() -> list[Any] | None:
        found = await api.topic_events(COMPLAINTS_TOPIC, f["code"], expect=1)
        return [v for t, _h, v in found if t == "complaint.overdue"] or None
    [flagged] = await until(overdue, timeout_s=30)
    assert orjson.loads(flagged)["step"] == "answer"
    events = await api.topic_events(COMPLAINTS_TOPIC, a["code"], expect=4)
    # (the watch may have flagged A between its back-dated receipt and its answer)
    assert [t for t, _h, _v in events if t != "complaint.overdue"] == [
        "complaint.submitted", "complaint.answered", "complaint.published", "complaint.reacted"]
    for _t, _h, value in events:
        for secret in (CALLER["phone"], CALLER["email"], CALLER["full_name"], a["pin"]):
            assert secret not in value.decode()

    # Published answers, for anyone, without personal data.
    public = await api.http.get(c.url("/v1/public/complaints"), params={"unit_code": UNIT})
    assert public.status_code == 200
    codes = {p["code"] for p in public.json()}
    assert codes == {a["code"], d["code"], g["code"]}
    assert all(secret not in public.text for secret in CALLER.values())
    one = await api.http.get(c.url(f"/v1/public/complaints/{a['code']}"))
    assert one.status_code == 200 and one.json()["answer"] == "Đã chỉ đạo trả kết quả."
    unpublished = await api.http.get(c.url(f"/v1/public/complaints/{b['code']}"))
    assert unpublished.status_code == 404


async def _mail(standins: Standins, address: str) -> list[Any] | None:
    return standins.mailbox.to(address) or None


async def test_a_portal_submits_for_a_citizen_and_personal_data_is_masked(
        api: Api, standins: Standins) -> None:
    r = await api.http.post(api.url("feedback", "/v1/complaints"), headers={"X-API-Key": PORTAL_KEY},
                            json={"subject": "Phí thu sai", "unit_code": UNIT,
                                  "body": "Gọi lại cho tôi qua 0912 345 678 hoặc an@example.vn.",
                                  "complainant": CALLER})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["via"] == "portal" and made["complainant"]["phone"] == "0987654321"
    assert "0912 345 678" not in made["body"] and "an@example.vn" not in made["body"]
    early = await api.http.post(api.url("feedback", f"/v1/complaints/{made['code']}/reaction"),
                                json={"pin": made["pin"], "reaction": "accepted"})
    assert early.status_code == 409, "nothing to react to before a reply"
    other = await api.http.get(api.url("feedback", f"/v1/complaints/{made['code']}"),
                               headers=api.token(["H26.02"]))
    assert other.status_code == 404, "another unit's officers do not see it"
    mine = await api.http.get(api.url("feedback", f"/v1/complaints/{made['code']}"),
                              headers=api.token([UNIT]))
    assert mine.status_code == 200 and mine.json()["complainant"]["email"] == CALLER["email"]
    # The answer is e-mailed to the complainant (the feedback service's own sender).
    email = f"binh-{made['code'].lower()}@example.vn"
    r = await api.http.post(api.url("feedback", "/v1/complaints"), headers={"X-API-Key": PORTAL_KEY},
                            json={"subject": "Phí thu sai", "unit_code": UNIT,
                                  "body": "Thu phí hai lần.",
                                  "complainant": {**CALLER, "email": email}})
    told = r.json()["code"]
    answered = await api.http.post(api.url("feedback", f"/v1/complaints/{told}/steps"),
                                   headers=api.token([UNIT]),
                                   json={"action": "answer", "text": "Đã hoàn trả phí thu thừa."})
    assert answered.status_code == 200, answered.text
    [mail] = await until(lambda: _mail(standins, email), timeout_s=30)
    text = standins.mailbox.text(mail)
    assert told in str(mail["Subject"]) and "đã được trả lời" in text
    assert "Đã hoàn trả phí thu thừa" in text

    hotline = await api.http.post(api.url("feedback", "/v1/complaints"), headers=api.token([UNIT]),
                                  json={"subject": "Gọi đường dây nóng", "unit_code": UNIT,
                                        "body": "Người gọi phản ánh xếp hàng lâu.",
                                        "via": "hotline"})
    assert hotline.status_code == 201 and hotline.json()["via"] == "hotline"


async def test_bad_complaints_are_refused_and_change_nothing(api: Api) -> None:
    officer = api.token([UNIT])

    async def count() -> int:
        r = await api.http.get(api.url("feedback", "/v1/complaints"), headers=officer,
                               params={"unit_code": UNIT, "limit": 500})
        return len(r.json())

    before = await count()
    post = api.url("feedback", "/v1/complaints")
    base = {"subject": "Phản ánh", "body": "Nội dung phản ánh.", "unit_code": UNIT}
    unknown = await api.http.post(post, headers={"X-API-Key": PORTAL_KEY},
                                  json={**base, "dossier_code": "H26.08-000000-9999",
                                        "pin": "123456"})
    receipt = (await api.file()).json()
    wrong = await api.http.post(post, headers={"X-API-Key": PORTAL_KEY},
                                json={**base, "dossier_code": receipt["code"], "pin": "000000"
                                      if receipt["pin"] != "000000" else "111111"})
    assert unknown.status_code == wrong.status_code == 404
    assert unknown.json()["detail"] == wrong.json()["detail"], "the same answer either way"
    answers = []
    for _ in range(6):  # five wrong PINs per dossier per window, then 429
        r = await api.http.post(post, headers={"X-API-Key": PORTAL_KEY},
                                json={**base, "dossier_code": receipt["code"], "pin": "999999"})
        answers.append(r.status_code)
    assert answers[-1] == 429 and "retry-after" in {k.lower() for k in r.headers}
    for body, status in [
        ({**base, "body": "x" * 8001}, 422),
        ({**base, "category": "weather"}, 422),
        ({**base, "unit_code": "H99.99"}, 422),
        ({"subject": "Thiếu đơn vị", "body": "Không rõ gửi ai."}, 422),
        ({**base, "surprise": True}, 422),
        ({**base, "dossier_code": receipt["code"]}, 422),  # a dossier without its PIN
        ({**base, "via": "hotline"}, 422),  # a portal's complaint comes from the portal
    ]:
        r = await api.http.post(post, headers={"X-API-Key": PORTAL_KEY}, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    malformed = await api.http.post(post, headers={"X-API-Key": PORTAL_KEY,
                                                   "content-type": "application/json"},
                                    content=b'{"subject": "x",')
    assert malformed.status_code in (400, 422)
    for headers in ({}, {"X-API-Key": "not-a-key"}):
        assert (await api.http.post(post, headers=headers, json=base)).status_code == 401
    backdated = await api.http.post(post, headers={"X-API-Key": PORTAL_KEY},
                                    json={**base, "at": at("09-01")})
    assert backdated.status_code == 403, "only an importer back-dates"
    assert await count() == before
    ghost = await api.http.post(api.url("feedback", "/v1/complaints/PAKN-260101-0001/steps"),
                                headers=officer, json={"action": "publish"})
    assert ghost.status_code == 404
