"""The item types: one module each, holding the type's struct and its `ItemKind` (how a candidate
sees it, how an answer is checked, what an answer earns, what an author must get right).

The scoring engine, the delivery's answer check and authoring validation all reach a type's
behaviour through `kind_of` (or `kind_named` for a view's `type`), never by testing an item's
class. A new item type is one new module here, registered in `KINDS` below and in the `Item`
union and `ItemType` of `service.items.model` / `service.items.base` (which static typing and
the OpenAPI document need spelled out).
"""

from __future__ import annotations

from typing import Any

from service.items.base import ItemBase
from service.items.kinds import (
    likert,
    multiple_choice,
    open_response,
    ordering,
    single_choice,
    situational_judgement,
)
from service.items.kinds.kind import Credit, ItemKind

__all__ = ["KINDS", "Credit", "ItemKind", "kind_named", "kind_of"]

KINDS: dict[str, ItemKind[Any]] = {
    kind.tag: kind
    for kind in (
        single_choice.KIND,
        multiple_choice.KIND,
        situational_judgement.KIND,
        likert.KIND,
        ordering.KIND,
        open_response.KIND,
    )
}
_BY_STRUCT: dict[type[ItemBase], ItemKind[Any]] = {kind.struct: kind for kind in KINDS.values()}
for _kind in KINDS.values():
    if _kind.struct.__struct_config__.tag != _kind.tag:
        raise TypeError(f"{type(_kind).__name__} is tagged {_kind.tag!r}, its struct otherwise")


def kind_of(item: ItemBase) -> ItemKind[Any]:
    """The behaviours of `item`'s type."""
    try:
        return _BY_STRUCT[type(item)]
    except KeyError:
        raise TypeError(f"unknown item type {type(item).__name__}") from None


def kind_named(tag: str) -> ItemKind[Any]:
    """The behaviours of the item type tagged `tag` (a view's or an answer rule's `type`)."""
    return KINDS[tag]
