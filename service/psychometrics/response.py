"""Item response functions of the graded response model, vectorised over θ and items.

A bank of items is packed into arrays: `a` (J,), `b` (J, K_max − 1) with the thresholds of
items with fewer categories padded by +inf (so P(X ≥ k) = 0 beyond an item's last category and
those categories get probability 0). Dichotomous items are the K = 2 case (the 2PL).

Information of a GRM item (Samejima 1969; Baker & Kim 2004, ch. 8):
I(θ) = Σ_k (P*'_k − P*'_{k+1})² / P_k with P*'_k = a P*_k (1 − P*_k), P*_0 = 1, P*_K = 0;
for K = 2 this is the 2PL's a² P (1 − P).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from service.psychometrics.model import ItemParameters

FloatArray = NDArray[np.float64]
PROBABILITY_FLOOR = 1e-300


class PackedItems:
    """Arrays of a sequence of items, for the vectorised functions below."""

    __slots__ = ("a", "b", "categories", "item_ids")

    def __init__(self, items: Sequence[ItemParameters]) -> None:
        widest = max((item.categories for item in items), default=2)
        self.item_ids = tuple(item.item_id for item in items)
        self.a: FloatArray = np.array([item.discrimination for item in items], dtype=np.float64)
        self.b: FloatArray = np.full((len(items), widest - 1), np.inf)
        for row, item in enumerate(items):
            self.b[row, : len(item.thresholds)] = item.thresholds
        self.categories = np.array([item.categories for item in items], dtype=np.int64)

    def subset(self, rows: NDArray[np.int64]) -> PackedItems:
        packed = PackedItems.__new__(PackedItems)
        packed.item_ids = tuple(self.item_ids[row] for row in rows)
        packed.a, packed.b, packed.categories = self.a[rows], self.b[rows], self.categories[rows]
        return packed


def cumulative(theta: FloatArray, items: PackedItems) -> FloatArray:
    """P(X ≥ k | θ) for k = 0..K_max: shape (Q, J, K_max + 1), first column 1, last 0."""
    z = items.a[None, :, None] * (theta[:, None, None] - items.b[None, :, :])
    inner = 1.0 / (1.0 + np.exp(-z))
    shape = (theta.size, items.a.size, 1)
    return np.concatenate([np.ones(shape), inner, np.zeros(shape)], axis=2)


def category_probabilities(theta: FloatArray, items: PackedItems) -> FloatArray:
    """P(X = k | θ): shape (Q, J, K_max)."""
    star = cumulative(theta, items)
    return np.clip(star[:, :, :-1] - star[:, :, 1:], 0.0, 1.0)


def expected_scores(theta: FloatArray, items: PackedItems) -> FloatArray:
    """E[X | θ] = Σ_{k≥1} P(X ≥ k): shape (Q, J)."""
    expected: FloatArray = cumulative(theta, items)[:, :, 1:-1].sum(axis=2)
    return expected


def item_information(theta: FloatArray, items: PackedItems) -> FloatArray:
    """Fisher information of each item at each θ: shape (Q, J)."""
    star = cumulative(theta, items)
    slope = items.a[None, :, None] * star * (1.0 - star)
    probabilities = np.maximum(star[:, :, :-1] - star[:, :, 1:], PROBABILITY_FLOOR)
    terms = (slope[:, :, :-1] - slope[:, :, 1:]) ** 2 / probabilities
    information: FloatArray = terms.sum(axis=2)
    return information


def log_likelihood(responses: FloatArray, theta: FloatArray, items: PackedItems) -> FloatArray:
    """log L(θ_q) of each person: shape (N, Q). `responses` (N, J) holds category codes 0..K−1
    and NaN for items not administered (they contribute nothing)."""
    log_p = np.log(np.maximum(category_probabilities(theta, items), PROBABILITY_FLOOR))
    result = np.zeros((responses.shape[0], theta.size))
    for category in range(log_p.shape[2]):
        chosen = (responses == category).astype(np.float64)
        if chosen.any():
            result += chosen @ log_p[:, :, category].T
    return result
