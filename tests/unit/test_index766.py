"""The Decision 766 index scores: a province's published figures to the cent, the rounding, the
empty, information-only and missing indicators, policy overrides, grades, and properties."""

from __future__ import annotations

import fractions
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.metrics.domain.index766 import (
    DEFAULT_POLICY,
    GROUPS,
    Counts,
    IndicatorPolicy,
    grade,
    points_for,
    points_lost_per_dossier,
    score,
    score_index,
)

D = Decimal


def pol(indicator_id: str) -> IndicatorPolicy:
    return DEFAULT_POLICY.indicator(indicator_id)


# The national portal's figures for one province, October 2026: (id, counts, ratio, points).
PUBLISHED = [
    ("2.1", Counts(393_087, 443_565), D("88.62"), D("17.72")),
    ("4.1", Counts(284_995, 443_565), D("64.25"), D("3.86")),
    ("4.3", Counts(1_863, 10_000), D("18.63"), D("0.47")),
    ("5.4", Counts(8_857, 10_000), D("88.57"), D("5.90")),
    ("5.2", Counts(4_969, 10_000), D("49.69"), D("2.98")),
]


@pytest.mark.parametrize(("indicator_id", "counts", "ratio", "points"), PUBLISHED)
def test_the_published_indicator_figures_to_the_cent(
        indicator_id: str, counts: Counts, ratio: Decimal, points: Decimal) -> None:
    s = score(counts, pol(indicator_id))
    assert (s.ratio, s.points) == (ratio, points)
    assert str(s.points) == str(points)  # two decimals, not merely an equal value
    assert not s.missing and not s.empty


# Counts whose group scores are the province's: 11.85, 17.72, 8.97, 9.08, 6.69, 11.18.
PROVINCE = {
    "1.1": Counts(10, 10), "1.2": Counts(5, 5), "1.3": Counts(0, 3), "1.4": Counts(185, 600),  # 6+4+0+1.85
    "2.1": Counts(393_087, 443_565), "2.2": Counts(2_661_390, 443_565),
    "3.1": Counts(299, 400),  # 12 × 74.75 %
    "3.2": Counts(127, 150), "3.3": Counts(80, 100), "3.4": Counts(9, 10),  # 5.08 + 2 + 2
    "4.1": Counts(284_995, 443_565), "4.2": Counts(59, 100), "4.3": Counts(1_863, 10_000),  # 3.86+2.36+0.47
    "4.4": Counts(0, 50), "4.5": Counts(0, 50), "4.6": Counts(0, 4), "4.7": Counts(0, 4),
    "5.1": Counts(37, 1), "5.2": Counts(4_969, 10_000), "5.3": Counts(23, 60), "5.4": Counts(8_857, 10_000),
}


def test_the_province_total_is_the_sum_of_its_groups_and_grades_average() -> None:
    result = score_index(PROVINCE)
    assert [(g.id, g.score) for g in result.groups] == [
        ("transparency", D("11.85")), ("progress", D("17.72")), ("online_service", D("8.97")),
        ("online_payment", D("9.08")), ("digitisation", D("6.69")), ("satisfaction", D("11.18"))]
    assert result.total == sum((g.score for g in result.groups), D(0)) == D("65.49")
    assert str(result.total) == "65.49"
    assert (result.grade.key, result.grade.label_vi) == ("average", "trung bình")
    assert result.complete and result.missing == ()
    assert result.max_total == D(100)


