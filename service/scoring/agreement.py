"""Inter-rater agreement on an ordinal scale, and how two or three ratings become one. Pure.

Quadratic weighted kappa (Cohen 1968): kappa = 1 - sum(w * O) / sum(w * E), with weights
w_ij = (i - j)^2 / (k - 1)^2, O the observed joint distribution of the two raters' categories
and E the one expected by chance (outer product of the marginals), over categories 0..k-1.
"""

from __future__ import annotations

import msgspec


class Agreement(msgspec.Struct, frozen=True):
    pairs: int
    exact: float | None  # share of pairs with the same rating
    adjacent: float | None  # share within one category
    quadratic_weighted_kappa: float | None  # None when undefined (fewer than 2 pairs, or no variance)


def quadratic_weighted_kappa(pairs: list[tuple[int, int]], categories: int) -> float | None:
    if len(pairs) < 2 or categories < 2:
        return None
    n = len(pairs)
    observed = [[0.0] * categories for _ in range(categories)]
    for a, b in pairs:
        observed[a][b] += 1 / n
    row = [sum(observed[i]) for i in range(categories)]
    col = [sum(observed[i][j] for i in range(categories)) for j in range(categories)]
    weight = [[(i - j) ** 2 / (categories - 1) ** 2 for j in range(categories)] for i in range(categories)]
    expected_disagreement = sum(
        weight[i][j] * row[i] * col[j] for i in range(categories) for j in range(categories)
    )
    if expected_disagreement == 0:
        return None
    observed_disagreement = sum(
        weight[i][j] * observed[i][j] for i in range(categories) for j in range(categories)
    )
    return 1 - observed_disagreement / expected_disagreement


def agreement(pairs: list[tuple[int, int]], categories: int) -> Agreement:
    if not pairs:
        return Agreement(0, None, None, None)
    n = len(pairs)
    return Agreement(
        n,
        sum(a == b for a, b in pairs) / n,
        sum(abs(a - b) <= 1 for a, b in pairs) / n,
        quadratic_weighted_kappa(pairs, categories),
    )


def resolve(values: list[int], *, double: bool, gap: int) -> float | None:
    """The agreed rating from the ratings so far (in the order given), or None while more are needed.

    Single marking: the first rating. Double marking: the mean of the first two when they differ
    by at most `gap`; otherwise a third rating adjudicates and is the agreed one.
    """
    if not values:
        return None
    if not double:
        return float(values[0])
    if len(values) < 2:
        return None
    first, second = values[0], values[1]
    if abs(first - second) <= gap:
        return (first + second) / 2
    return float(values[2]) if len(values) >= 3 else None


def ratings_needed(values: list[int], *, double: bool, gap: int) -> int:
    """How many more ratings the task needs before it is agreed."""
    if resolve(values, double=double, gap=gap) is not None:
        return 0
    if not double:
        return 1
    return 2 - len(values) if len(values) < 2 else 1  # the second rating, or the adjudicator's
