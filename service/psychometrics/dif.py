"""Differential item functioning by the Mantel–Haenszel procedure (Holland & Thayer 1988) with
the ETS A/B/C classification (Zieky 1993; Dorans & Holland 1993). Pure.

Persons are matched on the total score (the studied item included, as Holland & Thayer
recommend); each score level is a stratum k with a 2×2 table: A_k / B_k reference right / wrong,
C_k / D_k focal right / wrong, N_k in total. Then
  α_MH = Σ A_k D_k / N_k ÷ Σ B_k C_k / N_k   (common odds ratio, reference over focal),
  MH D-DIF = −2.35 ln α_MH                     (ETS delta metric; negative = harder for focal),
  SE(D) = 2.35 · SE(ln α_MH) by Robins, Breslow & Greenland (1986),
  MH χ² = (|Σ A_k − Σ E(A_k)| − ½)² / Σ Var(A_k) with continuity correction, 1 df.
ETS classes:
  A (negligible): MH χ² not significant at .05, or |D| < 1;
  C (large): |D| ≥ 1.5 and |D| significantly greater than 1 (one-sided z = (|D| − 1)/SE > 1.645);
  B (moderate): otherwise.
Strata where one group is absent or everyone answered alike carry no information and drop out.
Dichotomous items (0/1); persons need a response to every item (complete data), since the
total score is the matching variable; rows with a NaN are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np

from service.psychometrics.response import FloatArray

DELTA_SCALE = 2.35
Z_ONE_SIDED_05 = 1.645


class DifResult(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    item_id: str
    mh_odds_ratio: float | None
    mh_d_dif: float | None
    se_d_dif: float | None
    chi_square: float | None
    p_value: float | None
    ets_class: str  # A, B or C; A when the item carries no information (None statistics)
    reference: int
    focal: int


def chi2_1df_sf(statistic: float) -> float:
    """P(χ²₁ ≥ x) = P(|Z| ≥ √x) = erfc(√(x/2)): exact, and without scipy.stats, whose import would cost
    every worker's start seconds (this module is loaded at start, by the item-statistics job kind)."""
    return math.erfc(math.sqrt(max(statistic, 0.0) / 2.0))


def ets_class(d_dif: float, se: float, p_value: float) -> str:
    magnitude = abs(d_dif)
    if p_value >= 0.05 or magnitude < 1.0:
        return "A"
    if magnitude >= 1.5 and (magnitude - 1.0) / se > Z_ONE_SIDED_05:
        return "C"
    return "B"


def mantel_haenszel(
    responses: FloatArray, focal: Sequence[bool], item_ids: Sequence[str]
) -> tuple[DifResult, ...]:
    """MH DIF for every column of `responses` (persons × items, 0/1); `focal[i]` marks the focal
    group, the others are the reference group."""
    data = np.asarray(responses, dtype=np.float64)
    is_focal = np.asarray(focal, dtype=bool)
    complete = ~np.isnan(data).any(axis=1)
    data, is_focal = data[complete], is_focal[complete]
    totals = data.sum(axis=1).astype(np.int64)
    results = []
    for j, item_id in enumerate(item_ids):
        num = den = sum_a = sum_expected = sum_var = 0.0
        rbg_pr = rbg_ps_qr = rbg_qs = 0.0
        for score in np.unique(totals):
            stratum = totals == score
            right = data[stratum, j] == 1
            ref = ~is_focal[stratum]
            a = float((right & ref).sum())
            b = float((~right & ref).sum())
            c = float((right & ~ref).sum())
            d = float((~right & ~ref).sum())
            n = a + b + c + d
            n_ref, n_focal, m_right, m_wrong = a + b, c + d, a + c, b + d
            if n < 2 or n_ref == 0 or n_focal == 0 or m_right == 0 or m_wrong == 0:
                continue
            num += a * d / n
            den += b * c / n
            sum_a += a
            sum_expected += n_ref * m_right / n
            sum_var += n_ref * n_focal * m_right * m_wrong / (n * n * (n - 1))
            p, q = (a + d) / n, (b + c) / n
            r, s_ = a * d / n, b * c / n
            rbg_pr += p * r
            rbg_ps_qr += p * s_ + q * r
            rbg_qs += q * s_
        n_ref_total = int((~is_focal).sum())
        n_focal_total = int(is_focal.sum())
        if num == 0 or den == 0 or sum_var == 0:
            results.append(
                DifResult(
                    item_id=item_id,
                    mh_odds_ratio=None,
                    mh_d_dif=None,
                    se_d_dif=None,
                    chi_square=None,
                    p_value=None,
                    ets_class="A",
                    reference=n_ref_total,
                    focal=n_focal_total,
                )
            )
            continue
        alpha = num / den
        var_log_alpha = rbg_pr / (2 * num * num) + rbg_ps_qr / (2 * num * den) + rbg_qs / (2 * den * den)
        d_dif = -DELTA_SCALE * math.log(alpha)
        se = DELTA_SCALE * math.sqrt(var_log_alpha)
        statistic = max(abs(sum_a - sum_expected) - 0.5, 0.0) ** 2 / sum_var
        p_value = chi2_1df_sf(statistic)
        results.append(
            DifResult(
                item_id=item_id,
                mh_odds_ratio=alpha,
                mh_d_dif=d_dif,
                se_d_dif=se,
                chi_square=statistic,
                p_value=p_value,
                ets_class=ets_class(d_dif, se, p_value),
                reference=n_ref_total,
                focal=n_focal_total,
            )
        )
    return tuple(results)
