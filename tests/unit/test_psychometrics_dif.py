"""Mantel–Haenszel DIF and the ETS classes (service/psychometrics/dif.py): a planted-DIF
simulation, hand-computed odds ratios and the classification boundaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chi2

from service.psychometrics.dif import chi2_1df_sf, ets_class, mantel_haenszel


@given(st.floats(min_value=0.0, max_value=400.0))
def test_chi_square_tail_with_one_degree_of_freedom_is_scipys(statistic: float) -> None:
    expected = float(chi2.sf(statistic, 1))
    assert chi2_1df_sf(statistic) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def _simulate(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """40 items, 1,000 reference and 1,000 focal persons from the same θ distribution; items 7
    and 23 are one logit harder for the focal group (true MH D-DIF ≈ −2.35 a)."""
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.2, 40)
    b = rng.normal(0.0, 1.0, 40)
    a[[7, 23]] = 1.2
    focal = np.repeat([False, True], 1000)
    theta = rng.normal(0.0, 1.0, 2000)
    shift = np.zeros((2000, 40))
    shift[focal, 7] = shift[focal, 23] = 1.0
    p = 1.0 / (1.0 + np.exp(-a * (theta[:, None] - b - shift)))
    return (rng.random((2000, 40)) < p).astype(np.float64), focal


@pytest.mark.parametrize("seed", [11, 12])
def test_planted_dif_items_are_class_c(seed: int) -> None:
    responses, focal = _simulate(seed)
    results = mantel_haenszel(responses, focal, [f"i{j}" for j in range(40)])
    assert results[7].ets_class == "C" and results[23].ets_class == "C"
    assert results[7].mh_d_dif < -1.5 and results[23].mh_d_dif < -1.5
    false_flags = [r.item_id for j, r in enumerate(results) if j not in (7, 23) and r.ets_class != "A"]
    assert len(false_flags) <= 1
    assert results[0].reference == 1000 and results[0].focal == 1000


def test_swapping_groups_negates_d_dif() -> None:
    responses, focal = _simulate(13)
    forward = mantel_haenszel(responses, focal, [f"i{j}" for j in range(40)])
    backward = mantel_haenszel(responses, ~focal, [f"i{j}" for j in range(40)])
    for f, b in zip(forward, backward, strict=True):
        assert f.mh_d_dif == pytest.approx(-b.mh_d_dif)
        assert f.se_d_dif == pytest.approx(b.se_d_dif)
        assert f.chi_square == pytest.approx(b.chi_square)


def test_one_stratum_by_hand() -> None:
    """Everyone has the same total on a two-item test where item 1 mirrors item 0, so there is one
    stratum and α_MH is the plain odds ratio A·D / (B·C)."""
    # reference: 30 right, 10 wrong; focal: 20 right, 20 wrong
    item = np.array([1] * 30 + [0] * 10 + [1] * 20 + [0] * 20, dtype=np.float64)
    responses = np.column_stack([item, 1 - item])
    focal = np.array([False] * 40 + [True] * 40)
    result = mantel_haenszel(responses, focal, ["x", "mirror"])[0]
    alpha = 30 * 20 / (10 * 20)
    assert result.mh_odds_ratio == pytest.approx(alpha)
    assert result.mh_d_dif == pytest.approx(-2.35 * math.log(alpha))
    # with one stratum RBG reduces to Woolf's variance 1/A + 1/B + 1/C + 1/D
    assert result.se_d_dif == pytest.approx(2.35 * math.sqrt(1 / 30 + 1 / 10 + 1 / 20 + 1 / 20))
    expected_a, variance = 40 * 50 / 80, 40 * 40 * 50 * 30 / (80 * 80 * 79)
    assert result.chi_square == pytest.approx((abs(30 - expected_a) - 0.5) ** 2 / variance)


def test_items_without_information_are_class_a_with_no_statistics() -> None:
    responses = np.ones((20, 3))
    responses[:10, 2] = 0
    results = mantel_haenszel(responses, [False] * 10 + [True] * 10, ["a", "b", "c"])
    assert all(r.ets_class == "A" and r.mh_d_dif is None for r in results)


def test_rows_with_missing_responses_are_left_out() -> None:
    responses, focal = _simulate(14)
    with_gap = responses.copy()
    with_gap[:5, 3] = np.nan
    results = mantel_haenszel(with_gap, focal, [f"i{j}" for j in range(40)])
    assert results[0].reference == 995


@pytest.mark.parametrize(
    ("d_dif", "se", "p_value", "expected"),
    [
        (0.9, 0.1, 0.001, "A"),  # |D| < 1
        (-2.0, 0.3, 0.2, "A"),  # not significant
        (1.2, 0.1, 0.001, "B"),  # 1 ≤ |D| < 1.5
        (-1.6, 0.3, 0.001, "C"),  # (1.6 − 1)/0.3 = 2.0 > 1.645
        (-1.6, 0.4, 0.001, "B"),  # (1.6 − 1)/0.4 = 1.5 < 1.645
        (1.5, 0.2, 0.001, "C"),  # (0.5)/0.2 = 2.5
        (-2.5, 0.5, 0.001, "C"),
    ],
)
def test_ets_classification_rule(d_dif: float, se: float, p_value: float, expected: str) -> None:
    assert ets_class(d_dif, se, p_value) == expected
