"""What a candidate sees of an item, and what a candidate may answer. Pure: no I/O.

`candidate_view` copies visible fields one by one into `CandidateItem`, a struct that has
no field for any scoring material, so nothing of a key can reach a candidate payload.
`check_answer` validates an answer against that view alone (the attempt stores the view), or
rather against its `AnswerRule`: the few facts validation needs, equal for every attempt that
shows the same item version, so that a worker caching them for thousands of attempts running
at once holds one small copy per item instead of a copy of every item's text per attempt.

What differs by item type (the view's fields, the checks of a non-empty answer) is the type's
`ItemKind` (`service.items.kinds`); the shapes themselves are in `service.items.answers`.
"""

from __future__ import annotations

import msgspec

from service.errors import FieldError
from service.i18n import msg
from service.items.answers import (
    MAX_TEXT,
    Answer,
    AnswerRule,
    AnswerWith,
    CandidateItem,
    CandidateOption,
    answer_rule,
)
from service.items.base import ItemType, SjtFormat
from service.items.kinds import kind_named, kind_of
from service.items.model import Item
from service.rubrics.localize import choose
from service.rubrics.model import Localized

__all__ = [
    "MAX_TEXT",
    "Answer",
    "AnswerRule",
    "AnswerWith",
    "CandidateItem",
    "CandidateOption",
    "RenderedItem",
    "RenderedOption",
    "answer_rule",
    "candidate_view",
    "check_answer",
    "is_empty",
    "rendered_view",
    "shuffles_options",
]


class RenderedOption(msgspec.Struct, omit_defaults=True):
    key: str
    text: str
    image: str | None = None
    image_alt: str | None = None


class RenderedItem(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A `CandidateItem` in one language (a preview): each text in the negotiated language, falling
    back to zh-CN, then en, where the item lacks it."""

    ref: str
    type: ItemType
    stem: str
    scenario: str | None = None
    image: str | None = None
    image_alt: str | None = None
    points: float = 1.0
    options: list[RenderedOption] | None = None
    answer_with: AnswerWith
    format: SjtFormat | None = None
    rating_points: int | None = None
    scale_points: int | None = None
    scale_labels: list[str] | None = None
    max_length: int | None = None
    task: str | None = None


def rendered_view(view: CandidateItem, locale: str) -> RenderedItem:
    """`view` with every localized text replaced by its text in `locale` (or the fallback)."""

    def text(localized: Localized) -> str:
        return next(iter(one_language(localized, locale).values()))

    return RenderedItem(
        ref=view.ref,
        type=view.type,
        stem=text(view.stem),
        scenario=text(view.scenario) if view.scenario else None,
        image=view.image,
        image_alt=text(view.image_alt) if view.image_alt else None,
        points=view.points,
        options=[
            RenderedOption(o.key, text(o.text), o.image, text(o.image_alt) if o.image_alt else None)
            for o in view.options
        ]
        if view.options is not None
        else None,
        answer_with=view.answer_with,
        format=view.format,
        rating_points=view.rating_points,
        scale_points=view.scale_points,
        scale_labels=[text(label) for label in view.scale_labels] if view.scale_labels is not None else None,
        max_length=view.max_length,
        task=view.task,
    )


def one_language(localized: Localized, locale: str) -> Localized:
    """The text in `locale` only (or its fallback: the same rule as `rendered_view`), still keyed by
    its language, so a client reads it exactly as it reads a bilingual text."""
    tag = choose(list(localized), [locale])
    return {tag: localized[tag]}


def in_one_language(view: CandidateItem, locale: str) -> CandidateItem:
    """`view` with every localized text reduced to the one `rendered_view` would show: about half the
    bytes of a bilingual form, for clients on metered networks (`?lang=` on start and resume)."""
    return msgspec.structs.replace(
        view,
        stem=one_language(view.stem, locale),
        scenario=one_language(view.scenario, locale) if view.scenario else None,
        image_alt=one_language(view.image_alt, locale) if view.image_alt else None,
        options=[
            msgspec.structs.replace(
                o,
                text=one_language(o.text, locale),
                image_alt=one_language(o.image_alt, locale) if o.image_alt else None,
            )
            for o in view.options
        ]
        if view.options is not None
        else None,
        scale_labels=[one_language(label, locale) for label in view.scale_labels]
        if view.scale_labels is not None
        else None,
    )


_FIELDS_FOR: dict[AnswerWith, set[str]] = {
    "choice": {"choice"},
    "choices": {"choices"},
    "most_least": {"most", "least"},
    "ratings": {"ratings"},
    "value": {"value"},
    "order": {"order"},
    "text": {"text"},
}


def candidate_view(item: Item, option_order: list[str] | None = None) -> CandidateItem:
    """The item as a candidate sees it, options in `option_order` (default: as authored)."""
    return kind_of(item).view(item, option_order)


def shuffles_options(item: Item) -> bool:
    """Ordering items are always shuffled (the authored order is the answer); others when the author allows."""
    return kind_of(item).shuffle(item) != "never"


def is_empty(answer: Answer) -> bool:
    return all(value is None for value in msgspec.structs.astuple(answer))


def check_answer(view: AnswerRule, answer: Answer, pointer: str = "/answer") -> list[FieldError]:
    """Problems with `answer` to the item `view` rules; an empty answer (clearing) has none."""
    given = {name for name, value in msgspec.structs.asdict(answer).items() if value is not None}
    allowed = _FIELDS_FOR[view.answer_with]
    errors = [
        FieldError(
            msg(
                "this item is answered with {fields}, not {name}",
                fields=" and ".join(sorted(allowed)),
                name=name,
            ),
            f"{pointer}/{name}",
        )
        for name in sorted(given - allowed)
    ]
    if errors or not given:
        return errors
    return kind_named(view.type).check(view, answer, pointer)
