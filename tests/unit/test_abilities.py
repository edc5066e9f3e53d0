"""Abilities in score documents (service/results/abilities.py), pure: the engine scores an attempt,
a published calibration gives its θ. Property: the document's θ and SE equal EAP
(`ability.estimate_abilities`) on the attempt's right/wrong pattern built here from the answers, not
from the document; the scale score is the calibration's transform; the level is the cut scores' rule
on θ cut points from the TCC; the percentage scores are exactly the engine's."""

from __future__ import annotations

import math

import msgspec
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from service.items.model import Item
from service.items.views import Answer
from service.psychometrics.ability import estimate_abilities, theta_cuts
from service.psychometrics.model import (
    DimensionCalibration,
    ItemCalibration,
    ItemParameters,
    ScaleTransform,
)
from service.results.abilities import abilities
from service.results.calibration_result import (
    CalibrationResult,
    DimensionCategories,
    ItemCategories,
    PublishedCalibration,
)
from service.rubrics.model import FrameworkContent
from service.scoring.engine import ScoredItem, ScoringInput, score


def _l(text: str) -> dict[str, str]:
    return {"en": text, "zh-CN": text}


FRAMEWORK = msgspec.convert(
    {
        "code": "fw",
        "title": _l("fw"),
        "levels": [{"code": c, "label": _l(c)} for c in ("L1", "L2", "L3")],
        "dimensions": [
            {
                "code": code,
                "name": _l(code),
                "weight": 0.5,
                "indicators": [{"code": f"{code}.1", "statement": _l(code), "weight": 1.0}],
            }
            for code in ("D1", "D2")
        ],
        "cut_scores": {
            "overall": [
                {"level": "L1", "min_score": 0},
                {"level": "L2", "min_score": 50},
                {"level": "L3", "min_score": 80},
            ],
            "dimensions": {
                "D2": [
                    {"level": "L1", "min_score": 0},
                    {"level": "L2", "min_score": 35},
                    {"level": "L3", "min_score": 70},
                ]
            },
        },
    },
    FrameworkContent,
)

# Six single-choice items on D1 (the first two rarely on a form: a pool), four on D2; one D2 item
# was left out of the calibration (too few responses): it is scored, but carries no θ information.
D1 = [(f"A{j}", 0.6 + 0.2 * j, -1.5 + 0.6 * j) for j in range(6)]
D2 = [(f"B{j}", 1.0 + 0.1 * j, -1.0 + 0.7 * j) for j in range(3)]
UNCALIBRATED = "B3"


def _item(code: str, indicator: str) -> Item:
    return msgspec.convert(
        {
            "type": "single_choice",
            "code": code,
            "framework": "fw",
            "stem": _l(code),
            "loadings": [{"indicator": indicator}],
            "options": [{"key": k, "text": _l(k)} for k in "abcd"],
            "key": {"correct": "c"},
        },
        Item,  # type: ignore[arg-type]
    )


ITEMS = {code: _item(code, "D1.1") for code, _, _ in D1} | {
    code: _item(code, "D2.1") for code, _, _ in [*D2, (UNCALIBRATED, 0, 0)]
}


def _dimension(
    code: str, items: list[tuple[str, float, float]], scale: ScaleTransform
) -> DimensionCalibration:
    calibrated = [
        ItemCalibration(
            item_id=item,
            categories=2,
            responses=500,
            parameters=ItemParameters(item_id=item, model="2PL", discrimination=a, thresholds=(b,)),
            infit=1.0,
            outfit=1.0,
            flags=(),
        )
        for item, a, b in items
    ]
    if code == "D2":
        calibrated.append(
            ItemCalibration(
                item_id=UNCALIBRATED,
                categories=2,
                responses=3,
                parameters=None,
                infit=None,
                outfit=None,
                flags=("few_responses", "not_calibrated"),
            )
        )
    return DimensionCalibration(
        dimension=code,
        persons=500,
        items=tuple(calibrated),
        converged=True,
        iterations=20,
        log_likelihood=-1000.0,
        marginal_reliability=0.7,
        theta_grid=(0.0,),
        information=(1.0,),
        scale=scale,
    )


CALIBRATION = PublishedCalibration(
    id="0b8a8a2e-4c1e-4c55-9f3e-000000000001",
    result=CalibrationResult(
        dimensions=[
            _dimension("D1", D1, ScaleTransform(theta_mean=0.1, theta_sd=0.9)),
            _dimension("D2", D2, ScaleTransform(theta_mean=-0.05, theta_sd=0.8, scale_mean=100, scale_sd=15)),
        ],
        categories=[
            DimensionCategories("D1", [ItemCategories(code, [0.0, 1.0]) for code, _, _ in D1]),
            DimensionCategories(
                "D2", [ItemCategories(code, [0.0, 1.0]) for code, _, _ in [*D2, (UNCALIBRATED, 0, 0)]]
            ),
        ],
        skipped=[],
    ),
)
PARAMETERS = {
    dimension.dimension: [item.parameters for item in dimension.items if item.parameters is not None]
    for dimension in CALIBRATION.result.dimensions
}

# per item: on the form or not (pool), and the answer: right, wrong, or omitted
answer_of = st.sampled_from(["right", "wrong", "omitted"])


