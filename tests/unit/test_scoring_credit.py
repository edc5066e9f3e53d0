"""Hand-worked examples of the per-type credit rules (`service.scoring.credit`).

Every expected number is worked out by hand in a comment next to it, so a reader can
check the rule without running anything. `credit()` returns a fraction of the item's
points per loaded indicator; the engine multiplies by points and loading weight later
(one test at the end checks that scaling through `score()`).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from service.items.model import Item
from service.items.views import Answer
from service.scoring.credit import credit

FRAMEWORK = "cadre-ai-literacy"


def make_item(
    kind: str, *, loadings: list[tuple[str, float]] | None = None, options: str | None = None, **fields: Any
) -> Item:
    """An item of type `kind` built from a plain dict (as an author would write it).

    `options` is a string of one-letter option keys ("abcd"); loadings default to one indicator."""
    doc: dict[str, Any] = {
        "type": kind,
        "code": f"T-{kind}",
        "framework": FRAMEWORK,
        "stem": {"en": "stem"},
        "loadings": [{"indicator": code, "weight": weight} for code, weight in (loadings or [("AK.1", 1.0)])],
        **fields,
    }
    if options is not None:
        doc["options"] = [{"key": key, "text": {"en": f"option {key}"}} for key in options]
    return msgspec.convert(doc, Item)  # type: ignore[arg-type]


def fractions(item: Item, answer: Answer, rating: float | None = None) -> dict[str, float]:
    return credit(item, answer, rating).fractions


# --------------------------------------------------------------------------- single choice

SINGLE = make_item(
    "single_choice", options="abcd", key={"correct": "c"}, loadings=[("AK.1", 0.5), ("AK.2", 0.5)]
)


def test_single_choice_right_earns_full_credit_on_every_indicator() -> None:
    """The keyed option earns 1 on each loaded indicator (the same fraction for all)."""
    got = credit(SINGLE, Answer(choice="c"))
    assert got.fractions == {"AK.1": 1.0, "AK.2": 1.0}
    assert "right" in got.why


@pytest.mark.parametrize("choice", ["a", "b", "d"])
def test_single_choice_wrong_earns_nothing(choice: str) -> None:
    """Any other option earns 0 on each loaded indicator."""
    got = credit(SINGLE, Answer(choice=choice))
    assert got.fractions == {"AK.1": 0.0, "AK.2": 0.0}
    assert "wrong" in got.why


# --------------------------------------------------------------------------- multiple choice
# Options a-e, correct {a, b, c}, so d and e are distractors.


def multiple(rule: str) -> Item:
    return make_item(
        "multiple_choice", options="abcde", key={"correct": ["a", "b", "c"], "partial_credit": rule}
    )


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        (["a", "b", "c"], 1.0),  # exactly the key
        (["c", "a", "b"], 1.0),  # order of choosing does not matter
        (["a", "b"], 0.0),  # one missing
        (["a", "b", "c", "d"], 0.0),  # one extra
        ([], 0.0),
    ],
)
def test_multiple_choice_all_or_nothing(chosen: list[str], expected: float) -> None:
    """all_or_nothing: 1 only when the chosen set equals the keyed set."""
    assert fractions(multiple("all_or_nothing"), Answer(choices=chosen)) == {"AK.1": expected}


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        (["a", "b", "c"], 5 / 5),  # all five options judged right
        (["a", "b"], 4 / 5),  # a, b chosen (right); c not chosen (wrong); d, e not chosen (right)
        (["a", "b", "c", "d"], 4 / 5),  # d chosen though wrong; the other four right
        (["a", "d"], 2 / 5),  # a right, b wrong, c wrong, d wrong, e right
        ([], 2 / 5),  # nothing chosen: only d and e are judged right
        (["d", "e"], 0 / 5),  # every option judged wrong
    ],
)
def test_multiple_choice_per_option(chosen: list[str], expected: float) -> None:
    """per_option: the share of options judged right (chosen if and only if correct)."""
    assert fractions(multiple("per_option"), Answer(choices=chosen)) == pytest.approx({"AK.1": expected})


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        (["a", "b", "c"], 1.0),  # (3 - 0) / 3
        (["a", "b"], 2 / 3),  # (2 - 0) / 3
        (["a", "b", "d"], 1 / 3),  # (2 - 1) / 3
        (["a", "b", "c", "d", "e"], 1 / 3),  # (3 - 2) / 3: choosing everything is not rewarded fully
        (["a", "d"], 0.0),  # (1 - 1) / 3
        (["a", "d", "e"], 0.0),  # (1 - 2) / 3 < 0: wrong outweigh right, floored at 0
        (["d", "e"], 0.0),  # (0 - 2) / 3 < 0
    ],
)
def test_multiple_choice_right_minus_wrong(chosen: list[str], expected: float) -> None:
    """right_minus_wrong: (right chosen - wrong chosen) / number correct, never below 0."""
    assert fractions(multiple("right_minus_wrong"), Answer(choices=chosen)) == pytest.approx(
        {"AK.1": expected}
    )


# --------------------------------------------------------------------------- situational judgement
# One item loading HMC.3 (collaboration) and ES.1 (ethics), worth 2 points. Keyed credit is in
# points (0..2); the rules use it as a share of the points:
#   option a: HMC.3 2.0 -> 1.00, ES.1 0.5 -> 0.25
#   option b: HMC.3 0.5 -> 0.25, ES.1 1.5 -> 0.75
#   option c: HMC.3 0.0 -> 0.00, ES.1 0.0 -> 0.00

SJT_KEY = {
    "options": [
        {"option": "a", "credit": {"HMC.3": 2.0, "ES.1": 0.5}},
        {"option": "b", "credit": {"HMC.3": 0.5, "ES.1": 1.5}},
        {"option": "c", "credit": {"HMC.3": 0.0, "ES.1": 0.0}},
    ]
}


def sjt(fmt: str, **fields: Any) -> Item:
    return make_item(
        "situational_judgement",
        format=fmt,
        options="abc",
        key=SJT_KEY,
        points=2.0,
        loadings=[("HMC.3", 0.5), ("ES.1", 0.5)],
        **fields,
    )


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("a", {"HMC.3": 1.0, "ES.1": 0.25}),  # 2.0/2 and 0.5/2: the fractions differ per indicator
        ("b", {"HMC.3": 0.25, "ES.1": 0.75}),  # 0.5/2 and 1.5/2
        ("c", {"HMC.3": 0.0, "ES.1": 0.0}),
    ],
)
def test_sjt_best_earns_the_chosen_options_keyed_share(choice: str, expected: dict[str, float]) -> None:
    """best: the chosen option's keyed credit divided by the item's points, per indicator."""
    assert fractions(sjt("best"), Answer(choice=choice)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("most", "least", "expected"),
    [
        # (most's share + (1 - least's share)) / 2, per indicator
        ("a", "c", {"HMC.3": (1.0 + 1.0) / 2, "ES.1": (0.25 + 1.0) / 2}),  # 1.0, 0.625
        ("b", "a", {"HMC.3": (0.25 + 0.0) / 2, "ES.1": (0.75 + 0.75) / 2}),  # 0.125, 0.75
        ("c", "b", {"HMC.3": (0.0 + 0.75) / 2, "ES.1": (0.0 + 0.25) / 2}),  # 0.375, 0.125
        # only the most likely given: the least half earns nothing
        ("a", None, {"HMC.3": 1.0 / 2, "ES.1": 0.25 / 2}),  # 0.5, 0.125
        # only the least likely given: the most half earns nothing
        (None, "c", {"HMC.3": 1.0 / 2, "ES.1": 1.0 / 2}),  # 0.5, 0.5
        (None, "b", {"HMC.3": 0.75 / 2, "ES.1": 0.25 / 2}),  # 0.375, 0.125
    ],
)
def test_sjt_most_least(most: str | None, least: str | None, expected: dict[str, float]) -> None:
    """most_least: half for a most-likely option with high credit, half for a least-likely one with low credit."""
    assert fractions(sjt("most_least"), Answer(most=most, least=least)) == pytest.approx(expected)


def test_sjt_rate_on_five_points_rewards_closeness_to_the_key() -> None:
    """rate: each rating r (1..5) is placed at (r - 1) / 4 and compared with the keyed share.

    Ratings a=5 -> 1.00, b=2 -> 0.25, c=3 -> 0.50.
    HMC.3 keyed 1.00, 0.25, 0.00: closeness 1-|1-1| = 1, 1-|0.25-0.25| = 1, 1-|0.5-0| = 0.5 -> 2.5/3 = 5/6
    ES.1  keyed 0.25, 0.75, 0.00: closeness 1-|1-0.25| = 0.25, 1-|0.25-0.75| = 0.5, 0.5  -> 1.25/3 = 5/12
    """
    got = fractions(sjt("rate", rating_points=5), Answer(ratings={"a": 5, "b": 2, "c": 3}))
    assert got == pytest.approx({"HMC.3": 5 / 6, "ES.1": 5 / 12})


def test_sjt_rate_perfect_and_unrated_options() -> None:
    """rate: ratings exactly on the key earn 1 only where the key sits on the scale; unrated options earn 0.

    Ratings a=5, b=2, c=1 are exactly HMC.3's key (1, 0.25, 0) -> HMC.3 = 1.
    ES.1 keyed 0.25, 0.75, 0: closeness 0.25, 0.5, 1 -> 1.75/3 = 7/12.
    Rating only a=5: HMC.3 (1 + 0 + 0)/3 = 1/3; ES.1 (0.25 + 0 + 0)/3 = 1/12.
    """
    item = sjt("rate", rating_points=5)
    assert fractions(item, Answer(ratings={"a": 5, "b": 2, "c": 1})) == pytest.approx(
        {"HMC.3": 1.0, "ES.1": 7 / 12}
    )
    assert fractions(item, Answer(ratings={"a": 5})) == pytest.approx({"HMC.3": 1 / 3, "ES.1": 1 / 12})


# --------------------------------------------------------------------------- likert


@pytest.mark.parametrize(
    ("points", "reverse", "value", "expected"),
    [
        (5, False, 1, 0 / 4),  # (value - 1) / (points - 1)
        (5, False, 3, 2 / 4),
        (5, False, 4, 3 / 4),
        (5, False, 5, 4 / 4),
        (5, True, 1, 4 / 4),  # reverse: (points - value) / (points - 1)
        (5, True, 2, 3 / 4),
        (5, True, 5, 0 / 4),
        (4, False, 1, 0 / 3),
        (4, False, 2, 1 / 3),
        (4, False, 3, 2 / 3),
        (4, False, 4, 3 / 3),
        (4, True, 1, 3 / 3),
        (4, True, 2, 2 / 3),
        (4, True, 3, 1 / 3),
        (4, True, 4, 0 / 3),
    ],
)
def test_likert(points: int, reverse: bool, value: int, expected: float) -> None:
    """Likert: the point's position on the scale, counted from the other end when reverse-keyed."""
    item = make_item("likert", scale_points=points, key={"reverse": reverse})
    assert fractions(item, Answer(value=value)) == pytest.approx({"AK.1": expected})


