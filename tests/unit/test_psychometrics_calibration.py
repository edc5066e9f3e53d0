"""Calibration through mirt (service/psychometrics/calibration.py): parameter recovery on
simulated 2PL and GRM data, agreement with an independent estimator (girth's MML), sparse pool
data, flags, fit statistics and the serialised result."""

from __future__ import annotations

import girth
import mirt
import msgspec
import numpy as np
import pytest

from service.psychometrics.calibration import (
    CalibrationSettings,
    _flags,
    calibrate_dimension,
    fit_mean_squares,
)
from service.psychometrics.model import DimensionCalibration, ItemParameters
from service.psychometrics.response import PackedItems
from tests.psychometrics_simulation import simulate_2pl, simulate_grm

SEED = 20261206


@pytest.fixture(scope="module")
def two_pl() -> tuple[np.ndarray, np.ndarray, np.ndarray, DimensionCalibration]:
    responses, a, b, _ = simulate_2pl(np.random.default_rng(SEED), 1000, 20)
    calibration = calibrate_dimension("d1", responses, [2] * 20, [f"i{j}" for j in range(20)])
    return responses, a, b, calibration


def _estimates(calibration: DimensionCalibration) -> tuple[np.ndarray, np.ndarray]:
    params = [item.parameters for item in calibration.items]
    assert all(p is not None for p in params)
    return (
        np.array([p.discrimination for p in params if p]),
        np.array([p.thresholds[0] for p in params if p]),
    )


def test_2pl_recovery(two_pl) -> None:
    _, a, b, calibration = two_pl
    est_a, est_b = _estimates(calibration)
    assert calibration.converged
    assert np.corrcoef(est_b, b)[0, 1] > 0.95
    assert np.sqrt(np.mean((est_b - b) ** 2)) < 0.3
    assert np.sqrt(np.mean((est_a - a) ** 2)) < 0.25
    assert all(item.parameters and item.parameters.model == "2PL" for item in calibration.items)


def test_2pl_standard_errors_cover_the_truth(two_pl) -> None:
    _, a, b, calibration = two_pl
    est_a, est_b = _estimates(calibration)
    se_a = np.array([item.parameters.se_discrimination for item in calibration.items])
    se_b = np.array([item.parameters.se_thresholds[0] for item in calibration.items])
    assert (se_a > 0).all() and (se_b > 0).all()
    # about 95 % of |estimate − truth| within 1.96 SE; allow sampling slack over 40 coordinates
    covered = np.concatenate([np.abs(est_a - a) <= 1.96 * se_a, np.abs(est_b - b) <= 1.96 * se_b])
    assert covered.mean() >= 0.8


def test_mirt_agrees_with_girth(two_pl) -> None:
    responses, _, _, calibration = two_pl
    est_a, est_b = _estimates(calibration)
    independent = girth.twopl_mml(responses.astype(int).T)
    assert np.abs(independent["Discrimination"] - est_a).max() < 0.02
    assert np.abs(independent["Difficulty"] - est_b).max() < 0.02


def test_reliability_and_information(two_pl) -> None:
    responses, _, _, calibration = two_pl
    # complete data: 1 − mean posterior variance ≈ the model-based marginal reliability
    model_based = mirt.marginal_rxx(mirt.fit_mirt(responses, "2PL", compute_standard_errors=False))
    assert abs(calibration.marginal_reliability - model_based) < 0.02
    assert len(calibration.theta_grid) == len(calibration.information)
    assert min(calibration.information) > 0
    peak = calibration.theta_grid[int(np.argmax(calibration.information))]
    assert -1.5 < peak < 1.5


def test_scale_is_500_100_on_the_calibration_sample(two_pl) -> None:
    _, _, _, calibration = two_pl
    scale = calibration.scale
    assert scale.score(scale.theta_mean) == pytest.approx(500.0)
    assert scale.score(scale.theta_mean + scale.theta_sd) == pytest.approx(600.0)
    assert scale.score_se(scale.theta_sd) == pytest.approx(100.0)


def test_result_round_trips_through_json(two_pl) -> None:
    calibration = two_pl[3]
    encoded = msgspec.json.encode(calibration)
    assert msgspec.json.decode(encoded, type=DimensionCalibration) == calibration
    with pytest.raises(AttributeError):
        calibration.items[0].parameters.discrimination = 2.0  # type: ignore[misc]


def test_well_fitting_items_have_mean_squares_near_one() -> None:
    rng = np.random.default_rng(SEED + 1)
    responses, a, b, theta = simulate_2pl(rng, 2000, 10)
    items = PackedItems(
        [
            ItemParameters(item_id=f"i{j}", model="2PL", discrimination=a[j], thresholds=(b[j],))
            for j in range(10)
        ]
    )
    infit, outfit = fit_mean_squares(responses, theta, items)
    assert np.all(np.abs(infit - 1) < 0.1) and np.all(np.abs(outfit - 1) < 0.2)
    # a reversed item (responses flipped) misfits
    flipped = responses.copy()
    flipped[:, 0] = 1 - flipped[:, 0]
    infit, outfit = fit_mean_squares(flipped, theta, items)
    assert infit[0] > 1.5 and outfit[0] > 1.5


