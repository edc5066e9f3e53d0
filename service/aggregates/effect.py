"""Training effect: the same people before and after, as paired differences. Pure: no I/O.

For each measure, over the people with a counted result on both assessments: the mean gain
(after - before), its 95% confidence interval from Student's t with n - 1 degrees of freedom,
and two standardised effect sizes:
- d_z = mean gain / sd of the gains (the paired design's own scale);
- d_av = mean gain / mean of the before and after sds (comparable with unpaired studies).
The same on θ (`theta_gain`) when both assessments' abilities come from one calibration (equated):
then a gain of 0.3 means the same on either form, which a percentage gain between two different
forms cannot claim.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import msgspec

# two-sided 95%: t quantiles 0.975 for 1..30 degrees of freedom; beyond, a Cornish-Fisher expansion
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)
_Z975 = 1.959964


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("needs at least one degree of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


class Gain(msgspec.Struct):
    measure: str
    n: int
    mean_before: float
    mean_after: float
    mean_gain: float
    sd_gain: float | None
    ci95_low: float | None
    ci95_high: float | None
    d_z: float | None
    d_av: float | None


def gain(
    measure: str,
    n: int,
    mean_before: float,
    mean_after: float,
    sd_gain: float | None,
    sd_before: float | None,
    sd_after: float | None,
) -> Gain:
    mean_gain = mean_after - mean_before
    low = high = d_z = d_av = None
    if n >= 2 and sd_gain is not None:
        half = t975(n - 1) * sd_gain / math.sqrt(n)
        low, high = mean_gain - half, mean_gain + half
        d_z = mean_gain / sd_gain if sd_gain > 0 else None
        if sd_before is not None and sd_after is not None and sd_before + sd_after > 0:
            d_av = mean_gain / ((sd_before + sd_after) / 2)

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    return Gain(
        measure,
        n,
        round(mean_before, 4),
        round(mean_after, 4),
        round(mean_gain, 4),
        r(sd_gain),
        r(low),
        r(high),
        r(d_z),
        r(d_av),
    )


def theta_gain(measure: str, before: Sequence[float], after: Sequence[float]) -> Gain:
    """The gain on θ over paired estimates (the same people, in the same order)."""
    n = len(before)
    gains = [a - b for a, b in zip(after, before, strict=True)]
    spread = n >= 2
    return gain(
        measure,
        n,
        statistics.fmean(before),
        statistics.fmean(after),
        statistics.stdev(gains) if spread else None,
        statistics.stdev(before) if spread else None,
        statistics.stdev(after) if spread else None,
    )
