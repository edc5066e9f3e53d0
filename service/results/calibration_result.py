"""What a calibration run produces (the `result` of a `calibrations` row), apart from the module
that owns the table, so the pure readers of a published calibration (`service.results.abilities`)
need nothing of the job or its SQL."""

from __future__ import annotations

import msgspec

from service.psychometrics.model import DimensionCalibration


class SkippedDimension(msgspec.Struct, frozen=True):
    dimension: str
    reason: str


class ItemCategories(msgspec.Struct, frozen=True):
    """How an item's credit on the dimension became categories: category k is a credit of at least
    `floors[k]` (and below `floors[k + 1]`)."""

    item_id: str
    floors: list[float]


class DimensionCategories(msgspec.Struct, frozen=True):
    dimension: str
    items: list[ItemCategories]


class CalibrationResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """Per top-level dimension calibrated, its `DimensionCalibration` (per item: parameters with
    standard errors, infit/outfit, flags; per dimension: marginal reliability, the test information
    curve over `theta_grid`, the reported scale) and its items' categories."""

    dimensions: list[DimensionCalibration]
    categories: list[DimensionCategories]
    skipped: list[SkippedDimension]
    # set when another assessment's published calibration was adopted: the id of the calibration that
    # was fitted (the scale both share), so their abilities are on one θ scale (equated)
    adopted_from: str | None = None
    # per dimension, the published calibration whose parameters its anchored items kept (fixed-parameter
    # calibration: service.results.calibrations); absent for a free fit
    anchored_to: dict[str, str] = msgspec.field(default_factory=dict)


class PublishedCalibration(msgspec.Struct, frozen=True):
    """A published calibration as scoring uses it: its id (pinned in score documents) and result."""

    id: str
    result: CalibrationResult
