"""A local stand-in for Zalo OA's ZNS template message API (``POST
/message/template``): the ``access_token`` header, a JSON body of exactly ``phone`` (84…),
``template_id``, ``template_data`` (an object of strings) and ``tracking_id``. It answers as
Zalo does, HTTP 200 with ``{"error": 0, "message": "Success", "data": {"msg_id",
"sent_time", "quota"}}``, or a negative error code: -124 for a wrong access token, -108 for
a phone number not in the 84… form, -109 for another template, -112 for malformed
template data."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "local-zalo-oa-access-token"
TEMPLATE = "301234"


class ZaloOA:
    def __init__(self, token: str = TOKEN, template_id: str = TEMPLATE) -> None:
        self.token, self.template_id = token, template_id
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[int] = []
        self._lock = threading.Lock()
        oa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, answer = oa.handle(self.path, dict(self.headers.items()), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/message/template"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        headers = {k.lower(): v for k, v in headers.items()}
        if path != "/message/template":
            return 404, {"error": -1, "message": "not found"}
        with self._lock:
            if headers.get("access_token") != self.token:
                return self._error(-124, "Access token is invalid")
            try:
                message = json.loads(body)
            except ValueError:
                return self._error(-100, "Body is not JSON")
            if not isinstance(message, dict) or set(message) != {"phone", "template_id",
                                                                 "template_data", "tracking_id"}:
                return self._error(-112, "Template data is invalid")
            if not re.fullmatch(r"84\d{9,10}", str(message["phone"])):
                return self._error(-108, "Phone number is invalid")
            if message["template_id"] != self.template_id:
                return self._error(-109, "Template ID is invalid")
            data = message["template_data"]
            if not isinstance(data, dict) or not data or not all(
                    isinstance(v, str) for v in data.values()):
                return self._error(-112, "Template data is invalid")
            if not str(message["tracking_id"]).startswith("ntf_"):
                return self._error(-100, "tracking_id")
            self.accepted.append(message)
            return 200, {"error": 0, "message": "Success", "data": {
                "msg_id": uuid.uuid4().hex, "sent_time": str(int(time.time() * 1000)),
                "quota": {"dailyQuota": "500", "remainingQuota": "499"}}}

    def _error(self, code: int, text: str) -> tuple[int, Any]:
        self.refused.append(code)
        return 200, {"error": code, "message": text}

    def to(self, phone: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.accepted if m["phone"] == phone]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
