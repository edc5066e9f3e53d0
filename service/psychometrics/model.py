"""Structs for item parameters and psychometric results. Immutable (`frozen=True`) and
serialisable with msgspec, so the next steps can store them in jsonb and return them from the
API unchanged. `gc=False`: none of them can form a reference cycle.

One parameterisation serves both item models: the graded response model (Samejima) with
P(X ≥ k | θ) = 1 / (1 + exp(-a (θ - b_k))) for k = 1..K-1, ordered thresholds b_1 < … < b_{K-1}.
A dichotomous item (K = 2) is then exactly the 2PL with difficulty b_1 (`model="2PL"` records
which model was fitted). Thresholds are on the θ metric (not the slope-intercept form), so they
read directly as "the ability at which reaching level k becomes more likely than not".
"""

from __future__ import annotations

from typing import Literal

import msgspec

ItemModel = Literal["2PL", "GRM"]


class ItemParameters(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One calibrated item. `se_*` are None when the estimator gave none (see calibration)."""

    item_id: str
    model: ItemModel
    discrimination: float
    thresholds: tuple[float, ...]
    se_discrimination: float | None = None
    se_thresholds: tuple[float | None, ...] | None = None

    @property
    def categories(self) -> int:
        return len(self.thresholds) + 1


class ItemCalibration(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An item's calibration outcome. `parameters` is None when the item was left out of the fit
    (flag `not_calibrated`: fewer than two response categories observed, or fewer than
    `CalibrationSettings.min_fit_responses` responses)."""

    item_id: str
    categories: int
    responses: int
    parameters: ItemParameters | None
    infit: float | None
    outfit: float | None
    flags: tuple[str, ...]


class ScaleTransform(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Reported score = scale_mean + scale_sd · (θ − theta_mean) / theta_sd, where theta_mean and
    theta_sd are the mean and SD of the calibration sample's EAP estimates."""

    theta_mean: float
    theta_sd: float
    scale_mean: float = 500.0
    scale_sd: float = 100.0

    def score(self, theta: float) -> float:
        return self.scale_mean + self.scale_sd * (theta - self.theta_mean) / self.theta_sd

    def score_se(self, theta_se: float) -> float:
        return self.scale_sd * theta_se / self.theta_sd


class DimensionCalibration(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One dimension's calibration. `marginal_reliability` = 1 − mean(posterior variance) over the
    calibration sample (θ variance is 1 by identification), so it reflects the forms the persons
    actually took, not the whole pool. `information` is the test information of all calibrated
    items at each point of `theta_grid`."""

    dimension: str
    persons: int
    items: tuple[ItemCalibration, ...]
    converged: bool
    iterations: int
    log_likelihood: float
    marginal_reliability: float
    theta_grid: tuple[float, ...]
    information: tuple[float, ...]
    scale: ScaleTransform


class AbilityEstimate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """EAP θ with its posterior SD as the standard error; `items` counts the responses used."""

    theta: float
    se: float
    items: int
