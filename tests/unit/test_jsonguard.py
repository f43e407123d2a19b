"""The JSON depth guard: deep nesting is refused, brackets inside strings do not count, and
chunk boundaries change nothing."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from shared.jsonguard import JsonDepthGuard


def check(body: bytes, max_depth: int = 64, chunk: int = 7) -> bool:
    guard = JsonDepthGuard(max_depth)
    return all(guard.feed(body[i:i + chunk]) for i in range(0, len(body), chunk))


def test_deep_nesting_is_refused_and_shallow_accepted() -> None:
    assert check(b"[" * 64 + b"]" * 64)
    assert not check(b"[" * 65 + b"]" * 65)
    assert not check(b'{"a":' * 100 + b"1" + b"}" * 100)


def test_brackets_inside_strings_do_not_count() -> None:
    assert check(json.dumps({"note": "[" * 500 + '\\" {{{'}).encode(), max_depth=2)


@given(st.recursive(st.integers() | st.text(max_size=5),
                    lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=3), children, max_size=3), max_leaves=30),
       st.integers(min_value=1, max_value=50))
def test_agrees_with_the_true_depth(value: object, chunk: int) -> None:
    def depth(v: object) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    body = json.dumps(value).encode()
    assert check(body, max_depth=3, chunk=chunk) == (depth(value) <= 3)
