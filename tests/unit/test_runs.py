"""``shared.batching.runs`` (the runs of a batch a consumer applies together) and
``shared.rows`` multi-row INSERTs."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from shared.batching import runs
from shared.rows import MAX_PARAMETERS, Table, value_rows


def test_runs_cut_at_others_and_at_a_key_seen_twice() -> None:
    items = ["a1", "b1", "x", "c1", "a1", "b2", "y", "z"]
    got = list(runs(items, lambda s: s[0] in "abc", lambda s: s[0]))
    assert got == [(True, ["a1", "b1"]), (False, ["x"]), (True, ["c1", "a1", "b2"]),
                   (False, ["y"]), (False, ["z"])]
    assert list(runs([], lambda s: True, lambda s: s)) == []


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 4)), max_size=40))
def test_runs_keep_every_item_in_order_with_distinct_keys_in_each_run(
        items: list[tuple[bool, int]]) -> None:
    got = list(runs(items, lambda i: i[0], lambda i: i[1]))
    assert [i for _, run in got for i in run] == items
    for together, run in got:
        assert all(i[0] == together for i in run)
        assert together or len(run) == 1
        assert len({i[1] for i in run}) == len(run)
    for (a, first), (b, second) in pairwise(got):
        if a and b:  # two runs in a row: cut where the second's first key was seen
            assert second[0][1] in {i[1] for i in first}


@dataclass
class Row:
    code: str
    n: int


def test_a_multi_row_insert_numbers_its_parameters_row_after_row() -> None:
    table = Table("things", Row, "code")
    assert value_rows(2, 3, first=4) == "($4, $5, $6), ($7, $8, $9)"
    assert table.insert(rows=2) == ("INSERT INTO things (code, n) VALUES ($1, $2), ($3, $4) "
                                    "ON CONFLICT (code) DO NOTHING")
    assert table.insert_values(Row("a", 1), Row("b", 2)) == ["a", 1, "b", 2]
    assert table.most_rows() * 2 <= MAX_PARAMETERS < (table.most_rows() + 1) * 2
