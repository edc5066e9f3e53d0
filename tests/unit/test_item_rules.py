"""Item rules without a database: validate_item names every problem with its JSON pointer,
candidate_view never carries key material, check_answer names the answer field at fault."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from service.items.model import Item, item_type, option_keys
from service.items.validation import validate_item
from service.items.views import Answer, CandidateItem, answer_rule, candidate_view, check_answer
from service.rubrics.templates import get_template
from tests.delivery_setup import ANSWERS, ITEMS

FRAMEWORK = get_template("cadre-ai-literacy").content
BY_CODE = {raw["code"]: raw for raw in ITEMS}


def raw(code: str, **changes: Any) -> dict[str, Any]:
    """A copy of one of the shared valid items, as JSON, with top-level fields replaced."""
    document = copy.deepcopy(BY_CODE[code])
    document.update(copy.deepcopy(changes))
    return document


def decode(document: dict[str, Any]) -> Item:
    return msgspec.convert(document, Item, strict=True)  # type: ignore[arg-type]


def pointers(document: dict[str, Any], framework: Any = FRAMEWORK) -> list[str]:
    """The pointers of every problem validate_item finds, sorted (duplicates kept)."""
    return sorted(error.pointer or "" for error in validate_item(decode(document), framework))


def sjt(**key_options: dict[str, float]) -> dict[str, Any]:
    """The shared `best` SJT item with its key replaced: option -> credit per indicator."""
    return raw("T-SJT-BEST", key={"options": [{"option": k, "credit": c} for k, c in key_options.items()]})


FULL_CREDIT = {"HMC.3": 1.0, "ES.1": 0.0}


# --- validate_item -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(BY_CODE))
def test_a_valid_item_of_every_type_has_no_problems(code: str) -> None:
    """Each shared item (one per type and SJT format) passes against the shipped cadre template."""
    assert validate_item(decode(raw(code)), FRAMEWORK) == []
    assert validate_item(decode(raw(code)), None) == []


def test_the_shared_items_cover_every_type() -> None:
    """The valid-item check above really exercises all six item types."""
    assert {item_type(decode(raw(code))) for code in BY_CODE} == {
        "single_choice",
        "multiple_choice",
        "situational_judgement",
        "likert",
        "ordering",
        "open_response",
    }


def test_single_choice_key_naming_an_unknown_option() -> None:
    """The correct option must be one of the item's options."""
    assert pointers(raw("T-SC-1", key={"correct": "z"})) == ["/key/correct"]


def test_multiple_choice_key_problems_point_at_each_entry() -> None:
    """Unknown options are named by index; a repeated option and an empty key name the list."""
    assert pointers(raw("T-MC-1", key={"correct": ["a", "z", "y"]})) == ["/key/correct/1", "/key/correct/2"]
    assert pointers(raw("T-MC-1", key={"correct": ["a", "a"]})) == ["/key/correct"]
    assert pointers(raw("T-MC-1", key={"correct": []})) == ["/key/correct"]


def test_duplicate_option_keys_point_at_the_repeat() -> None:
    """The second use of an option key is named, not the first."""
    options = [{"key": k, "text": {"en": k}} for k in ("a", "b", "c", "b", "d")]
    assert pointers(raw("T-SC-1", options=options)) == ["/options/3/key"]


def test_too_few_or_too_many_options() -> None:
    """An item with options needs two to twelve of them."""
    assert pointers(raw("T-SC-1", options=[{"key": "c", "text": {"en": "c"}}])) == ["/options"]
    many = [{"key": f"o{i}", "text": {"en": str(i)}} for i in range(13)]
    assert pointers(raw("T-SC-1", options=many, key={"correct": "o1"})) == ["/options"]


def test_sjt_credit_outside_zero_to_points() -> None:
    """Credit above the item's points or below zero is named at the indicator's credit."""
    document = sjt(a={"HMC.3": 1.5, "ES.1": -0.25}, b=FULL_CREDIT, c=FULL_CREDIT, d=FULL_CREDIT)
    assert pointers(document) == ["/key/options/0/credit/ES.1", "/key/options/0/credit/HMC.3"]
    assert pointers({**document, "points": 2}) == ["/key/options/0/credit/ES.1"]  # 1.5 fits in 0-2


def test_sjt_credit_for_an_indicator_the_item_does_not_load() -> None:
    """Credit may only be keyed for the item's own loadings (AK.1 is in the framework, not the item)."""
    document = sjt(a={**FULL_CREDIT, "AK.1": 0.5}, b=FULL_CREDIT, c=FULL_CREDIT, d=FULL_CREDIT)
    assert pointers(document) == ["/key/options/0/credit/AK.1"]


