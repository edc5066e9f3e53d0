"""service.rubrics.case: CASE 1.1 CFPackage export and import."""

from __future__ import annotations

import contextlib
import copy
import json
import random
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.errors import Unprocessable
from service.rubrics.case import export_case, import_case
from service.rubrics.model import FrameworkContent, walk_dimensions, walk_indicators
from service.rubrics.templates import content_hash, load_templates
from service.rubrics.validation import validate

TEMPLATES = load_templates()
ALL_VERSIONS = [(code, t.version) for code, versions in sorted(TEMPLATES.items()) for t in versions]
LATEST = {code: versions[-1].content for code, versions in TEMPLATES.items()}
BASE = LATEST["unesco-ai-competency-teachers"]  # D1..D5 × 3 indicators, levels acquire/deepen/create
LAST_CHANGE = "2025-03-01T08:00:00+00:00"


def template(code: str, version: str) -> FrameworkContent:
    return next(t.content for t in TEMPLATES[code] if t.version == version)


def export(content: FrameworkContent, seed: str = "framework-1:1") -> dict[str, Any]:
    """The package as another system receives it: through JSON."""
    return json.loads(json.dumps(export_case(content, seed=seed, last_change=LAST_CHANGE, creator="Assess")))


def strip_extensions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_extensions(v) for k, v in node.items() if k != "extensions"}
    if isinstance(node, list):
        return [strip_extensions(v) for v in node]
    return node


def problems(package: Any) -> list[str | None]:
    """import_case must refuse the package; the pointers of its problems."""
    with pytest.raises(Unprocessable) as caught:
        import_case(package)
    assert caught.value.status == 422
    assert caught.value.errors
    return [e.pointer for e in caught.value.errors]


def item_index(package: dict[str, Any], code: str) -> int:
    return next(i for i, item in enumerate(package["CFItems"]) if item["humanCodingScheme"] == code)


def item_id(package: dict[str, Any], code: str) -> str:
    return package["CFItems"][item_index(package, code)]["identifier"]


def association_index(package: dict[str, Any], code: str) -> int:
    identifier = item_id(package, code)
    return next(
        i for i, a in enumerate(package["CFAssociations"]) if a["originNodeURI"]["identifier"] == identifier
    )


def link(package: dict[str, Any], code: str) -> dict[str, str]:
    identifier = item_id(package, code)
    return {"identifier": identifier, "uri": f"urn:uuid:{identifier}", "title": code}


def is_child_of(package: dict[str, Any], child: str, parent: str, sequence: int = 99) -> dict[str, Any]:
    return {
        "identifier": f"extra-{child}-{parent}",
        "uri": f"urn:x:{child}-{parent}",
        "associationType": "isChildOf",
        "originNodeURI": link(package, child),
        "destinationNodeURI": link(package, parent),
        "lastChangeDateTime": LAST_CHANGE,
        "sequenceNumber": sequence,
    }


# --- export -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "version"), ALL_VERSIONS, ids=[f"{c}/{v}" for c, v in ALL_VERSIONS])
def test_export_then_import_through_json_gives_back_the_same_framework(code: str, version: str):
    content = template(code, version)
    back = import_case(export(content))
    assert back == content
    assert content_hash(back) == content_hash(content)


@pytest.mark.parametrize("code", sorted(LATEST))
def test_export_is_deterministic_for_a_seed(code: str):
    content = LATEST[code]
    assert export(content, "a") == export(content, "a")
    other = export(content, "b")
    assert {i["identifier"] for i in other["CFItems"]}.isdisjoint(
        {i["identifier"] for i in export(content)["CFItems"]}
    )
    assert import_case(other) == content


def _identifiers(node: Any) -> list[str]:
    """The identifiers of the package's own nodes (links to other nodes are not counted)."""
    found = []
    if isinstance(node, dict):
        if "identifier" in node and "lastChangeDateTime" in node:
            found.append(node["identifier"])
            assert node["uri"] == f"urn:uuid:{node['identifier']}"
            assert node["lastChangeDateTime"] == LAST_CHANGE
        for key, value in node.items():
            if key != "extensions":
                found += _identifiers(value)
    elif isinstance(node, list):
        for value in node:
            found += _identifiers(value)
    return found


