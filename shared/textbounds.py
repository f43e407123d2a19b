"""The text the services take from clients: names, free text, document links and phone
numbers, refused with a 422 naming the field unless they are what they claim to be.

* Invisible and direction-changing characters (Unicode format characters such as zero-width
  spaces and joiners, bidi embeddings, overrides and isolates, and control characters other
  than tab and new line in free text) are refused: a name rendered on a receipt or a
  dashboard must read as it is stored.
* Names and free text are NFC-normalised, so that "Nguyễn" typed with combining marks and
  "Nguyễn" typed precomposed are one name.
* Links are absolute http or https URLs (no ``javascript:``, ``data:`` or ``file:``).
* Phone numbers take the usual Vietnamese forms (``0912 345 678``, ``+84 912 345 678``,
  ``84912345678``, with spaces, dots or dashes) and are stored in one form, ``0912345678``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

# Format characters that free text may keep: the zero-width joiner and non-joiner (emoji
# sequences, some scripts) and the soft hyphen. Names keep none.
_TEXT_FORMAT_ALLOWED = frozenset("\u200d\u200c\u00ad")


def _refuse_invisible(value: str, *, newlines: bool) -> None:
    for ch in value:
        if newlines and (ch in "\t\n\r" or ch in _TEXT_FORMAT_ALLOWED):
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs", "Co"):
            raise ValueError(f"must not contain invisible or direction-changing characters "
                             f"(U+{ord(ch):04X})")


def clean_name(value: str) -> str:
    """A person's or a document's name: NFC, no invisible characters, some letter in it."""
    value = unicodedata.normalize("NFC", value).strip()
    _refuse_invisible(value, newlines=False)
    if not any(ch.isalpha() for ch in value):
        raise ValueError("must contain letters")
    return value


def clean_text(value: str) -> str:
    """Free text (a reason, a note, an address): NFC, no invisible characters."""
    value = unicodedata.normalize("NFC", value)
    _refuse_invisible(value, newlines=True)
    return value


def web_url(value: str) -> str:
    """An absolute http(s) URL with a host."""
    _refuse_invisible(value, newlines=False)
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain spaces")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


_PHONE_FORMS = re.compile(r"(?:(?:\+|00)?840?|0)([1-9]\d{8,9})")


def vietnamese_phone(value: str) -> str:
    """``0912 345 678``, ``+84 912 345 678``, ``+84 (0) 912 345 678``, ``0084…`` or
    ``84912345678`` -> ``0912345678``."""
    compact = re.sub(r"[\s.\-()]", "", value)
    m = _PHONE_FORMS.fullmatch(compact)
    if m is None:
        raise ValueError("must be a Vietnamese phone number, e.g. 0912 345 678 or "
                         "+84 912 345 678")
    return "0" + m.group(1)


@functools.lru_cache(maxsize=8192)  # the catalog's names are a fixed set: folded once each
def search_key(text: str) -> str:
    """Text as a Vietnamese user may type it when searching: no tone or vowel marks, đ as d,
    lower case, single spaces (``"Lý  lịch"`` and ``"ly lich"`` are one key)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


PersonName = Annotated[str, AfterValidator(clean_name)]
PlainText = Annotated[str, AfterValidator(clean_text)]
WebUrl = Annotated[str, AfterValidator(web_url)]
Phone = Annotated[str, AfterValidator(vietnamese_phone)]
