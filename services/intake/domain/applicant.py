"""The applicant as filed (personal data, kept in intake only) and its masked form."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import MaskedApplicant
from shared.textbounds import PersonName, Phone, PlainText


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: Literal["citizen", "organization"] = "citizen"
    full_name: PersonName = Field(min_length=2, max_length=200)
    id_number: str = Field(
        description="citizen: 12-digit CCCD (or 9-digit old CMND); organization: tax code "
                    "of 10 digits or 10-3 digits",
    )
    phone: Phone | None = Field(default=None, max_length=32, description="any usual "
                                "Vietnamese form; stored as 0912345678")
    email: str | None = Field(default=None, max_length=200,
                              pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: PlainText | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _id_number_fits_kind(self) -> Applicant:
        if self.kind == "citizen" and not re.fullmatch(r"\d{12}|\d{9}", self.id_number):
            raise ValueError("id_number of a citizen must be 12 digits (CCCD) or 9 (CMND)")
        if self.kind == "organization" and not re.fullmatch(r"\d{10}(-\d{3})?", self.id_number):
            raise ValueError("id_number of an organization must be a tax code (10 or 10-3 digits)")
        return self

    def masked(self) -> MaskedApplicant:
        return MaskedApplicant(
            kind=self.kind,
            name=mask_name(self.full_name) if self.kind == "citizen" else self.full_name,
            id_number=mask_digits(self.id_number, keep=3),
            phone=mask_digits(self.phone, keep=3) if self.phone else None,
        )


def mask_digits(value: str, keep: int = 3) -> str:
    digits = re.sub(r"\D", "", value)
    return "*" * max(0, len(digits) - keep) + digits[-keep:]


def mask_name(full_name: str) -> str:
    """'Nguyễn Văn An' -> 'Nguyễn V. A.': the family name and initials."""
    parts = full_name.split()
    if len(parts) == 1:
        return parts[0][0] + "."
    return " ".join([parts[0]] + [p[0] + "." for p in parts[1:]])
