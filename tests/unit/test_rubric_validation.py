"""service.rubrics.validation (and templates): every shipped template is valid; every kind of problem is
reported at once, each with a pointer that resolves into the document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import FieldError
from service.rubrics.model import (
    FrameworkContent,
    content_decoder,
    encode_content,
    walk_dimensions,
    walk_indicators,
)
from service.rubrics.templates import content_hash, load_templates
from service.rubrics.validation import validate, validate_template

TEMPLATES = load_templates()
ALL_VERSIONS = [(code, t.version) for code, versions in sorted(TEMPLATES.items()) for t in versions]
LATEST = {code: versions[-1].content for code, versions in TEMPLATES.items()}
BASE = LATEST[
    "unesco-ai-competency-teachers"
]  # 5 dimensions D1..D5 × 3 indicators, levels acquire/deepen/create


def template(code: str, version: str) -> FrameworkContent:
    return next(t.content for t in TEMPLATES[code] if t.version == version)


def edited(content: FrameworkContent, edit: Callable[[dict[str, Any]], None]) -> FrameworkContent:
    raw = msgspec.to_builtins(content)
    edit(raw)
    return msgspec.convert(raw, FrameworkContent, strict=True)


def resolve(document: Any, pointer: str) -> Any:
    """The value at a JSON pointer; KeyError/IndexError if there is none."""
    node = document
    for token in pointer.split("/")[1:] if pointer else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                raise IndexError(token)
            node = node[int(token)]
        else:
            raise KeyError(token)
    return node


def pointers(errors: list[FieldError]) -> list[str | None]:
    return [e.pointer for e in errors]


def _nest(raw: dict[str, Any]) -> None:
    """D1's indicators move into sub-dimensions D1a (D1.1, D1.2) and D1b (D1.3)."""
    d1 = raw["dimensions"][0]
    first, second, third = d1.pop("indicators")
    first["weight"] = second["weight"] = 0.5
    third["weight"] = 1.0
    d1["children"] = [
        {
            "code": "D1a",
            "name": {"zh-CN": "子维度 a", "en": "Sub a"},
            "weight": 0.5,
            "indicators": [first, second],
        },
        {"code": "D1b", "name": {"zh-CN": "子维度 b", "en": "Sub b"}, "weight": 0.5, "indicators": [third]},
    ]


NESTED = edited(BASE, _nest)
CUTS = [
    {"level": "acquire", "min_score": 0},
    {"level": "deepen", "min_score": 50},
    {"level": "create", "min_score": 80},
]


# --- the shipped templates --------------------------------------------------------------------------------


def test_the_templates_are_loaded():
    assert "unesco-ai-competency-teachers" in TEMPLATES
    for code, versions in TEMPLATES.items():
        assert versions and all(t.code == code == t.content.code for t in versions)


@pytest.mark.parametrize(("code", "version"), ALL_VERSIONS, ids=[f"{c}/{v}" for c, v in ALL_VERSIONS])
def test_every_template_is_valid(code: str, version: str):
    content = template(code, version)
    assert validate(content) == []
    assert validate_template(content) == []


@pytest.mark.parametrize(("code", "version"), ALL_VERSIONS, ids=[f"{c}/{v}" for c, v in ALL_VERSIONS])
def test_template_content_hash(code: str, version: str):
    stored = next(t for t in TEMPLATES[code] if t.version == version)
    assert stored.content_hash == content_hash(stored.content)
    assert stored.content_hash.startswith("sha256:") and len(stored.content_hash) == len("sha256:") + 64
    again = content_decoder.decode(encode_content(stored.content))
    assert content_hash(again) == stored.content_hash  # canonical: decoding and re-encoding keeps the hash
    changed = msgspec.structs.replace(stored.content, notes=[*stored.content.notes, "one more"])
    assert content_hash(changed) != stored.content_hash


