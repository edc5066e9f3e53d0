"""What every item type shares: the common fields of an item document, its loadings and options,
and the constrained scalars the item types' own fields are made of. Pure: no I/O.

Each item type (`service.items.kinds`) subclasses `ItemBase` with its tag; `service.items.model`
gathers them into the `Item` union.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from service.rubrics.model import Code, Localized, Text

ItemType = Literal[
    "single_choice", "multiple_choice", "situational_judgement", "likert", "ordering", "open_response"
]

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
SjtFormat = Literal["best", "most_least", "rate"]


class Loading(msgspec.Struct, forbid_unknown_fields=True):
    """One indicator this item measures, with the share of the item's credit that goes to it."""

    indicator: Code
    weight: LoadingWeight = 1.0


ImageAlt = Annotated[
    Localized,
    msgspec.Meta(
        description=(
            "The image's text alternative per language, read to candidates who cannot see it (the `alt` of "
            "the image); required with `image`"
        )
    ),
]


class Option(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    key: OptionKey
    text: Localized
    image: ImageId | None = None  # omitted when absent: options without images hash as before
    image_alt: ImageAlt | None = None  # with the use, not the image: one picture may say different things


class ItemBase(
    msgspec.Struct, tag_field="type", forbid_unknown_fields=True, omit_defaults=True, kw_only=True
):
    code: Code
    framework: Code
    stem: Localized
    loadings: list[Loading]
    scenario: Localized | None = None
    image: ImageId | None = None  # shown with the stem
    image_alt: ImageAlt | None = None
    points: Points = 1.0
    tags: list[Tag] = msgspec.field(default_factory=list)
    note: Text | None = None  # for authors only
