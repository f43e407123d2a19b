"""The 2025 one-stop rules as pure functions: which desks may receive a procedure, mergers
(who replaced whom, the roll-up for a period, the units in force), the filing checks that
follow from them, the desks' workload and the SQL roll-up expression."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.domain import forms
from services.intake.domain.filing import check_filing
from services.metrics.adapters.index766_store import Entry
from services.metrics.adapters.sql_figures import rolled_up, with_rolled_in
from services.metrics.domain.facts import Facts
from services.metrics.domain.figures import DeskCounts, Period, desk_counts
from services.metrics.domain.index766 import Counts
from services.metrics.service_layer.index766 import operator_counts
from shared.clock import VN
from shared.rulebook import Rulebook, load_rulebook, parse_rulebook
from shared.settings import DEFAULT_RULEBOOK
from tests.unit.test_forms import dossier

DEMO = load_rulebook(str(DEFAULT_RULEBOOK))
D1, D2 = date(2025, 7, 1), date(2026, 1, 1)


def book(**over: Any) -> dict[str, Any]:
    """A province of four communes where A merged into B on D1 and B into C on D2."""
    raw: dict[str, Any] = {
        "version": "t", "province": "Tỉnh Thử",
        "units": [{"code": "A", "name": "Xã A", "block": "commune"},
                  {"code": "B", "name": "Xã B", "block": "commune",
                   "replaces": [{"code": "A", "merged_on": D1.isoformat()}]},
                  {"code": "C", "name": "Xã C", "block": "commune",
                   "replaces": [{"code": "B", "merged_on": D2.isoformat()}]},
                  {"code": "S", "name": "Sở", "block": "department"}],
        "procedures": [{"code": "P", "name": "p", "processing_days": 5, "units": ["S"]},
                       {"code": "Q", "name": "q", "processing_days": 5, "units": ["S"],
                        "filing_desks": ["C"]},
                       {"code": "R", "name": "r", "processing_days": 5, "units": ["A", "B", "C"],
                        "filing_desks": "province"}]}
    raw.update(over)
    return raw


RB: Rulebook = parse_rulebook(book())


def test_which_desks_may_receive_a_procedure() -> None:
    p, q, r = (RB.procedure(c) for c in "PQR")
    assert p is not None and q is not None and r is not None
    assert [RB.may_receive(d, p) for d in ("S", "C")] == [True, False]  # competent only
    assert [RB.may_receive(d, q) for d in ("S", "C", "B")] == [True, True, False]  # listed
    assert all(RB.may_receive(d, r) for d in "ABCS")  # any desk of the province


def test_mergers_roll_up_along_their_chain_by_the_period_s_last_day() -> None:
    assert RB.merger_of("A") == ("B", D1) and RB.merger_of("C") is None
    assert RB.rollup(D1 - timedelta(days=1)) == {}
    assert RB.rollup(D1) == {"A": "B"}
    assert RB.rollup(D2) == {"A": "C", "B": "C"}
    assert [u.code for u in RB.in_force(D1)] == ["B", "C", "S"]
    assert [u.code for u in RB.in_force(D2)] == ["C", "S"]
    assert [(r.code, r.merged_on) for r in RB.rolled_into("C", D2)] == [("A", D1), ("B", D2)]
    assert RB.rolled_into("B", D2) == []  # B itself is gone then
    assert RB.reported_units("B", False, D1) == ["B", "A"]
    assert RB.reported_units("B", False, D1 - timedelta(days=1)) == ["B"]
    assert DEMO.rollup(date(2025, 7, 1)) == {"H26.901": "H26.101"}


@pytest.mark.parametrize(("units", "message"), [
    ([{"code": "A", "name": "a", "block": "x", "replaces": [{"code": "Z", "merged_on": "2025-07-01"}]}],
     "cannot replace Z"),
    ([{"code": "A", "name": "a", "block": "x", "replaces": [{"code": "A", "merged_on": "2025-07-01"}]}],
     "cannot replace A"),
    ([{"code": "A", "name": "a", "block": "x"},
      {"code": "B", "name": "b", "block": "x", "replaces": [{"code": "A", "merged_on": "2025-07-01"}]},
      {"code": "C", "name": "c", "block": "x", "replaces": [{"code": "A", "merged_on": "2025-07-01"}]}],
     "replaced by both B and C"),
    ([{"code": "A", "name": "a", "block": "x", "replaces": [{"code": "B", "merged_on": "2025-07-01"}]},
      {"code": "B", "name": "b", "block": "x", "replaces": [{"code": "A", "merged_on": "2025-07-01"}]}],
     "cycle"),
])
def test_a_rulebook_with_impossible_mergers_is_refused(units: list[dict[str, Any]],
                                                       message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_rulebook(book(units=units, procedures=[]))


def test_a_rulebook_listing_an_unknown_desk_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown units"):
        parse_rulebook(book(procedures=[{"code": "P", "name": "p", "processing_days": 1,
                                         "units": ["S"], "filing_desks": ["Z"]}]))


def fields(**kw: Any) -> list[str]:
    args = {"unit_code": "S", "procedure_code": "P", **kw}
    _, _, errors = check_filing(RB, args.pop("unit_code"), args.pop("procedure_code"),
                                "counter", "counter", **args)
    return [e.field for e in errors]


def test_the_filing_checks_of_desks_and_mergers() -> None:
    assert fields() == [] and fields(receiving_unit="S") == []
    assert fields(procedure_code="Q", receiving_unit="C") == []
    assert fields(procedure_code="Q", receiving_unit="B") == ["body:/receiving_unit"]
    assert fields(receiving_unit="NOPE") == ["body:/receiving_unit"]
    # A merged unit: history from before the merger is taken, nothing from the day it merged.
    assert fields(unit_code="A", procedure_code="R", day=D1 - timedelta(days=1)) == []
    assert fields(unit_code="A", procedure_code="R", day=D1) == ["body:/unit_code"]
    assert fields(procedure_code="R", unit_code="C", receiving_unit="B",
                  day=D2) == ["body:/receiving_unit"]
    _, _, errors = check_filing(RB, "A", "R", "counter", "counter", day=D2)
    assert errors[0].message == "unit A was merged into B on 01/07/2025"


VNT = datetime(2026, 11, 2, 9, tzinfo=VN)


def fact(code: str, unit: str, desk: str | None, received: datetime | None = VNT,
         returned: datetime | None = None, method: str | None = None) -> Facts:
    return Facts(code, unit_code=unit, receiving_unit=desk, received_at=received,
                 returned_at=returned, returned_method=method)


def test_each_desk_counts_what_it_received_handed_over_and_returned() -> None:
    p = Period.of(date(2026, 11, 1), date(2026, 11, 30), None, datetime(2027, 1, 1, tzinfo=VN))
    later = VNT + timedelta(days=5)
    facts = [fact("1", "S", "A", returned=later, method="counter"),
             fact("2", "S", "A", returned=later, method="postal"),
             fact("3", "A", None),  # received at its own desk
             fact("4", "S", "S", received=VNT - timedelta(days=40), returned=later,
                  method="counter"),  # received in September, returned in November
             fact("5", "S", "B", received=VNT - timedelta(days=40))]  # nothing in November
    assert desk_counts(facts, p) == {"A": DeskCounts(3, 2, 2, 1), "S": DeskCounts(0, 0, 1, 1)}
    assert desk_counts(facts, p, {"A": "B"}) == {"B": DeskCounts(3, 2, 2, 1),
                                                 "S": DeskCounts(0, 0, 1, 1)}


def test_the_sql_roll_up_names_each_merged_unit_s_successor() -> None:
    assert rolled_up("unit_code", {}) == "unit_code"
    assert rolled_up("u", {"B": "C", "A": "C"}) == "(CASE u WHEN 'A' THEN 'C' WHEN 'B' THEN 'C' ELSE u END)"
    with pytest.raises(ValueError):
        rolled_up("u", {"A'; DROP TABLE facts; --": "C"})
    assert with_rolled_in(["C", "S"], {"A": "C", "B": "C"}) == ["C", "S", "A", "B"]


def test_a_merged_unit_s_entries_add_to_its_successor_s_where_they_exist() -> None:
    p = Period.of(date(2025, 7, 1), date(2025, 7, 31), None, datetime(2026, 1, 1, tzinfo=VN))
    at = datetime(2025, 8, 1, tzinfo=VN)
    b = Entry("B", date(2025, 7, 1), "1.1", Counts(3, 4), "op", at)
    a = Entry("A", date(2025, 7, 1), "1.1", Counts(1, 1), "op", at)
    assert operator_counts([b, a], ["B"], p, ["A"])["1.1"] == Counts(4, 5)
    assert operator_counts([b], ["B"], p, ["A"])["1.1"] == Counts(3, 4)  # A entered nothing
    assert operator_counts([a], ["B"], p, ["A"])["1.1"] is None  # B's own is required


def test_the_receipt_of_another_desk_names_the_competent_unit() -> None:
    names = forms.Names("Sở Tư pháp", "Cấp phiếu lý lịch tư pháp", "Hải Phòng",
                        "Ủy ban nhân dân phường An Biên")
    form = forms.receipt(dossier(), names, "123456", "https://x/{code}", VNT)
    assert form.issuer == "Ủy ban nhân dân phường An Biên"
    assert ("Cơ quan giải quyết", "Sở Tư pháp") in form.lines
    own = forms.receipt(dossier(), forms.Names("Sở Tư pháp", "p", "Hải Phòng"), "1", "u", VNT)
    assert own.issuer == "Sở Tư pháp" and all(k != "Cơ quan giải quyết" for k, _ in own.lines)
