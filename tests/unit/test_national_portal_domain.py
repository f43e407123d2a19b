"""The national portal connector's domain (services/national_portal/domain/): the connector's
view of a dossier (dossier.py), the national portal's documents (documents.py) and delivery
(delivery.py), with explicit 2026 times in +07:00.

The scenario most tests start from: a counter dossier of Lý lịch tư pháp (2.000488, 10
working days) received at Sở Tư pháp (H26.01) Monday 02/11/2026 09:00, hence due Monday
16/11 17:00; accepted the same morning, transferred to Sở Xây dựng (H26.02) on 03/11, a
supplement requested Wednesday 04/11 and received Friday 06/11 (two working days paused:
due Wednesday 18/11 17:00), a fee requested and paid online on 09/11, an apology with a new
date of Friday 20/11 17:00, resolved Thursday 19/11 10:00, the result handed to the courier
at 15:00 and delivered on the 20th.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.national_portal.domain.delivery import CircuitBreaker
from services.national_portal.domain.documents import (
    CHANNEL_CODE,
    Applicant,
    Documents,
    UnmappedStatus,
    check_mapping,
    national_time,
)
from services.national_portal.domain.dossier import STEP_TEXT, Step, Supplement, SyncDossier
from shared.events import (
    Accepted,
    ApologyIssued,
    Channel,
    Delivered,
    DossierReceived,
    EventData,
    FiledByPost,
    MaskedApplicant,
    Paid,
    PaymentChannel,
    PaymentRequested,
    PopulationData,
    Rejected,
    Resolved,
    ResultReturned,
    ReturnMethod,
    Stopped,
    SupplementReceived,
    SupplementRequested,
    Transferred,
    Withdrawn,
)
from shared.retry import backoff
from shared.rulebook import Rulebook, load_rulebook, parse_rulebook
from shared.settings import DEFAULT_RULEBOOK
from shared.status import Status
from shared.workdays import due_after_supplement

PLUS7 = timezone(timedelta(hours=7))
RULEBOOK = load_rulebook(str(DEFAULT_RULEBOOK))
UNIT, OTHER_UNIT = "H26.01", "H26.02"
PROCEDURE = "2.000488"
PROCEDURE_NAME = ("Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam, người nước ngoài đang cư trú "
                  "tại Việt Nam")
CODE = "H26.01-261102-0001"
NATIONAL_CODE = "G22.99-261102-000042"
NATIONAL_FILER = "dvcqg"
FOURTEEN_DIGITS = re.compile(r"^\d{14}$")
CITIZEN = Applicant(full_name="Nguyễn Văn An", kind="citizen", phone="0912345678",
                    email="an.nguyen@example.vn", portal_id="quay-tiep-nhan")
COMPANY = Applicant(full_name="Công ty TNHH Cảng Xanh", kind="organization", phone=None,
                    email=None, portal_id="cong-tinh")


def t(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=PLUS7)


def iso(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> str:
    return t(day, hour, minute, month).isoformat()


def received(code: str = CODE, *, at: datetime | None = None, channel: Channel = "counter",
             return_method: ReturnMethod = "counter", external_ref: str | None = None,
             population_data: PopulationData | None = "vneid",
             digitised: int = 2) -> DossierReceived:
    at = at or t(2)
    return DossierReceived(
        dossier_code=code, unit_code=UNIT, procedure_code=PROCEDURE, channel=channel,
        received_at=at, counted_from=at, due_at=t(16, 17), processing_days=10,
        return_method=return_method,
        applicant=MaskedApplicant(name="Nguyễn V. A.", id_number="*********567"),
        rulebook="2026.12-1", external_ref=external_ref, population_data=population_data,
        documents_total=3, documents_digitised=digitised)


def filed_by_post(code: str = CODE, at: datetime | None = None) -> FiledByPost:
    return FiledByPost(dossier_code=code, unit_code=UNIT, procedure_code=PROCEDURE,
                       return_method="postal", at=at or t(28, 10, month=10))


def accepted(code: str = CODE, at: datetime | None = None) -> Accepted:
    return Accepted(dossier_code=code, at=at or t(2, 10), by="can.bo.a")


def transferred(code: str = CODE) -> Transferred:
    return Transferred(dossier_code=code, from_unit=UNIT, to_unit=OTHER_UNIT, at=t(3))


def supplement_requested(code: str = CODE, at: datetime | None = None) -> SupplementRequested:
    return SupplementRequested(dossier_code=code, requested_at=at or t(4, 10),
                               reason="Thiếu bản sao căn cước", requested_by="can.bo.b")


def supplement_received(code: str = CODE, at: datetime | None = None) -> SupplementReceived:
    return SupplementReceived(dossier_code=code, received_at=at or t(6, 14))


def paid(code: str = CODE, via: PaymentChannel | None = "national_platform") -> Paid:
    return Paid(dossier_code=code, amount=Decimal(200000), at=t(9, 15), via=via)


def resolved(code: str = CODE, at: datetime | None = None,
             electronic: str | None = "KQ-DT-0001") -> Resolved:
    return Resolved(dossier_code=code, resolved_at=at or t(19, 10), result_ref="PLLTP-0001",
                    electronic_result_ref=electronic, return_method="postal")


def lifecycle(code: str = CODE) -> list[tuple[str, str, EventData]]:
    """(event id, source, data) of the whole scenario, in the order it happened."""
    return [
        ("e01", "intake", received(code)),
        ("e02", "processing", accepted(code)),
        ("e03", "processing", transferred(code)),
        ("e04", "processing", supplement_requested(code)),
        ("e05", "intake", supplement_received(code)),
        ("e06", "processing", PaymentRequested(dossier_code=code, amount=Decimal(200000),
                                               at=t(9))),
        ("e07", "processing", paid(code)),
        ("e08", "processing", ApologyIssued(dossier_code=code, issued_at=t(17),
                                            reason="Cần xác minh thêm", original_due_at=t(18, 17),
                                            new_due_at=t(20, 17), timely=True)),
        ("e09", "processing", resolved(code)),
        ("e10", "processing", ResultReturned(dossier_code=code, returned_at=t(19, 15),
                                             method="postal")),
        ("e11", "postal", Delivered(dossier_code=code, shipment_id=f"OUT-{code}",
                                    direction="outbound", at=t(20, 10))),
    ]


def build(events: list[tuple[str, str, EventData]], code: str = CODE) -> SyncDossier:
    d = SyncDossier(code)
    for event_id, source, data in events:
        d.apply(event_id, source, data)
    return d


def documents(rulebook: Rulebook = RULEBOOK) -> Documents:
    return Documents(rulebook, NATIONAL_FILER)


def demo_raw() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(DEFAULT_RULEBOOK.read_text(encoding="utf-8"))
    return raw


# ================================================================== the dossier
def test_the_version_rises_once_per_new_event() -> None:
    d = SyncDossier(CODE)
    assert (d.version, d.known, d.status) == (0, False, "received")
    for n, (event_id, source, data) in enumerate(lifecycle(), start=1):
        assert d.apply(event_id, source, data) is True
        assert d.version == n
    assert d.seen == [f"e{n:02d}" for n in range(1, 12)]


def test_a_redelivered_event_changes_nothing() -> None:
    d = build(lifecycle()[:4])
    before = d.to_json()
    for event_id, source, data in lifecycle()[:4]:
        assert d.apply(event_id, source, data) is False
    assert d.to_json() == before
    assert d.version == 4
    # The same fact under another event id is another event (intake sent it again).
    assert d.apply("e04-again", "processing", supplement_requested()) is True
    assert d.version == 5


def test_the_lifecycle_fields() -> None:
    d = build(lifecycle())
    assert (d.unit_code, d.current_unit, d.procedure_code, d.processing_days) == \
        (UNIT, OTHER_UNIT, PROCEDURE, 10)
    assert (d.channel, d.return_method, d.external_ref) == ("counter", "postal", None)
    assert (d.filed_at, d.received_at, d.due_at, d.appointment_at) == \
        (iso(2), iso(2), iso(16, 17), iso(20, 17))
    assert (d.status, d.status_at) == ("returned", iso(19, 15))
    assert (d.ended_at, d.returned_at) == (iso(19, 10), iso(19, 15))
    assert (d.result_ref, d.electronic_result_ref) == ("PLLTP-0001", "KQ-DT-0001")
    assert (d.paid_online, d.digitised, d.vneid, d.known) == (True, True, True, True)
    assert d.supplements == [Supplement(requested_at=iso(4, 10), requested_by="can.bo.b",
                                        reason="Thiếu bản sao căn cước",
                                        due_before=iso(16, 17), received_at=iso(6, 14))]


def test_the_steps_in_order_with_their_status() -> None:
    d = build(lifecycle())
    got = [(s.seq, s.event_id, s.kind, s.status, s.by, s.unit_code, s.due_at, s.detail)
           for s in d.steps]
    due, new_due = iso(16, 17), iso(20, 17)
    assert got == [
        (1, "e01", "dossier.received", "received", "intake", UNIT, due, None),
        (2, "e02", "dossier.accepted", "processing", "can.bo.a", UNIT, due, None),
        (3, "e03", "dossier.transferred", "processing", "processing", OTHER_UNIT, due,
         OTHER_UNIT),
        (4, "e04", "dossier.supplement_requested", "awaiting_supplement", "can.bo.b",
         OTHER_UNIT, due, "Thiếu bản sao căn cước"),
        (5, "e05", "dossier.supplement_received", "processing", "intake", OTHER_UNIT, due,
         None),
        (6, "e06", "dossier.payment_requested", "awaiting_payment", "processing", OTHER_UNIT,
         due, "200000"),
        (7, "e07", "dossier.paid", "processing", "processing", OTHER_UNIT, due, "200000"),
        (8, "e08", "dossier.apology_issued", "processing", "processing", OTHER_UNIT, new_due,
         "Cần xác minh thêm"),
        (9, "e09", "dossier.resolved", "resolved", "processing", OTHER_UNIT, new_due, None),
        (10, "e10", "dossier.result_returned", "returned", "processing", OTHER_UNIT, new_due,
         "postal"),
    ]  # the courier's delivery is no step of the national portal's
    assert [s.at for s in d.steps] == sorted(s.at for s in d.steps)
    assert {s.kind for s in d.steps} <= set(STEP_TEXT)


def test_a_step_after_a_received_supplement_carries_the_moved_due_date() -> None:
    """A received supplement moves the appointment (NgayHenTra), and the steps after it say
    the same (NgayKetThucTheoQuyDinh); the steps before it keep the date then in force."""
    d = build(lifecycle()[:6])  # … the supplement received, then the fee requested
    assert documents().dossier(d, CITIZEN)["NgayHenTra"] == "20261118170000"
    steps = documents().steps(d, 0, CITIZEN)
    assert steps[-1]["NgayKetThucTheoQuyDinh"] == "20261118170000"
    assert steps[0]["NgayKetThucTheoQuyDinh"] == national_time(d.due_at)


def test_a_withdrawal_reason_is_the_step_detail() -> None:
    d = build([("e01", "intake", received()),
               ("e02", "intake", Withdrawn(dossier_code=CODE, at=t(3), reason="Không cần nữa")),
               ("e03", "processing", Stopped(dossier_code=CODE, at=t(4), reason="Dừng"))])
    assert [(s.kind, s.status, s.detail) for s in d.steps] == [
        ("dossier.received", "received", None),
        ("dossier.withdrawn", "withdrawn", "Không cần nữa"),
        ("dossier.stopped", "withdrawn", "Dừng"),  # heard, but a terminal status stays
    ]
    assert d.ended_at == iso(3)
    without = build([("e01", "intake", received()),
                     ("e02", "intake", Withdrawn(dossier_code=CODE, at=t(3)))])
    assert without.steps[-1].detail is None


def test_filed_by_post_then_received() -> None:
    d = SyncDossier(CODE)
    assert d.apply("p1", "intake", filed_by_post()) is True
    assert (d.status, d.status_at, d.channel, d.return_method) == \
        ("in_transit", iso(28, 10, month=10), "postal", "postal")
    assert (d.unit_code, d.current_unit, d.procedure_code, d.known) == \
        (UNIT, UNIT, PROCEDURE, True)
    assert (d.filed_at, d.received_at, d.due_at, d.steps, d.version) == \
        (iso(28, 10, month=10), None, None, [], 1)  # in transit: no step yet

    assert d.apply("p2", "intake", received(channel="postal", return_method="postal")) is True
    assert (d.status, d.status_at, d.channel) == ("received", iso(2), "postal")
    assert (d.filed_at, d.received_at, d.due_at) == (iso(28, 10, month=10), iso(2), iso(16, 17))
    assert [(s.seq, s.kind, s.status) for s in d.steps] == [(1, "dossier.received", "received")]
    assert d.version == 2


def test_received_then_filed_by_post_keeps_the_fields() -> None:
    d = build([("p2", "intake", received(channel="postal", return_method="postal")),
               ("p1", "intake", filed_by_post())])
    assert (d.filed_at, d.received_at, d.channel) == (iso(28, 10, month=10), iso(2), "postal")
    assert [s.kind for s in d.steps] == ["dossier.received"]
    assert d.version == 2


def test_received_then_filed_by_post_stays_received() -> None:
    d = build([("p2", "intake", received(channel="postal", return_method="postal")),
               ("p1", "intake", filed_by_post())])
    assert (d.status, d.status_at) == ("received", iso(2))


def test_an_event_before_the_filing_is_kept_until_the_filing_is_heard_of() -> None:
    d = build([("e02", "processing", accepted())])
    assert (d.known, d.unit_code, d.status, d.status_at) == (False, "", "processing", iso(2, 10))
    d.apply("e01", "intake", received())
    assert (d.known, d.status, d.status_at) == (True, "processing", iso(2, 10))
    assert [s.kind for s in d.steps] == ["dossier.accepted", "dossier.received"]


def test_a_step_heard_before_the_filing_names_the_unit_once_known() -> None:
    d = build([("e02", "processing", accepted()), ("e01", "intake", received())])
    assert documents().steps(d, 0, CITIZEN)[0]["PhongBanXuLy"] == "Sở Tư pháp"


# ------------------------------------------------------------------ out of order
ENDS_RETURNED = lifecycle()


@settings(max_examples=60, deadline=None)
@given(st.permutations(ENDS_RETURNED))
def test_out_of_order_events_converge(order: list[tuple[str, str, EventData]]) -> None:
    in_order, shuffled = build(ENDS_RETURNED), build(order)
    same = ("status", "unit_code", "current_unit", "procedure_code", "processing_days",
            "channel", "external_ref", "filed_at", "received_at", "due_at", "appointment_at",
            "ended_at", "returned_at", "result_ref", "electronic_result_ref", "paid_online",
            "digitised", "vneid", "version")
    assert {k: getattr(shuffled, k) for k in same} == {k: getattr(in_order, k) for k in same}
    assert sorted(shuffled.seen) == sorted(in_order.seen)
    assert sorted(s.kind for s in shuffled.steps) == sorted(s.kind for s in in_order.steps)
    assert [s.seq for s in shuffled.steps] == list(range(1, 11))


@pytest.mark.parametrize("end", [
    Rejected(dossier_code=CODE, at=t(5), reason="Không đủ điều kiện"),
    Stopped(dossier_code=CODE, at=t(5), reason="Theo yêu cầu của cơ quan"),
    Withdrawn(dossier_code=CODE, at=t(5), reason="Công dân rút"),
], ids=lambda e: e.event_type)
def test_a_terminal_status_is_never_left(end: Rejected | Stopped | Withdrawn) -> None:
    later: list[EventData] = [
        accepted(at=t(6)), supplement_requested(at=t(7)), supplement_received(at=t(8)),
        resolved(at=t(9)), ResultReturned(dossier_code=CODE, returned_at=t(10), method="counter"),
        Rejected(dossier_code=CODE, at=t(11), reason="Khác"),
    ]
    d = build([("r", "intake", received()), ("end", "processing", end)]
              + [(f"l{n}", "processing", e) for n, e in enumerate(later)])
    assert (d.status, d.status_at) == (end.event_type.split(".")[1], iso(5))
    assert d.ended_at == iso(5)  # the first end is kept
    assert d.version == 2 + len(later)


@settings(max_examples=40, deadline=None)
@given(st.permutations([
    ("r", "intake", received()), ("a", "processing", accepted()),
    ("s", "processing", supplement_requested()),
    ("w", "intake", Withdrawn(dossier_code=CODE, at=t(5), reason="Rút hồ sơ")),
    ("v", "processing", resolved(at=t(9))),
]))
def test_a_terminal_status_wins_whatever_the_order(order: list[tuple[str, str, EventData]]) -> None:
    d = build(order)
    ids = [event_id for event_id, _, _ in order]
    # Withdrawn and resolved both end the dossier: whichever is heard first stays.
    first = "withdrawn" if ids.index("w") < ids.index("v") else "resolved"
    assert (d.status, d.ended_at) == (first, iso(5) if first == "withdrawn" else iso(9))


def test_resolved_is_left_only_for_returned() -> None:
    d = build([("r", "intake", received()), ("v", "processing", resolved()),
               ("x", "processing", Rejected(dossier_code=CODE, at=t(20), reason="Sai")),
               ("a", "processing", accepted(at=t(21)))])
    assert (d.status, d.ended_at) == ("resolved", iso(19, 10))
    d.apply("b", "processing", ResultReturned(dossier_code=CODE, returned_at=t(22),
                                              method="counter"))
    assert (d.status, d.returned_at) == ("returned", iso(22))


def test_an_earlier_event_heard_later_does_not_move_the_status_back() -> None:
    d = build([("r", "intake", received()), ("s", "processing", supplement_requested()),
               ("a", "processing", accepted())])  # accepted 02/11 heard after the 04/11 request
    assert (d.status, d.status_at) == ("awaiting_supplement", iso(4, 10))
    assert d.steps[-1].status == "awaiting_supplement"


# A supplement's request (processing's topic) and its receipt (intake's) heard in the other
# order: the receipt on Friday 06/11 is the latest fact, the dossier is being processed.
CROSSED = [("r", "intake", received()), ("a", "processing", accepted()),
           ("sr", "intake", supplement_received()), ("sq", "processing", supplement_requested())]


def test_a_supplement_received_heard_before_its_request_converges() -> None:
    assert build(CROSSED).status == build(sorted(CROSSED, key=lambda e: e[2].occurred_at)).status


def test_a_supplement_received_heard_before_its_request_is_kept() -> None:
    assert build(CROSSED).supplements[0].received_at == iso(6, 14)


# ------------------------------------------------------------------ storage
def test_the_json_round_trip() -> None:
    d = build(lifecycle())
    stored = json.loads(json.dumps(d.to_json()))  # as PostgreSQL's jsonb gives it back
    again = SyncDossier.from_json(stored)
    assert again == d
    assert again.to_json() == d.to_json()
    assert isinstance(again.steps[0], Step) and isinstance(again.supplements[0], Supplement)
    # A later event applies to the copy as to the original, and a redelivery is still seen.
    assert again.apply("e01", "intake", received()) is False


def test_a_stored_view_without_lists() -> None:
    d = SyncDossier.from_json({"code": CODE, "unit_code": UNIT, "version": 3})
    assert (d.code, d.unit_code, d.version, d.steps, d.supplements) == (CODE, UNIT, 3, [], [])


# ================================================================== the documents
def test_national_time() -> None:
    assert national_time(None) is None
    assert national_time(iso(2, 9, 5)) == "20261102090500"
    assert national_time(datetime(2026, 11, 2, 2, 5, 7, tzinfo=UTC)) == "20261102090507"
    assert national_time("2026-12-31T20:30:00+00:00") == "20270101033000"  # local day next


def test_the_dossier_document_of_the_lifecycle() -> None:
    doc = documents().dossier(build(lifecycle()), CITIZEN)
    assert doc == {
        "MaHoSo": CODE,
        "MaTTHC": PROCEDURE,  # the demo maps no procedure code: ours is the national one
        "TenTTHC": PROCEDURE_NAME,
        "MaLinhVuc": "LV011",
        "TenLinhVuc": "Lý lịch tư pháp",
        "ChuHoSo": "Nguyễn Văn An",
        "LoaiDoiTuong": 1,
        "SoDienThoai": "0912345678",
        "Email": "an.nguyen@example.vn",
        "TrichYeuHoSo": f"Hồ sơ {PROCEDURE_NAME}",
        "NgayTiepNhan": "20261102090000",
        "NgayHenTra": "20261120170000",  # the apology's new date
        "TrangThaiHoSo": "10",
        "NgayTra": "20261119150000",
        "HinhThuc": 3,
        "NgayKetThucXuLy": "20261119100000",
        "DonViXuLy": "Sở Xây dựng",
        "KenhThucHien": 1,
        "DanhSachHoSoBoSung": [{
            "NguoiYeuCauBoSung": "can.bo.b", "NoiDungBoSung": "Thiếu bản sao căn cước",
            "NgayYeuCauBoSung": "20261104100000", "NgayTiepNhanBoSung": "20261106140000",
            "NgayHenTraTruoc": "20261116170000", "NgayHenTraMoi": "20261118170000",
        }],
        "DanhSachGiayToKetQua": [{
            "TenGiayTo": f"Kết quả giải quyết {PROCEDURE_NAME}", "MaGiayTo": "KQ-DT-0001",
            "DuongDanTepTinKetQua": "KQ-DT-0001",
        }],
        "DuocThanhToanTrucTuyen": 1,
        "HoSoCoThanhPhanSoHoa": 1,
        "TaiKhoanDuocXacThucVoiVNeID": 1,
        "PhienBan": 11,
    }


@pytest.mark.parametrize("upto", range(1, 12))
def test_every_time_is_fourteen_local_digits(upto: int) -> None:
    d = build(lifecycle()[:upto])
    doc = documents().dossier(d, CITIZEN)
    times = [doc[k] for k in ("NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy")]
    times += [s[k] for s in doc["DanhSachHoSoBoSung"] for k in (
        "NgayYeuCauBoSung", "NgayTiepNhanBoSung", "NgayHenTraTruoc", "NgayHenTraMoi")]
    times += [s[k] for s in documents().steps(d, 0, CITIZEN)
              for k in ("ThoiDiemXuLy", "NgayBatDau", "NgayKetThucTheoQuyDinh")]
    assert all(v is None or FOURTEEN_DIGITS.match(v) for v in times)
    assert doc["NgayTiepNhan"] == "20261102090000"
    assert doc["PhienBan"] == upto


def test_a_mapped_procedure_code() -> None:
    raw = demo_raw()
    raw["national_portal"]["procedure_codes"] = {PROCEDURE: "1.000001.000.00.00.H26"}
    doc = documents(parse_rulebook(raw)).dossier(build(lifecycle()[:1]), CITIZEN)
    assert (doc["MaTTHC"], doc["TenTTHC"]) == ("1.000001.000.00.00.H26", PROCEDURE_NAME)


def test_an_unknown_procedure_and_unit() -> None:
    d = SyncDossier(CODE, unit_code="H99.99", current_unit="H99.99",
                    procedure_code="9.999999", channel="online",
                    return_method="online", status="resolved", ended_at=iso(5),
                    result_ref="KQ-1", version=4,
                    steps=[Step(1, "x", "dossier.resolved", iso(5), "can.bo.c", "H99.99",
                                "resolved", None)])
    doc = documents().dossier(d, None)
    assert (doc["TenTTHC"], doc["MaLinhVuc"], doc["TenLinhVuc"], doc["DonViXuLy"]) == \
        ("", "", "", "H99.99")
    assert (doc["MaTTHC"], doc["TrichYeuHoSo"]) == ("9.999999", "Hồ sơ 9.999999")
    assert (doc["HinhThuc"], doc["KenhThucHien"], doc["NgayHenTra"]) == (2, 2, None)
    assert doc["DanhSachGiayToKetQua"] == [{"TenGiayTo": "Kết quả giải quyết",
                                            "MaGiayTo": "KQ-1", "DuongDanTepTinKetQua": ""}]
    step = documents().steps(d, 0, None)[0]
    assert (step["PhongBanXuLy"], step["NoiDungXuLy"], step["NgayBatDau"]) == \
        ("H99.99", "Đã giải quyết xong", None)


@pytest.mark.parametrize(("applicant", "fields"), [
    (CITIZEN, ("Nguyễn Văn An", 1, "0912345678", "an.nguyen@example.vn")),
    (COMPANY, ("Công ty TNHH Cảng Xanh", 2, "", "")),
    (None, ("", 1, "", "")),
], ids=["citizen", "organization", "not-found"])
def test_the_applicant(applicant: Applicant | None, fields: tuple[str, int, str, str]) -> None:
    doc = documents().dossier(build(lifecycle()[:1]), applicant)
    assert (doc["ChuHoSo"], doc["LoaiDoiTuong"], doc["SoDienThoai"], doc["Email"]) == fields


@pytest.mark.parametrize(("channel", "code"), [("counter", 1), ("online", 2), ("postal", 3)])
def test_the_channel(channel: Channel, code: int) -> None:
    doc = documents().dossier(build([("r", "intake", received(channel=channel))]), CITIZEN)
    assert doc["KenhThucHien"] == code == CHANNEL_CODE[channel]


@pytest.mark.parametrize(("method", "code"), [("counter", 1), ("online", 2), ("postal", 3)])
def test_the_return_method(method: ReturnMethod, code: int) -> None:
    doc = documents().dossier(build([("r", "intake", received(return_method=method))]),
                              CITIZEN)
    assert doc["HinhThuc"] == code


def test_a_dossier_not_filed_anywhere_known_is_sent_as_a_counter_one() -> None:
    doc = documents().dossier(SyncDossier(CODE, unit_code=UNIT, procedure_code=PROCEDURE),
                              None)
    assert (doc["KenhThucHien"], doc["NgayTiepNhan"], doc["TrangThaiHoSo"]) == (1, None, "2")


@pytest.mark.parametrize("status", get_args(Status))
def test_the_status_is_mapped_from_the_rulebook(status: Status) -> None:
    d = build(lifecycle()[:1])
    d.status = status
    doc = documents().dossier(d, CITIZEN)
    assert doc["TrangThaiHoSo"] == RULEBOOK.data.national_portal.status_codes[status]


def test_the_status_codes_along_the_lifecycle() -> None:
    codes = [documents().dossier(build(lifecycle()[:n]), CITIZEN)["TrangThaiHoSo"]
             for n in range(1, 12)]
    assert codes == ["2", "4", "4", "5", "4", "6", "4", "4", "9", "10", "10"]
    post = documents().dossier(build([("p", "intake", filed_by_post())]), CITIZEN)
    assert (post["TrangThaiHoSo"], post["NgayTiepNhan"], post["NgayHenTra"],
            post["KenhThucHien"], post["HinhThuc"]) == ("1", "20261028100000", None, 3, 3)


def test_a_supplement_requested_then_received() -> None:
    asked = build(lifecycle()[:4])
    doc = documents().dossier(asked, CITIZEN)
    assert doc["DanhSachHoSoBoSung"] == [{
        "NguoiYeuCauBoSung": "can.bo.b", "NoiDungBoSung": "Thiếu bản sao căn cước",
        "NgayYeuCauBoSung": "20261104100000", "NgayTiepNhanBoSung": None,
        "NgayHenTraTruoc": "20261116170000", "NgayHenTraMoi": None}]
    assert doc["NgayHenTra"] == "20261116170000"  # not moved while it waits

    answered = build(lifecycle()[:5])
    moved = due_after_supplement(t(16, 17), t(4, 10), t(6, 14), 10,
                                 RULEBOOK.calendar_for(OTHER_UNIT),
                                 RULEBOOK.policy_for(OTHER_UNIT))
    assert moved == t(18, 17)  # 05/11 and 06/11 paused
    doc = documents().dossier(answered, CITIZEN)
    assert doc["DanhSachHoSoBoSung"][0]["NgayTiepNhanBoSung"] == "20261106140000"
    assert doc["DanhSachHoSoBoSung"][0]["NgayHenTraMoi"] == national_time(moved)
    assert doc["NgayHenTra"] == national_time(moved)


def test_two_supplements_chain_their_appointments() -> None:
    d = build([("r", "intake", received()), ("a", "processing", accepted()),
               ("s1", "processing", supplement_requested()),
               ("g1", "intake", supplement_received()),
               ("s2", "processing", supplement_requested(at=t(9, 10))),
               ("g2", "intake", supplement_received(at=t(11, 8)))])
    got = [(s["NgayHenTraTruoc"], s["NgayHenTraMoi"])
           for s in documents().dossier(d, CITIZEN)["DanhSachHoSoBoSung"]]
    # The second pause (10/11 and 11/11) moves the first one's new date, 18/11, to 20/11.
    assert got == [("20261116170000", "20261118170000"), ("20261118170000", "20261120170000")]
    assert documents().dossier(d, CITIZEN)["NgayHenTra"] == "20261120170000"


def test_a_supplement_without_a_due_date() -> None:
    d = SyncDossier(CODE, unit_code=UNIT, procedure_code=PROCEDURE,
                    supplements=[Supplement(iso(4), "can.bo.b", "Thiếu", None, iso(6))])
    assert documents().dossier(d, None)["DanhSachHoSoBoSung"][0]["NgayHenTraMoi"] is None


def test_the_results_only_once_resolved() -> None:
    for n in range(1, 9):
        assert documents().dossier(build(lifecycle()[:n]), CITIZEN)["DanhSachGiayToKetQua"] == []
    for n in (9, 10, 11):
        results = documents().dossier(build(lifecycle()[:n]), CITIZEN)["DanhSachGiayToKetQua"]
        assert [r["MaGiayTo"] for r in results] == ["KQ-DT-0001"]
    paper = build([("r", "intake", received()), ("v", "processing", resolved(electronic=None))])
    assert documents().dossier(paper, CITIZEN)["DanhSachGiayToKetQua"] == [{
        "TenGiayTo": f"Kết quả giải quyết {PROCEDURE_NAME}", "MaGiayTo": "PLLTP-0001",
        "DuongDanTepTinKetQua": ""}]
    rejected = build([("r", "intake", received()),
                      ("x", "processing", Rejected(dossier_code=CODE, at=t(5), reason="Sai"))])
    doc = documents().dossier(rejected, CITIZEN)
    assert (doc["DanhSachGiayToKetQua"], doc["NgayKetThucXuLy"], doc["TrangThaiHoSo"]) == \
        ([], "20261105090000", "3")


@pytest.mark.parametrize(("via", "online"), [("national_platform", 1),
                                             ("provincial_platform", 1), ("desk", 0), (None, 0)])
def test_paid_online(via: PaymentChannel | None, online: int) -> None:
    d = build([("r", "intake", received()), ("p", "processing", paid(via=via))])
    assert documents().dossier(d, CITIZEN)["DuocThanhToanTrucTuyen"] == online


def test_paid_online_once_is_kept() -> None:
    d = build([("r", "intake", received()), ("p", "processing", paid()),
               ("q", "processing", paid(via="desk"))])
    assert documents().dossier(d, CITIZEN)["DuocThanhToanTrucTuyen"] == 1


@pytest.mark.parametrize(("population", "digitised", "flags"), [
    ("vneid", 2, (1, 1)), ("lookup", 0, (0, 0)), (None, 1, (0, 1))])
def test_the_index_flags(population: PopulationData | None, digitised: int,
                         flags: tuple[int, int]) -> None:
    d = build([("r", "intake", received(population_data=population, digitised=digitised))])
    doc = documents().dossier(d, CITIZEN)
    assert (doc["TaiKhoanDuocXacThucVoiVNeID"], doc["HoSoCoThanhPhanSoHoa"]) == flags


def test_the_steps_after_a_given_seq() -> None:
    d = build(lifecycle())
    all_steps = documents().steps(d, 0, CITIZEN)
    assert [s["ThuTu"] for s in all_steps] == list(range(1, 11))
    assert [s["ThuTu"] for s in documents().steps(d, 7, CITIZEN)] == [8, 9, 10]
    assert documents().steps(d, 10, CITIZEN) == []
    assert all_steps[0] == {
        "MaHoSo": CODE, "NguoiXuLy": "intake", "ChucDanh": "Cán bộ xử lý",
        "ThoiDiemXuLy": "20261102090000", "PhongBanXuLy": "Sở Tư pháp",
        "NoiDungXuLy": "Tiếp nhận hồ sơ", "TrangThai": "2", "NgayBatDau": "20261102090000",
        "NgayKetThucTheoQuyDinh": "20261116170000", "ThuTu": 1, "PhienBan": 11,
    }
    assert [(s["NoiDungXuLy"], s["TrangThai"], s["PhongBanXuLy"]) for s in all_steps[2:6]] == [
        ("Chuyển hồ sơ liên thông: H26.02", "4", "Sở Xây dựng"),
        ("Yêu cầu bổ sung hồ sơ: Thiếu bản sao căn cước", "5", "Sở Xây dựng"),
        ("Tiếp nhận hồ sơ bổ sung", "4", "Sở Xây dựng"),
        ("Yêu cầu thực hiện nghĩa vụ tài chính: 200000", "6", "Sở Xây dựng"),
    ]
    assert [s["NguoiXuLy"] for s in all_steps] == [
        "intake", "can.bo.a", "processing", "can.bo.b", "intake", "processing", "processing",
        "processing", "processing", "processing"]
    assert all_steps[-1]["NoiDungXuLy"] == "Trả kết quả: postal"
    assert all_steps[-1]["NgayKetThucTheoQuyDinh"] == "20261120170000"


def test_a_step_of_an_unlisted_kind_is_named_by_its_kind() -> None:
    d = SyncDossier(CODE, unit_code=UNIT, steps=[
        Step(1, "x", "dossier.something_new", iso(3), "can.bo.a", UNIT, "processing", None,
             "chi tiết")])
    assert documents().steps(d, 0, None)[0]["NoiDungXuLy"] == "dossier.something_new: chi tiết"


def test_the_national_filers_code() -> None:
    d = build([("r", "intake", received(channel="online", external_ref=NATIONAL_CODE))])
    national = Applicant(full_name="Trần Thị Bình", kind="citizen", phone=None, email=None,
                         portal_id=NATIONAL_FILER)
    elsewhere = Applicant(full_name="Trần Thị Bình", kind="citizen", phone=None, email=None,
                          portal_id="cong-tinh")
    docs = documents()
    assert docs.code_of(d, national) == NATIONAL_CODE
    assert docs.dossier(d, national)["MaHoSo"] == NATIONAL_CODE
    assert {s["MaHoSo"] for s in docs.steps(d, 0, national)} == {NATIONAL_CODE}
    assert docs.code_of(d, elsewhere) == CODE  # another portal's reference is not its code
    assert docs.code_of(d, None) == CODE
    assert docs.code_of(build(lifecycle()[:1]), national) == CODE  # no reference kept


def test_check_mapping() -> None:
    check_mapping(RULEBOOK, get_args(Status))  # the demo maps every status
    raw = demo_raw()
    for status in ("in_transit", "returned"):
        del raw["national_portal"]["status_codes"][status]
    with pytest.raises(UnmappedStatus, match="lacks in_transit, returned"):
        check_mapping(parse_rulebook(raw), get_args(Status))
    check_mapping(parse_rulebook(raw), ("received", "processing"))


# ================================================================== delivery
def test_backoff_has_a_tenth_of_a_second_at_least() -> None:
    assert backoff(0, 2.0, 300.0, 0.0) == timedelta(seconds=0.1)
    assert backoff(12, 2.0, 300.0, 0.0) == timedelta(seconds=0.1)
    assert backoff(0, 0.01, 300.0, 0.99) == timedelta(seconds=0.1)


def test_backoff_grows_by_powers_of_two_up_to_the_cap() -> None:
    assert [backoff(n, 2.0, 300.0, 0.5).total_seconds() for n in range(9)] == \
        [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 150.0]
    near_one = 1 - 1e-9
    assert backoff(3, 2.0, 300.0, near_one) == timedelta(seconds=16 * near_one)
    assert backoff(8, 2.0, 300.0, near_one) == timedelta(seconds=300 * near_one)
    assert backoff(10_000, 2.0, 300.0, near_one) == timedelta(seconds=300 * near_one)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200), st.floats(0.01, 60.0), st.floats(0.1, 3600.0),
       st.floats(0.0, 1.0, exclude_max=True))
def test_backoff_stays_within_full_jitter(attempts: int, base: float, cap: float,
                                          draw: float) -> None:
    ceiling = min(cap, base * 2 ** min(attempts, 30))
    wait = backoff(attempts, base, cap, draw).total_seconds()
    assert 0.1 - 1e-6 <= wait <= max(0.1, ceiling) + 1e-6


def test_the_breaker_opens_after_failures_in_a_row() -> None:
    b = CircuitBreaker(failures=3, open_s=30.0)
    start = t(2, 10)
    assert (b.state(start), b.may_send(start)) == ("closed", True)
    b.failed(start)
    b.failed(start)
    assert (b.state(start), b.failed_in_a_row) == ("closed", 2)
    b.succeeded()  # a success in between starts the count again
    assert (b.failed_in_a_row, b.opened_at) == (0, None)
    for n in range(3):
        b.failed(start + timedelta(seconds=n))
    opened = start + timedelta(seconds=2)
    assert (b.state(opened), b.may_send(opened), b.opened_at) == ("open", False, opened)
    assert b.state(opened + timedelta(seconds=29.9)) == "open"


def test_the_breaker_half_opens_then_closes_or_opens_again() -> None:
    b = CircuitBreaker(failures=2, open_s=30.0)
    opened = t(2, 10)
    b.failed(opened)
    b.failed(opened)
    half = opened + timedelta(seconds=30)
    assert (b.state(half), b.may_send(half)) == ("half_open", True)
    b.failed(half)  # the trial batch failed: open again from then
    assert (b.state(half), b.opened_at) == ("open", half)
    assert b.state(half + timedelta(seconds=29)) == "open"
    later = half + timedelta(seconds=31)
    assert b.state(later) == "half_open"
    b.succeeded()
    assert (b.state(later), b.may_send(later), b.failed_in_a_row) == ("closed", True, 0)
    b.failed(later)  # closed again: one failure does not open it
    assert b.state(later) == "closed"


def test_the_breakers_defaults() -> None:
    b = CircuitBreaker()
    now = t(2)
    for _ in range(4):
        b.failed(now)
    assert b.state(now) == "closed"
    b.failed(now)
    assert b.state(now) == "open"
    assert b.state(now + timedelta(seconds=30)) == "half_open"
