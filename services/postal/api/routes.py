"""The postal REST surface: the couriers' signed webhook and shipment look-ups. Routes
translate HTTP to the service layer's commands and its refusals to problems."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.postal.domain.shipment import (
    CourierTimeRefused,
    Direction,
    IllegalCourierEvent,
    Shipment,
    Status,
)
from services.postal.domain.signature import verify
from services.postal.service_layer.handlers import (
    PostalHandlers,
    RecordCourierEvent,
    ShipmentNotFound,
    SignatureReplayed,
)
from services.postal.settings import Settings
from shared.auth import Principal, bearer, business_time
from shared.docs import answers, security
from shared.problems import Problem, invalid
from shared.runtime import clock_of, provided, settings_of
from shared.timebounds import AwareMoment, LocalTime

router = APIRouter(prefix="/v1")


class CourierEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$",
                          description="the courier's own id; a repeat is idempotent")
    shipment_id: str = Field(min_length=1, max_length=100)
    kind: Literal["picked_up", "delivered", "delivery_failed"]
    at: AwareMoment
    reason: str | None = Field(default=None, max_length=500)


class ShipmentView(BaseModel):
    id: str
    dossier_code: str
    direction: Direction
    unit_code: str
    status: Status
    created_at: LocalTime
    picked_up_at: LocalTime | None
    delivered_at: LocalTime | None
    attempts: int
    returned_to_desk_at: LocalTime | None


class CourierAck(BaseModel):
    accepted: bool = Field(description="false when the same courier event was already applied")
    shipment: ShipmentView


def _view(s: Shipment) -> ShipmentView:
    return ShipmentView.model_validate(s, from_attributes=True)


_WEBHOOK_DOC = """Signed with HMAC-SHA256 over `<X-Timestamp>.<raw body>` using the courier's
secret, hex in `X-Signature`; `X-Timestamp` in Unix seconds must be within the tolerance
(5 minutes by default). A request whose signature was seen before is refused (409); the same
courier `event_id` sent again in a fresh request is accepted without changing anything."""

courier_id = APIKeyHeader(name="X-Courier-Id", auto_error=False, scheme_name="courierId",
                          description="the courier's id, with `courierSignature`")
courier_signature = APIKeyHeader(name="X-Signature", auto_error=False,
                                 scheme_name="courierSignature",
                                 description="HMAC-SHA256 hex of `<X-Timestamp>.<raw body>`")


Handlers = Annotated[PostalHandlers, Depends(provided(PostalHandlers))]


@dataclass(frozen=True)
class Signed:
    courier: str
    timestamp: int
    signature: str
    body: bytes


async def signed(
    request: Request,
    courier: Annotated[str | None, Depends(courier_id)],
    signature: Annotated[str | None, Depends(courier_signature)],
    timestamp: Annotated[str | None, Header(alias="X-Timestamp", max_length=20)] = None,
) -> Signed:
    """The raw body of a courier request whose signature holds (401 otherwise)."""
    raw = await request.body()
    verdict = verify(settings_of(request, Settings).couriers(), courier, timestamp, signature,
                     raw, clock_of(request).now().timestamp(),
                     settings_of(request, Settings).signature_tolerance_s)
    if verdict != "ok" or courier is None or timestamp is None or signature is None:
        raise Problem(401, "Unauthorized", f"courier request refused: {verdict}",
                      type_="courier-signature")
    return Signed(courier, int(timestamp), signature, raw)


def parsed(raw: bytes) -> CourierEvent:
    """The body, parsed here (the signature covers its raw bytes); its errors go to the same
    handler as every other request's."""
    try:
        return CourierEvent.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        errors = ([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
                  if isinstance(exc, ValidationError)
                  else [{"loc": ("body",), "msg": "not JSON", "type": "json_invalid"}])
        raise RequestValidationError(errors) from exc


@contextmanager
def refusals() -> Iterator[None]:
    """The service layer's refusals as problem documents."""
    try:
        yield
    except SignatureReplayed as exc:
        raise Problem(409, "Conflict", "this signed request was already received (replay)",
                      type_="courier-replay") from exc
    except ShipmentNotFound as exc:
        raise Problem(404, "Not Found", str(exc)) from exc
    except IllegalCourierEvent as exc:
        raise Problem(409, "Conflict", str(exc), type_="illegal-state",
                      status_now=exc.status) from exc
    except CourierTimeRefused as exc:
        raise invalid(("body:/at", str(exc))) from exc


@router.post("/courier/events", response_model=CourierAck, tags=["courier"],
             summary="Couriers report pickups, deliveries and failed attempts",
             description=_WEBHOOK_DOC,
             # The body is read raw (the signature covers its bytes) and parsed in the handler,
             # so FastAPI would not declare it; the document does.
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": CourierEvent.model_json_schema()}}},
                 # Both headers together (FastAPI would list them as alternatives).
                 **security({"courierId": [], "courierSignature": []})},
             responses=answers(401, 404, 409, 422, said={
                 401: "unknown courier, stale or bad signature", 404: "unknown shipment",
                 409: "replayed request, or impossible in this state"}))
async def courier_event(request: Request, app: Handlers,
                        sent: Annotated[Signed, Depends(signed)]) -> CourierAck:
    event = parsed(sent.body)
    business_time(event.at, True, now=clock_of(request).now())  # never a future time
    with refusals():
        recorded = await app.record_courier_event(RecordCourierEvent(
            sent.courier, sent.signature, sent.timestamp, event.event_id, event.shipment_id,
            event.kind, event.at, event.reason))
    return CourierAck(accepted=recorded.accepted, shipment=_view(recorded.shipment))


Reader = Annotated[Principal, Depends(bearer())]
READ_ANSWERS = answers(401, 404, said={404: "none of your units'"})


@router.get("/shipments/{shipment_id}", response_model=ShipmentView, tags=["shipments"],
            summary="A shipment", responses=READ_ANSWERS)
async def get_shipment(shipment_id: str, who: Reader, app: Handlers) -> ShipmentView:
    with refusals():
        return _view(await app.shipment(shipment_id, who))


@router.get("/shipments", response_model=list[ShipmentView], tags=["shipments"],
            summary="The shipments of a dossier (its inbound and outbound ones)",
            responses=READ_ANSWERS)
async def shipments_of(who: Reader, app: Handlers,
                       dossier_code: Annotated[str, Query(max_length=64)],
                       limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[ShipmentView]:
    return [_view(s) for s in await app.shipments_of(dossier_code, who, limit)]
