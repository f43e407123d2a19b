"""The printed forms as pure builders and one renderer (services/intake/domain/forms.py,
services/processing/domain/forms.py, shared/forms.py): each refuses a dossier in a state it
does not speak of, and renders a PDF whose text has the code, the name as printed, the unit,
dd/mm/yyyy dates and the title, with a QR code of the look-up URL."""

from __future__ import annotations

import io
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pypdfium2
import pytest
import zxingcpp

from services.intake.domain import forms
from services.intake.domain.dossier import Dossier
from services.processing.domain.control_slip import SlipEntry
from services.processing.domain.forms import control_slip_form
from services.processing.domain.workflow import Dossier as ProcessingDossier
from shared import forms as shared_forms
from shared.forms import Form, place_date, render, vn_date, vn_datetime

VN = ZoneInfo("Asia/Ho_Chi_Minh")
T = datetime(2026, 11, 16, 9, 12, tzinfo=VN)
DUE = datetime(2026, 12, 1, 17, 0, tzinfo=VN)
NAMES = forms.Names("Sở Tư pháp", "Cấp Phiếu lý lịch tư pháp", "Hải Phòng")
LOOKUP = "https://tra-cuu.example/ho-so?ma=H26.01-261116-0007"


def dossier(**over: Any) -> Dossier:
    d = Dossier(
        code="H26.01-261116-0007", unit_code="H26.01", current_unit="H26.01",
        procedure_code="2.000488", channel="counter", return_method="postal", filed_at=T,
        received_at=T, counted_from=T, due_at=DUE, processing_days=10, status="received",
        status_at=T, applicant={"full_name": "Trần Thị Bình", "phone": "0987654321"},
        applicant_masked={}, pin_digest="", portal_id="desk-demo", request_hash="",
        rulebook="v", documents=[{"name": "Tờ khai", "copies": 1}])
    return replace(d, **over)


def read(pdf: bytes) -> tuple[str, list[str]]:
    # Words joined by single spaces: a table cell wraps its text over lines.
    text = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
                    .split())
    image = pypdfium2.PdfDocument(pdf)[0].render(scale=3).to_pil()
    return text, [r.text for r in zxingcpp.read_barcodes(image)]


def entry(kind: str, days: int, **detail: Any) -> forms.Entry:
    return forms.Entry(T + timedelta(days=days), kind, detail)


def test_dates_are_vietnamese() -> None:
    assert vn_date(T) == "16/11/2026" and vn_date(None) == ""
    assert vn_datetime(T) == "09 giờ 12, ngày 16/11/2026" and vn_datetime(None) == ""
    assert place_date("Hải Phòng", T) == "Hải Phòng, ngày 16 tháng 11 năm 2026"


def test_the_receipt() -> None:
    text, codes = read(render(forms.receipt(dossier(), NAMES, "482913", LOOKUP, T)))
    for part in ("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", "H26.01-261116-0007",
                 "Trần Thị Bình", "0987654321", "16/11/2026", "01/12/2026", "482913",
                 "Tờ khai", "qua dịch vụ bưu chính công ích", "Mẫu số 01"):
        assert part in text, part
    assert codes == [LOOKUP]
    with pytest.raises(forms.FormNotApplicable):
        forms.receipt(dossier(received_at=None, due_at=None), NAMES, "1", LOOKUP, T)


@pytest.mark.parametrize(("number", "build", "kind", "detail", "status", "expect"), [
    ("02", forms.supplement_request, "dossier.supplement_requested",
     {"reason": "thiếu giấy khai sinh", "requested_by": "officer-1"}, "awaiting_supplement",
     ["PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", "thiếu giấy khai sinh", "17/11/2026"]),
    ("03", forms.refusal, "dossier.rejected", {"reason": "không thuộc thẩm quyền"}, "rejected",
     ["PHIẾU TỪ CHỐI TIẾP NHẬN, GIẢI QUYẾT HỒ SƠ", "không thuộc thẩm quyền"]),
    ("04", forms.apology, "dossier.apology_issued",
     {"reason": "chờ xác minh", "original_due_at": DUE.isoformat(),
      "new_due_at": (DUE + timedelta(days=5)).isoformat()}, "processing",
     ["PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ", "chờ xác minh", "01/12/2026",
      "06/12/2026"]),
    ("06", forms.stop_notice, "dossier.stopped", {"reason": "không bổ sung"}, "stopped",
     ["THÔNG BÁO DỪNG XỬ LÝ HỒ SƠ", "không bổ sung"]),
])
def test_each_step_form(number: str, build: Any, kind: str, detail: dict[str, Any],
                        status: str, expect: list[str]) -> None:
    d = dossier(status=status)
    with pytest.raises(forms.FormNotApplicable):
        build(d, NAMES, [], LOOKUP)
    form: Form = build(d, NAMES, [entry("dossier.accepted", 0), entry(kind, 1, **detail)], LOOKUP)
    assert form.number == number
    text, codes = read(render(form))
    for part in [*expect, "H26.01-261116-0007", "Trần Thị Bình", "Sở Tư pháp".upper()]:
        assert part in text, (number, part)
    assert codes == [LOOKUP]


