"""The national portal's documents, from the connector's view of a dossier and its applicant
(docs/rules/national_portal.md): the dossier document (service ``DongBoHoSoMC``) on every
change, and a step document (``CapNhatTienDoHoSoMC``) for each processing step. Times are
``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.national_portal.domain.dossier import STEP_TEXT, SyncDossier
from shared.clock import VN
from shared.rulebook import Rulebook
from shared.status import Status
from shared.workdays import due_after_supplement

DOSSIER_SERVICE = "DongBoHoSoMC"
STEP_SERVICE = "CapNhatTienDoHoSoMC"
CHANNEL_CODE = {"counter": 1, "online": 2, "postal": 3}
RETURN_CODE = {"counter": 1, "online": 2, "postal": 3}


class UnmappedStatus(ValueError):
    """A status the rulebook gives no national code: the connector refuses to start."""


@dataclass(frozen=True)
class Applicant:
    """What the national portal is told of the applicant (never stored here)."""

    full_name: str
    kind: str
    phone: str | None
    email: str | None
    portal_id: str


def national_time(value: str | datetime | None) -> str | None:
    if value is None:
        return None
    t = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return t.astimezone(VN).strftime("%Y%m%d%H%M%S")


def check_mapping(rulebook: Rulebook, statuses: tuple[Status, ...]) -> None:
    """:raises UnmappedStatus: naming every status the rulebook maps to no national code."""
    missing = [s for s in statuses if s not in rulebook.data.national_portal.status_codes]
    if missing:
        raise UnmappedStatus(f"the rulebook's national_portal.status_codes lacks "
                             f"{', '.join(missing)}")


class Documents:
    def __init__(self, rulebook: Rulebook, national_filer: str) -> None:
        self.rulebook = rulebook
        self.mapping = rulebook.data.national_portal
        self.national_filer = national_filer  # the portal id the national portal files with

    def code_of(self, d: SyncDossier, applicant: Applicant | None) -> str:
        """MaHoSo: the national portal's own code for a dossier it filed, else ours."""
        if applicant is not None and applicant.portal_id == self.national_filer \
                and d.external_ref:
            return d.external_ref
        return d.code

    def _dates(self, d: SyncDossier) -> list[tuple[str | None, str | None]]:
        """Each supplement's appointment before and after it, and the appointment now."""
        cal = self.rulebook.calendar_for(d.current_unit or d.unit_code)
        policy = self.rulebook.policy_for(d.current_unit or d.unit_code)
        due = d.due_at
        out: list[tuple[str | None, str | None]] = []
        for s in d.supplements:
            before = due
            if s.received_at and due:
                due = due_after_supplement(datetime.fromisoformat(due),
                                           datetime.fromisoformat(s.requested_at),
                                           datetime.fromisoformat(s.received_at),
                                           d.processing_days, cal, policy).isoformat()
            out.append((before, due if s.received_at else None))
        out.append((due, None))
        return out

    @staticmethod
    def _due_at_step(d: SyncDossier, at: str, due_then: str | None,
                     dates: list[tuple[str | None, str | None]]) -> str | None:
        """The due date in force at a step: an apology's new date as the step heard it, else
        the filing's due date moved by every supplement received by then."""
        if due_then is None or d.due_at is None or due_then != d.due_at:
            return due_then
        step_at, due = datetime.fromisoformat(at), d.due_at
        for supplement, (_, after) in zip(d.supplements, dates, strict=False):
            if supplement.received_at and after \
                    and datetime.fromisoformat(supplement.received_at) <= step_at:
                due = after
        return due

    def dossier(self, d: SyncDossier, applicant: Applicant | None) -> dict[str, Any]:
        rb = self.rulebook
        procedure = rb.procedure(d.procedure_code)
        unit = rb.unit(d.current_unit or d.unit_code)
        field = procedure.field if procedure else ""
        dates = self._dates(d)
        due_now = d.appointment_at or dates[-1][0]
        return {
            "MaHoSo": self.code_of(d, applicant),
            "MaTTHC": self.mapping.procedure_codes.get(d.procedure_code, d.procedure_code),
            "TenTTHC": procedure.name if procedure else "",
            "MaLinhVuc": self.mapping.field_codes.get(field, ""),
            "TenLinhVuc": field,
            "ChuHoSo": applicant.full_name if applicant else "",
            "LoaiDoiTuong": 2 if applicant and applicant.kind == "organization" else 1,
            "SoDienThoai": (applicant.phone if applicant else None) or "",
            "Email": (applicant.email if applicant else None) or "",
            "TrichYeuHoSo": f"Hồ sơ {procedure.name if procedure else d.procedure_code}",
            "NgayTiepNhan": national_time(d.received_at or d.filed_at),
            "NgayHenTra": national_time(due_now),
            "TrangThaiHoSo": self.mapping.status_codes[d.status],
            "NgayTra": national_time(d.returned_at),
            "HinhThuc": RETURN_CODE.get(d.return_method, 1),
            "NgayKetThucXuLy": national_time(d.ended_at),
            "DonViXuLy": unit.name if unit else d.current_unit,
            "KenhThucHien": CHANNEL_CODE.get(d.channel, 1),
            "DanhSachHoSoBoSung": [{
                "NguoiYeuCauBoSung": s.requested_by, "NoiDungBoSung": s.reason,
                "NgayYeuCauBoSung": national_time(s.requested_at),
                "NgayTiepNhanBoSung": national_time(s.received_at),
                "NgayHenTraTruoc": national_time(before),
                "NgayHenTraMoi": national_time(after),
            } for s, (before, after) in zip(d.supplements, dates, strict=False)],
            "DanhSachGiayToKetQua": [{
                "TenGiayTo": f"Kết quả giải quyết {procedure.name if procedure else ''}".strip(),
                "MaGiayTo": d.electronic_result_ref or d.result_ref,
                "DuongDanTepTinKetQua": d.electronic_result_ref or "",
            }] if d.ended_at and d.status in ("resolved", "returned") else [],
            "DuocThanhToanTrucTuyen": 1 if d.paid_online else 0,
            "HoSoCoThanhPhanSoHoa": 1 if d.digitised else 0,
            "TaiKhoanDuocXacThucVoiVNeID": 1 if d.vneid else 0,
            "PhienBan": d.version,
        }

    def steps(self, d: SyncDossier, after_seq: int, applicant: Applicant | None) -> list[dict[str, Any]]:
        """The step documents after ``after_seq``, in order."""
        rb = self.rulebook
        code = self.code_of(d, applicant)
        dates = self._dates(d)
        out = []
        for s in d.steps:
            if s.seq <= after_seq:
                continue
            unit_code = s.unit_code or d.current_unit or d.unit_code  # a step heard first
            unit = rb.unit(unit_code)
            text = STEP_TEXT.get(s.kind, s.kind) + (f": {s.detail}" if s.detail else "")
            out.append({
                "MaHoSo": code, "NguoiXuLy": s.by, "ChucDanh": "Cán bộ xử lý",
                "ThoiDiemXuLy": national_time(s.at),
                "PhongBanXuLy": unit.name if unit else unit_code, "NoiDungXuLy": text,
                "TrangThai": self.mapping.status_codes[s.status],
                "NgayBatDau": national_time(d.received_at or d.filed_at),
                "NgayKetThucTheoQuyDinh": national_time(self._due_at_step(d, s.at, s.due_at,
                                                                          dates)),
                "ThuTu": s.seq, "PhienBan": d.version,
            })
        return out
