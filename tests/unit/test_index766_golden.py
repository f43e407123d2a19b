"""The golden scenario of the national index (Decision 766), computed by hand and written out
here: every indicator's counts from the dossiers' events (``fold`` → ``index_counts``), then
every score, group, the total and the grade (``score_index``); and the 2.1 points at risk
(``points_at_risk``) a week before the period closes.

Scenario 1. Unit H26.06, November 2026, judged at its end: ``as_of`` = 1/12 00:00 +07 (computed
on 10/12). Procedures take N = 3 working days (``received`` of the figures' golden file); the
cut-off is 15:00, so every dossier here counts from its receipt; Tue 24/11 is a day off.

Procedures (the catalog's terms, built here):

| code | fee    | online  | units  | note                                           |
|------|--------|---------|--------|------------------------------------------------|
| PA   | 50 000 | whole   | H26.06 | fee, offered online through the whole process  |
| PB   | 0      | partial | H26.06 | no fee, offered online in part                 |
| PC   | 20 000 | none    | H26.06 | fee, not online                                |
| PD   | 10 000 | whole   | H26.06 | fee, no dossier this month                     |
| PE   | 0      | none    | H26.06 | no fee, not online                             |
| PX   | 30 000 | whole   | H26.07 | another unit's: not counted for H26.06         |

Timeliness ("figures" is the figures' ``judge``; "2.1" the index's ``verdict_766``; ✓ counts
in 2.1's numerator: early, on time or open and not yet due):

| code | received        | due             | what happened                      | figures | 2.1       |
|------|-----------------|-----------------|------------------------------------|---------|-----------|
| A01  | Mon 2/11 09:00  | Thu 5/11 17:00  | resolved Wed 4/11 10:00            | early   | early ✓   |
| A02  | Mon 2/11 09:00  | Thu 5/11 17:00  | 2 supplements (a), resolved 4/11   | early   | late      |
| A03  | Mon 9/11 09:00  | Thu 12/11 17:00 | supplement asked Wed 11/11 (b)     | not due | not due ✓ |
| A04  | Mon 9/11 09:00  | Thu 12/11 17:00 | supplement asked Fri 13/11 (b)     | overdue | overdue   |
| A05  | Mon 16/11 09:00 | Thu 19/11 17:00 | resolved Thu 19/11 16:00 (c)       | on time | on time ✓ |
| A06  | Mon 30/11 10:00 | Thu 3/12 17:00  | open                               | not due | not due ✓ |
| A07  | Wed 25/11 09:00 | Mon 30/11 17:00 | resolved Tue 1/12, after as_of     | overdue | overdue   |
| A08  | Fri 30/10 09:00 | Wed 4/11 17:00  | resolved Tue 3/11 10:00 (d)        | early   | early ✓   |
| A09  | Mon 26/10 09:00 | Thu 29/10 17:00 | resolved Wed 28/10 10:00           | —       | not in it |
| A10  | Mon 2/11 09:00  | Thu 5/11 17:00  | resolved Fri 6/11 10:00            | late    | late      |
| A11  | Mon 30/11 09:00 | Thu 3/12 17:00  | open (resolved 3/12, after as_of)  | not due | not due ✓ |
| B01  | Mon 2/11 09:00  | Thu 5/11 17:00  | H26.07's, resolved Wed 4/11        | —       | not ours  |

(a) asked Tue 3/11 09:00, supplied 14:00; asked Wed 4/11 09:00, supplied 11:00: no pause, the
    due date stays; resolved Wed 4/11 16:00, before it, yet late: two supplement requests.
(b) still awaited at as_of: judged at the request, before the due date (A03: not due, a ✓) or
    after it (A04: overdue, late).
(c) the result returned Mon 23/11 09:00, after the due date: the resolution comes first.
(d) received in October, open when November began: in the population, not "received".

Population 10 (A01–A08, A10, A11; A09 ended in October); ✓ 6 → 2.1 = 6 / 10.
2.2: resolved in November A01 2, A02 2, A05 3, A08 2, A10 4 working days → 13 / 5 = 2.60.

What the events carry (received in November: 9, all but A08; "—" is nothing; the result is
(electronic result ref, result digitised, shared to the citizen's store); (e): after as_of):

| code | proc | filed           | population | documents t, d, r | paid              | result |
|------|------|-----------------|------------|-------------------|-------------------|--------|
| A01  | PA   | online, whole   | vneid      | 3, 3, 1           | national 2/11     | yes ×3 |
| A02  | PA   | online, whole   | lookup     | 2, 1, 0           | provincial 2/11   | yes ×3 |
| A03  | PB   | online, partial | —          | 2, 2, 1           | —                 | (open) |
| A04  | PB   | counter         | —          | —                 | —                 | (open) |
| A05  | PC   | counter         | vneid      | 1, 1, 2           | desk 16/11        | yes ×3 |
| A06  | PE   | counter         | —          | —                 | —                 | (open) |
| A07  | PA   | online, whole   | —          | —                 | national 25/11    | no (e) |
| A08  | PE   | counter         | vneid      | —                 | —                 | no     |
| A10  | PC   | counter         | —          | 2, 2, 0           | —                 | no     |
| A11  | PA   | online, whole   | vneid      | —                 | national 1/12 (e) | no (e) |

Documents t, d, r: total, digitised, reused.

Ratings: A01 very satisfied (6/11), A05 unsatisfied (20/11: a dislike of a dossier on time),
A10 unsatisfied (9/11, late anyway), A11 unsatisfied on 4/12 (after as_of: not yet a dislike).
A complaint was made about A08. Complaints (5.1–5.3): 2 complaints in 1 category, 1 of the 2
handled on time, no citizen has yet rated the handling (5.3 is 0 / 0).

The counts and scores (P, T from the decision's table; points = P × min(1, R / T), half-up;
the unrounded points in brackets):

| id  | n / d    | what                                                | ratio  | P  | T   | points        |
|-----|----------|-----------------------------------------------------|--------|----|-----|---------------|
| 1.1 | 10 / 10  | operator                                            | 100.00 | 6  | 100 | 6.00          |
| 1.2 | 3 / 4    | operator                                            | 75.00  | 4  | 100 | 3.00          |
| 1.3 | 5 / 6    | operator                                            | 83.33  | 2  | 100 | 1.67 (1.6667) |
| 1.4 | 8 / 9    | synced to the national portal by as_of (not A06)    | 88.89  | 6  | 100 | 5.33 (5.3333) |
| 2.1 | 6 / 10   | A01 A03 A05 A06 A08 A11 of the population           | 60.00  | 20 | 100 | 12.00         |
| 2.2 | 13 / 5   | information only: value 2.60 working days           | —      | 0  | 100 | 0.00          |
| 3.1 | 4 / 6    | whole A01 A02 A07 A11; PA/PB A01-A04 A07 A11        | 66.67  | 12 | 100 | 8.00          |
| 3.2 | 3 / 6    | online by as_of A01 A02 A07; PA/PC A01 A02 A05 A07 A10 A11 | 50.00 | 6 | 100 | 3.00   |
| 3.3 | 1 / 2    | fee procedures paid online PA; with dossiers PA PC  | 50.00  | 2  | 80  | 1.25          |
| 3.4 | 2 / 3    | fee procedures with dossiers PA PC; the unit's PA PC PD | 66.67 | 2 | 80 | 1.67 (1.6667) |
| 4.1 | 3 / 5    | e-result A01 A02 A05; resolved A01 A02 A05 A08 A10  | 60.00  | 6  | 100 | 3.60          |
| 4.2 | 2 / 9    | all documents and the result digitised: A01 A05     | 22.22  | 4  | 100 | 0.89 (0.8889) |
| 4.3 | 3 / 9    | a document reused: A01 A03 A05                      | 33.33  | 2  | 80  | 0.83 (0.8333) |
| 4.4 | 3 / 9    | shared to the citizen's store: A01 A02 A05          | 33.33  | 4  | 100 | 1.33 (1.3333) |
| 4.5 | 4 / 9    | population data: A01 A02 A05 A11                    | 44.44  | 2  | 100 | 0.89 (0.8889) |
| 4.6 | 3 / 4    | operator                                            | 75.00  | 2  | 100 | 1.50          |
| 4.7 | 25 / 200 | operator, entered as 12.5 %                         | 12.50  | 2  | 100 | 0.25          |
| 5.1 | 2 / 1    | information only: value 2.00                        | —      | 0  | 100 | 0.00          |
| 5.2 | 1 / 2    | complaints handled on time                          | 50.00  | 6  | 100 | 3.00          |
| 5.3 | 0 / 0    | empty: "full" by default; "zero" overridden: 0.00   | —      | 6  | 100 | 6.00          |
| 5.4 | 4 / 10   | ✓ less A05 (disliked), A08 (complained about)       | 40.00  | 6  | 90  | 2.67 (2.6667) |

| group          | indicators                                     | score / max                   |
|----------------|------------------------------------------------|-------------------------------|
| transparency   | 6.00 + 3.00 + 1.67 + 5.33                      | 16.00 / 18                    |
| progress       | 12.00 + 0.00                                   | 12.00 / 20                    |
| online_service | 8.00                                           | 8.00 / 12                     |
| online_payment | 3.00 + 1.25 + 1.67                             | 5.92 / 10                     |
| digitisation   | 3.60 + 0.89 + 0.83 + 1.33 + 0.89 + 1.50 + 0.25 | 9.29 / 22                     |
| satisfaction   | 0.00 + 3.00 + 6.00 + 2.67                      | 11.67 / 18                    |
| total          |                                                | 62.88 / 100: average (trung bình) |

With 5.3's empty rule overridden to "zero": satisfaction 5.67, total 56.88, still average.
Without the operator's input and the complaints (1.1–1.3, 4.6, 4.7, 5.2, 5.3 missing):
transparency 5.33 (1.4 alone), digitisation 7.54, satisfaction 2.67, total 41.46 (weak),
incomplete.

Scenario 2 (points at risk): see :data:`RISK_TABLE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.metrics.domain.facts import EventRecord, Facts, fold
from services.metrics.domain.figures import Period, judge
from services.metrics.domain.index766 import (
    DEFAULT_POLICY,
    Counts,
    Index766Policy,
    IndexScore,
    points_for,
    score_index,
)
from services.metrics.domain.index766_counts import (
    ProcedureTerms,
    index_counts,
    points_at_risk,
    verdict_766,
)
from tests.unit.test_metrics_golden import RB, VN, apology, ev, rating, received, resolved, t

D = Decimal
UNIT = "H26.06"
AS_OF = datetime(2026, 12, 1, 0, 0, tzinfo=VN)
NOW = datetime(2026, 12, 10, 9, 0, tzinfo=VN)
NOVEMBER = Period.of(date(2026, 11, 1), date(2026, 11, 30), AS_OF, NOW)


def _with(e: EventRecord, **data: Any) -> EventRecord:
    """The figures' golden event with more (or other) data."""
    return EventRecord(e.event_id, e.type, e.occurred_at, {**e.data, **data})