@pytest.mark.parametrize("code", sorted(LATEST))
def test_export_is_a_case_1_1_package(code: str):
    content = LATEST[code]
    package = export_case(
        content, seed="s", last_change=LAST_CHANGE, creator="Assess", version="3", adoption_status="Adopted"
    )
    assert set(package) == {"CFDocument", "CFItems", "CFAssociations", "CFRubrics"}
    document = package["CFDocument"]
    language = document["language"]
    assert language == "zh-CN"
    assert (
        document["caseVersion"],
        document["creator"],
        document["version"],
        document["adoptionStatus"],
    ) == ("1.1", "Assess", "3", "Adopted")
    assert document["title"] == content.title[language]
    assert document["humanCodingScheme"] == content.code
    identifiers = _identifiers(package)
    assert len(identifiers) == len(set(identifiers)), "identifiers must be unique"

    items = {item["humanCodingScheme"]: item for item in package["CFItems"]}
    dimensions = {d.code: d for _, d in walk_dimensions(content.dimensions)}
    indicators = {i.code: i for _, _, i in walk_indicators(content)}
    assert len(items) == len(package["CFItems"]) == len(dimensions) + len(indicators)
    assert set(items) == set(dimensions) | set(indicators)

    # the expected place of every item: parent identifier, sequence number
    expected: dict[str, tuple[str, int]] = {}

    def place(dims: list, parent: str) -> None:  # type: ignore[type-arg]
        for i, dimension in enumerate(dims):
            expected[dimension.code] = (parent, i + 1)
            place(dimension.children, items[dimension.code]["identifier"])
            for j, indicator in enumerate(dimension.indicators):
                expected[indicator.code] = (items[dimension.code]["identifier"], j + 1)

    place(content.dimensions, document["identifier"])
    top = {d.code for d in content.dimensions}
    child_of = [a for a in package["CFAssociations"] if a["associationType"] == "isChildOf"]
    for code_, item in items.items():
        assert item["CFItemType"] == (
            "Indicator" if code_ in indicators else "Dimension" if code_ in top else "Sub-dimension"
        )
        assert item["CFDocumentURI"]["identifier"] == document["identifier"]
        text = indicators[code_].statement if code_ in indicators else dimensions[code_].name
        assert item["fullStatement"] == text[language]
        mine = [a for a in child_of if a["originNodeURI"]["identifier"] == item["identifier"]]
        assert len(mine) == 1, f"{code_} must be attached by exactly one isChildOf"
        assert isinstance(mine[0]["sequenceNumber"], int)
        assert (mine[0]["destinationNodeURI"]["identifier"], mine[0]["sequenceNumber"]) == expected[code_]
    assert len(child_of) == len(items)

    [rubric] = package["CFRubrics"]
    criteria = rubric["CFRubricCriteria"]
    assert len(criteria) == len(indicators)
    ranks = {level.code: rank for rank, level in enumerate(content.levels)}
    for code_, indicator in indicators.items():
        mine = [c for c in criteria if c["CFItemURI"]["identifier"] == items[code_]["identifier"]]
        assert len(mine) == 1, f"{code_} must have exactly one criterion"
        criterion = mine[0]
        assert criterion["weight"] == indicator.weight
        levels = criterion["CFRubricCriterionLevels"]
        assert len(levels) == len(content.levels)
        assert len({lvl["score"] for lvl in levels}) == len(levels), "scores must be distinct"
        assert all(lvl["rubricCriterionId"] == criterion["identifier"] for lvl in levels)
        for descriptor in indicator.descriptors:
            rank = ranks[descriptor.level]
            [lvl] = [lvl for lvl in levels if lvl["score"] == rank + 1]
            assert lvl["quality"] == content.levels[rank].label[language]
            assert lvl["description"] == descriptor.performance[language]
            if descriptor.next_steps:
                assert lvl["feedback"] == descriptor.next_steps[language]
            else:
                assert "feedback" not in lvl


def test_export_speaks_the_first_language_when_there_is_no_zh_cn():
    content = msgspec.structs.replace(BASE, title={"en": "AI competency"})
    package = export(content)
    assert package["CFDocument"]["language"] == "en"
    assert package["CFItems"][0]["fullStatement"] == BASE.dimensions[0].name["en"]
    assert import_case(package) == content


