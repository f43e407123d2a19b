"""The scores of the national index of Decision 766/QĐ-TTg (Bộ chỉ số 766), as pure functions.

* An indicator is a share R = numerator / denominator in percent, with a maximum P and a
  threshold T (percent). It earns P × min(1, R / T) points, from the exact, unrounded share,
  rounded half-up to 2 decimals; the share shown is rounded half-up to 2 decimals too. Both are
  rounded once, from the exact fraction. A group scores the sum of its indicators' points, out
  of the sum of their P; the total is the sum of the groups (out of 100 by default).
* An empty indicator (denominator 0) shows no share and earns, per its policy, full points
  ("full", the default for 5.2 and 5.3: no complaint means none was handled late) or none
  ("zero", the default for the indicators counted on dossiers).
* Information-only indicators (P = 0: 2.2 average processing time, 5.1 complaints by category)
  score 0 of 0 and carry a value: numerator / denominator, not a percentage.
* Operator-input indicators (1.1, 1.2, 1.3, 4.6, 4.7) are entered per unit and period as counts
  or a percentage (``Counts.from_percent``). Until entered they are *missing*: they earn nothing
  and the total is incomplete, listing the missing ids. So is any scored indicator given no
  counts (``None`` or absent); an empty population is ``Counts(0, 0)``, not ``None``.
* An incomplete total is still graded on the points earned so far (missing indicators can only
  add points, so that grade is a floor); ``complete=False`` and ``missing`` say so.
* Grades: ≥ 90 excellent (xuất sắc), ≥ 80 good (tốt), ≥ 70 fair (khá), ≥ 50 average
  (trung bình), below 50 weak (yếu).

P, T, the empty rule and the grade bands are policy: ``DEFAULT_POLICY`` follows the decision's
table; ``DEFAULT_POLICY.with_overrides({...})`` changes P, T or the empty rule per indicator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Literal

EmptyRule = Literal["full", "zero"]
Source = Literal["events", "operator", "info"]

_ZERO = Decimal("0.00")
_OVERRIDABLE = frozenset({"max_points", "threshold", "empty"})


def _half_up(num: int, den: int) -> Decimal:
    """The exact fraction num / den (num ≥ 0, den > 0) rounded half-up to 2 decimals."""
    return Decimal(f"{(200 * num + den) // (2 * den)}E-2")  # from a string: exact in any context


@dataclass(frozen=True)
class Counts:
    """An indicator's numerator and denominator for one unit and period."""

    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        for v in (self.numerator, self.denominator):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"counts are integers ≥ 0, got {v!r}")

    @classmethod
    def from_percent(cls, percent: Decimal) -> Counts:
        """An operator-entered percentage, exactly: ``Decimal("18.63")`` is 1863 / 10000."""
        if not percent.is_finite():
            raise ValueError(f"not a percentage: {percent}")
        num, den = percent.as_integer_ratio()
        return cls(num, den * 100)


@dataclass(frozen=True)
class IndicatorPolicy:
    id: str
    group: str
    name_vi: str
    name_en: str
    max_points: Decimal  # P
    threshold: Decimal  # T, percent, in (0, 100]
    empty: EmptyRule
    source: Source

    def __post_init__(self) -> None:
        problem = (
            "unknown group" if self.group not in {g[0] for g in GROUPS}
            else "empty must be 'full' or 'zero'" if self.empty not in ("full", "zero")
            else "unknown source" if self.source not in ("events", "operator", "info")
            else "max_points must be ≥ 0" if not (self.max_points.is_finite() and self.max_points >= 0)
            else "an information-only indicator has no points" if self.source == "info" and self.max_points
            else "threshold must be in (0, 100]"
            if not (self.threshold.is_finite() and 0 < self.threshold <= 100)
            else None
        )
        if problem:
            raise ValueError(f"indicator {self.id}: {problem}")


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{what}: not a number: {value!r}")
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what}: not a number: {value!r}") from None


def _override(p: IndicatorPolicy, fields: Mapping[str, object]) -> IndicatorPolicy:
    unknown = sorted(set(fields) - _OVERRIDABLE)
    if unknown:
        raise ValueError(f"indicator {p.id}: cannot override {unknown}; only {sorted(_OVERRIDABLE)}")
    empty = fields.get("empty", p.empty)
    if empty not in ("full", "zero"):
        raise ValueError(f"indicator {p.id}: empty must be 'full' or 'zero', got {empty!r}")
    return replace(
        p,
        max_points=_decimal(fields.get("max_points", p.max_points), f"{p.id}.max_points"),
        threshold=_decimal(fields.get("threshold", p.threshold), f"{p.id}.threshold"),
        empty=empty,
    )