def test_teacher_digital_literacy_shape():
    if "teacher-digital-literacy" not in LATEST:
        pytest.skip("teacher-digital-literacy is not shipped")
    content = LATEST["teacher-digital-literacy"]
    assert len(content.dimensions) == 5
    second = [child for dimension in content.dimensions for child in dimension.children]
    assert len(second) == 13
    assert all(not d.indicators for d in content.dimensions)  # top level holds sub-dimensions only
    third = [indicator for child in second for indicator in child.indicators]
    assert len(third) == 33
    assert len(list(walk_indicators(content))) == 33  # no indicators anywhere else
    assert all(not child.children for child in second)
    assert all(indicator.unconfirmed for indicator in third)


def test_unesco_shape():
    content = LATEST["unesco-ai-competency-teachers"]
    assert len(content.dimensions) == 5
    assert all(len(d.indicators) == 3 and not d.children for d in content.dimensions)
    assert [level.code for level in content.levels] == ["acquire", "deepen", "create"]


def test_cadre_ai_literacy_shape():
    if "cadre-ai-literacy" not in LATEST:
        pytest.skip("cadre-ai-literacy is not shipped")
    content = LATEST["cadre-ai-literacy"]
    tags = {tag for _, dimension in walk_dimensions(content.dimensions) for tag in dimension.tags}
    assert {"human_machine_collaboration", "ethics_safety"} <= tags
    assert len(content.levels) == 3


def test_the_edited_bases_are_valid():
    assert validate_template(BASE) == []
    assert validate_template(NESTED) == []
    assert validate(edited(BASE, lambda r: r["cut_scores"].update(dimensions={"D1": CUTS}))) == []


# --- each kind of problem ---------------------------------------------------------------------------------


def test_top_level_weights_that_do_not_sum():
    errors = validate(edited(BASE, lambda r: r["dimensions"][0].update(weight=0.5)))
    assert pointers(errors) == ["/dimensions"]
    assert "sum to 1.3" in errors[0].detail


def test_child_weights_that_do_not_sum():
    errors = validate(edited(NESTED, lambda r: r["dimensions"][0]["children"][1].update(weight=0.6)))
    assert pointers(errors) == ["/dimensions/0/children"]


def test_indicator_weights_that_do_not_sum():
    errors = validate(edited(BASE, lambda r: r["dimensions"][3]["indicators"][1].update(weight=0.0)))
    assert pointers(errors) == ["/dimensions/3/indicators"]
    errors = validate(
        edited(NESTED, lambda r: r["dimensions"][0]["children"][0]["indicators"][0].update(weight=0.4))
    )
    assert pointers(errors) == ["/dimensions/0/children/0/indicators"]


def test_weights_within_the_tolerance_pass():
    def thirds(raw: dict[str, Any]) -> None:
        for indicator in raw["dimensions"][0]["indicators"]:
            indicator["weight"] = 0.3333  # sums to 0.9999

    assert validate(edited(BASE, thirds)) == []
    assert pointers(validate(edited(BASE, lambda r: r["dimensions"][0].update(weight=0.202)))) == [
        "/dimensions"
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda r: r["dimensions"][1].update(code="D1"), "/dimensions/1/code"),  # dimension vs dimension
        (
            lambda r: r["dimensions"][1]["indicators"][0].update(code="D1.1"),
            "/dimensions/1/indicators/0/code",
        ),
        (
            lambda r: r["dimensions"][0]["indicators"][2].update(code="D1.1"),
            "/dimensions/0/indicators/2/code",
        ),
        (lambda r: r["dimensions"][2]["indicators"][0].update(code="D4"), "/dimensions/2/indicators/0/code"),
        (
            lambda r: r["dimensions"][2].update(code="D4.1"),
            "/dimensions/3/indicators/0/code",
        ),  # dimensions claim first
    ],
    ids=[
        "dimensions",
        "indicators-across",
        "indicators-within",
        "indicator-vs-dimension",
        "dimension-vs-indicator",
    ],
)
def test_duplicate_codes(edit: Callable[[dict[str, Any]], None], expected: str):
    content = edited(BASE, edit)
    errors = validate(content)
    assert pointers(errors) == [expected]
    assert "already used" in errors[0].detail
    code = resolve(msgspec.to_builtins(content), expected)
    assert f"'{code}'" in errors[0].detail


