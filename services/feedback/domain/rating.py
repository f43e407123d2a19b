"""Pure rules of rating a dossier: who may rate it and when, and how PIN guessing is held
back."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from shared.events import CriteriaScores

# Processing's own verdicts only. A result handed to the courier (postal's
# dossier.result_returned, on another topic) always follows a resolution, and taking it as
# the finish could let a rating in before processing's earlier transfer is applied here,
# which would credit the rating to the unit the dossier left.
FINISHING_EVENTS: dict[str, str] = {
    "dossier.resolved": "resolved",
    "dossier.rejected": "rejected",
    "dossier.stopped": "stopped",
}


class Refusal(Enum):
    """Why a rating with the right PIN cannot be accepted now."""

    ALREADY_RATED = "this dossier has already been rated; one rating per dossier"
    NOT_FINISHED = ("the dossier is not finished yet (or not yet known here): ratings open "
                    "once it is resolved, rejected, stopped or returned")


def refusal(finished: str | None, already_rated: bool) -> Refusal | None:
    """Why a rating cannot be accepted now; None when it can. A dossier this service has not
    heard of yet (``finished`` None) is not finished either."""
    if already_rated:
        return Refusal.ALREADY_RATED
    if finished is None:
        return Refusal.NOT_FINISHED
    return None


class RatingRefused(Exception):
    """A rating with the right PIN that cannot be accepted now."""

    def __init__(self, why: Refusal) -> None:
        super().__init__(why.value)
        self.why = why


class WrongPin(Exception):
    """The dossier code and PIN match no receipt (also when the dossier is unknown)."""


class TooManyGuesses(Exception):
    """Too many wrong PINs for this dossier or from this source; try after ``retry_after_s``."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass
class RatedDossier:
    """What feedback knows of a dossier: its unit now, and how it finished. Events arrive in
    any order across topics: the first finishing event is kept, a transfer moves the unit, and
    a finish may be heard of before the filing."""

    code: str
    unit_code: str = ""
    finished: str | None = None
    finished_at: datetime | None = None
    rated: bool = False

    def receive(self, unit_code: str) -> bool:
        """Filed at ``unit_code``; a unit already known (from a transfer) is kept."""
        if self.unit_code:
            return False
        self.unit_code = unit_code
        return True

    def transfer(self, to_unit: str) -> bool:
        if self.unit_code == to_unit:
            return False
        self.unit_code = to_unit
        return True

    def finish(self, event_type: str, at: datetime) -> bool:
        """A finishing event (``FINISHING_EVENTS``): the first one wins."""
        if event_type not in FINISHING_EVENTS or self.finished is not None:
            return False
        self.finished, self.finished_at = FINISHING_EVENTS[event_type], at
        return True

    def check_rateable(self) -> None:
        """:raises RatingRefused: when a rating cannot be accepted now. A finish heard of
        before the filing (intake's topic behind processing's) leaves no unit to credit the
        rating to yet: not yet known here."""
        why = refusal(self.finished if self.unit_code else None, self.rated)
        if why is not None:
            raise RatingRefused(why)


@dataclass(frozen=True)
class GuessingPolicy:
    """Wrong PINs allowed in a sliding window, per dossier (so that one receipt cannot be
    guessed) and per source address (so that one stranger cannot lock many citizens out)."""

    per_dossier: int
    per_source: int
    window: timedelta


def source_key(address: str) -> str:
    """Whom the per-source limit counts: an IPv4 address, or an IPv6 address's /64 (one
    subscriber's network holds a whole /64, so single addresses would be free to rotate)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def retry_after(dossier_failures: Sequence[datetime], source_failures: Sequence[datetime],
                now: datetime, policy: GuessingPolicy) -> int | None:
    """Seconds until another attempt may be made, or None if one may be made now. Each list
    holds the times of the recent wrong PINs, oldest first."""
    waits = []
    for failures, limit in ((dossier_failures, policy.per_dossier),
                            (source_failures, policy.per_source)):
        recent = [t for t in failures if t > now - policy.window]
        if len(recent) >= limit:
            # The attempt that frees a place is the (len - limit + 1)-th oldest expiring.
            frees = recent[len(recent) - limit]
            waits.append(max(1, int((frees + policy.window - now).total_seconds()) + 1))
    return max(waits) if waits else None


def decree61_total(criteria: CriteriaScores | None) -> int | None:
    """The nine Decree 61 indicators, 0–2 points each: total 0–18."""
    if criteria is None or criteria.decree61 is None:
        return None
    return sum(criteria.decree61)
