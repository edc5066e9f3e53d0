"""Additive score summaries (service/aggregates/stats.py): hand-worked examples and properties.

What this file proves:
- `bin_of` puts a score in the one-point bin [i, i + 1), 100 in the last bin, and clamps
  anything below 0 or above 100 to the first or last bin;
- `Tally` is a true sufficient statistic that can be added and subtracted: tallies of disjoint
  lists add up to the tally of their concatenation, `add` then `minus` gives back the start,
  a sign -1 `Tally.of` removes one score;
- `summarise` gives n, mean and sample sd equal to those of the raw scores, and percentiles that
  are within one point of the exact (nearest-rank) sample percentile and never decrease;
- the level distribution counts each level rank, names ranks beyond the known codes, and
  gives shares of n.
Pure functions: no database.
"""

from __future__ import annotations

import math
import statistics
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.aggregates.stats import (
    BINS,
    PERCENTILES,
    LevelCount,
    Tally,
    bin_of,
    combine,
    percentile,
    summarise,
)

CODES = ["novice", "developing", "proficient", "advanced"]


def tally_of(scores: list[float], ranks: list[int] | None = None) -> Tally:
    """The tally of a list of scores, built one score at a time as the rollups do."""
    ranks = ranks if ranks is not None else [0] * len(scores)
    return combine(Tally.of(score, rank) for score, rank in zip(scores, ranks, strict=True))


# --- bin_of ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scaled", "expected"),
    [
        (0, 0),
        (0.0, 0),
        (0.999, 0),
        (1.0, 1),
        (42.5, 42),
        (98.9999, 98),
        (99.0, 99),
        (99.999, 99),
        (100, 99),  # 100 itself falls in the last bin, not a 101st one
        (100.0, 99),
        (-0.0001, 0),  # just below 0: floor is -1, clamped to bin 0
        (-5, 0),
        (-1e9, 0),
        (100.0001, 99),  # just above 100: clamped to the last bin
        (250, 99),
        (1e9, 99),
    ],
)
def test_bin_of_edges_and_clamps(scaled, expected):
    assert bin_of(scaled) == expected


def test_bin_of_returns_an_int_index():
    assert type(bin_of(37.2)) is int
    assert type(bin_of(100.0)) is int


@given(st.floats(0, 100))
def test_bin_of_holds_the_score_in_range(score):
    """Bin i holds [i, i + 1), except that 100 is in the last bin [99, 100]."""
    i = bin_of(score)
    assert 0 <= i < BINS
    assert i <= score < i + 1 or (score == 100 and i == BINS - 1)


# --- Tally: hand-worked -------------------------------------------------------------------------


def test_tally_of_one_score():
    tally = Tally.of(37.5, 2)
    assert (tally.n, tally.total, tally.total_sq) == (1, 37.5, 37.5**2)
    assert tally.hist[37] == 1 and sum(tally.hist) == 1 and len(tally.hist) == BINS
    assert tally.levels == [0, 0, 1]


def test_tally_of_with_sign_minus_one_is_a_removal():
    """A sign -1 tally cancels the score's own tally; removing one of four scores gives the
    tally of the other three (the hand-worked example below without the 30)."""
    assert Tally.of(30, 1).add(Tally.of(30, 1, sign=-1)).is_zero()
    four = tally_of([10, 20, 30, 40], [0, 0, 1, 2])
    four.add(Tally.of(30, 1, sign=-1))
    assert four == tally_of([10, 20, 40], [0, 0, 2])
    assert four.n == 3 and four.total == 70 and four.total_sq == 100 + 400 + 1600
    assert four.levels == [2, 0, 1]


def test_empty_tally_and_equality_ignores_trailing_zero_levels():
    assert Tally().is_zero() and Tally().n == 0
    gone = Tally.of(55, 3).minus(Tally.of(55, 3))
    assert gone.is_zero()
    assert gone.levels == [0, 0, 0, 0]  # the ranks are still there, all zero
    assert gone == Tally()  # ...but equality trims them
    assert Tally.of(55, 3) != Tally.of(55, 2)
    assert Tally.of(55, 3) != Tally.of(56, 3)
    assert Tally() != "not a tally"


