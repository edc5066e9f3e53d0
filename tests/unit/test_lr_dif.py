"""The IRT likelihood-ratio DIF test (service/psychometrics/lr_dif.py), pure: planted uniform and
non-uniform DIF found, no planted DIF giving false positives near alpha over several seeds, the
Benjamini–Hochberg adjustment against its definition, and G² against our own direct marginal
likelihood (Gauss–Hermite quadrature, maximised by scipy, no EM) on a tiny case."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize

from service.psychometrics.lr_dif import benjamini_hochberg, likelihood_ratio_dif


def _simulate(
    seed: int,
    items: int,
    per_group: int,
    shift_b: dict[int, float] | None = None,
    scale_a: dict[int, float] | None = None,
    impact: float = -0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """2PL responses of a reference group θ ~ N(0, 1) and a focal group θ ~ N(impact, 1) (impact is
    not DIF); the focal group's item j has b + shift_b[j] and a · scale_a[j]."""
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.25, items)
    b = rng.normal(0.0, 0.8, items)
    focal = np.repeat([False, True], per_group)
    theta = rng.normal(0.0, 1.0, 2 * per_group) + np.where(focal, impact, 0.0)
    a_person = np.tile(a, (2 * per_group, 1))
    b_person = np.tile(b, (2 * per_group, 1))
    for j, shift in (shift_b or {}).items():
        b_person[focal, j] += shift
    for j, factor in (scale_a or {}).items():
        a_person[focal, j] *= factor
    p = 1.0 / (1.0 + np.exp(-a_person * (theta[:, None] - b_person)))
    return (rng.random(p.shape) < p).astype(np.float64), focal


def _ids(n: int) -> list[str]:
    return [f"I{j:02d}" for j in range(n)]


def test_planted_uniform_and_non_uniform_dif_are_flagged_with_their_effect() -> None:
    """Item 3 0.8 logit harder for the focal group (uniform), item 8 half as discriminating
    (non-uniform, b unchanged): both flagged at BH-adjusted p < .01, nothing else."""
    responses, focal = _simulate(7, 16, 1000, shift_b={3: 0.8}, scale_a={8: 0.4})
    results = likelihood_ratio_dif(responses, focal, _ids(16))
    flagged = {r.item_id for r in results if r.flagged}
    assert flagged == {"I03", "I08"}, [(r.item_id, r.g2, r.p_adjusted) for r in results]
    uniform, non_uniform = results[3], results[8]
    assert uniform.df == non_uniform.df == 2
    assert uniform.delta_b == pytest.approx(0.8, abs=0.25) and abs(uniform.delta_a or 0) < 0.35
    assert uniform.expected_score_difference is not None and uniform.expected_score_difference < -0.05
    assert non_uniform.delta_a is not None and non_uniform.delta_a < -0.3
    assert abs(non_uniform.delta_b or 0) < 0.4
    # a flat item differs little on average: the size of non-uniform DIF is in Δa, not in the mean
    assert abs(non_uniform.expected_score_difference or 0) < abs(uniform.expected_score_difference)


def test_without_planted_dif_false_positives_stay_near_alpha_over_several_seeds() -> None:
    """Six seeds × 12 items, impact −0.5 but no DIF: the raw p < .05 rate stays near .05 (at most
    .12 of 72 tests) and the BH-adjusted flags at .01 at most one in all."""
    raw, flags, tests = 0, 0, 0
    for seed in range(101, 107):
        responses, focal = _simulate(seed, 12, 500, impact=-0.5)
        results = likelihood_ratio_dif(responses, focal, _ids(12))
        assert all(r.g2 is not None and r.converged for r in results)
        raw += sum(1 for r in results if r.p_value is not None and r.p_value < 0.05)
        flags += sum(1 for r in results if r.flagged)
        tests += len(results)
    assert raw / tests <= 0.12, (raw, tests)
    assert flags <= 1, flags


