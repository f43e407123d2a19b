"""What the national index counts, from the per-dossier facts: each indicator's numerator and
denominator for a set of units and a period (docs/rules/index766.md), the open dossiers that
will cost points on 2.1 before the period closes, and the 2.1 points projected at its end.

* The population (2.1, 5.4) is the figures' own: every dossier received in the period plus
  every one received earlier and still open when it began. "Dossiers received" (1.4, 3.x, 4.x)
  are those received in the period; "resolved" (4.1) those resolved in it.
* 2.1 follows the index's rules where they differ from the figures' on-time rate: a dossier
  with more than one supplement request is late, whatever else happened; an open dossier
  waiting for its (single) supplement is judged at the request, which the figures' ``judge``
  already does by stopping its clock there.
* 5.4 counts the population's dossiers that were early or on time (as in 2.1) and were not
  disliked (an ``unsatisfied`` rating) nor complained about.
* 3.1 is the one indicator whose exact definition the national portal does not publish; it
  lives in :func:`offered_online` (the procedure's side) and ``facts.online_whole`` (the
  dossier's) alone, so that it can follow the portal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from services.metrics.domain.facts import Facts, online_whole
from services.metrics.domain.figures import Period, in_population, judge
from services.metrics.domain.index766 import Counts, IndicatorPolicy, points_for
from services.metrics.domain.tallies import disliked

GOOD = frozenset({"early", "on_time", "open_not_due"})
ONLINE_OFFERED = frozenset({"whole", "partial"})
# Indicators whose counts come from elsewhere than the dossiers' events.
OPERATOR_INPUT = ("1.1", "1.2", "1.3", "4.6", "4.7")
COMPLAINTS = ("5.1", "5.2", "5.3")


@dataclass(frozen=True)
class ProcedureTerms:
    """What the index needs to know of a procedure from the catalog."""

    code: str
    fee: int
    online: str  # "whole" (toàn trình), "partial" (một phần) or "none"
    units: frozenset[str]


def verdict_766(f: Facts, as_of: datetime) -> str:
    """The figures' verdict (early, on_time, late, open_not_due, overdue_open), except that
    more than one supplement request makes a dossier late (from the second request on)."""
    if f.second_supplement_at is not None and f.second_supplement_at <= as_of:
        return "late"
    return judge(f, as_of)


def _resolved_by(f: Facts, as_of: datetime) -> bool:
    """The result's flags count from its resolution on."""
    return f.resolved_at is not None and f.resolved_at <= as_of


def offered_online(terms: Mapping[str, ProcedureTerms], code: str | None) -> bool:
    """The procedure's side of 3.1: offered online (whole or partial)."""
    return code is not None and code in terms and terms[code].online in ONLINE_OFFERED


def has_fee(terms: Mapping[str, ProcedureTerms], code: str | None) -> bool:
    return code is not None and code in terms and terms[code].fee > 0


def online_service_counts(received: list[Facts], terms: Mapping[str, ProcedureTerms]) -> Counts:
    """3.1: dossiers received online through the whole process (toàn trình) / dossiers
    received for procedures offered online (whole or partial)."""
    offered = [f for f in received if offered_online(terms, f.procedure_code)]
    return Counts(sum(1 for f in offered if online_whole(f)), len(offered))


def fee_procedures_of(terms: Mapping[str, ProcedureTerms], units: Iterable[str] | None) -> int:
    """3.4's denominator: the fee procedures the units offer (by the catalog)."""
    wanted = None if units is None else set(units)
    return sum(1 for t in terms.values() if t.fee > 0 and (wanted is None or t.units & wanted))