def test_minus_leaves_both_operands_alone_and_add_works_in_place():
    a, b = tally_of([10, 20]), tally_of([30])
    difference = a.minus(b)
    assert a == tally_of([10, 20]) and b == tally_of([30])
    assert difference.n == 1 and difference.hist[30] == -1
    assert a.add(b) is a and a == tally_of([10, 20, 30])


def test_add_grows_the_level_list_to_the_longer_one():
    a = Tally.of(10, 0)
    a.add(Tally.of(90, 3))
    assert a.levels == [1, 0, 0, 1]
    b = Tally.of(90, 3)
    b.add(Tally.of(10, 0))
    assert b.levels == [1, 0, 0, 1]


# --- summarise: hand-worked ---------------------------------------------------------------------


def test_summarise_hand_worked_four_scores():
    """Scores 10, 20, 30, 40 at level ranks 0, 0, 1, 2.

    mean = 100 / 4 = 25
    sd   = sqrt(((-15)^2 + (-5)^2 + 5^2 + 15^2) / 3) = sqrt(500 / 3) = 12.90994...
    percentiles: one score in each of bins 10, 20, 30, 40; rank = p / 100 * 4, and the answer
    is bin + (rank - people below the bin) / people in the bin:
      p10: rank 0.4 -> bin 10, 10 + 0.4 / 1 = 10.4
      p25: rank 1.0 -> bin 10, 10 + 1.0 / 1 = 11.0  (the first bin already holds rank 1)
      p50: rank 2.0 -> bin 20, 20 + (2 - 1) / 1 = 21.0
      p75: rank 3.0 -> bin 30, 30 + (3 - 2) / 1 = 31.0
      p90: rank 3.6 -> bin 40, 40 + (3.6 - 3) / 1 = 40.6
    levels: two novice, one developing, one proficient, no advanced -> shares .5 .25 .25 0
    """
    summary = summarise("overall", tally_of([10, 20, 30, 40], [0, 0, 1, 2]), CODES)
    assert summary is not None
    assert summary.measure == "overall"
    assert summary.n == 4
    assert summary.mean == 25.0
    assert summary.sd == pytest.approx(12.9099, abs=1e-4)
    assert summary.sd == round(math.sqrt(500 / 3), 4)
    assert (summary.p10, summary.p25, summary.p50, summary.p75, summary.p90) == (10.4, 11.0, 21.0, 31.0, 40.6)
    assert summary.levels == [
        LevelCount("novice", 2, 0.5),
        LevelCount("developing", 1, 0.25),
        LevelCount("proficient", 1, 0.25),
        LevelCount("advanced", 0, 0.0),
    ]


def test_summarise_one_score_has_no_sd():
    summary = summarise("m", Tally.of(72.25, 1), CODES)
    assert summary is not None
    assert summary.n == 1 and summary.mean == 72.25 and summary.sd is None
    # one person in bin 72: p = 72 + p / 100, e.g. p10 = 72.1, p90 = 72.9
    assert (summary.p10, summary.p25, summary.p50, summary.p75, summary.p90) == (
        72.1,
        72.25,
        72.5,
        72.75,
        72.9,
    )
    assert [lc.n for lc in summary.levels] == [0, 1, 0, 0]


def test_summarise_empty_is_none_and_percentile_of_empty_raises():
    assert summarise("m", Tally(), CODES) is None
    assert summarise("m", Tally.of(50, 0).minus(Tally.of(50, 0)), CODES) is None
    with pytest.raises(ValueError):
        percentile([0] * BINS, 50)


def test_summarise_equal_scores_have_sd_zero():
    summary = summarise("m", tally_of([33.3333] * 7), CODES)
    assert summary is not None and summary.sd == 0.0 and summary.mean == 33.3333


