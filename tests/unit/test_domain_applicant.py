"""The applicant as filed and its masked form (services/intake/domain/applicant.py): what may
leave intake in an event is only the masked form."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.domain.applicant import Applicant, mask_digits, mask_name


def test_a_citizen_is_masked_to_family_name_initials_and_last_digits() -> None:
    a = Applicant(full_name="  Nguyễn Văn An ", id_number="031203004567", phone="0912 345 678",
                  email="an@example.vn", address="12 Lạch Tray")
    m = a.masked()
    assert (m.kind, m.name, m.id_number, m.phone) == (
        "citizen", "Nguyễn V. A.", "*********567", "*******678")
    assert a.full_name == "Nguyễn Văn An" and a.phone == "0912345678"
    dumped = m.model_dump_json()
    assert "Văn" not in dumped and "0912" not in dumped and "an@example" not in dumped


def test_an_organization_keeps_its_name_and_masks_its_tax_code() -> None:
    m = Applicant(kind="organization", full_name="Công ty TNHH Hải Âu",
                  id_number="0201234567-001").masked()
    assert m.name == "Công ty TNHH Hải Âu" and m.id_number == "**********001"
    assert m.phone is None


@pytest.mark.parametrize(("kind", "id_number", "ok"), [
    ("citizen", "031203004567", True), ("citizen", "123456789", True),
    ("citizen", "12345678901", False), ("citizen", "03120300456A", False),
    ("organization", "0201234567", True), ("organization", "0201234567-001", True),
    ("organization", "031203004567", False), ("organization", "0201234567-01", False),
])
def test_the_id_number_fits_the_kind(kind: str, id_number: str, ok: bool) -> None:
    body = {"kind": kind, "full_name": "Trần Thị Bình", "id_number": id_number}
    if ok:
        assert Applicant.model_validate(body).id_number == id_number
    else:
        with pytest.raises(ValidationError, match="id_number"):
            Applicant.model_validate(body)


def test_unknown_fields_and_bad_mail_are_refused() -> None:
    with pytest.raises(ValidationError):
        Applicant.model_validate({"full_name": "Lê Văn C", "id_number": "123456789",
                                  "nickname": "C"})
    with pytest.raises(ValidationError):
        Applicant(full_name="Lê Văn C", id_number="123456789", email="not-mail")


def test_masks() -> None:
    assert mask_name("An") == "A."
    assert mask_name("Nguyễn Thị Minh Khai") == "Nguyễn T. M. K."
    assert mask_digits("0912-345-678") == "*******678"
    assert mask_digits("12", keep=3) == "12"
    assert mask_digits("031203004567", keep=4) == "********4567"
