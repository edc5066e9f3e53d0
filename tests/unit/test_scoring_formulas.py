"""The README's credit formulas (Items section, "Credit"): every worked example is read from the README's
table and computed through the scoring engine, so the documented number and the engine cannot drift apart.

Each row names a rule, gives the item's scoring material as compact JSON (options by letter, one
indicator "X"), the answer as JSON, and the credit in bold; the test builds the item, scores a one-item
attempt and checks earned / possible (and the item's status) against the README. The formulas themselves
(the table's "f" column) are then written out independently and compared with `credit` on random input.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.items.model import Item
from service.items.views import Answer
from service.rubrics.model import FrameworkContent
from service.scoring.credit import credit
from service.scoring.engine import ScoredItem, ScoringInput, score

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- credit-examples:begin -->", "<!-- credit-examples:end -->"


def loc(text: str) -> dict[str, str]:
    return {"en": text}


FRAMEWORK = msgspec.convert(
    {
        "code": "f",
        "title": loc("f"),
        "levels": [{"code": "L1", "label": loc("L1")}, {"code": "L2", "label": loc("L2")}],
        "dimensions": [
            {
                "code": "D",
                "name": loc("D"),
                "weight": 1.0,
                "indicators": [{"code": "X", "statement": loc("X"), "weight": 1.0}],
            }
        ],
        "cut_scores": {"overall": [{"level": "L1", "min_score": 0}, {"level": "L2", "min_score": 50}]},
    },
    FrameworkContent,
)


def _options(letters: str) -> list[dict[str, Any]]:
    return [{"key": key, "text": loc(f"option {key}")} for key in letters]


def _multiple(rule: str):  # type: ignore[no-untyped-def]
    return lambda spec: {
        "type": "multiple_choice",
        "options": _options(spec["options"]),
        "key": {"correct": spec["correct"], "partial_credit": rule},
    }


def _situational(fmt: str):  # type: ignore[no-untyped-def]
    return lambda spec: {
        "type": "situational_judgement",
        "format": fmt,
        "points": spec["points"],
        "options": _options("".join(spec["credit"])),
        "key": {
            "options": [{"option": key, "credit": {"X": credit}} for key, credit in spec["credit"].items()]
        },
        **({"rating_points": spec["rating_points"]} if "rating_points" in spec else {}),
    }


def _likert(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "likert",
        "scale_points": spec["scale_points"],
        "key": {"reverse": spec.get("reverse", False)},
    }


def _ordering(rule: str):  # type: ignore[no-untyped-def]
    return lambda spec: {
        "type": "ordering",
        "options": _options("".join(spec["order"])),
        "key": {"order": spec["order"], "credit": rule},
    }


# the README's rule names -> how its compact item JSON becomes an item
BUILDERS = {
    "single_choice": lambda spec: {
        "type": "single_choice",
        "options": _options(spec["options"]),
        "key": {"correct": spec["correct"]},
    },
    "all_or_nothing": _multiple("all_or_nothing"),
    "per_option": _multiple("per_option"),
    "right_minus_wrong": _multiple("right_minus_wrong"),
    "best": _situational("best"),
    "most_least": _situational("most_least"),
    "most only": _situational("most_least"),
    "least only": _situational("most_least"),
    "rate": _situational("rate"),
    "rate, partly rated": _situational("rate"),
    "likert": _likert,
    "likert, reverse": _likert,
    "exact": _ordering("exact"),
    "pairwise": _ordering("pairwise"),
    "no answer": _multiple("per_option"),
}


def readme_examples() -> list[tuple[str, dict[str, Any], dict[str, Any], float]]:
    text = README.read_text()
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    examples = []
    for line in table.strip().splitlines()[2:]:  # after the header and the rule line
        rule_cell, _, example = (cell.strip() for cell in line.strip().strip("|").split("|"))
        rule = rule_cell.replace("`", "")
        item_json, answer_json = re.findall(r"`(\{[^`]*\})`", example)
        (credit,) = re.findall(r"\*\*(-?[0-9.]+)\*\*", example)
        examples.append((rule, json.loads(item_json), json.loads(answer_json), float(credit)))
    return examples


EXAMPLES = readme_examples()


def test_the_readme_has_one_example_per_rule():
    assert sorted(rule for rule, *_ in EXAMPLES) == sorted(BUILDERS)


@pytest.mark.parametrize(("rule", "spec", "answer", "credit"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_each_worked_example_is_what_the_engine_gives(
    rule: str, spec: dict[str, Any], answer: dict[str, Any], credit: float
):
    item = msgspec.convert(
        {
            "code": "I",
            "framework": "f",
            "stem": loc("stem"),
            "loadings": [{"indicator": "X", "weight": 1.0}],
            **BUILDERS[rule](spec),
        },
        Item,
    )
    document = score(
        ScoringInput(
            FRAMEWORK,
            "sha256:f",
            [ScoredItem(1, item)],  # type: ignore[arg-type]
            {"I": msgspec.convert(answer, Answer)},
        )
    )
    (scored,) = document.items
    assert scored.status == ("omitted" if rule == "no answer" else "scored")
    assert scored.earned / scored.possible == pytest.approx(credit, abs=5e-7)  # the README shows 6 decimals
    (contribution,) = scored.contributions
    assert contribution.fraction == round(credit, 6)


@pytest.mark.parametrize(
    "empty",
    [
        Answer(),
        Answer(text="  \n"),
        Answer(choices=[]),
        Answer(order=[]),
        Answer(ratings={}),
        Answer(most=None, least=None),
    ],
)
def test_what_counts_as_no_answer(empty: Answer):
    """The README's list: an absent answer and one with nothing in it are the same: omitted, 0 of the points."""
    item = msgspec.convert(
        {
            "code": "I",
            "framework": "f",
            "stem": loc("stem"),
            "type": "open_response",
            "loadings": [{"indicator": "X", "weight": 1.0}],
        },
        Item,
    )

    def only(answers: dict[str, Answer]):  # type: ignore[no-untyped-def]
        (scored,) = score(ScoringInput(FRAMEWORK, "sha256:f", [ScoredItem(1, item)], answers)).items  # type: ignore[arg-type]
        return scored

    for answers in ({}, {"I": empty}):
        scored = only(answers)
        assert (scored.status, scored.earned, scored.possible) == ("omitted", 0.0, 1.0)
    # something in it: an open response is then pending its agreed rating, not omitted
    assert only({"I": Answer(text="x")}).status == "pending_rating"


