"""service.rubrics.localize: Accept-Language parsing, picking a language, rendering one-language documents."""

from __future__ import annotations

import copy

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.rubrics.localize import choose, content_language, preferences, render
from service.rubrics.templates import load_templates

TEMPLATES = {code: versions[-1].content for code, versions in load_templates().items()}


# --- preferences ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr;q=0.5, zh-CN, en;q=0.8", ["zh-CN", "en", "fr"]),
        ("zh-CN", ["zh-CN"]),
        ("en, zh-CN", ["en", "zh-CN"]),  # equal quality keeps the header's order
        ("a;q=1.0,b;q=1,c", ["a", "b", "c"]),
        ("de;q=0.5, fr;q=0.9, it;q=0.7", ["fr", "it", "de"]),
        (" en-GB ; q=0.9 ,fr", ["fr", "en-GB"]),  # whitespace around tags and parameters
        ("de;q=0.5;foo=bar, *;q=0.1", ["de", "*"]),  # other parameters are ignored; "*" is kept
        ("en;q=0, fr", ["fr"]),  # q=0 means "not acceptable"
        ("en;q=0.0, de;q=0.000", []),
    ],
)
def test_preferences_orders_by_quality_then_position(header: str, expected: list[str]):
    assert preferences(header) == expected


@pytest.mark.parametrize("header", [None, "", " ", ",", ",,;;,", ";q=0.5", "  ,  ; ,"])
def test_preferences_of_nothing_is_empty(header: str | None):
    assert preferences(header) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en;q=abc, de", ["de"]),  # an unreadable quality counts as 0
        ("en;q=, de", ["de"]),
        ("en;q=nan, de", ["de"]),
        ("en;;q=0.5;, de", ["de", "en"]),
    ],
)
def test_preferences_tolerates_garbage(header: str, expected: list[str]):
    assert preferences(header) == expected


def test_garbage_tags_do_no_harm():
    assert choose({"zh-CN", "en"}, preferences("=, ;q=1, en")) == "en"
    assert choose({"zh-CN", "en"}, preferences("\x00;q=0.9;q=;=;,,")) == "zh-CN"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_preferences_never_raises_and_returns_clean_tags(header: str):
    ranked = preferences(header)
    assert all(
        isinstance(tag, str) and tag and tag == tag.strip() and "," not in tag and ";" not in tag
        for tag in ranked
    )


# --- choose -----------------------------------------------------------------------------------------------


BOTH = {"zh-CN", "en"}


@pytest.mark.parametrize(
    ("available", "wanted", "expected"),
    [
        (BOTH, ["en"], "en"),
        (BOTH, ["zh-CN"], "zh-CN"),
        (BOTH, ["fr", "en"], "en"),  # the first wanted language that is available
        (BOTH, ["EN"], "en"),  # case-insensitive
        (BOTH, ["zh-cn"], "zh-CN"),  # ... and the available spelling is returned
        ({"zh-CN", "en"}, ["zh"], "zh-CN"),  # same primary subtag
        ({"zh-CN", "en"}, ["zh-TW"], "zh-CN"),
        ({"zh-CN", "en"}, ["en-GB"], "en"),
        ({"zh-CN", "en"}, ["EN-gb"], "en"),
        ({"zh-CN", "en-US"}, ["en"], "en-US"),
        ({"zh-CN", "en"}, ["fr", "en-GB", "zh"], "en"),  # earlier wanted tags win, even by primary subtag
        ({"en", "fr"}, ["*"], "en"),  # "*": any, so the fallback order decides
        ({"en", "zh-CN"}, ["*"], "zh-CN"),
        ({"en", "zh-CN"}, ["fr", "*", "en"], "zh-CN"),  # "*" ends the search
        ({"en", "zh-CN"}, [], "zh-CN"),  # fallback: zh-CN first
        ({"en", "zh-CN"}, ["fr"], "zh-CN"),
        ({"en", "fr"}, ["de"], "en"),  # then en
        ({"fr", "de"}, ["ja"], "de"),  # then the first (sorted, so deterministic)
        ({"fr"}, [], "fr"),
    ],
)
def test_choose(available: set[str], wanted: list[str], expected: str):
    assert choose(available, wanted) == expected
    assert choose(sorted(available), wanted) == expected  # a list works as well as a set


@settings(max_examples=200, deadline=None)
@given(
    available=st.sets(
        st.sampled_from(["zh-CN", "en", "en-GB", "fr", "de", "ZH-cn", "pt-BR", "zh-TW"]), min_size=1
    ),
    wanted=st.lists(st.sampled_from(["zh", "zh-CN", "en", "en-US", "fr", "*", "ja", "EN", "pt"]), max_size=4),
)
def test_choose_always_returns_an_available_language(available: set[str], wanted: list[str]):
    assert choose(available, wanted) in available


