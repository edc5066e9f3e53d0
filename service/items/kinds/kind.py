"""What an item type is made of besides its struct: four behaviours, and the helpers they share.
Pure: no I/O.

An `ItemKind` holds, for one item type:
- `view`: the item as a candidate sees it (a `CandidateItem`, which has no field for a key);
- `check`: the problems of a candidate's answer, against the `AnswerRule` of the view (delivery);
- `credit`: the share of the item's points an answer earns, per loaded indicator (scoring);
- `validate`: the problems of an authored item's own fields, its key above all (authoring).
Checks every item shares (loadings, option keys, the answer's fields) stay with their callers:
`service.items.validation`, `service.items.views.check_answer`.
"""

from __future__ import annotations

from typing import ClassVar, Generic, Literal, TypeVar

from service.errors import FieldError
from service.i18n import msg
from service.items.answers import MAX_TEXT, Answer, AnswerRule, AnswerWith, CandidateItem, CandidateOption
from service.items.base import ItemBase, ItemType, Option, SjtFormat
from service.rubrics.model import Localized

ItemT = TypeVar("ItemT", bound=ItemBase)
Shuffle = Literal["always", "allowed", "never"]


class Credit:
    """Fractions per indicator code, and why."""

    __slots__ = ("fractions", "why")

    def __init__(self, fractions: dict[str, float], why: str) -> None:
        self.fractions, self.why = fractions, why


class ItemKind(Generic[ItemT]):
    """One item type's behaviours; a subclass per type, registered in `service.items.kinds`."""

    tag: ClassVar[ItemType]
    struct: type[ItemT]
    # scored from raters' agreed rating, not from the answer: pending until one is agreed
    rated: ClassVar[bool] = False

    def view(self, item: ItemT, option_order: list[str] | None) -> CandidateItem:
        """The item as a candidate sees it, options in `option_order` (default: as authored)."""
        raise NotImplementedError

    def check(self, rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
        """Problems with a non-empty `answer` of the fields `rule.answer_with` names."""
        raise NotImplementedError

    def credit(self, item: ItemT, answer: Answer, rating: float | None) -> Credit:
        """What `answer` earns; `rating` is the agreed rating (a share, 0-1) of a rated type."""
        raise NotImplementedError

    def validate(self, item: ItemT) -> list[FieldError]:
        """Problems with the item's own fields (its key, its scale); none by default."""
        return []

    def shuffle(self, item: ItemT) -> Shuffle:
        """Whether a form may show the options in another order than authored."""
        return "allowed" if getattr(item, "shuffle_options", False) else "never"

    def avoid_order(self, item: ItemT) -> tuple[str, ...] | None:
        """An option order a shuffle must not produce (it would give the answer away)."""
        return None

    def texts(self, item: ItemT) -> list[tuple[str, Localized]]:
        """The type's own candidate- or rater-facing texts (beyond stem and scenario), with where
        each is: the bank's language checks read them."""
        return []

    def keyed_options(self, item: ItemT) -> set[str]:
        """The options a test-wise candidate would have to find (the bank's longest-key check)."""
        return set()

    # helpers for the subclasses

    def candidate(
        self,
        item: ItemT,
        *,
        answer_with: AnswerWith,
        options: list[CandidateOption] | None = None,
        format: SjtFormat | None = None,
        rating_points: int | None = None,
        scale_points: int | None = None,
        scale_labels: list[Localized] | None = None,
        max_length: int | None = None,
        task: str | None = None,
    ) -> CandidateItem:
        return CandidateItem(
            ref=item.code,
            type=self.tag,
            stem=item.stem,
            scenario=item.scenario,
            image=item.image,
            image_alt=item.image_alt,
            points=item.points,
            options=options,
            answer_with=answer_with,
            format=format,
            rating_points=rating_points,
            scale_points=scale_points,
            scale_labels=scale_labels,
            max_length=max_length,
            task=task,
        )


def candidate_options(options: list[Option], order: list[str] | None) -> list[CandidateOption]:
    by_key = {option.key: option for option in options}
    keys = order if order is not None else [option.key for option in options]
    return [CandidateOption(key, by_key[key].text, by_key[key].image, by_key[key].image_alt) for key in keys]


def option_texts(options: list[Option]) -> list[tuple[str, Localized]]:
    return [(f"options/{option.key}", option.text) for option in options]


def same_credit(item: ItemBase, fraction: float, why: str) -> Credit:
    """The same fraction for every loaded indicator."""
    return Credit({loading.indicator: fraction for loading in item.loadings}, why)


def unknown_option(key: str, keys: set[str], pointer: str) -> list[FieldError]:
    """An authored key naming an option the item does not have."""
    if key in keys:
        return []
    return [
        FieldError(
            msg(
                "option '{key}' does not exist (options: {options})", key=key, options=", ".join(sorted(keys))
            ),
            pointer,
        )
    ]


# Answer checks, one per way of answering (several item types answer the same way).


def _known(rule: AnswerRule, key: str, where: str) -> list[FieldError]:
    return (
        []
        if key in rule.keys
        else [FieldError(msg("option '{key}' does not exist in this item", key=key), where)]
    )


def check_choice(rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
    return _known(rule, answer.choice or "", f"{pointer}/choice")


def check_choices(rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, key in enumerate(answer.choices or []):
        errors += _known(rule, key, f"{pointer}/choices/{i}")
    if len(set(answer.choices or [])) != len(answer.choices or []):
        errors.append(FieldError(msg("an option is chosen twice"), f"{pointer}/choices"))
    return errors


def check_most_least(rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for name, value in (("most", answer.most), ("least", answer.least)):
        if value is not None:
            errors += _known(rule, value, f"{pointer}/{name}")
    if answer.most is not None and answer.most == answer.least:
        errors.append(FieldError(msg("the most and least likely responses must differ"), f"{pointer}/least"))
    return errors


def check_ratings(rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for key, rating in (answer.ratings or {}).items():
        errors += _known(rule, key, f"{pointer}/ratings/{key}")
        if not 1 <= rating <= (rule.rating_points or 0):
            errors.append(
                FieldError(
                    msg("rate from 1 to {points}", points=rule.rating_points), f"{pointer}/ratings/{key}"
                )
            )
    return errors


def check_value(rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
    if 1 <= (answer.value or 0) <= (rule.scale_points or 0):
        return []
    return [
        FieldError(
            msg("answer with a point from 1 to {points}", points=rule.scale_points),
            f"{pointer}/value",
        )
    ]


def check_order(rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
    if sorted(answer.order or []) == sorted(rule.keys):
        return []
    return [FieldError(msg("put every step in the order, each exactly once"), f"{pointer}/order")]


def check_text(rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
    if len(answer.text or "") <= (rule.max_length or MAX_TEXT):
        return []
    return [FieldError(msg("at most {limit} characters", limit=rule.max_length), f"{pointer}/text")]
