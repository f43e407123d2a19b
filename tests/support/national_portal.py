"""A local stand-in for the national public-service portal (Cổng Dịch vụ công quốc gia),
which cannot be reached from here. It speaks the integration protocol the connector uses
(docs/rules/national_portal.md): a session login, then batches of dossier documents
(``DongBoHoSoMC``) and step documents (``CapNhatTienDoHoSoMC``). It checks each document's
required fields and formats, keeps what it accepts (so that the demo can show "synced" and
the tests can check versions), and can be told to fail: wrong sessions, 5xx, time-outs, slow
answers, refusing named documents, and answering as if a batch came twice.

`python -m tests.support.national_portal --port 8090` runs it on its own (make run, demo).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

USERNAME = "motcua-hai-phong"
PASSWORD = "local-development-only-portal-password"
TIME = re.compile(r"^\d{14}$")
DOSSIER_REQUIRED = ("MaHoSo", "MaTTHC", "TenTTHC", "ChuHoSo", "LoaiDoiTuong", "NgayTiepNhan",
                    "TrangThaiHoSo", "DonViXuLy", "KenhThucHien", "PhienBan")
STEP_REQUIRED = ("MaHoSo", "NguoiXuLy", "ThoiDiemXuLy", "PhongBanXuLy", "NoiDungXuLy",
                 "TrangThai", "ThuTu", "PhienBan")


@dataclass
class Faults:
    mode: str = "ok"  # ok, 503, timeout, slow
    expire_sessions: bool = False  # every session is stale once: the next call must log in
    refuse: dict[str, tuple[str, str]] = field(default_factory=dict)  # MaHoSo -> code, text
    slow_s: float = 1.0


@dataclass
class Portal:
    """What the stand-in holds: accepted documents per MaHoSo, in arrival order."""

    faults: Faults = field(default_factory=Faults)
    sessions: set[str] = field(default_factory=set)
    logins: int = 0
    dossiers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    steps: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    duplicates: int = 0
    regressions: list[tuple[str, int, int]] = field(default_factory=list)  # code, had, got
    arrivals: list[float] = field(default_factory=list)  # monotonic time of each document
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def latest(self, code: str) -> dict[str, Any] | None:
        versions = self.dossiers.get(code)
        return versions[-1] if versions else None

    def accept_dossier(self, doc: dict[str, Any]) -> tuple[str, str]:
        problem = _invalid(doc, DOSSIER_REQUIRED, ("NgayTiepNhan", "NgayHenTra", "NgayTra",
                                                   "NgayKetThucXuLy"))
        if problem:
            return "E02", problem
        code, version = str(doc["MaHoSo"]), int(doc["PhienBan"])
        if code in self.faults.refuse:
            return self.faults.refuse[code]
        had = self.dossiers.setdefault(code, [])
        if had and int(had[-1]["PhienBan"]) == version:
            self.duplicates += 1  # the same document again: idempotent by code and version
        elif had and int(had[-1]["PhienBan"]) > version:
            self.regressions.append((code, int(had[-1]["PhienBan"]), version))
        else:
            had.append(doc)
        return "0", ""

    def accept_step(self, doc: dict[str, Any]) -> tuple[str, str]:
        problem = _invalid(doc, STEP_REQUIRED, ("ThoiDiemXuLy", "NgayBatDau",
                                                "NgayKetThucTheoQuyDinh"))
        if problem:
            return "E02", problem
        code = str(doc["MaHoSo"])
        if code in self.faults.refuse:
            return self.faults.refuse[code]
        mine = self.steps.setdefault(code, {})
        if int(doc["ThuTu"]) in mine:
            self.duplicates += 1
        mine[int(doc["ThuTu"])] = doc
        return "0", ""


def _invalid(doc: dict[str, Any], required: tuple[str, ...], times: tuple[str, ...]) -> str:
    missing = [k for k in required if doc.get(k) in (None, "")]
    if missing:
        return f"thiếu trường bắt buộc: {', '.join(missing)}"
    bad = [k for k in times if doc.get(k) is not None and not TIME.match(str(doc[k]))]
    if bad:
        return f"sai định dạng thời gian yyyyMMddHHmmss: {', '.join(bad)}"
    return ""


def make_app(portal: Portal) -> Starlette:
    async def auth(request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("username") != USERNAME or body.get("password") != PASSWORD:
            return JSONResponse({"error_code": 1, "message": "Sai tên đăng nhập hoặc mật khẩu"})
        session = secrets.token_hex(16)
        with portal.lock:
            portal.sessions.add(session)
            portal.logins += 1
        return JSONResponse({"session": session, "error_code": 0})

    async def integration(request: Request) -> JSONResponse:
        faults = portal.faults
        portal.calls += 1
        if faults.mode == "503":
            return JSONResponse({"error_code": 503, "message": "Bảo trì"}, status_code=503)
        if faults.mode == "timeout":
            await asyncio.sleep(60)
        if faults.mode == "slow":
            await asyncio.sleep(faults.slow_s)
        body = await request.json()
        with portal.lock:
            if faults.expire_sessions:
                portal.sessions.clear()
                faults.expire_sessions = False
            if body.get("session") not in portal.sessions:
                return JSONResponse({"error_code": -1, "message": "Phiên làm việc hết hạn"})
            service = body.get("service")
            if service not in ("DongBoHoSoMC", "CapNhatTienDoHoSoMC") or not isinstance(
                    body.get("data"), list) or not body.get("madonvi"):
                return JSONResponse({"error_code": 2, "message": "Yêu cầu không hợp lệ"})
            accept = portal.accept_dossier if service == "DongBoHoSoMC" else portal.accept_step
            results = []
            for doc in body["data"]:
                portal.arrivals.append(time.monotonic())
                code, message = accept(doc) if isinstance(doc, dict) else ("E02", "không phải")
                results.append({"MaHoSo": doc.get("MaHoSo") if isinstance(doc, dict) else None,
                                "error_code": code, "message": message})
        return JSONResponse({"error_code": 0, "results": results})

    return Starlette(routes=[Route("/api/auth", auth, methods=["POST"]),
                             Route("/api/integration", integration, methods=["POST"])])


class StandIn:
    """The stand-in on a port, started and stopped at will (stopped: connections refused)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.portal = Portal()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(make_app(self.portal), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the national portal stand-in did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    uvicorn.run(make_app(Portal()), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
