"""Per-dossier facts as an order-insensitive, idempotent fold of the dossier's events.

The fold takes the *set* of a dossier's events (duplicates removed by event id), sorts it by
(business time, type, id) and derives the facts; the same set in any arrival order, with
any duplicates, gives the same facts. Everything that does not depend on the clock is
decided here (the end, the due date after supplement pauses, the timeliness of a closed
dossier, the apology); what does (an open dossier overdue or not) is judged by the figures
at a period's end or ``as_of``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.rulebook import Rulebook
from shared.workdays import due_after_supplement, paused_working_days, timeliness

# A dossier's end is its first terminal event in this precedence (docs/rules/metrics.md).
END_PRECEDENCE = ("resolved", "returned", "stopped", "rejected", "withdrawn")
RELEVANT = frozenset({
    "dossier.received", "dossier.transferred", "dossier.supplement_requested",
    "dossier.supplement_received", "dossier.apology_issued", "dossier.resolved",
    "dossier.rejected", "dossier.stopped", "dossier.withdrawn", "dossier.result_returned",
    "dossier.paid", "feedback.submitted", "national_portal.synced", "dossier.stuck",
    "dossier.unstuck",
})
ONLINE_PAYMENT = frozenset({"national_platform", "provincial_platform"})


@dataclass(frozen=True)
class EventRecord:
    event_id: UUID
    type: str
    occurred_at: datetime
    data: dict[str, Any]


@dataclass
class Facts:
    dossier_code: str
    unit_code: str | None = None
    current_unit: str | None = None
    receiving_unit: str | None = None  # the desk that received it (the competent unit's own)
    procedure_code: str | None = None
    channel: str | None = None
    return_method: str | None = None
    received_at: datetime | None = None
    counted_from: datetime | None = None
    due_at: datetime | None = None
    effective_due_at: datetime | None = None
    processing_days: int | None = None
    supplement_count: int = 0
    second_supplement_at: datetime | None = None  # the second request: the index's 2.1 is late from then
    paused_days: int = 0
    pending_pause_since: datetime | None = None
    apology_count: int = 0
    apology_issued_at: datetime | None = None
    apology_timely: bool | None = None
    new_due_at: datetime | None = None
    resolved_at: datetime | None = None
    rejected_at: datetime | None = None
    stopped_at: datetime | None = None
    withdrawn_at: datetime | None = None
    returned_at: datetime | None = None
    returned_method: str | None = None
    end_at: datetime | None = None
    end_kind: str | None = None
    closed_timeliness: str | None = None
    processing_working_days: int | None = None
    rating: str | None = None
    rating_unit: str | None = None
    rated_at: datetime | None = None
    decree61_total: int | None = None
    sipas: dict[str, int] | None = field(default=None)
    # What the national index counts beyond timeliness (all optional in the events).
    online_mode: str | None = None  # "whole" (toàn trình) or "partial", online filings only
    population_data: bool = False  # VNeID-authenticated, or looked up in the population DB
    components_digitised: bool = False  # every component of the filing digitised
    reused_digitised: bool = False  # a component taken from already-digitised data
    paid_online: bool | None = None  # None: not paid (by the facts known)
    paid_at: datetime | None = None
    electronic_result: bool = False
    result_digitised: bool = False
    shared_to_citizen: bool = False  # the result pushed to the citizen's data store
    synced_at: datetime | None = None  # first accepted by the national portal (1.4)
    stuck_since: datetime | None = None  # stuck (hồ sơ treo) from then, until the next step
    # The span in which a period's figures of this dossier still depend on ``as_of``
    # (``live_span``); outside it they are in the per-day counts (``domain.tallies``).
    live_from: datetime | None = None
    live_until: datetime | None = None


def _t(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def fold(dossier_code: str, events: Iterable[EventRecord], rulebook: Rulebook) -> Facts:
    unique = {e.event_id: e for e in events if e.type in RELEVANT}
    ordered = sorted(unique.values(), key=lambda e: (e.occurred_at, e.type, str(e.event_id)))
    f = Facts(dossier_code)
    requests: list[datetime] = []
    receipts: list[datetime] = []
    for e in ordered:
        d = e.data
        match e.type:
            case "dossier.received":
                f.unit_code = f.unit_code or d["unit_code"]
                f.current_unit = f.current_unit or d["unit_code"]
                f.receiving_unit = (f.receiving_unit or d.get("receiving_unit")
                                    or d["unit_code"])
                f.procedure_code, f.channel = d["procedure_code"], d["channel"]
                f.return_method = f.return_method or d["return_method"]
                f.received_at, f.counted_from = _t(d["received_at"]), _t(d["counted_from"])
                f.due_at, f.processing_days = _t(d["due_at"]), int(d["processing_days"])
                f.online_mode = d.get("online_mode")
                f.population_data = d.get("population_data") is not None
                total = int(d.get("documents_total") or 0)
                f.components_digitised = total > 0 and int(d.get("documents_digitised") or 0) >= total
                f.reused_digitised = int(d.get("documents_reused") or 0) > 0
            case "dossier.transferred":
                f.current_unit = d["to_unit"]
            case "dossier.supplement_requested":
                requests.append(_t(d["requested_at"]))
                f.supplement_count += 1
            case "dossier.supplement_received":
                receipts.append(_t(d["received_at"]))
            case "dossier.apology_issued":
                f.apology_count += 1
                if f.apology_issued_at is None:
                    f.apology_issued_at = _t(d["issued_at"])
                    f.apology_timely = bool(d["timely"])
                    f.new_due_at = _t(d["new_due_at"])
            case "dossier.resolved":
                if f.resolved_at is None:
                    f.resolved_at = _t(d["resolved_at"])
                    f.electronic_result = bool(d.get("electronic_result_ref"))
                    f.result_digitised = bool(d.get("result_digitised"))
                    f.shared_to_citizen = bool(d.get("shared_to_citizen"))
                if d.get("return_method"):
                    f.return_method = d["return_method"]
            case "dossier.stuck":  # in time order: the latest of stuck / unstuck wins
                f.stuck_since = _t(d["at"])
            case "dossier.unstuck":
                f.stuck_since = None
            case "national_portal.synced":
                at = _t(d["at"])
                f.synced_at = at if f.synced_at is None else min(f.synced_at, at)
            case "dossier.paid":
                if f.paid_at is None:
                    f.paid_at, f.paid_online = _t(d["at"]), d.get("via") in ONLINE_PAYMENT
            case "dossier.rejected":
                f.rejected_at = f.rejected_at or _t(d["at"])
            case "dossier.stopped":
                f.stopped_at = f.stopped_at or _t(d["at"])
            case "dossier.withdrawn":
                f.withdrawn_at = f.withdrawn_at or _t(d["at"])
            case "dossier.result_returned":
                if f.returned_at is None:
                    f.returned_at, f.returned_method = _t(d["returned_at"]), d["method"]
            case "feedback.submitted":
                if f.rated_at is None:
                    f.rating, f.rating_unit, f.rated_at = d["rating"], d["unit_code"], _t(d["at"])
                    criteria = d.get("criteria") or {}
                    if criteria.get("decree61"):
                        f.decree61_total = sum(int(x) for x in criteria["decree61"])
                    f.sipas = criteria.get("sipas")
    _derive(f, requests, receipts, rulebook)
    f.live_from, f.live_until = live_span(f)
    return f


# The times a dossier's own figures count by, besides its receipt and its end.
_BEFORE_END = ("resolved_at", "rejected_at", "stopped_at", "withdrawn_at", "apology_issued_at",
               "second_supplement_at")
_AFTER_END = ("returned_at", "synced_at", "paid_at", "rated_at")  # may come later


def online_whole(f: Facts) -> bool:
    """The dossier's side of the index's 3.1: received online through the whole process
    (toàn trình). The procedure's side is ``index766_counts.offered_online``."""
    return f.channel == "online" and f.online_mode == "whole"


