"""A local stand-in for an SMS gateway, speaking the generic format of
docs/rules/notifications.md ("SMS gateway"): ``POST /v1/messages`` with ``Authorization:
Bearer <key>`` and ``{"to": "84…", "text": …, "client_ref": "ntf_…"}`` (``sender``
optional). It checks each request as a real gateway would: 401 for another key, 422 for a
malformed body or a number not in the 84… form; 202 ``{"id", "status": "accepted"}`` for a
new message; 409 for a ``client_ref`` it accepted before (the resend of an accepted
message). ``failing``: answer 503 to everything (the gateway down)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "local-sms-gateway-key"


class SmsGateway:
    def __init__(self, key: str = KEY) -> None:
        self.key = key
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[tuple[int, str]] = []
        self.failing = False
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, answer = gateway.handle(self.path, dict(self.headers.items()), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self._lock = threading.Lock()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        headers = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            if self.failing:
                return 503, {"error": "unavailable"}
            if path != "/v1/messages":
                return self._refuse(404, "no such endpoint")
            if headers.get("authorization") != f"Bearer {self.key}":
                return self._refuse(401, "unknown key")
            if not headers.get("content-type", "").startswith("application/json"):
                return self._refuse(415, "JSON only")
            try:
                message = json.loads(body)
            except ValueError:
                return self._refuse(422, "not JSON")
            if not isinstance(message, dict) or not set(message) <= {"to", "text", "client_ref",
                                                                     "sender"}:
                return self._refuse(422, "unknown fields")
            if not re.fullmatch(r"84\d{9,10}", str(message.get("to"))):
                return self._refuse(422, "to: 84 and the subscriber number")
            if not isinstance(message.get("text"), str) or not message["text"].strip():
                return self._refuse(422, "text is required")
            if not re.fullmatch(r"ntf_[0-9a-f]{32}", str(message.get("client_ref"))):
                return self._refuse(422, "client_ref is required")
            if any(m["client_ref"] == message["client_ref"] for m in self.accepted):
                return 409, {"error": "duplicate client_ref"}
            self.accepted.append(message)
            return 202, {"id": uuid.uuid4().hex, "status": "accepted"}

    def _refuse(self, status: int, why: str) -> tuple[int, Any]:
        self.refused.append((status, why))
        return status, {"error": why}

    def to(self, number: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.accepted if m["to"] == number]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
