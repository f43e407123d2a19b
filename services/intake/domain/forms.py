"""The desk's papers that intake prints from its own records (Circular 03/2025/TT-VPCP's
forms; docs/rules/forms.md): 01 the receipt and appointment, 02 the request to supplement,
03 the refusal, 04 the apology with the new date, 06 the notice of stopping, and 07 the
register of a unit's dossiers. Pure: each takes the dossier, its timeline and names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.domain.dossier import Dossier
from shared.forms import Form, place_date, vn_date, vn_datetime

TITLES = {
    "01": "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
    "02": "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
    "03": "PHIẾU TỪ CHỐI TIẾP NHẬN, GIẢI QUYẾT HỒ SƠ",
    "04": "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
    "06": "THÔNG BÁO DỪNG XỬ LÝ HỒ SƠ",
    "07": "SỔ THEO DÕI HỒ SƠ",
}
STATUS_VI = {
    "in_transit": "đang gửi qua bưu chính", "awaiting_receipt": "chờ tiếp nhận",
    "received": "đã tiếp nhận", "processing": "đang giải quyết",
    "awaiting_supplement": "chờ bổ sung", "awaiting_payment": "chờ thực hiện nghĩa vụ tài chính",
    "resolved": "đã giải quyết", "returned": "đã trả kết quả", "rejected": "từ chối",
    "stopped": "dừng xử lý", "withdrawn": "rút hồ sơ",
}
RETURN_VI = {"counter": "tại Bộ phận Một cửa", "online": "trực tuyến",
             "postal": "qua dịch vụ bưu chính công ích"}


class FormNotApplicable(Exception):
    """The dossier is not in a state this form speaks of (409)."""


@dataclass(frozen=True)
class Names:
    unit: str  # the competent unit, which resolves the dossier
    procedure: str
    province: str
    desk: str = ""  # the unit whose desk received it, when not the competent unit's own

    @property
    def receiving(self) -> str:
        return self.desk or self.unit


@dataclass(frozen=True)
class Entry:
    """A timeline entry: what happened, when, with what detail (masked free text)."""

    at: datetime
    type: str
    detail: Mapping[str, Any]


def _last(timeline: Sequence[Entry], event_type: str) -> Entry | None:
    found = [e for e in timeline if e.type == event_type]
    return found[-1] if found else None


def _head(d: Dossier, names: Names) -> list[tuple[str, str]]:
    return [("Mã hồ sơ", d.code), ("Tên thủ tục hành chính", names.procedure),
            ("Tổ chức, cá nhân nộp hồ sơ", str(d.applicant.get("full_name", "")))]


def receipt(d: Dossier, names: Names, pin: str, lookup: str, now: datetime) -> Form:
    if d.received_at is None or d.due_at is None:
        raise FormNotApplicable("the dossier has not been received yet (in transit by post)")
    lines = [*_head(d, names),
             ("Số điện thoại", str(d.applicant.get("phone") or "")),
             ("Thời gian tiếp nhận", vn_datetime(d.received_at)),
             ("Thời gian hẹn trả kết quả", vn_datetime(d.appointment_at or d.due_at)),
             ("Nhận kết quả", RETURN_VI.get(d.return_method, d.return_method)),
             ("Mã tra cứu, đánh giá (PIN)", pin)]
    if names.receiving != names.unit:
        lines.insert(3, ("Cơ quan giải quyết", names.unit))
    table = [["STT", "Tên thành phần hồ sơ", "Số lượng"]] + [
        [str(i), str(doc.get("name", "")), str(doc.get("copies", 1))]
        for i, doc in enumerate(d.documents, start=1)]
    return Form("01", TITLES["01"], names.receiving, lines, lookup, table if d.documents else (),
                place_date=place_date(names.province, d.received_at), signer="NGƯỜI TIẾP NHẬN")


def supplement_request(d: Dossier, names: Names, timeline: Sequence[Entry],
                       lookup: str) -> Form:
    asked = _last(timeline, "dossier.supplement_requested")
    if asked is None:
        raise FormNotApplicable("no supplement was requested for this dossier")
    lines = [*_head(d, names), ("Ngày tiếp nhận", vn_date(d.received_at)),
             ("Ngày yêu cầu bổ sung", vn_date(asked.at)),
             ("Nội dung cần bổ sung, hoàn thiện", str(asked.detail.get("reason", ""))),
             ("Người yêu cầu", str(asked.detail.get("requested_by", "")))]
    text = ("Thời gian bổ sung, hoàn thiện hồ sơ không tính vào thời hạn giải quyết; thời "
            "hạn được tính tiếp từ ngày nhận đủ hồ sơ.")
    return Form("02", TITLES["02"], names.receiving, lines, lookup, paragraphs=[text],
                place_date=place_date(names.province, asked.at), signer="NGƯỜI TIẾP NHẬN")


def refusal(d: Dossier, names: Names, timeline: Sequence[Entry], lookup: str) -> Form:
    refused = _last(timeline, "dossier.rejected")
    if d.status != "rejected" or refused is None:
        raise FormNotApplicable("the dossier was not refused")
    lines = [*_head(d, names), ("Ngày nộp", vn_date(d.filed_at)),
             ("Ngày từ chối", vn_date(refused.at)),
             ("Lý do từ chối", str(refused.detail.get("reason", "")))]
    return Form("03", TITLES["03"], names.receiving, lines, lookup,
                place_date=place_date(names.province, refused.at), signer="NGƯỜI TIẾP NHẬN")


def apology(d: Dossier, names: Names, timeline: Sequence[Entry], lookup: str) -> Form:
    sorry = _last(timeline, "dossier.apology_issued")
    if sorry is None:
        raise FormNotApplicable("no apology was issued for this dossier")
    lines = [*_head(d, names), ("Ngày tiếp nhận", vn_date(d.received_at)),
             ("Ngày hẹn trả kết quả", vn_date(_time(sorry.detail.get("original_due_at")))),
             ("Lý do quá hạn", str(sorry.detail.get("reason", ""))),
             ("Đề nghị gia hạn đến ngày", vn_date(_time(sorry.detail.get("new_due_at"))))]
    text = (f"{names.unit} xin lỗi Ông/Bà vì hồ sơ chưa được giải quyết đúng hạn và hẹn lại "
            "ngày trả kết quả như trên.")
    return Form("04", TITLES["04"], names.unit, lines, lookup, paragraphs=[text],
                place_date=place_date(names.province, sorry.at),
                signer="THỦ TRƯỞNG CƠ QUAN, ĐƠN VỊ")


def stop_notice(d: Dossier, names: Names, timeline: Sequence[Entry], lookup: str) -> Form:
    stopped = _last(timeline, "dossier.stopped")
    if d.status != "stopped" or stopped is None:
        raise FormNotApplicable("the dossier's processing was not stopped")
    lines = [*_head(d, names), ("Ngày tiếp nhận", vn_date(d.received_at)),
             ("Ngày dừng xử lý", vn_date(stopped.at)),
             ("Lý do dừng xử lý", str(stopped.detail.get("reason", "")))]
    return Form("06", TITLES["06"], names.unit, lines, lookup,
                place_date=place_date(names.province, stopped.at),
                signer="THỦ TRƯỞNG CƠ QUAN, ĐƠN VỊ")


def register(unit_name: str, province: str, dossiers: Sequence[Dossier],
             procedures: Mapping[str, str], first: datetime, last: datetime,
             now: datetime, lookup: str | None = None) -> Form:
    """Form 07. Its QR code leads to the status look-up page itself (``lookup``), where any
    dossier of the register is found by its code."""
    rows = [["STT", "Mã hồ sơ", "Tên thủ tục", "Tổ chức, cá nhân", "Ngày nhận",
             "Ngày hẹn trả", "Trạng thái"]]
    for i, d in enumerate(sorted(dossiers, key=lambda x: (x.filed_at, x.code)), start=1):
        rows.append([str(i), d.code, procedures.get(d.procedure_code, d.procedure_code),
                     str(d.applicant.get("full_name", "")), vn_date(d.received_at),
                     vn_date(d.appointment_at or d.due_at), STATUS_VI.get(d.status, d.status)])
    lines = [("Đơn vị", unit_name), ("Từ ngày", vn_date(first)), ("Đến ngày", vn_date(last)),
             ("Số hồ sơ", str(len(dossiers)))]
    return Form("07", TITLES["07"], unit_name, lines, lookup, rows,
                place_date=place_date(province, now), signer="NGƯỜI LẬP SỔ", wide=True)


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
