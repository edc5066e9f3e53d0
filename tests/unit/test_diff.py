"""service.rubrics.diff: what changed between two framework versions, element by element."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from service.rubrics.diff import Change, Element, VersionDiff, diff_versions
from service.rubrics.model import FrameworkContent
from service.rubrics.templates import load_templates
from service.rubrics.validation import validate

TEMPLATES = {code: versions[-1].content for code, versions in load_templates().items()}
BASE = TEMPLATES[
    "unesco-ai-competency-teachers"
]  # 5 dimensions D1..D5, 3 indicators each, levels acquire..create


def edited(content: FrameworkContent, edit: Callable[[dict[str, Any]], None]) -> FrameworkContent:
    raw = msgspec.to_builtins(content)
    edit(raw)
    return msgspec.convert(raw, FrameworkContent, strict=True)


def indicator(code: str, weight: float = 1.0) -> dict[str, Any]:
    return {
        "code": code,
        "statement": {"zh-CN": f"指标 {code}", "en": f"Indicator {code}"},
        "weight": weight,
        "descriptors": [
            {"level": lv, "performance": {"zh-CN": "表现", "en": "Performance"}}
            for lv in ("acquire", "deepen", "create")
        ],
    }


def _nest(raw: dict[str, Any]) -> None:
    """D1's indicators move into two sub-dimensions D1a (D1.1, D1.2) and D1b (D1.3)."""
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


def test_the_bases_are_valid():
    assert validate(BASE) == []
    assert validate(NESTED) == []


def by_key(diff: VersionDiff) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    return {(change.kind, change.code): change.fields for change in diff.changed}


# --- no change --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(TEMPLATES))
def test_identical_versions_have_an_empty_diff(code: str):
    content = TEMPLATES[code]
    copied = msgspec.convert(msgspec.to_builtins(content), FrameworkContent, strict=True)
    for old, new in ((content, content), (content, copied)):
        diff = diff_versions(old, new)
        assert diff.is_empty
        assert diff == VersionDiff([], [], [])


def test_the_diff_serializes():
    diff = diff_versions(BASE, edited(BASE, lambda r: r["dimensions"][0]["indicators"].pop()))
    assert msgspec.json.decode(msgspec.json.encode(diff)) == {
        "added": [],
        "removed": [{"kind": "indicator", "code": "D1.3", "parent": "D1"}],
        "changed": [],
    }


# --- added and removed ------------------------------------------------------------------------------------


def test_added_indicator_names_its_parent():
    new = edited(BASE, lambda r: r["dimensions"][1]["indicators"].append(indicator("D2.4", 0.0)))
    diff = diff_versions(BASE, new)
    assert diff.added == [Element("indicator", "D2.4", "D2")]
    assert diff.removed == []
    assert diff.changed == []  # the dimension's own fields did not change
    assert not diff.is_empty


def test_removed_last_indicator():
    new = edited(BASE, lambda r: r["dimensions"][0]["indicators"].pop())
    diff = diff_versions(BASE, new)
    assert (diff.added, diff.removed, diff.changed) == ([], [Element("indicator", "D1.3", "D1")], [])


def test_removing_the_first_indicator_moves_its_siblings_up():
    new = edited(BASE, lambda r: r["dimensions"][0]["indicators"].pop(0))
    diff = diff_versions(BASE, new)
    assert diff.removed == [Element("indicator", "D1.1", "D1")]
    assert by_key(diff) == {
        ("indicator", "D1.2"): {"position": {"from": 1, "to": 0}},
        ("indicator", "D1.3"): {"position": {"from": 2, "to": 1}},
    }


def test_added_dimension_and_its_indicators():
    def add(raw: dict[str, Any]) -> None:
        raw["dimensions"].append(
            {
                "code": "D6",
                "name": {"zh-CN": "新", "en": "New"},
                "weight": 0.0,
                "indicators": [indicator("D6.1")],
            }
        )

    diff = diff_versions(BASE, edited(BASE, add))
    assert diff.added == [Element("dimension", "D6", None), Element("indicator", "D6.1", "D6")]
    assert diff.removed == [] and diff.changed == []


def test_removed_dimension_and_its_indicators():
    diff = diff_versions(BASE, edited(BASE, lambda r: r["dimensions"].pop()))
    assert diff.removed == [Element("dimension", "D5", None)] + [
        Element("indicator", f"D5.{i}", "D5") for i in (1, 2, 3)
    ]
    assert diff.added == [] and diff.changed == []


