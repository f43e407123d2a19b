"""Pure rules of filing a dossier: code format, catalog checks, status as seen by portals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from shared.events import DossierReceived, MaskedApplicant
from shared.rulebook import Procedure, Rulebook, Unit
from shared.workdays import Deadline

# What a portal sees of a dossier (the national portal's vocabulary, and in_transit for a
# postal filing on its way to the desk).
Status = Literal["in_transit", "awaiting_receipt", "received", "processing",
                 "awaiting_supplement", "awaiting_payment", "resolved", "returned", "rejected",
                 "stopped", "withdrawn"]
TERMINAL = frozenset({"returned", "rejected", "stopped", "withdrawn"})
FINISHED = TERMINAL | {"resolved"}

# Status a portal sees after each event; None leaves it unchanged.
STATUS_AFTER: dict[str, str | None] = {
    "dossier.filed_by_post": "in_transit",
    "dossier.received": "received",
    "dossier.accepted": "processing",
    "dossier.supplement_requested": "awaiting_supplement",
    "dossier.supplement_received": "processing",
    "dossier.payment_requested": "awaiting_payment",
    "dossier.paid": "processing",
    "dossier.resolved": "resolved",
    "dossier.rejected": "rejected",
    "dossier.stopped": "stopped",
    "dossier.withdrawn": "withdrawn",
    "dossier.result_returned": "returned",
}


def next_status(current: str, current_at: datetime, event_type: str,
                event_at: datetime) -> str | None:
    """Events from several topics may arrive out of order: a terminal status is never left,
    resolved is left only for returned, and otherwise the later event wins."""
    new = STATUS_AFTER.get(event_type)
    if new is None or new == current:
        return None
    if current in TERMINAL:
        return None
    if current == "resolved":
        return new if new == "returned" else None
    if new in FINISHED:
        return new
    return new if event_at >= current_at else None


def dossier_code(unit_code: str, day: date, sequence: int) -> str:
    """SPEC §4 policy: ``<unit agency code>-<YYMMDD>-<NNNN>``."""
    return f"{unit_code}-{day:%y%m%d}-{sequence:04d}"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def check_filing(rulebook: Rulebook, unit_code: str, procedure_code: str, channel: str,
                 return_method: str) -> tuple[Unit | None, Procedure | None, list[FieldError]]:
    errors: list[FieldError] = []
    unit = rulebook.unit(unit_code)
    procedure = rulebook.procedure(procedure_code)
    if unit is None:
        errors.append(FieldError("body:/unit_code", f"unknown unit {unit_code!r}"))
    if procedure is None:
        errors.append(FieldError("body:/procedure_code", f"unknown procedure {procedure_code!r}"))
    if unit is not None and procedure is not None and unit.code not in procedure.units:
        errors.append(FieldError("body:/procedure_code",
                                 f"procedure {procedure.code} is not handled by unit {unit.code}"))
    if procedure is not None and channel == "postal" and not procedure.postal_filing:
        errors.append(FieldError("body:/channel",
                                 f"procedure {procedure.code} cannot be filed by post"))
    if procedure is not None and return_method == "postal" and not procedure.postal_return:
        errors.append(FieldError("body:/return_method",
                                 f"the result of procedure {procedure.code} cannot be sent by post"))
    return unit, procedure, errors


# The channels each kind of client files through: a dossier handed over at the counter is
# registered by the desk, so that a portal's filing never counts as a desk filing.
CHANNELS_BY_ROLE: dict[str, frozenset[str]] = {
    "portal": frozenset({"online", "postal"}),
    "desk": frozenset({"counter"}),
    "importer": frozenset({"counter", "online", "postal"}),
}


def channel_refusal(role: str, channel: str) -> str | None:
    """Why a client of ``role`` may not file through ``channel``; None when it may."""
    allowed = CHANNELS_BY_ROLE.get(role, frozenset())
    if channel in allowed:
        return None
    if channel == "counter":
        return "counter filings are registered by a desk (a key with the desk role)"
    return f"a {role} key files through {', '.join(sorted(allowed)) or 'no channel'}"


def received_event(code: str, unit_code: str, procedure_code: str, processing_days: int,
                   channel: str, return_method: str, received_at: datetime, deadline: Deadline,
                   applicant: MaskedApplicant, rulebook: str,
                   external_ref: str | None) -> DossierReceived:
    return DossierReceived.model_validate({
        "dossier_code": code, "unit_code": unit_code, "procedure_code": procedure_code,
        "channel": channel, "received_at": received_at, "counted_from": deadline.counted_from,
        "due_at": deadline.due_at, "processing_days": processing_days,
        "return_method": return_method, "applicant": applicant, "rulebook": rulebook,
        "external_ref": external_ref,
    })
