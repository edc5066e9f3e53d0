"""Ability estimates, the reported scale and θ cut points. Pure.

EAP (Bock & Mislevy 1982): θ̂ = E[θ | responses] under a standard normal prior, with the
posterior SD as the standard error. The integral uses a fixed rectangular quadrature: 81 equally
spaced nodes on [−6, 6] (step 0.15) weighted by the normal density and renormalised. The prior
mass beyond ±6 is 2·10⁻⁹, and the posterior is smooth on this grid, so the rule agrees with
adaptive numerical integration to about 1e-6 (tests/test_psychometrics_ability.py checks it
against scipy's `quad`). Fixed nodes make results reproducible to the bit and let a batch of
persons share one likelihood matrix product. EAP is finite for all-correct and all-wrong
patterns (ML is not) and shrinks towards 0 for short tests: the SE says how much to trust it.

ML (optional, for reports that must not shrink towards the mean): the θ maximising the
likelihood alone, by Fisher scoring from the best of the EAP nodes, with SE = 1/√I(θ̂). It does
not exist for a pattern at the floor or ceiling of every item answered (the likelihood keeps
rising towards ∓∞): those get None, and EAP is the estimate to report.

Cut points: a percentage cut score c on a dimension maps to the θ at which the test
characteristic curve reaches it, TCC(θ) = 100 · Σ_j w_j E[X_j | θ] / Σ_j w_j (K_j − 1), with
the item weights of the percentage score (default: every item weighs the same, its credit being
its score out of its maximum K − 1). The TCC is strictly increasing when every a > 0, so
the root is unique (Brent's method on [−6, 6]); cuts outside the TCC's range clamp to ±6.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from service.psychometrics.model import AbilityEstimate, ItemParameters, ScaleTransform
from service.psychometrics.response import (
    FloatArray,
    PackedItems,
    cumulative,
    expected_scores,
    item_information,
    log_likelihood,
)

QUADRATURE_NODES: FloatArray = np.linspace(-6.0, 6.0, 81)
_LOG_PRIOR: FloatArray = -0.5 * QUADRATURE_NODES**2
THETA_BOUND = 6.0


def eap_arrays(responses: FloatArray, items: PackedItems) -> tuple[FloatArray, FloatArray]:
    """EAP θ and posterior SD for each row of `responses` (N, J; NaN = not administered)."""
    log_posterior = log_likelihood(responses, QUADRATURE_NODES, items) + _LOG_PRIOR[None, :]
    log_posterior -= log_posterior.max(axis=1, keepdims=True)
    weights = np.exp(log_posterior)
    weights /= weights.sum(axis=1, keepdims=True)
    theta = weights @ QUADRATURE_NODES
    variance = weights @ QUADRATURE_NODES**2 - theta**2
    return theta, np.sqrt(np.maximum(variance, 0.0))


def estimate_abilities(responses: FloatArray, items: Sequence[ItemParameters]) -> tuple[AbilityEstimate, ...]:
    """EAP estimates for many persons at once; columns of `responses` follow `items`."""
    responses = np.asarray(responses, dtype=np.float64)
    theta, se = eap_arrays(responses, PackedItems(items))
    counts = (~np.isnan(responses)).sum(axis=1)
    return tuple(
        AbilityEstimate(theta=float(t), se=float(s), items=int(n))
        for t, s, n in zip(theta, se, counts, strict=True)
    )


def estimate_ability(responses: dict[str, int], bank: Sequence[ItemParameters]) -> AbilityEstimate:
    """EAP estimate of one person from {item_id: category}; items of `bank` not named are not
    administered. Unknown item ids raise KeyError."""
    by_id = {item.item_id: item for item in bank}
    items = [by_id[item_id] for item_id in responses]
    row = np.array([[float(code) for code in responses.values()]])
    return estimate_abilities(row, items)[0] if items else AbilityEstimate(theta=0.0, se=1.0, items=0)


def ml_abilities(
    responses: FloatArray, items: Sequence[ItemParameters], *, iterations: int = 50
) -> tuple[AbilityEstimate | None, ...]:
    """Maximum-likelihood θ and SE = 1/√I(θ̂) per row; None where no finite maximum exists (see the
    module docstring). The search is bounded to [−6, 6] like EAP's quadrature."""
    data = np.asarray(responses, dtype=np.float64)
    packed = PackedItems(items)
    observed: NDArray[np.bool_] = ~np.isnan(data)
    codes = np.where(observed, data, 0).astype(np.int64)
    floor = np.all(np.where(observed, codes == 0, True), axis=1).astype(bool)
    ceiling = np.all(np.where(observed, codes == packed.categories - 1, True), axis=1).astype(bool)
    theta = QUADRATURE_NODES[np.argmax(log_likelihood(data, QUADRATURE_NODES, packed), axis=1)]
    rows = np.arange(data.shape[0])[:, None]
    columns = np.arange(data.shape[1])[None, :]
    for _ in range(iterations):
        star = cumulative(theta, packed)  # (N, J, K + 1): each person at their own θ
        slope = packed.a[None, :, None] * star * (1.0 - star)
        probability = np.maximum(star[:, :, :-1] - star[:, :, 1:], 1e-300)[rows, columns, codes]
        derivative = (slope[:, :, :-1] - slope[:, :, 1:])[rows, columns, codes]
        score = np.where(observed, derivative / probability, 0.0).sum(axis=1)
        information = np.where(observed, item_information(theta, packed), 0.0).sum(axis=1)
        step = np.clip(score / np.maximum(information, 1e-12), -1.0, 1.0)
        theta = np.clip(theta + step, -THETA_BOUND, THETA_BOUND)
        if np.all(np.abs(step) < 1e-10):
            break
    information = np.where(observed, item_information(theta, packed), 0.0).sum(axis=1)
    return tuple(
        None
        if floor[i] or ceiling[i] or information[i] <= 0
        else AbilityEstimate(
            theta=float(theta[i]), se=float(1.0 / np.sqrt(information[i])), items=int(observed[i].sum())
        )
        for i in range(data.shape[0])
    )