# --------------------------------------------------------------------------- ordering
# Four steps, keyed a, b, c, d: six pairs (a<b, a<c, a<d, b<c, b<d, c<d).


def ordering(rule: str) -> Item:
    return make_item("ordering", options="dcba", key={"order": ["a", "b", "c", "d"], "credit": rule})


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (["a", "b", "c", "d"], 1.0),
        (["a", "c", "b", "d"], 0.0),  # one adjacent swap: not exact
        (["d", "c", "b", "a"], 0.0),
    ],
)
def test_ordering_exact(order: list[str], expected: float) -> None:
    """exact: 1 only for the keyed order."""
    assert fractions(ordering("exact"), Answer(order=order)) == {"AK.1": expected}


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (["a", "b", "c", "d"], 6 / 6),
        (["a", "c", "b", "d"], 5 / 6),  # only b<c broken
        (["b", "a", "d", "c"], 4 / 6),  # a<b and c<d broken
        (["d", "a", "b", "c"], 3 / 6),  # a<d, b<d, c<d broken
        (["d", "c", "b", "a"], 0 / 6),  # every pair reversed
    ],
)
def test_ordering_pairwise(order: list[str], expected: float) -> None:
    """pairwise: the share of keyed pairs the answer keeps in the same relative order."""
    assert fractions(ordering("pairwise"), Answer(order=order)) == pytest.approx({"AK.1": expected})


