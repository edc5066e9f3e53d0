"""Calibration of one dimension: 2PL for dichotomous items, the graded response model for
polytomous ones, by marginal maximum likelihood (Bock–Aitkin EM) in the PyPI `mirt` package.

Why GRM rather than GPCM for polytomous items: our polytomous items are rubric levels, ordered
and cumulative (reaching level 3 means having reached level 2). The GRM models exactly that,
P(X ≥ k); its thresholds are ordered by construction and read as "the ability at which reaching
level k becomes more likely than not", which is what a cut-score panel and a report need.
GPCM step parameters can come out reversed (an unused middle level), which is legitimate but
hard to explain in a report. And a GRM item with two categories is exactly the 2PL, so one
representation (`model.ItemParameters`) and one set of response functions serve every item.

Sparse data: pool forms leave most cells empty. NaN means "not administered"; MML integrates
over θ and uses only the observed cells, so items are linked through the persons who share them.
Persons with no response on the dimension are dropped. Items with fewer than
`min_fit_responses` responses or fewer than two observed categories are left out of the fit
(flag `not_calibrated`): their parameters are not identified.

Quadrature: 41 points (mirt's default is 21). On a simulated 5,000 × 40 GRM (5 categories) the
marginal log-likelihood with 41 points equals that with 61 to 0.01, while 21 points is 31 lower
and moves the discriminations by about 0.01; the fit costs about the same.

Standard errors come from `mirt` (`se_method="oakes"`: the observed information of the marginal
likelihood, Oakes 1999); a coordinate it cannot estimate is None.

Fit: `mirt`'s S-X² (Orlando & Thissen) refuses incomplete response matrices, and pool data are
incomplete by design, so we compute infit and outfit mean squares ourselves (Wright & Masters
1982) with each person's EAP θ: for a response x with model mean E and variance W at θ̂,
outfit = mean((x − E)² / W), infit = Σ(x − E)² / ΣW over the persons who answered. Using EAP
(not an independent θ) biases both slightly towards overfit (< 1); they are descriptive.
An item is flagged `misfit` outside [`fit_low`, `fit_high`] (default 0.5–1.5: Linacre's range
"productive for measurement").

Anchored (fixed-parameter) calibration: `anchors` holds published parameters of some items (an
adaptive section's pool, from the calibration it pins). `mirt` holds their coordinates at those
values (`start_values` and `fixed`) and estimates the other items (pretest items among them) by the
same EM, so the new items land on the anchors' θ scale, which the published calibration's pool and
abilities use, rather than on a scale of their own (Kim 2006, "A comparative study of IRT fixed
parameter calibration methods", JEM 43). The latent distribution stays N(0, 1) on that scale (one
EM, prior not updated: Kim's NWU-MEM), which holds when the candidates are from the population of
the anchors' calibration sample; a sample that is abler or weaker on the whole biases the new
items' thresholds by part of the difference. An anchor is used only with as many categories as
its published parameters have thresholds + 1; when every item fitted is an anchor (nothing new to
estimate) the fit is an ordinary one, as without anchors. An anchored item keeps its published parameters and
standard errors and is flagged `anchored`. The reporting scale then is the anchors' one.

Flags: `few_responses` (< `min_responses`, default 200: a common rule of thumb for stable 2PL
estimates), `low_discrimination` (a < 0.2), `high_discrimination` (a > 4), `extreme_threshold`
(any |b_k| > 4), `misfit`, `not_calibrated`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec
import numpy as np
from numpy.typing import NDArray

from service.psychometrics.ability import QUADRATURE_NODES, eap_arrays, scale_transform
from service.psychometrics.model import (
    DimensionCalibration,
    ItemCalibration,
    ItemModel,
    ItemParameters,
    ScaleTransform,
)
from service.psychometrics.response import (
    FloatArray,
    PackedItems,
    category_probabilities,
    item_information,
)

INFORMATION_GRID: FloatArray = np.linspace(-4.0, 4.0, 33)


class CalibrationSettings(msgspec.Struct, frozen=True, kw_only=True):
    min_responses: int = 200
    min_fit_responses: int = 10
    min_discrimination: float = 0.2
    max_discrimination: float = 4.0
    max_abs_threshold: float = 4.0
    fit_low: float = 0.5
    fit_high: float = 1.5
    max_iter: int = 500
    tolerance: float = 1e-4
    quadrature_points: int = 41
    compute_standard_errors: bool = True


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _mirt_parameters(
    fit: object, model_names: list[ItemModel], categories: list[int], item_ids: list[str]
) -> list[ItemParameters]:
    """Read `mirt`'s parameters back into ItemParameters. A fit of one family names its arrays
    `discrimination`/`difficulty`/`thresholds`; a mixed fit prefixes them with the family
    (`2PL.discrimination`) and numbers the items of each family in column order."""
    params: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in fit.model.parameters.items()}  # type: ignore[attr-defined]  # `fit` is object: mirt loads lazily
    errors: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in fit.standard_errors.items()}  # type: ignore[attr-defined]  # as above
    mixed = len(set(model_names)) > 1
    position = {"2PL": 0, "GRM": 0}
    result = []
    for column, family in enumerate(model_names):
        prefix = f"{family}." if mixed else ""
        row = position[family]
        position[family] += 1
        location_key = "difficulty" if family == "2PL" else "thresholds"
        a = float(params[prefix + "discrimination"][row])
        b = np.atleast_1d(params[prefix + location_key][row])[: categories[column] - 1]
        se_a = errors.get(prefix + "discrimination")
        se_b = errors.get(prefix + location_key)
        result.append(
            ItemParameters(
                item_id=item_ids[column],
                model=family,
                discrimination=a,
                thresholds=tuple(float(x) for x in b),
                se_discrimination=None if se_a is None else _finite_or_none(se_a[row]),
                se_thresholds=None
                if se_b is None
                else tuple(_finite_or_none(x) for x in np.atleast_1d(se_b[row])[: categories[column] - 1]),
            )
        )
    return result


def fit_mean_squares(
    responses: FloatArray, theta: FloatArray, items: PackedItems
) -> tuple[FloatArray, FloatArray]:
    """Infit and outfit mean squares per item (columns of `responses`), at the given θ."""
    probabilities = category_probabilities(theta, items)  # (N, J, K)
    codes = np.arange(probabilities.shape[2], dtype=np.float64)
    expected = probabilities @ codes
    variance = np.maximum(probabilities @ codes**2 - expected**2, 1e-12)
    observed = ~np.isnan(responses)
    squared = np.where(observed, (np.nan_to_num(responses) - expected) ** 2, 0.0)
    counts = np.maximum(observed.sum(axis=0), 1)
    outfit = (squared / variance).sum(axis=0) / counts
    infit = squared.sum(axis=0) / np.maximum(np.where(observed, variance, 0.0).sum(axis=0), 1e-12)
    return infit, outfit


def _flags(
    parameters: ItemParameters, responses: int, infit: float, outfit: float, s: CalibrationSettings
) -> tuple[str, ...]:
    flags = []
    if responses < s.min_responses:
        flags.append("few_responses")
    if parameters.discrimination < s.min_discrimination:
        flags.append("low_discrimination")
    if parameters.discrimination > s.max_discrimination:
        flags.append("high_discrimination")
    if any(abs(b) > s.max_abs_threshold for b in parameters.thresholds):
        flags.append("extreme_threshold")
    if not (s.fit_low <= infit <= s.fit_high and s.fit_low <= outfit <= s.fit_high):
        flags.append("misfit")
    return tuple(flags)


def _anchoring(
    anchors: Mapping[str, ItemParameters],
    model_names: list[ItemModel],
    categories: list[int],
    item_ids: list[str],
) -> tuple[dict[str, FloatArray], dict[str, NDArray[np.bool_]]]:
    """`mirt`'s start values and fixed masks holding the anchors' coordinates (named and numbered
    as `_mirt_parameters` reads them back); the free items start from the family defaults."""
    mixed = len(set(model_names)) > 1
    start: dict[str, FloatArray] = {}
    fixed: dict[str, NDArray[np.bool_]] = {}
    for family in sorted(set(model_names)):
        prefix = f"{family}." if mixed else ""
        columns = [j for j, name in enumerate(model_names) if name == family]
        width = max(categories[j] for j in columns) - 1
        a = np.ones(len(columns))
        b = np.zeros((len(columns), width))
        held = np.zeros(len(columns), dtype=bool)
        for row, j in enumerate(columns):
            anchor = anchors.get(item_ids[j])
            if anchor is None:
                b[row, : categories[j] - 1] = (
                    np.linspace(-1.0, 1.0, categories[j] - 1) if categories[j] > 2 else 0.0
                )
                continue
            held[row] = True
            a[row] = anchor.discrimination
            b[row, : categories[j] - 1] = anchor.thresholds
        start[prefix + "discrimination"] = a
        fixed[prefix + "discrimination"] = held
        if family == "2PL":
            start[prefix + "difficulty"] = b[:, 0]
            fixed[prefix + "difficulty"] = held
        else:
            start[prefix + "thresholds"] = b
            fixed[prefix + "thresholds"] = np.repeat(held[:, None], width, axis=1)
    return start, fixed


def calibrate_dimension(
    dimension: str,
    responses: FloatArray,
    categories: Sequence[int],
    item_ids: Sequence[str],
    settings: CalibrationSettings | None = None,
    *,
    anchors: Mapping[str, ItemParameters] | None = None,
    anchor_scale: ScaleTransform | None = None,
) -> DimensionCalibration:
    """Calibrate one dimension. `responses` is persons × items with category codes 0..K−1 and
    NaN for items not administered; `categories[j]` is item j's number of categories (2 for a
    dichotomous item). `anchors`: published parameters to hold fixed (see the module docstring),
    `anchor_scale` their calibration's reporting scale."""
    import mirt  # imported here: loading its Rust core costs time the rest of the package does not need

    s = settings or CalibrationSettings()
    data = np.array(responses, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != len(categories) or len(item_ids) != len(categories):
        raise ValueError("responses must be persons × items, matching categories and item_ids")
    data = data[~np.isnan(data).all(axis=1)]
    counts = (~np.isnan(data)).sum(axis=0)
    observed_categories = [np.unique(col[~np.isnan(col)]).size for col in data.T]
    fitted = [
        j for j in range(len(item_ids)) if counts[j] >= s.min_fit_responses and observed_categories[j] >= 2
    ]
    if not fitted:
        raise ValueError("no item has enough responses to calibrate")
    data_fit = data[:, fitted]
    keep = ~np.isnan(data_fit).all(axis=1)
    data_fit = data_fit[keep]
    fit_categories = [int(categories[j]) for j in fitted]
    model_names: list[ItemModel] = ["2PL" if k == 2 else "GRM" for k in fit_categories]
    fit_ids = [item_ids[j] for j in fitted]
    held = {
        code: anchor
        for code, k in zip(fit_ids, fit_categories, strict=True)
        if (anchor := (anchors or {}).get(code)) is not None and len(anchor.thresholds) == k - 1
    }
    if len(held) == len(fit_ids):  # nothing new to estimate: an ordinary fit, as without anchors
        held = {}
    start, fixed = _anchoring(held, model_names, fit_categories, fit_ids) if held else (None, None)
    fit = mirt.fit_mirt(
        data_fit,
        model=model_names[0] if len(set(model_names)) == 1 else model_names,
        n_categories=fit_categories,
        max_iter=s.max_iter,
        tol=s.tolerance,
        n_quadpts=s.quadrature_points,
        compute_standard_errors=s.compute_standard_errors,
        item_names=fit_ids,
        start_values=start,
        fixed=fixed,
    )
    parameters = [held.get(p.item_id, p) for p in _mirt_parameters(fit, model_names, fit_categories, fit_ids)]
    packed = PackedItems(parameters)
    theta, se = eap_arrays(data_fit, packed)
    infit, outfit = fit_mean_squares(data_fit, theta, packed)
    by_column = {j: index for index, j in enumerate(fitted)}
    items = []
    for j, item_id in enumerate(item_ids):
        if j not in by_column:
            items.append(
                ItemCalibration(
                    item_id=item_id,
                    categories=int(categories[j]),
                    responses=int(counts[j]),
                    parameters=None,
                    infit=None,
                    outfit=None,
                    flags=("few_responses", "not_calibrated")
                    if counts[j] < s.min_responses
                    else ("not_calibrated",),
                )
            )
            continue
        index = by_column[j]
        item_infit, item_outfit = float(infit[index]), float(outfit[index])
        items.append(
            ItemCalibration(
                item_id=item_id,
                categories=int(categories[j]),
                responses=int(counts[j]),
                parameters=parameters[index],
                infit=item_infit,
                outfit=item_outfit,
                flags=_flags(parameters[index], int(counts[j]), item_infit, item_outfit, s)
                + (("anchored",) if item_id in held else ()),
            )
        )
    information = item_information(INFORMATION_GRID, packed).sum(axis=1)
    return DimensionCalibration(
        dimension=dimension,
        persons=int(data_fit.shape[0]),
        items=tuple(items),
        converged=bool(fit.converged),
        iterations=int(fit.n_iterations),
        log_likelihood=float(fit.log_likelihood),
        marginal_reliability=float(1.0 - np.mean(se**2)),
        theta_grid=tuple(float(t) for t in INFORMATION_GRID),
        information=tuple(float(i) for i in information),
        scale=anchor_scale if held and anchor_scale is not None else scale_transform(theta),
    )


__all__ = ["QUADRATURE_NODES", "CalibrationSettings", "calibrate_dimension", "fit_mean_squares"]