def test_sjt_missing_credit_for_a_loaded_indicator() -> None:
    """Every keyed option gives credit on every loaded indicator; a gap names the option's credit."""
    document = sjt(a=FULL_CREDIT, b={"HMC.3": 1.0}, c=FULL_CREDIT, d={})
    assert pointers(document) == ["/key/options/1/credit", "/key/options/3/credit", "/key/options/3/credit"]


def test_sjt_option_without_keyed_credit() -> None:
    """An option the key does not cover is reported once per option, at the key's option list."""
    document = sjt(a=FULL_CREDIT, b=FULL_CREDIT)
    errors = validate_item(decode(document), FRAMEWORK)
    assert [e.pointer for e in errors] == ["/key/options", "/key/options"]
    assert "'c'" in errors[0].detail and "'d'" in errors[1].detail


def test_sjt_key_naming_an_unknown_or_repeated_option() -> None:
    """The key's option entries must name existing options, each once."""
    document = raw("T-SJT-BEST")
    document["key"]["options"][1]["option"] = "z"  # b is now unkeyed, z unknown
    assert pointers(document) == ["/key/options", "/key/options/1/option"]
    document = raw("T-SJT-BEST")
    document["key"]["options"].append({"option": "a", "credit": FULL_CREDIT})
    assert pointers(document) == ["/key/options/4/option"]


@pytest.mark.parametrize(
    "order", [["b", "d", "a"], ["b", "d", "a", "c", "c"], ["b", "d", "a", "z"], ["b", "d", "a", "c", "e"], []]
)
def test_ordering_key_must_be_a_permutation(order: list[str]) -> None:
    """A missing, repeated, unknown or extra step in the key's order is one problem at /key/order."""
    assert pointers(raw("T-ORD-1", key={"order": order})) == ["/key/order"]


def test_likert_labels_one_per_point_or_none() -> None:
    """Scale labels, when given, match scale_points."""
    labels = [{"en": f"point {i}"} for i in range(1, 6)]
    assert pointers(raw("T-LK-1", scale_labels=labels[:3])) == ["/scale_labels"]
    assert pointers(raw("T-LK-1", scale_labels=labels)) == []
    assert pointers(raw("T-LK-1", scale_labels=labels[:3], scale_points=3)) == []
    assert pointers(raw("T-LK-1", scale_labels=[])) == []


@pytest.mark.parametrize(
    ("weights", "ok"),
    [
        ((0.5, 0.4), False),
        ((0.6, 0.6), False),
        ((0.3333, 0.6667), True),
        ((0.5, 0.5), True),
        ((0.9995, 0.0005), True),
    ],
)
def test_loading_weights_sum_to_one(weights: tuple[float, float], ok: bool) -> None:
    """Weights must sum to 1 within a small tolerance; otherwise /loadings is named."""
    loadings = [{"indicator": "AK.1", "weight": weights[0]}, {"indicator": "AK.2", "weight": weights[1]}]
    assert pointers(raw("T-SC-1", loadings=loadings)) == ([] if ok else ["/loadings"])


def test_no_loadings() -> None:
    """An item must measure something."""
    assert pointers(raw("T-SC-1", loadings=[])) == ["/loadings"]


def test_duplicate_loadings_point_at_the_repeat() -> None:
    """The same indicator loaded twice is named at its second loading."""
    loadings = [{"indicator": "AK.1", "weight": 0.5}, {"indicator": "AK.1", "weight": 0.5}]
    assert pointers(raw("T-SC-1", loadings=loadings)) == ["/loadings/1/indicator"]


def test_indicator_not_in_the_framework_version() -> None:
    """Loadings name indicators of the version the item is checked against; without one, not checked."""
    loadings = [{"indicator": "AK.1", "weight": 0.5}, {"indicator": "ZZ.9", "weight": 0.5}]
    assert pointers(raw("T-SC-1", loadings=loadings)) == ["/loadings/1/indicator"]
    assert pointers(raw("T-SC-1", loadings=loadings), framework=None) == []


def test_wrong_framework_code() -> None:
    """An item written for another framework is named at /framework."""
    assert pointers(raw("T-SC-1", framework="unesco-ai-competency-teachers")) == ["/framework"]
    assert pointers(raw("T-SC-1", framework="unesco-ai-competency-teachers"), framework=None) == []