def test_descriptor_order_round_trips():
    raw = msgspec.to_builtins(BASE)
    raw["dimensions"][0]["indicators"][0]["descriptors"].reverse()
    content = msgspec.convert(raw, FrameworkContent, strict=True)
    assert validate(content) == []
    assert import_case(export(content)) == content


def test_import_code_overrides_the_package_code():
    assert import_case(export(BASE), code="mine") == msgspec.structs.replace(BASE, code="mine")


def test_list_order_does_not_matter_sequence_numbers_do():
    package = export(BASE)
    shuffle = random.Random(7).shuffle
    for key in ("CFItems", "CFAssociations"):
        shuffle(package[key])
    shuffle(package["CFRubrics"][0]["CFRubricCriteria"])
    assert import_case(package) == BASE


def test_other_association_types_are_ignored():
    package = export(BASE)
    extra = is_child_of(package, "D1.1", "D2.1")
    extra["associationType"] = "isRelatedTo"
    package["CFAssociations"].append(extra)
    assert import_case(package) == BASE


# --- foreign packages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(LATEST))
def test_a_foreign_package_without_extensions_still_imports(code: str):
    content = LATEST[code]
    package = strip_extensions(export(content))
    shuffle = random.Random(3).shuffle
    shuffle(package["CFItems"])
    shuffle(package["CFAssociations"])
    imported = import_case(package)
    language = "zh-CN"

    assert imported.code == content.code  # from humanCodingScheme
    assert imported.title == {language: content.title[language]}

    def shape(dimensions: list) -> list:  # type: ignore[type-arg]
        return [(d.code, shape(d.children), [i.code for i in d.indicators]) for d in dimensions]

    assert shape(imported.dimensions) == shape(content.dimensions)  # structure, codes and order
    # levels become L1..Ln by score, labelled with the quality
    assert [level.code for level in imported.levels] == [f"L{i + 1}" for i in range(len(content.levels))]
    assert [level.label for level in imported.levels] == [
        {language: lv.label[language]} for lv in content.levels
    ]
    renamed = {level.code: f"L{i + 1}" for i, level in enumerate(content.levels)}
    for (_, _, old), (_, _, new) in zip(walk_indicators(content), walk_indicators(imported), strict=True):
        assert new.weight == old.weight
        assert new.statement == {language: old.statement[language]}
        assert new.unconfirmed is False  # only the extension carries it
        expected = sorted(
            (
                (
                    renamed[d.level],
                    {language: d.performance[language]},
                    {language: d.next_steps[language]} if d.next_steps else None,
                )
                for d in old.descriptors
            ),
            key=lambda t: t[0],
        )
        assert [(d.level, d.performance, d.next_steps) for d in new.descriptors] == expected
    # dimension weights are not in CASE: siblings share equally
    for _, dimension in walk_dimensions(imported.dimensions):
        for child in dimension.children:
            assert child.weight == pytest.approx(1 / len(dimension.children))
    assert imported.cut_scores.overall[0].min_score == 0
    assert [c.level for c in imported.cut_scores.overall] == [lv.code for lv in imported.levels]
    assert validate(imported) == []  # a usable draft


def test_foreign_levels_are_by_score_even_when_quality_texts_differ():
    package = strip_extensions(export(BASE))
    for criterion in package["CFRubrics"][0]["CFRubricCriteria"]:
        for level in criterion["CFRubricCriterionLevels"]:
            level["quality"] = f"{level['quality']} ({criterion['CFItemURI']['title']})"
    imported = import_case(package)
    assert [level.code for level in imported.levels] == ["L1", "L2", "L3"]
    assert validate(imported) == []


def test_foreign_criterion_levels_need_a_score_and_a_description():
    package = strip_extensions(export(BASE))
    del package["CFRubrics"][0]["CFRubricCriteria"][2]["CFRubricCriterionLevels"][1]["description"]
    assert problems(package) == ["/CFRubrics/0/CFRubricCriteria/2/CFRubricCriterionLevels/1"]


