"""Training effect statistics (service/aggregates/effect.py): the t quantile and the paired gain.

What this file proves:
- `t975(df)` is Student's t 0.975 quantile: the 1..30 table matches published values and an
  independent numerical inversion of the t distribution (to table rounding), and the
  Cornish-Fisher expansion used beyond 30 degrees of freedom agrees with known values (40, 60,
  120) and with the numerical inversion to 0.002, decreases with df and tends to z = 1.96;
- `gain` gives the paired mean gain, its 95% confidence interval from t with n - 1 df, d_z and
  d_av exactly as worked by hand from a small before/after sample, and gives no interval or
  effect size when they are undefined (one person, no sd, zero sd).
Pure functions: no database.
"""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from service.aggregates.effect import Gain, gain, t975

# --- an independent t quantile ------------------------------------------------------------------


def t_density(x: float, df: int) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))


def t_cdf(x: float, df: int, steps: int = 2000) -> float:
    """P(T <= x) for x >= 0: 1/2 plus the density integrated over [0, x] by Simpson's rule."""
    h = x / steps
    inner = sum((4 if i % 2 else 2) * t_density(i * h, df) for i in range(1, steps))
    return 0.5 + h / 3 * (t_density(0.0, df) + inner + t_density(x, df))


def t_quantile_975(df: int) -> float:
    """Newton's method from z = 1.96 (below every t quantile). The cdf is concave on x > 0, so the
    iterates approach the root from below without overshooting."""
    x = 1.959964
    for _ in range(60):
        step = (0.975 - t_cdf(x, df)) / t_density(x, df)
        x += step
        if abs(step) < 1e-9:
            break
    return x


# --- t975 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "expected", "tolerance"),
    [
        (1, 12.706, 1e-9),  # table values: exactly as published (3 decimals)
        (2, 4.303, 1e-9),
        (10, 2.228, 1e-9),
        (29, 2.045, 1e-9),
        (30, 2.042, 1e-9),
        (40, 2.021, 0.002),  # Cornish-Fisher beyond the table
        (60, 2.000, 0.002),
        (120, 1.980, 0.002),
    ],
)
def test_t975_known_values(df, expected, tolerance):
    assert t975(df) == pytest.approx(expected, abs=tolerance)


def test_the_independent_quantile_reproduces_textbook_values():
    """Sanity check of the numerical inversion itself (closed forms for df 1 and 2)."""
    assert t_quantile_975(1) == pytest.approx(math.tan(math.pi * 0.475), abs=1e-6)  # 12.7062
    assert t_quantile_975(2) == pytest.approx(0.95 / math.sqrt(2 * 0.975 * 0.025), abs=1e-6)  # 4.3027


def test_t975_table_matches_the_t_distribution_to_its_rounding():
    for df in range(1, 31):
        assert abs(t975(df) - t_quantile_975(df)) <= 0.0005 + 1e-6, df


def test_t975_beyond_the_table_is_within_0_002_of_the_t_distribution():
    for df in [*range(31, 46), 50, 60, 75, 100, 120, 200, 500, 1000]:
        assert abs(t975(df) - t_quantile_975(df)) <= 0.002, df


def test_t975_decreases_towards_z():
    values = [t975(df) for df in range(1, 1001)]
    assert all(a > b for a, b in itertools.pairwise(values)), "strictly decreasing, also 30 -> 31"
    assert values[-1] > 1.959964
    assert t975(10**7) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize("df", [0, -1])
def test_t975_needs_a_degree_of_freedom(df):
    with pytest.raises(ValueError):
        t975(df)


# --- gain ---------------------------------------------------------------------------------------

BEFORE = [50, 60, 70, 80, 90]
AFTER = [55, 62, 78, 85, 95]