def test_summarise_names_level_ranks_beyond_the_known_codes():
    """A rank beyond the framework's codes (e.g. a level added later) is reported as level-<i+1>;
    known codes with no one are still listed with zero."""
    summary = summarise("m", tally_of([10, 90, 95], [0, 4, 4]), ["a", "b"])
    assert summary is not None
    assert summary.levels == [
        LevelCount("a", 1, round(1 / 3, 4)),
        LevelCount("b", 0, 0.0),
        LevelCount("level-3", 0, 0.0),
        LevelCount("level-4", 0, 0.0),
        LevelCount("level-5", 2, round(2 / 3, 4)),
    ]
    assert summarise("m", Tally.of(50, 0), []).levels == [LevelCount("level-1", 1, 1.0)]


def test_score_of_100_counts_in_the_last_bin():
    summary = summarise("m", tally_of([100, 100]), CODES)
    assert summary is not None
    assert summary.p90 <= 100 and summary.p10 >= 99


# --- percentile: exactness of the ranks used ----------------------------------------------------


def test_the_reported_percentiles_have_exact_float_ranks():
    """`percentile` compares a float rank p / 100 * n with integer cumulative counts; if the float
    rank came out above an exact integer rank, the answer would jump to the next non-empty bin.
    For the five reported percentiles this never happens (p / 100 is 0.1, 0.25, 0.5, 0.75, 0.9
    and their products with integers round down or exactly), checked here up to 100 000 people."""
    for p in PERCENTILES:
        for n in range(1, 100_001):
            if p * n % 100 == 0:
                assert p / 100 * n == p * n // 100, (p, n)


def test_percentile_with_a_float_rank_just_above_an_integer():
    """Found by this file: the rank was 7 / 100 * 100 = 7.000000000000001, skipping the 7th person's bin."""
    hist = [0] * BINS
    hist[0], hist[50] = 7, 93  # the 7th smallest score is in [0, 1), the 8th in [50, 51)
    assert percentile(hist, 7) <= 1.0  # nearest rank: the 7th score, in bin 0


def test_percentile_is_within_one_point_not_half():
    """The docstring once claimed half a point; one score of 10.0 gives p90 = 10.9."""
    hist = [0] * BINS
    hist[10] = 1
    assert abs(percentile(hist, 90) - 10.0) <= 1.0
    assert "within one point" in percentile.__doc__


# --- properties ---------------------------------------------------------------------------------

scores = st.floats(0, 100, allow_nan=False, allow_infinity=False)
ranks = st.integers(0, 5)
scored = st.lists(st.tuples(scores, ranks), max_size=40)


def _tally(pairs: list[tuple[float, int]]) -> Tally:
    return tally_of([s for s, _ in pairs], [r for _, r in pairs])


@given(scored, scored)
@settings(max_examples=200)
def test_tallies_of_disjoint_lists_add_to_the_tally_of_the_concatenation(xs, ys):
    assert _tally(xs).add(_tally(ys)) == _tally(xs + ys)
    assert combine([_tally(xs), _tally(ys)]) == _tally(xs + ys)


@given(scored, scored)
@settings(max_examples=200)
def test_add_then_minus_gives_back_the_start(xs, ys):
    """`a.add(b).minus(b) == a`; `add` works in place, so the start is compared with a fresh copy."""
    a, b = _tally(xs), _tally(ys)
    assert a.add(b).minus(b) == _tally(xs)
    # and the concatenation minus one part is the other part
    assert _tally(xs + ys).minus(_tally(ys)) == _tally(xs)