def test_a_minimal_foreign_package():
    document = {
        "identifier": "doc",
        "uri": "urn:doc",
        "creator": "Elsewhere",
        "title": "Digital skills",
        "lastChangeDateTime": LAST_CHANGE,
        "language": "en",
    }
    items = [
        {
            "identifier": ident,
            "uri": f"urn:{ident}",
            "fullStatement": text,
            "lastChangeDateTime": LAST_CHANGE,
            "humanCodingScheme": ident.upper(),
        }
        for ident, text in [
            ("a", "Area A"),
            ("a1", "Does A1"),
            ("a2", "Does A2"),
            ("b", "Area B"),
            ("b1", "Does B1"),
        ]
    ]
    parents = {"a": ("doc", 1), "a1": ("a", 2), "a2": ("a", 1), "b": ("doc", 2), "b1": ("b", 1)}
    associations = [
        {
            "identifier": f"as-{child}",
            "uri": f"urn:as-{child}",
            "associationType": "isChildOf",
            "originNodeURI": {"identifier": child},
            "destinationNodeURI": {"identifier": parent},
            "lastChangeDateTime": LAST_CHANGE,
            "sequenceNumber": seq,
        }
        for child, (parent, seq) in parents.items()
    ]
    criteria = [
        {
            "identifier": f"cr-{ident}",
            "CFItemURI": {"identifier": ident},
            "weight": weight,
            "CFRubricCriterionLevels": [
                {"identifier": f"{ident}-{s}", "score": s, "quality": q, "description": f"{ident} at {q}"}
                for s, q in ((0, "Low"), (5, "High"))
            ],
        }
        for ident, weight in (("a1", 0.25), ("a2", 0.75), ("b1", 1.0))
    ]
    content = import_case(
        {
            "CFDocument": document,
            "CFItems": items,
            "CFAssociations": associations,
            "CFRubrics": [{"identifier": "r", "CFRubricCriteria": criteria}],
        }
    )
    assert content.code == "imported"  # the document has no humanCodingScheme
    assert [(d.code, [(i.code, i.weight) for i in d.indicators]) for d in content.dimensions] == [
        ("A", [("A2", 0.75), ("A1", 0.25)]),
        ("B", [("B1", 1.0)]),
    ]
    assert [(lv.code, lv.label) for lv in content.levels] == [("L1", {"en": "Low"}), ("L2", {"en": "High"})]
    assert [(d.level, d.performance) for d in content.dimensions[1].indicators[0].descriptors] == [
        ("L1", {"en": "b1 at Low"}),
        ("L2", {"en": "b1 at High"}),
    ]
    assert validate(content) == []


# --- malformed packages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("package", [[], "CFPackage", None, 42, True], ids=repr)
def test_not_an_object(package: Any):
    assert problems(package) == [""]


def test_missing_cf_document():
    package = export(BASE)
    del package["CFDocument"]
    assert problems(package) == ["/CFDocument"]


def test_cf_document_missing_a_member():
    package = export(BASE)
    del package["CFDocument"]["title"]
    assert problems(package) == ["/CFDocument/title"]


@pytest.mark.parametrize("value", [{}, "items", 3, None])
def test_cf_items_not_a_list(value: Any):
    package = export(BASE)
    package["CFItems"] = value
    assert problems(package) == ["/CFItems"]


def test_cf_item_of_the_wrong_type():
    package = export(BASE)
    package["CFItems"][4]["fullStatement"] = 7
    assert problems(package) == ["/CFItems/4/fullStatement"]


def test_association_to_an_unknown_item():
    package = export(BASE)
    i = association_index(package, "D2.2")
    package["CFAssociations"][i]["destinationNodeURI"]["identifier"] = "no-such-item"
    found = problems(package)
    assert f"/CFAssociations/{i}/destinationNodeURI" in found
    assert f"/CFItems/{item_index(package, 'D2.2')}" in found  # ... so the item is not attached


def test_association_from_an_unknown_item():
    package = export(BASE)
    i = association_index(package, "D3.1")
    package["CFAssociations"][i]["originNodeURI"]["identifier"] = "no-such-item"
    assert problems(package) == [
        f"/CFAssociations/{i}/originNodeURI",
        f"/CFItems/{item_index(package, 'D3.1')}",
    ]


