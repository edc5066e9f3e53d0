"""The scoring engine (`service.scoring.engine.score`): a hand-worked document, a trace
recomputation, pending ratings, and Hypothesis properties over the shipped sample bank.

The engine is pure, so these tests need no database: they build `ScoringInput`s in memory.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.items.model import (
    Item,
    Likert,
    MultipleChoice,
    OpenResponse,
    Ordering,
    SingleChoice,
    SituationalJudgement,
    option_keys,
)
from service.items.samples import sample_bank
from service.items.views import Answer
from service.rubrics.model import CutScore, FrameworkContent, walk_dimensions, walk_indicators
from service.rubrics.templates import get_template
from service.scoring.engine import (
    ENGINE_VERSION,
    AgreedRating,
    DimensionScore,
    Feedback,
    IndicatorScore,
    Overall,
    ScoredItem,
    ScoreDocument,
    ScoringInput,
    score,
)

PROPERTY = settings(max_examples=60, deadline=None)
TOL = 1e-6
# raw and max are reported to 6 decimals, so a scaled score recomputed from them (x 100 / max, with max
# as small as a quarter point) can differ from the exact one in the 4th or 5th decimal
SCALED_TOL = 1e-3


def loc(text: str) -> dict[str, str]:
    return {"en": text}


def make_item(
    kind: str,
    code: str,
    *,
    framework: str = "tiny",
    loadings: list[tuple[str, float]],
    options: str | None = None,
    **fields: Any,
) -> Item:
    """An item built from a plain dict, as an author writes it; `options` is a string of one-letter keys."""
    doc: dict[str, Any] = {
        "type": kind,
        "code": code,
        "framework": framework,
        "stem": loc(f"stem of {code}"),
        "loadings": [{"indicator": ind, "weight": weight} for ind, weight in loadings],
        **fields,
    }
    if options is not None:
        doc["options"] = [{"key": key, "text": loc(f"option {key}")} for key in options]
    return msgspec.convert(doc, Item)  # type: ignore[arg-type]


def level_for(cuts: list[CutScore], scaled: float) -> str:
    """The cut-score rule, written independently: the highest level whose min_score the score reaches."""
    return max((c for c in cuts if c.min_score <= scaled), key=lambda c: c.min_score).level


# =========================================================================== 1. a hand-worked document


def descriptors(code: str) -> list[dict[str, Any]]:
    """Descriptors for L1..L3; the top level has no next steps."""
    return [
        {
            "level": level,
            "performance": loc(f"{code} performance at {level}"),
            **({"next_steps": loc(f"{code} next steps from {level}")} if level != "L3" else {}),
        }
        for level in ("L1", "L2", "L3")
    ]


TINY = msgspec.convert(
    {
        "code": "tiny",
        "title": loc("Tiny framework"),
        "levels": [
            {"code": "L1", "label": loc("Novice"), "description": loc("Novice work")},
            {"code": "L2", "label": loc("Practitioner"), "description": loc("Practitioner work")},
            {"code": "L3", "label": loc("Expert"), "description": loc("Expert work")},
        ],
        "dimensions": [
            {
                "code": "D1",
                "name": loc("Dimension one"),
                "weight": 0.6,
                "tags": ["knowledge"],
                "indicators": [
                    {
                        "code": "D1.a",
                        "statement": loc("D1.a"),
                        "weight": 0.5,
                        "descriptors": descriptors("D1.a"),
                    },
                    {
                        "code": "D1.b",
                        "statement": loc("D1.b"),
                        "weight": 0.5,
                        "descriptors": descriptors("D1.b"),
                    },
                ],
            },
            {
                "code": "D2",
                "name": loc("Dimension two"),
                "weight": 0.4,
                "tags": ["ethics_safety"],
                "indicators": [
                    {
                        "code": "D2.a",
                        "statement": loc("D2.a"),
                        "weight": 0.7,
                        "descriptors": descriptors("D2.a"),
                    },
                    {
                        "code": "D2.b",
                        "statement": loc("D2.b"),
                        "weight": 0.3,
                        "descriptors": descriptors("D2.b"),
                    },
                ],
            },
        ],
        "cut_scores": {
            "overall": [
                {"level": "L1", "min_score": 0},
                {"level": "L2", "min_score": 50},
                {"level": "L3", "min_score": 80},
            ],
            # D2 (and its indicators) use their own, different cuts.
            "dimensions": {
                "D2": [
                    {"level": "L1", "min_score": 0},
                    {"level": "L2", "min_score": 40},
                    {"level": "L3", "min_score": 90},
                ]
            },
        },
    },
    FrameworkContent,
)
TINY_HASH = "sha256:tiny"

SC_1 = make_item("single_choice", "SC-1", loadings=[("D1.a", 1.0)], options="abc", key={"correct": "b"})
MC_1 = make_item(
    "multiple_choice",
    "MC-1",
    loadings=[("D1.b", 1.0)],
    options="abcd",
    key={"correct": ["a", "b"], "partial_credit": "per_option"},
)
SJT_1 = make_item(
    "situational_judgement",
    "SJT-1",
    format="best",
    points=2.0,
    loadings=[("D1.a", 0.5), ("D2.a", 0.5)],
    options="abc",
    key={
        "options": [
            {"option": "a", "credit": {"D1.a": 2.0, "D2.a": 0.0}},
            {"option": "b", "credit": {"D1.a": 0.5, "D2.a": 2.0}},
            {"option": "c", "credit": {"D1.a": 1.0, "D2.a": 1.0}},
        ]
    },
)
LK_1 = make_item("likert", "LK-1", loadings=[("D2.a", 1.0)], scale_points=5, key={"reverse": True})
ORD_1 = make_item(
    "ordering",
    "ORD-1",
    loadings=[("D1.b", 1.0)],
    options="cab",
    key={"order": ["a", "b", "c"], "credit": "pairwise"},
)

TINY_ITEMS = [
    ScoredItem(3, SC_1),
    ScoredItem(1, MC_1),
    ScoredItem(2, SJT_1),
    ScoredItem(1, LK_1),
    ScoredItem(5, ORD_1),
]
TINY_ANSWERS = {
    "SC-1": Answer(choice="b"),  # right: 1
    "MC-1": Answer(choices=["a", "c"]),  # per_option: a right, b wrong, c wrong, d right -> 2/4
    "SJT-1": Answer(choice="b"),  # D1.a 0.5/2 = 0.25, D2.a 2.0/2 = 1.0
    "LK-1": Answer(value=2),  # reverse on 5 points: (5 - 2) / 4 = 0.75
    # ORD-1 is not answered: omitted, earns 0 of 1
}


def tiny_document() -> ScoreDocument:
    return score(ScoringInput(TINY, TINY_HASH, TINY_ITEMS, TINY_ANSWERS))


def test_hand_worked_items() -> None:
    """Item credit, by hand (items come sorted by code; contributions sorted by indicator):

    LK-1  D2.a: 0.75 x 1 x 1 = 0.75 of 1
    MC-1  D1.b: 0.5 x 1 x 1 = 0.5 of 1
    ORD-1 D1.b: omitted, 0 of 1
    SC-1  D1.a: 1 x 1 x 1 = 1 of 1
    SJT-1 D1.a: 0.25 x 2 x 0.5 = 0.25 of 1; D2.a: 1.0 x 2 x 0.5 = 1.0 of 1 -> 1.25 of 2
    """
    doc = tiny_document()
    got = [
        (
            s.item,
            s.version,
            s.type,
            s.status,
            s.earned,
            s.possible,
            [(c.indicator, c.dimension, c.weight, c.fraction, c.earned, c.possible) for c in s.contributions],
        )
        for s in doc.items
    ]
    assert got == [
        ("LK-1", 1, "likert", "scored", 0.75, 1.0, [("D2.a", "D2", 1.0, 0.75, 0.75, 1.0)]),
        ("MC-1", 1, "multiple_choice", "scored", 0.5, 1.0, [("D1.b", "D1", 1.0, 0.5, 0.5, 1.0)]),
        ("ORD-1", 5, "ordering", "omitted", 0.0, 1.0, [("D1.b", "D1", 1.0, 0.0, 0.0, 1.0)]),
        ("SC-1", 3, "single_choice", "scored", 1.0, 1.0, [("D1.a", "D1", 1.0, 1.0, 1.0, 1.0)]),
        (
            "SJT-1",
            2,
            "situational_judgement",
            "scored",
            1.25,
            2.0,
            [("D1.a", "D1", 0.5, 0.25, 0.25, 1.0), ("D2.a", "D2", 0.5, 1.0, 1.0, 1.0)],
        ),
    ]
    assert doc.omitted == ["ORD-1"]
    assert doc.pending == []
    assert doc.status == "final"


def test_hand_worked_indicators_with_feedback() -> None:
    """Indicators: raw = sum earned, max = sum possible, scaled = 100 raw / max; levels from the
    top-level dimension's cuts; feedback = next level, its performance, this level's next steps.

    D1.a: (1 + 0.25) / (1 + 1) = 62.5 -> overall cuts (50, 80): L2, next L3
    D1.b: (0.5 + 0) / (1 + 1)  = 25.0 -> L1, next L2
    D2.a: (1.0 + 0.75) / 2     = 87.5 -> D2's cuts (40, 90): L2 (it would be L3 on the overall cuts)
    D2.b: measured by no item, so absent.
    """
    assert tiny_document().indicators == [
        IndicatorScore(
            "D1.a",
            "D1",
            1.25,
            2.0,
            62.5,
            "L2",
            Feedback("L3", loc("Expert"), loc("D1.a performance at L3"), loc("D1.a next steps from L2")),
        ),
        IndicatorScore(
            "D1.b",
            "D1",
            0.5,
            2.0,
            25.0,
            "L1",
            Feedback(
                "L2", loc("Practitioner"), loc("D1.b performance at L2"), loc("D1.b next steps from L1")
            ),
        ),
        IndicatorScore(
            "D2.a",
            "D2",
            1.75,
            2.0,
            87.5,
            "L2",
            Feedback("L3", loc("Expert"), loc("D2.a performance at L3"), loc("D2.a next steps from L2")),
        ),
    ]


def test_hand_worked_dimensions_and_overall() -> None:
    """Dimensions: weighted mean of measured children, weights renormalised; overall likewise.

    D1: 0.5 x 62.5 + 0.5 x 25 = 43.75 -> overall cuts: L1 (D2's cuts would give L2); raw 1.75 of 4
    D2: only D2.a measured, so its weight 0.7 renormalises to 1: 87.5 -> D2's cuts: L2; raw 1.75 of 2
    Overall: 0.6 x 43.75 + 0.4 x 87.5 = 26.25 + 35 = 61.25 -> L2, next L3
    Dimension and overall feedback carry the next level's description (no per-indicator descriptors).
    """
    doc = tiny_document()
    assert doc.dimensions == [
        DimensionScore(
            "D1",
            ["knowledge"],
            1.75,
            4.0,
            43.75,
            "L1",
            {"D1.a": 0.5, "D1.b": 0.5},
            Feedback("L2", loc("Practitioner"), loc("Practitioner work")),
        ),
        DimensionScore(
            "D2",
            ["ethics_safety"],
            1.75,
            2.0,
            87.5,
            "L2",
            {"D2.a": 1.0},
            Feedback("L3", loc("Expert"), loc("Expert work")),
        ),
    ]
    assert doc.overall == Overall(
        61.25, "L2", {"D1": 0.6, "D2": 0.4}, Feedback("L3", loc("Expert"), loc("Expert work"))
    )


def test_hand_worked_provenance() -> None:
    """Provenance pins the engine version, the framework and its hash, and every item's version."""
    provenance = tiny_document().provenance
    assert provenance.engine_version == ENGINE_VERSION == "1.0.0"
    assert (provenance.framework, provenance.framework_hash) == ("tiny", TINY_HASH)
    assert provenance.item_versions == {"LK-1": 1, "MC-1": 1, "ORD-1": 5, "SC-1": 3, "SJT-1": 2}
    assert provenance.rating_ids == []


def test_top_level_has_no_feedback() -> None:
    """At the top level there is no next level, so no feedback; a perfect score is 100 and L3."""
    # Every item but SJT-1 (no option of which is keyed full on both indicators), answered perfectly.
    answers = {
        "SC-1": Answer(choice="b"),
        "MC-1": Answer(choices=["a", "b"]),
        "LK-1": Answer(value=1),
        "ORD-1": Answer(order=["a", "b", "c"]),
    }
    doc = score(ScoringInput(TINY, TINY_HASH, [s for s in TINY_ITEMS if s.item.code != "SJT-1"], answers))
    assert doc.overall == Overall(100.0, "L3", {"D1": 0.6, "D2": 0.4})
    assert all(d.level == "L3" and d.feedback is None for d in doc.dimensions)
    assert all(i.level == "L3" and i.feedback is None for i in doc.indicators)


def test_empty_answer_counts_as_omitted() -> None:
    """A cleared answer (every field empty) is the same as no answer: omitted, 0 of its points."""
    doc = score(ScoringInput(TINY, TINY_HASH, TINY_ITEMS, {**TINY_ANSWERS, "ORD-1": Answer()}))
    assert doc == tiny_document()


def test_overall_is_empty_when_nothing_is_measured() -> None:
    """With every item pending a rating nothing is measured: no dimensions, overall scaled/level None."""
    open_item = make_item("open_response", "OR-1", loadings=[("D1.a", 1.0)])
    doc = score(ScoringInput(TINY, TINY_HASH, [ScoredItem(1, open_item)], {"OR-1": Answer(text="x")}))
    assert doc.overall == Overall(None, None, {})
    assert (doc.dimensions, doc.indicators, doc.status, doc.pending) == ([], [], "provisional", ["OR-1"])


# --------------------------------------------------------------------------- rounding and levels (bugs)


def test_score_exactly_on_a_cut_reaches_that_level() -> None:
    """Three 4-point Likert answers of 2 (1/3 each) and one right single choice on D1.a: (3 x 1/3 + 1) / 4
    = 50% exactly, which is L2 on the overall cuts. The engine rounds each earned 1/3 to 0.333333 first, sums
    1.999999 and reports 49.999975 (L1)."""
    likerts = [make_item("likert", f"LK-{n}", loadings=[("D1.a", 1.0)], scale_points=4) for n in range(3)]
    items = [ScoredItem(1, item) for item in likerts] + [ScoredItem(1, SC_1)]
    answers = {**{item.code: Answer(value=2) for item in likerts}, "SC-1": Answer(choice="b")}
    (indicator,) = score(ScoringInput(TINY, TINY_HASH, items, answers)).indicators
    assert (indicator.raw, indicator.scaled, indicator.level) == (2.0, 50.0, "L2")


def test_level_agrees_with_the_reported_score() -> None:
    """Three 100-point open responses on D1.a rated 1, 0.49999999 and 0 earn 100 + 49.999999 + 0 of 300:
    49.99999967, which the document reports (6 decimals) as 50.0. The level beside it should then be L2, as
    anyone redoing the cut from the document finds; the engine takes the level from the unrounded value (L1).
    Contrived (it needs a score within 5e-7 below a cut), but the document then contradicts itself."""
    items = [make_item("open_response", f"OR-{n}", points=100.0, loadings=[("D1.a", 1.0)]) for n in range(3)]
    ratings = {"OR-0": AgreedRating(1.0), "OR-1": AgreedRating(0.49999999), "OR-2": AgreedRating(0.0)}
    doc = score(
        ScoringInput(
            TINY,
            TINY_HASH,
            [ScoredItem(1, item) for item in items],
            {item.code: Answer(text="x") for item in items},
            ratings,
        )
    )
    (indicator,) = doc.indicators
    assert (indicator.raw, indicator.max, indicator.scaled) == (149.999999, 300.0, 50.0)
    assert indicator.level == level_for(TINY.cut_scores.overall, indicator.scaled) == "L2"


# =========================================================================== 3. pending ratings

OR_1 = make_item("open_response", "OR-1", points=3.0, loadings=[("D1.b", 1.0)])


def pending_input(ratings: dict[str, AgreedRating]) -> ScoringInput:
    items = [ScoredItem(1, MC_1), ScoredItem(4, OR_1)]
    return ScoringInput(
        TINY, TINY_HASH, items, {"MC-1": Answer(choices=["a", "c"]), "OR-1": Answer(text="essay")}, ratings
    )


def test_open_response_without_rating_is_pending() -> None:
    """An answered open response without an agreed rating: provisional, listed as pending, and left out
    of its indicator's sums (D1.b is MC-1 alone: 0.5 of 1 = 50)."""
    doc = score(pending_input({}))
    assert (doc.status, doc.pending, doc.omitted) == ("provisional", ["OR-1"], [])
    (or_score,) = [s for s in doc.items if s.item == "OR-1"]
    assert (or_score.status, or_score.earned, or_score.possible, or_score.contributions) == (
        "pending_rating",
        0.0,
        0.0,
        [],
    )
    (d1b,) = doc.indicators
    assert (d1b.indicator, d1b.raw, d1b.max, d1b.scaled) == ("D1.b", 0.5, 1.0, 50.0)
    assert doc.provenance.rating_ids == []


def test_open_response_with_rating_is_final() -> None:
    """With an agreed rating of 2/3 the item earns 2/3 x 3 = 2 of 3: D1.b = (0.5 + 2) / (1 + 3) = 62.5;
    the document is final and its provenance lists the rating ids (sorted)."""
    doc = score(pending_input({"OR-1": AgreedRating(2 / 3, ["rating-b", "rating-a"])}))
    assert (doc.status, doc.pending) == ("final", [])
    (or_score,) = [s for s in doc.items if s.item == "OR-1"]
    assert (or_score.status, or_score.earned, or_score.possible) == ("scored", 2.0, 3.0)
    (d1b,) = doc.indicators
    assert (d1b.raw, d1b.max, d1b.scaled) == (2.5, 4.0, 62.5)
    assert doc.provenance.rating_ids == ["rating-a", "rating-b"]
    assert doc.provenance.item_versions == {"MC-1": 1, "OR-1": 4}


def test_pending_item_alone_leaves_its_indicator_unmeasured() -> None:
    """A pending item that is the only one on D2.b leaves D2.b out altogether: D2 renormalises over D2.a."""
    or_2 = make_item("open_response", "OR-2", loadings=[("D2.b", 1.0)])
    doc = score(
        ScoringInput(
            TINY,
            TINY_HASH,
            [*TINY_ITEMS, ScoredItem(1, or_2)],
            {**TINY_ANSWERS, "OR-2": Answer(text="essay")},
        )
    )
    assert doc.status == "provisional"
    assert "D2.b" not in {i.indicator for i in doc.indicators}
    assert {d.dimension: d.weights_used for d in doc.dimensions}["D2"] == {"D2.a": 1.0}
    assert doc.overall == tiny_document().overall


def test_unanswered_open_response_is_omitted_not_pending() -> None:
    """An open response with no answer needs no rating: it is omitted, earns 0 of 3, and the document is final."""
    data = pending_input({})
    doc = score(msgspec.structs.replace(data, answers={"MC-1": Answer(choices=["a", "c"])}))
    assert (doc.status, doc.pending, doc.omitted) == ("final", [], ["OR-1"])
    (d1b,) = doc.indicators
    assert (d1b.raw, d1b.max, d1b.scaled) == (0.5, 4.0, 12.5)


# =========================================================================== sample bank strategies

FRAMEWORK = get_template("cadre-ai-literacy").content
FRAMEWORK_HASH = get_template("cadre-ai-literacy").content_hash
BANK: list[Item] = sample_bank("cadre-ai-literacy").items
BANK_ITEMS = [ScoredItem(1, item) for item in BANK]
RATING_FRACTIONS = [0.0, 1 / 3, 0.5, 2 / 3, 1.0]


def answers_to(item: Item) -> st.SearchStrategy[Answer]:
    """Valid answers to `item`: known option keys, points in range, permutations, ratings in range."""
    keys = option_keys(item)
    if isinstance(item, SingleChoice):
        return st.sampled_from(keys).map(lambda k: Answer(choice=k))
    if isinstance(item, MultipleChoice):
        return st.lists(st.sampled_from(keys), unique=True, min_size=1).map(lambda ks: Answer(choices=ks))
    if isinstance(item, SituationalJudgement):
        if item.format == "best":
            return st.sampled_from(keys).map(lambda k: Answer(choice=k))
        if item.format == "most_least":
            side = st.none() | st.sampled_from(keys)
            return (
                st.tuples(side, side)
                .filter(lambda ml: ml != (None, None) and ml[0] != ml[1])
                .map(lambda ml: Answer(most=ml[0], least=ml[1]))
            )
        return st.dictionaries(st.sampled_from(keys), st.integers(1, item.rating_points), min_size=1).map(
            lambda r: Answer(ratings=r)
        )
    if isinstance(item, Likert):
        return st.integers(1, item.scale_points).map(lambda v: Answer(value=v))
    if isinstance(item, Ordering):
        return st.permutations(keys).map(lambda order: Answer(order=list(order)))
    if isinstance(item, OpenResponse):
        return st.sampled_from(["a short answer", "a longer answer with detail"]).map(
            lambda t: Answer(text=t)
        )
    raise TypeError(type(item).__name__)


class Attempt(msgspec.Struct, frozen=True):
    answers: dict[str, Answer]
    ratings: dict[str, AgreedRating]

    def input(self, items: list[ScoredItem] = BANK_ITEMS) -> ScoringInput:
        return ScoringInput(FRAMEWORK, FRAMEWORK_HASH, items, self.answers, self.ratings)


@st.composite
def attempts(draw: st.DrawFn) -> Attempt:
    """Answers to the sample bank, about one item in five omitted; answered open responses may have a rating."""
    answers: dict[str, Answer] = {}
    ratings: dict[str, AgreedRating] = {}
    for item in BANK:
        if draw(st.integers(0, 4)) == 0:
            continue
        answers[item.code] = draw(answers_to(item))
        if isinstance(item, OpenResponse) and draw(st.booleans()):
            fraction = draw(st.sampled_from(RATING_FRACTIONS) | st.integers(0, 100).map(lambda n: n / 100))
            ratings[item.code] = AgreedRating(fraction, [f"{item.code}-rating-{n}" for n in (2, 1)])
    return Attempt(answers, ratings)


def by_code(doc: ScoreDocument) -> tuple[dict[str, IndicatorScore], dict[str, DimensionScore]]:
    return {i.indicator: i for i in doc.indicators}, {d.dimension: d for d in doc.dimensions}


def test_sample_bank_is_what_the_properties_assume() -> None:
    """The properties below lean on the sample bank having every type; check it still does."""
    kinds = {(type(item).__name__, getattr(item, "format", None)) for item in BANK}
    assert len(BANK) >= 44  # grew to 80 with issue 22; the properties need every type, not a count
    assert {
        ("SingleChoice", None),
        ("MultipleChoice", None),
        ("SituationalJudgement", "best"),
        ("SituationalJudgement", "most_least"),
        ("SituationalJudgement", "rate"),
        ("Likert", None),
        ("Ordering", None),
        ("OpenResponse", None),
    } <= kinds


# =========================================================================== 2. trace recomputation


@PROPERTY
@given(attempts())
def test_every_number_can_be_redone_from_the_trace(attempt: Attempt) -> None:
    """Redo the document from its own trace: contributions -> indicator raw/max/scaled/level ->
    dimension scaled from `weights_used` (which must be the framework weights renormalised over the
    measured indicators) -> overall; every number agrees within 1e-6."""
    doc = score(attempt.input())
    points = {item.code: item.points for item in BANK}

    raw: dict[str, float] = {}
    top: dict[str, float] = {}
    for s in doc.items:
        assert s.earned == pytest.approx(sum(c.earned for c in s.contributions), abs=TOL)
        assert s.possible == pytest.approx(sum(c.possible for c in s.contributions), abs=TOL)
        for c in s.contributions:
            assert c.possible == pytest.approx(points[s.item] * c.weight, abs=TOL)
            assert c.earned == pytest.approx(c.fraction * points[s.item] * c.weight, abs=TOL * points[s.item])
            raw[c.indicator] = raw.get(c.indicator, 0.0) + c.earned
            top[c.indicator] = top.get(c.indicator, 0.0) + c.possible

    indicators, dimensions = by_code(doc)
    assert set(indicators) == {code for code, possible in top.items() if possible > 0}
    scaled = {code: 100 * raw[code] / top[code] for code in indicators}
    for code, indicator in indicators.items():
        assert indicator.raw == pytest.approx(raw[code], abs=TOL)
        assert indicator.max == pytest.approx(top[code], abs=TOL)
        assert indicator.scaled == pytest.approx(scaled[code], abs=SCALED_TOL)

    dimension_scaled = {}
    for dimension in FRAMEWORK.dimensions:
        cuts = FRAMEWORK.cut_scores.dimensions.get(dimension.code, FRAMEWORK.cut_scores.overall)
        measured = {i.code: i.weight for i in dimension.indicators if i.code in indicators}
        if not measured:
            assert dimension.code not in dimensions
            continue
        got = dimensions[dimension.code]
        assert got.weights_used == pytest.approx(
            {c: w / sum(measured.values()) for c, w in measured.items()}, abs=TOL
        )
        dimension_scaled[dimension.code] = sum(w * scaled[c] for c, w in got.weights_used.items())
        assert got.scaled == pytest.approx(dimension_scaled[dimension.code], abs=SCALED_TOL)
        assert got.raw == pytest.approx(sum(raw[c] for c in measured), abs=TOL)
        assert got.max == pytest.approx(sum(top[c] for c in measured), abs=TOL)
        assert got.level == level_for(cuts, got.scaled)
        for code in measured:
            assert indicators[code].dimension == dimension.code
            assert indicators[code].level == level_for(cuts, indicators[code].scaled)

    overall = sum(w * dimension_scaled[d] for d, w in doc.overall.weights_used.items())
    assert doc.overall.scaled == pytest.approx(overall, abs=SCALED_TOL)
    assert doc.overall.level == level_for(FRAMEWORK.cut_scores.overall, doc.overall.scaled)


# =========================================================================== 4. properties


@PROPERTY
@given(attempts())
def test_scores_stay_in_range(attempt: Attempt) -> None:
    """(a) Every scaled score is in [0, 100], every raw in [0, max], every earned in [0, possible],
    every fraction in [0, 1]; statuses, pending and omitted agree with the answers."""
    doc = score(attempt.input())
    for s in doc.items:
        assert 0 <= s.earned <= s.possible
        for c in s.contributions:
            assert 0 <= c.fraction <= 1
            assert 0 <= c.earned <= c.possible
    for part in [*doc.indicators, *doc.dimensions]:
        assert 0 <= part.raw <= part.max
        assert 0 <= part.scaled <= 100
    assert doc.overall.scaled is not None and 0 <= doc.overall.scaled <= 100

    answered = set(attempt.answers)
    assert set(doc.omitted) == {item.code for item in BANK} - answered
    assert set(doc.pending) == {
        item.code
        for item in BANK
        if isinstance(item, OpenResponse) and item.code in answered and item.code not in attempt.ratings
    }
    assert doc.status == ("provisional" if doc.pending else "final")
    assert doc.provenance.rating_ids == sorted(rid for r in attempt.ratings.values() for rid in r.rating_ids)


def assert_not_lower(
    before: ScoreDocument, after: ScoreDocument, indicators: set[str], dimensions: set[str]
) -> None:
    ind_before, dim_before = by_code(before)
    ind_after, dim_after = by_code(after)
    for code in indicators:
        assert ind_after[code].scaled >= ind_before[code].scaled
    for code in dimensions:
        assert dim_after[code].scaled >= dim_before[code].scaled
    assert after.overall.scaled >= before.overall.scaled  # type: ignore[operator]


SINGLES = [item for item in BANK if isinstance(item, SingleChoice)]


@PROPERTY
@given(attempts(), st.data())
def test_right_answer_never_lowers_a_score(attempt: Attempt, data: st.DataObject) -> None:
    """(b) Changing a single-choice answer from wrong to right never lowers the indicators and
    dimensions the item loads on (nor the overall score)."""
    item: SingleChoice = data.draw(st.sampled_from(SINGLES))
    wrong = data.draw(st.sampled_from([k for k in option_keys(item) if k != item.key.correct]))
    before = score(Attempt({**attempt.answers, item.code: Answer(choice=wrong)}, attempt.ratings).input())
    after = score(
        Attempt({**attempt.answers, item.code: Answer(choice=item.key.correct)}, attempt.ratings).input()
    )
    (scored,) = [s for s in after.items if s.item == item.code]
    assert_not_lower(
        before,
        after,
        {c.indicator for c in scored.contributions},
        {c.dimension for c in scored.contributions},
    )


def dominating_pairs() -> list[tuple[SituationalJudgement, str, str]]:
    """(item, worse, better): SJT `best` options where `better` is keyed at least as high on every
    indicator and higher on one."""
    pairs = []
    for item in BANK:
        if isinstance(item, SituationalJudgement) and item.format == "best":
            keyed = {entry.option: entry.credit for entry in item.key.options}
            for worse, low in keyed.items():
                for better, high in keyed.items():
                    if all(high[i] >= low[i] for i in low) and any(high[i] > low[i] for i in low):
                        pairs.append((item, worse, better))
    return pairs


DOMINATING = dominating_pairs()


@PROPERTY
@given(attempts(), st.sampled_from(DOMINATING))
def test_better_sjt_choice_never_lowers_a_score(
    attempt: Attempt, pair: tuple[SituationalJudgement, str, str]
) -> None:
    """(b) Changing an SJT `best` choice to an option keyed higher on every indicator never lowers
    the item's indicators, their dimensions, or the overall score."""
    item, worse, better = pair
    before = score(Attempt({**attempt.answers, item.code: Answer(choice=worse)}, attempt.ratings).input())
    after = score(Attempt({**attempt.answers, item.code: Answer(choice=better)}, attempt.ratings).input())
    (scored,) = [s for s in after.items if s.item == item.code]
    assert_not_lower(
        before,
        after,
        {c.indicator for c in scored.contributions},
        {c.dimension for c in scored.contributions},
    )


def shuffle_options(item: Item, rnd: random.Random) -> Item:
    """The same item with its options (and, for SJT, its keyed options) in another order; keys unchanged."""
    if not hasattr(item, "options"):
        return item
    options = list(item.options)
    rnd.shuffle(options)
    changes: dict[str, Any] = {"options": options}
    if isinstance(item, SituationalJudgement):
        keyed = list(item.key.options)
        rnd.shuffle(keyed)
        changes["key"] = msgspec.structs.replace(item.key, options=keyed)
    return msgspec.structs.replace(item, **changes)


@PROPERTY
@given(attempts(), st.randoms(use_true_random=False))
def test_item_and_option_order_do_not_matter(attempt: Attempt, rnd: random.Random) -> None:
    """(c) Shuffling the items, each item's options, and the answers' order gives an equal document."""
    items = [ScoredItem(s.version, shuffle_options(s.item, rnd)) for s in BANK_ITEMS]
    rnd.shuffle(items)
    answers = list(attempt.answers.items())
    rnd.shuffle(answers)
    shuffled = Attempt(dict(answers), attempt.ratings).input(items)
    original, reordered = score(attempt.input()), score(shuffled)
    assert reordered == original
    assert msgspec.json.encode(reordered) == msgspec.json.encode(original)


@PROPERTY
@given(attempts())
def test_equal_inputs_give_equal_documents(attempt: Attempt) -> None:
    """(d) Scoring twice, and scoring a copy of the input decoded from JSON, gives the same bytes."""
    data = attempt.input()
    copy = msgspec.json.decode(msgspec.json.encode(data), type=ScoringInput)
    first, second, third = (msgspec.json.encode(score(d)) for d in (data, data, copy))
    assert first == second == third


@PROPERTY
@given(attempts(), st.data())
def test_omitting_an_answer_never_raises_a_score(attempt: Attempt, data: st.DataObject) -> None:
    """(e) Dropping one answer never raises any indicator, dimension or overall score (nor any raw)."""
    if not attempt.answers:
        return
    dropped = data.draw(st.sampled_from(sorted(attempt.answers)))
    before = score(attempt.input())
    after = score(
        Attempt(
            {k: v for k, v in attempt.answers.items() if k != dropped},
            {k: v for k, v in attempt.ratings.items() if k != dropped},
        ).input()
    )
    assert dropped in after.omitted
    ind_before, dim_before = by_code(before)
    ind_after, dim_after = by_code(after)
    for code, indicator in ind_after.items():
        if code in ind_before:
            assert indicator.scaled <= ind_before[code].scaled
            assert indicator.raw <= ind_before[code].raw
    for code, dimension in dim_after.items():
        if code in dim_before:
            assert dimension.scaled <= dim_before[code].scaled
    assert after.overall.scaled <= before.overall.scaled  # type: ignore[operator]


# =========================================================================== 6. cut scores of sub-dimensions


def _cuts(l2: float, l3: float) -> list[dict[str, Any]]:
    return [
        {"level": "L1", "min_score": 0},
        {"level": "L2", "min_score": l2},
        {"level": "L3", "min_score": l3},
    ]


def _indicator(code: str) -> dict[str, Any]:
    return {"code": code, "statement": loc(code), "weight": 1.0, "descriptors": descriptors(code)}


NESTED_CUTS = msgspec.convert(
    {
        "code": "nested",
        "title": loc("Nested framework"),
        "levels": [
            {"code": "L1", "label": loc("Novice")},
            {"code": "L2", "label": loc("Practitioner")},
            {"code": "L3", "label": loc("Expert")},
        ],
        "dimensions": [
            {
                "code": "D1",
                "name": loc("D1"),
                "weight": 0.5,
                "children": [
                    {
                        "code": "D1a",
                        "name": loc("D1a"),
                        "weight": 0.5,
                        "children": [
                            {
                                "code": "D1ax",
                                "name": loc("D1ax"),
                                "weight": 1.0,
                                "indicators": [_indicator("i1")],
                            }
                        ],
                    },
                    {"code": "D1b", "name": loc("D1b"), "weight": 0.5, "indicators": [_indicator("i2")]},
                ],
            },
            {"code": "D2", "name": loc("D2"), "weight": 0.5, "indicators": [_indicator("i3")]},
        ],
        "cut_scores": {"overall": _cuts(50, 80), "dimensions": {"D1": _cuts(30, 60), "D1a": _cuts(70, 90)}},
    },
    FrameworkContent,
)


def test_sub_dimensions_use_their_nearest_ancestors_cut_scores() -> None:
    """Five-point Likert items: i1 at 4 (75), i2 and i3 at 3 (50).

    i1   75    indicator: its top-level dimension D1's cuts (30, 60) -> L3 (not D1a's, which would give L2)
    D1ax 75    no cuts of its own; nearest ancestor with some is D1a (70, 90) -> L2 (D1's would give L3)
    D1a  75    its own (70, 90) -> L2
    D1b  50    none; D1's (30, 60) -> L2
    D1   62.5  its own (30, 60) -> L3
    D2   50    none, top-level: the overall ones (50, 80) -> L2
    overall 0.5 x 62.5 + 0.5 x 50 = 56.25 -> overall (50, 80): L2
    """
    from service.rubrics.validation import validate

    assert validate(NESTED_CUTS) == []
    items = [
        make_item("likert", f"LK-{code}", framework="nested", loadings=[(code, 1.0)], scale_points=5)
        for code in ("i1", "i2", "i3")
    ]
    answers = {"LK-i1": Answer(value=4), "LK-i2": Answer(value=3), "LK-i3": Answer(value=3)}
    doc = score(ScoringInput(NESTED_CUTS, "sha256:nested", [ScoredItem(1, item) for item in items], answers))
    assert {d.dimension: (d.scaled, d.level) for d in doc.dimensions} == {
        "D1ax": (75.0, "L2"),
        "D1a": (75.0, "L2"),
        "D1b": (50.0, "L2"),
        "D1": (62.5, "L3"),
        "D2": (50.0, "L2"),
    }
    assert {i.indicator: (i.scaled, i.level) for i in doc.indicators} == {
        "i1": (75.0, "L3"),
        "i2": (50.0, "L2"),
        "i3": (50.0, "L2"),
    }
    assert (doc.overall.scaled, doc.overall.level) == (56.25, "L2")


TEACHER = get_template(
    "teacher-digital-literacy"
).content  # 5 dimensions -> 13 sub-dimensions -> 33 indicators
TEACHER_LEVELS = [level.code for level in TEACHER.levels]
TEACHER_ITEMS = [
    ScoredItem(
        1, make_item("likert", f"LK-{code}", framework=TEACHER.code, loadings=[(code, 1.0)], scale_points=5)
    )
    for _, _, indicator in walk_indicators(TEACHER)
    for code in [indicator.code]
]


@st.composite
def teacher_cut_scores(draw: st.DrawFn) -> FrameworkContent:
    """The teacher template with random rising cut scores on a random set of its dimensions (any depth)."""
    codes = [dimension.code for _, dimension in walk_dimensions(TEACHER.dimensions)]
    chosen = draw(st.lists(st.sampled_from(codes), unique=True))
    own = {}
    for code in chosen:
        bounds = sorted(
            draw(
                st.lists(
                    st.integers(1, 100),
                    min_size=len(TEACHER_LEVELS) - 1,
                    max_size=len(TEACHER_LEVELS) - 1,
                    unique=True,
                )
            )
        )
        own[code] = [
            {"level": level, "min_score": score}
            for level, score in zip(TEACHER_LEVELS, [0, *bounds], strict=True)
        ]
    raw = msgspec.to_builtins(TEACHER)
    raw["cut_scores"]["dimensions"] = own
    return msgspec.convert(raw, FrameworkContent)


@PROPERTY
@given(
    teacher_cut_scores(),
    st.lists(st.integers(1, 5), min_size=len(TEACHER_ITEMS), max_size=len(TEACHER_ITEMS)),
)
def test_every_level_follows_the_nearest_ancestor_rule(
    framework: FrameworkContent, values: list[int]
) -> None:
    """Written independently of the engine: walk up the tree to the first dimension with cut scores of its
    own, else the overall ones; an indicator takes its top-level dimension's."""
    from service.rubrics.validation import validate

    assert validate(framework) == []
    parent: dict[str, str | None] = {}
    top: dict[str, str] = {}
    for _, dimension in walk_dimensions(framework.dimensions):
        for child in dimension.children:
            parent[child.code] = dimension.code
        parent.setdefault(dimension.code, None)
    for _, dimension, indicator in walk_indicators(framework):
        code: str | None = dimension.code
        while parent[code] is not None:  # type: ignore[index]
            code = parent[code]  # type: ignore[index]
        top[indicator.code] = code  # type: ignore[assignment]

    def cuts_of(code: str | None) -> list[CutScore]:
        while code is not None and code not in framework.cut_scores.dimensions:
            code = parent[code]
        return framework.cut_scores.overall if code is None else framework.cut_scores.dimensions[code]

    answers = {
        scored.item.code: Answer(value=value) for scored, value in zip(TEACHER_ITEMS, values, strict=True)
    }
    doc = score(ScoringInput(framework, "sha256:teacher", TEACHER_ITEMS, answers))
    assert len(doc.dimensions) == 18 and len(doc.indicators) == 33
    for dimension_score in doc.dimensions:
        assert dimension_score.level == level_for(cuts_of(dimension_score.dimension), dimension_score.scaled)
    for indicator_score in doc.indicators:
        assert indicator_score.level == level_for(
            cuts_of(top[indicator_score.indicator]), indicator_score.scaled
        )
    assert doc.overall.level == level_for(framework.cut_scores.overall, doc.overall.scaled)  # type: ignore[arg-type]
