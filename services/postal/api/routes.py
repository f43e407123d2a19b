"""The postal REST surface: the couriers' signed webhook and shipment look-ups."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.postal.adapters import repository as repo
from services.postal.domain.shipment import (
    CourierTimeRefused,
    Direction,
    IllegalCourierEvent,
    Shipment,
    Status,
)
from services.postal.domain.signature import verify
from services.postal.settings import Settings
from shared.auth import Principal, bearer, business_time
from shared.events import Envelope
from shared.problems import TYPE_BASE, Problem, invalid
from shared.service import clock_of, get_runtime, settings_of
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


@router.post("/courier/events", response_model=CourierAck, tags=["courier"],
             summary="Couriers report pickups, deliveries and failed attempts",
             description=_WEBHOOK_DOC,
             # The body is read raw (the signature covers its bytes) and parsed in the handler,
             # so FastAPI would not declare it; the document does.
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": CourierEvent.model_json_schema()}}}},
             responses={401: {"description": "unknown courier, stale or bad signature"},
                        404: {"description": "unknown shipment"},
                        409: {"description": "replayed request, or impossible in this state"},
                        422: {"description": "invalid body"}})
async def courier_event(
    request: Request,
    courier: Annotated[str | None, Header(alias="X-Courier-Id", max_length=64)] = None,
    timestamp: Annotated[str | None, Header(alias="X-Timestamp", max_length=20)] = None,
    signature: Annotated[str | None, Header(alias="X-Signature", max_length=128)] = None,
) -> CourierAck:
    settings = settings_of(request, Settings)
    raw = await request.body()
    verdict = verify(settings.couriers(), courier, timestamp, signature, raw,
                     clock_of(request).now().timestamp(),
                     settings.signature_tolerance_s)
    if verdict != "ok":
        raise Problem(401, "Unauthorized", f"courier request refused: {verdict}",
                      type_=TYPE_BASE + "courier-signature")
    assert courier is not None and timestamp is not None and signature is not None
    try:
        event = CourierEvent.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        # The body is parsed here (the signature covers its raw bytes); its errors go to the
        # same handler as every other request's.
        errors = ([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
                  if isinstance(exc, ValidationError)
                  else [{"loc": ("body",), "msg": "not JSON", "type": "json_invalid"}])
        raise RequestValidationError(errors) from exc
    # Couriers report their own times, never future ones.
    business_time(event.at, True, now=clock_of(request).now())
    runtime = get_runtime(request)
    async with runtime.pool.acquire() as conn, conn.transaction():
        fresh = await conn.fetchval(
            """INSERT INTO courier_signatures (courier, signature, ts) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING 1""", courier, signature, int(timestamp))
        if not fresh:
            raise Problem(409, "Conflict", "this signed request was already received (replay)",
                          type_=TYPE_BASE + "courier-replay")
        shipment = await repo.get(conn, event.shipment_id, for_update=True)
        if shipment is None:
            raise Problem(404, "Not Found", f"no shipment {event.shipment_id}")
        seen = await conn.fetchval(
            "SELECT 1 FROM courier_events WHERE courier = $1 AND event_id = $2",
            courier, event.event_id)
        if seen:
            return CourierAck(accepted=False, shipment=_view(shipment))
        try:
            events = shipment.apply(event.kind, event.at, reason=event.reason,
                                    max_attempts=settings.max_delivery_attempts)
        except IllegalCourierEvent as exc:
            raise Problem(409, "Conflict", str(exc), type_=TYPE_BASE + "illegal-state",
                          status_now=shipment.status) from exc
        except CourierTimeRefused as exc:
            raise invalid(("body:/at", str(exc))) from exc
        await repo.save(conn, shipment)
        await conn.execute(
            """INSERT INTO courier_events (courier, event_id, shipment_id, kind, at)
               VALUES ($1, $2, $3, $4, $5)""",
            courier, event.event_id, shipment.id, event.kind, event.at)
        await runtime.emit(conn, [Envelope(source="postal", data=e) for e in events])
    return CourierAck(accepted=True, shipment=_view(shipment))


Reader = Annotated[Principal, Depends(bearer())]
_read_responses: dict[int | str, dict[str, Any]] = {401: {"description": "no valid token"},
                                                    404: {"description": "none of your units'"}}


@router.get("/shipments/{shipment_id}", response_model=ShipmentView, tags=["shipments"],
            summary="A shipment", responses=_read_responses)
async def get_shipment(shipment_id: str, request: Request, who: Reader) -> ShipmentView:
    s = await repo.get(get_runtime(request).pool, shipment_id)
    if s is None or not who.may_act_on(s.unit_code):
        raise Problem(404, "Not Found", f"no shipment {shipment_id} among your units")
    return _view(s)


@router.get("/shipments", response_model=list[ShipmentView], tags=["shipments"],
            summary="The shipments of a dossier (its inbound and outbound ones)",
            responses=_read_responses)
async def shipments_of(request: Request, who: Reader,
                       dossier_code: Annotated[str, Query(max_length=64)],
                       limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[ShipmentView]:
    found = await repo.by_dossier(get_runtime(request).pool, dossier_code, limit)
    return [_view(s) for s in found if who.may_act_on(s.unit_code)]