def filed(code: str, at: datetime, due: datetime, procedure: str, *, unit: str = UNIT,
          channel: str = "counter", days: int = 3, **data: Any) -> EventRecord:
    return _with(received(code, at, due, unit=unit, channel=channel), procedure_code=procedure,
                 processing_days=days, **data)


def done(at: datetime, **data: Any) -> EventRecord:
    return _with(resolved(at), **data)


def asked(at: datetime) -> EventRecord:
    return ev("dossier.supplement_requested", at, requested_at=at.isoformat(), reason="r",
              requested_by="o")


def supplied(at: datetime) -> EventRecord:
    return ev("dossier.supplement_received", at, received_at=at.isoformat())


def paid(at: datetime, via: str, amount: int) -> EventRecord:
    return ev("dossier.paid", at, amount=str(amount), at=at.isoformat(), via=via)


def returned(at: datetime) -> EventRecord:
    return ev("dossier.result_returned", at, returned_at=at.isoformat(), method="counter")


ALL_OF_IT = {"electronic_result_ref": "KQ-1", "result_digitised": True, "shared_to_citizen": True}

TERMS: dict[str, ProcedureTerms] = {
    "PA": ProcedureTerms("PA", 50_000, "whole", frozenset({UNIT})),
    "PB": ProcedureTerms("PB", 0, "partial", frozenset({UNIT})),
    "PC": ProcedureTerms("PC", 20_000, "none", frozenset({UNIT})),
    "PD": ProcedureTerms("PD", 10_000, "whole", frozenset({UNIT})),
    "PE": ProcedureTerms("PE", 0, "none", frozenset({UNIT})),
    "PX": ProcedureTerms("PX", 30_000, "whole", frozenset({"H26.07"})),
}