def test_ordering_pairwise_explains_the_count() -> None:
    """The explanation names how many pairs were kept."""
    assert "5 of 6" in credit(ordering("pairwise"), Answer(order=["a", "c", "b", "d"])).why


# --------------------------------------------------------------------------- open response

OPEN = make_item("open_response", points=3.0, loadings=[("HMC.2", 0.5), ("ES.2", 0.5)])


@pytest.mark.parametrize("rating", [0.0, 1 / 3, 2 / 3, 1.0])
def test_open_response_takes_the_agreed_rating(rating: float) -> None:
    """An open response earns the agreed rating (a share of its points) on every loaded indicator."""
    assert fractions(OPEN, Answer(text="my answer"), rating) == {"HMC.2": rating, "ES.2": rating}


def test_open_response_without_rating_raises() -> None:
    """Without an agreed rating there is nothing to score: credit() refuses rather than guessing."""
    with pytest.raises(ValueError, match="agreed rating"):
        credit(OPEN, Answer(text="my answer"))


# --------------------------------------------------------------------------- scaling by points, through the engine


def test_sjt_credit_is_scaled_by_points_and_loading_weight() -> None:
    """The engine turns fractions into credit: earned = fraction x points x loading weight.

    Option a of the 2-point SJT (loadings 0.5 / 0.5): HMC.3 1.0 x 2 x 0.5 = 1.0 of 1.0,
    ES.1 0.25 x 2 x 0.5 = 0.25 of 1.0; the item earns 1.25 of 2.
    """
    from service.rubrics.templates import get_template
    from service.scoring.engine import ScoredItem, ScoringInput, score

    item = sjt("best")
    doc = score(
        ScoringInput(
            get_template(FRAMEWORK).content,
            "sha256:x",
            [ScoredItem(1, item)],
            {item.code: Answer(choice="a")},
        )
    )
    (scored,) = doc.items
    assert (scored.earned, scored.possible) == (1.25, 2.0)
    assert [(c.indicator, c.dimension, c.fraction, c.earned, c.possible) for c in scored.contributions] == [
        ("ES.1", "ES", 0.25, 0.25, 1.0),
        ("HMC.3", "HMC", 1.0, 1.0, 1.0),
    ]
    assert {i.indicator: i.scaled for i in doc.indicators} == {"ES.1": 25.0, "HMC.3": 100.0}
