"""Applicant notifications, the pure parts (shared/notifications): the channel chosen from
the contact, the Vietnamese text of each step, phone numbers in the 84… form, masked
addresses, what becomes of a try (shared/retry.py), the channel adapters' requests and how
they read the far side's answers (httpx's mock transport), the settings' production
refusals, and intake's handlers for the preference and the history (in-memory unit of
work). Dates are named explicitly."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import httpx
import pytest

from services.intake.adapters.notifications import notified
from services.intake.service_layer.commands import Requested, SetNotifications
from services.intake.service_layer.handlers import DossierNotFound, IntakeHandlers
from services.intake.settings import Settings as IntakeSettings
from shared.clock import VN
from shared.notifications import (
    KINDS,
    Contact,
    Message,
    SendFailed,
    SmsGatewayChannel,
    SmtpChannel,
    ZaloZnsChannel,
    choose_channel,
    compose,
    international_phone,
    mask_address,
)
from shared.notifications.contact import BadPhone, why_not_sent
from shared.notifications.messages import UnknownKind, local_time
from shared.retry import Retry, after_attempt, backoff, lease_for
from tests.support.fakes import FakeIntakeUnitOfWork
from tests.unit.test_service_layer_intake import CODE, DESK, IMPORTER, PORTAL, RB, filing

EMAIL, PHONE = "ngoc.tran@example.vn", "0912345678"
DUE = datetime(2026, 12, 15, 17, 0, tzinfo=VN)
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


# ------------------------------------------------------------------ the channel
@pytest.mark.parametrize(("email", "phone", "preference", "expected"), [
    (EMAIL, PHONE, "auto", ("email", EMAIL)),
    (None, PHONE, "auto", ("sms", PHONE)),
    ("", PHONE, "auto", ("sms", PHONE)),
    (None, None, "auto", None),
    (EMAIL, PHONE, "none", None),
    (EMAIL, PHONE, "sms", ("sms", PHONE)),
    (EMAIL, PHONE, "zalo", ("zalo", PHONE)),
    (None, PHONE, "email", ("sms", PHONE)),  # no e-mail: auto
    (EMAIL, None, "zalo", ("email", EMAIL)),  # no phone: auto
    (EMAIL, None, "sms", ("email", EMAIL)),
    (None, None, "zalo", None),
])
def test_the_channel_follows_the_preference_and_falls_back_to_auto(
        email: str | None, phone: str | None, preference: Any, expected: Any) -> None:
    assert choose_channel(Contact(email, phone, preference)) == expected


def test_why_a_notification_is_skipped() -> None:
    assert why_not_sent(Contact(EMAIL, PHONE, "none")) == "opted out"
    assert why_not_sent(Contact(None, None, "auto")) == "no contact"


@pytest.mark.parametrize(("given", "expected"), [
    ("0912345678", "84912345678"), ("0912 345 678", "84912345678"),
    ("+84 912 345 678", "84912345678"), ("84912345678", "84912345678"),
    ("0084912345678", "84912345678"), ("0912.345.678", "84912345678"),
    ("(024) 3825 1234", "842438251234"),  # a landline, 10 digits after the 0
])
def test_phone_numbers_go_out_in_the_84_form(given: str, expected: str) -> None:
    assert international_phone(given) == expected


@pytest.mark.parametrize("bad", ["12345", "0012345678", "+33 6 12 34 56 78", "09123456789012",
                                 "0912-abc-678", ""])
def test_what_is_not_a_vietnamese_number_is_refused(bad: str) -> None:
    with pytest.raises(BadPhone):
        international_phone(bad)


def test_addresses_are_masked_for_the_desk() -> None:
    assert mask_address("0912345678") == "09******78"
    assert mask_address("ngoc.tran@example.vn") == "n***@example.vn"
    assert mask_address("123") == "***"
    assert mask_address(None) is None and mask_address("") is None


# ------------------------------------------------------------------ the text
FACTS = {"due_at": DUE.isoformat(), "reason": "Thiếu bản sao Căn cước công dân.",
         "new_due_at": datetime(2026, 12, 22, 10, 30, tzinfo=VN).isoformat(),
         "return_method": "postal", "complaint_code": "PAKN-2612-0007",
         "answer": "Hồ sơ đã được giải quyết, mời ông đến nhận."}
CODE_X = "H26.01-261201-0042"
PROC = "Cấp Phiếu lý lịch tư pháp"


def test_received_tells_the_due_date_in_vietnam_time() -> None:
    m = compose("dossier.received", CODE_X, PROC, FACTS)
    assert m == Message(f"Hồ sơ {CODE_X} đã được tiếp nhận",
                        f"Hồ sơ {CODE_X} ({PROC}) đã được tiếp nhận. Hạn trả kết quả: "
                        "15/12/2026 17:00.", CODE_X)
    # The same moment given in UTC, or as a datetime, reads the same in +07:00.
    utc = compose("dossier.received", CODE_X, None, {"due_at": DUE.astimezone(UTC)})
    assert utc.text == f"Hồ sơ {CODE_X} đã được tiếp nhận. Hạn trả kết quả: 15/12/2026 17:00."
    assert local_time("2026-12-31T17:30:00+00:00") == "01/01/2027 00:30"
    assert compose("dossier.received", CODE_X, None, {}).text == \
        f"Hồ sơ {CODE_X} đã được tiếp nhận."


def test_supplement_request_says_what_is_missing() -> None:
    m = compose("dossier.supplement_requested", CODE_X, PROC, FACTS)
    assert m.subject == f"Hồ sơ {CODE_X} cần bổ sung"
    assert "Cần bổ sung: Thiếu bản sao Căn cước công dân." in m.text
    assert m.text.startswith(f"Hồ sơ {CODE_X} ({PROC}) cần được bổ sung")


def test_apology_gives_the_new_date() -> None:
    m = compose("dossier.apology_issued", CODE_X, PROC, FACTS)
    assert "xin lỗi" in m.text and "Ngày hẹn trả kết quả mới: 22/12/2026 10:30." in m.text
    assert m.subject == f"Xin lỗi về việc trễ hạn hồ sơ {CODE_X}"


@pytest.mark.parametrize(("method", "hint"), [
    ("counter", "Mời Ông/Bà đến Bộ phận Một cửa để nhận kết quả."),
    ("postal", "qua dịch vụ bưu chính."), ("online", "trực tuyến trên Cổng dịch vụ công."),
    (None, "đã có kết quả giải quyết.")])
def test_result_ready_says_where_to_get_it(method: str | None, hint: str) -> None:
    m = compose("dossier.resolved", CODE_X, PROC, {"return_method": method})
    assert m.subject == f"Hồ sơ {CODE_X} đã có kết quả"
    assert m.text.endswith(hint)


def test_result_handed_to_the_courier_stopped_and_rejected() -> None:
    picked = compose("postal.picked_up", CODE_X, PROC, {})
    assert "đã được giao cho đơn vị bưu chính" in picked.text
    stopped = compose("dossier.stopped", CODE_X, PROC, {"reason": "Người nộp đề nghị dừng"})
    assert stopped.text.endswith("đã dừng giải quyết. Lý do: Người nộp đề nghị dừng.")
    rejected = compose("dossier.rejected", CODE_X, None, {"reason": "Không thuộc thẩm quyền."})
    assert rejected.text == (f"Hồ sơ {CODE_X} không được tiếp nhận giải quyết. Lý do: Không "
                             "thuộc thẩm quyền.")


def test_complaint_answered_names_the_complaint_and_may_summarise() -> None:
    m = compose("complaint.answered", CODE_X, None, FACTS)
    assert m.subject == "Phản ánh, kiến nghị PAKN-2612-0007 đã được trả lời"
    assert m.text.endswith("Nội dung trả lời: Hồ sơ đã được giải quyết, mời ông đến nhận.")
    assert m.reference == "PAKN-2612-0007"
    bare = compose("complaint.answered", CODE_X, None, {"complaint_code": "PAKN-1"})
    assert bare.text == f"Phản ánh, kiến nghị PAKN-1 về hồ sơ {CODE_X} đã được trả lời."


def test_every_kind_has_vietnamese_text_with_the_code_and_long_reasons_are_cut() -> None:
    for kind in KINDS:
        m = compose(kind, CODE_X, PROC, FACTS)
        assert CODE_X in m.text and m.subject and m.reference
        assert any(word in m.text for word in ("Hồ sơ", "hồ sơ", "Phản ánh"))
    long = compose("dossier.stopped", CODE_X, None, {"reason": "rất dài " * 100})
    assert len(long.text) < 400 and long.text.endswith("….")
    with pytest.raises(UnknownKind):
        compose("dossier.accepted", CODE_X, None, {})


def test_intake_tells_only_of_the_result_s_pick_up() -> None:
    assert notified("postal.picked_up", {"direction": "outbound"})
    assert not notified("postal.picked_up", {"direction": "inbound"})
    assert notified("dossier.received", {}) and not notified("dossier.accepted", {})


# ------------------------------------------------------------------ retries
def test_a_try_is_sent_retried_with_backoff_or_failed() -> None:
    retry = Retry(base_s=30, cap_s=3600, give_up_after=timedelta(days=1))
    assert after_attempt(True, 1, T0, T0, retry, 0.5) == ("done", T0)
    assert after_attempt(False, 1, T0, T0, retry, 0.5) == ("pending", T0 + timedelta(seconds=15))
    assert after_attempt(False, 3, T0, T0, retry, 0.5) == ("pending", T0 + timedelta(seconds=60))
    assert after_attempt(False, 1, T0, T0, retry, 0.5, permanent=True) == ("failed", T0)
    later = T0 + timedelta(days=1)
    assert after_attempt(False, 40, T0, later, retry, 0.5) == ("failed", later)
    assert after_attempt(True, 40, T0, later, retry, 0.5) == ("done", later)


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    assert backoff(0, 30, 3600, 0.999) < timedelta(seconds=30)
    assert backoff(4, 30, 3600, 0.999) == timedelta(seconds=30 * 16 * 0.999)
    assert backoff(50, 30, 3600, 1.0) == timedelta(hours=1)
    assert backoff(3, 30, 3600, 0.0) == timedelta(seconds=0.1)  # never zero


def test_the_lease_outlasts_a_whole_batch() -> None:
    assert lease_for(10, 50, 8) == timedelta(seconds=10 * 7 + 30)
    assert lease_for(2, 8, 8) == timedelta(seconds=32)


# ------------------------------------------------------------------ the adapters
NID = "ntf_0123456789abcdef0123456789abcdef"
MSG = Message("Hồ sơ H26.01-261201-0042 đã được tiếp nhận",
              "Hồ sơ H26.01-261201-0042 đã được tiếp nhận. Hạn trả kết quả: 15/12/2026 17:00.",
              "H26.01-261201-0042")


def test_the_e_mail_has_a_stable_message_id_and_vietnamese_text() -> None:
    smtp = SmtpChannel("127.0.0.1", 25, "Bộ phận Một cửa <motcua@haiphong.gov.vn>")
    first, again = smtp.build(EMAIL, MSG, NID), smtp.build(EMAIL, MSG, NID)
    assert first["Message-ID"] == again["Message-ID"] == f"<{NID}@haiphong.gov.vn>"
    parsed = message_from_bytes(first.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == MSG.subject and parsed["To"] == EMAIL
    assert "Bộ phận Một cửa" in str(parsed["From"])
    body = parsed.get_body(("plain",))
    assert body is not None and MSG.text in body.get_content()


def recorder(answer: httpx.Response | Exception) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


async def test_the_sms_gateway_request_and_its_answers() -> None:
    http, seen = recorder(httpx.Response(202, json={"id": "m1", "status": "accepted"}))
    sms = SmsGatewayChannel(http, "https://sms.example.vn/v1/messages", "k3y", "MOTCUA")
    await sms.send("0912 345 678", MSG, NID)
    [request] = seen
    assert request.headers["authorization"] == "Bearer k3y"
    assert json.loads(request.content) == {"to": "84912345678", "text": MSG.text,
                                           "client_ref": NID, "sender": "MOTCUA"}
    outcomes = {}
    for status in (409, 400, 401, 422, 429, 500, 503):
        http, _ = recorder(httpx.Response(status, json={}))
        try:
            await SmsGatewayChannel(http, "https://sms.example.vn", "k").send(PHONE, MSG, NID)
            outcomes[status] = "sent"
        except SendFailed as exc:
            outcomes[status] = "permanent" if exc.permanent else "retry"
    assert outcomes == {409: "sent", 400: "permanent", 401: "retry", 422: "permanent",
                        429: "retry", 500: "retry", 503: "retry"}
    http, _ = recorder(httpx.ConnectError("refused"))
    with pytest.raises(SendFailed) as down:
        await SmsGatewayChannel(http, "https://sms.example.vn", "k").send(PHONE, MSG, NID)
    assert not down.value.permanent and "unreachable" in down.value.reason
    with pytest.raises(SendFailed) as bad:
        await SmsGatewayChannel(http, "https://sms.example.vn", "k").send("12", MSG, NID)
    assert bad.value.permanent


async def test_the_zalo_zns_request_and_its_answers() -> None:
    http, seen = recorder(httpx.Response(200, json={
        "error": 0, "message": "Success", "data": {"msg_id": "abc", "sent_time": "1"}}))
    zalo = ZaloZnsChannel(http, "https://business.openapi.zalo.me/message/template", "tok",
                          "251234")
    await zalo.send("+84 912 345 678", MSG, NID)
    [request] = seen
    assert request.headers["access_token"] == "tok"
    assert json.loads(request.content) == {
        "phone": "84912345678", "template_id": "251234", "tracking_id": NID,
        "template_data": {"ma_ho_so": "H26.01-261201-0042", "tieu_de": MSG.subject,
                          "noi_dung": MSG.text}}
    for error, permanent in ((-108, True), (-118, True), (-124, False), (-115, False)):
        http, _ = recorder(httpx.Response(200, json={"error": error,
                                                     "message": "số 0912345678 lỗi"}))
        with pytest.raises(SendFailed) as failed:
            await ZaloZnsChannel(http, "https://z", "t", "1").send(PHONE, MSG, NID)
        assert failed.value.permanent is permanent and str(error) in failed.value.reason
        assert "0912345678" not in failed.value.reason  # the far side's words, masked
    http, _ = recorder(httpx.Response(502, text="bad gateway"))
    with pytest.raises(SendFailed) as gateway:
        await ZaloZnsChannel(http, "https://z", "t", "1").send(PHONE, MSG, NID)
    assert not gateway.value.permanent
    http, _ = recorder(httpx.Response(200, text="<html>"))
    with pytest.raises(SendFailed):
        await ZaloZnsChannel(http, "https://z", "t", "1").send(PHONE, MSG, NID)


async def test_an_smtp_server_that_is_down_is_retried() -> None:
    smtp = SmtpChannel("127.0.0.1", 9, "motcua@example.vn", timeout_s=2)  # the discard port
    with pytest.raises(SendFailed) as down:
        await smtp.send(EMAIL, MSG, NID)
    assert not down.value.permanent and EMAIL not in down.value.reason


# ------------------------------------------------------------------ settings
def test_production_refuses_published_notification_secrets_and_clear_text() -> None:
    def refusals(**env: Any) -> list[str]:
        return [r for r in IntakeSettings(env="production", **env).production_refusals()
                if "SMTP" in r or "SMS" in r or "ZALO" in r]

    assert refusals() == []  # no channel: nothing to refuse
    assert refusals(sms_url="https://sms.example.vn", sms_api_key="local-sms-gateway-key") == [
        "INTAKE_SMS_API_KEY is a default published with the code; set a secret of your own"]
    assert refusals(sms_url="http://sms.example.vn", sms_api_key="a-real-key-0123") == [
        "INTAKE_SMS_URL must be https in production"]
    assert refusals(zalo_access_token="local-zalo-oa-access-token")[0].startswith(
        "INTAKE_ZALO_ACCESS_TOKEN is a default")
    assert refusals(smtp_host="smtp.example.vn", smtp_password="a-real-password")[0] \
        .startswith("INTAKE_SMTP_PASSWORD is set: set INTAKE_SMTP_STARTTLS=required")
    assert refusals(smtp_host="smtp.example.vn", smtp_password="a-real-password",
                    smtp_starttls="required") == []
    assert IntakeSettings(env="local", sms_api_key="local-sms-gateway-key",
                          sms_url="http://127.0.0.1:1").production_refusals() == []


# ------------------------------------------------------------------ intake's handlers
async def test_a_filing_keeps_the_preference_and_the_portal_may_opt_out() -> None:
    uow = FakeIntakeUnitOfWork()
    h = IntakeHandlers(RB, lambda: uow, "test-pin-pepper")
    await h.file(filing(DESK))
    assert CODE not in uow.notifications.preferences  # the default is what no row means
    assert (await h.notifications(CODE, DESK)).preference == "auto"
    uow.notifications.rows.append({"subject_code": CODE, "status": "pending", "id": "ntf_1"})
    at = datetime(2026, 11, 3, 9, 0, tzinfo=VN)
    seen = await h.set_notifications(SetNotifications(CODE, Requested(DESK, at, {}), "none"))
    assert seen.preference == "none"
    assert seen.history == [{"subject_code": CODE, "status": "skipped", "id": "ntf_1",
                             "last_error": "opted out"}]
    assert (await h.notifications(CODE, DESK)).preference == "none"
    with pytest.raises(DossierNotFound):
        await h.notifications(CODE, PORTAL)  # another portal's dossier
    with pytest.raises(DossierNotFound):
        await h.set_notifications(SetNotifications(CODE, Requested(PORTAL, at, {}), "auto"))


async def test_an_importer_s_back_filled_dossier_is_not_notified_unless_asked() -> None:
    uow = FakeIntakeUnitOfWork()
    h = IntakeHandlers(RB, lambda: uow, "test-pin-pepper")
    d = (await h.file(filing(IMPORTER))).dossier
    assert uow.notifications.preferences[d.code][0] == "none"
    cmd = filing(IMPORTER, key="k2")
    d2 = (await h.file(replace(cmd, notify="sms", external_ref="ref-2"))).dossier
    assert uow.notifications.preferences[d2.code][0] == "sms"