@dataclass(frozen=True)
class Index766Policy:
    indicators: tuple[IndicatorPolicy, ...]  # in table order

    def __post_init__(self) -> None:
        ids = [p.id for p in self.indicators]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate indicator ids in {ids}")

    def indicator(self, id: str) -> IndicatorPolicy:
        for p in self.indicators:
            if p.id == id:
                return p
        raise KeyError(id)

    def group_max(self, group: str) -> Decimal:
        """A group's maximum: the sum of its indicators' P."""
        return sum((p.max_points for p in self.indicators if p.group == group), Decimal(0))

    def with_overrides(self, overrides: Mapping[str, Mapping[str, object]]) -> Index766Policy:
        """This policy with P, T or the empty rule changed per indicator id, from plain data such as
        ``{"3.3": {"threshold": 70}, "5.2": {"empty": "zero"}}``; ValueError on anything invalid."""
        unknown = sorted(set(overrides) - {p.id for p in self.indicators})
        if unknown:
            raise ValueError(f"unknown indicator ids: {unknown}")
        return Index766Policy(tuple(_override(p, overrides[p.id]) if p.id in overrides else p
                                    for p in self.indicators))


_Row = tuple[str, int, int, Source, str, str]  # id, P, T, source, Vietnamese and English names
_TABLE: tuple[tuple[str, str, str, tuple[_Row, ...]], ...] = (  # groups in table order, their indicators
    ("transparency", "Công khai, minh bạch", "Transparency", (
        ("1.1", 6, 100, "operator", "Công bố TTHC đúng hạn", "Procedures published on time"),
        ("1.2", 4, 100, "operator", "Cập nhật, công khai TTHC đúng hạn", "Procedures updated on time"),
        ("1.3", 2, 100, "operator", "Công khai đầy đủ nội dung TTHC", "Procedures with full content"),
        ("1.4", 6, 100, "events", "Đồng bộ hồ sơ lên Cổng DVC quốc gia", "Dossiers synced to the portal"),
    )),
    ("progress", "Tiến độ giải quyết", "Progress", (
        ("2.1", 20, 100, "events", "Giải quyết trước hạn, đúng hạn", "Resolved early or on time"),
        ("2.2", 0, 100, "info", "Thời gian giải quyết trung bình", "Average processing time"),
    )),
    ("online_service", "Dịch vụ công trực tuyến", "Online service", (
        ("3.1", 12, 100, "events", "Cung cấp, sử dụng DVC trực tuyến", "Online service provided and used"),
    )),
    ("online_payment", "Thanh toán trực tuyến", "Online payment", (
        ("3.2", 6, 100, "events", "Hồ sơ thanh toán trực tuyến", "Dossiers paid online"),
        ("3.3", 2, 80, "events", "TTHC có phí có thanh toán trực tuyến", "Fee procedures payable online"),
        ("3.4", 2, 80, "events", "TTHC có phí phát sinh hồ sơ", "Fee procedures that had dossiers"),
    )),
    ("digitisation", "Số hóa hồ sơ", "Digitisation", (
        ("4.1", 6, 100, "events", "Cấp kết quả điện tử", "Electronic result issued"),
        ("4.2", 4, 100, "events", "Số hóa hồ sơ", "Dossier digitised"),
        ("4.3", 2, 80, "events", "Tái sử dụng dữ liệu số hóa", "Digitised data reused"),
        ("4.4", 4, 100, "events", "Chia sẻ vào kho dữ liệu công dân", "Shared to the citizen's data store"),
        ("4.5", 2, 100, "events", "Sử dụng dữ liệu dân cư", "Population data used"),
        ("4.6", 2, 100, "operator", "TTHC kết nối dữ liệu dân cư", "Procedures using population data"),
        ("4.7", 2, 100, "operator", "Chứng thực bản sao điện tử", "Electronic certified copies"),
    )),
    ("satisfaction", "Mức độ hài lòng", "Satisfaction", (
        ("5.1", 0, 100, "info", "Phản ánh, kiến nghị theo lĩnh vực", "Complaints by category"),
        ("5.2", 6, 100, "events", "Xử lý phản ánh, kiến nghị đúng hạn", "Complaints handled on time"),
        ("5.3", 6, 100, "events", "Hài lòng về xử lý phản ánh", "Satisfaction with complaint handling"),
        ("5.4", 6, 90, "events", "Hài lòng trong giải quyết TTHC", "Satisfaction in dossier handling"),
    )),
)
GROUPS: tuple[tuple[str, str, str], ...] = tuple((g, vi, en) for g, vi, en, _ in _TABLE)
DEFAULT_POLICY = Index766Policy(tuple(IndicatorPolicy(
    i, g, vi, en, Decimal(p), Decimal(t), "full" if i in ("5.2", "5.3") else "zero", s)
    for g, _, _, rows in _TABLE for i, p, t, s, vi, en in rows))


