"""The fold of a dossier's events into its facts (services/metrics/domain/facts.py): the
first of each finishing event counts, the end follows the precedence resolved > returned >
stopped / rejected > withdrawn, and a repeat changes nothing."""

from __future__ import annotations

import pytest

from services.metrics.domain.facts import Facts, fold
from tests.unit.test_metrics_golden import RB, apology, ev, rating, received, resolved, t


def test_the_first_apology_transfer_and_return_are_kept() -> None:
    f = fold("A", [
        received("A", t(2, 11), t(5, 11, 17)),
        ev("dossier.transferred", t(3, 11), from_unit="H26.06", to_unit="H26.07", at="x"),
        apology(t(4, 11), True, t(5, 11, 17), t(9, 11, 17)),
        apology(t(6, 11), False, t(9, 11, 17), t(12, 11, 17)),
        ev("dossier.resolved", t(10, 11), resolved_at=t(10, 11).isoformat(),
           return_method="postal"),
        ev("dossier.result_returned", t(11, 11), returned_at=t(11, 11).isoformat(),
           method="postal"),
        ev("dossier.result_returned", t(12, 11), returned_at=t(12, 11).isoformat(),
           method="counter"),
    ], RB)
    assert (f.unit_code, f.current_unit) == ("H26.06", "H26.07")
    assert f.apology_count == 2 and f.apology_timely is True and f.new_due_at == t(9, 11, 17)
    assert f.return_method == "postal" and f.returned_method == "postal"
    assert f.returned_at == t(11, 11) and f.end_kind == "resolved" and f.end_at == t(10, 11)
    assert f.closed_timeliness == "late"


@pytest.mark.parametrize(("kind", "field"), [("dossier.rejected", "rejected_at"),
                                             ("dossier.stopped", "stopped_at"),
                                             ("dossier.withdrawn", "withdrawn_at")])
def test_other_ends_keep_their_first_time(kind: str, field: str) -> None:
    f = fold("B", [received("B", t(2, 11), t(5, 11, 17)), ev(kind, t(3, 11), at=t(3, 11).isoformat()),
                   ev(kind, t(4, 11), at=t(4, 11).isoformat())], RB)
    assert getattr(f, field) == t(3, 11) and f.end_at == t(3, 11)
    assert f.end_kind == field.removesuffix("_at") and f.closed_timeliness == "early"
    assert f.processing_working_days is None  # only a resolution has a processing time


def test_an_end_while_paused_counts_the_pause_until_the_end() -> None:
    f = fold("C", [received("C", t(2, 11), t(5, 11, 17)),
                   ev("dossier.supplement_requested", t(3, 11), requested_at=t(3, 11).isoformat()),
                   ev("dossier.stopped", t(9, 11), at=t(9, 11).isoformat())], RB)
    assert f.pending_pause_since is None and f.paused_days == 4  # Wed 4 – Mon 9 November
    assert f.effective_due_at is not None and f.effective_due_at > t(5, 11, 17)
    assert f.closed_timeliness == "early"


def test_an_open_dossier_waits_for_its_supplement() -> None:
    f = fold("D", [received("D", t(2, 11), t(5, 11, 17)),
                   ev("dossier.supplement_requested", t(3, 11), requested_at=t(3, 11).isoformat())],
             RB)
    assert f.pending_pause_since == t(3, 11) and f.end_at is None and f.closed_timeliness is None


def test_a_finish_before_the_filing_has_no_deadline_facts_yet() -> None:
    f = fold("E", [resolved(t(3, 11))], RB)
    assert f.end_kind == "resolved" and f.due_at is None and f.closed_timeliness is None


def test_only_the_first_rating_counts() -> None:
    f = fold("F", [received("F", t(2, 11), t(5, 11, 17)), resolved(t(3, 11)),
                   rating(t(4, 11), "satisfied", {"decree61": [2] * 9, "sipas": {"access": 5}}),
                   rating(t(5, 11), "unsatisfied", None, unit="H26.07")], RB)
    assert (f.rating, f.rating_unit, f.decree61_total) == ("satisfied", "H26.06", 18)
    assert f.sipas == {"access": 5}
    g = fold("G", [rating(t(4, 11), "very_satisfied", None)], RB)
    assert g.decree61_total is None and g.sipas is None


def test_a_result_returned_in_a_later_period_counts_there() -> None:
    from datetime import date

    from services.metrics.domain.figures import Period, figures

    f = fold("R", [received("R", t(26, 10), t(29, 10, 17)), resolved(t(28, 10)),
                   ev("dossier.result_returned", t(3, 11), returned_at=t(3, 11).isoformat(),
                      method="postal")], RB)
    now = t(30, 11, 18)
    november = figures([f], [], Period.of(date(2026, 11, 1), date(2026, 11, 30), None, now))
    assert (november.population, november.returned) == (0, 1)
    assert november.returned_by_method["postal"] == 1 and november.postal_returned_share == 1.0
    october = figures([f], [], Period.of(date(2026, 10, 1), date(2026, 10, 31), None, now))
    assert (october.population, october.resolved, october.returned) == (1, 1, 0)


def test_the_index_s_on_time_rate_counts_two_supplement_requests_late() -> None:
    from datetime import date

    from services.metrics.domain.figures import Period, figures

    def dossier(code: str, requests: int) -> Facts:
        events = [received(code, t(2, 11), t(20, 11, 17))]
        for i in range(requests):
            events += [ev("dossier.supplement_requested", t(3 + 2 * i, 11),
                          requested_at=t(3 + 2 * i, 11).isoformat()),
                       ev("dossier.supplement_received", t(4 + 2 * i, 11),
                          received_at=t(4 + 2 * i, 11).isoformat())]
        return fold(code, [*events, resolved(t(10, 11))], RB)

    facts = [dossier("S0", 0), dossier("S1", 1), dossier("S2", 2)]
    g = figures(facts, [], Period.of(date(2026, 11, 1), date(2026, 11, 30), None, t(30, 11, 18)))
    assert (g.early, g.late, g.population) == (3, 0, 3)
    assert g.on_time_rate == 1.0 and g.multiple_supplement_requests == 1
    assert g.on_time_766 == 2 and g.on_time_rate_766 == round(2 / 3, 6)
