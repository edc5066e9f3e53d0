"""Agreement measures (service/scoring/agreement.py) as pure functions: hand-computed values and
properties that hold for any set of rating pairs (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.scoring.agreement import agreement, quadratic_weighted_kappa

CATEGORIES = 5
pairs_strategy = st.lists(
    st.tuples(st.integers(0, CATEGORIES - 1), st.integers(0, CATEGORIES - 1)), min_size=0, max_size=60
)


def test_hand_computed_figures():
    # (2,2) exact; (1,3) two apart; (0,1) adjacent: exact 1/3, adjacent 2/3, kappa 2/7 (tests/test_ratings_flow.py)
    found = agreement([(2, 2), (1, 3), (0, 1)], 4)
    assert found.pairs == 3 and found.exact == pytest.approx(1 / 3) and found.adjacent == pytest.approx(2 / 3)
    assert found.quadratic_weighted_kappa == pytest.approx(2 / 7)
    assert agreement([], 4).exact is None and agreement([], 4).pairs == 0
    assert quadratic_weighted_kappa([(0, 0)], 4) is None  # one pair: undefined
    assert quadratic_weighted_kappa([(0, 1), (1, 0)], 2) == pytest.approx(-1.0)
    # Off by one everywhere on a 5-point scale: good but not perfect agreement.
    assert 0.5 < quadratic_weighted_kappa([(0, 1), (1, 2), (2, 3), (3, 4), (4, 4), (0, 0)], 5) < 1


@given(pairs_strategy)
def test_shares_are_ordered_and_bounded(pairs: list[tuple[int, int]]):
    found = agreement(pairs, CATEGORIES)
    assert found.pairs == len(pairs)
    if pairs:
        assert found.exact is not None and found.adjacent is not None
        assert 0 <= found.exact <= found.adjacent <= 1
    else:
        assert found.exact is found.adjacent is found.quadratic_weighted_kappa is None


@given(pairs_strategy)
def test_kappa_is_symmetric_at_most_one_and_one_for_perfect_agreement(pairs: list[tuple[int, int]]):
    kappa = quadratic_weighted_kappa(pairs, CATEGORIES)
    swapped = quadratic_weighted_kappa([(b, a) for a, b in pairs], CATEGORIES)
    if kappa is None:
        assert swapped is None
        return
    assert swapped == pytest.approx(kappa)
    assert kappa <= 1 + 1e-9  # observed disagreement is never negative
    if all(a == b for a, b in pairs):
        assert kappa == pytest.approx(1.0)


@given(pairs_strategy)
def test_kappa_does_not_depend_on_the_order_of_pairs(pairs: list[tuple[int, int]]):
    kappa = quadratic_weighted_kappa(pairs, CATEGORIES)
    backwards = quadratic_weighted_kappa(list(reversed(pairs)), CATEGORIES)
    assert (kappa is None and backwards is None) or backwards == pytest.approx(kappa)


@given(st.lists(st.integers(0, CATEGORIES - 1), min_size=2, max_size=40).filter(lambda v: len(set(v)) > 1))
def test_kappa_of_identical_ratings_with_variance_is_one(values: list[int]):
    assert quadratic_weighted_kappa([(v, v) for v in values], CATEGORIES) == pytest.approx(1.0)
