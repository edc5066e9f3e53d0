"""The item document: what an author writes, one struct per item type, tagged by `type`.

Every item separates what a candidate may see (stem, scenario, options, scale) from its
`key`: the scoring material (correct options, per-indicator credit, reverse keying, the
right order, rater notes). Candidate payloads are built from `service.items.views`, which
copies only the visible fields, so a key cannot leak by being forgotten in a filter.

An item loads on one or more indicators of one framework (`loadings`, a row of the
Q-matrix, weights summing to 1). Situational-judgement options carry credit per loaded
indicator, and each indicator belongs to one dimension, so one option can earn full
credit on human-machine collaboration and none on ethics and safety.

The fields every type shares are in `service.items.base`; each type's struct lives with its
behaviours in its module of `service.items.kinds`. This module gathers them into `Item`.
"""

from __future__ import annotations

import msgspec

from service.items.base import (
    Credit,
    ItemBase,
    ItemType,
    Loading,
    LoadingWeight,
    Option,
    OptionKey,
    Points,
    SjtFormat,
    Tag,
)
from service.items.kinds import KINDS, kind_of
from service.items.kinds.likert import Likert, LikertKey
from service.items.kinds.multiple_choice import MultipleChoice, MultipleChoiceKey, PartialCredit
from service.items.kinds.open_response import OpenResponse, OpenResponseKey
from service.items.kinds.ordering import Ordering, OrderingCredit, OrderingKey
from service.items.kinds.single_choice import SingleChoice, SingleChoiceKey
from service.items.kinds.situational_judgement import (
    OptionCredit,
    SituationalJudgement,
    SituationalJudgementKey,
)

__all__ = [
    "ITEM_TYPES",
    "Credit",
    "Item",
    "ItemBase",
    "ItemType",
    "Likert",
    "LikertKey",
    "Loading",
    "LoadingWeight",
    "MultipleChoice",
    "MultipleChoiceKey",
    "OpenResponse",
    "OpenResponseKey",
    "Option",
    "OptionCredit",
    "OptionKey",
    "Ordering",
    "OrderingCredit",
    "OrderingKey",
    "PartialCredit",
    "Points",
    "SingleChoice",
    "SingleChoiceKey",
    "SituationalJudgement",
    "SituationalJudgementKey",
    "SjtFormat",
    "Tag",
    "encode_item",
    "image_ids",
    "item_decoder",
    "item_type",
    "option_keys",
]

ITEM_TYPES: tuple[ItemType, ...] = tuple(kind.tag for kind in KINDS.values())

Item = SingleChoice | MultipleChoice | SituationalJudgement | Likert | Ordering | OpenResponse

item_decoder = msgspec.json.Decoder(Item, strict=True)
_encoder = msgspec.json.Encoder(order="deterministic")


def encode_item(item: Item) -> bytes:
    """Canonical bytes: the same item always encodes the same way (hashes depend on it)."""
    return _encoder.encode(item)


def item_type(item: Item) -> ItemType:
    return kind_of(item).tag


def image_ids(item: Item) -> list[str]:
    """The images the item shows (stem first, then options in order), each once."""
    found = [item.image] + [option.image for option in getattr(item, "options", [])]
    return list(dict.fromkeys(image for image in found if image is not None))


def option_keys(item: Item) -> list[str]:
    return [option.key for option in getattr(item, "options", [])]
