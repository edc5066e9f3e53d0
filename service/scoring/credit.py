"""Credit for one answer to one item, as a share of the item's points. Pure: no I/O.

Every rule returns a fraction in [0, 1] per loaded indicator (the same fraction for every
indicator except in situational judgement, whose options are keyed per indicator) and a
short explanation of how it was reached. Every formula, with a worked example, is in the
README's Items section ("Credit"); tests/test_scoring_formulas.py recomputes those examples.
"""

from __future__ import annotations

from itertools import combinations

from service.items.model import (
    Item,
    Likert,
    MultipleChoice,
    OpenResponse,
    Ordering,
    SingleChoice,
    SituationalJudgement,
)
from service.items.views import Answer


class Credit:
    """Fractions per indicator code, and why."""

    __slots__ = ("fractions", "why")

    def __init__(self, fractions: dict[str, float], why: str) -> None:
        self.fractions, self.why = fractions, why


def _same(item: Item, fraction: float, why: str) -> Credit:
    return Credit({loading.indicator: fraction for loading in item.loadings}, why)


def _single(item: SingleChoice, answer: Answer) -> Credit:
    right = answer.choice == item.key.correct
    return _same(item, 1.0 if right else 0.0, f"chose {answer.choice}: {'right' if right else 'wrong'}")


def _multiple(item: MultipleChoice, answer: Answer) -> Credit:
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
    return _same(item, fraction, f"{rule}: chose {sorted(chosen)}")


def _effectiveness(item: SituationalJudgement) -> dict[str, dict[str, float]]:
    """Option -> indicator -> keyed credit as a share of the item's points."""
    return {
        entry.option: {code: credit / item.points for code, credit in entry.credit.items()}
        for entry in item.key.options
    }


def _situational(item: SituationalJudgement, answer: Answer) -> Credit:
    keyed = _effectiveness(item)
    indicators = [loading.indicator for loading in item.loadings]
    if item.format == "best":
        chosen = keyed.get(answer.choice or "", {})
        return Credit({i: chosen.get(i, 0.0) for i in indicators}, f"best: chose {answer.choice}")
    if item.format == "most_least":
        most = keyed.get(answer.most or "")
        least = keyed.get(answer.least or "")
        fractions = {
            i: ((most[i] if most else 0.0) + (1.0 - least[i] if least else 0.0)) / 2 for i in indicators
        }
        return Credit(fractions, f"most_least: most {answer.most}, least {answer.least}")
    # rate: each option's rating, placed on 0..1, against its keyed effectiveness
    ratings = answer.ratings or {}
    scale = item.rating_points - 1
    fractions = {}
    for i in indicators:
        closeness = [
            1.0 - abs((ratings[o] - 1) / scale - keyed[o][i]) if o in ratings else 0.0 for o in keyed
        ]
        fractions[i] = sum(closeness) / len(closeness)
    return Credit(fractions, f"rate: {dict(sorted(ratings.items()))}")


def _likert(item: Likert, answer: Answer) -> Credit:
    value, top = answer.value or 1, item.scale_points
    fraction = (top - value) / (top - 1) if item.key.reverse else (value - 1) / (top - 1)
    return _same(item, fraction, f"point {value} of {top}{' (reverse-keyed)' if item.key.reverse else ''}")


def _ordering(item: Ordering, answer: Answer) -> Credit:
    given = answer.order or []
    if item.key.credit == "exact":
        return _same(item, 1.0 if given == item.key.order else 0.0, f"exact: {given}")
    position = {key: n for n, key in enumerate(given)}
    pairs = list(combinations(item.key.order, 2))  # (a, b): a comes before b in the key
    kept = sum(1 for a, b in pairs if a in position and b in position and position[a] < position[b])
    return _same(
        item, kept / len(pairs) if pairs else 0.0, f"pairwise: {kept} of {len(pairs)} pairs in order"
    )


def credit(item: Item, answer: Answer, rating: float | None = None) -> Credit:
    """The credit `answer` earns on `item`; open responses take the agreed `rating` (a share, 0-1)."""
    if isinstance(item, SingleChoice):
        return _single(item, answer)
    if isinstance(item, MultipleChoice):
        return _multiple(item, answer)
    if isinstance(item, SituationalJudgement):
        return _situational(item, answer)
    if isinstance(item, Likert):
        return _likert(item, answer)
    if isinstance(item, Ordering):
        return _ordering(item, answer)
    if isinstance(item, OpenResponse):
        if rating is None:
            raise ValueError("an open response is scored from its agreed rating")
        return _same(item, rating, f"rated {rating:g} of 1")
    raise TypeError(f"unknown item type {type(item).__name__}")