# --- render -----------------------------------------------------------------------------------------------


def test_render_replaces_localized_texts_and_leaves_the_rest():
    document = {
        "code": "fw",
        "title": {"zh-CN": "标题", "en": "Title"},
        "sources": [{"title": "A plain title", "issuer": "UNESCO", "date": "2024"}],
        "levels": [
            {
                "code": "L1",
                "label": {"zh-CN": "起步", "en": "Starting"},
                "description": {"zh-CN": "描述", "en": "Description"},
            }
        ],
        "dimensions": [
            {
                "code": "D1",
                "name": {"zh-CN": "维度", "en": "Dimension"},
                "weight": 1,
                "tags": ["knowledge"],
                "indicators": [
                    {
                        "code": "D1.1",
                        "statement": {"zh-CN": "陈述", "en": "Statement"},
                        "weight": 1,
                        "descriptors": [
                            {
                                "level": "L1",
                                "performance": {"zh-CN": "表现", "en": "Does"},
                                "next_steps": {"zh-CN": "下一步", "en": "Next"},
                            }
                        ],
                    }
                ],
            }
        ],
        "cut_scores": {
            "overall": [{"level": "L1", "min_score": 0}],
            "dimensions": {"D1": [{"level": "L1", "min_score": 0}]},
        },
        "notes": ["a note"],
    }
    before = copy.deepcopy(document)
    english = render(document, ["en"])
    assert document == before, "render must not modify its input"
    assert english == {
        "code": "fw",
        "title": "Title",
        "sources": [{"title": "A plain title", "issuer": "UNESCO", "date": "2024"}],
        "levels": [{"code": "L1", "label": "Starting", "description": "Description"}],
        "dimensions": [
            {
                "code": "D1",
                "name": "Dimension",
                "weight": 1,
                "tags": ["knowledge"],
                "indicators": [
                    {
                        "code": "D1.1",
                        "statement": "Statement",
                        "weight": 1,
                        "descriptors": [{"level": "L1", "performance": "Does", "next_steps": "Next"}],
                    }
                ],
            }
        ],
        "cut_scores": {
            "overall": [{"level": "L1", "min_score": 0}],
            "dimensions": {"D1": [{"level": "L1", "min_score": 0}]},
        },
        "notes": ["a note"],
    }
    assert render(document, [])["title"] == "标题"  # fallback zh-CN
    assert render(document, ["fr"])["dimensions"][0]["name"] == "维度"


def test_render_leaves_dicts_that_are_not_localized_texts_alone():
    # A localized key holding something other than {language: string} is recursed into, not collapsed.
    document = {
        "title": {"en": {"nested": "x"}},
        "name": {},
        "description": {"en": "x", "zh-CN": 3},
        "cut_scores": {"dimensions": {"en": [{"level": "L1", "min_score": 0}]}},
        "other": {"zh-CN": "不是本地化字段", "en": "not a localized field"},
    }
    assert render(document, ["en"]) == document


@pytest.mark.parametrize("code", sorted(TEMPLATES))
@pytest.mark.parametrize("wanted", [["en"], ["zh-CN"], ["fr"], []], ids=lambda w: ",".join(w) or "none")
def test_render_templates(code: str, wanted: list[str]):
    content = TEMPLATES[code]
    document = msgspec.to_builtins(content)
    rendered = render(document, wanted)
    language = "en" if wanted == ["en"] else "zh-CN"
    assert rendered["title"] == content.title[language]
    assert [s["title"] for s in rendered["sources"]] == [s.title for s in content.sources]
    assert [lv["label"] for lv in rendered["levels"]] == [lv.label[language] for lv in content.levels]
    assert rendered["cut_scores"] == document["cut_scores"]  # numbers and per-dimension lists untouched
    assert content_language(document, wanted) == language

    def no_localized_dicts(node):  # every localized text became a string
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("title", "name", "label", "statement", "performance", "next_steps", "description"):
                    assert isinstance(value, str), key
                no_localized_dicts(value)
        elif isinstance(node, list):
            for item in node:
                no_localized_dicts(item)

    no_localized_dicts({k: v for k, v in rendered.items() if k != "cut_scores"})


def test_content_language():
    assert content_language({"title": {"en": "x", "zh-CN": "y"}}, ["en-US"]) == "en"
    assert content_language({"title": {"en": "x"}}, []) == "en"
    assert content_language({"title": "plain"}, ["en"]) == "zh-CN"
    assert content_language({}, ["en"]) == "zh-CN"
    assert content_language([], ["en"]) == "zh-CN"