def test_every_problem_is_named_at_once() -> None:
    """Problems in loadings, options and key are all reported together, each with its own pointer."""
    loadings = [{"indicator": "ZZ.1", "weight": 0.5}, {"indicator": "ZZ.1", "weight": 0.2}]
    document = raw(
        "T-MC-1",
        loadings=loadings,
        options=[{"key": k, "text": {"en": k}} for k in ("a", "b", "a")],
        key={"correct": ["q"]},
        framework="other",
    )
    assert pointers(document) == [
        "/framework",
        "/key/correct/0",
        "/loadings",
        "/loadings/0/indicator",
        "/loadings/1/indicator",
        "/loadings/1/indicator",
        "/options/2/key",
    ]


# --- candidate_view --------------------------------------------------------------------------------

SECRET = "SECRET-KEY-MATERIAL"
KEY_FIELDS = {
    "correct",
    "credit",
    "partial_credit",
    "reverse",
    "order",
    "rater_notes",
    "exemplars",
    "note",
    "loadings",
    "tags",
    "framework",
    "shuffle_options",
}


def with_secrets(code: str) -> Item:
    """The shared item with author-only text (note, tags) and, where the type allows, key text marked."""
    document = raw(code, note=SECRET, tags=[SECRET])
    if document["type"] == "open_response":
        document["key"] = {"rater_notes": {"en": SECRET}, "exemplars": [{"zh-CN": SECRET}]}
    return decode(document)