def live_span(f: Facts) -> tuple[datetime | None, datetime | None]:
    """From when until when a period judged at an ``as_of`` inside it must judge this dossier
    itself; before and after, its figures are fixed and kept in the per-day counts.

    * open: from its receipt, with no end (``None``);
    * ended, every time in order (received ≤ each step ≤ the end, received ≤ returned): from
      its receipt until the latest of its end, its result's return, and the times the
      national index judges it by (its sync to the national portal, its payment, its
      rating): a period judged before one of those must see the dossier as it was then;
    * anything else (no receipt yet, or times out of order): ``(None, None)``, always judged
      at query time and never in the per-day counts."""
    received, end = f.received_at, f.end_at
    if received is None or f.due_at is None:
        return None, None
    if end is None:
        return received, None
    if f.closed_timeliness is None or end < received or (
            f.returned_at is not None and f.returned_at < received):
        return None, None
    for name in _BEFORE_END:
        at = getattr(f, name)
        if at is not None and not received <= at <= end:
            return None, None
    return received, max(t for t in (end, *(getattr(f, name) for name in _AFTER_END))
                          if t is not None)


def _derive(f: Facts, requests: list[datetime], receipts: list[datetime], rb: Rulebook) -> None:
    if len(requests) > 1:
        f.second_supplement_at = sorted(requests)[1]
    for kind in END_PRECEDENCE:
        at = getattr(f, f"{kind}_at")
        if at is not None:
            f.end_at, f.end_kind = at, kind
            break
    if f.due_at is None or f.unit_code is None or f.processing_days is None:
        return  # dossier.received has not arrived yet: no deadline facts
    cal, policy = rb.calendar_for(f.unit_code), rb.policy_for(f.unit_code)
    due = f.due_at
    pending = sorted(receipts)
    for requested in sorted(requests):
        supplied = next((r for r in pending if r >= requested), None)
        if supplied is None:
            if f.end_at is None:
                f.pending_pause_since = requested
                break
            supplied = max(f.end_at, requested)  # ended while paused: paused until the end
        if supplied in pending:
            pending.remove(supplied)
        f.paused_days += paused_working_days(requested, supplied, cal, policy)
        due = due_after_supplement(due, requested, supplied, f.processing_days, cal, policy)
    f.effective_due_at = due
    if f.end_at is not None:
        f.closed_timeliness = timeliness(f.end_at, due, cal, policy)
        if f.resolved_at is not None and f.counted_from is not None:
            worked = cal.working_days_between(f.counted_from.astimezone(policy.tz).date(),
                                              f.resolved_at.astimezone(policy.tz).date())
            f.processing_working_days = max(0, worked - f.paused_days)