def synced(at: datetime) -> EventRecord:
    """The national portal accepted the dossier (the connector's event; 1.4)."""
    return ev("national_portal.synced", at, unit_code=UNIT, version=1, at=at.isoformat())


SCENARIO: dict[str, list[EventRecord]] = {
    "A01": [filed("A01", t(2, 11), t(5, 11, 17), "PA", channel="online", online_mode="whole",
                  population_data="vneid", documents_total=3, documents_digitised=3,
                  documents_reused=1),
            paid(t(2, 11, 9, 30), "national_platform", 50_000),
            done(t(4, 11, 10), **ALL_OF_IT),
            rating(t(6, 11, 10), "very_satisfied", None),
            synced(t(2, 11, 9, 5))],
    "A02": [filed("A02", t(2, 11), t(5, 11, 17), "PA", channel="online", online_mode="whole",
                  population_data="lookup", documents_total=2, documents_digitised=1,
                  documents_reused=0),
            paid(t(2, 11, 10), "provincial_platform", 50_000),
            asked(t(3, 11, 9)), supplied(t(3, 11, 14)),
            asked(t(4, 11, 9)), supplied(t(4, 11, 11)),
            done(t(4, 11, 16), **ALL_OF_IT),
            synced(t(2, 11, 9, 5))],
    "A03": [filed("A03", t(9, 11), t(12, 11, 17), "PB", channel="online", online_mode="partial",
                  documents_total=2, documents_digitised=2, documents_reused=1),
            asked(t(11, 11, 10)),
            synced(t(9, 11, 9, 5))],
    "A04": [filed("A04", t(9, 11), t(12, 11, 17), "PB"), asked(t(13, 11, 10)),
    synced(t(9, 11, 9, 5))],
    "A05": [filed("A05", t(16, 11), t(19, 11, 17), "PC", population_data="vneid",
                  documents_total=1, documents_digitised=1, documents_reused=2),
            paid(t(16, 11, 9, 30), "desk", 20_000),
            done(t(19, 11, 16), **ALL_OF_IT), returned(t(23, 11, 9)),
            rating(t(20, 11, 10), "unsatisfied", None),
            synced(t(16, 11, 9, 5))],
    "A06": [filed("A06", t(30, 11, 10), t(3, 12, 17), "PE"),
    synced(t(1, 12, 9))],
    "A07": [filed("A07", t(25, 11), t(30, 11, 17), "PA", channel="online", online_mode="whole"),
            paid(t(25, 11, 9, 30), "national_platform", 50_000),
            done(t(1, 12, 10)),
            synced(t(25, 11, 9, 5))],
    "A08": [filed("A08", t(30, 10), t(4, 11, 17), "PE", population_data="vneid"),
            done(t(3, 11, 10))],
    "A09": [filed("A09", t(26, 10), t(29, 10, 17), "PE"), done(t(28, 10, 10))],
    "A10": [filed("A10", t(2, 11), t(5, 11, 17), "PC", documents_total=2, documents_digitised=2),
            done(t(6, 11, 10)),
            rating(t(9, 11, 8), "unsatisfied", None),
            synced(t(2, 11, 9, 5))],
    "A11": [filed("A11", t(30, 11), t(3, 12, 17), "PA", channel="online", online_mode="whole",
                  population_data="vneid"),
            paid(t(1, 12, 8), "national_platform", 50_000),
            done(t(3, 12, 10)),
            rating(t(4, 12, 10), "unsatisfied", None),
            synced(t(30, 11, 9, 5))],
    "B01": [filed("B01", t(2, 11), t(5, 11, 17), "PX", unit="H26.07", channel="online",
                  online_mode="whole", population_data="vneid", documents_total=1,
                  documents_digitised=1, documents_reused=1),
            paid(t(2, 11, 9, 30), "national_platform", 30_000),
            done(t(4, 11, 10), **ALL_OF_IT)],
}
COMPLAINED = frozenset({"A08"})
OPERATOR: dict[str, Counts | None] = {
    "1.1": Counts(10, 10), "1.2": Counts(3, 4), "1.3": Counts(5, 6),
    "4.6": Counts(3, 4), "4.7": Counts.from_percent(D("12.5")),
}
COMPLAINTS = {"5.1": Counts(2, 1), "5.2": Counts(1, 2), "5.3": Counts(0, 0)}


