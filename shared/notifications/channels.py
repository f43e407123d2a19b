"""The channels a notification goes out by (a port and its adapters): e-mail over SMTP, an
SMS gateway over HTTP, and Zalo OA's ZNS over HTTP (docs/rules/notifications.md).

Each ``send`` returns when the far side accepted the message and raises ``SendFailed``
otherwise, saying whether trying again can help (``permanent``). Each passes the
notification id on (the e-mail's ``Message-ID``, the SMS ``client_ref``, the ZNS
``tracking_id``), the same on every try, so that the far side can recognise a resend. A
reason never carries the address: it is shown to the desk and may be logged."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Protocol

import aiosmtplib
import httpx

from shared.masking import mask_personal_data
from shared.notifications.contact import BadPhone, international_phone
from shared.notifications.messages import Message


class SendFailed(Exception):
    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Channel(Protocol):
    async def send(self, address: str, message: Message, notification_id: str) -> None:
        """:raises SendFailed:"""


def _clean(text: str, limit: int = 200) -> str:
    """A far side's words, fit for the history and the logs: personal data masked, short."""
    return mask_personal_data(" ".join(text.split()))[:limit]


# ------------------------------------------------------------------ e-mail
class SmtpChannel:
    """E-mail through an SMTP relay. ``starttls``: "auto" upgrades when the server offers it,
    "required" refuses to send without it, "off" never does; ``tls``: implicit TLS (port
    465). The ``Message-ID`` is ``<notification id@sender's domain>`` on every try."""

    def __init__(self, host: str, port: int, sender: str, *, starttls: str = "auto",
                 tls: bool = False, username: str | None = None, password: str | None = None,
                 timeout_s: float = 10.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls = {"auto": None, "required": True, "off": False}[starttls]
        self.tls, self.timeout_s = tls, timeout_s
        self.username, self.password = username or None, password or None
        self.domain = parseaddr(sender)[1].rpartition("@")[2] or "motcua.invalid"

    def message_id(self, notification_id: str) -> str:
        return f"<{notification_id}@{self.domain}>"

    def build(self, address: str, message: Message, notification_id: str) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Message-ID"] = self.message_id(notification_id)
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.text + "\n\n-- \nBộ phận Một cửa. Thư này được gửi tự động, "
                                        "xin đừng trả lời.\n", charset="utf-8")
        return mail

    async def send(self, address: str, message: Message, notification_id: str) -> None:
        mail = self.build(address, message, notification_id)
        try:
            await aiosmtplib.send(mail, hostname=self.host, port=self.port,
                                  start_tls=None if self.tls else self.starttls,
                                  use_tls=self.tls, username=self.username,
                                  password=self.password, timeout=self.timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise SendFailed(f"SMTP recipient refused ({', '.join(map(str, codes))})",
                             permanent=all(500 <= c < 600 for c in codes)) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # The relay's credentials: a setting to fix, not this message's fault.
            raise SendFailed(f"SMTP authentication refused ({exc.code})") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(f"SMTP {exc.code} {_clean(exc.message, 120)}",
                             permanent=500 <= exc.code < 600) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendFailed(f"SMTP server unreachable ({type(exc).__name__})") from exc


# ------------------------------------------------------------------ HTTP channels
# Statuses after which the same request can succeed later: the gateway's credentials (a
# setting to fix), a timeout, a rate limit, the far side's own trouble.
_TRY_AGAIN = frozenset({401, 403, 408, 425, 429})


def _http_failure(answer: httpx.Response, what: str) -> SendFailed:
    status = answer.status_code
    return SendFailed(f"{what} HTTP {status}",
                      permanent=400 <= status < 500 and status not in _TRY_AGAIN)


def _phone(address: str) -> str:
    try:
        return international_phone(address)
    except BadPhone as exc:
        raise SendFailed("not a Vietnamese phone number", permanent=True) from exc


async def _post(http: httpx.AsyncClient, url: str, body: dict[str, Any],
                headers: dict[str, str], what: str) -> httpx.Response:
    try:
        return await http.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise SendFailed(f"{what} unreachable ({type(exc).__name__})") from exc


class SmsGatewayChannel:
    """A generic SMS gateway (docs/rules/notifications.md, "SMS gateway"): ``POST <url>``
    with ``Authorization: Bearer <key>`` and ``{"to": "84912345678", "text": ...,
    "client_ref": <notification id>}`` (and ``"sender"``, the brand name, when set); a 2xx
    accepts it, and so does a 409 (that ``client_ref`` was accepted before)."""

    def __init__(self, http: httpx.AsyncClient, url: str, api_key: str,
                 sender: str | None = None) -> None:
        self.http, self.url, self.api_key, self.sender = http, url, api_key, sender or None

    async def send(self, address: str, message: Message, notification_id: str) -> None:
        body: dict[str, Any] = {"to": _phone(address), "text": message.text,
                                "client_ref": notification_id}
        if self.sender:
            body["sender"] = self.sender
        answer = await _post(self.http, self.url, body,
                             {"Authorization": f"Bearer {self.api_key}"}, "SMS gateway")
        if answer.is_success or answer.status_code == 409:
            return
        raise _http_failure(answer, "SMS gateway")


# Zalo ZNS error codes after which the same message will never be accepted: a phone number
# that is invalid, has no Zalo account or cannot receive ZNS; a template that is invalid,
# unapproved or whose data does not fit it.
ZNS_PERMANENT = frozenset({-108, -109, -111, -112, -117, -118, -119, -131, -133})


class ZaloZnsChannel:
    """Zalo Official Account's ZNS (Zalo Notification Service) template message: ``POST
    <url>`` with the ``access_token`` header and ``{"phone": "84912345678", "template_id",
    "template_data": {"ma_ho_so", "tieu_de", "noi_dung"}, "tracking_id": <notification
    id>}``; Zalo answers HTTP 200 with ``{"error": 0, ...}`` on success, a negative error
    code otherwise."""

    def __init__(self, http: httpx.AsyncClient, url: str, access_token: str,
                 template_id: str) -> None:
        self.http, self.url, self.token, self.template_id = http, url, access_token, template_id

    @staticmethod
    def template_data(message: Message) -> dict[str, str]:
        return {"ma_ho_so": message.reference or "", "tieu_de": message.subject,
                "noi_dung": message.text}

    async def send(self, address: str, message: Message, notification_id: str) -> None:
        body = {"phone": _phone(address), "template_id": self.template_id,
                "template_data": self.template_data(message), "tracking_id": notification_id}
        answer = await _post(self.http, self.url, body, {"access_token": self.token}, "Zalo")
        if not answer.is_success:
            raise _http_failure(answer, "Zalo")
        try:
            found = answer.json()
            error = int(found.get("error", -1))
        except (ValueError, AttributeError) as exc:
            raise SendFailed("Zalo answered something else than JSON") from exc
        if error != 0:
            raise SendFailed(f"Zalo error {error}: {_clean(str(found.get('message', '')), 120)}",
                             permanent=error in ZNS_PERMANENT)