def test_flags() -> None:
    s = CalibrationSettings()
    good = ItemParameters(item_id="x", model="2PL", discrimination=1.0, thresholds=(0.0,))
    assert _flags(good, 500, 1.0, 1.0, s) == ()
    assert _flags(good, 150, 1.0, 1.0, s) == ("few_responses",)
    weak = ItemParameters(item_id="x", model="GRM", discrimination=0.1, thresholds=(-1.0, 4.5))
    assert _flags(weak, 500, 1.0, 1.6, s) == ("low_discrimination", "extreme_threshold", "misfit")
    steep = ItemParameters(item_id="x", model="2PL", discrimination=5.0, thresholds=(-4.1,))
    assert _flags(steep, 500, 0.4, 1.0, s) == ("high_discrimination", "extreme_threshold", "misfit")


def test_sparse_pool_data() -> None:
    """Pool forms: each person sees about half the items; one item almost never given, one
    person given nothing, one item answered alike by everyone who saw it."""
    rng = np.random.default_rng(SEED + 2)
    responses, _a, b, _ = simulate_2pl(rng, 1200, 20)
    responses[rng.random(responses.shape) < 0.5] = np.nan
    responses[5:, 19] = np.nan  # item 19: 5 responses
    responses[0, :] = np.nan  # a person with no response
    responses[:, 18] = np.where(np.isnan(responses[:, 18]), np.nan, 1.0)  # item 18: no variance
    calibration = calibrate_dimension("d", responses, [2] * 20, [f"i{j}" for j in range(20)])
    assert calibration.persons == 1199
    by_id = {item.item_id: item for item in calibration.items}
    assert by_id["i19"].parameters is None and by_id["i19"].flags == ("few_responses", "not_calibrated")
    assert by_id["i18"].parameters is None and "not_calibrated" in by_id["i18"].flags
    est_b = np.array([by_id[f"i{j}"].parameters.thresholds[0] for j in range(18)])
    assert np.corrcoef(est_b, b[:18])[0, 1] > 0.95
    assert all(by_id[f"i{j}"].responses > 500 for j in range(18))
    assert 0.5 < calibration.marginal_reliability < calibration_complete_reliability(rng)


def calibration_complete_reliability(rng: np.random.Generator) -> float:
    responses, _, _, _ = simulate_2pl(rng, 1200, 20)
    return calibrate_dimension(
        "d",
        responses,
        [2] * 20,
        [f"i{j}" for j in range(20)],
        CalibrationSettings(compute_standard_errors=False),
    ).marginal_reliability


def test_grm_recovery_with_five_categories() -> None:
    responses, a, b, _ = simulate_grm(np.random.default_rng(SEED + 3), 1000, 10, 5)
    calibration = calibrate_dimension("d", responses, [5] * 10, [f"g{j}" for j in range(10)])
    params = [item.parameters for item in calibration.items]
    est_a = np.array([p.discrimination for p in params])
    est_b = np.array([p.thresholds for p in params])
    assert all(p.model == "GRM" and len(p.thresholds) == 4 for p in params)
    assert all(list(p.thresholds) == sorted(p.thresholds) for p in params)
    assert all(p.se_thresholds and all(se and se > 0 for se in p.se_thresholds) for p in params)
    assert np.corrcoef(est_b.ravel(), b.ravel())[0, 1] > 0.95
    assert np.sqrt(np.mean((est_a - a) ** 2)) < 0.25
    assert np.sqrt(np.mean((est_b - b) ** 2)) < 0.3


def test_mixed_dichotomous_and_graded_items() -> None:
    rng = np.random.default_rng(SEED + 4)
    graded, _, b_graded, theta = simulate_grm(rng, 1000, 4, 4)
    a = rng.lognormal(0.0, 0.3, 6)
    b = rng.normal(0.0, 1.0, 6)
    dichotomous = (rng.random((1000, 6)) < 1 / (1 + np.exp(-a * (theta[:, None] - b)))).astype(float)
    responses = np.column_stack([dichotomous[:, :3], graded, dichotomous[:, 3:]])
    categories = [2, 2, 2, 4, 4, 4, 4, 2, 2, 2]
    calibration = calibrate_dimension("d", responses, categories, [f"m{j}" for j in range(10)])
    models = [item.parameters.model for item in calibration.items]
    assert models == ["2PL"] * 3 + ["GRM"] * 4 + ["2PL"] * 3
    est_b = np.array(
        [item.parameters.thresholds[0] for i, item in enumerate(calibration.items) if categories[i] == 2]
    )
    assert np.corrcoef(est_b, b)[0, 1] > 0.9
    est_graded = np.array([calibration.items[j].parameters.thresholds for j in range(3, 7)])
    assert np.corrcoef(est_graded.ravel(), b_graded.ravel())[0, 1] > 0.9


def test_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="persons × items"):
        calibrate_dimension("d", np.zeros((10, 3)), [2, 2], ["a", "b"])
