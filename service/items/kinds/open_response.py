"""Open response: a free-text answer or performance task, credited by raters' agreed rating."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from service.errors import FieldError
from service.items.answers import Answer, AnswerRule, CandidateItem
from service.items.base import ItemBase
from service.items.kinds.kind import Credit, ItemKind, check_text, same_credit
from service.rubrics.model import Localized


class OpenResponseKey(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Material for raters only: what to look for, and exemplar answers."""

    rater_notes: Localized | None = None
    exemplars: list[Localized] = msgspec.field(default_factory=list)


class OpenResponse(ItemBase, tag="open_response", kw_only=True):
    """A free-text answer or performance task, rated later against the indicators' level descriptors."""

    max_length: Annotated[int, msgspec.Meta(ge=1, le=20_000)] = 4000
    task: Literal["free_text", "write_prompt", "critique_output"] = "free_text"
    key: OpenResponseKey = msgspec.field(default_factory=OpenResponseKey)


class OpenResponseKind(ItemKind[OpenResponse]):
    tag = "open_response"
    struct = OpenResponse
    rated = True

    def view(self, item: OpenResponse, option_order: list[str] | None) -> CandidateItem:
        return self.candidate(item, answer_with="text", max_length=item.max_length, task=item.task)

    def check(self, rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
        return check_text(rule, answer, pointer)

    def credit(self, item: OpenResponse, answer: Answer, rating: float | None) -> Credit:
        if rating is None:
            raise ValueError("an open response is scored from its agreed rating")
        return same_credit(item, rating, f"rated {rating:g} of 1")

    def texts(self, item: OpenResponse) -> list[tuple[str, Localized]]:
        texts: list[tuple[str, Localized]] = []
        if item.key.rater_notes is not None:
            texts.append(("key/rater_notes", item.key.rater_notes))
        texts += [(f"key/exemplars/{i}", text) for i, text in enumerate(item.key.exemplars)]
        return texts


KIND = OpenResponseKind()
