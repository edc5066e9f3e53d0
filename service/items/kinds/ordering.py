"""Ordering: put the steps (options) in order. Always shuffled, and never shown in the right order."""

from __future__ import annotations

from itertools import combinations
from typing import Literal

import msgspec

from service.errors import FieldError
from service.i18n import msg
from service.items.answers import Answer, AnswerRule, CandidateItem
from service.items.base import ItemBase, Option, OptionKey
from service.items.kinds.kind import (
    Credit,
    ItemKind,
    Shuffle,
    candidate_options,
    check_order,
    option_texts,
    same_credit,
)
from service.rubrics.model import Localized

OrderingCredit = Literal["exact", "pairwise"]


class OrderingKey(msgspec.Struct, forbid_unknown_fields=True):
    order: list[OptionKey]
    credit: OrderingCredit = msgspec.field(default="pairwise")


class Ordering(ItemBase, tag="ordering", kw_only=True):
    """Put the steps (options) in order; `pairwise` credit is the share of pairs in the right relative order."""

    options: list[Option]
    key: OrderingKey


class OrderingKind(ItemKind[Ordering]):
    tag = "ordering"
    struct = Ordering

    def view(self, item: Ordering, option_order: list[str] | None) -> CandidateItem:
        return self.candidate(
            item, options=candidate_options(item.options, option_order), answer_with="order"
        )

    def check(self, rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
        return check_order(rule, answer, pointer)

    def credit(self, item: Ordering, answer: Answer, rating: float | None) -> Credit:
        given = answer.order or []
        if item.key.credit == "exact":
            return same_credit(item, 1.0 if given == item.key.order else 0.0, f"exact: {given}")
        position = {key: n for n, key in enumerate(given)}
        pairs = list(combinations(item.key.order, 2))  # (a, b): a comes before b in the key
        kept = sum(1 for a, b in pairs if a in position and b in position and position[a] < position[b])
        return same_credit(
            item, kept / len(pairs) if pairs else 0.0, f"pairwise: {kept} of {len(pairs)} pairs in order"
        )

    def validate(self, item: Ordering) -> list[FieldError]:
        keys = {option.key for option in item.options}
        if sorted(item.key.order) != sorted(keys) or len(item.key.order) != len(keys):
            return [FieldError(msg("the key's order must name every option exactly once"), "/key/order")]
        return []

    def shuffle(self, item: Ordering) -> Shuffle:
        return "always"  # the authored order is the answer

    def avoid_order(self, item: Ordering) -> tuple[str, ...] | None:
        return tuple(item.key.order)

    def texts(self, item: Ordering) -> list[tuple[str, Localized]]:
        return option_texts(item.options)


KIND = OrderingKind()