def facts_of(scenario: Mapping[str, list[EventRecord]]) -> list[Facts]:
    return [fold(code, events, RB) for code, events in scenario.items()]


def counts_of(facts: list[Facts] | None = None, **inputs: Any) -> dict[str, Counts | None]:
    return index_counts(facts_of(SCENARIO) if facts is None else facts, NOVEMBER, [UNIT], TERMS,
                        complained=COMPLAINED, **inputs)


def complete_counts() -> dict[str, Counts | None]:
    return counts_of(operator=OPERATOR, complaints=COMPLAINTS)


# ------------------------------------------------------------------ scenario 1
def test_the_calendar_and_the_period() -> None:
    cal = RB.calendar_for(UNIT)
    assert not cal.is_working_day(date(2026, 11, 24))  # Culture Day, a Tuesday
    assert cal.add_working_days(date(2026, 11, 25), 3) == date(2026, 11, 30)  # A07's due day
    assert cal.add_working_days(date(2026, 11, 30), 3) == date(2026, 12, 3)  # A06, A11
    assert cal.add_working_days(date(2026, 10, 30), 3) == date(2026, 11, 4)  # A08
    assert NOVEMBER.as_of == NOVEMBER.end == AS_OF


# dossier: (the figures' judge, the index's verdict), at as_of
VERDICTS = {
    "A01": ("early", "early"),
    "A02": ("early", "late"),
    "A03": ("open_not_due", "open_not_due"),
    "A04": ("overdue_open", "overdue_open"),
    "A05": ("on_time", "on_time"),
    "A06": ("open_not_due", "open_not_due"),
    "A07": ("overdue_open", "overdue_open"),
    "A08": ("early", "early"),
    "A10": ("late", "late"),
    "A11": ("open_not_due", "open_not_due"),
}


