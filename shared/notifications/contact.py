"""Who is told, and how: the applicant's contact and preference, the channel chosen from
them, phone numbers in the 84… form the gateways want, and addresses masked for display.
Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Preference = Literal["auto", "email", "sms", "zalo", "none"]
ChannelName = Literal["email", "sms", "zalo"]
PREFERENCES: tuple[Preference, ...] = ("auto", "email", "sms", "zalo", "none")
# What an applicant who never chose wants: no stored preference reads as this.
DEFAULT_PREFERENCE: Preference = "auto"
CHANNELS: tuple[ChannelName, ...] = ("email", "sms", "zalo")


@dataclass(frozen=True)
class Contact:
    email: str | None = None
    phone: str | None = None
    preference: Preference = DEFAULT_PREFERENCE


def choose_channel(contact: Contact) -> tuple[ChannelName, str] | None:
    """The channel and address to use; None when the applicant opted out ("none") or left
    no contact. "auto" is e-mail if given, else SMS to the phone; "zalo" goes to the phone
    (Zalo ZNS messages are addressed by phone number); an explicit channel without its
    contact falls back to "auto"."""
    email, phone = contact.email or None, contact.phone or None
    match contact.preference:
        case "none":
            return None
        case "email" if email:
            return "email", email
        case "sms" if phone:
            return "sms", phone
        case "zalo" if phone:
            return "zalo", phone
    if email:
        return "email", email
    if phone:
        return "sms", phone
    return None


def why_not_sent(contact: Contact) -> str:
    """The history's reason for a notification skipped at once."""
    return "opted out" if contact.preference == "none" else "no contact"


class BadPhone(ValueError):
    pass


_MOBILE = re.compile(r"(?:\+?84|0084|0)?([1-9]\d{8,9})")


def international_phone(phone: str) -> str:
    """A Vietnamese number in the form the SMS gateway and Zalo want: 84 and the subscriber
    number without its leading 0 (0912 345 678, +84 912 345 678, 84912345678 →
    84912345678).

    :raises BadPhone: not a Vietnamese number of 9 or 10 digits after the 0."""
    digits = re.sub(r"[\s.\-()]", "", phone)
    m = _MOBILE.fullmatch(digits)
    if m is None:
        raise BadPhone("not a Vietnamese phone number")
    return "84" + m.group(1)


def mask_address(address: str | None) -> str | None:
    """An address as the desk's history shows it: an e-mail to its first character and
    domain (``n***@example.vn``), a phone to its first and last two digits
    (``09******78``)."""
    if not address:
        return None
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    digits = re.sub(r"\D", "", address)
    if len(digits) <= 4:
        return "*" * len(digits)
    return digits[:2] + "*" * (len(digits) - 4) + digits[-2:]