# --- the formulas, written independently from the README's "f" column, against the engine on random input

PROPERTY = settings(max_examples=200, deadline=None)
LETTERS = "abcdef"


def _item(rule: str, spec: dict[str, Any]) -> Item:
    return msgspec.convert(
        {
            "code": "I",
            "framework": "f",
            "stem": loc("stem"),
            "loadings": [{"indicator": "X", "weight": 1.0}],
            **BUILDERS[rule](spec),
        },
        Item,
    )


@st.composite
def multiple_choice(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    options = LETTERS[: draw(st.integers(2, 6))]
    correct = draw(st.lists(st.sampled_from(options), min_size=1, unique=True))
    chosen = draw(st.lists(st.sampled_from(options), min_size=1, unique=True))
    return options, correct, chosen


@PROPERTY
@given(multiple_choice())
def test_multiple_choice_formulas(case: tuple[str, list[str], list[str]]):
    options, correct, chosen = case
    judged_right = sum((o in chosen) == (o in correct) for o in options)
    keyed_chosen, unkeyed_chosen = len(set(chosen) & set(correct)), len(set(chosen) - set(correct))
    expected = {
        "all_or_nothing": float(set(chosen) == set(correct)),
        "per_option": judged_right / len(options),
        "right_minus_wrong": max(0.0, (keyed_chosen - unkeyed_chosen) / len(correct)),
    }
    for rule, f in expected.items():
        item = _item(rule, {"options": options, "correct": correct})
        assert credit(item, Answer(choices=chosen)).fractions["X"] == pytest.approx(f)


@st.composite
def situational(draw: st.DrawFn) -> tuple[float, dict[str, float], int]:
    points = draw(st.sampled_from([1.0, 2.0, 3.0, 4.0]))
    keyed = draw(st.dictionaries(st.sampled_from(LETTERS), st.integers(0, 4), min_size=2))
    return points, {o: points * c / 4 for o, c in keyed.items()}, draw(st.integers(3, 10))


@PROPERTY
@given(situational(), st.data())
def test_situational_judgement_formulas(case: tuple[float, dict[str, float], int], data: st.DataObject):
    points, keyed, rating_points = case
    e = {o: c / points for o, c in keyed.items()}
    spec = {"points": points, "credit": keyed, "rating_points": rating_points}
    options = sorted(keyed)
    choice = data.draw(st.sampled_from(options))
    assert credit(_item("best", spec), Answer(choice=choice)).fractions["X"] == pytest.approx(e[choice])
    most = data.draw(st.none() | st.sampled_from(options))
    least = data.draw(st.none() | st.sampled_from([o for o in options if o != most]))
    halves = (e[most] if most else 0.0) + (1 - e[least] if least else 0.0)  # a missing half earns 0
    got = credit(_item("most_least", spec), Answer(most=most, least=least)).fractions["X"]
    assert got == pytest.approx(halves / 2)
    ratings = data.draw(
        st.dictionaries(st.sampled_from(options), st.integers(1, rating_points))
    )  # partly rated
    closeness = [
        1 - abs((ratings[o] - 1) / (rating_points - 1) - e[o]) if o in ratings else 0.0 for o in options
    ]
    got = credit(_item("rate", spec), Answer(ratings=ratings)).fractions["X"]
    assert got == pytest.approx(sum(closeness) / len(options))


@PROPERTY
@given(st.integers(2, 11), st.booleans(), st.data())
def test_likert_formulas(scale_points: int, reverse: bool, data: st.DataObject):
    value = data.draw(st.integers(1, scale_points))
    f = (scale_points - value if reverse else value - 1) / (scale_points - 1)
    item = _item("likert", {"scale_points": scale_points, "reverse": reverse})
    assert credit(item, Answer(value=value)).fractions["X"] == pytest.approx(f)


@PROPERTY
@given(st.permutations(LETTERS[:5]), st.permutations(LETTERS[:5]))
def test_ordering_formulas(key: list[str], given_order: list[str]):
    kept = sum(given_order.index(a) < given_order.index(b) for i, a in enumerate(key) for b in key[i + 1 :])
    assert credit(_item("pairwise", {"order": key}), Answer(order=given_order)).fractions[
        "X"
    ] == pytest.approx(kept / (len(key) * (len(key) - 1) / 2))
    assert credit(_item("exact", {"order": key}), Answer(order=given_order)).fractions["X"] == float(
        given_order == key
    )
