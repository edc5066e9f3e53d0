"""An attempt's form: which items, in which order, with which option order. Pure: no I/O.

Drawn once at start from a per-attempt seed and stored with the attempt, so a resumed
attempt on another device shows exactly the same form, and the draw can be replayed.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping
from typing import Literal

import msgspec

from service.assessments.model import AssessmentContent, pretest_codes
from service.items.views import Answer, CandidateItem, is_empty


class FormItem(msgspec.Struct, frozen=True):
    """What the draw needs to know of one pinned item version."""

    code: str
    version: int
    primary_indicator: str
    option_keys: tuple[str, ...]
    # "always" for ordering items (the authored order is the answer), "allowed" where the author
    # permits it and the assessment shuffles options, "never" otherwise
    shuffle_options: Literal["always", "allowed", "never"]
    # an order the shuffle must not show (an ordering item's answer)
    avoid_order: tuple[str, ...] | None = None


class Placement(msgspec.Struct, frozen=True):
    """One item of an attempt's form, as stored with the attempt."""

    section: str
    code: str
    version: int
    option_order: list[str] | None


class FrozenItem(msgspec.Struct):
    """One item of a form as the candidate sees it: its section, pinned version and view (options
    in the form's order). `view.ref` is the item code."""

    section: str
    version: int
    view: CandidateItem


def _balanced_draw(pool: list[FormItem], n: int, rng: random.Random) -> list[FormItem]:
    """`n` items spread over indicators: round-robin over the pool's indicators, each in random order."""
    by_indicator: dict[str, list[FormItem]] = defaultdict(list)
    for item in pool:
        by_indicator[item.primary_indicator].append(item)
    queues = [rng.sample(items, len(items)) for _, items in sorted(by_indicator.items())]
    rng.shuffle(queues)
    drawn: list[FormItem] = []
    while len(drawn) < n:
        for queue in queues:
            if queue and len(drawn) < n:
                drawn.append(queue.pop())
    return drawn


def draw_form(content: AssessmentContent, items: dict[str, FormItem], seed: int) -> list[Placement]:
    """The form for one attempt. `items` holds every item the (published) assessment pins, by code."""
    rng = random.Random(seed)
    form: list[Placement] = []
    for section in content.sections:
        chosen = [items[ref.code] for ref in section.items]
        if section.pool is not None:
            pool = [items[ref.code] for ref in section.pool.items]
            draw = min(section.pool.draw, len(pool))
            chosen += (
                _balanced_draw(pool, draw, rng)
                if section.pool.balance_by_indicator
                else rng.sample(pool, draw)
            )
        if section.adaptive is not None:  # every pool and pretest item; delivery shows them one at a time
            chosen += [items[ref.code] for ref in section.adaptive.items]
            if section.adaptive.pretest is not None:
                chosen += [items[ref.code] for ref in section.adaptive.pretest.items]
        elif section.shuffle_items:
            rng.shuffle(chosen)
        for item in chosen:
            order = None
            if item.option_keys and (
                item.shuffle_options == "always"
                or (item.shuffle_options == "allowed" and content.shuffle_options)
            ):
                order = rng.sample(list(item.option_keys), len(item.option_keys))
                while item.avoid_order is not None and len(order) > 1 and tuple(order) == item.avoid_order:
                    order = rng.sample(list(item.option_keys), len(item.option_keys))
            form.append(Placement(section.code, item.code, item.version, order))
    return form


def _administered(
    content: AssessmentContent, form: list[Placement], answers: Mapping[str, Answer]
) -> list[Placement]:
    """The form's items a candidate was given: every item, except in an adaptive section, whose form
    holds its whole pool (and pretest items) but which administers only the items the candidate
    answered in turn (an item not shown cannot be answered; the current one, unanswered at
    submission, was not given)."""
    adaptive = {section.code for section in content.sections if section.adaptive is not None}
    if not adaptive:
        return form
    return [
        p for p in form if p.section not in adaptive or (p.code in answers and not is_empty(answers[p.code]))
    ]


def scored_placements(
    content: AssessmentContent, form: list[Placement], answers: Mapping[str, Answer]
) -> list[Placement]:
    """The items a score counts: the items administered (`_administered`) but the unscored pretest
    items (`pretest_codes`)."""
    unscored = pretest_codes(content)
    return [p for p in _administered(content, form, answers) if p.code not in unscored]


def pretest_placements(
    content: AssessmentContent, form: list[Placement], answers: Mapping[str, Answer]
) -> list[Placement]:
    """The unscored pretest items administered: kept beside the score for calibrations, counted in
    nothing. In a fixed section or a pool draw an unanswered one is omitted (as a scored item
    would be); in an adaptive section only the answered ones were given."""
    unscored = pretest_codes(content)
    if not unscored:
        return []
    return [p for p in _administered(content, form, answers) if p.code in unscored]