def test_duplicate_sub_dimension_code():
    errors = validate(edited(NESTED, lambda r: r["dimensions"][0]["children"][1].update(code="D1a")))
    assert pointers(errors) == ["/dimensions/0/children/1/code"]
    # depth first: D1's sub-dimensions come before D2, so the top-level D2 is the second use
    errors = validate(edited(NESTED, lambda r: r["dimensions"][0]["children"][1].update(code="D2")))
    assert pointers(errors) == ["/dimensions/1/code"]


def test_duplicate_level_codes():
    errors = validate(edited(BASE, lambda r: r["levels"][2].update(code="acquire")))
    assert "/levels/2/code" in pointers(errors)
    assert any("used twice" in e.detail for e in errors)
    assert "/cut_scores/overall" in pointers(errors)  # the cut scores no longer name the levels in order


def test_indicator_missing_a_descriptor():
    errors = validate(edited(BASE, lambda r: r["dimensions"][1]["indicators"][2]["descriptors"].pop(1)))
    assert pointers(errors) == ["/dimensions/1/indicators/2/descriptors"]
    assert "'D2.3'" in errors[0].detail and "'deepen'" in errors[0].detail


def test_indicator_without_descriptors_is_reported_at_an_existing_location():
    content = edited(BASE, lambda r: r["dimensions"][1]["indicators"][2].update(descriptors=[]))
    errors = validate(content)
    assert len(errors) == 3
    for pointer in pointers(errors):
        resolve(msgspec.to_builtins(content), pointer or "")


def test_descriptor_naming_an_unknown_level():
    errors = validate(
        edited(BASE, lambda r: r["dimensions"][0]["indicators"][0]["descriptors"][1].update(level="master"))
    )
    assert pointers(errors) == [
        "/dimensions/0/indicators/0/descriptors/1/level",
        "/dimensions/0/indicators/0/descriptors",
    ]
    assert "no level 'master'" in errors[0].detail
    assert "'deepen'" in errors[1].detail


def test_level_described_twice():
    errors = validate(
        edited(BASE, lambda r: r["dimensions"][0]["indicators"][0]["descriptors"][2].update(level="acquire"))
    )
    assert pointers(errors) == [
        "/dimensions/0/indicators/0/descriptors/2/level",
        "/dimensions/0/indicators/0/descriptors",
    ]
    assert "described twice" in errors[0].detail
    assert "'create'" in errors[1].detail


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0, 45, 40], ["/cut_scores/overall/2/min_score"]),
        ([0, 45, 45], ["/cut_scores/overall/2/min_score"]),  # equal is not rising
        ([0, 0, 75], ["/cut_scores/overall/1/min_score"]),
        ([0, 80, 75], ["/cut_scores/overall/2/min_score"]),
        ([0, 100, 50], ["/cut_scores/overall/2/min_score"]),
        ([10, 45, 75], ["/cut_scores/overall/0/min_score"]),
        (
            [50, 45, 40],
            [
                "/cut_scores/overall/0/min_score",
                "/cut_scores/overall/1/min_score",
                "/cut_scores/overall/2/min_score",
            ],
        ),
    ],
)
def test_cut_scores_must_start_at_0_and_rise(scores: list[float], expected: list[str]):
    def set_scores(raw: dict[str, Any]) -> None:
        for cut, score in zip(raw["cut_scores"]["overall"], scores, strict=True):
            cut["min_score"] = score

    assert pointers(validate(edited(BASE, set_scores))) == expected


@pytest.mark.parametrize(
    "levels",
    [
        ["deepen", "acquire", "create"],  # wrong order
        ["acquire", "deepen"],  # a level missing
        ["acquire", "deepen", "create", "create"],  # a level twice
        ["acquire", "deepen", "master"],  # an unknown level
    ],
)
def test_cut_scores_must_name_the_levels_in_order(levels: list[str]):
    def set_levels(raw: dict[str, Any]) -> None:
        raw["cut_scores"]["overall"] = [{"level": code, "min_score": 10 * i} for i, code in enumerate(levels)]

    errors = validate(edited(BASE, set_levels))
    assert pointers(errors) == ["/cut_scores/overall"]
    assert "acquire, deepen, create" in errors[0].detail