def keys_of(value: Any) -> set[str]:
    """Every dict key anywhere in a JSON-like value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


@pytest.mark.parametrize("code", sorted(BY_CODE))
def test_candidate_view_has_no_key_material(code: str) -> None:
    """No key field, author note or tag reaches the view, at any depth or in any text; options carry
    only their key (the option's name) and text."""
    view = msgspec.to_builtins(candidate_view(with_secrets(code)))
    assert "key" not in view
    assert not keys_of(view) & KEY_FIELDS, keys_of(view) & KEY_FIELDS
    assert all(set(option) == {"key", "text"} for option in view.get("options", []))
    assert SECRET not in msgspec.json.encode(view).decode()
    assert view["ref"] == code


def test_candidate_view_says_how_each_type_is_answered() -> None:
    """answer_with follows the type (and the SJT format); the SJT rating scale only for `rate`."""
    views = {code: candidate_view(decode(raw(code))) for code in BY_CODE}
    assert {code: view.answer_with for code, view in views.items()} == {
        "T-SC-1": "choice",
        "T-MC-1": "choices",
        "T-SJT-BEST": "choice",
        "T-SJT-ML": "most_least",
        "T-SJT-RATE": "ratings",
        "T-LK-1": "value",
        "T-ORD-1": "order",
        "T-OR-1": "text",
    }
    assert views["T-SJT-RATE"].rating_points == 4 and views["T-SJT-BEST"].rating_points is None
    assert views["T-LK-1"].scale_points == 5 and views["T-LK-1"].options is None
    assert views["T-OR-1"].max_length == 500 and views["T-OR-1"].task == "write_prompt"


@pytest.mark.parametrize("code", [c for c in sorted(BY_CODE) if "options" in BY_CODE[c]])
def test_candidate_view_applies_an_option_order(code: str) -> None:
    """Options come in the order given (texts travel with their keys), else as authored."""
    item = decode(raw(code))
    authored = option_keys(item)
    assert [o.key for o in candidate_view(item).options or []] == authored
    order = list(reversed(authored))
    view = candidate_view(item, order)
    assert [o.key for o in view.options or []] == order
    texts = {option.key: option.text for option in item.options}  # type: ignore[union-attr]
    assert all(option.text == texts[option.key] for option in view.options or [])


# --- check_answer ----------------------------------------------------------------------------------

VIEWS: dict[str, CandidateItem] = {code: candidate_view(decode(raw(code))) for code in BY_CODE}


def answer_pointers(code: str, answer: dict[str, Any], prefix: str = "/answer") -> list[str]:
    errors = check_answer(answer_rule(VIEWS[code]), msgspec.convert(answer, Answer, strict=True), prefix)
    return sorted(error.pointer or "" for error in errors)


@pytest.mark.parametrize("code", sorted(ANSWERS))
def test_a_valid_answer_is_accepted(code: str) -> None:
    """The sample answer of every item passes."""
    assert answer_pointers(code, ANSWERS[code]) == []


@pytest.mark.parametrize("code", sorted(BY_CODE))
def test_an_empty_answer_is_accepted_as_clearing(code: str) -> None:
    """An answer with no field set clears a saved one, whatever the type."""
    assert answer_pointers(code, {}) == []


@pytest.mark.parametrize(
    ("code", "answer", "expected"),
    [
        ("T-LK-1", {"choice": "a"}, ["/answer/choice"]),
        ("T-SC-1", {"choices": ["a"]}, ["/answer/choices"]),
        ("T-SJT-ML", {"choice": "a"}, ["/answer/choice"]),
        ("T-SJT-BEST", {"most": "a", "least": "b"}, ["/answer/least", "/answer/most"]),
        ("T-OR-1", {"text": "x", "value": 3}, ["/answer/value"]),
        ("T-ORD-1", {"choices": ["a"], "text": "x"}, ["/answer/choices", "/answer/text"]),
    ],
)
def test_a_field_the_type_does_not_take_is_named(
    code: str, answer: dict[str, Any], expected: list[str]
) -> None:
    """Each field that is not the item's answer_with is named (and nothing else is checked)."""
    assert answer_pointers(code, answer) == expected


@pytest.mark.parametrize(
    ("code", "answer", "expected"),
    [
        ("T-SC-1", {"choice": "z"}, ["/answer/choice"]),
        ("T-SJT-BEST", {"choice": "e"}, ["/answer/choice"]),
        ("T-MC-1", {"choices": ["a", "z", "q"]}, ["/answer/choices/1", "/answer/choices/2"]),
        ("T-SJT-ML", {"most": "z", "least": "a"}, ["/answer/most"]),
        ("T-SJT-ML", {"most": "a", "least": "z"}, ["/answer/least"]),
        ("T-SJT-RATE", {"ratings": {"z": 2}}, ["/answer/ratings/z"]),
    ],
)
def test_an_unknown_option_is_named(code: str, answer: dict[str, Any], expected: list[str]) -> None:
    """An option key that is not in the item is named where it was given."""
    assert answer_pointers(code, answer) == expected


def test_a_duplicate_choice_is_named() -> None:
    """Choosing the same option twice names the list."""
    assert answer_pointers("T-MC-1", {"choices": ["a", "d", "a"]}) == ["/answer/choices"]


def test_most_and_least_must_differ() -> None:
    """The same response as most and least likely names `least`; either alone is a partial answer."""
    assert answer_pointers("T-SJT-ML", {"most": "b", "least": "b"}) == ["/answer/least"]
    assert answer_pointers("T-SJT-ML", {"most": "b"}) == []
    assert answer_pointers("T-SJT-ML", {"least": "b"}) == []


@pytest.mark.parametrize(("rating", "ok"), [(0, False), (1, True), (4, True), (5, False), (-1, False)])
def test_ratings_within_the_items_scale(rating: int, ok: bool) -> None:
    """T-SJT-RATE rates on 4 points: 1..4 is accepted, anything else names the option's rating."""
    expected = [] if ok else ["/answer/ratings/c"]
    assert answer_pointers("T-SJT-RATE", {"ratings": {"a": 3, "c": rating}}) == expected


@pytest.mark.parametrize(("value", "ok"), [(0, False), (1, True), (5, True), (6, False), (-3, False)])
def test_likert_value_within_the_scale(value: int, ok: bool) -> None:
    """A likert answer is a point from 1 to scale_points (5)."""
    assert answer_pointers("T-LK-1", {"value": value}) == ([] if ok else ["/answer/value"])


@pytest.mark.parametrize(
    "order", [["a", "b", "c"], ["a", "b", "c", "c"], ["a", "b", "c", "d", "e"], ["a", "b", "c", "z"], []]
)
def test_order_must_be_a_permutation_of_the_steps(order: list[str]) -> None:
    """Every step exactly once; anything else names /answer/order."""
    assert answer_pointers("T-ORD-1", {"order": order}) == ["/answer/order"]
    assert answer_pointers("T-ORD-1", {"order": ["d", "c", "b", "a"]}) == []


def test_text_up_to_the_items_max_length() -> None:
    """T-OR-1 allows 500 characters (CJK characters count one each)."""
    assert answer_pointers("T-OR-1", {"text": "字" * 500}) == []
    assert answer_pointers("T-OR-1", {"text": "字" * 501}) == ["/answer/text"]


def test_pointers_start_at_the_given_prefix() -> None:
    """A batch names each answer by its place in the batch."""
    assert answer_pointers("T-SC-1", {"choice": "z"}, "/answers/3/answer") == ["/answers/3/answer/choice"]
