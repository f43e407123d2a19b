"""Shipments of the public postal service (Decision 45/2016/QĐ-TTg) as a pure aggregate.

Inbound (the dossier from the applicant to the desk): created → picked_up → delivered;
delivery at the desk is the handover, the dossier's legal receipt.
Outbound (the result from the desk to the applicant): created → picked_up (the handover of
the result to the courier at the desk: the result counts as returned, method postal) →
delivered, or delivery_failed up to the configured number of attempts, after which the
result goes back to the desk and the applicant is told to collect it there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from shared.clock import CLOCK_SKEW
from shared.events import (
    Delivered,
    DeliveryFailed,
    EventData,
    PickedUp,
    PostalResultReturned,
    ShipmentCreated,
)

Kind = Literal["picked_up", "delivered", "delivery_failed"]
Status = Literal["created", "picked_up", "delivered", "delivery_failed", "returned_to_desk"]
Direction = Literal["inbound", "outbound"]


class IllegalCourierEvent(Exception):
    def __init__(self, kind: str, status: str) -> None:
        super().__init__(f"{kind} is not possible for a shipment that is {status}")
        self.kind = kind
        self.status = status


class CourierTimeRefused(Exception):
    """A courier's time that would rewrite the shipment's history."""


def shipment_id(dossier_code: str, direction: str) -> str:
    return f"{'IN' if direction == 'inbound' else 'OUT'}-{dossier_code}"


@dataclass
class Shipment:
    id: str
    dossier_code: str
    direction: Literal["inbound", "outbound"]
    unit_code: str
    status: str
    created_at: datetime
    picked_up_at: datetime | None = None
    delivered_at: datetime | None = None
    attempts: int = 0
    returned_to_desk_at: datetime | None = None
    version: int = 0
    last_event_at: datetime | None = None
    notifications: list[str] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def open(cls, dossier_code: str, direction: Literal["inbound", "outbound"], unit_code: str,
             at: datetime) -> tuple[Shipment, list[EventData]]:
        s = cls(shipment_id(dossier_code, direction), dossier_code, direction, unit_code,
                "created", at)
        return s, [ShipmentCreated(dossier_code=dossier_code, shipment_id=s.id,
                                   direction=direction, at=at)]

    def _common(self) -> dict[str, object]:
        return {"dossier_code": self.dossier_code, "shipment_id": self.id,
                "direction": self.direction}

    def check_time(self, at: datetime) -> None:
        """A courier's report may not precede the shipment's creation (by more than the
        clock skew between the courier's clock and ours) nor its latest report (the same
        courier's clock); the future is refused before this, with the same skew."""
        if at < self.created_at - CLOCK_SKEW:
            raise CourierTimeRefused(f"{at.isoformat()} is before the shipment was created "
                                     f"({self.created_at.isoformat()})")
        if self.last_event_at is not None and at < self.last_event_at:
            raise CourierTimeRefused(f"{at.isoformat()} is before the shipment's latest report "
                                     f"({self.last_event_at.isoformat()})")

    def apply(self, kind: Kind, at: datetime, *, reason: str | None,
              max_attempts: int) -> list[EventData]:
        events = self._apply(kind, at, reason=reason, max_attempts=max_attempts)
        self.last_event_at = at
        return events

    def _apply(self, kind: Kind, at: datetime, *, reason: str | None,
               max_attempts: int) -> list[EventData]:
        if kind == "picked_up":
            if self.status != "created":
                raise IllegalCourierEvent(kind, self.status)
            self.check_time(at)
            self.status, self.picked_up_at = "picked_up", at
            self.version += 1
            events: list[EventData] = [PickedUp.model_validate({**self._common(), "at": at})]
            if self.direction == "outbound":
                events.append(PostalResultReturned(dossier_code=self.dossier_code,
                                                   returned_at=at, method="postal"))
            return events
        if self.status not in ("picked_up", "delivery_failed"):
            raise IllegalCourierEvent(kind, self.status)
        self.check_time(at)
        if kind == "delivered":
            self.status, self.delivered_at = "delivered", at
            self.version += 1
            return [Delivered.model_validate({**self._common(), "at": at})]
        if self.direction == "inbound":
            raise IllegalCourierEvent(kind, "an inbound shipment (the desk always takes it)")
        self.attempts += 1
        back = self.attempts >= max_attempts
        self.status = "returned_to_desk" if back else "delivery_failed"
        if back:
            self.returned_to_desk_at = at
            self.notifications.append(
                f"Kết quả hồ sơ {self.dossier_code} không giao được sau {self.attempts} lần; "
                "mời ông/bà nhận tại Bộ phận Một cửa.")
        self.version += 1
        return [DeliveryFailed.model_validate({**self._common(), "at": at,
                                               "attempt": self.attempts, "reason": reason,
                                               "returned_to_desk": back})]