@pytest.mark.parametrize("identifier", ["no-such-item", None])
def test_criterion_for_an_unknown_item(identifier: str | None):
    package = export(BASE)
    criterion = package["CFRubrics"][0]["CFRubricCriteria"][5]
    if identifier is None:
        del criterion["CFItemURI"]
    else:
        criterion["CFItemURI"]["identifier"] = identifier
    assert problems(package) == ["/CFRubrics/0/CFRubricCriteria/5/CFItemURI"]


def test_criterion_pointing_at_the_document():
    package = export(BASE)
    package["CFRubrics"][0]["CFRubricCriteria"][0]["CFItemURI"]["identifier"] = package["CFDocument"][
        "identifier"
    ]
    assert problems(package) == ["/CFRubrics/0/CFRubricCriteria/0/CFItemURI"]


def test_item_not_attached():
    package = export(BASE)
    del package["CFAssociations"][association_index(package, "D5.3")]
    assert problems(package) == [f"/CFItems/{item_index(package, 'D5.3')}"]


def test_a_cycle_detached_from_the_document():
    package = export(BASE)
    i = association_index(package, "D1")
    package["CFAssociations"][i]["destinationNodeURI"] = link(package, "D1.2")  # D1 -> D1.2 -> D1
    found = problems(package)
    assert {f"/CFItems/{item_index(package, c)}" for c in ("D1", "D1.1", "D1.2", "D1.3")} <= set(found)


def test_a_cycle_reachable_from_the_document():
    package = export(BASE)
    package["CFAssociations"].append(
        is_child_of(package, "D1", "D1.2")
    )  # D1 is also a child of its indicator
    assert f"/CFAssociations/{len(package['CFAssociations']) - 1}" in problems(package)


def test_an_item_that_is_its_own_child():
    package = export(BASE)
    package["CFAssociations"].append(is_child_of(package, "D4.2", "D4.2"))
    assert problems(package) == [f"/CFAssociations/{len(package['CFAssociations']) - 1}"]


def test_a_second_parent():
    package = export(BASE)
    package["CFAssociations"].append(is_child_of(package, "D4.2", "D5"))
    assert problems(package) == [f"/CFAssociations/{len(package['CFAssociations']) - 1}"]


def test_an_indicator_with_children():
    package = export(BASE)
    package["CFAssociations"][association_index(package, "D2")]["destinationNodeURI"] = link(package, "D1.1")
    found = problems(package)
    assert f"/CFItems/{item_index(package, 'D1.1')}" in found
    assert any("cannot have children" in e.detail for e in _errors(package))


def test_a_dimension_with_sub_dimensions_and_indicators():
    package = export(BASE)
    package["CFAssociations"][association_index(package, "D2")]["destinationNodeURI"] = link(package, "D1")
    assert f"/CFItems/{item_index(package, 'D1')}" in problems(package)
    assert any("not both" in e.detail for e in _errors(package))


def test_an_indicator_directly_under_the_document():
    package = export(BASE)
    i = association_index(package, "D3.3")
    package["CFAssociations"][i]["destinationNodeURI"] = copy.deepcopy(
        package["CFAssociations"][association_index(package, "D1")]["destinationNodeURI"]
    )
    assert "/CFAssociations" in problems(package)


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (("CFDocument",), {"levels": "three"}, "/CFDocument/extensions/assess/levels"),
        (
            ("CFDocument",),
            {"cut_scores": {"overall": [{"level": "x"}]}},
            "/CFDocument/extensions/assess/cut_scores/overall/0/min_score",
        ),
        (("CFItems", 0), {"weight": "heavy"}, "/CFItems/0/extensions/assess/weight"),
        (("CFItems", 1), {"statement": []}, "/CFItems/1/extensions/assess/statement"),
        pytest.param(
            ("CFItems", 1),
            {"statement": {"en": 1}},
            "/CFItems/1/extensions/assess/statement",
            id="bad-dict-value",
        ),
        (
            ("CFRubrics", 0, "CFRubricCriteria", 1, "CFRubricCriterionLevels", 2),
            {"level": "create"},
            "/CFRubrics/0/CFRubricCriteria/1/CFRubricCriterionLevels/2/extensions/assess/performance",
        ),
    ],
)
def test_bad_extensions_are_reported_where_they_are(where: tuple[Any, ...], value: Any, expected: str):
    package = export(BASE)
    node: Any = package
    for key in where:
        node = node[key]
    node["extensions"] = {"assess": value}
    assert problems(package) == [expected]


