"""Differential item functioning by the IRT likelihood-ratio test (Thissen, Steinberg & Wainer
1988, 1993), through the multiple-group fits of the PyPI `mirt` package (`mirt.multigroup.dif`,
the `mirt::DIF` workflow of Chalmers 2012). Pure: numpy and `mirt`, no I/O.

For each studied item j, two two-group 2PL models are fitted by marginal maximum likelihood on a
common θ scale (reference group N(0, 1); the focal group's mean and variance estimated, so a
difference in the groups' ability, impact, is not taken for DIF):
- constrained: every item's parameters equal across the groups;
- free: item j's discrimination and difficulty free per group, the others still equal (they are
  the anchors: "all other items as anchors", mirt's `drop` scheme, warm-started from the
  constrained fit).
G² = 2 (log L_free − log L_constrained), df = the parameters freed (2 for a 2PL item), p from the
χ² distribution with df degrees of freedom. The p-values of one comparison's items are adjusted by
Benjamini & Hochberg (1995) (`benjamini_hochberg`, the false discovery rate over the studied
items); an item is flagged when its adjusted p is below `LrSettings.alpha` (.01).

Effect size: the freed item's parameters per group on the common scale, as
Δb = b_focal − b_reference (positive: harder for the focal group at equal θ; uniform DIF) and
Δa = a_focal − a_reference (non-uniform DIF: the item separates ability differently in the focal
group), and the signed difference in the expected item score, focal − reference, averaged over a
standard normal θ (the reference group's scale; a proportion-correct difference for a 0/1 item).

Why mirt's fits and not our own EM: the issue asks for the library's test when it has one; our
own direct quadrature likelihood (tests/unit/test_lr_dif.py) checks its G² on small cases.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import msgspec
import numpy as np
from numpy.typing import NDArray

from service.psychometrics.response import FloatArray

# A standard normal on a fixed grid: the weights of the expected-score difference.
_GRID: FloatArray = np.linspace(-4.0, 4.0, 81)
_WEIGHTS: FloatArray = np.exp(-0.5 * _GRID**2) / np.exp(-0.5 * _GRID**2).sum()


class LrSettings(msgspec.Struct, frozen=True, kw_only=True):
    alpha: float = 0.01  # flag when the BH-adjusted p is below this
    quadrature_points: int = 21  # mirt's default for multiple-group fits
    max_iter: int = 500
    tolerance: float = 1e-4


class LrDifResult(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    item_id: str
    g2: float | None  # None: the free model's fit failed
    df: int
    p_value: float | None
    p_adjusted: float | None  # Benjamini–Hochberg over the comparison's items
    flagged: bool
    delta_b: float | None  # focal − reference difficulty (θ metric)
    delta_a: float | None  # focal − reference discrimination
    expected_score_difference: float | None  # focal − reference, averaged over N(0, 1)
    converged: bool


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values (the step-up FDR procedure): for the i-th smallest of m
    p-values, min over k ≥ i of p_(k) · m / k, capped at 1. None stays None and does not count in m."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank in range(m, 0, -1):
        p, index = present[rank - 1]
        running = min(running, p * m / rank)
        adjusted[index] = running
    return adjusted


def _two_pl(theta: FloatArray, a: float, b: float) -> FloatArray:
    probability: FloatArray = 1.0 / (1.0 + np.exp(-a * (theta - b)))
    return probability


def likelihood_ratio_dif(
    responses: FloatArray,
    focal: Sequence[bool] | NDArray[np.bool_],
    item_ids: Sequence[str],
    settings: LrSettings | None = None,
) -> tuple[LrDifResult, ...]:
    """LR DIF for every column of `responses` (persons × items, 0/1; NaN: not administered), the
    focal group (`focal[i]`) against the others. Needs at least two items (one studied, one anchor)."""
    from mirt.multigroup.dif import run_multigroup_dif  # loads the Rust core: only when used

    s = settings or LrSettings()
    data = np.asarray(responses, dtype=np.float64)
    groups = np.asarray(focal, dtype=bool).astype(np.int64)  # 0 reference (mirt's group 0), 1 focal
    if data.ndim != 2 or data.shape[1] != len(item_ids) or data.shape[0] != groups.size:
        raise ValueError("responses must be persons × items, matching focal and item_ids")
    # an item everyone in the data answered alike has no parameters to estimate: left out (no test)
    observed = [np.unique(column[~np.isnan(column)]).size for column in data.T]
    fitted = [j for j, count in enumerate(observed) if count >= 2]
    if len(fitted) < 2:
        raise ValueError("the likelihood-ratio test needs at least two items with both answers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mirt warns about slow convergence; `converged` says it
        table = run_multigroup_dif(
            data[:, fitted],
            groups,
            "2PL",
            scheme="drop",
            p_adjust="none",
            n_quadpts=s.quadrature_points,
            max_iter=s.max_iter,
            tol=s.tolerance,
            reference_group="0",
        )
    by_item = {fitted[row.item]: row for row in table.rows}
    raw: list[float | None] = []
    for j in range(len(item_ids)):
        row = by_item.get(j)
        raw.append(float(row.p_value) if row is not None and math.isfinite(row.p_value) else None)
    adjusted = benjamini_hochberg(raw)
    results = []
    for j, item_id in enumerate(item_ids):
        row = by_item.get(j)
        g2 = float(row.chi2) if row is not None and math.isfinite(row.chi2) else None
        delta_b = delta_a = expected = None
        if row is not None and row.group_parameters is not None and g2 is not None:
            reference, focal_parameters = row.group_parameters[0], row.group_parameters[1]
            a_r, b_r = float(reference["discrimination"]), float(reference["difficulty"])
            a_f, b_f = float(focal_parameters["discrimination"]), float(focal_parameters["difficulty"])
            delta_b, delta_a = b_f - b_r, a_f - a_r
            expected = float(((_two_pl(_GRID, a_f, b_f) - _two_pl(_GRID, a_r, b_r)) * _WEIGHTS).sum())
        p_adjusted = adjusted[j]
        results.append(
            LrDifResult(
                item_id=item_id,
                g2=g2,
                df=int(row.df) if row is not None and math.isfinite(row.df) else 0,
                p_value=raw[j],
                p_adjusted=p_adjusted,
                flagged=p_adjusted is not None and p_adjusted < s.alpha,
                delta_b=delta_b,
                delta_a=delta_a,
                expected_score_difference=expected,
                converged=bool(row.converged) if row is not None else False,
            )
        )
    return tuple(results)
