"""Ability estimates beside the percentage scores: a final score document, through a published
calibration, gains per calibrated top-level dimension θ, its standard error, a reported scale score
and a level. Pure: no I/O (`service.results.scores` attaches them when it scores an attempt).

How each number is made:
- responses: the document's credit on the dimension per item (`response_matrix.dimension_credits`,
  the same mapping the calibration fitted) becomes the item's category by the calibration's floors
  (`response_matrix.category_of`); an omitted item is category 0, an item not on the form is not
  administered, an item the calibration left out (`not_calibrated`) or never saw is ignored;
- θ: EAP under the standard normal prior, SE the posterior SD (`service.psychometrics.ability`);
- scale score: a linear transform, mean + sd · (θ − m) / s, where m and s are the mean and SD of the
  calibration sample's EAP estimates (so the calibration sample reads mean / sd on the scale) and
  mean / sd are the framework's `reporting_scale` (set per framework version; absent: 500 / 100,
  the calibration's own); its SE is sd · SE / s;
- level: the rubric's percentage cut scores for the dimension (its own, else the overall ones, as
  the engine uses) mapped to θ cut points through the test characteristic curve of the dimension's
  calibrated items (`ability.theta_cuts`), each item weighing the same, its expected credit being
  its expected category out of the highest; the level is the highest cut at or below θ (the
  lowest level below every cut), the engine's rule on the θ scale. The cuts depend only on the
  calibration and the cut scores, so two attempts at the same θ get the same level whatever their
  form: that is the point of the IRT scale. They are cached per (calibration, dimension, cuts).
Numbers are rounded like the rest of the document (`DIGITS`). A batch of documents (a rescoring's)
is estimated in one EAP pass per calibration and dimension (`many_abilities`), a row per document
with NaN where an item was not administered: the same numbers as one at a time, at a fraction of the
cost (numpy's per-call overhead dominates a single 10-item estimate).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import msgspec
import numpy as np

from service.psychometrics.ability import eap_arrays, theta_cuts
from service.psychometrics.model import DimensionCalibration, ItemParameters, ScaleTransform
from service.psychometrics.response import PackedItems
from service.results.calibration_result import PublishedCalibration
from service.results.response_matrix import category_of, dimension_credits
from service.rubrics.model import CutScore, FrameworkContent
from service.scoring.engine import DIGITS, Abilities, DimensionAbility, ScoreDocument


def _r(value: float) -> float:
    return round(value, DIGITS) + 0.0


def dimension_cuts(framework: FrameworkContent, dimension: str) -> list[CutScore]:
    """The percentage cut scores a top-level dimension's level uses (the engine's rule)."""
    return framework.cut_scores.dimensions.get(dimension, framework.cut_scores.overall)


def calibrated_items(dimension: DimensionCalibration) -> tuple[ItemParameters, ...]:
    return tuple(item.parameters for item in dimension.items if item.parameters is not None)


@lru_cache(maxsize=256)
def _cached_cuts(
    calibration_id: str, dimension: str, percentages: tuple[float, ...], items: tuple[ItemParameters, ...]
) -> tuple[float, ...]:
    del calibration_id, dimension  # part of the key only: a published calibration never changes
    return theta_cuts(percentages, items)


def level_cuts(
    calibration: PublishedCalibration, dimension: DimensionCalibration, cuts: list[CutScore]
) -> tuple[float, ...]:
    """θ cut points of the percentage cut scores, in the order of `cuts`."""
    return _cached_cuts(
        calibration.id,
        dimension.dimension,
        tuple(float(cut.min_score) for cut in cuts),
        calibrated_items(dimension),
    )


def reporting_scale(dimension: DimensionCalibration, framework: FrameworkContent) -> ScaleTransform:
    """The calibration sample's θ mean and SD, with the framework's reporting mean and SD if it sets them."""
    if framework.reporting_scale is None:
        return dimension.scale
    return msgspec.structs.replace(
        dimension.scale, scale_mean=framework.reporting_scale.mean, scale_sd=framework.reporting_scale.sd
    )


def theta_level(cuts: list[CutScore], thetas: tuple[float, ...], theta: float) -> str:
    reached = [cut for cut, point in zip(cuts, thetas, strict=True) if point <= theta]
    return (reached[-1] if reached else cuts[0]).level


def _floors(calibration: PublishedCalibration) -> dict[tuple[str, str], tuple[float, ...]]:
    return {
        (group.dimension, item.item_id): tuple(item.floors)
        for group in calibration.result.categories
        for item in group.items
    }


def dimension_responses(
    document: ScoreDocument,
    calibration: PublishedCalibration,
    floors: dict[tuple[str, str], tuple[float, ...]] | None = None,
) -> dict[str, dict[str, int]]:
    """Per calibrated dimension, {item: category} of the document's responses to its calibrated items."""
    credits = dimension_credits(document)
    floors = _floors(calibration) if floors is None else floors
    responses: dict[str, dict[str, int]] = {}
    for dimension in calibration.result.dimensions:
        fitted = {item.item_id for item in calibrated_items(dimension)}
        given = credits.get(dimension.dimension, {})
        responses[dimension.dimension] = {
            item: category_of(credit, floors[(dimension.dimension, item)])
            for item, credit in sorted(given.items())
            if item in fitted
        }
    return responses