def test_per_dimension_cut_scores_are_checked_too():
    bad = [
        {"level": "acquire", "min_score": 5},
        {"level": "create", "min_score": 50},
        {"level": "deepen", "min_score": 40},
    ]
    errors = validate(edited(BASE, lambda r: r["cut_scores"].update(dimensions={"D2": bad})))
    assert pointers(errors) == [
        "/cut_scores/dimensions/D2",
        "/cut_scores/dimensions/D2/0/min_score",
        "/cut_scores/dimensions/D2/2/min_score",
    ]


def test_per_dimension_cut_scores_for_an_unknown_dimension():
    errors = validate(edited(BASE, lambda r: r["cut_scores"].update(dimensions={"D9": CUTS, "D1": CUTS})))
    assert pointers(errors) == ["/cut_scores/dimensions/D9"]
    assert "'D9'" in errors[0].detail
    # indicators take their top-level dimension's cut scores: they may not have their own
    errors = validate(edited(BASE, lambda r: r["cut_scores"].update(dimensions={"D1.1": CUTS})))
    assert pointers(errors) == ["/cut_scores/dimensions/D1.1"]
    assert "is an indicator" in errors[0].detail


def test_sub_dimensions_may_have_their_own_cut_scores():
    """Any dimension, at any depth, may carry cut scores (before: only top-level ones)."""
    assert validate(edited(NESTED, lambda r: r["cut_scores"].update(dimensions={"D1a": CUTS}))) == []
    assert (
        validate(
            edited(
                NESTED, lambda r: r["cut_scores"].update(dimensions={"D1": CUTS, "D1a": CUTS, "D1b": CUTS})
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ([0, 50, 50], ["/cut_scores/dimensions/D1b/2/min_score"]),  # equal is not rising
        ([5, 50, 80], ["/cut_scores/dimensions/D1b/0/min_score"]),  # the lowest level must start at 0
        ([0, 80, 50], ["/cut_scores/dimensions/D1b/2/min_score"]),  # falling
        ([0, 50], ["/cut_scores/dimensions/D1b"]),  # a level boundary missing
    ],
)
def test_sub_dimension_cut_scores_are_checked_like_the_others(bad: list[float], expected: list[str]):
    cuts = [
        {"level": level, "min_score": score}
        for level, score in zip(("acquire", "deepen", "create"), bad, strict=False)
    ]
    content = edited(NESTED, lambda r: r["cut_scores"].update(dimensions={"D1b": cuts}))
    errors = validate(content)
    assert pointers(errors) == expected
    raw = msgspec.to_builtins(content)
    for pointer in pointers(errors):
        resolve(raw, pointer)  # every pointer names a place in the document


def test_sub_dimension_cut_scores_out_of_range_are_refused_on_decoding():
    raw = msgspec.to_builtins(NESTED)
    raw["cut_scores"]["dimensions"] = {
        "D1a": [
            {"level": "acquire", "min_score": 0},
            {"level": "deepen", "min_score": 50},
            {"level": "create", "min_score": 101},
        ]
    }
    with pytest.raises(
        msgspec.ValidationError, match=r"<= 100.0 - at `\$.cut_scores.dimensions\[...\]\[2\].min_score`"
    ):
        content_decoder.decode(msgspec.json.encode(raw))


def test_empty_dimension():
    errors = validate(edited(BASE, lambda r: r["dimensions"][4].update(indicators=[])))
    assert pointers(errors) == ["/dimensions/4"]
    assert "'D5' is empty" in errors[0].detail
    errors = validate(edited(NESTED, lambda r: r["dimensions"][0]["children"][1].update(indicators=[])))
    assert pointers(errors) == ["/dimensions/0/children/1"]


def test_dimension_with_both_children_and_indicators():
    def both(raw: dict[str, Any]) -> None:
        raw["dimensions"][0]["indicators"] = [msgspec.to_builtins(BASE.dimensions[0].indicators[0])]
        raw["dimensions"][0]["indicators"][0].update(code="D1.9", weight=1.0)

    errors = validate(edited(NESTED, both))
    assert pointers(errors) == ["/dimensions/0"]
    assert "not both" in errors[0].detail


def test_fewer_than_two_levels():
    def one_level(raw: dict[str, Any]) -> None:
        raw["levels"] = raw["levels"][:1]
        raw["cut_scores"]["overall"] = raw["cut_scores"]["overall"][:1]
        for dimension in raw["dimensions"]:
            for indicator in dimension["indicators"]:
                indicator["descriptors"] = indicator["descriptors"][:1]

    assert pointers(validate(edited(BASE, one_level))) == ["/levels"]
    errors = validate(edited(BASE, lambda r: r.update(levels=[])))
    assert "/levels" in pointers(errors)
    assert "at least two" in errors[0].detail


def test_no_dimensions():
    errors = validate(edited(BASE, lambda r: r.update(dimensions=[])))
    assert pointers(errors) == ["/dimensions"]


def test_several_problems_are_all_reported():
    def many(raw: dict[str, Any]) -> None:
        raw["dimensions"][0]["weight"] = 0.9  # top-level weights
        raw["dimensions"][1]["indicators"][0]["weight"] = 0.9  # indicator weights
        raw["dimensions"][2]["indicators"][1]["code"] = "D1.1"  # duplicate code
        raw["dimensions"][3]["indicators"][0]["descriptors"].pop()  # missing descriptor
        raw["dimensions"][4]["indicators"][2]["descriptors"][0]["level"] = "nope"  # unknown level
        raw["cut_scores"]["overall"][2]["min_score"] = 10  # cut scores fall
        raw["cut_scores"]["dimensions"] = {"ZZ": CUTS}  # unknown dimension

    errors = validate(edited(BASE, many))
    assert sorted(pointers(errors)) == sorted(
        [
            "/dimensions",
            "/dimensions/1/indicators",
            "/dimensions/2/indicators/1/code",
            "/dimensions/3/indicators/0/descriptors",
            "/dimensions/4/indicators/2/descriptors/0/level",
            "/dimensions/4/indicators/2/descriptors",
            "/cut_scores/overall/2/min_score",
            "/cut_scores/dimensions/ZZ",
        ]
    )
    assert all(isinstance(e, FieldError) and e.detail for e in errors)


# --- validate_template ------------------------------------------------------------------------------------


def test_a_template_names_its_sources():
    content = msgspec.structs.replace(BASE, sources=[])
    assert validate(content) == []
    assert pointers(validate_template(content)) == ["/sources"]


@pytest.mark.parametrize(
    ("edit", "expected", "missing"),
    [
        (lambda r: r["title"].pop("en"), "/title", "en"),
        (lambda r: r["title"].pop("zh-CN"), "/title", "zh-CN"),
        (lambda r: r["levels"][1]["label"].pop("en"), "/levels/1/label", "en"),
        (lambda r: r["dimensions"][2]["name"].pop("zh-CN"), "/dimensions/2/name", "zh-CN"),
        (
            lambda r: r["dimensions"][2]["indicators"][1]["statement"].pop("en"),
            "/dimensions/2/indicators/1/statement",
            "en",
        ),
        (
            lambda r: r["dimensions"][0]["indicators"][0]["descriptors"][2]["performance"].pop("zh-CN"),
            "/dimensions/0/indicators/0/descriptors/2/performance",
            "zh-CN",
        ),
        (
            lambda r: r["dimensions"][0]["indicators"][0]["descriptors"][2].update(next_steps={"fr": "x"}),
            "/dimensions/0/indicators/0/descriptors/2/next_steps",
            "zh-CN, en",
        ),
        (lambda r: r.update(description={"en": "only English"}), "/description", "zh-CN"),
        (lambda r: r["levels"][0].update(description={"zh-CN": "只有中文"}), "/levels/0/description", "en"),
        (
            lambda r: r["dimensions"][1].update(description={"de": "x"}),
            "/dimensions/1/description",
            "zh-CN, en",
        ),
    ],
)
def test_a_template_speaks_zh_cn_and_en(edit: Callable[[dict[str, Any]], None], expected: str, missing: str):
    content = edited(BASE, edit)
    assert validate(content) == []  # a tenant's framework may speak one language
    errors = validate_template(content)
    assert pointers(errors) == [expected]
    assert errors[0].detail == f"missing {missing}"


def test_validate_template_includes_every_validate_problem():
    content = edited(
        msgspec.structs.replace(BASE, sources=[]), lambda r: r["dimensions"][0].update(weight=0.9)
    )
    assert validate_template(content)[:1] == validate(content)
    assert pointers(validate_template(content)) == ["/dimensions", "/sources"]


# --- property: validate never raises, and every pointer resolves -----------------------------------------


CODES = st.sampled_from(["A", "B", "C", "A.1", "A.2", "L1", "L2", "L3"])
WEIGHTS = st.sampled_from([0.0, 0.25, 0.5, 1.0]) | st.floats(0, 1)
TEXT = st.sampled_from([{"en": "x"}, {"zh-CN": "维"}, {"zh-CN": "维", "en": "x"}])
DESCRIPTOR = st.fixed_dictionaries({"level": CODES, "performance": TEXT}, optional={"next_steps": TEXT})
INDICATOR = st.fixed_dictionaries(
    {
        "code": CODES,
        "statement": TEXT,
        "weight": WEIGHTS,
        # at least one descriptor: the empty list has its own test above
        "descriptors": st.lists(DESCRIPTOR, min_size=1, max_size=4),
    }
)
CUT = st.fixed_dictionaries(
    {"level": CODES, "min_score": st.sampled_from([0, 10, 50, 100]) | st.floats(0, 100)}
)


def dimension(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "code": CODES,
            "name": TEXT,
            "weight": WEIGHTS,
            "children": st.lists(dimension(depth - 1), max_size=3) if depth else st.just([]),
            "indicators": st.lists(INDICATOR, max_size=3),
        }
    )


