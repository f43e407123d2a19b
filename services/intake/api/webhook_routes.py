"""Portals' webhooks (docs/rules/webhooks.md): subscribe to a dossier's steps, list and
replay the deliveries. Routes translate HTTP to ``WebhookHandlers``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.intake.api.routes import Caller
from services.intake.service_layer.webhooks import (
    NotAPortal,
    NotFound,
    WebhookHandlers,
    WebhookRefused,
)
from shared.audit import audit_note, audited
from shared.docs import answers
from shared.problems import Problem, invalid
from shared.runtime import clock_of, provided
from shared.timebounds import LocalTime

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
DeliveryStatus = Literal["pending", "delivered", "failed"]


Handlers = Annotated[WebhookHandlers, Depends(provided(WebhookHandlers))]


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except WebhookRefused as exc:
        raise invalid((exc.field, str(exc))) from exc
    except NotAPortal as exc:
        raise Problem(403, "Forbidden", str(exc)) from exc
    except NotFound as exc:
        raise Problem(404, "Not Found", str(exc)) from exc


class SubscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=2000, description="https in production")
    events: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=40, description="event types, or [\"*\"] for every one")


class SubscriptionView(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    created_at: LocalTime
    secret: str | None = Field(default=None, description="whsec_…: shown once, when made")


class DeliveryView(BaseModel):
    id: str = Field(description="the webhook-id header, the same on every try")
    subscription_id: uuid.UUID
    dossier_code: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    created_at: LocalTime
    next_attempt_at: LocalTime
    last_attempt_at: LocalTime | None
    last_status: int | None = Field(description="the receiver's HTTP status at the last try")
    last_error: str | None
    delivered_at: LocalTime | None


@router.post("", status_code=201, response_model=SubscriptionView,
             summary="Subscribe a URL to the steps of the portal's dossiers; the answer "
                     "carries the signing secret, once",
             responses=answers(401, 403, 422, 429), dependencies=[audited("change:webhook.subscribe")])
async def subscribe(body: SubscriptionRequest, request: Request, who: Caller,
                    app: Handlers) -> SubscriptionView:
    with refusals():
        made = await app.subscribe(who, body.url, body.events, clock_of(request).now())
    audit_note(request, str(made.id))
    return SubscriptionView.model_validate(vars(made))


@router.get("", response_model=list[SubscriptionView], summary="The portal's subscriptions",
            responses=answers(401, 403, 429))
async def subscriptions(who: Caller, app: Handlers) -> list[SubscriptionView]:
    with refusals():
        return [SubscriptionView.model_validate(vars(s)) for s in await app.subscriptions(who)]


@router.delete("/{subscription_id}", status_code=204, response_class=Response,
               summary="Stop a subscription (its pending deliveries fail)",
               responses=answers(401, 403, 404, 429),
               dependencies=[audited("change:webhook.unsubscribe", subject="subscription_id")])
async def unsubscribe(subscription_id: uuid.UUID, request: Request, who: Caller,
                      app: Handlers) -> Response:
    with refusals():
        await app.unsubscribe(who, subscription_id, clock_of(request).now())
    return Response(status_code=204)


@router.get("/deliveries", response_model=list[DeliveryView],
            summary="The portal's deliveries, newest first", responses=answers(401, 403, 429))
async def deliveries(who: Caller, app: Handlers, status: DeliveryStatus | None = None,
                     dossier_code: Annotated[str | None, Query(max_length=64)] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryView]:
    with refusals():
        found = await app.deliveries(who, status, dossier_code, limit)
    return [DeliveryView.model_validate(d) for d in found]


@router.post("/deliveries/{delivery_id}/replay", status_code=202, response_class=Response,
             summary="Send one delivery again now (the same webhook-id), with a new day of "
                     "retries", responses=answers(401, 403, 404, 429),
             dependencies=[audited("change:webhook.replay", subject="delivery_id")])
async def replay(delivery_id: Annotated[str, Path(max_length=64)], request: Request,
                 who: Caller, app: Handlers) -> Response:
    with refusals():
        await app.replay(who, delivery_id, clock_of(request).now())
    return Response(status_code=202)