def test_each_dossier_is_judged_by_the_index_rules() -> None:
    facts = {f.dossier_code: f for f in facts_of(SCENARIO)}
    got = {code: (judge(facts[code], AS_OF), verdict_766(facts[code], AS_OF)) for code in VERDICTS}
    assert got == VERDICTS
    a02, a03, a04, a05 = facts["A02"], facts["A03"], facts["A04"], facts["A05"]
    assert (a02.supplement_count, a02.paused_days, a02.effective_due_at) == (2, 0, t(5, 11, 17))
    assert a03.pending_pause_since == t(11, 11, 10) and a03.effective_due_at == t(12, 11, 17)
    assert a04.pending_pause_since == t(13, 11, 10) and a04.effective_due_at == t(12, 11, 17)
    assert (a05.end_kind, a05.end_at, a05.returned_at) == ("resolved", t(19, 11, 16), t(23, 11, 9))
    assert facts["A07"].closed_timeliness == "late" and facts["A07"].end_at == t(1, 12, 10)


def test_an_apology_s_new_date_does_not_move_the_due_date_the_index_judges() -> None:
    """Circular 03/2025's apology (Form 04) proposes a new date; the index still judges the
    dossier against the date it was due, so resolving it by the new date is late for 2.1."""
    due, new = t(5, 11, 17), t(12, 11, 17)
    events = [filed("AP1", t(2, 11), due, "PA"), apology(t(4, 11, 10), True, due, new),
              done(t(10, 11, 10))]
    f = fold("AP1", events, RB)
    assert (f.new_due_at, f.effective_due_at, f.closed_timeliness) == (new, due, "late")
    assert verdict_766(f, AS_OF) == "late" and judge(f, AS_OF) == "late"


# dossier: (online_mode, population_data, components_digitised, reused_digitised, paid_online,
#           paid_at, electronic_result, result_digitised, shared_to_citizen)
FLAGS = {
    "A01": ("whole", True, True, True, True, t(2, 11, 9, 30), True, True, True),
    "A02": ("whole", True, False, False, True, t(2, 11, 10), True, True, True),
    "A03": ("partial", False, True, True, None, None, False, False, False),
    "A04": (None, False, False, False, None, None, False, False, False),
    "A05": (None, True, True, True, False, t(16, 11, 9, 30), True, True, True),
    "A06": (None, False, False, False, None, None, False, False, False),
    "A07": ("whole", False, False, False, True, t(25, 11, 9, 30), False, False, False),
    "A08": (None, True, False, False, None, None, False, False, False),
    "A10": (None, False, True, False, None, None, False, False, False),
    "A11": ("whole", True, False, False, True, t(1, 12, 8), False, False, False),
}


def test_the_fold_captures_the_index_flags() -> None:
    facts = {f.dossier_code: f for f in facts_of(SCENARIO)}
    got = {code: (f.online_mode, f.population_data, f.components_digitised, f.reused_digitised,
                  f.paid_online, f.paid_at, f.electronic_result, f.result_digitised,
                  f.shared_to_citizen)
           for code, f in facts.items() if code in FLAGS}
    assert got == FLAGS


EXPECTED_COUNTS: dict[str, Counts | None] = {
    "1.1": Counts(10, 10), "1.2": Counts(3, 4), "1.3": Counts(5, 6), "1.4": Counts(8, 9),
    "2.1": Counts(6, 10), "2.2": Counts(13, 5),
    "3.1": Counts(4, 6), "3.2": Counts(3, 6), "3.3": Counts(1, 2), "3.4": Counts(2, 3),
    "4.1": Counts(3, 5), "4.2": Counts(2, 9), "4.3": Counts(3, 9), "4.4": Counts(3, 9),
    "4.5": Counts(4, 9), "4.6": Counts(3, 4), "4.7": Counts(25, 200),
    "5.1": Counts(2, 1), "5.2": Counts(1, 2), "5.3": Counts(0, 0), "5.4": Counts(4, 10),
}


def test_every_indicators_counts() -> None:
    assert complete_counts() == EXPECTED_COUNTS


