"""HTTP clients of the connector: the national portal (session login, renewed when it
expires, and the integration calls) and intake's applicant look-up."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from services.national_portal.domain.documents import Applicant

log = logging.getLogger(__name__)
SESSION_ERRORS = frozenset({"401", "-1"})  # what the portal answers for a stale session


class PortalUnavailable(Exception):
    """No usable answer (refused, timed out, 5xx, malformed): retry later."""


class PortalClient:
    def __init__(self, http: httpx.AsyncClient, base: str, auth_path: str,
                 integration_path: str, username: str, password: str, madonvi: str) -> None:
        self.http, self.base = http, base.rstrip("/")
        self.auth_path, self.integration_path = auth_path, integration_path
        self.username, self.password, self.madonvi = username, password, madonvi
        self.session: str | None = None
        self.logins = 0

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            r = await self.http.post(self.base + path, json=body)
        except httpx.HTTPError as exc:
            raise PortalUnavailable(type(exc).__name__) from exc
        if r.status_code >= 500 or r.status_code == 429:
            raise PortalUnavailable(f"HTTP {r.status_code}")
        try:
            answer = r.json()
        except ValueError as exc:
            raise PortalUnavailable("not JSON") from exc
        if not isinstance(answer, dict):
            raise PortalUnavailable("not an object")
        if r.status_code == 401:
            answer.setdefault("error_code", "401")
        return answer

    async def login(self) -> str:
        answer = await self._post(self.auth_path, {"username": self.username,
                                                    "password": self.password})
        session = answer.get("session")
        if str(answer.get("error_code")) != "0" or not isinstance(session, str):
            raise PortalUnavailable(f"login refused ({answer.get('error_code')})")
        self.session, self.logins = session, self.logins + 1
        return session

    async def send(self, service: str, documents: list[dict[str, Any]],
                   updating: bool = True) -> list[tuple[str, str, str]]:
        """Each document's (MaHoSo, error code, message); "0" is accepted. A stale session is
        renewed once."""
        for attempt in (1, 2):
            session = self.session or await self.login()
            answer = await self._post(self.integration_path, {
                "session": session, "madonvi": self.madonvi, "service": service,
                "isUpdating": updating, "data": documents})
            code = str(answer.get("error_code"))
            if code in SESSION_ERRORS and attempt == 1:
                self.session = None
                continue
            results = answer.get("results")
            if code != "0" or not isinstance(results, list):
                raise PortalUnavailable(f"integration refused as a whole ({code})")
            return [(str(x.get("MaHoSo")), str(x.get("error_code", "0")),
                     str(x.get("message", ""))) for x in results if isinstance(x, dict)]
        raise PortalUnavailable("the session could not be renewed")


class IntakeClient:
    def __init__(self, http: httpx.AsyncClient, base: str, key: str) -> None:
        self.http, self.base, self.key = http, base.rstrip("/"), key

    async def applicants(self, codes: list[str]) -> dict[str, Applicant]:
        """:raises PortalUnavailable: when intake does not answer (the batch waits)."""
        try:
            r = await self.http.post(self.base + "/v1/applicants/lookup", json={"codes": codes},
                                     headers={"X-API-Key": self.key})
        except httpx.HTTPError as exc:
            raise PortalUnavailable(f"intake: {type(exc).__name__}") from exc
        if r.status_code != 200:
            raise PortalUnavailable(f"intake: HTTP {r.status_code}")
        found = r.json()["applicants"]
        return {code: Applicant(full_name=a["full_name"], kind=a["kind"], phone=a["phone"],
                                email=a["email"], portal_id=a["portal_id"])
                for code, a in found.items()}
