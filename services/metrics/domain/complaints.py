"""What the national index counts of complaints (indicators 5.1–5.3; docs/rules/complaints.md),
as pure functions: a complaint's facts folded from its events, its verdict at a moment, and
the counts for a set of units and a period.

* The deadlines come with the events (the feedback service computes them on the unit's
  calendar), so nothing here needs a calendar.
* The population, as for dossiers: every complaint received in the period, and every one
  received earlier and not yet closed (refused, or its answer published) when it began.
* A complaint is handled on time when every step it took came by its deadline: a refusal
  within its days, a request for information within its days, the answer by its deadline
  (moved by the pause), the answer published by its own. One still open counts as on time
  while nothing it waits for is past due, and while the citizen holds the clock.
* 5.2 = on time / population (empty: full points, by policy).
* 5.3 = satisfied / population: on time, and by ``as_of`` neither disliked nor repeated.
* 5.1 is information only: complaints about a procedure's rules / all complaints, with the
  count per category beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.metrics.domain.figures import Period
from services.metrics.domain.index766 import Counts

CATEGORIES = ("procedure", "conduct", "other")
GOOD = frozenset({"on_time", "open_not_due"})


@dataclass(frozen=True)
class ComplaintFacts:
    complaint_code: str
    unit_code: str | None = None
    category: str | None = None
    dossier_code: str | None = None
    received_at: datetime | None = None
    refuse_by: datetime | None = None
    request_info_by: datetime | None = None
    answer_by_first: datetime | None = None
    answer_by: datetime | None = None
    info_requested_at: datetime | None = None
    info_received_at: datetime | None = None
    answered_at: datetime | None = None
    publish_by: datetime | None = None
    published_at: datetime | None = None
    refused_at: datetime | None = None
    reaction: str | None = None
    reacted_at: datetime | None = None
    repeated_at: datetime | None = None

    @property
    def closed_at(self) -> datetime | None:
        return self.refused_at or self.published_at


def _t(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def fold_complaint(code: str, events: Iterable[tuple[str, datetime, Mapping[str, Any]]],
                   ) -> ComplaintFacts:
    """The facts of one complaint from its events ``(type, occurred_at, data)``, in any order."""
    f = ComplaintFacts(code)
    for kind, _at, d in sorted(events, key=lambda e: (e[1], e[0] != "complaint.submitted")):
        if kind == "complaint.submitted":
            f = replace(f, unit_code=d["unit_code"], category=d["category"],
                        dossier_code=d.get("dossier_code"), received_at=_t(d["received_at"]),
                        refuse_by=_t(d["refuse_by"]), request_info_by=_t(d["request_info_by"]),
                        answer_by_first=_t(d["answer_by"]),
                        answer_by=f.answer_by or _t(d["answer_by"]))
        elif kind == "complaint.classified":
            f = replace(f, unit_code=d["unit_code"], category=d["category"])
        elif kind == "complaint.refused":
            f = replace(f, refused_at=_t(d["at"]))
        elif kind == "complaint.info_requested":
            f = replace(f, info_requested_at=_t(d["at"]))
        elif kind == "complaint.info_received":
            f = replace(f, info_received_at=_t(d["at"]), answer_by=_t(d["answer_by"]))
        elif kind == "complaint.answered":
            f = replace(f, answered_at=_t(d["at"]), answer_by=_t(d["answer_by"]),
                        publish_by=_t(d["publish_by"]))
        elif kind == "complaint.published":
            f = replace(f, published_at=_t(d["at"]))
        elif kind == "complaint.reacted" and f.reaction is None:
            f = replace(f, reaction=d["reaction"], reacted_at=_t(d["at"]))
        elif kind == "complaint.repeated" and f.repeated_at is None:
            f = replace(f, repeated_at=_t(d["at"]))
    return f


def _by(t: datetime | None, as_of: datetime) -> bool:
    return t is not None and t <= as_of


def verdict(f: ComplaintFacts, as_of: datetime) -> str:
    """on_time or late once closed by ``as_of``; open_not_due or overdue_open before."""
    assert f.received_at is not None and f.answer_by_first is not None
    if _by(f.info_requested_at, as_of) and f.request_info_by is not None \
            and f.info_requested_at is not None and f.info_requested_at > f.request_info_by:
        return "late"
    if _by(f.refused_at, as_of):
        assert f.refused_at is not None and f.refuse_by is not None
        return "on_time" if f.refused_at <= f.refuse_by else "late"
    answer_by = f.answer_by if _by(f.info_received_at, as_of) else f.answer_by_first
    assert answer_by is not None
    if _by(f.answered_at, as_of):
        assert f.answered_at is not None and f.publish_by is not None
        if f.answered_at > answer_by:
            return "late"
        if _by(f.published_at, as_of):
            assert f.published_at is not None
            return "on_time" if f.published_at <= f.publish_by else "late"
        return "overdue_open" if as_of > f.publish_by else "open_not_due"
    if _by(f.info_requested_at, as_of) and not _by(f.info_received_at, as_of):
        return "open_not_due"  # the citizen holds the clock
    return "overdue_open" if as_of > answer_by else "open_not_due"


def in_population(f: ComplaintFacts, p: Period) -> bool:
    if f.received_at is None or f.received_at >= p.end or f.received_at > p.as_of:
        return False
    return f.received_at >= p.start or f.closed_at is None or f.closed_at >= p.start


def satisfied(f: ComplaintFacts, as_of: datetime) -> bool:
    return (verdict(f, as_of) in GOOD and not _by(f.repeated_at, as_of)
            and not (f.reaction == "disliked" and _by(f.reacted_at, as_of)))


@dataclass(frozen=True)
class ComplaintCounts:
    """5.1–5.3 for some units and a period, and the count per category (5.1's detail)."""

    by_category: dict[str, int]
    counts: dict[str, Counts]


def complaint_counts(complaints: Iterable[ComplaintFacts], p: Period,
                     units: Iterable[str] | None) -> ComplaintCounts:
    wanted = None if units is None else set(units)
    population = [f for f in complaints if in_population(f, p)
                  and (wanted is None or f.unit_code in wanted)]
    on_time = sum(1 for f in population if verdict(f, p.as_of) in GOOD)
    happy = sum(1 for f in population if satisfied(f, p.as_of))
    by_category = {c: sum(1 for f in population if f.category == c) for c in CATEGORIES}
    n = len(population)
    return ComplaintCounts(by_category, {"5.1": Counts(by_category["procedure"], n),
                                         "5.2": Counts(on_time, n), "5.3": Counts(happy, n)})


def complained_dossiers(complaints: Iterable[ComplaintFacts], as_of: datetime) -> frozenset[str]:
    """The dossiers a complaint was made about by ``as_of`` (they count against 5.4)."""
    return frozenset(f.dossier_code for f in complaints
                     if f.dossier_code is not None and _by(f.received_at, as_of))
