"""Form 05 (phiếu kiểm soát quá trình giải quyết hồ sơ): every hop with its time and whether
it came early, on time or late against the due date in force at that moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.workdays import OfficePolicy, WorkingCalendar, timeliness


@dataclass(frozen=True)
class Hop:
    step: str
    unit_code: str
    actor: str
    at: datetime
    due_at: datetime
    detail: dict[str, Any]


@dataclass(frozen=True)
class SlipEntry:
    step: str
    unit_code: str
    actor: str
    at: datetime
    due_at: datetime
    timeliness: str
    working_seconds_since_previous: float
    detail: dict[str, Any]


def control_slip(hops: list[Hop], cal: WorkingCalendar, policy: OfficePolicy) -> list[SlipEntry]:
    out: list[SlipEntry] = []
    previous: datetime | None = None
    for hop in sorted(hops, key=lambda h: h.at):
        out.append(SlipEntry(
            step=hop.step, unit_code=hop.unit_code, actor=hop.actor, at=hop.at,
            due_at=hop.due_at, timeliness=timeliness(hop.at, hop.due_at, cal, policy),
            working_seconds_since_previous=(cal.working_seconds(previous, hop.at, policy)
                                            if previous else 0.0),
            detail=hop.detail,
        ))
        previous = hop.at
    return out
