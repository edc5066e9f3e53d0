"""The sample item bank rubrics/items/cadre-ai-literacy/items.json: every item decodes strictly, follows
the item rules, and the bank covers the cadre AI-literacy framework with the promised composition."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache

from service.items.model import (
    Item,
    Likert,
    MultipleChoice,
    OpenResponse,
    Ordering,
    SingleChoice,
    SituationalJudgement,
    encode_item,
    item_decoder,
    item_type,
    option_keys,
)
from service.items.quality import localized_texts
from service.rubrics.model import FrameworkContent, content_decoder, walk_indicators
from service.rubrics.templates import TEMPLATES_DIR

FRAMEWORK = "cadre-ai-literacy"
VERSION = "1.0.0"
BANK = TEMPLATES_DIR.parent / "items" / FRAMEWORK / "items.json"
LANGUAGES = {"zh-CN", "en"}
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
CJK = re.compile(r"[\u3400-\u9fff]")
QUARTERS = {0.0, 0.25, 0.5, 0.75, 1.0}
SCALE_TAG = "scale:ai-use-self-report"


@cache
def raw_bank() -> dict:
    return json.loads(BANK.read_text(encoding="utf-8"))


@cache
def framework() -> FrameworkContent:
    return content_decoder.decode((TEMPLATES_DIR / FRAMEWORK / f"{VERSION}.json").read_bytes())


@cache
def dimension_of() -> dict[str, str]:
    """Indicator code -> code of the dimension holding it."""
    return {indicator.code: dimension.code for _, dimension, indicator in walk_indicators(framework())}


@cache
def items() -> tuple[Item, ...]:
    return tuple(item_decoder.decode(json.dumps(raw).encode()) for raw in raw_bank()["items"])


def of_type(cls: type) -> list:
    return [item for item in items() if isinstance(item, cls)]


def loaded(item: Item) -> list[str]:
    return [loading.indicator for loading in item.loadings]


def dimensions(item: Item) -> set[str]:
    return {dimension_of()[code] for code in loaded(item)}


def centre(item: Item) -> str:
    """The dimension of the item's heaviest loading (the first, on a tie)."""
    heaviest = max(item.loadings, key=lambda loading: loading.weight)
    return dimension_of()[heaviest.indicator]


def rule_problems(item: Item) -> list[str]:
    """The item rules the bank's validator enforces, checked here independently of it."""
    problems = []
    codes = loaded(item)
    if not codes:
        problems.append("no loadings")
    if len(set(codes)) != len(codes):
        problems.append(f"an indicator is loaded twice: {codes}")
    unknown = set(codes) - dimension_of().keys()
    if unknown:
        problems.append(f"indicators not in the template: {sorted(unknown)}")
    total = sum(loading.weight for loading in item.loadings)
    if abs(total - 1) > 0.001:
        problems.append(f"loading weights sum to {total}")
    if item.framework != FRAMEWORK:
        problems.append(f"framework is {item.framework}")

    keys = option_keys(item)
    if hasattr(item, "options"):
        if len(keys) < 2:
            problems.append("fewer than two options")
        if len(set(keys)) != len(keys):
            problems.append(f"option keys repeat: {keys}")
    if isinstance(item, SingleChoice) and item.key.correct not in keys:
        problems.append(f"correct option {item.key.correct} does not exist")
    if isinstance(item, MultipleChoice):
        correct = item.key.correct
        if not correct or len(set(correct)) != len(correct) or not set(correct) <= set(keys):
            problems.append(f"correct options {correct} are not a non-empty subset of {keys}")
    if isinstance(item, SituationalJudgement):
        keyed = [entry.option for entry in item.key.options]
        if sorted(keyed) != sorted(keys):
            problems.append(f"keyed options {keyed} are not one entry per option {keys}")
        for entry in item.key.options:
            if set(entry.credit) != set(codes):
                problems.append(
                    f"option {entry.option} credits {sorted(entry.credit)}, loads {sorted(codes)}"
                )
            if not all(0 <= credit <= item.points for credit in entry.credit.values()):
                problems.append(f"option {entry.option} credit outside 0-{item.points}")
    if isinstance(item, Ordering) and sorted(item.key.order) != sorted(keys):
        problems.append(f"order {item.key.order} is not a permutation of {keys}")
    if isinstance(item, Likert) and item.scale_labels and len(item.scale_labels) != item.scale_points:
        problems.append(f"{len(item.scale_labels)} scale labels for {item.scale_points} points")
    for where, text in localized_texts(item):
        if set(text) != LANGUAGES:
            problems.append(f"{where} has languages {sorted(text)}")
        elif not (text["zh-CN"].strip() and text["en"].strip()):
            problems.append(f"{where} has a blank text")
        elif not CJK.search(text["zh-CN"]) or CJK.search(text["en"]):
            problems.append(f"{where}: zh-CN must be Chinese and en must hold no Chinese")
    return problems


