"""Applicant notifications end to end (docs/rules/notifications.md), on the session's stack,
whose intake is configured with three local far sides (tests/conftest.py ``standins``): a
real SMTP server (aiosmtpd), an SMS gateway and Zalo OA's ZNS API (tests/support/), each
checking what it is sent. E-mail arrives in Vietnamese with the code and the due date; SMS
and Zalo requests have the format their APIs want; an applicant who opts out is told
nothing and the history says so; and an SMTP server down for a minute, with the intake
process running the sender SIGKILLed and restarted in the middle, loses no notification and
sends none twice (counted per Message-ID at the server)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Standins
from tests.support.api import DESK_KEY, PORTAL_KEY, Api, applicant
from tests.support.mailbox import Mailbox
from tests.support.stack import alive
from tests.support.wait import until

pytestmark = pytest.mark.integration
DOMAIN = "haiphong.example.vn"  # of INTAKE_SMTP_FROM
OUTAGE_S = float(os.environ.get("MOTCUA_TEST_SMTP_OUTAGE_S", "60"))


def new_email() -> str:
    return f"ngoc.{uuid.uuid4().hex[:10]}@example.vn"


def new_phone() -> str:
    return "09" + str(uuid.uuid4().int)[:8]


async def history(api: Api, code: str, key: str = DESK_KEY) -> dict[str, Any]:
    r = await api.http.get(api.url("intake", f"/v1/dossiers/{code}/notifications"),
                           headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def entry(api: Api, code: str, kind: str, status: str | None = None,
                timeout_s: float = 30) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        for item in (await history(api, code))["items"]:
            if item["kind"] == kind and status in (None, item["status"]):
                return dict(item)
        return None

    return await until(found, timeout_s, every_s=0.2)


async def file(api: Api, person: dict[str, Any], notify: str | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {} if notify is None else {"notify": {"channel": notify}}
    r = await api.file(applicant=person, **extra)
    assert r.status_code == 201, r.text
    return dict(r.json())


def local(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%d/%m/%Y %H:%M")  # given in +07:00


async def test_an_e_mail_in_vietnamese_for_each_step(api: Api, standins: Standins) -> None:
    mail: Mailbox = standins.mailbox
    address = new_email()
    receipt = await file(api, applicant(email=address))
    code = receipt["code"]
    sent = await entry(api, code, "dossier.received", "sent")
    [message] = await until(lambda: _mail(mail, address, 1), 30)
    assert message["Message-ID"] == f"<{sent['id']}@{DOMAIN}>"
    assert message["Subject"] == f"Hồ sơ {code} đã được tiếp nhận"
    text = mail.text(message)
    assert f"Hồ sơ {code} (Cấp Phiếu lý lịch tư pháp" in text
    assert f"đã được tiếp nhận. Hạn trả kết quả: {local(receipt['due_at'])}." in text
    assert message["Content-Type"].params.get("charset") == "utf-8"
    # The desk's history: the address masked, one try, sent.
    assert (sent["channel"], sent["attempts"], sent["address"]) == ("email", 1, "n***@example.vn")
    assert sent["sent_at"] and sent["last_error"] is None and sent["next_attempt_at"] is None

    # A step of processing's, told through intake's consumer: what is missing.
    await api.processing_view(code)
    assert (await api.act(code, "accept")).status_code == 200
    r = await api.act(code, "request-supplement", {"reason": "Thiếu bản sao Căn cước công dân"})
    assert r.status_code == 200, r.text
    await entry(api, code, "dossier.supplement_requested", "sent")
    second = (await until(lambda: _mail(mail, address, 2), 30))[1]
    assert second["Subject"] == f"Hồ sơ {code} cần bổ sung"
    assert "Cần bổ sung: Thiếu bản sao Căn cước công dân." in mail.text(second)
    # Accepting tells the applicant nothing.
    kinds = [i["kind"] for i in (await history(api, code))["items"]]
    assert kinds == ["dossier.received", "dossier.supplement_requested"]
    # Another portal sees no history of this dossier.
    r = await api.http.get(api.url("intake", f"/v1/dossiers/{code}/notifications"),
                           headers={"X-API-Key": PORTAL_KEY})
    assert r.status_code == 404


async def _mail(mail: Mailbox, address: str, n: int) -> list[Any] | None:
    found = mail.to(address)
    return found if len(found) >= n else None


async def test_sms_and_zalo_requests_have_their_apis_format(api: Api,
                                                            standins: Standins) -> None:
    phone = new_phone()
    international = "84" + phone[1:]
    by_sms = await file(api, applicant(phone=phone, email=new_email()), notify="sms")
    sent = await entry(api, by_sms["code"], "dossier.received", "sent")
    assert (sent["channel"], sent["address"]) == ("sms", phone[:2] + "******" + phone[-2:])
    [sms] = standins.sms.to(international)
    assert sms["client_ref"] == sent["id"] and by_sms["code"] in sms["text"]
    assert f"Hạn trả kết quả: {local(by_sms['due_at'])}." in sms["text"]

    by_zalo = await file(api, applicant(phone=phone), notify="zalo")
    zns = await entry(api, by_zalo["code"], "dossier.received", "sent")
    assert zns["channel"] == "zalo"
    [message] = [m for m in standins.zalo.to(international)
                 if m["tracking_id"] == zns["id"]]
    assert message["template_data"]["ma_ho_so"] == by_zalo["code"]
    assert message["template_data"]["noi_dung"].startswith(f"Hồ sơ {by_zalo['code']}")
    # A phone only, no preference: SMS.
    auto = await file(api, applicant(phone=phone))
    assert (await entry(api, auto["code"], "dossier.received", "sent"))["channel"] == "sms"
    assert standins.sms.refused == [] and standins.zalo.refused == []


async def test_an_applicant_who_opts_out_is_told_nothing(api: Api, standins: Standins) -> None:
    mail: Mailbox = standins.mailbox
    # Opted out at filing, and no contact at all: skipped at once, and the history says why.
    address = new_email()
    quiet = await file(api, applicant(email=address), notify="none")
    skipped = await entry(api, quiet["code"], "dossier.received", "skipped")
    assert (skipped["last_error"], skipped["attempts"], skipped["channel"]) == (
        "opted out", 0, None)
    nobody = await file(api, applicant(phone=None))
    none = await entry(api, nobody["code"], "dossier.received", "skipped")
    assert none["last_error"] == "no contact"

    # Opted out later, while a notification waits for the SMTP server: it is never sent,
    # and neither is anything after.
    later = new_email()
    mail.down()
    try:
        filed = await file(api, applicant(email=later))
        await until(lambda: _tried(api, filed["code"]), 30)
        r = await api.http.put(api.url("intake", f"/v1/dossiers/{filed['code']}/notifications"),
                               json={"channel": "none"}, headers={"X-API-Key": DESK_KEY})
        assert r.status_code == 200, r.text
        assert r.json()["preference"] == "none"
        [item] = r.json()["items"]
        assert (item["status"], item["last_error"]) == ("skipped", "opted out")
    finally:
        mail.up()
    await api.processing_view(filed["code"])
    assert (await api.act(filed["code"], "accept")).status_code == 200
    assert (await api.act(filed["code"], "resolve")).status_code == 200
    resolved = await entry(api, filed["code"], "dossier.resolved", "skipped")
    assert resolved["last_error"] == "opted out"
    await asyncio.sleep(2)
    assert mail.to(address) == [] and mail.to(later) == []


async def _tried(api: Api, code: str) -> bool | None:
    items = (await history(api, code))["items"]
    return True if items and items[0]["attempts"] >= 1 and items[0]["status"] == "pending" \
        else None


async def _gone(pid: int) -> bool | None:
    return None if alive(pid) else True


async def test_an_smtp_outage_and_a_killed_sender_lose_nothing_and_send_nothing_twice(
        api: Api, standins: Standins) -> None:
    mail: Mailbox = standins.mailbox
    addresses = [new_email() for _ in range(6)]
    codes: list[str] = []
    mail.down()
    down_at = time.monotonic()
    try:
        for address in addresses[:4]:
            codes.append((await file(api, applicant(email=address)))["code"])

        async def retried(n: int) -> bool | None:
            for code in codes:
                [item] = (await history(api, code))["items"]
                if item["status"] != "pending" or item["attempts"] < n:
                    return None
            return True

        await until(lambda: retried(3), 60, every_s=0.5)
        # The intake process running the sender dies mid-outage; another takes over.
        pid = api.stack.pids()["intake"]
        os.kill(pid, signal.SIGKILL)
        await until(lambda: _gone(pid), 20)
        (api.stack.run_dir / "intake.pid").unlink()  # as `services.sh kill` leaves it
        restarted = api.stack.script("start")
        assert restarted.returncode == 0, restarted.stderr[:300]
        for address in addresses[4:]:
            codes.append((await file(api, applicant(email=address)))["code"])
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        for code in codes:  # still waiting, none lost, none given up
            [item] = (await history(api, code))["items"]
            assert item["status"] == "pending", item
    finally:
        mail.up()

    async def all_sent() -> list[dict[str, Any]] | None:
        items = [(await history(api, code))["items"][0] for code in codes]
        return items if all(i["status"] == "sent" for i in items) else None

    sent = await until(all_sent, 120, every_s=0.5)
    await asyncio.sleep(2)  # nothing more comes after
    counts = mail.by_id()
    for item, address, code in zip(sent, addresses, codes, strict=True):
        assert counts[f"<{item['id']}@{DOMAIN}>"] == 1, item
        [message] = mail.to(address)
        assert code in mail.text(message)
    assert all(i["attempts"] >= 4 for i in sent[:4]), [i["attempts"] for i in sent]
