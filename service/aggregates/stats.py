"""Summaries that can be added and subtracted: what a rollup row holds, and the figures read from it.

A `Tally` is the sufficient statistic of a set of scaled scores (0-100): count, sum, sum of
squares, a histogram of 100 one-point bins, and counts per proficiency level rank. Tallies of
disjoint groups add up to the tally of their union, which is why a subtree, a category or a
period range is answered by adding rows and never by rereading scores. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import msgspec

BINS = 100
PERCENTILES = (10, 25, 50, 75, 90)


def bin_of(scaled: float) -> int:
    """Bin i holds scores in [i, i + 1); 100 itself falls in the last bin."""
    return min(BINS - 1, max(0, math.floor(scaled)))


class Tally:
    __slots__ = ("hist", "levels", "n", "total", "total_sq")

    def __init__(
        self,
        n: int = 0,
        total: float = 0.0,
        total_sq: float = 0.0,
        hist: Sequence[int] | None = None,
        levels: Sequence[int] | None = None,
    ) -> None:
        self.n = n
        self.total = total
        self.total_sq = total_sq
        self.hist = list(hist) if hist is not None else [0] * BINS
        self.levels = list(levels) if levels is not None else []

    @classmethod
    def of(cls, scaled: float, level_rank: int, sign: int = 1) -> Tally:
        """One score (sign -1: its removal)."""
        tally = cls(sign, sign * scaled, sign * scaled * scaled)
        tally.hist[bin_of(scaled)] = sign
        tally.levels = [0] * level_rank + [sign]
        return tally

    def add(self, other: Tally) -> Tally:
        self.n += other.n
        self.total += other.total
        self.total_sq += other.total_sq
        self.hist = [a + b for a, b in zip(self.hist, other.hist, strict=True)]
        if len(other.levels) > len(self.levels):
            self.levels += [0] * (len(other.levels) - len(self.levels))
        for i, count in enumerate(other.levels):
            self.levels[i] += count
        return self

    def minus(self, other: Tally) -> Tally:
        negated = Tally(
            -other.n, -other.total, -other.total_sq, [-c for c in other.hist], [-c for c in other.levels]
        )
        return Tally(self.n, self.total, self.total_sq, self.hist, self.levels).add(negated)

    def is_zero(self) -> bool:
        return self.n == 0 and not any(self.hist) and not any(self.levels)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Tally)
            and self.n == other.n
            and self.hist == other.hist
            and _trimmed(self.levels) == _trimmed(other.levels)
            and math.isclose(self.total, other.total, rel_tol=1e-9, abs_tol=1e-6)
            and math.isclose(self.total_sq, other.total_sq, rel_tol=1e-9, abs_tol=1e-4)
        )

    def __repr__(self) -> str:
        return f"Tally(n={self.n}, total={self.total}, levels={self.levels})"


def _trimmed(levels: list[int]) -> list[int]:
    end = len(levels)
    while end and levels[end - 1] == 0:
        end -= 1
    return levels[:end]


def combine(tallies: Iterable[Tally]) -> Tally:
    out = Tally()
    for tally in tallies:
        out.add(tally)
    return out


def percentile(hist: Sequence[int], p: float) -> float:
    """The p-th percentile, interpolated linearly within its one-point bin (so within one point
    of the nearest-rank percentile of the scores themselves)."""
    return percentiles(hist, [p])[0]


def percentiles(hist: Sequence[int], ps: Sequence[float]) -> list[float]:
    """`percentile` of each of `ps` (ascending), in one pass over the histogram."""
    n = sum(hist)
    if n <= 0:
        raise ValueError("percentile of an empty histogram")
    ranks = [
        p * n / 100 for p in ps
    ]  # p * n first: exact for whole percentages, so no bin is skipped by rounding
    out: list[float] = []
    seen = 0
    for i, count in enumerate(hist):
        if not count:
            continue
        while len(out) < len(ranks) and seen + count >= ranks[len(out)]:
            out.append(i + (ranks[len(out)] - seen) / count)
        if len(out) == len(ranks):
            return out
        seen += count
    return out + [float(BINS)] * (len(ranks) - len(out))


class LevelCount(msgspec.Struct):
    level: str
    n: int
    share: float


class Summary(msgspec.Struct):
    """The figures of one measure over one group of people."""

    measure: str
    n: int
    mean: float
    sd: float | None  # sample standard deviation; none for a single score
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    levels: list[LevelCount]


def summarise(measure: str, tally: Tally, level_codes: Sequence[str]) -> Summary | None:
    """None for an empty group."""
    if tally.n <= 0:
        return None
    n = tally.n
    mean = tally.total / n
    sd = math.sqrt(max(0.0, (tally.total_sq - n * mean * mean) / (n - 1))) if n > 1 else None
    p10, p25, p50, p75, p90 = (round(value, 2) for value in percentiles(tally.hist, PERCENTILES))
    codes = list(level_codes) + [f"level-{i + 1}" for i in range(len(level_codes), len(tally.levels))]
    counts = tally.levels + [0] * (len(codes) - len(tally.levels))
    return Summary(
        measure,
        n,
        round(mean, 4),
        round(sd, 4) if sd is not None else None,
        p10,
        p25,
        p50,
        p75,
        p90,
        [LevelCount(code, count, round(count / n, 4)) for code, count in zip(codes, counts, strict=True)],
    )
