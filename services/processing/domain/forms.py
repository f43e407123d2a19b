"""Form 05, the control slip (phiếu kiểm soát quá trình giải quyết hồ sơ), as a printed
form: every hop with its time, the unit, who, and early / on time / late. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.processing.domain.control_slip import SlipEntry
from services.processing.domain.workflow import Dossier
from shared.forms import Form, place_date, vn_date, vn_datetime

TITLE = "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ"
STEP_VI = {
    "received": "Tiếp nhận", "accept": "Chuyển xử lý", "assign": "Phân công",
    "transfer": "Chuyển liên thông", "request-supplement": "Yêu cầu bổ sung",
    "supplement-received": "Nhận hồ sơ bổ sung", "request-payment": "Yêu cầu nộp phí, lệ phí",
    "record-payment": "Đã nộp phí, lệ phí", "apologize": "Xin lỗi, hẹn lại",
    "resolve": "Giải quyết xong", "reject": "Từ chối", "stop": "Dừng xử lý",
    "return": "Trả kết quả", "withdrawn": "Rút hồ sơ", "returned-by-post": "Trả qua bưu chính",
}
TIMELINESS_VI = {"early": "trước hạn", "on_time": "đúng hạn", "late": "quá hạn"}


def control_slip_form(d: Dossier, entries: Sequence[SlipEntry], unit_name: str,
                      procedure_name: str, province: str, unit_names: dict[str, str],
                      lookup: str, now: datetime) -> Form:
    lines = [("Mã hồ sơ", d.code), ("Tên thủ tục hành chính", procedure_name),
             ("Tổ chức, cá nhân nộp hồ sơ", d.applicant_name),
             ("Ngày tiếp nhận", vn_date(d.received_at)),
             ("Ngày hẹn trả kết quả", vn_date(d.appointment_at or d.due_at))]
    rows = [["STT", "Bước xử lý", "Đơn vị", "Người thực hiện", "Thời điểm", "Hạn xử lý",
             "Kết quả"]]
    rows += [[str(i), STEP_VI.get(e.step, e.step), unit_names.get(e.unit_code, e.unit_code),
              e.actor, vn_datetime(e.at), vn_date(e.due_at),
              TIMELINESS_VI.get(e.timeliness, e.timeliness)]
             for i, e in enumerate(entries, start=1)]
    return Form("05", TITLE, unit_name, lines, lookup, rows,
                place_date=place_date(province, now), signer="NGƯỜI LẬP PHIẾU")