def test_gain_hand_worked_paired_sample():
    """Five people before and after:
        before  50  60  70  80  90   mean 70, sd sqrt((400+100+0+100+400)/4) = sqrt(250) = 15.81139
        after   55  62  78  85  95   mean 75, sd sqrt((400+169+9+100+400)/4) = sqrt(269.5) = 16.41646
        gain     5   2   8   5   5   mean 5,  sd sqrt((0+9+9+0+0)/4)        = sqrt(4.5)  = 2.12132
    95% CI: t(4 df) = 2.776; half width = 2.776 * 2.12132 / sqrt(5) = 2.776 * 0.948683 = 2.633545
            -> [5 - 2.633545, 5 + 2.633545] = [2.366455, 7.633545]
    d_z  = 5 / 2.12132 = 2.357023
    d_av = 5 / ((15.81139 + 16.41646) / 2) = 5 / 16.113925 = 0.310291
    """
    sd_before, sd_after = math.sqrt(250), math.sqrt(269.5)
    sd_gain = math.sqrt(4.5)
    # the by-hand figures are those of the raw lists
    assert statistics.mean(BEFORE) == 70 and statistics.mean(AFTER) == 75
    assert statistics.stdev(BEFORE) == pytest.approx(sd_before)
    assert statistics.stdev(AFTER) == pytest.approx(sd_after)
    assert statistics.stdev([a - b for a, b in zip(AFTER, BEFORE, strict=True)]) == pytest.approx(sd_gain)

    result = gain("overall", 5, 70.0, 75.0, sd_gain, sd_before, sd_after)
    assert result == Gain("overall", 5, 70.0, 75.0, 5.0, 2.1213, 2.3665, 7.6335, 2.357, 0.3103)
    # the same to more places than the 4 decimals reported
    half = 2.776 * 2.12132034 / math.sqrt(5)
    assert half == pytest.approx(2.633545, abs=1e-6)
    assert result.ci95_low == pytest.approx(5 - half, abs=5e-5)
    assert result.ci95_high == pytest.approx(5 + half, abs=5e-5)
    assert result.d_z == pytest.approx(2.357023, abs=5e-5)
    assert result.d_av == pytest.approx(0.310291, abs=5e-5)


def test_gain_negative_effect_is_symmetric():
    """Swapping before and after flips the gain, the interval and both effect sizes."""
    sd_before, sd_after, sd_gain = math.sqrt(250), math.sqrt(269.5), math.sqrt(4.5)
    forward = gain("m", 5, 70.0, 75.0, sd_gain, sd_before, sd_after)
    backward = gain("m", 5, 75.0, 70.0, sd_gain, sd_after, sd_before)
    assert backward.mean_gain == -forward.mean_gain
    assert (backward.ci95_low, backward.ci95_high) == (-forward.ci95_high, -forward.ci95_low)
    assert backward.d_z == -forward.d_z and backward.d_av == -forward.d_av


def test_gain_uses_t_beyond_the_table():
    """n = 61: 60 df, t = t975(60) (about 2.000), half width = t * sd / sqrt(61)."""
    result = gain("m", 61, 40.0, 46.0, 12.0, 15.0, 17.0)
    half = t975(60) * 12.0 / math.sqrt(61)
    assert half == pytest.approx(2.000 * 12 / math.sqrt(61), abs=0.002 * 12 / math.sqrt(61))
    assert result.ci95_low == round(6.0 - half, 4) and result.ci95_high == round(6.0 + half, 4)
    assert result.d_z == 0.5 and result.d_av == round(6 / 16, 4)


def test_one_person_gives_no_interval_or_effect_size():
    result = gain("m", 1, 60.0, 72.5, None, None, None)
    assert result == Gain("m", 1, 60.0, 72.5, 12.5, None, None, None, None, None)
    # even if an sd were passed for one person, there is no t with 0 df
    assert gain("m", 1, 60.0, 72.5, 0.0, 0.0, 0.0).ci95_low is None


def test_no_sd_of_gains_gives_no_interval():
    result = gain("m", 10, 60.0, 65.0, None, 10.0, 10.0)
    assert (result.ci95_low, result.ci95_high, result.d_z, result.d_av) == (None, None, None, None)


def test_everyone_gaining_the_same_gives_a_zero_width_interval_and_no_d_z():
    """sd of gains 0: the interval is the gain itself; d_z (gain / 0) is undefined, d_av is not."""
    result = gain("m", 4, 50.0, 53.0, 0.0, 10.0, 10.0)
    assert (result.ci95_low, result.ci95_high) == (3.0, 3.0)
    assert result.d_z is None
    assert result.d_av == 0.3


def test_d_av_needs_both_sds_and_some_spread():
    assert gain("m", 4, 50.0, 53.0, 2.0, None, 10.0).d_av is None
    assert gain("m", 4, 50.0, 53.0, 2.0, 10.0, None).d_av is None
    assert gain("m", 4, 50.0, 53.0, 2.0, 0.0, 0.0).d_av is None
    assert gain("m", 4, 50.0, 53.0, 2.0, 0.0, 4.0).d_av == 1.5  # 3 / ((0 + 4) / 2)


def test_gain_rounds_to_four_decimals():
    result = gain("m", 3, 1 / 3, 2 / 3, 1 / 7, 1 / 9, 1 / 11)
    assert (result.mean_before, result.mean_after, result.mean_gain, result.sd_gain) == (
        0.3333,
        0.6667,
        0.3333,
        0.1429,
    )
