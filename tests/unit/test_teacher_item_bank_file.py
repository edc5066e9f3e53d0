"""The teacher item bank rubrics/items/teacher-digital-literacy/items.json: strict decoding, the promised
composition (two items per indicator, 40 % situational judgement in school work, reverse-keyed
self-report, ordering, six rated performance tasks with an exemplar per level), in both languages.
The bank-wide quality checks run on it in tests/unit/test_item_quality.py."""

from __future__ import annotations

import json
from collections import Counter
from functools import cache

from service.items.model import (
    Item,
    Likert,
    OpenResponse,
    Ordering,
    SituationalJudgement,
    encode_item,
    item_decoder,
    item_type,
    option_keys,
)
from service.items.quality import indicator_counts, keyed_options
from service.items.validation import indicator_codes
from service.rubrics.model import FrameworkContent
from service.rubrics.templates import TEMPLATES_DIR, load_templates

FRAMEWORK = "teacher-digital-literacy"
BANK = TEMPLATES_DIR.parent / "items" / FRAMEWORK / "items.json"


@cache
def raw_bank() -> dict:
    return json.loads(BANK.read_text(encoding="utf-8"))


@cache
def framework() -> FrameworkContent:
    return next(t.content for t in load_templates()[FRAMEWORK] if t.version == raw_bank()["template_version"])


@cache
def items() -> tuple[Item, ...]:
    return tuple(item_decoder.decode(json.dumps(raw).encode()) for raw in raw_bank()["items"])


def of_type(cls: type) -> list:
    return [item for item in items() if isinstance(item, cls)]


def test_file_names_the_framework_and_a_shipped_template_version():
    assert set(raw_bank()) == {"framework", "template_version", "items"}
    assert raw_bank()["framework"] == framework().code == FRAMEWORK


def test_every_item_decodes_strictly_and_round_trips():
    for item in items():
        assert item_decoder.decode(encode_item(item)) == item, item.code
        assert item.framework == FRAMEWORK and item.code.startswith("TDL-"), item.code
        assert item.tags, item.code
    codes = [item.code for item in items()]
    assert len(codes) == len(set(codes))


def test_composition():
    counts = Counter(item_type(item) for item in items())
    assert len(items()) >= 66
    assert counts["situational_judgement"] / len(items()) >= 0.4, counts
    assert counts["open_response"] >= 6 and counts["ordering"] >= 3 and counts["likert"] >= 8, counts
    assert counts["single_choice"] + counts["multiple_choice"] >= 16, counts


def test_every_third_level_indicator_has_two_items():
    counts = indicator_counts(items())
    assert len(indicator_codes(framework())) == 33
    assert {code: counts[code] for code in indicator_codes(framework()) if counts[code] < 2} == {}


def test_sjts_are_set_in_school_work_with_one_best_response():
    themes = {tag for item in of_type(SituationalJudgement) for tag in item.tags}
    # the four scenes: a lesson prepared with a model, a parent's data request, an unfair AI mark,
    # a tool for a class with special needs
    assert {"lesson-preparation", "parents", "ai-marking", "special-needs"} <= themes
    for item in of_type(SituationalJudgement):
        assert item.scenario is not None and option_keys(item) == ["a", "b", "c", "d"], item.code
        if item.format != "rate":
            assert len(keyed_options(item)) == 1, item.code
        if len(item.loadings) == 2:
            first, second = (loading.indicator for loading in item.loadings)
            assert any(
                abs(e.credit[first] - e.credit[second]) >= 0.25 or e.credit[first] == 1
                for e in item.key.options
            ), item.code


def test_self_report_scale_has_reverse_keyed_statements():
    scale = of_type(Likert)
    assert 2 <= sum(item.key.reverse for item in scale) < len(scale)
    assert all(len(item.scale_labels) == item.scale_points == 5 for item in scale)


def test_ordering_items_are_not_listed_in_order():
    assert any("worksheet" in item.tags for item in of_type(Ordering))
    for item in of_type(Ordering):
        assert item.key.order != option_keys(item), item.code


def test_performance_tasks_have_rater_notes_and_an_exemplar_per_level():
    tasks = of_type(OpenResponse)
    assert {item.task for item in tasks} == {"write_prompt", "critique_output", "free_text"}
    levels = [level.code for level in framework().levels]
    for item in tasks:
        assert item.key.rater_notes is not None, item.code
        assert len(item.key.exemplars) == len(levels), item.code
        for level, exemplar in zip(levels, item.key.exemplars, strict=False):
            assert exemplar["en"].startswith(f"[{level} ") and exemplar["zh-CN"].startswith(f"【{level} "), (
                item.code
            )
            assert max(map(len, exemplar.values())) <= item.max_length, item.code
