"""The README's credit formulas (Items section, "Credit"): every worked example is read from the README's
table and computed through the scoring engine, so the documented number and the engine cannot drift apart.

Each row names a rule, gives the item's scoring material as compact JSON (options by letter, one
indicator "X"), the answer as JSON, and the credit in bold; the test builds the item, scores a one-item
attempt and checks earned / possible (and the item's status) against the README.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from service.items.model import Item
from service.items.views import Answer
from service.rubrics.model import FrameworkContent
from service.scoring.engine import ScoredItem, ScoringInput, score

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- credit-examples:begin -->", "<!-- credit-examples:end -->"


def loc(text: str) -> dict[str, str]:
    return {"en": text}


FRAMEWORK = msgspec.convert({
    "code": "f", "title": loc("f"),
    "levels": [{"code": "L1", "label": loc("L1")}, {"code": "L2", "label": loc("L2")}],
    "dimensions": [{"code": "D", "name": loc("D"), "weight": 1.0, "indicators": [
        {"code": "X", "statement": loc("X"), "weight": 1.0}]}],
    "cut_scores": {"overall": [{"level": "L1", "min_score": 0}, {"level": "L2", "min_score": 50}]},
}, FrameworkContent)


def _options(letters: str) -> list[dict[str, Any]]:
    return [{"key": key, "text": loc(f"option {key}")} for key in letters]


def _multiple(rule: str):  # type: ignore[no-untyped-def]
    return lambda spec: {"type": "multiple_choice", "options": _options(spec["options"]),
                         "key": {"correct": spec["correct"], "partial_credit": rule}}


def _situational(fmt: str):  # type: ignore[no-untyped-def]
    return lambda spec: {
        "type": "situational_judgement", "format": fmt, "points": spec["points"],
        "options": _options("".join(spec["credit"])),
        "key": {"options": [{"option": key, "credit": {"X": credit}} for key, credit in spec["credit"].items()]},
        **({"rating_points": spec["rating_points"]} if "rating_points" in spec else {})}


def _likert(spec: dict[str, Any]) -> dict[str, Any]:
    return {"type": "likert", "scale_points": spec["scale_points"], "key": {"reverse": spec.get("reverse", False)}}


def _ordering(rule: str):  # type: ignore[no-untyped-def]
    return lambda spec: {"type": "ordering", "options": _options("".join(spec["order"])),
                         "key": {"order": spec["order"], "credit": rule}}


# the README's rule names -> how its compact item JSON becomes an item
BUILDERS = {
    "single_choice": lambda spec: {"type": "single_choice", "options": _options(spec["options"]),
                                   "key": {"correct": spec["correct"]}},
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
    table = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
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
def test_each_worked_example_is_what_the_engine_gives(rule: str, spec: dict[str, Any], answer: dict[str, Any],
                                                      credit: float):
    item = msgspec.convert({"code": "I", "framework": "f", "stem": loc("stem"),
                            "loadings": [{"indicator": "X", "weight": 1.0}], **BUILDERS[rule](spec)}, Item)
    document = score(ScoringInput(FRAMEWORK, "sha256:f", [ScoredItem(1, item)],  # type: ignore[arg-type]
                                  {"I": msgspec.convert(answer, Answer)}))
    (scored,) = document.items
    assert scored.status == ("omitted" if rule == "no answer" else "scored")
    assert scored.earned / scored.possible == pytest.approx(credit, abs=5e-7)  # the README shows 6 decimals
    (contribution,) = scored.contributions
    assert contribution.fraction == round(credit, 6)


@pytest.mark.parametrize("empty", [Answer(), Answer(text="  \n"), Answer(choices=[]), Answer(order=[]),
                                   Answer(ratings={}), Answer(most=None, least=None)])
def test_what_counts_as_no_answer(empty: Answer):
    """The README's list: an absent answer and one with nothing in it are the same: omitted, 0 of the points."""
    item = msgspec.convert({"code": "I", "framework": "f", "stem": loc("stem"), "type": "open_response",
                            "loadings": [{"indicator": "X", "weight": 1.0}]}, Item)

    def only(answers: dict[str, Answer]):  # type: ignore[no-untyped-def]
        (scored,) = score(ScoringInput(FRAMEWORK, "sha256:f", [ScoredItem(1, item)], answers)).items  # type: ignore[arg-type]
        return scored

    for answers in ({}, {"I": empty}):
        scored = only(answers)
        assert (scored.status, scored.earned, scored.possible) == ("omitted", 0.0, 1.0)
    # something in it: an open response is then pending its agreed rating, not omitted
    assert only({"I": Answer(text="x")}).status == "pending_rating"