# id: (numerator, denominator, ratio, points, empty, value); every one present (not missing)
SCORES: dict[str, tuple[int, int, str | None, str, bool, str | None]] = {
    "1.1": (10, 10, "100.00", "6.00", False, None),
    "1.2": (3, 4, "75.00", "3.00", False, None),
    "1.3": (5, 6, "83.33", "1.67", False, None),
    "1.4": (8, 9, "88.89", "5.33", False, None),
    "2.1": (6, 10, "60.00", "12.00", False, None),
    "2.2": (13, 5, None, "0.00", False, "2.60"),
    "3.1": (4, 6, "66.67", "8.00", False, None),
    "3.2": (3, 6, "50.00", "3.00", False, None),
    "3.3": (1, 2, "50.00", "1.25", False, None),
    "3.4": (2, 3, "66.67", "1.67", False, None),
    "4.1": (3, 5, "60.00", "3.60", False, None),
    "4.2": (2, 9, "22.22", "0.89", False, None),
    "4.3": (3, 9, "33.33", "0.83", False, None),
    "4.4": (3, 9, "33.33", "1.33", False, None),
    "4.5": (4, 9, "44.44", "0.89", False, None),
    "4.6": (3, 4, "75.00", "1.50", False, None),
    "4.7": (25, 200, "12.50", "0.25", False, None),
    "5.1": (2, 1, None, "0.00", False, "2.00"),
    "5.2": (1, 2, "50.00", "3.00", False, None),
    "5.3": (0, 0, None, "6.00", True, None),
    "5.4": (4, 10, "40.00", "2.67", False, None),
}
GROUPS = {"transparency": ("16.00", "18"), "progress": ("12.00", "20"),
          "online_service": ("8.00", "12"), "online_payment": ("5.92", "10"),
          "digitisation": ("9.29", "22"), "satisfaction": ("11.67", "18")}


def _scores(s: IndexScore) -> dict[str, tuple[int | None, int | None, str | None, str, bool, str | None]]:
    return {i.id: (i.numerator, i.denominator, None if i.ratio is None else str(i.ratio),
                   str(i.points), i.empty, None if i.value is None else str(i.value))
            for i in s.indicators}


def _groups(s: IndexScore) -> dict[str, tuple[str, str]]:
    return {g.id: (str(g.score), str(g.max_points)) for g in s.groups}


def test_the_complete_index_to_the_cent() -> None:
    s = score_index(complete_counts())
    assert _scores(s) == SCORES
    assert not any(i.missing for i in s.indicators)
    assert _groups(s) == GROUPS
    assert str(s.total) == "62.88" and s.max_total == 100
    assert (s.grade.key, s.grade.label_vi) == ("average", "trung bình")
    assert s.complete and s.missing == ()


@pytest.mark.parametrize(("policy", "points_5_3", "satisfaction", "total"), [
    (DEFAULT_POLICY, "6.00", "11.67", "62.88"),
    (DEFAULT_POLICY.with_overrides({"5.3": {"empty": "zero"}}), "0.00", "5.67", "56.88"),
], ids=["5.3-empty-full", "5.3-empty-zero"])
def test_an_empty_indicator_under_both_rules(policy: Index766Policy, points_5_3: str,
                                             satisfaction: str, total: str) -> None:
    s = score_index(complete_counts(), policy)
    five_three = next(i for i in s.indicators if i.id == "5.3")
    assert (five_three.numerator, five_three.denominator, five_three.ratio) == (0, 0, None)
    assert five_three.empty and not five_three.missing and str(five_three.points) == points_5_3
    assert _scores(s) == SCORES | {"5.3": (0, 0, None, points_5_3, True, None)}
    assert _groups(s) == GROUPS | {"satisfaction": (satisfaction, "18")}
    assert str(s.total) == total and s.grade.key == "average" and s.complete


def test_without_operator_input_or_complaints_the_total_is_incomplete() -> None:
    counts = counts_of()
    missing = ("1.1", "1.2", "1.3", "4.6", "4.7", "5.2", "5.3")
    assert counts == EXPECTED_COUNTS | dict.fromkeys((*missing, "5.1"), None)
    s = score_index(counts)
    expected = SCORES | {k: (None, None, None, "0.00", False, None) for k in (*missing, "5.1")}
    assert _scores(s) == expected
    assert {i.id for i in s.indicators if i.missing} == set(missing)  # 5.1 is information only
    assert _groups(s) == GROUPS | {"transparency": ("5.33", "18"), "digitisation": ("7.54", "22"),
                                   "satisfaction": ("2.67", "18")}
    assert str(s.total) == "41.46" and s.grade.key == "weak"  # a floor: missing ones only add
    assert not s.complete and s.missing == missing


def test_an_operator_indicator_given_as_none_is_missing_too() -> None:
    s = score_index(counts_of(operator=OPERATOR | {"4.7": None},
                              complaints=COMPLAINTS))
    assert s.missing == ("4.7",) and not s.complete
    assert str(s.total) == "62.63"  # 62.88 − 4.7's 0.25


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_any_arrival_order_and_duplicates_give_the_same_index(data: st.DataObject) -> None:
    shuffled: dict[str, list[EventRecord]] = {}
    for code, events in SCENARIO.items():
        copies = data.draw(st.lists(st.sampled_from(events), max_size=len(events)),
                           label=f"duplicates of {code}")
        shuffled[code] = list(data.draw(st.permutations(events + copies), label=f"order of {code}"))
    assert counts_of(facts_of(shuffled), operator=OPERATOR,
                     complaints=COMPLAINTS) == EXPECTED_COUNTS


