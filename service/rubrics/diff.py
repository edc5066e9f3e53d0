"""What changed between two framework versions, element by element (matched by code). Pure."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from service.rubrics.model import FrameworkContent, walk_dimensions, walk_indicators

ElementKind = Literal["framework", "level", "dimension", "indicator", "cut_scores"]


class Change(msgspec.Struct, omit_defaults=True):
    kind: ElementKind
    code: str
    fields: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)  # name -> {"from": .., "to": ..}


class Element(msgspec.Struct, omit_defaults=True):
    kind: ElementKind
    code: str
    parent: str | None = None


class VersionDiff(msgspec.Struct):
    added: list[Element]
    removed: list[Element]
    changed: list[Change]

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _elements(
    content: FrameworkContent,
) -> dict[tuple[ElementKind, str], tuple[str | None, int, dict[str, Any]]]:
    """(kind, code) -> (parent code, position among siblings, comparable fields)."""
    found: dict[tuple[ElementKind, str], tuple[str | None, int, dict[str, Any]]] = {}
    for i, level in enumerate(content.levels):
        found[("level", level.code)] = (None, i, msgspec.to_builtins(level))
    parents: dict[str, str | None] = {}
    for pointer, dimension in walk_dimensions(content.dimensions):
        for child in dimension.children:
            parents[child.code] = dimension.code
        position = int(pointer.rsplit("/", 1)[1])
        fields = {
            k: v for k, v in msgspec.to_builtins(dimension).items() if k not in ("children", "indicators")
        }
        found[("dimension", dimension.code)] = (parents.get(dimension.code), position, fields)
    for pointer, dimension, indicator in walk_indicators(content):
        position = int(pointer.rsplit("/", 1)[1])
        found[("indicator", indicator.code)] = (dimension.code, position, msgspec.to_builtins(indicator))
    head = {
        k: v
        for k, v in msgspec.to_builtins(content).items()
        if k not in ("levels", "dimensions", "cut_scores")
    }
    found[("framework", content.code)] = (None, 0, head)
    found[("cut_scores", "cut_scores")] = (None, 0, msgspec.to_builtins(content.cut_scores))
    return found


def diff_versions(old: FrameworkContent, new: FrameworkContent) -> VersionDiff:
    before, after = _elements(old), _elements(new)
    added = [
        Element(kind, code, after[(kind, code)][0]) for kind, code in after if (kind, code) not in before
    ]
    removed = [
        Element(kind, code, before[(kind, code)][0]) for kind, code in before if (kind, code) not in after
    ]
    changed = []
    for key in after:
        if key not in before:
            continue
        (old_parent, old_position, old_fields), (new_parent, new_position, new_fields) = (
            before[key],
            after[key],
        )
        fields = {
            name: {"from": old_fields.get(name), "to": new_fields.get(name)}
            for name in sorted(set(old_fields) | set(new_fields))
            if old_fields.get(name) != new_fields.get(name) and not (key[0] == "framework" and name == "code")
        }
        if old_parent != new_parent:
            fields["parent"] = {"from": old_parent, "to": new_parent}
        if old_position != new_position:
            fields["position"] = {"from": old_position, "to": new_position}
        if fields:
            changed.append(Change(key[0], key[1], fields))
    return VersionDiff(added, removed, changed)
