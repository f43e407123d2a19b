"""The commands of the intake service, one per use case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.adapters.repository import Portal
from services.intake.domain.applicant import Applicant
from shared.notifications import Preference


@dataclass(frozen=True)
class Requested:
    """Who asked, when it counts from, and what a retry under the same key must repeat."""

    portal: Portal
    at: datetime  # now, or an importer's back-dated time
    request: Mapping[str, Any]  # the request as sent (JSON), for its fingerprint
    idempotency_key: str | None = None


@dataclass(frozen=True)
class FileDossier:
    asked: Requested
    unit_code: str
    procedure_code: str
    channel: str
    return_method: str
    applicant: Applicant
    documents: list[dict[str, Any]]
    note: str | None
    external_ref: str | None
    # A postal filing is received at the courier's handover at the desk, not now, unless an
    # importer back-fills one handed over long ago (then the time is given).
    received_at_given: bool
    online_mode: str | None = None
    population_data: str | None = None
    receiving_unit: str | None = None  # the desk, when not the competent unit's own
    # How the applicant wants to be told of the steps (docs/rules/notifications.md); None:
    # "auto", but "none" for an importer's back-filled dossier (told by the old system).
    notify: Preference | None = None


@dataclass(frozen=True)
class HandInSupplement:
    code: str
    asked: Requested
    documents: list[dict[str, Any]]
    note: str | None


@dataclass(frozen=True)
class Withdraw:
    code: str
    asked: Requested
    reason: str | None


@dataclass(frozen=True)
class SetNotifications:
    """The applicant's notification preference, changed later (opting out: "none")."""

    code: str
    asked: Requested
    preference: Preference
