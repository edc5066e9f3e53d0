"""Simulated response data for the psychometrics tests (and the benchmarks): the generating model
is written out here independently of service/psychometrics/response.py."""

from __future__ import annotations

import numpy as np


def simulate_2pl(
    rng: np.random.Generator, persons: int, items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """a ~ logNormal(0, 0.3), b ~ N(0, 1), θ ~ N(0, 1); returns (responses, a, b, θ)."""
    a = rng.lognormal(0.0, 0.3, items)
    b = rng.normal(0.0, 1.0, items)
    theta = rng.normal(0.0, 1.0, persons)
    p = 1.0 / (1.0 + np.exp(-a * (theta[:, None] - b)))
    return (rng.random((persons, items)) < p).astype(np.float64), a, b, theta


def simulate_grm(
    rng: np.random.Generator, persons: int, items: int, categories: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Graded responses: X = number of thresholds passed, P(X ≥ k) = logistic(a (θ − b_k))."""
    a = rng.lognormal(0.0, 0.3, items)
    b = np.sort(rng.normal(0.0, 1.0, (items, categories - 1)), axis=1)
    theta = rng.normal(0.0, 1.0, persons)
    at_least = 1.0 / (1.0 + np.exp(-a[None, :, None] * (theta[:, None, None] - b[None, :, :])))
    u = rng.random((persons, items))
    return (u[:, :, None] < at_least).sum(axis=2).astype(np.float64), a, b, theta