# ------------------------------------------------------------------ what the code gets wrong
def test_a_result_digitised_after_as_of_is_not_counted_at_as_of() -> None:
    late = {"A07": [filed("A07", t(25, 11), t(30, 11, 17), "PA", documents_total=1,
                          documents_digitised=1),
                    done(t(1, 12, 10), **ALL_OF_IT)]}
    counts = counts_of(facts_of(late))
    assert counts["4.1"] == Counts(0, 0)  # resolved after as_of: not resolved in November
    assert (counts["4.2"], counts["4.4"]) == (Counts(0, 1), Counts(0, 1))


def test_a_second_supplement_request_after_as_of_does_not_change_the_verdict_at_as_of() -> None:
    once = {"S1": [filed("S1", t(26, 11), t(1, 12, 17), "PE"),
                   asked(t(27, 11, 9)), supplied(t(27, 11, 14)),
                   asked(t(1, 12, 9))]}  # the second request: after as_of
    f = facts_of(once)[0]
    assert judge(f, AS_OF) == "open_not_due"
    assert verdict_766(f, AS_OF) == "open_not_due"
    assert counts_of([f])["2.1"] == Counts(1, 1)


# ------------------------------------------------------------------ scenario 2: points at risk
RISK_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=VN)  # Monday; Tuesday 24/11 is a day off
RISK_PERIOD = Period.of(date(2026, 11, 1), date(2026, 11, 30), RISK_NOW, RISK_NOW)
RISK_TABLE = """
Scenario 2: unit H26.06, November 2026, judged now = as_of = Mon 23/11 10:00 +07. Working days
after today: 1 → Wed 25/11 (Tue 24/11 is a day off), 3 → Fri 27/11, 10 → Tue 8/12.

| code | received        | N  | due             | at now                  | 2.1       | runs   | late in Nov |
|------|-----------------|----|-----------------|-------------------------|-----------|--------|-------------|
| R0   | Wed 18/11 09:00 | 3  | Mon 23/11 17:00 | open, due today         | ✓         | yes    | yes         |
| R1   | Thu 19/11 09:00 | 3  | Wed 25/11 17:00 | open, next working day  | ✓         | yes    | yes         |
| R2   | Mon 23/11 09:00 | 3  | Fri 27/11 17:00 | open, in 3 working days | ✓         | yes    | yes         |
| R9   | Mon 23/11 09:30 | 4  | Mon 30/11 17:00 | open                    | ✓         | yes    | yes         |
| R3   | Mon 23/11 08:00 | 10 | Tue 8/12 17:00  | open, due next month    | ✓         | yes    | no          |
| R5   | Thu 19/11 09:00 | 3  | Wed 25/11 17:00 | supplement asked 20/11  | ✓         | paused | no          |
| R4   | Mon 16/11 09:00 | 3  | Thu 19/11 17:00 | open, overdue           | late      | no     | —           |
| R6   | Mon 2/11 09:00  | 3  | Thu 5/11 17:00  | resolved Wed 4/11       | early ✓   | no     | —           |
| R10  | Mon 16/11 09:00 | 3  | Thu 19/11 17:00 | resolved Wed 18/11      | early ✓   | no     | —           |
| R7   | Mon 9/11 09:00  | 3  | Thu 12/11 17:00 | resolved 12/11 16:00    | on time ✓ | no     | —           |
| R8   | Mon 9/11 09:00  | 3  | Thu 12/11 17:00 | resolved Fri 13/11      | late      | no     | —           |

2.1 now: 9 / 11 (P 20, T 100) → 20 × 9/11 = 16.3636 → 16.36.
One more late: 20 × 8/11 = 14.5454 → 14.55; a dossier costs 16.36 − 14.55 = 1.81 rounded,
20/11 = 1.8182 exact (it is the difference of unrounded points, so not 1.81).
Nothing more on time: R0 R1 R2 R9 turn late → 9 − 4 = 5 / 11 → 9.0909 → 9.09.

| N  | last day  | listed, soonest due first | points each (exact)             | if the listed are on time |
|----|-----------|---------------------------|---------------------------------|---------------------------|
| 1  | Wed 25/11 | R0, R1                    | 1.81 (1.8182)                   | 5 + 2 = 7 / 11 → 12.73    |
| 3  | Fri 27/11 | R0, R1, R2                | 1.81 (1.8182)                   | 5 + 3 = 8 / 11 → 14.55    |
| 10 | Tue 8/12  | R0, R1, R2, R9, R3        | 1.81 (1.8182); R3 (Dec.): 0, 0  | 5 + 4 = 9 / 11 → 16.36    |
"""


