"""The span of dates and times the services take from clients.

A date-time such as ``0001-01-01T00:00:00+14:00`` or ``9999-12-31T23:59:59-14:00`` is valid
ISO 8601 but has no UTC equivalent in Python (``astimezone`` overflows), and the working-day
calendar only knows the lunar holidays up to 2100; a time outside the span would otherwise
fail deep inside a handler (a 500) or give a due date without Tết. Times and days a client
gives are therefore refused with a 422 naming the field unless they fall in
[``EARLIEST``, ``LATEST``): from 2000 (before electronic one-stop-shop records) to the end
of 2099.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, PlainSerializer, WithJsonSchema

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
OUT_OF_RANGE = f"must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}"


def in_range(value: datetime) -> datetime:
    """``value`` if it falls in the span (a naive one is read as UTC); ValueError if not."""
    try:
        utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(OUT_OF_RANGE)
    return value


def day_in_range(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(OUT_OF_RANGE)
    return value


# Pydantic types for bodies and query parameters: out of the span is a validation error.
Moment = Annotated[datetime, AfterValidator(in_range)]
AwareMoment = Annotated[AwareDatetime, AfterValidator(in_range)]
Day = Annotated[date, AfterValidator(day_in_range)]


# Every time the services answer or publish is written in the units' legal zone, +07:00
# (ISO 8601 with offset): one convention in REST, server-sent events and event payloads.
# CloudEvents' own ``ce_time`` attribute stays in UTC, as that specification says.
LEGAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def in_legal_zone(value: datetime) -> str:
    return value.astimezone(LEGAL_ZONE).isoformat()


_IN_LEGAL_ZONE = PlainSerializer(in_legal_zone, when_used="json")
_DATE_TIME = WithJsonSchema({"type": "string", "format": "date-time",
                             "examples": ["2026-12-01T09:30:00+07:00"]}, mode="serialization")
LocalTime = Annotated[datetime, _IN_LEGAL_ZONE, _DATE_TIME]
LocalAwareTime = Annotated[AwareDatetime, _IN_LEGAL_ZONE, _DATE_TIME]