@dataclass(frozen=True)
class IndicatorScore:
    id: str
    group: str
    numerator: int | None
    denominator: int | None
    ratio: Decimal | None  # percent, 2 dp half-up; None when empty, missing or information-only
    points: Decimal  # 2 dp
    max_points: Decimal
    threshold: Decimal
    missing: bool
    empty: bool
    value: Decimal | None = None  # information-only: numerator / denominator, 2 dp half-up


def _points(n: int, d: int, p: IndicatorPolicy) -> Decimal:
    pa, pb = p.max_points.as_integer_ratio()
    ta, tb = p.threshold.as_integer_ratio()
    if 100 * n * tb >= ta * d:  # R ≥ T
        return _half_up(pa, pb)
    return _half_up(pa * 100 * n * tb, pb * d * ta)  # P × R / T, exactly, then rounded


def score(counts: Counts | None, policy: IndicatorPolicy) -> IndicatorScore:
    """One indicator's score; ValueError when a scored indicator's numerator exceeds its denominator."""
    p = policy
    if counts is None:
        return IndicatorScore(p.id, p.group, None, None, None, _ZERO, p.max_points, p.threshold,
                              missing=p.source != "info", empty=False)
    n, d = counts.numerator, counts.denominator
    if p.source == "info":
        return IndicatorScore(p.id, p.group, n, d, None, _ZERO, p.max_points, p.threshold, False, d == 0,
                              None if d == 0 else _half_up(n, d))
    if n > d:
        raise ValueError(f"indicator {p.id}: numerator {n} exceeds denominator {d}")
    if d == 0:
        points = _half_up(*p.max_points.as_integer_ratio()) if p.empty == "full" else _ZERO
        return IndicatorScore(p.id, p.group, n, d, None, points, p.max_points, p.threshold, False, True)
    return IndicatorScore(p.id, p.group, n, d, _half_up(100 * n, d), _points(n, d, p), p.max_points,
                          p.threshold, False, False)


@dataclass(frozen=True)
class Grade:
    key: str
    label_vi: str
    minimum: Decimal


GRADE_BANDS: tuple[Grade, ...] = (
    Grade("excellent", "xuất sắc", Decimal(90)),
    Grade("good", "tốt", Decimal(80)),
    Grade("fair", "khá", Decimal(70)),
    Grade("average", "trung bình", Decimal(50)),
    Grade("weak", "yếu", Decimal(0)),
)


def grade(total: Decimal, bands: Sequence[Grade] = GRADE_BANDS) -> Grade:
    """The band with the highest minimum ≤ total; ValueError below every band."""
    for band in sorted(bands, key=lambda b: b.minimum, reverse=True):
        if total >= band.minimum:
            return band
    raise ValueError(f"no grade band for {total}")


@dataclass(frozen=True)
class GroupScore:
    id: str
    name_vi: str
    name_en: str
    score: Decimal
    max_points: Decimal


@dataclass(frozen=True)
class IndexScore:
    indicators: tuple[IndicatorScore, ...]  # in table order
    groups: tuple[GroupScore, ...]  # in table order
    total: Decimal
    max_total: Decimal
    grade: Grade  # of the points earned so far, also when incomplete
    complete: bool
    missing: tuple[str, ...]  # ids of the scored indicators without input


def score_index(inputs: Mapping[str, Counts | None], policy: Index766Policy = DEFAULT_POLICY,
                bands: Sequence[Grade] = GRADE_BANDS) -> IndexScore:
    """The whole index from each indicator's counts by id. An absent id counts as ``None``: missing
    for a scored indicator (the total is then incomplete but still graded, see the module
    docstring), no value for an information-only one. ValueError on ids the policy does not know."""
    unknown = sorted(set(inputs) - {p.id for p in policy.indicators})
    if unknown:
        raise ValueError(f"unknown indicator ids: {unknown}")
    scores = tuple(score(inputs.get(p.id), p) for p in policy.indicators)
    groups = tuple(GroupScore(gid, vi, en, sum((s.points for s in scores if s.group == gid), _ZERO),
                              policy.group_max(gid)) for gid, vi, en in GROUPS)
    total = sum((g.score for g in groups), _ZERO)
    missing = tuple(s.id for s in scores if s.missing)
    return IndexScore(scores, groups, total, sum((g.max_points for g in groups), Decimal(0)),
                      grade(total, bands), not missing, missing)


def points_for(numerator: int, denominator: int, policy: IndicatorPolicy) -> Decimal:
    """The points an indicator would earn with these counts (empty rule included)."""
    return score(Counts(numerator, denominator), policy).points


def points_lost_per_dossier(numerator: int, denominator: int, policy: IndicatorPolicy) -> Decimal:
    """The rounded points lost if one more dossier of the same population misses the indicator
    (for 2.1: becomes late): points with ``numerator`` minus points with ``numerator - 1``. Zero
    when the numerator is 0, or while the share stays at or above a threshold below 100 %."""
    if numerator == 0:
        return _ZERO
    return points_for(numerator, denominator, policy) - points_for(numerator - 1, denominator, policy)
