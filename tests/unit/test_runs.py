"""``shared.batching.runs`` (the runs of a batch a consumer applies together) and
``shared.rows``' statements of many rows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.batching import runs
from shared.rows import Table


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


def test_many_rows_are_one_json_array_read_as_the_table_row_type() -> None:
    table = Table("things", Row, "code")
    assert table.insert_many() == (
        "INSERT INTO things (code, n) SELECT code, n FROM json_populate_recordset("
        "NULL::things, $1::text::json) ORDER BY code ON CONFLICT (code) DO NOTHING")
    assert table.update_many() == (
        "UPDATE things AS t SET n = v.n FROM json_populate_recordset(NULL::things, "
        "$1::text::json) AS v WHERE t.code = v.code")
    assert table.json_rows([Row("a", 1), Row("b", 2)]) == \
        '[{"code":"a","n":1},{"code":"b","n":2}]'
    assert table.json_rows([Row("c", Decimal("1.10"))]) == '[{"code":"c","n":"1.10"}]'  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        table.json_rows([Row("d", object())])  # type: ignore[arg-type]