def many_abilities(
    documents: Sequence[tuple[ScoreDocument, PublishedCalibration, FrameworkContent]],
) -> list[Abilities]:
    """Each document's abilities (see `abilities`), one EAP pass per calibration and dimension over all
    the documents that use it (a row each, NaN where an item was not administered): a rescoring batch
    costs a few array operations rather than one per document."""
    found: list[list[DimensionAbility]] = [[] for _ in documents]
    by_calibration: dict[str, list[int]] = {}
    for index, (_, calibration, _) in enumerate(documents):
        by_calibration.setdefault(calibration.id, []).append(index)
    for rows in by_calibration.values():
        calibration = documents[rows[0]][1]
        floors = _floors(calibration)
        responses = [dimension_responses(documents[i][0], calibration, floors) for i in rows]
        for dimension in calibration.result.dimensions:
            items = calibrated_items(dimension)
            column = {item.item_id: j for j, item in enumerate(items)}
            matrix = np.full((len(rows), len(items)), np.nan)
            for r, answered in enumerate(responses):
                for item, category in answered[dimension.dimension].items():
                    matrix[r, column[item]] = category
            thetas, ses = eap_arrays(matrix, PackedItems(items))
            counts = (~np.isnan(matrix)).sum(axis=1)
            points: dict[int, tuple[float, ...]] = {}  # per framework object: its θ cut points
            for r, i in enumerate(rows):
                if counts[r] == 0:
                    continue
                theta, se = float(thetas[r]), float(ses[r])
                framework = documents[i][2]
                cuts = dimension_cuts(framework, dimension.dimension)
                if id(framework) not in points:
                    points[id(framework)] = level_cuts(calibration, dimension, cuts)
                scale = reporting_scale(dimension, framework)
                found[i].append(
                    DimensionAbility(
                        dimension=dimension.dimension,
                        theta=_r(theta),
                        se=_r(se),
                        scale_score=_r(scale.score(theta)),
                        scale_se=_r(scale.score_se(se)),
                        level=theta_level(cuts, points[id(framework)], theta),
                        items=int(counts[r]),
                    )
                )
    return [
        Abilities(calibration=calibration.id, dimensions=dimensions)
        for (_, calibration, _), dimensions in zip(documents, found, strict=True)
    ]


def abilities(
    document: ScoreDocument, calibration: PublishedCalibration, framework: FrameworkContent
) -> Abilities:
    """The document's abilities on every calibrated dimension it has a calibrated item of, in the
    calibration's order of dimensions."""
    return many_abilities([(document, calibration, framework)])[0]
