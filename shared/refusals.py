"""The one shape of a refusal that names what is wrong: the rules (domain or service layer)
raise a subclass, and the routes turn its ``field`` into the 422's field (or, without one,
into the problem the route chooses)."""

from __future__ import annotations


class FieldRefusal(ValueError):
    """A request the rules refuse; ``field`` names the part at fault (None: the whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
