"""What a candidate sees of an item, and what a candidate may answer. Pure: no I/O.

`candidate_view` copies visible fields one by one into `CandidateItem`, a struct that has
no field for any scoring material, so nothing of a key can reach a candidate payload.
`check_answer` validates an answer against that view alone (the attempt stores the view), or
rather against its `AnswerRule`: the few facts validation needs, equal for every attempt that
shows the same item version, so that a worker caching them for thousands of attempts running
at once holds one small copy per item instead of a copy of every item's text per attempt.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from service.errors import FieldError
from service.i18n import msg
from service.items.model import (
    Item,
    ItemType,
    Likert,
    MultipleChoice,
    OpenResponse,
    Option,
    OptionKey,
    Ordering,
    SingleChoice,
    SituationalJudgement,
    SjtFormat,
    item_type,
)
from service.rubrics.localize import choose
from service.rubrics.model import Localized

MAX_TEXT = 20_000


class CandidateOption(msgspec.Struct, omit_defaults=True):
    key: str
    text: Localized
    image: str | None = None  # GET /v1/images/{image}


class CandidateItem(msgspec.Struct, omit_defaults=True, kw_only=True):
    """An item as a candidate sees it; `ref` names it within the attempt."""

    ref: str
    type: ItemType
    stem: Localized
    scenario: Localized | None = None
    image: str | None = None  # shown with the stem: GET /v1/images/{image}
    points: float = 1.0
    options: list[CandidateOption] | None = None
    answer_with: Literal["choice", "choices", "most_least", "ratings", "value", "order", "text"]
    format: SjtFormat | None = None
    rating_points: int | None = None
    scale_points: int | None = None
    scale_labels: list[Localized] | None = None
    max_length: int | None = None
    task: str | None = None


class RenderedOption(msgspec.Struct, omit_defaults=True):
    key: str
    text: str
    image: str | None = None


class RenderedItem(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A `CandidateItem` in one language (a preview): each text in the negotiated language, falling
    back to zh-CN, then en, where the item lacks it."""

    ref: str
    type: ItemType
    stem: str
    scenario: str | None = None
    image: str | None = None
    points: float = 1.0
    options: list[RenderedOption] | None = None
    answer_with: Literal["choice", "choices", "most_least", "ratings", "value", "order", "text"]
    format: SjtFormat | None = None
    rating_points: int | None = None
    scale_points: int | None = None
    scale_labels: list[str] | None = None
    max_length: int | None = None
    task: str | None = None