def test_added_sub_dimension_names_its_parent():
    diff = diff_versions(BASE, NESTED)
    assert diff.added == [Element("dimension", "D1a", "D1"), Element("dimension", "D1b", "D1")]
    assert diff.removed == []
    changes = by_key(diff)
    assert changes[("indicator", "D1.1")] == {
        "weight": {"from": BASE.dimensions[0].indicators[0].weight, "to": 0.5},
        "parent": {"from": "D1", "to": "D1a"},
    }
    assert changes[("indicator", "D1.3")] == {
        "weight": {"from": BASE.dimensions[0].indicators[2].weight, "to": 1.0},
        "parent": {"from": "D1", "to": "D1b"},
        "position": {"from": 2, "to": 0},
    }
    reverse = diff_versions(NESTED, BASE)
    assert reverse.removed == [Element("dimension", "D1a", "D1"), Element("dimension", "D1b", "D1")]


def test_added_level():
    def add(raw: dict[str, Any]) -> None:
        raw["levels"].append({"code": "lead", "label": {"zh-CN": "引领", "en": "Lead"}})

    diff = diff_versions(BASE, edited(BASE, add))
    assert diff.added == [Element("level", "lead", None)]


# --- changed fields ---------------------------------------------------------------------------------------


def test_changed_weight_has_from_and_to():
    def reweight(raw: dict[str, Any]) -> None:
        raw["dimensions"][2]["indicators"][0]["weight"] = 0.5
        raw["dimensions"][2]["indicators"][1]["weight"] = 0.25
        raw["dimensions"][2]["weight"] = 0.3

    old = BASE.dimensions[2]
    diff = diff_versions(BASE, edited(BASE, reweight))
    assert diff.added == [] and diff.removed == []
    assert by_key(diff) == {
        ("dimension", "D3"): {"weight": {"from": old.weight, "to": 0.3}},
        ("indicator", "D3.1"): {"weight": {"from": old.indicators[0].weight, "to": 0.5}},
        ("indicator", "D3.2"): {"weight": {"from": old.indicators[1].weight, "to": 0.25}},
    }


def test_changed_statement_has_from_and_to():
    def reword(raw: dict[str, Any]) -> None:
        raw["dimensions"][0]["indicators"][1]["statement"]["en"] = "Reworded"

    old = BASE.dimensions[0].indicators[1].statement
    diff = diff_versions(BASE, edited(BASE, reword))
    assert diff.changed == [
        Change("indicator", "D1.2", {"statement": {"from": old, "to": {**old, "en": "Reworded"}}})
    ]


def test_changed_descriptor_and_dimension_fields():
    def edit(raw: dict[str, Any]) -> None:
        raw["dimensions"][0]["indicators"][0]["descriptors"][0]["performance"]["en"] = "New text"
        raw["dimensions"][0]["tags"] = ["governance"]
        raw["dimensions"][0]["note"] = "checked"

    changes = by_key(diff_versions(BASE, edited(BASE, edit)))
    assert set(changes) == {("indicator", "D1.1"), ("dimension", "D1")}
    assert set(changes[("indicator", "D1.1")]) == {"descriptors"}
    assert changes[("indicator", "D1.1")]["descriptors"]["to"][0]["performance"]["en"] == "New text"
    assert changes[("dimension", "D1")] == {
        "tags": {"from": list(BASE.dimensions[0].tags), "to": ["governance"]},
        "note": {"from": None, "to": "checked"},
    }


def test_changed_framework_fields():
    def edit(raw: dict[str, Any]) -> None:
        raw["title"]["en"] = "Another title"
        raw["notes"] = [*raw.get("notes", []), "one more"]

    diff = diff_versions(BASE, edited(BASE, edit))
    assert [(c.kind, c.code, sorted(c.fields)) for c in diff.changed] == [
        ("framework", BASE.code, ["notes", "title"])
    ]
    assert diff.changed[0].fields["title"]["to"]["en"] == "Another title"


def test_moved_indicator_reports_the_parent_change():
    def move(raw: dict[str, Any]) -> None:
        moved = raw["dimensions"][0]["indicators"].pop(2)
        raw["dimensions"][1]["indicators"].append(moved)

    diff = diff_versions(BASE, edited(BASE, move))
    assert diff.added == [] and diff.removed == []
    assert by_key(diff) == {
        ("indicator", "D1.3"): {"parent": {"from": "D1", "to": "D2"}, "position": {"from": 2, "to": 3}}
    }


def test_moved_indicator_at_the_same_position_reports_only_the_parent():
    def move(raw: dict[str, Any]) -> None:
        moved = raw["dimensions"][0]["indicators"].pop(2)
        raw["dimensions"][1]["indicators"][2:] = [moved]  # D2.3 is replaced by D1.3

    diff = diff_versions(BASE, edited(BASE, move))
    assert diff.removed == [Element("indicator", "D2.3", "D2")]
    assert by_key(diff) == {("indicator", "D1.3"): {"parent": {"from": "D1", "to": "D2"}}}


