"""Postal's use cases: a courier's signed report applied once, shipments read by officers,
and shipments opened by intake's and processing's events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from services.postal.domain.shipment import Kind, Shipment
from services.postal.service_layer.unit_of_work import PostalUnitOfWork
from shared.auth import Principal
from shared.batching import runs
from shared.events import DossierReceived, Envelope, EventData, FiledByPost, Resolved, Transferred


class SignatureReplayed(Exception):
    """This signed request was received before."""


class ShipmentNotFound(Exception):
    def __init__(self, shipment_id: str) -> None:
        super().__init__(f"no shipment {shipment_id}")


@dataclass(frozen=True)
class RecordCourierEvent:
    courier: str
    signature: str
    timestamp: int
    event_id: str  # the courier's own id: a repeat changes nothing
    shipment_id: str
    kind: Kind
    at: datetime
    reason: str | None


@dataclass(frozen=True)
class Recorded:
    shipment: Shipment
    accepted: bool  # False: this courier event was applied before


class PostalHandlers:
    def __init__(self, unit_of_work: Callable[[], PostalUnitOfWork], max_attempts: int) -> None:
        self.unit_of_work = unit_of_work
        self.max_attempts = max_attempts

    async def record_courier_event(self, cmd: RecordCourierEvent) -> Recorded:
        """:raises SignatureReplayed, ShipmentNotFound, IllegalCourierEvent,
        CourierTimeRefused:"""
        async with self.unit_of_work() as uow:
            if not await uow.couriers.first_signature(cmd.courier, cmd.signature,
                                                      cmd.timestamp):
                raise SignatureReplayed()
            shipment = await uow.shipments.get(cmd.shipment_id, lock=True)
            if shipment is None:
                raise ShipmentNotFound(cmd.shipment_id)
            if await uow.couriers.seen(cmd.courier, cmd.event_id):
                await uow.commit()  # the signature is remembered; nothing else changes
                return Recorded(shipment, accepted=False)
            uow.publish(shipment.apply(cmd.kind, cmd.at, reason=cmd.reason,
                                       max_attempts=self.max_attempts))
            await uow.shipments.save(shipment)
            await uow.couriers.record(cmd.courier, cmd.event_id, shipment.id, cmd.kind, cmd.at)
            await uow.commit()
        return Recorded(shipment, accepted=True)

    async def shipment(self, shipment_id: str, who: Principal) -> Shipment:
        async with self.unit_of_work() as uow:
            s = await uow.shipments.get(shipment_id)
        if s is None or not who.may_act_on(s.unit_code):
            raise ShipmentNotFound(shipment_id)
        return s

    async def shipments_of(self, dossier_code: str, who: Principal,
                           limit: int) -> list[Shipment]:
        async with self.unit_of_work() as uow:
            found = await uow.shipments.of_dossier(dossier_code, limit)
        return [s for s in found if who.may_act_on(s.unit_code)]

    async def apply_event(self, uow: PostalUnitOfWork, env: Envelope[EventData]) -> None:
        await self.apply_events(uow, [env])

    async def apply_events(self, uow: PostalUnitOfWork,
                           events: Sequence[Envelope[EventData]]) -> None:
        """In their order: a postal filing opens an inbound shipment; a result to be returned
        by post opens an outbound one at the unit the dossier is at. Receipts in a row are
        placed together (each touches only its own dossier)."""
        async with uow:
            for together, run in runs(events, _is_received, _dossier_code):
                if together:
                    await _receive(uow, [cast(DossierReceived, e.data) for e in run])
                else:
                    await _apply(uow, run[0].data)
            await uow.commit()


async def _apply(uow: PostalUnitOfWork, data: EventData) -> None:
    if isinstance(data, FiledByPost):
        await _open(uow, data.dossier_code, "inbound", data.unit_code, data.at)
    elif isinstance(data, DossierReceived):
        await _receive(uow, [data])
    elif isinstance(data, Transferred):
        await uow.units.place(data.dossier_code, data.to_unit, moved=True)
    elif isinstance(data, Resolved) and data.return_method == "postal":
        unit = await uow.units.unit_of(data.dossier_code)
        await _open(uow, data.dossier_code, "outbound", unit or "", data.resolved_at)


async def _receive(uow: PostalUnitOfWork, received: Sequence[DossierReceived]) -> None:
    """Where each dossier is (a unit known from a transfer is kept). A result heard of
    before the dossier's receipt (intake's topic behind processing's) was shipped from no
    unit yet: from the unit the dossier is at, now that it is known."""
    at = await uow.units.place_many({r.dossier_code: r.unit_code for r in received})
    for shipment in await uow.shipments.unplaced(list(at)):
        shipment.unit_code = at[shipment.dossier_code]
        await uow.shipments.save(shipment)


def _is_received(env: Envelope[EventData]) -> bool:
    return isinstance(env.data, DossierReceived)


def _dossier_code(env: Envelope[EventData]) -> str:
    return env.data.dossier_code


async def _open(uow: PostalUnitOfWork, code: str, direction: str, unit: str,
                at: datetime) -> None:
    shipment, events = Shipment.open(code, "inbound" if direction == "inbound" else "outbound",
                                     unit, at)
    if await uow.shipments.add(shipment):
        uow.publish(events)
