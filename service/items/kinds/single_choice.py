"""Single choice: one option is right. Credit 1 for it, 0 otherwise."""

from __future__ import annotations

import msgspec

from service.errors import FieldError
from service.items.answers import Answer, AnswerRule, CandidateItem
from service.items.base import ItemBase, Option, OptionKey
from service.items.kinds.kind import (
    Credit,
    ItemKind,
    candidate_options,
    check_choice,
    option_texts,
    same_credit,
    unknown_option,
)
from service.rubrics.model import Localized


class SingleChoiceKey(msgspec.Struct, forbid_unknown_fields=True):
    correct: OptionKey


class SingleChoice(ItemBase, tag="single_choice", kw_only=True):
    options: list[Option]
    key: SingleChoiceKey
    shuffle_options: bool = True


class SingleChoiceKind(ItemKind[SingleChoice]):
    tag = "single_choice"
    struct = SingleChoice

    def view(self, item: SingleChoice, option_order: list[str] | None) -> CandidateItem:
        return self.candidate(
            item, options=candidate_options(item.options, option_order), answer_with="choice"
        )

    def check(self, rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
        return check_choice(rule, answer, pointer)

    def credit(self, item: SingleChoice, answer: Answer, rating: float | None) -> Credit:
        right = answer.choice == item.key.correct
        return same_credit(
            item, 1.0 if right else 0.0, f"chose {answer.choice}: {'right' if right else 'wrong'}"
        )

    def validate(self, item: SingleChoice) -> list[FieldError]:
        return unknown_option(item.key.correct, {option.key for option in item.options}, "/key/correct")

    def texts(self, item: SingleChoice) -> list[tuple[str, Localized]]:
        return option_texts(item.options)

    def keyed_options(self, item: SingleChoice) -> set[str]:
        return {item.key.correct}


KIND = SingleChoiceKind()