@given(st.lists(st.tuples(scores, ranks), min_size=1, max_size=60))
@settings(max_examples=200)
def test_summary_matches_the_raw_scores(pairs):
    """n, mean and sample sd agree with `statistics` on the raw scores.

    Tolerances: the unrounded mean from the tally agrees to 1e-6. Summaries round mean and sd to
    4 decimals, so those comparisons allow that rounding (5e-5) plus float error: 1e-6 for the
    mean; for the sd 2e-5, because the sd comes from sum and sum of squares (what makes tallies
    additive) and (total_sq - n * mean^2) cancels when the scores are nearly equal: with up to 60
    scores near 100, a few ulps of total_sq (~1e-10 each) give a variance error near 1e-10 and so
    an sd error near 1e-5 when the true sd is about 0 (observed up to 6.5e-6 for 59 equal scores)."""
    xs = [s for s, _ in pairs]
    tally = _tally(pairs)
    summary = summarise("m", tally, CODES)
    assert summary is not None
    assert summary.n == len(xs) == tally.n
    assert abs(tally.total / tally.n - statistics.mean(xs)) <= 1e-6
    assert abs(summary.mean - statistics.mean(xs)) <= 5e-5 + 1e-6
    if len(xs) == 1:
        assert summary.sd is None
    else:
        assert summary.sd is not None
        assert abs(summary.sd - statistics.stdev(xs)) <= 5e-5 + 2e-5
    counts = [sum(1 for _, r in pairs if r == i) for i in range(len(summary.levels))]
    assert [lc.n for lc in summary.levels] == counts
    assert sum(lc.n for lc in summary.levels) == len(xs)


def nearest_rank(xs: list[float], p: int) -> float:
    """Exact nearest-rank sample percentile: the ceil(p / 100 * n)-th smallest score (rank
    computed in exact rationals), or the smallest score for a rank of 0."""
    ordered = sorted(xs)
    rank = math.ceil(Fraction(p * len(xs), 100))
    return ordered[max(rank, 1) - 1]


@given(st.lists(scores, min_size=1, max_size=80))
@settings(max_examples=300)
def test_percentiles_are_within_one_point_of_the_nearest_rank_percentile_and_ordered(xs):
    """Why nearest-rank, and why 1.0 holds: `percentile` walks the bins to the first bin i whose
    cumulative count reaches rank = p / 100 * n. The cumulative counts are integers, so that bin
    holds the ceil(rank)-th smallest score, i.e. the nearest-rank percentile, which lies in
    [i, i + 1) (or is 100, in [99, 100]). The answer i + (rank - below) / count lies in (i, i + 1].
    Both are in the same one-point bin, so they differ by at most 1 point (exactly 1 when the rank
    uses up the whole bin and the score sits on the bin's lower edge: [0.0, 1.0] has median 0.0 and
    the bins answer 1.0); rounding the answer to 2 decimals cannot push it past i + 1 nor below i,
    so the reported figure is within 1.0 too.

    A linear-interpolation definition (statistics.quantiles 'inclusive', numpy's default) does NOT
    stay within a point: for [0, 100] it gives a median of 50 while the bins give 1.0 (the first
    bin already holds rank 1). So nearest-rank is the definition the histogram approximates.
    """
    tally = tally_of(xs)
    summary = summarise("m", tally, CODES)
    assert summary is not None
    reported = [summary.p10, summary.p25, summary.p50, summary.p75, summary.p90]
    for p, value in zip(PERCENTILES, reported, strict=True):
        exact = nearest_rank(xs, p)
        assert abs(percentile(tally.hist, p) - exact) <= 1.0
        assert abs(value - exact) <= 1.0
        assert 0.0 <= value <= 100.0
    assert reported == sorted(reported)


@given(st.lists(scores, min_size=1, max_size=80), st.lists(st.integers(1, 99), min_size=2, max_size=6))
@settings(max_examples=200)
def test_percentile_is_monotone_in_p(xs, ps):
    hist = tally_of(xs).hist
    values = [percentile(hist, p) for p in sorted(ps)]
    assert values == sorted(values)


def test_linear_interpolation_is_not_what_the_bins_approximate():
    """The counterexample behind the choice of nearest rank above."""
    summary = summarise("m", tally_of([0, 100]), CODES)
    assert summary is not None
    assert statistics.quantiles([0, 100], n=2, method="inclusive") == [50.0]
    assert summary.p50 == 1.0 and nearest_rank([0, 100], 50) == 0
