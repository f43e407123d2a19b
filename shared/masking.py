"""The one masking of personal data in free text, applied to every free-text field before it
enters an event (the event models' ``FreeText`` type) or a log line: phone numbers in the
usual Vietnamese forms, citizen ID numbers and e-mail addresses. Masking is idempotent, so
a consumer validating an event again changes nothing."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# Mobile and landline numbers: 0…, 84… or +84…, with spaces, dots, dashes or brackets.
_PHONE = re.compile(r"(?<![\d+])(?:\+\s?84|84|0)(?:[\s.\-()]{0,2}\d){8,10}(?!\d)")
# Citizen ID (CCCD, 12 digits) or old CMND (9 digits), possibly in groups of three or four.
_ID_NUMBER = re.compile(r"(?<!\d)(?:\d{12}|\d{9}|\d{3}(?:[\s.\-]\d{3}){3}|\d{4}(?:[\s.\-]\d{4}){2})"
                        r"(?!\d)")
_EMAIL = re.compile(r"(?<![\w.%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


def _keep_last_three(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "*" * (len(digits) - 3) + digits[-3:]


def mask_personal_data(text: str) -> str:
    """Phone and ID numbers kept to their last 3 digits; e-mail addresses to their first
    character and domain (``n***@example.vn``)."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(_keep_last_three, _ID_NUMBER.sub(_keep_last_three, text))


FreeText = Annotated[str, AfterValidator(mask_personal_data)]