def _open(code: str, at: datetime, due: datetime, days: int = 3) -> EventRecord:
    return filed(code, at, due, "PE", days=days)


RISK_SCENARIO: dict[str, list[EventRecord]] = {
    "R0": [_open("R0", t(18, 11), t(23, 11, 17))],
    "R1": [_open("R1", t(19, 11), t(25, 11, 17))],
    "R2": [_open("R2", t(23, 11, 9), t(27, 11, 17))],
    "R9": [_open("R9", t(23, 11, 9, 30), t(30, 11, 17), days=4)],
    "R3": [_open("R3", t(23, 11, 8), t(8, 12, 17), days=10)],
    "R5": [_open("R5", t(19, 11), t(25, 11, 17)), asked(t(20, 11, 10))],
    "R4": [_open("R4", t(16, 11), t(19, 11, 17))],
    "R6": [_open("R6", t(2, 11), t(5, 11, 17)), done(t(4, 11, 10))],
    "R10": [_open("R10", t(16, 11), t(19, 11, 17)), done(t(18, 11, 10))],
    "R7": [_open("R7", t(9, 11), t(12, 11, 17)), done(t(12, 11, 16))],
    "R8": [_open("R8", t(9, 11), t(12, 11, 17)), done(t(13, 11, 10))],
}


def test_the_risk_calendar() -> None:
    cal = RB.calendar_for(UNIT)
    today = RISK_NOW.date()
    assert today == date(2026, 11, 23) and not cal.is_working_day(date(2026, 11, 24))
    assert [cal.add_working_days(today, n) for n in (1, 3, 4, 10)] == \
        [date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30), date(2026, 12, 8)]
    facts = {f.dossier_code: f for f in facts_of(RISK_SCENARIO)}
    assert [code for code, f in facts.items() if verdict_766(f, RISK_NOW) not in
            ("early", "on_time", "open_not_due")] == ["R4", "R8"]
    assert facts["R5"].pending_pause_since == t(20, 11, 10)


# N: (listed as (code, due, points, exact points), points if the listed are on time)
AT_RISK: dict[int, tuple[list[tuple[str, datetime, str, Decimal]], str]] = {
    1: ([("R0", t(23, 11, 17), "1.81", D("1.8182")),
         ("R1", t(25, 11, 17), "1.81", D("1.8182"))], "12.73"),
    3: ([("R0", t(23, 11, 17), "1.81", D("1.8182")),
         ("R1", t(25, 11, 17), "1.81", D("1.8182")),
         ("R2", t(27, 11, 17), "1.81", D("1.8182"))], "14.55"),
    10: ([("R0", t(23, 11, 17), "1.81", D("1.8182")),
          ("R1", t(25, 11, 17), "1.81", D("1.8182")),
          ("R2", t(27, 11, 17), "1.81", D("1.8182")),
          ("R9", t(30, 11, 17), "1.81", D("1.8182")),
          ("R3", t(8, 12, 17), "0.00", D(0))], "16.36"),
}


@pytest.mark.parametrize("working_days", sorted(AT_RISK))
def test_points_at_risk(working_days: int) -> None:
    cal = RB.calendar_for(UNIT)

    def last_day(f: Facts) -> date:
        return RB.calendar_for(f.unit_code or UNIT).add_working_days(RISK_NOW.date(), working_days)

    listed, projection = points_at_risk(
        facts_of(RISK_SCENARIO), RISK_PERIOD, RISK_NOW, [UNIT], DEFAULT_POLICY.indicator("2.1"),
        last_day, lambda at: at.astimezone(VN).date())
    expected, if_rescued = AT_RISK[working_days]
    assert [(r.dossier_code, r.due_at, str(r.points), r.exact_points) for r in listed] == expected
    assert all(str(r.exact_points) == str(e[3]) for r, e in zip(listed, expected, strict=True))
    assert all((r.unit_code, r.procedure_code) == (UNIT, "PE") for r in listed)
    assert all(cal.add_working_days(RISK_NOW.date(), working_days) >= r.due_at.date()
               for r in listed)
    assert (projection.numerator_now, projection.denominator, projection.turning_late) == (9, 11, 4)
    assert str(projection.points_now) == "16.36"
    assert str(projection.points_if_nothing_on_time) == "9.09"
    assert str(projection.points_if_at_risk_on_time) == if_rescued


def test_the_cost_of_one_late_dossier_is_the_step_of_the_rounded_points() -> None:
    p21 = DEFAULT_POLICY.indicator("2.1")
    assert [str(points_for(n, 11, p21)) for n in (9, 8, 7, 5)] == ["16.36", "14.55", "12.73", "9.09"]
    assert str(points_for(9, 11, p21) - points_for(8, 11, p21)) == "1.81"