@pytest.mark.parametrize(("build", "kind", "status"), [
    (forms.refusal, "dossier.rejected", "processing"),
    (forms.stop_notice, "dossier.stopped", "resolved"),
])
def test_an_event_without_the_status_is_not_enough(build: Any, kind: str, status: str) -> None:
    with pytest.raises(forms.FormNotApplicable):
        build(dossier(status=status), NAMES, [entry(kind, 1, reason="x")], LOOKUP)


def test_the_register_lists_a_unit_s_dossiers_in_filing_order() -> None:
    later = dossier(code="H26.01-261117-0001", filed_at=T + timedelta(days=1),
                    received_at=T + timedelta(days=1), status="returned",
                    applicant={"full_name": "Lê Văn Cường"})
    form = forms.register("Sở Tư pháp", "Hải Phòng", [later, dossier()],
                          {"2.000488": "Lý lịch tư pháp"}, T, T + timedelta(days=30), T)
    assert form.wide and form.lookup_url is None
    assert [row[1] for row in form.table[1:]] == ["H26.01-261116-0007", "H26.01-261117-0001"]
    text, codes = read(render(form))
    for part in ("SỔ THEO DÕI HỒ SƠ", "Lê Văn Cường", "đã trả kết quả", "đã tiếp nhận",
                 "17/11/2026", "Lý lịch tư pháp"):
        assert part in text, part
    assert codes == []


def test_the_control_slip() -> None:
    d = ProcessingDossier(
        code="H26.01-261116-0007", unit_code="H26.01", origin_unit="H26.01",
        procedure_code="2.000488", channel="counter", return_method="counter",
        state="processing", received_at=T, counted_from=T, due_at=DUE, original_due_at=DUE,
        apology_deadline=DUE, due_soon_at=DUE, processing_days=10, rulebook="v",
        applicant_name="Trần T. B.")
    steps = [SlipEntry("received", "H26.01", "intake", T, DUE, "early", 0.0, {}),
             SlipEntry("accept", "H26.01", "officer-1", T + timedelta(hours=2), DUE, "early",
                       7200.0, {}),
             SlipEntry("resolve", "H26.02", "officer-2", DUE + timedelta(days=1), DUE, "late",
                       1.0, {})]
    form = control_slip_form(d, steps, "Sở Tư pháp", "Lý lịch tư pháp", "Hải Phòng",
                             {"H26.01": "Sở Tư pháp", "H26.02": "Sở Xây dựng"}, LOOKUP, T)
    text, codes = read(render(form))
    for part in ("PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", "Trần T. B.", "Tiếp nhận",
                 "Chuyển xử lý", "Giải quyết xong", "Sở Xây dựng", "quá hạn", "trước hạn",
                 "16/11/2026", "01/12/2026"):
        assert part in text, part
    assert codes == [LOOKUP]


def test_long_forms_go_on_to_the_next_page() -> None:
    many = [dossier(code=f"H26.01-261116-{i:04d}") for i in range(80)]
    form = forms.register("Sở Tư pháp", "Hải Phòng", many, {}, T, T, T)
    pages = pypdf.PdfReader(io.BytesIO(render(form))).pages
    assert len(pages) > 1 and "H26.01-261116-0079" in pages[-1].extract_text()


def test_forms_rendered_at_once_in_threads_all_come_out_whole() -> None:
    """Routes render in worker threads, and reportlab's fonts are shared: two desks printing
    at the same moment once made one render fail (an IndexError in the font's subsetting),
    a 500 to the officer."""
    names = ["Trần Thị Bình", "Nguyễn Văn Ân", "Lê Thị Hồng Nhung", "Phạm Quốc Việt"]
    built = [forms.receipt(dossier(code=f"H26.01-261116-{i:04d}",
                                   applicant={"full_name": names[i % 4]}),
                           NAMES, f"{i:06d}", LOOKUP, T) for i in range(24)]
    shared_forms._fonts.cache_clear()  # as in a worker process that has not rendered yet
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads change hands often: a race shows at once
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            pdfs = list(pool.map(render, built))
    finally:
        sys.setswitchinterval(switching)
    for i, pdf in enumerate(pdfs):
        text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
        assert f"H26.01-261116-{i:04d}" in text and names[i % 4].split()[0] in text