def scale_transform(
    thetas: FloatArray, *, scale_mean: float = 500.0, scale_sd: float = 100.0
) -> ScaleTransform:
    """The reported scale fixed on the calibration sample's EAP estimates (mean/SD → 500/100)."""
    thetas = np.asarray(thetas, dtype=np.float64)
    sd = float(thetas.std()) if thetas.size > 1 else 1.0
    return ScaleTransform(
        theta_mean=float(thetas.mean()) if thetas.size else 0.0,
        theta_sd=sd if sd > 0 else 1.0,
        scale_mean=scale_mean,
        scale_sd=scale_sd,
    )


def expected_percentage(
    theta: float, items: Sequence[ItemParameters], weights: Sequence[float] | None = None
) -> float:
    """Expected percentage score at θ (see the module docstring)."""
    packed = PackedItems(items)
    w = np.ones(len(items)) if weights is None else np.asarray(weights, dtype=np.float64)
    expected = expected_scores(np.array([theta]), packed)[0]
    return float(100.0 * (w * expected / (packed.categories - 1)).sum() / w.sum())


def theta_cuts(
    percentage_cuts: Sequence[float],
    items: Sequence[ItemParameters],
    weights: Sequence[float] | None = None,
) -> tuple[float, ...]:
    """θ at which the TCC reaches each percentage cut score (clamped to ±6)."""
    from scipy.optimize import brentq  # here: importing scipy.optimize costs every worker's start seconds

    low = expected_percentage(-THETA_BOUND, items, weights)
    high = expected_percentage(THETA_BOUND, items, weights)
    cuts: list[float] = []
    for cut in percentage_cuts:
        if cut <= low:
            cuts.append(-THETA_BOUND)
        elif cut >= high:
            cuts.append(THETA_BOUND)
        else:
            root = brentq(
                lambda t, c=cut: expected_percentage(t, items, weights) - c,
                -THETA_BOUND,
                THETA_BOUND,
                xtol=1e-10,
            )
            cuts.append(float(root))
    return tuple(cuts)