def test_indicators_and_groups_come_in_table_order_with_their_maxima() -> None:
    result = score_index(PROVINCE)
    assert [s.id for s in result.indicators] == [
        "1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "3.1", "3.2", "3.3", "3.4",
        "4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "5.1", "5.2", "5.3", "5.4"]
    assert [(g.id, g.max_points) for g in result.groups] == [
        ("transparency", D(18)), ("progress", D(20)), ("online_service", D(12)),
        ("online_payment", D(10)), ("digitisation", D(22)), ("satisfaction", D(18))]
    assert [g[0] for g in GROUPS] == [g.id for g in result.groups]
    thresholds = {p.id: p.threshold for p in DEFAULT_POLICY.indicators if p.threshold != 100}
    assert thresholds == {"3.3": D(80), "3.4": D(80), "4.3": D(80), "5.4": D(90)}
    operator = {p.id for p in DEFAULT_POLICY.indicators if p.source == "operator"}
    assert operator == {"1.1", "1.2", "1.3", "4.6", "4.7"}


def test_ratio_and_points_round_half_up_not_to_even() -> None:
    assert score(Counts(2_469, 20_000), pol("2.1")).ratio == D("12.35")  # exactly 12.345 %
    assert score(Counts(1, 800), pol("2.1")).ratio == D("0.13")  # exactly 0.125 %
    assert score(Counts(1, 48), pol("4.1")).points == D("0.13")  # exactly 6 × 1/48 = 0.125
    assert score(Counts(1, 3), pol("2.1")).ratio == D("33.33")  # and down below the half


def test_points_come_from_the_unrounded_ratio() -> None:
    s = score(Counts(2_084, 100_000), pol("4.1"))  # 2.084 %: 6 × 2.084 % = 0.12504
    assert s.ratio == D("2.08")
    assert s.points == D("0.13")  # 6 × 2.08 % would give 0.1248 → 0.12


def test_a_share_at_or_above_the_threshold_earns_full_points() -> None:
    assert score(Counts(80, 100), pol("3.3")).points == D("2.00")
    assert score(Counts(79, 100), pol("3.3")).points == D("1.98")  # 2 × 79 / 80 = 1.975
    assert score(Counts(95, 100), pol("5.4")).points == D("6.00")


@pytest.mark.parametrize(("rule", "complaints", "dossiers"), [
    ("full", D("6.00"), D("20.00")), ("zero", D("0.00"), D("0.00"))])
def test_an_empty_indicator_follows_its_policy(rule: str, complaints: Decimal, dossiers: Decimal) -> None:
    policy = DEFAULT_POLICY.with_overrides({"5.2": {"empty": rule}, "2.1": {"empty": rule}})
    s = score(Counts(0, 0), policy.indicator("5.2"))
    assert (s.points, s.ratio, s.empty, s.missing) == (complaints, None, True, False)
    assert score(Counts(0, 0), policy.indicator("2.1")).points == dossiers


def test_by_default_no_complaint_scores_full_and_no_dossier_scores_zero() -> None:
    assert score(Counts(0, 0), pol("5.2")).points == D("6.00")
    assert score(Counts(0, 0), pol("5.3")).points == D("6.00")
    assert score(Counts(0, 0), pol("2.1")).points == D("0.00")
    assert score(Counts(0, 0), pol("4.1")).points == D("0.00")


def test_information_only_indicators_carry_a_value_but_no_points() -> None:
    s = score(Counts(100, 8), pol("2.2"))  # e.g. 100 working days over 8 dossiers
    assert (s.value, s.points, s.max_points, s.ratio, s.missing) == (D("12.50"), D("0.00"), D(0), None, False)
    result = score_index({**PROVINCE, "2.2": None, "5.1": Counts(0, 0)})
    assert result.complete  # no value is not missing input
    assert result.total == D("65.49")


def test_missing_operator_input_marks_the_total_incomplete() -> None:
    inputs = {k: v for k, v in PROVINCE.items() if k not in ("1.1", "4.7")}
    result = score_index({**inputs, "1.2": None})
    assert (result.complete, result.missing) == (False, ("1.1", "1.2", "4.7"))
    assert result.total == D("65.49") - D(6) - D(4)  # 1.1 and 1.2 were full; they earn nothing now
    missing = [s for s in result.indicators if s.missing]
    assert [(s.id, s.points, s.ratio) for s in missing] == [(i, D(0), None) for i in ("1.1", "1.2", "4.7")]
    assert result.grade.key == "average"  # graded on the 55.49 points earned so far


def test_a_scored_indicator_without_counts_is_missing_whatever_its_source() -> None:
    assert score(None, pol("2.1")).missing  # counted from events: an empty population is Counts(0, 0)
    assert score(None, pol("4.6")).missing
    assert not score(None, pol("5.1")).missing  # information only
    assert score_index({**PROVINCE, "2.1": None}).missing == ("2.1",)


def test_operator_input_may_be_entered_as_a_percentage() -> None:
    assert Counts.from_percent(D("18.63")) == Counts(1_863, 10_000)
    assert score(Counts.from_percent(D("100")), pol("1.1")).points == D("6.00")
    with pytest.raises(ValueError):
        Counts.from_percent(D("NaN"))


def test_inputs_that_cannot_be_scored_are_refused() -> None:
    with pytest.raises(ValueError):
        Counts(-1, 3)
    with pytest.raises(ValueError):
        score(Counts(4, 3), pol("2.1"))
    with pytest.raises(ValueError, match=r"9\.9"):
        score_index({**PROVINCE, "9.9": Counts(1, 1)})


def test_overrides_change_only_what_they_name() -> None:
    policy = DEFAULT_POLICY.with_overrides({"3.3": {"threshold": 70}, "2.1": {"max_points": "25"}})
    assert score(Counts(70, 100), policy.indicator("3.3")).points == D("2.00")
    assert score(Counts(70, 100), pol("3.3")).points == D("1.75")  # the default is untouched
    assert policy.indicator("3.3").max_points == 2 and policy.indicator("3.3").empty == "zero"
    assert policy.group_max("progress") == 25
    assert score_index(PROVINCE, policy).max_total == 105
    assert DEFAULT_POLICY.with_overrides({"3.3": {"threshold": 70.5}}).indicator("3.3").threshold == D("70.5")


@pytest.mark.parametrize("overrides", [
    {"9.9": {"threshold": 50}},
    {"3.3": {"threshold": 0}},
    {"3.3": {"threshold": -10}},
    {"3.3": {"threshold": 101}},
    {"3.3": {"threshold": "seventy"}},
    {"3.3": {"threshold": True}},
    {"3.3": {"max_points": -1}},
    {"3.3": {"empty": "half"}},
    {"3.3": {"weight": 2}},
    {"2.2": {"max_points": 5}},
])
def test_invalid_overrides_are_refused(overrides: dict[str, dict[str, object]]) -> None:
    with pytest.raises(ValueError):
        DEFAULT_POLICY.with_overrides(overrides)


@pytest.mark.parametrize(("total", "key", "label"), [
    ("100", "excellent", "xuất sắc"), ("90", "excellent", "xuất sắc"), ("89.99", "good", "tốt"),
    ("80", "good", "tốt"), ("79.99", "fair", "khá"), ("70", "fair", "khá"),
    ("69.99", "average", "trung bình"), ("50", "average", "trung bình"), ("49.99", "weak", "yếu"),
    ("0", "weak", "yếu"),
])
def test_grade_boundaries(total: str, key: str, label: str) -> None:
    g = grade(D(total))
    assert (g.key, g.label_vi) == (key, label)


def test_a_total_below_every_band_has_no_grade() -> None:
    with pytest.raises(ValueError):
        grade(D("-0.01"))


def test_points_lost_per_dossier() -> None:
    assert points_lost_per_dossier(10, 10, pol("2.1")) == D("2.00")
    assert points_lost_per_dossier(0, 10, pol("2.1")) == D("0.00")
    assert points_lost_per_dossier(10, 10, pol("3.3")) == D("0.00")  # 90 % is still above T = 80
    assert points_lost_per_dossier(8, 10, pol("3.3")) == D("0.25")  # 2.00 → 1.75
    # At the province's size one late dossier is 20 / 443,565 points: it shows only across a cent.
    assert points_lost_per_dossier(393_087, 443_565, pol("2.1")) == D("0.00")
    assert points_lost_per_dossier(392_888, 443_565, pol("2.1")) == D("0.01")
    assert points_for(392_887, 443_565, pol("2.1")) == D("17.71")


def _exact_points(n: int, d: int, p: Decimal, t: Decimal) -> Decimal:
    """An independent oracle: P × min(1, R / T) with the standard library's exact fractions."""
    r = fractions.Fraction(100 * n, d)
    value = fractions.Fraction(p) * min(fractions.Fraction(1), r / fractions.Fraction(t))
    cents = value * 100
    whole = cents.numerator // cents.denominator
    return D(whole + (1 if cents - whole >= fractions.Fraction(1, 2) else 0)) / 100


maxima = st.decimals(min_value=0, max_value=50, places=2)
thresholds = st.decimals(min_value=D("0.01"), max_value=100, places=2)


@st.composite
def counts(draw: st.DrawFn) -> Counts:
    d = draw(st.integers(min_value=1, max_value=10**7))
    return Counts(draw(st.integers(min_value=0, max_value=d)), d)


@settings(max_examples=150, deadline=None)
@given(maxima, thresholds, counts(), counts())
def test_points_stay_within_the_maximum_and_rise_with_the_ratio(
        p: Decimal, t: Decimal, a: Counts, b: Counts) -> None:
    policy = replace(pol("2.1"), max_points=p, threshold=t)
    if a.numerator * b.denominator > b.numerator * a.denominator:
        a, b = b, a  # now a's ratio ≤ b's
    low, high = score(a, policy).points, score(b, policy).points
    assert D(0) <= low <= high <= p
    assert low == _exact_points(a.numerator, a.denominator, p, t)
