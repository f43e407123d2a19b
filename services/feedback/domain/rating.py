"""Pure rules of rating a dossier (SPEC §4 Feedback)."""

from __future__ import annotations

from shared.events import CriteriaScores

FINISHING_EVENTS: dict[str, str] = {
    "dossier.resolved": "resolved",
    "dossier.rejected": "rejected",
    "dossier.stopped": "stopped",
    "dossier.result_returned": "returned",
}


def refusal(finished: str | None, already_rated: bool) -> tuple[int, str] | None:
    """Why a rating cannot be accepted now, as (status, reason); None when it can."""
    if already_rated:
        return 409, "this dossier has already been rated; one rating per dossier"
    if finished is None:
        return 409, ("the dossier is not finished yet: ratings open once it is resolved, "
                     "rejected, stopped or returned")
    return None


def decree61_total(criteria: CriteriaScores | None) -> int | None:
    """The nine Decree 61 indicators, 0–2 points each: total 0–18."""
    if criteria is None or criteria.decree61 is None:
        return None
    return sum(criteria.decree61)
