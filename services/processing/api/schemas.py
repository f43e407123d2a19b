"""Request and response bodies of the processing API."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from services.processing.domain.control_slip import SlipEntry
from services.processing.domain.workflow import State
from shared.events import PaymentChannel, ReturnMethod
from shared.rulebook import UNIT_CODE
from shared.textbounds import PlainText
from shared.timebounds import AwareMoment, LocalTime


class ActionRequest(BaseModel):
    """One body for every action; see the action's description for the fields it needs."""

    model_config = ConfigDict(extra="forbid")
    at: AwareMoment | None = Field(
        default=None, description="importer role only: when it happened in the legacy system")
    note: PlainText | None = Field(default=None, max_length=2000)
    assignee: str | None = Field(default=None, min_length=1, max_length=100)
    to_unit: str | None = Field(default=None, pattern=UNIT_CODE)
    reason: PlainText | None = Field(default=None, min_length=1, max_length=2000)
    amount: Decimal | None = Field(default=None, ge=0, le=Decimal("1000000000000"),
                                   max_digits=15, decimal_places=2)
    new_due_at: AwareMoment | None = Field(default=None, description="apologize: the new date")
    result_ref: str | None = Field(default=None, max_length=200)
    return_method: ReturnMethod | None = Field(default=None, description="resolve: how the "
                                               "result goes back, if it changed")
    method: ReturnMethod | None = Field(default=None, description="return: counter or online")
    via: PaymentChannel | None = Field(default=None, description="record-payment: paid on the "
                                       "national or provincial payment platform, or at the desk")
    electronic_result_ref: str | None = Field(default=None, max_length=200, description=(
        "resolve: the reference of the electronic result issued"))
    result_digitised: bool | None = Field(default=None, description="resolve: the result was "
                                          "digitised")
    shared_to_citizen: bool | None = Field(default=None, description="resolve: the result was "
                                           "pushed to the citizen's data store")


class DossierState(BaseModel):
    code: str
    unit_code: str
    origin_unit: str
    procedure_code: str
    channel: str
    return_method: str
    state: State
    received_at: LocalTime
    counted_from: LocalTime
    due_at: LocalTime
    original_due_at: LocalTime
    apology_deadline: LocalTime
    processing_days: int
    assignee: str | None
    supplement_count: int
    paused_days: int
    paused_working_seconds: float
    apology_count: int
    apology_issued_at: LocalTime | None
    apology_timely: bool | None
    appointment_at: LocalTime | None
    payment_amount: Decimal | None
    resolved_at: LocalTime | None
    returned_at: LocalTime | None
    ended_at: LocalTime | None
    version: int
    payment_via: PaymentChannel | None = None
    electronic_result_ref: str | None = None
    result_digitised: bool = False
    shared_to_citizen: bool = False
    last_action_at: LocalTime | None = Field(default=None, description="the dossier's last step")
    stuck_flagged_at: LocalTime | None = Field(
        default=None, description="stuck (hồ sơ treo) from then, until the next step")


class ControlSlip(BaseModel):
    """Form 05 as data."""

    code: str
    procedure_code: str
    state: State
    received_at: LocalTime
    due_at: LocalTime
    entries: list[SlipEntry]
