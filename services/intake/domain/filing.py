"""Pure rules of filing a dossier: the code format, the catalog checks and who files through
which channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.rulebook import Procedure, Rulebook, Unit


def dossier_code(unit_code: str, day: date, sequence: int) -> str:
    """The dossier code (docs/rules/lifecycle.md): ``<unit agency code>-<YYMMDD>-<NNNN>``."""
    return f"{unit_code}-{day:%y%m%d}-{sequence:04d}"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def check_filing(rulebook: Rulebook, unit_code: str, procedure_code: str, channel: str,
                 return_method: str, online_mode: str | None = None, *,
                 receiving_unit: str | None = None, day: date | None = None,
                 ) -> tuple[Unit | None, Procedure | None, list[FieldError]]:
    """The catalogue's refusals of a filing: ``unit_code`` is the competent unit (it resolves
    the dossier), ``receiving_unit`` the desk that received it (the competent unit's own when
    None), ``day`` the local day of receipt (for mergers)."""
    errors: list[FieldError] = []
    if online_mode is not None and channel != "online":
        errors.append(FieldError("body:/online_mode",
                                 f"a {channel} filing is not filed online, in whole or in part"))
    unit = rulebook.unit(unit_code)
    procedure = rulebook.procedure(procedure_code)
    if unit is None:
        errors.append(FieldError("body:/unit_code", f"unknown unit {unit_code!r}"))
    if procedure is None:
        errors.append(FieldError("body:/procedure_code", f"unknown procedure {procedure_code!r}"))
    if unit is not None and procedure is not None and unit.code not in procedure.units:
        errors.append(FieldError("body:/procedure_code",
                                 f"procedure {procedure.code} is not handled by unit {unit.code}"))
    desk = rulebook.unit(receiving_unit) if receiving_unit is not None else unit
    if receiving_unit is not None and desk is None:
        errors.append(FieldError("body:/receiving_unit", f"unknown unit {receiving_unit!r}"))
    if receiving_unit is not None and desk is not None and procedure is not None \
            and not rulebook.may_receive(desk.code, procedure):
        errors.append(FieldError("body:/receiving_unit",
                                 f"the desk of unit {desk.code} may not receive procedure "
                                 f"{procedure.code} ({_desks(procedure)})"))
    if day is not None:
        for field, u in (("unit_code", unit), ("receiving_unit", desk)):
            merged = rulebook.merger_of(u.code) if u is not None else None
            if u is not None and merged is not None and merged[1] <= day:
                errors.append(FieldError(f"body:/{field}", f"unit {u.code} was merged into "
                                         f"{merged[0]} on {merged[1]:%d/%m/%Y}"))
                break
    if procedure is not None and channel == "postal" and not procedure.postal_filing:
        errors.append(FieldError("body:/channel",
                                 f"procedure {procedure.code} cannot be filed by post"))
    if procedure is not None and return_method == "postal" and not procedure.postal_return:
        errors.append(FieldError("body:/return_method",
                                 f"the result of procedure {procedure.code} cannot be sent by post"))
    return unit, procedure, errors


def _desks(procedure: Procedure) -> str:
    if procedure.filing_desks == "competent":
        return "only its competent units receive it"
    return "it is received at " + ", ".join(sorted({*procedure.filing_desks, *procedure.units}))


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
