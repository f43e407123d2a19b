"""What the applicant is told at each step of a dossier, in Vietnamese (docs/rules/
notifications.md). Pure: the facts come from the step's event (and the dossier), the text
is the same on every channel, and times are shown dd/mm/yyyy HH:MM in +07:00."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.clock import VN

RECEIVED = "dossier.received"
SUPPLEMENT_REQUESTED = "dossier.supplement_requested"
APOLOGY_ISSUED = "dossier.apology_issued"
RESOLVED = "dossier.resolved"
PICKED_UP = "postal.picked_up"  # the result, handed to the courier (outbound)
STOPPED = "dossier.stopped"
REJECTED = "dossier.rejected"
COMPLAINT_ANSWERED = "complaint.answered"
KINDS = frozenset({RECEIVED, SUPPLEMENT_REQUESTED, APOLOGY_ISSUED, RESOLVED, PICKED_UP,
                   STOPPED, REJECTED, COMPLAINT_ANSWERED})
# Free text from an event (a reason, an answer) is cut to this many characters: an SMS or a
# Zalo template parameter is short, and the full text is at the desk and on the portal.
MAX_FACT = 300
RETURN_HINT = {
    "counter": "Mời Ông/Bà đến Bộ phận Một cửa để nhận kết quả.",
    "postal": "Kết quả sẽ được gửi đến Ông/Bà qua dịch vụ bưu chính.",
    "online": "Ông/Bà nhận kết quả trực tuyến trên Cổng dịch vụ công.",
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    reference: str | None = None  # the dossier's (or complaint's) code, for ZNS templates


class UnknownKind(ValueError):
    pass


def local_time(value: datetime | str) -> str:
    """15/12/2026 17:00: the time in +07:00."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(VN).strftime("%d/%m/%Y %H:%M")


def _text(facts: Mapping[str, Any], name: str) -> str | None:
    value = facts.get(name)
    if value is None or not str(value).strip():
        return None
    text = " ".join(str(value).split())
    text = text if len(text) <= MAX_FACT else text[:MAX_FACT - 1].rstrip() + "…"
    return text.rstrip(".")


def compose(kind: str, dossier_code: str, procedure_name: str | None,
            facts: Mapping[str, Any]) -> Message:
    """The message of step ``kind`` of dossier ``dossier_code``. ``facts``: ``due_at``
    (received), ``reason`` (supplement requested, apology, stopped, rejected),
    ``new_due_at`` (apology), ``return_method`` (resolved), ``complaint_code`` and an
    optional ``answer`` summary (complaint answered).

    :raises UnknownKind:"""
    message = _compose(kind, dossier_code, procedure_name, facts)
    return message if message.reference else replace(message, reference=dossier_code)


def _compose(kind: str, dossier_code: str, procedure_name: str | None,
             facts: Mapping[str, Any]) -> Message:
    code = dossier_code
    about = f" ({procedure_name})" if procedure_name else ""
    reason = _text(facts, "reason")
    because = f" Lý do: {reason}." if reason else ""
    if kind == RECEIVED:
        due = facts.get("due_at")
        when = f" Hạn trả kết quả: {local_time(due)}." if due else ""
        return Message(f"Hồ sơ {code} đã được tiếp nhận",
                       f"Hồ sơ {code}{about} đã được tiếp nhận.{when}")
    if kind == SUPPLEMENT_REQUESTED:
        missing = f" Cần bổ sung: {reason}." if reason else ""
        return Message(f"Hồ sơ {code} cần bổ sung",
                       f"Hồ sơ {code}{about} cần được bổ sung, hoàn thiện.{missing} Mời Ông/Bà "
                       "bổ sung để hồ sơ được tiếp tục giải quyết.")
    if kind == APOLOGY_ISSUED:
        new = facts.get("new_due_at")
        when = f" Ngày hẹn trả kết quả mới: {local_time(new)}." if new else ""
        return Message(f"Xin lỗi về việc trễ hạn hồ sơ {code}",
                       f"Hồ sơ {code}{about} chưa được giải quyết đúng hạn. Cơ quan giải "
                       f"quyết xin lỗi Ông/Bà.{because}{when}")
    if kind == RESOLVED:
        hint = RETURN_HINT.get(str(facts.get("return_method") or ""), "")
        return Message(f"Hồ sơ {code} đã có kết quả",
                       f"Hồ sơ {code}{about} đã có kết quả giải quyết." + (f" {hint}" if hint
                                                                            else ""))
    if kind == PICKED_UP:
        return Message(f"Kết quả hồ sơ {code} đang được chuyển phát",
                       f"Kết quả hồ sơ {code}{about} đã được giao cho đơn vị bưu chính để "
                       "chuyển phát đến Ông/Bà.")
    if kind == STOPPED:
        return Message(f"Hồ sơ {code} đã dừng giải quyết",
                       f"Hồ sơ {code}{about} đã dừng giải quyết.{because}")
    if kind == REJECTED:
        return Message(f"Hồ sơ {code} không được giải quyết",
                       f"Hồ sơ {code}{about} không được tiếp nhận giải quyết.{because}")
    if kind == COMPLAINT_ANSWERED:
        complaint = _text(facts, "complaint_code") or ""
        answer = _text(facts, "answer")
        summary = f" Nội dung trả lời: {answer}." if answer else ""
        about_dossier = f" về hồ sơ {code}" if code else ""  # a complaint may be about none
        return Message(f"Phản ánh, kiến nghị {complaint} đã được trả lời",
                       f"Phản ánh, kiến nghị {complaint}{about_dossier} đã được trả lời."
                       f"{summary}", complaint or code)
    raise UnknownKind(kind)
