"""The printed forms (Circular 03/2025/TT-VPCP) for dossiers built through the public APIs:
each PDF is read back (pypdf) for the dossier code, the applicant's name as printed for the
applicant, the unit, the dates in dd/mm/yyyy and the form's title, and its QR code is decoded
from the rendered page (pypdfium2 and zxing-cpp) to the status look-up URL."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pypdfium2
import pytest
import zxingcpp

from tests.support.api import DESK_KEY, UNIT, Api
from tests.support.dates import new_appointment

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")
LOOKUP = "https://dichvucong.gov.vn/tra-cuu-ho-so?ma={code}"
TITLES = {
    "01": "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
    "02": "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
    "03": "PHIẾU TỪ CHỐI TIẾP NHẬN, GIẢI QUYẾT HỒ SƠ",
    "04": "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
    "05": "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
    "06": "THÔNG BÁO DỪNG XỬ LÝ HỒ SƠ",
    "07": "SỔ THEO DÕI HỒ SƠ",
}


def read(pdf: bytes) -> tuple[str, list[str]]:
    """The PDF's text, and what its QR codes say."""
    assert pdf.startswith(b"%PDF-")
    # Words joined by single spaces: a table cell wraps its text over lines.
    text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
                    .split())
    # Every page: the QR code stands beside the signature, on a long register's last page.
    codes = [r.text for page in pypdfium2.PdfDocument(pdf)
             for r in zxingcpp.read_barcodes(page.render(scale=3).to_pil())]
    return text, codes


async def intake_form(api: Api, code: str, number: str) -> tuple[int, bytes]:
    r = await api.http.get(api.url("intake", f"/v1/dossiers/{code}/forms/{number}"),
                           headers={"X-API-Key": DESK_KEY})
    return r.status_code, r.content


async def filed(api: Api) -> dict[str, Any]:
    r = await api.file(documents=[{"name": "Tờ khai cấp phiếu lý lịch tư pháp"},
                                  {"name": "Bản sao CCCD", "copies": 2}])
    assert r.status_code == 201, r.text
    return dict(r.json())


def check(text: str, codes: list[str], number: str, code: str, *dates: str) -> None:
    assert TITLES[number] in text, (number, text[:400])
    assert code in text and "Sở Tư pháp" in text.replace("SỞ TƯ PHÁP", "Sở Tư pháp")
    for day in dates:
        assert day in text, (number, day)
    # Form 07 lists many dossiers: its code leads to the look-up page, where each is found.
    assert codes == [LOOKUP.replace("{code}", "" if number == "07" else code)], (number, codes)


def dmy(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(VN).strftime("%d/%m/%Y")


async def test_the_receipt_names_the_applicant_and_the_appointment(api: Api) -> None:
    receipt = await filed(api)
    status, pdf = await intake_form(api, receipt["code"], "01")
    assert status == 200
    text, codes = read(pdf)
    check(text, codes, "01", receipt["code"], dmy(receipt["received_at"]), dmy(receipt["due_at"]))
    assert "Nguyễn Văn An" in text and receipt["pin"] in text and "Bản sao CCCD" in text


async def test_each_step_s_form_follows_the_step(api: Api) -> None:
    receipt = await filed(api)
    code = receipt["code"]
    for number in ("02", "03", "04", "06"):  # nothing of the kind happened yet
        status, _ = await intake_form(api, code, number)
        assert status == 409, number
    await api.processing_view(code)
    assert (await api.act(code, "accept")).status_code == 200
    r = await api.act(code, "apologize", {"reason": "cần xác minh với cơ quan khác",
                                          "new_due_at": new_appointment()})
    assert r.status_code == 200, r.text
    new_date = r.json()["appointment_at"]
    assert (await api.act(code, "request-supplement",
                          {"reason": "thiếu bản sao giấy khai sinh"})).status_code == 200
    await api.wait_intake_status(code, "awaiting_supplement")
    text, codes = read((await intake_form(api, code, "02"))[1])
    check(text, codes, "02", code, dmy(receipt["received_at"]))
    assert "thiếu bản sao giấy khai sinh" in text and "Nguyễn Văn An" in text
    text, codes = read((await intake_form(api, code, "04"))[1])
    check(text, codes, "04", code, dmy(receipt["due_at"]), dmy(new_date))
    assert "cần xác minh với cơ quan khác" in text
    assert (await api.act(code, "stop", {"reason": "người nộp không bổ sung"})).status_code == 200
    await api.wait_intake_status(code, "stopped")
    text, codes = read((await intake_form(api, code, "06"))[1])
    check(text, codes, "06", code)
    assert "người nộp không bổ sung" in text
    r = await api.http.get(api.url("processing", f"/v1/dossiers/{code}/forms/05"),
                           headers=api.token([UNIT]))
    assert r.status_code == 200
    text, codes = read(r.content)
    check(text, codes, "05", code, dmy(receipt["received_at"]))
    assert "Nguyễn V. A." in text  # processing knows the applicant as the events do: masked
    for step in ("Tiếp nhận", "Chuyển xử lý", "Xin lỗi, hẹn lại", "Yêu cầu bổ sung", "Dừng xử lý"):
        assert step in text, step


async def test_a_refusal_and_the_register(api: Api) -> None:
    receipt = await filed(api)
    code = receipt["code"]
    await api.processing_view(code)
    assert (await api.act(code, "reject", {"reason": "không thuộc thẩm quyền"})).status_code == 200
    await api.wait_intake_status(code, "rejected")
    text, codes = read((await intake_form(api, code, "03"))[1])
    check(text, codes, "03", code)
    assert "không thuộc thẩm quyền" in text
    today = datetime.now(VN).date().isoformat()
    r = await api.http.get(api.url("intake", f"/v1/units/{UNIT}/register"),
                           params={"from": today, "to": today}, headers={"X-API-Key": DESK_KEY})
    assert r.status_code == 200, r.text
    text, codes = read(r.content)
    check(text, codes, "07", code, dmy(receipt["received_at"]))
    assert "từ chối" in text and "Nguyễn Văn An" in text


async def test_bad_requests_for_forms(api: Api) -> None:
    receipt = await filed(api)
    status, _ = await intake_form(api, receipt["code"], "09")
    assert status == 422
    r = await api.http.get(api.url("intake", "/v1/units/H99.99/register"),
                           params={"from": "2026-11-01", "to": "2026-11-30"},
                           headers={"X-API-Key": DESK_KEY})
    assert r.status_code == 404
    r = await api.http.get(api.url("intake", f"/v1/units/{UNIT}/register"),
                           params={"from": "2026-11-30", "to": "2026-11-01"},
                           headers={"X-API-Key": DESK_KEY})
    assert r.status_code == 422