@given(st.lists(st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0)), max_size=30))
def test_benjamini_hochberg_is_its_definition(p_values: list[float | None]) -> None:
    adjusted = benjamini_hochberg(p_values)
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(present)
    ordered = sorted(present)
    for i, p in enumerate(p_values):
        if p is None:
            assert adjusted[i] is None
            continue
        rank = ordered.index((p, i)) + 1
        expected = min(min(ordered[k - 1][0] * m / k for k in range(rank, m + 1)), 1.0)
        assert adjusted[i] == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert p <= adjusted[i] + 1e-15  # never below the raw p-value


# --- an independent computation: the two-group marginal likelihood by Gauss–Hermite quadrature,
# maximised directly (L-BFGS-B), without EM and without mirt.

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(61)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _group_log_likelihood(patterns, counts, a, b, mean, sd):  # type: ignore[no-untyped-def]
    theta = mean + sd * _NODES  # (Q,)
    z = a[None, :] * (theta[:, None] - b[None, :])  # (Q, J)
    log_p, log_q = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)
    per_node = patterns @ log_p.T + (1.0 - patterns) @ log_q.T  # (P, Q)
    top = per_node.max(axis=1, keepdims=True)
    marginal = top[:, 0] + np.log(np.exp(per_node - top) @ _WEIGHTS)
    return float(counts @ marginal)


def _direct_fit(responses: np.ndarray, focal: np.ndarray, free_item: int | None) -> float:
    """max log L of the two-group 2PL: reference N(0, 1), focal N(μ, σ²) free; every item shared
    except `free_item`, which has its own (a, b) in the focal group."""
    groups = []
    for mask in (~focal, focal):
        patterns, counts = np.unique(responses[mask], axis=0, return_counts=True)
        groups.append((patterns, counts.astype(np.float64)))
    items = responses.shape[1]

    def negative(x: np.ndarray) -> float:
        a, b = np.exp(x[:items]), x[items : 2 * items].copy()
        mean, sd = x[2 * items], np.exp(x[2 * items + 1])
        a_focal, b_focal = a.copy(), b.copy()
        if free_item is not None:
            a_focal[free_item], b_focal[free_item] = np.exp(x[2 * items + 2]), x[2 * items + 3]
        return -(
            _group_log_likelihood(*groups[0], a, b, 0.0, 1.0)
            + _group_log_likelihood(*groups[1], a_focal, b_focal, mean, sd)
        )

    start = np.zeros(2 * items + (4 if free_item is not None else 2))
    found = minimize(
        negative, start, method="L-BFGS-B", options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8}
    )
    return -float(found.fun)


def test_g2_agrees_with_a_direct_quadrature_likelihood_on_a_tiny_case() -> None:
    """Five items, 600 + 600 persons, item 0 with planted uniform DIF: each item's G² (free minus
    constrained log-likelihood, doubled) from mirt's EM fits equals our direct maximisation's within
    quadrature and convergence error."""
    responses, focal = _simulate(3, 5, 600, shift_b={0: 0.7})
    results = likelihood_ratio_dif(responses, focal, _ids(5))
    constrained = _direct_fit(responses, focal, None)
    for j in (0, 1, 3):
        own = 2.0 * (_direct_fit(responses, focal, j) - constrained)
        assert results[j].g2 == pytest.approx(max(own, 0.0), abs=0.05 + 0.01 * own), (j, results[j].g2, own)
    assert results[0].g2 is not None and results[0].g2 > 10.0


def test_an_item_everyone_answered_alike_is_left_out_and_too_few_items_refused() -> None:
    responses, focal = _simulate(9, 5, 300)
    responses[:, 2] = 1.0
    results = likelihood_ratio_dif(responses, focal, _ids(5))
    assert results[2].g2 is None and results[2].p_value is None and not results[2].flagged
    assert all(r.g2 is not None for j, r in enumerate(results) if j != 2)
    responses[:, 1] = 0.0
    responses[:, 3] = 1.0
    responses[:, 4] = 0.0
    with pytest.raises(ValueError, match="at least two items"):
        likelihood_ratio_dif(responses, focal, _ids(5))
