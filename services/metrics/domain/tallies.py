"""The figures' counts kept per unit, procedure and local day, so that what a query costs
depends on the units and days it covers, not on how many dossiers are stored.

Every count of ``domain.figures`` is a sum over dossiers. A dossier's share of a period's
counts depends on ``as_of`` only while it is *live* (``facts.live_span``): from its receipt
until its end and its result's return. Once it is over, its share is fixed, and it is kept
as **contributions** to the day each of its times falls on (``contributions``):

* its receipt, steps, apology and return, on their own days (the flows);
* its verdict (early, on time, late; the apology and re-appointment counts), on its end day:
  a dossier whose times are in order is in a period's population exactly when it ended on
  or after the period's first day;
* its rating, on the rating's day, under the rated unit; its desk's counts, under the desk.
  These two never depend on the population, so every dossier's are kept, live or not.

A period ``[S, E)`` judged at ``as_of`` A is then, with the cut ``D = min(E, A's day)``:

    the per-day counts of the days [S, D)
    + every dossier live at some time in [D, A], judged exactly (``dossier_tally``)
    − those dossiers' own contributions to the days [S, D), already in the per-day counts
    + the ratings and desk counts of [D, A], counted exactly.

``combine`` is that sum; the PostgreSQL adapter fetches its parts with indexes
(``adapters.sql_figures``) and the contract test checks it against ``figures`` for random
dossiers, periods and ``as_of`` (``tests/unit/test_metrics_tallies.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from services.metrics.domain.facts import Facts, online_whole
from shared.clock import VN

CHANNELS = ("counter", "online", "postal")
LEVELS = ("very_satisfied", "satisfied", "unsatisfied")
SIPAS_FACTORS = ("access", "procedure", "civil_servant", "result", "feedback_handling")
VERDICTS = ("early", "on_time", "late", "overdue_open", "open_not_due")
STEPS = ("resolved", "rejected", "stopped", "withdrawn")

# The counts of a dossier (by its competent unit), of a rating (by the rated unit) and of a
# desk (by the unit whose desk received it). Their names are the per-day table's columns.
DOSSIER_COUNTS = (
    *VERDICTS, "population", "received", *(f"received_{c}" for c in CHANNELS), *STEPS,
    "returned", *(f"returned_{c}" for c in CHANNELS), "apologies_issued",
    "multiple_supplement_requests", "on_time_766", "late_without_apology",
    "late_with_timely_apology", "late_with_late_apology", "missed_reappointment",
    "worked_sum", "worked_count")
# The national index's own counts of a dossier (``domain.index766_counts``): its flags on
# the day it was received or resolved, and 5.4's "early or on time and not disliked" on its
# end day. What depends on the catalog (offered online, with a fee) is chosen by procedure
# when a period is read; 5.4's complaints are taken off then (``index_counts_from``).
INDEX_COUNTS = (
    "received_synced", "received_digitised", "received_reused", "received_shared",
    "received_population_data", "received_online_whole", "received_paid_online",
    "resolved_electronic", "good_not_disliked")
RATING_COUNTS = (*LEVELS, "decree61_sum", "decree61_count", "with_sipas",
                 *(f"high_{k}" for k in SIPAS_FACTORS))
DESK_COUNTS = ("desk_received", "desk_handed_over", "desk_returned", "desk_returned_at_counter")
OWN_COUNTS = DOSSIER_COUNTS + INDEX_COUNTS  # a dossier's own, by its competent unit
COUNTS = OWN_COUNTS + RATING_COUNTS + DESK_COUNTS

Key = tuple[str, str, date]  # (unit, procedure or "", local day)
Tally = MutableMapping[str, int]  # counts by name (a Counter, or a defaultdict(int))
# A dossier that is over is judged after every time it holds (``facts.live_span``).
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


class Window(Protocol):
    """``[start, end)`` judged at ``as_of`` (``domain.figures.Period``'s shape)."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def as_of(self) -> datetime: ...


def contains(p: Window, t: datetime | None) -> bool:
    return t is not None and p.start <= t < p.end and t <= p.as_of


def cut(p: Window, tz: ZoneInfo = VN) -> datetime:
    """``D``: the start of ``as_of``'s local day, or the period's end if that is earlier.
    Every day before it is complete and judged at or after its end."""
    day_start = datetime.combine(p.as_of.astimezone(tz).date(), time(0), tz)
    return min(p.end, day_start)


def day_of(t: datetime, tz: ZoneInfo = VN) -> date:
    return t.astimezone(tz).date()


def day_bounds(p: Window, tz: ZoneInfo = VN) -> tuple[date, date]:
    """The per-day counts a period reads: the days ``[first, before)``."""
    return day_of(p.start, tz), day_of(cut(p, tz), tz)


def is_live(f: Facts, since: datetime, until: datetime) -> bool:
    """Whether the dossier's live span meets ``[since, until]`` (``None`` bounds are open)."""
    return (f.live_from is None or f.live_from <= until) and (
        f.live_until is None or f.live_until >= since)


# Every time a dossier's facts hold: the only things a count compares ``as_of`` with.
INSTANTS = tuple(f.name for f in fields(Facts) if "datetime" in str(f.type))


def settled_until(dossiers: Iterable[Facts], ratings: Iterable[Facts], p: Window,
                  tz: ZoneInfo = VN) -> datetime:
    """The first moment after ``as_of`` at which the figures of ``p`` over these dossiers
    and ratings may differ from those judged at ``as_of``, the facts unchanged: judged at
    any moment of ``[as_of, settled_until)``, they are the same.

    A count compares ``as_of`` only with the times of a dossier's facts (``t <= as_of``, or
    a due time before the stopped clock), and the per-day counts are read up to ``as_of``'s
    day. So the figures can move only at the next local midnight, at the period's end, at a
    time (at or after ``as_of``) of a dossier live at some moment from the cut on (one over
    before it is fixed in the per-day counts), or at a rating given at or after ``as_of``.
    The PostgreSQL adapter's ``sql_figures.settled_until`` reads the same times."""
    a = p.as_of
    moments = [datetime.combine(day_of(a, tz) + timedelta(days=1), time(0), tz)]
    if p.end > a:
        moments.append(p.end)
    since = cut(p, tz)
    for f in dossiers:
        if f.live_until is None or f.live_until >= since:
            moments += [t for name in INSTANTS
                        if (t := getattr(f, name)) is not None and t >= a]
    moments += [f.rated_at for f in ratings if f.rated_at is not None and f.rated_at >= a]
    return min(moments)


def in_counts(f: Facts) -> bool:
    """Whether the dossier's own counts are in the per-day table (it is over)."""
    return f.live_until is not None


# ------------------------------------------------------------------ one dossier, exactly
def in_population(f: Facts, p: Window) -> bool:
    if f.received_at is None or f.received_at >= p.end or f.received_at > p.as_of:
        return False
    return f.received_at >= p.start or f.end_at is None or f.end_at >= p.start


def judge(f: Facts, as_of: datetime) -> str:
    """early / on_time / late for a dossier closed by ``as_of``; overdue_open or open_not_due."""
    if f.end_at is not None and f.end_at <= as_of and f.closed_timeliness is not None:
        return f.closed_timeliness
    due = f.effective_due_at or f.due_at
    assert due is not None
    clock = as_of
    if f.pending_pause_since is not None and f.pending_pause_since < clock:
        clock = f.pending_pause_since
    return "overdue_open" if due < clock else "open_not_due"


def _returned(c: Tally, f: Facts) -> None:
    c["returned"] += 1
    if f.returned_method in CHANNELS:
        c[f"returned_{f.returned_method}"] += 1


def dossier_tally(f: Facts, p: Window, c: Counter[str]) -> None:
    """Add the dossier's own counts for ``p`` to ``c`` (docs/rules/metrics.md)."""
    if not in_population(f, p):
        # A result returned in the period for a dossier resolved before it: a flow of the
        # period, though the dossier is not in its population.
        if contains(p, f.returned_at):
            _returned(c, f)
        return
    c["population"] += 1
    verdict = judge(f, p.as_of)
    c[verdict] += 1
    twice = f.second_supplement_at is not None and f.second_supplement_at <= p.as_of
    if verdict in ("early", "on_time", "open_not_due") and not twice:
        c["on_time_766"] += 1
    if verdict in ("early", "on_time", "open_not_due") and not twice \
            and not disliked(f, p.as_of):
        c["good_not_disliked"] += 1
    if contains(p, f.received_at):
        c["received"] += 1
        if f.channel in CHANNELS:
            c[f"received_{f.channel}"] += 1
        _received_flags(f, p.as_of, c)
    for kind in STEPS:
        if contains(p, getattr(f, f"{kind}_at")):
            c[kind] += 1
    if contains(p, f.resolved_at) and f.electronic_result:
        c["resolved_electronic"] += 1
    if contains(p, f.returned_at):
        _returned(c, f)
    if contains(p, f.apology_issued_at):
        c["apologies_issued"] += 1
    if twice:
        c["multiple_supplement_requests"] += 1
    _verdict_extras(f, verdict, c)
    if contains(p, f.resolved_at) and f.processing_working_days is not None:
        c["worked_sum"] += f.processing_working_days
        c["worked_count"] += 1


def disliked(f: Facts, as_of: datetime) -> bool:
    """Rated ``unsatisfied`` by ``as_of`` (5.4)."""
    return f.rating == "unsatisfied" and f.rated_at is not None and f.rated_at <= as_of


def _by(t: datetime | None, as_of: datetime) -> bool:
    return t is not None and t <= as_of


def _received_flags(f: Facts, as_of: datetime, c: Tally) -> None:
    """The index's flags of a dossier received in the period (1.4, 3.1, 3.2, 4.2–4.5)."""
    c["received_synced"] += _by(f.synced_at, as_of)
    c["received_digitised"] += f.components_digitised and f.result_digitised \
        and _by(f.resolved_at, as_of)
    c["received_reused"] += f.reused_digitised
    c["received_shared"] += f.shared_to_citizen and _by(f.resolved_at, as_of)
    c["received_population_data"] += f.population_data
    c["received_online_whole"] += online_whole(f)
    c["received_paid_online"] += bool(f.paid_online) and _by(f.paid_at, as_of)


def _verdict_extras(f: Facts, verdict: str, c: Tally) -> None:
    if verdict == "late":
        if f.apology_issued_at is None:
            c["late_without_apology"] += 1
        elif f.apology_timely:
            c["late_with_timely_apology"] += 1
        else:
            c["late_with_late_apology"] += 1
    if verdict in ("early", "on_time", "late") and f.new_due_at is not None \
            and f.end_at is not None and f.end_at > f.new_due_at:
        c["missed_reappointment"] += 1


def rating_tally(f: Facts, c: Tally) -> None:
    """Add the dossier's rating (whenever given) to ``c``; the caller checks the period."""
    if f.rating not in LEVELS:
        return
    c[f.rating] += 1
    if f.decree61_total is not None:
        c["decree61_sum"] += f.decree61_total
        c["decree61_count"] += 1
    if f.sipas:
        c["with_sipas"] += 1
        for factor in SIPAS_FACTORS:
            if int(f.sipas.get(factor, 0)) >= 4:
                c[f"high_{factor}"] += 1


def desk_of(f: Facts) -> str | None:
    return f.receiving_unit or f.unit_code


def desk_tally(f: Facts, received: bool, returned: bool, c: Tally) -> None:
    c["desk_received"] += received
    c["desk_handed_over"] += received and f.unit_code != desk_of(f)
    c["desk_returned"] += returned
    c["desk_returned_at_counter"] += returned and f.returned_method == "counter"


# ------------------------------------------------------------------ the per-day counts
def contributions(f: Facts, tz: ZoneInfo = VN) -> dict[Key, Tally]:
    """The dossier's shares of the per-day counts: its ratings and desk counts always; its
    own counts once it is over (``in_counts``)."""
    out: dict[Key, Tally] = {}
    _contribute(f, out, tz)
    return {k: v for k, v in out.items() if any(v.values())}


def _contribute(f: Facts, out: dict[Key, Tally], tz: ZoneInfo) -> None:
    """Add the dossier's ``contributions`` to ``out`` (rows shared with other dossiers')."""
    procedure = f.procedure_code or ""
    days: dict[datetime, date] = {}  # a dossier's times fall on a few days, asked often

    def at(unit: str, t: datetime) -> Tally:
        day = days.get(t)
        if day is None:
            day = days[t] = t.astimezone(tz).date()
        key = (unit, procedure, day)
        found = out.get(key)
        if found is None:
            found = out[key] = defaultdict(int)
        return found

    if f.rating in LEVELS and f.rating_unit and f.rated_at is not None:
        rating_tally(f, at(f.rating_unit, f.rated_at))
    desk = desk_of(f)
    if desk is not None:
        if f.received_at is not None:
            desk_tally(f, True, False, at(desk, f.received_at))
        if f.returned_at is not None:
            desk_tally(f, False, True, at(desk, f.returned_at))
    if in_counts(f) and f.unit_code is not None:
        _own_contributions(f, lambda t: at(f.unit_code or "", t))


def _own_contributions(f: Facts, at: Callable[[datetime], Tally]) -> None:
    assert f.end_at is not None and f.received_at is not None
    verdict = f.closed_timeliness or "late"
    end = at(f.end_at)
    end["population"] += 1
    end[verdict] += 1
    twice = f.second_supplement_at is not None
    if verdict in ("early", "on_time") and not twice:
        end["on_time_766"] += 1
    if twice:
        end["multiple_supplement_requests"] += 1
    if verdict in ("early", "on_time") and not twice and not disliked(f, END_OF_TIME):
        end["good_not_disliked"] += 1
    _verdict_extras(f, verdict, end)
    received = at(f.received_at)
    received["received"] += 1
    if f.channel in CHANNELS:
        received[f"received_{f.channel}"] += 1
    _received_flags(f, END_OF_TIME, received)
    for kind in STEPS:
        t = getattr(f, f"{kind}_at")
        if t is not None:
            at(t)[kind] += 1
    if f.returned_at is not None:
        _returned(at(f.returned_at), f)
    if f.apology_issued_at is not None:
        at(f.apology_issued_at)["apologies_issued"] += 1
    if f.resolved_at is not None and f.processing_working_days is not None:
        resolved = at(f.resolved_at)
        resolved["worked_sum"] += f.processing_working_days
        resolved["worked_count"] += 1
    if f.resolved_at is not None and f.electronic_result:
        at(f.resolved_at)["resolved_electronic"] += 1


def delta(before: Iterable[Facts], after: Iterable[Facts],
          tz: ZoneInfo = VN) -> dict[Key, dict[str, int]]:
    """What folding ``before`` into ``after`` changes in the per-day counts: the sum of the
    new contributions less the old, zero counts and rows left out."""
    old: dict[Key, Tally] = {}
    new: dict[Key, Tally] = {}
    for f in before:
        _contribute(f, old, tz)
    for f in after:
        _contribute(f, new, tz)
    out: dict[Key, dict[str, int]] = {}
    for key in old.keys() | new.keys():
        was, now = old.get(key, {}), new.get(key, {})
        row = {name: n for name in was.keys() | now.keys()
               if (n := now.get(name, 0) - was.get(name, 0))}
        if row:
            out[key] = row
    return out


def add(into: Counter[str], counts: Mapping[str, int], sign: int = 1) -> None:
    for name, n in counts.items():
        into[name] += sign * n


# ------------------------------------------------------------------ a period, combined
def own_contributions_between(f: Facts, first: date, before: date,
                              tz: ZoneInfo = VN) -> Counter[str]:
    """The dossier's own (not rating, not desk) contributions to the days ``[first, before)``."""
    c: Counter[str] = Counter()
    if not in_counts(f) or f.unit_code is None:
        return c
    for (unit, _, day), counts in contributions(f, tz).items():
        if unit == f.unit_code and first <= day < before:
            add(c, {k: v for k, v in counts.items() if k in _OWN})
    return c


_OWN = frozenset(OWN_COUNTS)


def live_part(live: Iterable[Facts], p: Window, tz: ZoneInfo = VN) -> Counter[str]:
    """The dossiers live in ``[D, as_of]``: judged exactly, less what the per-day counts of
    ``[S, D)`` already hold of them."""
    first, before = day_bounds(p, tz)
    c: Counter[str] = Counter()
    for f in live:
        dossier_tally(f, p, c)
        add(c, own_contributions_between(f, first, before, tz), -1)
    return c


def recent_part(recent: Iterable[Facts], p: Window, rating_units: set[str] | None,
                tz: ZoneInfo = VN) -> Counter[str]:
    """The ratings of ``[D, as_of]`` (to ``rating_units``, None: any), counted exactly."""
    since = cut(p, tz)
    c: Counter[str] = Counter()
    for f in recent:
        if f.rated_at is not None and f.rated_at >= since and contains(p, f.rated_at) and (
                rating_units is None or f.rating_unit in rating_units):
            rating_tally(f, c)
    return c


def combine(per_day: Mapping[str, int], live: Iterable[Facts], recent: Iterable[Facts],
            p: Window, rating_units: set[str] | None, tz: ZoneInfo = VN) -> Counter[str]:
    """A period's counts from its parts (the module's docstring)."""
    c: Counter[str] = Counter()
    add(c, per_day)
    add(c, live_part(live, p, tz))
    add(c, recent_part(recent, p, rating_units, tz))
    return c


def desk_recent(recent: Iterable[Facts], p: Window,
                rollup: Mapping[str, str] | None = None, tz: ZoneInfo = VN
                ) -> dict[str, Counter[str]]:
    """Each desk's counts of ``[D, as_of]``, counted exactly."""
    since = cut(p, tz)
    out: dict[str, Counter[str]] = {}
    for f in recent:
        desk = desk_of(f)
        received = contains(p, f.received_at) and f.received_at is not None \
            and f.received_at >= since
        returned = contains(p, f.returned_at) and f.returned_at is not None \
            and f.returned_at >= since
        if desk is None or not (received or returned):
            continue
        desk_tally(f, received, returned, out.setdefault((rollup or {}).get(desk, desk),
                                                         Counter()))
    return out
