"""Multiple choice: several options are right; `partial_credit` says how a partly right set is credited."""

from __future__ import annotations

from typing import Literal

import msgspec

from service.errors import FieldError
from service.i18n import msg
from service.items.answers import Answer, AnswerRule, CandidateItem
from service.items.base import ItemBase, Option, OptionKey
from service.items.kinds.kind import (
    Credit,
    ItemKind,
    candidate_options,
    check_choices,
    option_texts,
    same_credit,
    unknown_option,
)
from service.rubrics.model import Localized

PartialCredit = Literal["all_or_nothing", "per_option", "right_minus_wrong"]


class MultipleChoiceKey(msgspec.Struct, forbid_unknown_fields=True):
    correct: list[OptionKey]
    partial_credit: PartialCredit = msgspec.field(default="all_or_nothing")


class MultipleChoice(ItemBase, tag="multiple_choice", kw_only=True):
    options: list[Option]
    key: MultipleChoiceKey
    shuffle_options: bool = True


class MultipleChoiceKind(ItemKind[MultipleChoice]):
    tag = "multiple_choice"
    struct = MultipleChoice

    def view(self, item: MultipleChoice, option_order: list[str] | None) -> CandidateItem:
        return self.candidate(
            item, options=candidate_options(item.options, option_order), answer_with="choices"
        )

    def check(self, rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
        return check_choices(rule, answer, pointer)

    def credit(self, item: MultipleChoice, answer: Answer, rating: float | None) -> Credit:
        chosen, correct = set(answer.choices or []), set(item.key.correct)
        options = [option.key for option in item.options]
        rule = item.key.partial_credit
        if rule == "all_or_nothing":
            fraction = 1.0 if chosen == correct else 0.0
        elif rule == "per_option":  # each option judged: chosen if and only if it is correct
            fraction = sum((key in chosen) == (key in correct) for key in options) / len(options)
        else:  # right_minus_wrong
            right, wrong = len(chosen & correct), len(chosen - correct)
            fraction = max(0.0, (right - wrong) / len(correct))
        return same_credit(item, fraction, f"{rule}: chose {sorted(chosen)}")

    def validate(self, item: MultipleChoice) -> list[FieldError]:
        keys = {option.key for option in item.options}
        errors: list[FieldError] = []
        if not item.key.correct:
            errors.append(FieldError(msg("name at least one correct option"), "/key/correct"))
        if len(set(item.key.correct)) != len(item.key.correct):
            errors.append(FieldError(msg("an option is named twice"), "/key/correct"))
        for i, key in enumerate(item.key.correct):
            errors += unknown_option(key, keys, f"/key/correct/{i}")
        return errors

    def texts(self, item: MultipleChoice) -> list[tuple[str, Localized]]:
        return option_texts(item.options)

    def keyed_options(self, item: MultipleChoice) -> set[str]:
        return set(item.key.correct)


KIND = MultipleChoiceKind()
