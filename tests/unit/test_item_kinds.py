"""The item-type registry: every item type is one `ItemKind` (service/items/kinds/), and the union,
the type names and the registry agree, so a new type cannot be half-registered. Pure: no database."""

from __future__ import annotations

import typing

import msgspec
import pytest

from service.items.base import ItemBase, ItemType
from service.items.kinds import KINDS, kind_named, kind_of
from service.items.model import ITEM_TYPES, Item, item_type
from service.items.samples import ITEMS_DIR, sample_bank
from service.items.views import answer_rule, candidate_view

BANKS = sorted(path.name for path in ITEMS_DIR.iterdir() if (path / "items.json").exists())


def test_the_union_the_type_names_and_the_registry_agree() -> None:
    structs = set(typing.get_args(Item))
    assert {kind.struct for kind in KINDS.values()} == structs
    assert set(typing.get_args(ItemType)) == set(KINDS) == set(ITEM_TYPES)
    for tag, kind in KINDS.items():
        assert kind.tag == tag == kind.struct.__struct_config__.tag
        assert kind_named(tag) is kind


def test_an_unregistered_item_type_is_refused() -> None:
    class Stray(ItemBase, tag="stray", kw_only=True):
        pass

    stray = Stray(code="X-1", framework="f", stem={"en": "?"}, loadings=[])
    with pytest.raises(TypeError, match="unknown item type Stray"):
        kind_of(stray)


@pytest.mark.parametrize("bank", BANKS)
def test_every_shipped_item_is_seen_and_checked_through_its_kind(bank: str) -> None:
    seen = set()
    for item in sample_bank(bank).items:
        kind = kind_of(item)
        seen.add(kind.tag)
        view = candidate_view(item)
        assert view.type == item_type(item) == kind.tag
        assert answer_rule(view).type == kind.tag
        assert "key" not in msgspec.to_builtins(view)
        assert kind.validate(item) == []
    assert seen, bank