def test_moved_sub_dimension_reports_the_parent_change():
    def move(raw: dict[str, Any]) -> None:
        d1b = raw["dimensions"][0]["children"].pop(
            1
        )  # D1b (holding D1.3) moves under D2, at the same position 1
        d2x = {
            "code": "D2x",
            "name": {"zh-CN": "二", "en": "Two"},
            "weight": 0.5,
            "indicators": raw["dimensions"][1].pop("indicators"),
        }
        raw["dimensions"][1]["children"] = [d2x, d1b]

    diff = diff_versions(NESTED, edited(NESTED, move))
    assert diff.added == [Element("dimension", "D2x", "D2")]
    assert diff.removed == []
    assert by_key(diff) == {
        ("dimension", "D1b"): {"parent": {"from": "D1", "to": "D2"}},
        **{("indicator", f"D2.{i}"): {"parent": {"from": "D2", "to": "D2x"}} for i in (1, 2, 3)},
    }


def test_reordered_dimensions_report_position_changes():
    def swap(raw: dict[str, Any]) -> None:
        raw["dimensions"][0], raw["dimensions"][3] = raw["dimensions"][3], raw["dimensions"][0]

    diff = diff_versions(BASE, edited(BASE, swap))
    assert diff.added == [] and diff.removed == []
    assert by_key(diff) == {
        ("dimension", "D4"): {"position": {"from": 3, "to": 0}},
        ("dimension", "D1"): {"position": {"from": 0, "to": 3}},
    }


def test_reordered_indicators_report_position_changes():
    def reverse(raw: dict[str, Any]) -> None:
        raw["dimensions"][4]["indicators"].reverse()

    assert by_key(diff_versions(BASE, edited(BASE, reverse))) == {
        ("indicator", "D5.3"): {"position": {"from": 2, "to": 0}},
        ("indicator", "D5.1"): {"position": {"from": 0, "to": 2}},
    }


def test_level_label_change():
    def relabel(raw: dict[str, Any]) -> None:
        raw["levels"][1]["label"] = {"zh-CN": "深入", "en": "Deepening"}

    diff = diff_versions(BASE, edited(BASE, relabel))
    assert diff.changed == [
        Change(
            "level",
            "deepen",
            {"label": {"from": BASE.levels[1].label, "to": {"zh-CN": "深入", "en": "Deepening"}}},
        )
    ]


def test_reordered_levels_report_position_changes():
    def swap(raw: dict[str, Any]) -> None:
        raw["levels"][1], raw["levels"][2] = raw["levels"][2], raw["levels"][1]

    assert by_key(diff_versions(BASE, edited(BASE, swap))) == {
        ("level", "create"): {"position": {"from": 2, "to": 1}},
        ("level", "deepen"): {"position": {"from": 1, "to": 2}},
    }


def test_cut_score_change():
    def raise_cut(raw: dict[str, Any]) -> None:
        raw["cut_scores"]["overall"][1]["min_score"] = 50

    old_overall = msgspec.to_builtins(BASE.cut_scores.overall)
    new_overall = copy.deepcopy(old_overall)
    new_overall[1]["min_score"] = 50
    diff = diff_versions(BASE, edited(BASE, raise_cut))
    assert diff.changed == [
        Change("cut_scores", "cut_scores", {"overall": {"from": old_overall, "to": new_overall}})
    ]


def test_per_dimension_cut_scores_added():
    cuts = [
        {"level": "acquire", "min_score": 0},
        {"level": "deepen", "min_score": 60},
        {"level": "create", "min_score": 90},
    ]

    def add(raw: dict[str, Any]) -> None:
        raw["cut_scores"]["dimensions"] = {"D2": cuts}

    diff = diff_versions(BASE, edited(BASE, add))
    assert diff.changed == [
        Change("cut_scores", "cut_scores", {"dimensions": {"from": None, "to": {"D2": cuts}}})
    ]


# --- symmetry ---------------------------------------------------------------------------------------------


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "remove-indicator": lambda r: r["dimensions"][0]["indicators"].pop(0),
    "remove-dimension": lambda r: r["dimensions"].pop(2),
    "reweight": lambda r: r["dimensions"][0].update(weight=0.9),
    "reorder": lambda r: r["dimensions"].reverse(),
    "nest": _nest,
    "relabel": lambda r: r["levels"][0].update(label={"en": "x"}),
    "cut": lambda r: r["cut_scores"]["overall"][2].update(min_score=99),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_the_reverse_diff_swaps_added_removed_and_from_to(name: str):
    new = edited(BASE, EDITS[name])
    forward, backward = diff_versions(BASE, new), diff_versions(new, BASE)
    assert not forward.is_empty
    assert sorted(msgspec.to_builtins(forward.added), key=str) == sorted(
        msgspec.to_builtins(backward.removed), key=str
    )
    assert sorted(msgspec.to_builtins(forward.removed), key=str) == sorted(
        msgspec.to_builtins(backward.added), key=str
    )
    swapped = {
        (c.kind, c.code): {f: {"from": v["to"], "to": v["from"]} for f, v in c.fields.items()}
        for c in backward.changed
    }
    assert by_key(forward) == swapped