# ----------------------------------------------------------------------------- the file


def test_file_names_the_framework_and_template_version():
    bank = raw_bank()
    assert set(bank) == {"framework", "template_version", "items"}
    assert bank["framework"] == framework().code == FRAMEWORK
    assert bank["template_version"] == VERSION


def test_every_item_decodes_strictly_and_round_trips():
    assert len(items()) == len(raw_bank()["items"])
    for item in items():
        assert item_decoder.decode(encode_item(item)) == item, item.code


def test_every_item_follows_the_rules():
    problems = {item.code: rule_problems(item) for item in items()}
    assert {code: found for code, found in problems.items() if found} == {}


def test_codes_are_unique_and_well_formed():
    codes = [item.code for item in items()]
    assert len(codes) == len(set(codes))
    assert all(CODE.match(code) for code in codes)
    assert all(code.startswith("CAL-") for code in codes)


def test_every_item_is_tagged():
    assert all(item.tags for item in items())


# ----------------------------------------------------------------------------- coverage


def test_composition_by_type():
    counts = Counter(item_type(item) for item in items())
    assert len(items()) >= 80
    assert counts["single_choice"] >= 12
    assert counts["multiple_choice"] >= 4
    assert counts["situational_judgement"] >= 14
    assert counts["likert"] >= 8
    assert counts["ordering"] >= 2
    assert counts["open_response"] >= 6
    assert counts["situational_judgement"] / len(items()) >= 0.4, counts


def test_every_dimension_and_indicator_is_covered():
    covered = {code for item in items() for code in loaded(item)}
    assert covered == set(dimension_of()), f"not loaded: {sorted(set(dimension_of()) - covered)}"
    assert len(covered) == 23
    assert {dimension for item in items() for dimension in dimensions(item)} == {
        "AK",
        "AA",
        "HMC",
        "ES",
        "AG",
    }


# ----------------------------------------------------------------------------- choice items


def test_knowledge_items_are_four_option_single_choice_over_ak_aa_ag():
    knowledge = [item for item in of_type(SingleChoice) if "knowledge" in item.tags]
    assert len(knowledge) >= 12
    for item in of_type(SingleChoice):
        assert option_keys(item) == ["a", "b", "c", "d"], item.code
        assert dimensions(item) <= {"AK", "AA", "AG"}, item.code
    assert {dimension for item in knowledge for dimension in dimensions(item)} == {"AK", "AA", "AG"}
    positions = Counter(item.key.correct for item in of_type(SingleChoice))
    assert set(positions) == {"a", "b", "c", "d"} and min(positions.values()) >= 2, positions


def test_multiple_choice_uses_every_partial_credit_rule():
    multiple = of_type(MultipleChoice)
    assert len(multiple) >= 4
    assert {item.key.partial_credit for item in multiple} == {
        "per_option",
        "right_minus_wrong",
        "all_or_nothing",
    }
    for item in multiple:
        assert option_keys(item) == ["a", "b", "c", "d"], item.code
        assert 1 < len(item.key.correct) < 4, item.code  # neither a single answer nor "all of them"


# ----------------------------------------------------------------------------- situational judgement


def test_sjt_composition():
    sjts = of_type(SituationalJudgement)
    assert len(sjts) >= 14
    formats = Counter(item.format for item in sjts)
    assert formats["best"] >= 10 and formats["most_least"] >= 2 and formats["rate"] >= 2, formats
    assert sum(centre(item) == "HMC" for item in sjts) >= 7
    assert sum(centre(item) == "ES" for item in sjts) >= 7
    assert sum(bool(dimensions(item) & {"HMC", "ES"}) for item in sjts) >= 10
    centred = [item for item in sjts if centre(item) in {"HMC", "ES"}]
    both = [item for item in centred if {"HMC", "ES"} <= dimensions(item)]
    assert len(both) > len(centred) / 2, "most HMC- and ES-centred SJT items should load on both"
    assert {centre(item) for item in sjts} == {"HMC", "ES", "AA", "AG"}, (
        "government-work scenes on every dimension"
    )
    for item in sjts:
        assert item.code.startswith(f"CAL-SJT-{centre(item)}-"), item.code
        assert f"focus:{centre(item)}" in item.tags, item.code


