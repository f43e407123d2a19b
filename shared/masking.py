"""The one masking of personal data in free text, applied to every free-text field before it
enters an event (the event models' ``FreeText`` type) or a log line: phone numbers in the
usual Vietnamese forms, citizen ID numbers and e-mail addresses. Masking is idempotent, so
a consumer validating an event again changes nothing."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# Mobile and landline numbers: 0…, +84…, 0084…, or 84… written as one run of digits, with
# spaces, dots, dashes or brackets between the groups. Never starting right after a digit,
# a dot or a comma, so that an amount such as 1.000.000.000 đồng is not taken for one.
_PHONE = re.compile(r"(?<![\d.,+])(?:(?:\+|00)\s?84|0)(?:[\s.\-()]{0,2}\d){9,10}(?!\d)"
                    r"|(?<![\d.,+])84\d{9,10}(?!\d)")
# Citizen ID (CCCD, 12 digits) or old CMND (9 digits), also in groups of three or four
# separated by spaces or dashes (dots would be amounts).
_ID_NUMBER = re.compile(r"(?<![\d.,])(?:\d{12}|\d{9}|\d{3}(?:[ \-]\d{3}){2,3}|\d{4}(?:[ \-]\d{4}){2})"
                        r"(?![\d.,]\d|\d)")
_EMAIL = re.compile(r"(?<![\w.%+-])([\w%+-])[\w.%+-]*@([\w-]+(?:\.[\w-]+)+)")


def _keep_last_three(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "*" * (len(digits) - 3) + digits[-3:]


def mask_personal_data(text: str) -> str:
    """Phone and ID numbers kept to their last 3 digits; e-mail addresses to their first
    character and domain (``n***@example.vn``)."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _ID_NUMBER.sub(_keep_last_three, _PHONE.sub(_keep_last_three, text))


FreeText = Annotated[str, AfterValidator(mask_personal_data)]