@settings(max_examples=80, deadline=None)
@given(
    on_form=st.lists(st.booleans(), min_size=2, max_size=2),
    answers=st.lists(answer_of, min_size=len(ITEMS), max_size=len(ITEMS)),
)
def test_document_theta_is_eap_on_the_attempts_responses(on_form: list[bool], answers: list[str]) -> None:
    pool = dict(zip(("A0", "A1"), on_form, strict=True))
    form = [code for code in ITEMS if pool.get(code, True)]
    given_answers = {
        code: {"choice": "c" if answer == "right" else "a"}
        for code, answer in zip(ITEMS, answers, strict=True)
        if code in form and answer != "omitted"
    }
    data = msgspec.convert(
        {
            "framework": msgspec.to_builtins(FRAMEWORK),
            "framework_hash": "sha256:fw",
            "items": [msgspec.to_builtins(ScoredItem(1, ITEMS[code])) for code in form],
            "answers": given_answers,
        },
        ScoringInput,
    )
    document = score(data)
    result = abilities(document, CALIBRATION, FRAMEWORK)
    assert result.calibration == CALIBRATION.id
    by_dimension = {d.dimension: d for d in result.dimensions}
    for dimension, items in (("D1", D1), ("D2", D2)):
        # right = 1, wrong or omitted = 0 (as the score counts them), not on the form = not administered
        row = np.array(
            [
                [
                    (1.0 if given_answers.get(code, {}).get("choice") == "c" else 0.0)
                    if code in form
                    else math.nan
                    for code, _, _ in items
                ]
            ]
        )
        expected = estimate_abilities(row, PARAMETERS[dimension])[0]
        found = by_dimension[dimension]
        assert found.theta == round(expected.theta, 6) + 0.0
        assert found.se == round(expected.se, 6) + 0.0
        assert found.items == sum(code in form for code, _, _ in items)
        scale = next(d.scale for d in CALIBRATION.result.dimensions if d.dimension == dimension)
        assert math.isclose(found.scale_score, scale.score(expected.theta), abs_tol=1e-5)
        assert math.isclose(found.scale_se, scale.score_se(expected.se), abs_tol=1e-5)
        cuts = FRAMEWORK.cut_scores.dimensions.get(dimension, FRAMEWORK.cut_scores.overall)
        points = theta_cuts([c.min_score for c in cuts], PARAMETERS[dimension])
        reached = [c.level for c, t in zip(cuts, points, strict=True) if t <= expected.theta]
        assert found.level == (reached[-1] if reached else cuts[0].level)
    # the percentage scores are the engine's, untouched
    assert msgspec.structs.replace(document, abilities=None) == score(data)


def test_theta_cut_points_map_each_percentage_cut_through_the_tcc() -> None:
    """At a D2 θ cut point the calibrated items' expected percentage is the cut score; the levels order
    with θ."""
    from service.psychometrics.ability import expected_percentage

    points = theta_cuts([0.0, 35.0, 70.0], PARAMETERS["D2"])
    assert points[0] == -6.0 and points[1] < points[2]
    assert math.isclose(expected_percentage(points[1], PARAMETERS["D2"]), 35.0, abs_tol=1e-6)
    assert math.isclose(expected_percentage(points[2], PARAMETERS["D2"]), 70.0, abs_tol=1e-6)


def test_a_document_without_a_calibrated_item_gets_no_dimension_and_encodes_as_before() -> None:
    data = ScoringInput(
        framework=FRAMEWORK,
        framework_hash="sha256:fw",
        items=[ScoredItem(1, ITEMS[UNCALIBRATED])],
        answers={},
    )
    document = score(data)
    assert abilities(document, CALIBRATION, FRAMEWORK).dimensions == []
    assert b'"abilities"' not in msgspec.json.encode(document)


def test_a_framework_reporting_scale_replaces_500_and_100() -> None:
    from service.rubrics.model import ReportingScale

    framework = msgspec.structs.replace(FRAMEWORK, reporting_scale=ReportingScale(mean=300.0, sd=50.0))
    data = ScoringInput(
        framework=framework,
        framework_hash="sha256:fw",
        items=[ScoredItem(1, ITEMS[code]) for code in ("A2", "A3", "B0")],
        answers=msgspec.convert({"A2": {"choice": "c"}}, dict[str, Answer]),
    )
    found = {d.dimension: d for d in abilities(score(data), CALIBRATION, framework).dimensions}
    plain = {d.dimension: d for d in abilities(score(data), CALIBRATION, FRAMEWORK).dimensions}
    for dimension in CALIBRATION.result.dimensions:
        theta, scale = found[dimension.dimension].theta, dimension.scale
        expected = 300.0 + 50.0 * (theta - scale.theta_mean) / scale.theta_sd
        assert math.isclose(found[dimension.dimension].scale_score, expected, abs_tol=1e-4)
        assert math.isclose(plain[dimension.dimension].scale_score, scale.score(theta), abs_tol=1e-4)
        assert found[dimension.dimension].theta == plain[dimension.dimension].theta
    # the framework's content hash is unchanged when it sets no scale (the field is omitted)
    assert b"reporting_scale" not in msgspec.json.encode(FRAMEWORK)


def test_a_batch_gives_each_document_what_it_gets_alone() -> None:
    """`many_abilities` (one EAP pass per dimension, as scoring a batch does) equals `abilities` one by one,
    across forms, answers and a document with no calibrated item."""
    import random

    from service.results.abilities import many_abilities

    rng = random.Random(7)
    batch = []
    for n in range(40):
        form = [code for code in ITEMS if rng.random() < 0.8] if n else [UNCALIBRATED]
        answers = {code: {"choice": rng.choice("ac")} for code in form if rng.random() < 0.9}
        data = ScoringInput(
            framework=FRAMEWORK,
            framework_hash="sha256:fw",
            items=[ScoredItem(1, ITEMS[code]) for code in form],
            answers=msgspec.convert(answers, dict[str, Answer]),
        )
        batch.append((score(data), CALIBRATION, FRAMEWORK))
    assert many_abilities(batch) == [abilities(*entry) for entry in batch]
    assert many_abilities(batch)[0].dimensions == []