def rendered_view(view: CandidateItem, locale: str) -> RenderedItem:
    """`view` with every localized text replaced by its text in `locale` (or the fallback)."""

    def text(localized: Localized) -> str:
        return localized[choose(list(localized), [locale])]

    return RenderedItem(
        ref=view.ref,
        type=view.type,
        stem=text(view.stem),
        scenario=text(view.scenario) if view.scenario else None,
        image=view.image,
        points=view.points,
        options=[RenderedOption(o.key, text(o.text), o.image) for o in view.options]
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


_FIELDS_FOR = {
    "choice": {"choice"},
    "choices": {"choices"},
    "most_least": {"most", "least"},
    "ratings": {"ratings"},
    "value": {"value"},
    "order": {"order"},
    "text": {"text"},
}


def _options(options: list[Option], order: list[str] | None) -> list[CandidateOption]:
    by_key = {option.key: option for option in options}
    keys = order if order is not None else [option.key for option in options]
    return [CandidateOption(key, by_key[key].text, by_key[key].image) for key in keys]


def candidate_view(item: Item, option_order: list[str] | None = None) -> CandidateItem:
    """The item as a candidate sees it, options in `option_order` (default: as authored)."""
    common: dict[str, Any] = {
        "ref": item.code,
        "type": item_type(item),
        "stem": item.stem,
        "scenario": item.scenario,
        "image": item.image,
        "points": item.points,
    }
    if isinstance(item, SingleChoice):
        return CandidateItem(**common, options=_options(item.options, option_order), answer_with="choice")
    if isinstance(item, MultipleChoice):
        return CandidateItem(**common, options=_options(item.options, option_order), answer_with="choices")
    if isinstance(item, SituationalJudgement):
        answer_with = {"best": "choice", "most_least": "most_least", "rate": "ratings"}[item.format]
        return CandidateItem(
            **common,
            options=_options(item.options, option_order),
            answer_with=answer_with,  # type: ignore[arg-type]
            format=item.format,
            rating_points=item.rating_points if item.format == "rate" else None,
        )
    if isinstance(item, Likert):
        return CandidateItem(
            **common,
            answer_with="value",
            scale_points=item.scale_points,
            scale_labels=item.scale_labels or None,
        )
    if isinstance(item, Ordering):
        return CandidateItem(**common, options=_options(item.options, option_order), answer_with="order")
    if isinstance(item, OpenResponse):
        return CandidateItem(**common, answer_with="text", max_length=item.max_length, task=item.task)
    raise TypeError(f"unknown item type {type(item).__name__}")


def shuffles_options(item: Item) -> bool:
    """Ordering items are always shuffled (the authored order is the answer); others when the author allows."""
    if isinstance(item, Ordering):
        return True
    return bool(getattr(item, "shuffle_options", False))


def is_empty(answer: Answer) -> bool:
    return all(value is None for value in msgspec.structs.astuple(answer))


class AnswerRule(msgspec.Struct, frozen=True):
    """What an answer to an item must fit: how it is answered, with which option keys (sorted: the
    order shown does not matter to validation), on how many points, in how many characters."""

    answer_with: Literal["choice", "choices", "most_least", "ratings", "value", "order", "text"]
    keys: tuple[str, ...] = ()
    rating_points: int | None = None
    scale_points: int | None = None
    max_length: int | None = None


def answer_rule(view: CandidateItem) -> AnswerRule:
    return AnswerRule(
        view.answer_with,
        tuple(sorted(option.key for option in view.options or [])),
        view.rating_points,
        view.scale_points,
        view.max_length,
    )


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
    keys = view.keys

    def known(key: str, where: str) -> list[FieldError]:
        return (
            []
            if key in keys
            else [FieldError(msg("option '{key}' does not exist in this item", key=key), where)]
        )

    if view.answer_with == "choice":
        errors += known(answer.choice, f"{pointer}/choice")  # type: ignore[arg-type]
    elif view.answer_with == "choices":
        for i, key in enumerate(answer.choices or []):
            errors += known(key, f"{pointer}/choices/{i}")
        if len(set(answer.choices or [])) != len(answer.choices or []):
            errors.append(FieldError(msg("an option is chosen twice"), f"{pointer}/choices"))
    elif view.answer_with == "most_least":
        for name in ("most", "least"):
            value = getattr(answer, name)
            if value is not None:
                errors += known(value, f"{pointer}/{name}")
        if answer.most is not None and answer.most == answer.least:
            errors.append(
                FieldError(msg("the most and least likely responses must differ"), f"{pointer}/least")
            )
    elif view.answer_with == "ratings":
        for key, rating in (answer.ratings or {}).items():
            errors += known(key, f"{pointer}/ratings/{key}")
            if not 1 <= rating <= (view.rating_points or 0):
                errors.append(
                    FieldError(
                        msg("rate from 1 to {points}", points=view.rating_points), f"{pointer}/ratings/{key}"
                    )
                )
    elif view.answer_with == "value":
        if not 1 <= (answer.value or 0) <= (view.scale_points or 0):
            errors.append(
                FieldError(
                    msg("answer with a point from 1 to {points}", points=view.scale_points),
                    f"{pointer}/value",
                )
            )
    elif view.answer_with == "order":
        if sorted(answer.order or []) != sorted(keys):
            errors.append(
                FieldError(msg("put every step in the order, each exactly once"), f"{pointer}/order")
            )
    elif view.answer_with == "text":
        if len(answer.text or "") > (view.max_length or MAX_TEXT):
            errors.append(
                FieldError(msg("at most {limit} characters", limit=view.max_length), f"{pointer}/text")
            )
    return errors