CONTENT = st.fixed_dictionaries(
    {
        "code": st.just("fw"),
        "title": TEXT,
        "levels": st.lists(st.fixed_dictionaries({"code": CODES, "label": TEXT}), max_size=4),
        "dimensions": st.lists(dimension(2), max_size=3),
        "cut_scores": st.fixed_dictionaries(
            {
                "overall": st.lists(CUT, max_size=4),
                "dimensions": st.dictionaries(CODES, st.lists(CUT, max_size=4), max_size=3),
            }
        ),
    },
    optional={"sources": st.just([{"title": "t", "issuer": "i", "date": "2024"}])},
).map(lambda raw: msgspec.convert(raw, FrameworkContent, strict=True))


@settings(max_examples=300, deadline=None)
@given(CONTENT)
def test_validate_never_raises_and_every_pointer_resolves(content: FrameworkContent):
    document = msgspec.to_builtins(content)
    errors = validate(content)
    assert validate(content) == errors  # deterministic
    for error in errors:
        assert isinstance(error, FieldError) and error.detail
        assert error.pointer is not None and error.pointer.startswith("/")
        try:
            resolve(document, error.pointer)
        except (KeyError, IndexError):
            assert error.pointer.startswith("/cut_scores/dimensions/") and error.pointer.count("/") == 3
            assert error.detail.startswith("no top-level dimension"), error
    assert validate_template(content)[: len(errors)] == errors


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(LATEST)), st.data())
def test_any_single_weight_change_is_reported_at_its_siblings(code: str, data: st.DataObject):
    content = LATEST[code]
    document = msgspec.to_builtins(content)
    weighted = [pointer for pointer, _ in walk_dimensions(content.dimensions)] + [
        pointer for pointer, _, _ in walk_indicators(content)
    ]
    pointer = data.draw(st.sampled_from(weighted))
    old = resolve(document, pointer)["weight"]
    new = data.draw(st.floats(0, 1).filter(lambda w: abs(w - old) > 0.002))
    resolve(document, pointer)["weight"] = new
    errors = validate(msgspec.convert(document, FrameworkContent, strict=True))
    assert pointers(errors) == [pointer.rsplit("/", 1)[0]]
