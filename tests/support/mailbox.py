"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the notification tests: it keeps every
message it accepts, parsed, and counts them per Message-ID; ``down()`` closes its port (a
connection is refused, as with a server that is off) and ``up()`` opens it again on the
same port."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Mailbox:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self.up()

    # aiosmtpd's handler hook
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
            self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"

    def up(self) -> None:
        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self) -> None:
        self.down()

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def by_id(self) -> Counter[str]:
        with self._lock:
            return Counter(str(m["Message-ID"]) for m in self.messages)

    @staticmethod
    def text(message: EmailMessage) -> str:
        body: Any = message.get_body(("plain",))
        return str(body.get_content()) if body is not None else ""
