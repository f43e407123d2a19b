"""The commands of the processing service: one per officer action (a discriminated union on
``action``), the act that carries one, and the worklist query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.auth import Principal
from shared.events import PaymentChannel, ReturnMethod


class _Action(BaseModel):
    # The request body is one shape for every action; fields an action does not use are
    # ignored, the ones it needs are required.
    model_config = ConfigDict(extra="ignore", frozen=True)
    note: str | None = None


class Accept(_Action):
    action: Literal["accept"]


class Assign(_Action):
    action: Literal["assign"]
    assignee: str


class Transfer(_Action):
    action: Literal["transfer"]
    to_unit: str


class RequestSupplement(_Action):
    action: Literal["request-supplement"]
    reason: str


class RequestPayment(_Action):
    action: Literal["request-payment"]
    amount: Decimal


class RecordPayment(_Action):
    action: Literal["record-payment"]
    amount: Decimal | None = None
    via: PaymentChannel | None = None


class Apologize(_Action):
    action: Literal["apologize"]
    reason: str
    new_due_at: datetime


class Resolve(_Action):
    action: Literal["resolve"]
    result_ref: str | None = None
    return_method: ReturnMethod | None = None
    electronic_result_ref: str | None = None
    result_digitised: bool | None = None
    shared_to_citizen: bool | None = None


class Reject(_Action):
    action: Literal["reject"]
    reason: str


class Stop(_Action):
    action: Literal["stop"]
    reason: str


class Return(_Action):
    action: Literal["return"]
    method: ReturnMethod = "counter"


ActionCommand = Annotated[
    Accept | Assign | Transfer | RequestSupplement | RequestPayment | RecordPayment | Apologize
    | Resolve | Reject | Stop | Return, Field(discriminator="action")]
ACTION_COMMAND: TypeAdapter[ActionCommand] = TypeAdapter(ActionCommand)


@dataclass(frozen=True)
class Act:
    """An officer's (or importer's) action on a dossier."""

    code: str
    command: ActionCommand
    actor: Principal
    at: datetime  # when it happened: now, or the importer's back-dated time
    given_at: datetime | None = None  # the time as sent, part of what a retry must repeat
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Worklist:
    units: list[str] | None  # None: every unit (a caller with "*")
    states: list[str] | None
    due_before: datetime | None
    due_after: datetime | None
    assignee: str | None
    limit: int
    offset: int
