"""A thin client over the services' public REST APIs, for end-to-end tests."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from shared.auth import mint_token
from tests.conftest import Infra
from tests.support.kafka import read_all
from tests.support.stack import Stack
from tests.support.wait import until

ROOT_DIR = str(Path(__file__).resolve().parents[2])
PORTAL_KEY = "dvc-demo.local-demo-portal-key"  # files online and by post
DESK_KEY = "desk-demo.local-demo-desk-key"  # files at the counter
IMPORTER_KEY = "legacy-import.local-demo-importer-key"
NATIONAL_PORTAL_KEY = "dvcqg.local-demo-national-portal-key"  # the national portal files online
CONNECTOR_KEY = "national-portal-connector.local-demo-key"  # reads applicants, files nothing
SERVICES_ORDER = ("intake", "processing", "postal", "feedback", "metrics", "national_portal")
UNIT = "H26.01"  # Sở Tư pháp
OTHER_UNIT = "H26.02"  # Sở Xây dựng
PROCEDURE = "2.000488"  # Lý lịch tư pháp, 10 working days


def applicant(**over: Any) -> dict[str, Any]:
    base = {"kind": "citizen", "full_name": "Nguyễn Văn An", "id_number": "031203004567",
            "phone": "0912345678", "address": "12 Lạch Tray, Ngô Quyền, Hải Phòng"}
    base.update(over)
    return base


class Api:
    def __init__(self, stack: Stack, infra: Infra, jwt_secret: str) -> None:
        self.stack = stack
        self.infra = infra
        self.secret = jwt_secret
        self.http = httpx.AsyncClient(timeout=30)
        self._db: asyncpg.Connection | None = None

    async def close(self) -> None:
        await self.http.aclose()
        if self._db is not None:
            await self._db.close()

    def url(self, service: str, path: str) -> str:
        return self.stack.url(service) + path

    def token(self, units: list[str], role: str = "officer", sub: str = "officer-1",
              **kw: Any) -> dict[str, str]:
        return {"Authorization": "Bearer " + mint_token(self.secret, subject=sub, role=role,
                                                         units=units, **kw)}

    def filing(self, **over: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"unit_code": UNIT, "procedure_code": PROCEDURE,
                                "channel": "counter", "return_method": "counter",
                                "applicant": applicant()}
        body.update(over)
        return body

    async def file(self, *, key: str | None = None, headers: dict[str, str] | None = None,
                   **over: Any) -> httpx.Response:
        """Files a dossier; by default through the desk for a counter filing (the default)
        and through the portal for an online or postal one."""
        body = self.filing(**over)
        key = key or filer_key(body["channel"])
        return await self.http.post(self.url("intake", "/v1/dossiers"), json=body,
                                    headers={"X-API-Key": key, **(headers or {})})

    async def act(self, code: str, action: str, body: dict[str, Any] | None = None, *,
                  units: list[str] | None = None, role: str = "officer") -> httpx.Response:
        return await self.http.post(
            self.url("processing", f"/v1/dossiers/{code}/actions/{action}"), json=body or {},
            headers=self.token(units or [UNIT], role=role))

    async def processing_view(self, code: str, timeout_s: float = 20) -> dict[str, Any]:
        """Waits until processing has consumed the dossier.received event."""
        headers = self.token(["*"], role="operator")

        async def view() -> dict[str, Any] | None:
            r = await self.http.get(self.url("processing", f"/v1/dossiers/{code}"),
                                    headers=headers)
            return dict(r.json()) if r.status_code == 200 else None

        return await until(view, timeout_s)

    async def wait_processing_state(self, code: str, state: str,
                                    timeout_s: float = 20) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            view = await self.processing_view(code)
            return view if view["state"] == state else None

        return await until(reached, timeout_s)

    async def intake_view(self, code: str) -> dict[str, Any]:
        r = await self.http.get(self.url("intake", f"/v1/dossiers/{code}"),
                                headers={"X-API-Key": IMPORTER_KEY})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def wait_intake_status(self, code: str, status: str, timeout_s: float = 20) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            view = await self.intake_view(code)
            return view if view["status"] == status else None

        return await until(reached, timeout_s)

    async def db(self) -> asyncpg.Connection:
        if self._db is None:
            self._db = await asyncpg.connect(self.stack.database_url)
        return self._db

    async def topic_events(self, topic: str, code: str, *, expect: int,
                           timeout_s: float = 20) -> list[tuple[str, dict[str, bytes], bytes]]:
        """(type, headers, value) of one dossier's events on a topic, in partition order."""
        full = self.stack.topic_prefix + topic
        found: list[tuple[str, dict[str, bytes], bytes]] = []
        async with asyncio.timeout(timeout_s):
            while True:
                records = await read_all(self.infra.kafka_bootstrap, full, expect=0)
                found = [(dict(r.headers)["ce_type"].decode(), dict(r.headers), r.value)
                         for r in records if r.key == code.encode()]
                if len(found) >= expect:
                    return found
                await asyncio.sleep(0.3)


def filer_key(channel: str) -> str:
    """The demo key that files through ``channel``."""
    return DESK_KEY if channel == "counter" else PORTAL_KEY


def unique_ref() -> str:
    return "ref-" + uuid.uuid4().hex[:12]


COURIER = "vnpost"
COURIER_SECRET = "local-development-only-courier-secret"


class Courier:
    """Signs webhook requests as the postal operator does."""

    def __init__(self, api: Api, secret: str = COURIER_SECRET) -> None:
        self.api = api
        self.secret = secret
        self.counter = 0

    def signed(self, body: dict[str, Any], *, ts: int | None = None,
               secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        import time

        import orjson

        from services.postal.domain.signature import sign

        raw = orjson.dumps(body)
        stamp = ts if ts is not None else int(time.time())
        return raw, {"X-Courier-Id": COURIER, "X-Timestamp": str(stamp),
                     "X-Signature": sign(secret or self.secret, stamp, raw),
                     "content-type": "application/json"}

    async def send_raw(self, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.api.http.post(self.api.url("postal", "/v1/courier/events"),
                                        content=raw, headers=headers)

    async def report(self, shipment_id: str, kind: str, at: str, *, event_id: str | None = None,
                     **extra: Any) -> httpx.Response:
        self.counter += 1
        body = {"event_id": event_id or f"ev-{uuid.uuid4().hex[:10]}", "shipment_id": shipment_id,
                "kind": kind, "at": at, **extra}
        raw, headers = self.signed(body)
        return await self.send_raw(raw, headers)

    async def shipment(self, dossier_code: str, direction: str,
                       timeout_s: float = 20) -> dict[str, Any]:
        headers = self.api.token(["*"], role="operator")
        async with asyncio.timeout(timeout_s):
            while True:
                r = await self.api.http.get(self.api.url("postal", "/v1/shipments"),
                                            params={"dossier_code": dossier_code}, headers=headers)
                for s in r.json():
                    if s["direction"] == direction:
                        return dict(s)
                await asyncio.sleep(0.1)
