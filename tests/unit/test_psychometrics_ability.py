"""Response functions, EAP ability estimates, the reported scale and θ cut points
(service/psychometrics/response.py and ability.py), checked against independent computations:
finite differences, scipy's adaptive quadrature, the 2PL formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import minimize_scalar
from scipy.special import expit
from scipy.stats import norm

from service.psychometrics.ability import (
    estimate_abilities,
    estimate_ability,
    expected_percentage,
    ml_abilities,
    scale_transform,
    theta_cuts,
)
from service.psychometrics.model import ItemParameters
from service.psychometrics.response import (
    PackedItems,
    category_probabilities,
    expected_scores,
    item_information,
)
from tests.psychometrics_simulation import simulate_2pl

items_strategy = st.lists(
    st.tuples(
        st.floats(0.3, 2.5),
        st.floats(-2.5, 1.0),
        st.lists(st.floats(0.2, 1.2), min_size=0, max_size=3),
    ),
    min_size=1,
    max_size=8,
).map(
    lambda rows: [
        ItemParameters(
            item_id=f"i{j}",
            model="GRM" if gaps else "2PL",
            discrimination=a,
            thresholds=tuple(float(t) for t in np.cumsum([first, *gaps])),
        )
        for j, (a, first, gaps) in enumerate(rows)
    ]
)


def _likelihood(theta: float, items: list[ItemParameters], codes: list[int | None]) -> float:
    """Independent GRM likelihood for one θ, written with scalars."""
    value = 1.0
    for item, code in zip(items, codes, strict=True):
        if code is None:
            continue
        star = [1.0] + [float(expit(item.discrimination * (theta - b))) for b in item.thresholds] + [0.0]
        value *= star[code] - star[code + 1]
    return value


@settings(max_examples=20, deadline=None)
@given(items=items_strategy, data=st.data())
def test_eap_matches_adaptive_quadrature(items: list[ItemParameters], data: st.DataObject) -> None:
    codes = [data.draw(st.none() | st.integers(0, item.categories - 1)) for item in items]
    row = np.array([[np.nan if c is None else float(c) for c in codes]])
    estimate = estimate_abilities(row, items)[0]

    def moment(power: int, tolerance: float) -> float:
        return quad(
            lambda t: t**power * _likelihood(t, items, codes) * norm.pdf(t),
            -10,
            10,
            epsabs=tolerance,
            limit=200,
        )[0]

    mass = moment(0, 1e-14)
    mean = moment(1, 1e-10 * mass) / mass
    sd = math.sqrt(moment(2, 1e-10 * mass) / mass - mean**2)
    assert estimate.theta == pytest.approx(mean, abs=1e-5)
    assert estimate.se == pytest.approx(sd, abs=1e-5)
    assert estimate.items == sum(c is not None for c in codes)


@settings(max_examples=40, deadline=None)
@given(items=items_strategy, theta=st.floats(-4, 4))
def test_response_functions(items: list[ItemParameters], theta: float) -> None:
    packed = PackedItems(items)
    grid = np.array([theta])
    probabilities = category_probabilities(grid, packed)[0]
    for j, item in enumerate(items):
        assert probabilities[j].sum() == pytest.approx(1.0)
        assert np.all(probabilities[j, item.categories :] == 0)
        if item.categories == 2:
            p = 1 / (1 + math.exp(-item.discrimination * (theta - item.thresholds[0])))
            assert probabilities[j, 1] == pytest.approx(p)
            assert item_information(grid, packed)[0, j] == pytest.approx(item.discrimination**2 * p * (1 - p))
    # information = Σ P_k'² / P_k, derivatives by central differences
    h = 1e-5
    derivative = (
        category_probabilities(grid + h, packed)[0] - category_probabilities(grid - h, packed)[0]
    ) / (2 * h)
    safe = np.where(probabilities > 1e-12, probabilities, 1.0)
    numeric = np.where(probabilities > 1e-12, derivative**2 / safe, 0.0).sum(axis=1)
    assert item_information(grid, packed)[0] == pytest.approx(numeric, rel=1e-4, abs=1e-8)
    # expected score = Σ k P_k
    assert expected_scores(grid, packed)[0] == pytest.approx(
        probabilities @ np.arange(probabilities.shape[1])
    )


def test_batch_equals_one_by_one_and_recovers_theta() -> None:
    rng = np.random.default_rng(7)
    responses, a, b, theta = simulate_2pl(rng, 400, 20)
    responses[rng.random(responses.shape) < 0.2] = np.nan
    items = [
        ItemParameters(item_id=f"i{j}", model="2PL", discrimination=a[j], thresholds=(b[j],))
        for j in range(20)
    ]
    batch = estimate_abilities(responses, items)
    for person in range(0, 400, 37):
        observed = {
            f"i{j}": int(responses[person, j]) for j in range(20) if not np.isnan(responses[person, j])
        }
        single = estimate_ability(observed, items)
        assert single.theta == pytest.approx(batch[person].theta, abs=1e-12)
        assert single.se == pytest.approx(batch[person].se, abs=1e-12)
    estimates = np.array([e.theta for e in batch])
    ses = np.array([e.se for e in batch])
    rmse = np.sqrt(np.mean((estimates - theta) ** 2))
    assert rmse < 0.6
    # the posterior SD is an honest error: mean SE² ≈ mean squared error
    assert 0.7 < np.mean(ses**2) / rmse**2 < 1.4


def test_no_responses_give_the_prior() -> None:
    item = ItemParameters(item_id="i", model="2PL", discrimination=1.0, thresholds=(0.0,))
    estimate = estimate_ability({}, [item])
    assert (estimate.theta, estimate.se, estimate.items) == (0.0, 1.0, 0)
    by_quadrature = estimate_abilities(np.array([[np.nan]]), [item])[0]
    assert by_quadrature.theta == pytest.approx(0.0, abs=1e-12)
    assert by_quadrature.se == pytest.approx(1.0, abs=1e-6)


def test_scale_transform() -> None:
    thetas = np.random.default_rng(3).normal(0.3, 0.8, 1000)
    scale = scale_transform(thetas)
    scores = np.array([scale.score(t) for t in thetas])
    assert scores.mean() == pytest.approx(500.0)
    assert scores.std() == pytest.approx(100.0)
    assert scale_transform(np.array([1.0, 1.0])).theta_sd == 1.0


@settings(max_examples=30, deadline=None)
@given(items=items_strategy, cuts=st.lists(st.floats(1, 99), min_size=1, max_size=3).map(sorted))
def test_theta_cuts_invert_the_test_characteristic_curve(
    items: list[ItemParameters], cuts: list[float]
) -> None:
    thetas = theta_cuts(cuts, items)
    assert list(thetas) == sorted(thetas)
    for cut, theta in zip(cuts, thetas, strict=True):
        if -6 < theta < 6:
            assert expected_percentage(theta, items) == pytest.approx(cut, abs=1e-6)
        else:
            edge = expected_percentage(theta, items)
            assert (cut <= edge) if theta < 0 else (cut >= edge)


def test_theta_cut_of_one_item_is_its_difficulty_and_weights_count() -> None:
    easy = ItemParameters(item_id="e", model="2PL", discrimination=1.2, thresholds=(-1.0,))
    hard = ItemParameters(item_id="h", model="2PL", discrimination=1.2, thresholds=(1.0,))
    assert theta_cuts([50.0], [easy]) == pytest.approx((-1.0,))
    assert theta_cuts([50.0], [easy, hard]) == pytest.approx((0.0,), abs=1e-9)
    # weighting the hard item up moves the 50 % cut towards it
    assert theta_cuts([50.0], [easy, hard], weights=[1.0, 3.0])[0] > 0.3
    assert theta_cuts([0.0, 100.0], [easy]) == (-6.0, 6.0)


@settings(max_examples=25, deadline=None)
@given(items=items_strategy, data=st.data())
def test_ml_matches_a_bounded_scalar_optimiser(items: list[ItemParameters], data: st.DataObject) -> None:
    codes = [data.draw(st.none() | st.integers(0, item.categories - 1)) for item in items]
    row = np.array([[np.nan if c is None else float(c) for c in codes]])
    estimate = ml_abilities(row, items)[0]
    answered = [(item, c) for item, c in zip(items, codes, strict=True) if c is not None]
    extreme = all(c == 0 for _, c in answered) or all(c == item.categories - 1 for item, c in answered)
    if extreme:
        assert estimate is None
        return
    best = minimize_scalar(
        lambda t: -math.log(max(_likelihood(t, items, codes), 1e-300)),
        bounds=(-6, 6),
        method="bounded",
        options={"xatol": 1e-9},
    )
    assert estimate is not None
    assert estimate.theta == pytest.approx(best.x, abs=1e-4)
    if -5.9 < best.x < 5.9:
        information = item_information(np.array([best.x]), PackedItems([i for i, _ in answered]))[0].sum()
        assert estimate.se == pytest.approx(1 / math.sqrt(information), rel=1e-3)


def test_ml_recovers_theta_without_shrinkage() -> None:
    rng = np.random.default_rng(8)
    responses, a, b, theta = simulate_2pl(rng, 300, 40)
    items = [
        ItemParameters(item_id=f"i{j}", model="2PL", discrimination=a[j], thresholds=(b[j],))
        for j in range(40)
    ]
    ml = ml_abilities(responses, items)
    eap = estimate_abilities(responses, items)
    kept = [i for i, e in enumerate(ml) if e is not None]
    assert len(kept) >= 290
    ml_theta = np.array([ml[i].theta for i in kept])  # type: ignore[union-attr]
    eap_theta = np.array([eap[i].theta for i in kept])
    # EAP shrinks towards 0, ML does not: ML spreads wider
    assert ml_theta.std() > eap_theta.std()
    assert np.corrcoef(ml_theta, theta[kept])[0, 1] > 0.9
