"""Structured JSON logs on stdout, with applicant personal data masked on the way out."""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

# Vietnamese citizen ID (CCCD, 12 digits) or old CMND (9 digits); mobile/landline numbers.
_ID_NUMBER = re.compile(r"(?<!\d)(\d{9}|\d{12})(?!\d)")
_PHONE = re.compile(r"(?<![\d])(?:\+?84|0)(?:[\s.\-]?\d){9,10}(?!\d)")


def mask_personal_data(text: str) -> str:
    """Replace phone and ID numbers by a masked form keeping the last 3 digits."""

    def _mask(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return "*" * (len(digits) - 3) + digits[-3:]

    return _ID_NUMBER.sub(_mask, _PHONE.sub(_mask, text))


_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": mask_personal_data(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = mask_personal_data(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = mask_personal_data(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # uvicorn's access log would carry query strings; we log requests ourselves, masked.
    logging.getLogger("uvicorn.access").disabled = True