def test_every_problem_is_reported_at_once():
    package = export(BASE)
    del package["CFAssociations"][association_index(package, "D5.3")]
    package["CFRubrics"][0]["CFRubricCriteria"][0]["CFItemURI"]["identifier"] = "nowhere"
    package["CFItems"][0]["extensions"]["assess"]["weight"] = "heavy"
    assert len(problems(package)) == 3


def _errors(package: Any) -> list[Any]:
    try:
        import_case(package)
    except Unprocessable as exc:
        return exc.errors
    return []


def test_a_very_deep_chain_is_refused_cleanly():
    document = {
        "identifier": "doc",
        "uri": "urn:doc",
        "creator": "x",
        "title": "Deep",
        "lastChangeDateTime": LAST_CHANGE,
        "language": "en",
    }
    depth = 3000
    items = [
        {
            "identifier": f"i{n}",
            "uri": f"urn:i{n}",
            "fullStatement": f"Item {n}",
            "lastChangeDateTime": LAST_CHANGE,
            "humanCodingScheme": f"C{n}",
        }
        for n in range(depth)
    ]
    associations = [
        {
            "identifier": f"a{n}",
            "uri": f"urn:a{n}",
            "associationType": "isChildOf",
            "originNodeURI": {"identifier": f"i{n}"},
            "destinationNodeURI": {"identifier": "doc" if n == 0 else f"i{n - 1}"},
            "lastChangeDateTime": LAST_CHANGE,
        }
        for n in range(depth)
    ]
    with contextlib.suppress(Unprocessable):
        import_case({"CFDocument": document, "CFItems": items, "CFAssociations": associations})


# --- property: random damage gives a framework or a 422, nothing else -------------------------------------


PACKAGES = {code: export(content) for code, content in LATEST.items()}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


PATHS = {code: _paths(package) for code, package in PACKAGES.items()}
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _has(node: Any, key: Any) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and key < len(node)


@st.composite
def damaged_packages(draw: st.DrawFn) -> Any:
    """A valid package (with or without extensions) with 1-4 members deleted or replaced by random JSON."""
    code = draw(st.sampled_from(sorted(PACKAGES)))
    package = copy.deepcopy(PACKAGES[code])
    if draw(st.booleans()):
        package = strip_extensions(package)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS[code]))
        parent: Any = package
        for key in path[:-1]:
            parent = parent[key] if _has(parent, key) else None
        if not _has(parent, path[-1]):
            continue  # an earlier change removed this place
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return package


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_packages())
def test_damaged_packages_import_or_give_422(package: Any):
    try:
        content = import_case(package)
    except Unprocessable as exc:
        assert exc.status == 422 and exc.errors
        assert all(
            isinstance(e.pointer, str) and (e.pointer == "" or e.pointer.startswith("/")) for e in exc.errors
        )
    else:
        assert isinstance(content, FrameworkContent)
        assert msgspec.convert(msgspec.to_builtins(content), FrameworkContent, strict=True) == content


def test_cut_scores_of_sub_dimensions_survive_export_and_import():
    """Cut scores on any dimension (top-level and sub-dimensions) travel in extensions.assess losslessly."""
    raw = msgspec.to_builtins(LATEST["teacher-digital-literacy"])  # 5 dimensions -> 13 sub-dimensions
    levels = [level["code"] for level in raw["levels"]]

    def cuts(*bounds: float) -> list[dict[str, Any]]:
        return [
            {"level": level, "min_score": score} for level, score in zip(levels, (0, *bounds), strict=True)
        ]

    raw["cut_scores"]["dimensions"] = {
        "1": cuts(20, 40, 60),
        "1.2": cuts(30, 55, 85.5),
        "2.1": cuts(10, 20, 30),
    }
    content = msgspec.convert(raw, FrameworkContent, strict=True)
    assert validate(content) == []
    back = import_case(export(content))
    assert back == content
    assert msgspec.to_builtins(back.cut_scores.dimensions) == raw["cut_scores"]["dimensions"]
    assert content_hash(back) == content_hash(content)
    assert import_case(export(back)) == content  # import -> export -> import