def index_counts_from(by_procedure: Mapping[str, Mapping[str, int]],
                      terms: Mapping[str, ProcedureTerms], units: Iterable[str] | None,
                      complained_good: int) -> dict[str, Counts | None]:
    """:func:`index_counts` from a period's counts per procedure (``domain.tallies``, the
    per-day counts and the live dossiers), and the number of the population's dossiers that
    count as good for 5.4 but were complained about by ``as_of`` (``complained_good``)."""
    def total(name: str, among: Callable[[str], bool] = lambda _: True) -> int:
        return sum(c.get(name, 0) for code, c in by_procedure.items() if among(code))

    def offered(code: str) -> bool:
        return offered_online(terms, code)

    def with_fee(code: str) -> bool:
        return has_fee(terms, code)

    def procedures(name: str) -> int:  # 3.3 and 3.4 count fee procedures, not dossiers
        return sum(1 for code, c in by_procedure.items() if with_fee(code) and c.get(name, 0))

    counts: dict[str, Counts | None] = {
        "1.4": Counts(total("received_synced"), total("received")),
        "2.1": Counts(total("on_time_766"), total("population")),
        "2.2": Counts(total("worked_sum"), total("worked_count")),
        "3.1": Counts(total("received_online_whole", offered), total("received", offered)),
        "3.2": Counts(total("received_paid_online", with_fee), total("received", with_fee)),
        "3.3": Counts(procedures("received_paid_online"), procedures("received")),
        "3.4": Counts(procedures("received"), fee_procedures_of(terms, units)),
        "4.1": Counts(total("resolved_electronic"), total("resolved")),
        "4.2": Counts(total("received_digitised"), total("received")),
        "4.3": Counts(total("received_reused"), total("received")),
        "4.4": Counts(total("received_shared"), total("received")),
        "4.5": Counts(total("received_population_data"), total("received")),
        "5.4": Counts(total("good_not_disliked") - complained_good, total("population")),
    }
    for key in (*OPERATOR_INPUT, *COMPLAINTS):
        counts[key] = None  # the operators' entries, and the complaints (domain.complaints)
    return counts


def complained_good(dossiers: Iterable[Facts], p: Period, complained: frozenset[str]) -> int:
    """The population's dossiers that 5.4 would count as satisfied but for a complaint."""
    return sum(1 for f in dossiers if f.dossier_code in complained and in_population(f, p)
               and verdict_766(f, p.as_of) in GOOD and not disliked(f, p.as_of))


def index_counts(dossiers: Iterable[Facts], p: Period, units: Iterable[str] | None,
                 terms: Mapping[str, ProcedureTerms], *,
                 operator: Mapping[str, Counts | None] | None = None,
                 complaints: Mapping[str, Counts] | None = None,
                 complained: frozenset[str] = frozenset()) -> dict[str, Counts | None]:
    """Every indicator's counts for the dossiers of ``units`` (None: all) in ``p``. Counts not
    known here are ``None`` (missing): the operator's inputs not entered, 5.1–5.3 without
    complaints. 1.4 counts the dossiers received that the national portal accepted by
    ``as_of`` (the connector's ``national_portal.synced``). ``complained``: the codes of
    dossiers a complaint was made about (for 5.4)."""
    wanted = None if units is None else set(units)
    population = [f for f in dossiers if in_population(f, p)
                  and (wanted is None or f.unit_code in wanted)]
    received = [f for f in population if p.contains(f.received_at)]
    resolved = [f for f in population if p.contains(f.resolved_at)]
    verdicts = {f.dossier_code: verdict_766(f, p.as_of) for f in population}
    good = [f for f in population if verdicts[f.dossier_code] in GOOD]
    satisfied = [f for f in good if not disliked(f, p.as_of)
                 and f.dossier_code not in complained]
    with_fee = [f for f in received if has_fee(terms, f.procedure_code)]
    paid_online = [f for f in with_fee if f.paid_online and f.paid_at is not None
                   and f.paid_at <= p.as_of]
    fee_with_dossiers = {f.procedure_code for f in with_fee}
    fee_paid_online = {f.procedure_code for f in paid_online}
    worked = [f.processing_working_days for f in resolved if f.processing_working_days is not None]
    counts: dict[str, Counts | None] = {
        "1.4": Counts(sum(1 for f in received if f.synced_at is not None
                          and f.synced_at <= p.as_of), len(received)),
        "2.1": Counts(len(good), len(population)),
        "2.2": Counts(sum(worked), len(worked)),
        "3.1": online_service_counts(received, terms),
        "3.2": Counts(len(paid_online), len(with_fee)),
        "3.3": Counts(len(fee_paid_online), len(fee_with_dossiers)),
        "3.4": Counts(len(fee_with_dossiers), fee_procedures_of(terms, wanted)),
        "4.1": Counts(sum(1 for f in resolved if f.electronic_result), len(resolved)),
        "4.2": Counts(sum(1 for f in received if f.components_digitised and f.result_digitised
                          and _resolved_by(f, p.as_of)), len(received)),
        "4.3": Counts(sum(1 for f in received if f.reused_digitised), len(received)),
        "4.4": Counts(sum(1 for f in received if f.shared_to_citizen
                          and _resolved_by(f, p.as_of)), len(received)),
        "4.5": Counts(sum(1 for f in received if f.population_data), len(received)),
        "5.4": Counts(len(satisfied), len(population)),
    }
    for key in OPERATOR_INPUT:
        counts[key] = (operator or {}).get(key)
    for key in COMPLAINTS:
        counts[key] = (complaints or {}).get(key)
    return counts


