"""Likert: a self-report statement on an agreement scale; credit rises with agreement (or falls,
reverse-keyed)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from service.errors import FieldError
from service.i18n import msg
from service.items.answers import Answer, AnswerRule, CandidateItem
from service.items.base import ItemBase
from service.items.kinds.kind import Credit, ItemKind, check_value, same_credit
from service.rubrics.model import Localized


class LikertKey(msgspec.Struct, forbid_unknown_fields=True):
    reverse: bool = False


class Likert(ItemBase, tag="likert", kw_only=True):
    """A self-report statement (the stem) on an agreement scale of `scale_points`, 1 = strongly disagree."""

    scale_points: Annotated[int, msgspec.Meta(ge=2, le=11)] = 5
    scale_labels: list[Localized] = msgspec.field(default_factory=list)
    key: LikertKey = msgspec.field(default_factory=LikertKey)


class LikertKind(ItemKind[Likert]):
    tag = "likert"
    struct = Likert

    def view(self, item: Likert, option_order: list[str] | None) -> CandidateItem:
        return self.candidate(
            item, answer_with="value", scale_points=item.scale_points, scale_labels=item.scale_labels or None
        )

    def check(self, rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
        return check_value(rule, answer, pointer)

    def credit(self, item: Likert, answer: Answer, rating: float | None) -> Credit:
        value, top = answer.value or 1, item.scale_points
        fraction = (top - value) / (top - 1) if item.key.reverse else (value - 1) / (top - 1)
        return same_credit(
            item, fraction, f"point {value} of {top}{' (reverse-keyed)' if item.key.reverse else ''}"
        )

    def validate(self, item: Likert) -> list[FieldError]:
        if item.scale_labels and len(item.scale_labels) != item.scale_points:
            return [
                FieldError(
                    msg("give {points} scale labels (one per point) or none", points=item.scale_points),
                    "/scale_labels",
                )
            ]
        return []

    def texts(self, item: Likert) -> list[tuple[str, Localized]]:
        return [(f"scale_labels/{i}", label) for i, label in enumerate(item.scale_labels)]


KIND = LikertKind()