def test_sjt_options_and_credit():
    for item in of_type(SituationalJudgement):
        assert option_keys(item) == ["a", "b", "c", "d"], item.code
        assert item.scenario is not None, item.code
        assert item.points == 1, item.code
        if item.format == "rate":
            assert item.rating_points == 5, item.code
        for entry in item.key.options:
            assert set(entry.credit.values()) <= QUARTERS, (item.code, entry.option)


def weighted(item: SituationalJudgement) -> dict[str, float]:
    weights = {loading.indicator: loading.weight for loading in item.loadings}
    return {
        entry.option: sum(weights[code] * credit for code, credit in entry.credit.items())
        for entry in item.key.options
    }


def test_sjt_has_one_defensible_best_option():
    """`best` and `most_least` items have a single top option, full marks on every loaded indicator."""
    for item in of_type(SituationalJudgement):
        if item.format == "rate":
            continue
        scores = weighted(item)
        top = max(scores.values())
        assert top == item.points, item.code
        assert list(scores.values()).count(top) == 1, item.code
        assert min(scores.values()) < top / 2, f"{item.code}: no clearly weak option"


def test_dual_loaded_sjt_options_differ_per_indicator():
    """Where an item loads on two indicators, at least one option is strong on one and weak on the other."""
    for item in of_type(SituationalJudgement):
        if len(item.loadings) < 2:
            continue
        first, second = loaded(item)[:2]
        assert any(abs(entry.credit[first] - entry.credit[second]) >= 0.5 for entry in item.key.options), (
            item.code
        )


# ----------------------------------------------------------------------------- self-report, ordering, open


def test_likert_self_report_scale():
    scale = [item for item in of_type(Likert) if SCALE_TAG in item.tags]
    assert len(scale) == len(of_type(Likert)) >= 8
    reverse = [item for item in scale if item.key.reverse]
    assert len(reverse) == 3
    for item in scale:
        assert item.scale_points == 5, item.code
        assert len(item.scale_labels) == 5, item.code
        assert [label["en"] for label in item.scale_labels][::4] == ["Strongly disagree", "Strongly agree"]
        assert dimensions(item) <= {"AA", "HMC", "ES"}, item.code
    assert {dimension for item in scale for dimension in dimensions(item)} == {"AA", "HMC", "ES"}
    assert raw_keys("likert") == [{"reverse": item.key.reverse} for item in scale], (
        "write every key explicitly"
    )


def raw_keys(kind: str) -> list[dict]:
    return [raw["key"] for raw in raw_bank()["items"] if raw["type"] == kind]


def test_ordering_items():
    orderings = of_type(Ordering)
    assert len(orderings) >= 2
    for item in orderings:
        assert len(item.options) == 5, item.code
        assert item.key.credit == "pairwise", item.code
        assert item.key.order != option_keys(item), f"{item.code}: the options are listed in the right order"


def test_open_response_items():
    """Six rated performance tasks: the first two are the original prompt-writing and critique tasks."""
    tasks = {item.code: item for item in of_type(OpenResponse)}
    assert len(tasks) >= 6
    assert {item.task for item in tasks.values()} == {"write_prompt", "critique_output", "free_text"}
    assert loaded(tasks["CAL-OR-001"]) == ["HMC.2"] and tasks["CAL-OR-001"].task == "write_prompt"
    assert (
        set(loaded(tasks["CAL-OR-002"])) == {"HMC.3", "ES.2"}
        and tasks["CAL-OR-002"].task == "critique_output"
    )
    levels = len(framework().levels)
    for item in tasks.values():
        assert item.max_length == 2000, item.code
        assert item.points == 3, item.code
        assert item.scenario is not None, item.code
        assert item.key.rater_notes is not None, item.code
        assert 1 <= len(item.key.exemplars) <= levels, item.code
        for exemplar in item.key.exemplars:
            assert max(map(len, exemplar.values())) <= item.max_length, (
                f"{item.code}: exemplar over max_length"
            )


def test_no_real_names_of_products_or_companies():
    """Organisations are generic ('某县民政局', 'a county civil-affairs bureau'); spot-check a few real names."""
    text = json.dumps(raw_bank(), ensure_ascii=False)
    for real in (
        "腾讯",
        "阿里",
        "百度",
        "字节",
        "DeepSeek",
        "ChatGPT",
        "OpenAI",
        "文心",
        "通义",
        "豆包",
        "Kimi",
    ):
        assert real not in text, real
