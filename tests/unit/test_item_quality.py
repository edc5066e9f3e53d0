"""Bank quality checks (service.items.quality): they pass on every shipped bank and catch each
defect of a deliberately broken fixture bank built from the shipped cadre items."""

from __future__ import annotations

import msgspec
import pytest

from service.items.model import (
    Item,
    Likert,
    LikertKey,
    OpenResponse,
    OpenResponseKey,
    Option,
    OptionCredit,
    SingleChoice,
    SituationalJudgement,
    SituationalJudgementKey,
)
from service.items.quality import bank_problems, indicator_counts
from service.items.samples import ITEMS_DIR, sample_bank
from service.items.validation import indicator_codes
from service.rubrics.model import FrameworkContent
from service.rubrics.templates import load_templates

BANKS = sorted(path.parent.name for path in ITEMS_DIR.glob("*/items.json"))


def template(code: str, version: str) -> FrameworkContent:
    return next(t.content for t in load_templates()[code] if t.version == version)


def shipped(code: str) -> tuple[list[Item], FrameworkContent]:
    bank = sample_bank(code)
    raw = msgspec.json.decode((ITEMS_DIR / code / "items.json").read_bytes())
    return list(bank.items), template(code, raw["template_version"])


@pytest.mark.parametrize("code", BANKS)
def test_shipped_bank_passes_every_quality_check(code: str):
    items, framework = shipped(code)
    assert bank_problems(items, framework) == []


@pytest.mark.parametrize("code", BANKS)
def test_shipped_bank_covers_every_indicator_twice(code: str):
    items, framework = shipped(code)
    counts = indicator_counts(items)
    assert min(counts[indicator] for indicator in indicator_codes(framework)) >= 2


def checks(items: list[Item], framework: FrameworkContent) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in bank_problems(items, framework):
        found.setdefault(problem.check, []).append(problem.message if problem.item is None else problem.item)
    return found


@pytest.fixture(scope="module")
def cadre() -> tuple[list[Item], FrameworkContent]:
    return shipped("cadre-ai-literacy")


def test_a_duplicate_stem_is_found(cadre):
    items, framework = cadre
    original = next(item for item in items if item.code == "CAL-AK-001")
    copy = msgspec.structs.replace(
        original,
        code="CAL-AK-901",
        stem={lang: text.replace("两次", "两遍") for lang, text in original.stem.items()},
    )
    assert checks([*items, copy], framework) == {"near_duplicate": ["CAL-AK-901", "CAL-AK-901"]}


def test_an_uncovered_indicator_is_found(cadre):
    items, framework = cadre
    without = [item for item in items if "AK.4" not in {loading.indicator for loading in item.loadings}]
    found = checks(without, framework)
    assert list(found) == ["coverage"] and "'AK.4' is measured by 0 item(s)" in found["coverage"][0]


def test_a_longest_option_key_pattern_is_found(cadre):
    items, framework = cadre

    # the fixture's pattern: every single-choice key made strictly the longest option, by repeating it
    longest = [
        msgspec.structs.replace(
            item,
            options=[
                Option(o.key, {lang: text * 3 for lang, text in o.text.items()})
                if o.key == item.key.correct
                else o
                for o in item.options
            ],
        )
        if isinstance(item, SingleChoice)
        else item
        for item in items
    ]
    found = checks(longest, framework)
    assert list(found) == ["longest_key"], found
    count = sum(isinstance(item, SingleChoice) for item in items)
    assert all(message.startswith(f"{count} of {count} single_choice") for message in found["longest_key"])


def test_a_scale_without_reverse_keyed_statements_is_found(cadre):
    items, framework = cadre
    forward = [
        msgspec.structs.replace(item, key=LikertKey(reverse=False)) if isinstance(item, Likert) else item
        for item in items
    ]
    found = checks(forward, framework)
    assert list(found) == ["likert_reverse"]
    assert found["likert_reverse"][0].startswith("scale:ai-use-self-report: 0 of")


def test_open_response_without_rater_notes_is_found(cadre):
    items, framework = cadre
    bare = [
        msgspec.structs.replace(item, key=OpenResponseKey(exemplars=item.key.exemplars))
        if isinstance(item, OpenResponse)
        else item
        for item in items
    ]
    assert checks(bare, framework) == {"rater_notes": [i.code for i in items if isinstance(i, OpenResponse)]}


def test_missing_or_truncated_translation_is_found(cadre):
    items, framework = cadre
    first, second, *rest = items
    no_english = msgspec.structs.replace(first, stem={"zh-CN": first.stem["zh-CN"]})
    truncated = msgspec.structs.replace(second, stem={"zh-CN": second.stem["zh-CN"], "en": "Which?"})
    found = checks([no_english, truncated, *rest], framework)
    assert found == {"languages": [first.code, second.code]}


def test_an_sjt_option_unkeyed_on_a_loaded_indicator_is_found(cadre):
    items, framework = cadre
    sjt = next(item for item in items if isinstance(item, SituationalJudgement) and len(item.loadings) == 2)
    first = sjt.key.options[0]
    dropped = OptionCredit(first.option, dict(list(first.credit.items())[:1]))
    broken = msgspec.structs.replace(sjt, key=SituationalJudgementKey([dropped, *sjt.key.options[1:]]))
    found = checks([broken if item is sjt else item for item in items], framework)
    assert set(found) == {"validates", "sjt_keying"} and found["sjt_keying"] == [sjt.code]


def test_the_broken_fixture_bank_fails_with_all_three_defects_at_once(cadre):
    """The issue's fixture: a duplicated stem, an uncovered indicator and keys that are always the longest."""
    items, framework = cadre
    broken = [item for item in items if "AK.4" not in {loading.indicator for loading in item.loadings}]
    broken = [
        msgspec.structs.replace(
            item,
            options=[
                Option(o.key, {lang: text * 3 for lang, text in o.text.items()})
                if o.key == item.key.correct
                else o
                for o in item.options
            ],
        )
        if isinstance(item, SingleChoice)
        else item
        for item in broken
    ]
    broken.append(msgspec.structs.replace(broken[0], code="CAL-COPY-1"))
    found = {problem.check for problem in bank_problems(broken, framework)}
    assert found == {"coverage", "near_duplicate", "longest_key"}
    assert bank_problems(items, framework) == []
