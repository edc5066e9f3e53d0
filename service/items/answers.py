"""The shapes between an item and a candidate: the candidate's view of an item, an answer, and
the rule an answer must fit. Pure: no I/O.

They sit below the item types (`service.items.kinds`), which build views, check answers and give
credit in these terms, and below `service.items.views`, which re-exports them.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from service.items.base import ItemType, OptionKey, SjtFormat
from service.rubrics.model import Localized

MAX_TEXT = 20_000

AnswerWith = Literal["choice", "choices", "most_least", "ratings", "value", "order", "text"]


class CandidateOption(msgspec.Struct, omit_defaults=True):
    key: str
    text: Localized
    image: str | None = None  # GET /v1/images/{image}
    image_alt: Localized | None = None  # the image's text alternative (its `alt`)


class CandidateItem(msgspec.Struct, omit_defaults=True, kw_only=True):
    """An item as a candidate sees it; `ref` names it within the attempt."""

    ref: str
    type: ItemType
    stem: Localized
    scenario: Localized | None = None
    image: str | None = None  # shown with the stem: GET /v1/images/{image}
    image_alt: Localized | None = None  # the image's text alternative (its `alt`)
    points: float = 1.0
    options: list[CandidateOption] | None = None
    answer_with: AnswerWith
    format: SjtFormat | None = None
    rating_points: int | None = None
    scale_points: int | None = None
    scale_labels: list[Localized] | None = None
    max_length: int | None = None
    task: str | None = None


class Answer(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One answer; use the field the item's `answer_with` names. An empty answer clears a saved one."""

    choice: OptionKey | None = None
    choices: list[OptionKey] | None = None
    most: OptionKey | None = None
    least: OptionKey | None = None
    ratings: dict[OptionKey, int] | None = None
    value: int | None = None
    order: list[OptionKey] | None = None
    text: Annotated[str, msgspec.Meta(max_length=MAX_TEXT, pattern=r"^[^\x00]*$")] | None = None


class AnswerRule(msgspec.Struct, frozen=True):
    """What an answer to an item must fit: the item's type (whose rules apply), how it is answered,
    with which option keys (sorted: the order shown does not matter to validation), on how many
    points, in how many characters."""

    type: ItemType
    answer_with: AnswerWith
    keys: tuple[str, ...] = ()
    rating_points: int | None = None
    scale_points: int | None = None
    max_length: int | None = None


def answer_rule(view: CandidateItem) -> AnswerRule:
    return AnswerRule(
        view.type,
        view.answer_with,
        tuple(sorted(option.key for option in view.options or [])),
        view.rating_points,
        view.scale_points,
        view.max_length,
    )
