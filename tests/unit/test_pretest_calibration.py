"""Anchored (fixed-parameter) calibration of pretest items (issue 20), pure: the anchors keep their
published parameters, the new items are estimated on their scale, with the 2PL and with the GRM
mixed in; `calibrations.calibrate` names the calibration a dimension was anchored to."""

from __future__ import annotations

import numpy as np

from service.psychometrics.calibration import CalibrationSettings, calibrate_dimension
from service.psychometrics.model import ItemParameters, ScaleTransform
from service.results.calibrations import Anchor, calibrate
from service.results.response_matrix import DimensionMatrix
from tests.psychometrics_simulation import simulate_2pl, simulate_grm

FAST = CalibrationSettings(compute_standard_errors=False)


def _anchors(a: np.ndarray, b: np.ndarray, columns: range) -> dict[str, ItemParameters]:
    return {
        f"q{j}": ItemParameters(
            item_id=f"q{j}",
            model="2PL",
            discrimination=float(a[j]),
            thresholds=(float(b[j]),),
            se_discrimination=0.05,
            se_thresholds=(0.07,),
        )
        for j in columns
    }


def test_anchors_keep_their_parameters_and_pretest_items_are_recovered_on_their_scale() -> None:
    rng = np.random.default_rng(2026)
    responses, a, b, _ = simulate_2pl(rng, 2500, 16)
    # items 12..15 are pretest items, each seen by about half the candidates
    responses[:, 12:][rng.random((2500, 4)) < 0.5] = np.nan
    anchors = _anchors(a, b, range(12))
    scale = ScaleTransform(theta_mean=0.1, theta_sd=0.9)
    ids = [f"q{j}" for j in range(16)]
    result = calibrate_dimension("AK", responses, [2] * 16, ids, FAST, anchors=anchors, anchor_scale=scale)
    by_id = {item.item_id: item for item in result.items}
    for code, anchor in anchors.items():
        assert by_id[code].parameters == anchor and "anchored" in by_id[code].flags
    free = [by_id[f"q{j}"].parameters for j in range(12, 16)]
    assert all(p is not None and "anchored" not in by_id[p.item_id].flags for p in free)
    a_hat = np.array([p.discrimination for p in free if p is not None])
    b_hat = np.array([p.thresholds[0] for p in free if p is not None])
    assert np.sqrt(np.mean((a_hat - a[12:]) ** 2)) < 0.2
    assert np.sqrt(np.mean((b_hat - b[12:]) ** 2)) < 0.15
    assert result.scale == scale  # the anchors' reporting scale

    # the anchors define the scale: shifted anchors (θ' = θ + 1) shift the new items by about as much
    shifted = {
        code: ItemParameters(
            item_id=code, model="2PL", discrimination=p.discrimination, thresholds=(p.thresholds[0] + 1.0,)
        )
        for code, p in anchors.items()
    }
    moved = calibrate_dimension("AK", responses, [2] * 16, ids, FAST, anchors=shifted)
    moved_b = np.array(
        [next(i for i in moved.items if i.item_id == f"q{j}").parameters.thresholds[0] for j in range(12, 16)]  # type: ignore[union-attr]
    )
    # the prior stays N(0, 1) on the anchors' scale (see the module docstring), so part of the shift
    assert 0.4 < float(np.mean(moved_b - b_hat)) < 1.1


def test_graded_items_anchor_and_estimate_beside_dichotomous_ones() -> None:
    rng = np.random.default_rng(7)
    dichotomous, a2, b2, theta = simulate_2pl(rng, 1500, 6)
    graded, ag, bg, _ = simulate_grm(rng, 1500, 3, 4)
    # the graded responses must come from the same persons: redraw them at the 2PL's θ
    at_least = 1.0 / (1.0 + np.exp(-ag[None, :, None] * (theta[:, None, None] - bg[None, :, :])))
    graded = (rng.random((1500, 3))[:, :, None] < at_least).sum(axis=2).astype(np.float64)
    responses = np.column_stack([dichotomous, graded])
    ids = [f"q{j}" for j in range(9)]
    anchors = _anchors(a2, b2, range(4)) | {
        "q6": ItemParameters(
            item_id="q6", model="GRM", discrimination=float(ag[0]), thresholds=tuple(float(x) for x in bg[0])
        )
    }
    result = calibrate_dimension("AK", responses, [2] * 6 + [4] * 3, ids, FAST, anchors=anchors)
    by_id = {item.item_id: item for item in result.items}
    for code, anchor in anchors.items():
        assert by_id[code].parameters == anchor and "anchored" in by_id[code].flags
    # the new items come out as a free fit of the same data gives them (the anchors are the truth,
    # so both scales are about the generating one), graded ones with their three thresholds
    free = {
        item.item_id: item.parameters
        for item in calibrate_dimension("AK", responses, [2] * 6 + [4] * 3, ids, FAST).items
    }
    for code in ("q4", "q5", "q7", "q8"):
        p, q = by_id[code].parameters, free[code]
        assert p is not None and q is not None and p.model == q.model
        assert len(p.thresholds) == (3 if code in ("q7", "q8") else 1)
        assert np.max(np.abs(np.array(p.thresholds) - np.array(q.thresholds))) < 0.15
        assert abs(p.discrimination - q.discrimination) < 0.15
    assert np.max(np.abs(np.array(by_id["q8"].parameters.thresholds) - bg[2])) < 0.3  # type: ignore[union-attr]


def test_calibrate_names_the_calibration_a_dimension_was_anchored_to() -> None:
    rng = np.random.default_rng(11)
    responses, a, b, _ = simulate_2pl(rng, 600, 8)
    ids = tuple(f"q{j}" for j in range(8))
    matrix = DimensionMatrix("AK", ids, (2,) * 8, ((0.0, 1.0),) * 8, responses)
    other = DimensionMatrix("ES", ids, (2,) * 8, ((0.0, 1.0),) * 8, responses)
    anchor = Anchor("cal-1", _anchors(a, b, range(6)), ScaleTransform(theta_mean=0.0, theta_sd=1.0))
    result = calibrate([matrix, other], FAST, {"AK": anchor})
    assert result.anchored_to == {"AK": "cal-1"}
    flags = {d.dimension: [("anchored" in i.flags) for i in d.items] for d in result.dimensions}
    assert flags == {"AK": [True] * 6 + [False] * 2, "ES": [False] * 8}
    # every item an anchor: nothing new to estimate, an ordinary fit
    every = Anchor("cal-1", _anchors(a, b, range(8)), anchor.scale)
    assert calibrate([matrix], FAST, {"AK": every}).anchored_to == {}
