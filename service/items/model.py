"""The item document: what an author writes, one struct per item type, tagged by `type`.

Every item separates what a candidate may see (stem, scenario, options, scale) from its
`key`: the scoring material (correct options, per-indicator credit, reverse keying, the
right order, rater notes). Candidate payloads are built from `service.items.views`, which
copies only the visible fields, so a key cannot leak by being forgotten in a filter.

An item loads on one or more indicators of one framework (`loadings`, a row of the
Q-matrix, weights summing to 1). Situational-judgement options carry credit per loaded
indicator, and each indicator belongs to one dimension, so one option can earn full
credit on human-machine collaboration and none on ethics and safety.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from service.rubrics.model import Code, Localized, Text

ItemType = Literal[
    "single_choice", "multiple_choice", "situational_judgement", "likert", "ordering", "open_response"
]
ITEM_TYPES: tuple[ItemType, ...] = (
    "single_choice",
    "multiple_choice",
    "situational_judgement",
    "likert",
    "ordering",
    "open_response",
)

OptionKey = Annotated[str, msgspec.Meta(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")]
Points = Annotated[float, msgspec.Meta(gt=0, le=100, description="Credit the item is worth (default 1)")]
Credit = Annotated[float, msgspec.Meta(description="Credit earned, 0 to the item's points")]
LoadingWeight = Annotated[float, msgspec.Meta(gt=0, le=1)]
ImageId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9a-f]{64}$",
        description="An image of the tenant's (POST /v1/images): the SHA-256 of its bytes, in hex",
    ),
]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]

PartialCredit = Literal["all_or_nothing", "per_option", "right_minus_wrong"]
SjtFormat = Literal["best", "most_least", "rate"]
OrderingCredit = Literal["exact", "pairwise"]


class Loading(msgspec.Struct, forbid_unknown_fields=True):
    """One indicator this item measures, with the share of the item's credit that goes to it."""

    indicator: Code
    weight: LoadingWeight = 1.0


class Option(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    key: OptionKey
    text: Localized
    image: ImageId | None = None  # omitted when absent: options without images hash as before


class ItemBase(
    msgspec.Struct, tag_field="type", forbid_unknown_fields=True, omit_defaults=True, kw_only=True
):
    code: Code
    framework: Code
    stem: Localized
    loadings: list[Loading]
    scenario: Localized | None = None
    image: ImageId | None = None  # shown with the stem
    points: Points = 1.0
    tags: list[Tag] = msgspec.field(default_factory=list)
    note: Text | None = None  # for authors only


class SingleChoiceKey(msgspec.Struct, forbid_unknown_fields=True):
    correct: OptionKey


class SingleChoice(ItemBase, tag="single_choice", kw_only=True):
    options: list[Option]
    key: SingleChoiceKey
    shuffle_options: bool = True


class MultipleChoiceKey(msgspec.Struct, forbid_unknown_fields=True):
    correct: list[OptionKey]
    partial_credit: PartialCredit = msgspec.field(default="all_or_nothing")


class MultipleChoice(ItemBase, tag="multiple_choice", kw_only=True):
    options: list[Option]
    key: MultipleChoiceKey
    shuffle_options: bool = True


class OptionCredit(msgspec.Struct, forbid_unknown_fields=True):
    """Expert-keyed credit of one option, per loaded indicator (0 to the item's points)."""

    option: OptionKey
    credit: dict[Code, Credit]


class SituationalJudgementKey(msgspec.Struct, forbid_unknown_fields=True):
    options: list[OptionCredit]


class SituationalJudgement(ItemBase, tag="situational_judgement", kw_only=True):
    """A scenario and responses to it, each keyed with an expert credit per loaded indicator.

    One key serves every format; the scoring engine reads it as the options' effectiveness:
    `best` (pick the best response) earns the chosen option's credit; `most_least` (the
    response most and least likely to be taken) rewards a most-likely option with high credit
    and a least-likely option with low credit; `rate` (rate every option's effectiveness from
    1 = very poor to `rating_points`) rewards ratings close to the keyed credit placed on that
    scale."""

    format: SjtFormat
    options: list[Option]
    key: SituationalJudgementKey
    rating_points: Annotated[int, msgspec.Meta(ge=3, le=10)] = 5
    shuffle_options: bool = True


class LikertKey(msgspec.Struct, forbid_unknown_fields=True):
    reverse: bool = False


class Likert(ItemBase, tag="likert", kw_only=True):
    """A self-report statement (the stem) on an agreement scale of `scale_points`, 1 = strongly disagree."""

    scale_points: Annotated[int, msgspec.Meta(ge=2, le=11)] = 5
    scale_labels: list[Localized] = msgspec.field(default_factory=list)
    key: LikertKey = msgspec.field(default_factory=LikertKey)


class OrderingKey(msgspec.Struct, forbid_unknown_fields=True):
    order: list[OptionKey]
    credit: OrderingCredit = msgspec.field(default="pairwise")


class Ordering(ItemBase, tag="ordering", kw_only=True):
    """Put the steps (options) in order; `pairwise` credit is the share of pairs in the right relative order."""

    options: list[Option]
    key: OrderingKey


class OpenResponseKey(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Material for raters only: what to look for, and exemplar answers."""

    rater_notes: Localized | None = None
    exemplars: list[Localized] = msgspec.field(default_factory=list)


class OpenResponse(ItemBase, tag="open_response", kw_only=True):
    """A free-text answer or performance task, rated later against the indicators' level descriptors."""

    max_length: Annotated[int, msgspec.Meta(ge=1, le=20_000)] = 4000
    task: Literal["free_text", "write_prompt", "critique_output"] = "free_text"
    key: OpenResponseKey = msgspec.field(default_factory=OpenResponseKey)


Item = SingleChoice | MultipleChoice | SituationalJudgement | Likert | Ordering | OpenResponse

item_decoder = msgspec.json.Decoder(Item, strict=True)  # type: ignore[arg-type]
_encoder = msgspec.json.Encoder(order="deterministic")


def encode_item(item: Item) -> bytes:
    """Canonical bytes: the same item always encodes the same way (hashes depend on it)."""
    return _encoder.encode(item)


def item_type(item: Item) -> ItemType:
    return type(item).__struct_config__.tag  # type: ignore[return-value]


def image_ids(item: Item) -> list[str]:
    """The images the item shows (stem first, then options in order), each once."""
    found = [item.image] + [option.image for option in getattr(item, "options", [])]
    return list(dict.fromkeys(image for image in found if image is not None))


def option_keys(item: Item) -> list[str]:
    return [option.key for option in getattr(item, "options", [])]