# ------------------------------------------------------------------ points at risk
@dataclass(frozen=True)
class AtRisk:
    dossier_code: str
    unit_code: str
    procedure_code: str
    due_at: datetime
    points: Decimal  # the rounded 2.1 points its lateness would cost the unit this period
    exact_points: Decimal  # the same, unrounded (4 decimals): what adds up over many


@dataclass(frozen=True)
class Projection:
    """2.1 at the period's end: as it stands, if nothing more is resolved on time, and if every
    dossier at risk is."""

    numerator_now: int
    denominator: int
    points_now: Decimal
    points_if_nothing_on_time: Decimal
    points_if_at_risk_on_time: Decimal
    turning_late: int  # open dossiers that will be late by the period's end if nothing is done


def _exact_cost(numerator: int, denominator: int, policy: IndicatorPolicy) -> Decimal:
    """The unrounded points one more late dossier costs: P × 100 / (T × population) while the
    share is below the threshold after it, else what is left above it."""
    if denominator == 0 or numerator == 0:
        return Decimal(0)
    def raw(n: int) -> Decimal:
        share = Decimal(100 * n) / Decimal(denominator)
        return policy.max_points * min(Decimal(1), share / policy.threshold)
    return (raw(numerator) - raw(numerator - 1)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def points_at_risk(dossiers: Iterable[Facts], p: Period, now: datetime,
                   units: Iterable[str] | None, policy: IndicatorPolicy,
                   last_day: Callable[[Facts], date],
                   local_day: Callable[[datetime], date]) -> tuple[list[AtRisk], Projection]:
    """Open dossiers of ``units`` in ``p`` that will turn late by ``last_day(f)`` (the N-th
    working day from today on the dossier's unit's calendar) if nothing happens, soonest due
    first, each with what its lateness costs on 2.1; and the projection at the period's end.
    Judged at ``now`` (``p.as_of`` for the counts already in)."""
    wanted = None if units is None else set(units)
    population = [f for f in dossiers if in_population(f, p)
                  and (wanted is None or f.unit_code in wanted)]
    verdicts = {f.dossier_code: verdict_766(f, p.as_of) for f in population}
    numerator = sum(1 for v in verdicts.values() if v in GOOD)
    denominator = len(population)
    running = [f for f in population if verdicts[f.dossier_code] == "open_not_due"
               and f.pending_pause_since is None and (f.end_at is None or f.end_at > now)]
    turning = [f for f in running if _due(f) < p.end]
    cost = points_for(numerator, denominator, policy) - points_for(max(0, numerator - 1),
                                                                   denominator, policy)
    exact = _exact_cost(numerator, denominator, policy)
    risky = sorted((f for f in running if _due(f) >= now
                    and local_day(_due(f)) <= last_day(f)), key=lambda f: (_due(f), f.dossier_code))
    at_risk = [AtRisk(f.dossier_code, f.unit_code or "", f.procedure_code or "", _due(f),
                      cost if _due(f) < p.end else Decimal("0.00"),
                      exact if _due(f) < p.end else Decimal(0)) for f in risky]
    rescued = sum(1 for f in risky if _due(f) < p.end)
    nothing = numerator - len(turning)
    return at_risk, Projection(
        numerator, denominator, points_for(numerator, denominator, policy),
        points_for(nothing, denominator, policy),
        points_for(nothing + rescued, denominator, policy), len(turning))


def _due(f: Facts) -> datetime:
    due = f.effective_due_at or f.due_at
    assert due is not None
    return due
