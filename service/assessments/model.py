"""The assessment document: which framework version, which items in which sections, when,
for whom, for how long, and what the candidate is told afterwards.

A draft names items by code; publishing pins each to the item version current at that
moment (`version`) and pins the framework version with its content hash, so a published
assessment is the same test for every candidate for as long as it runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from service.rubrics.model import Code, Localized, Text
from service.tenancy.fields import MAX_VERSION, Category, ExternalId

Feedback = Literal["immediate", "after_window", "never"]
Minutes = Annotated[int, msgspec.Meta(ge=1, le=24 * 60, description="Minutes")]
ExtraTimeFactor = Annotated[
    float, msgspec.Meta(ge=1, le=4, description="1 = standard time; 1.5 = half as long again")
]
MAX_ITEMS = 500


class FrameworkRef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    code: Code
    version: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)]
    content_hash: str | None = None  # set on publish


class ItemRef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """`unscored`: a pretest item of a fixed section or a pool, shown like any other item but left
    out of every score (its answers go to calibrations only; see `pretest_codes`)."""

    code: Code
    version: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)] | None = (
        None  # pinned on publish; a draft may leave it open
    )
    unscored: bool = False


class Pool(msgspec.Struct, forbid_unknown_fields=True):
    """Draw `draw` of the pool's items for each attempt, spread as evenly as possible over indicators."""

    items: list[ItemRef]
    draw: Annotated[int, msgspec.Meta(ge=1)]
    balance_by_indicator: bool = True


class Pretest(msgspec.Struct, forbid_unknown_fields=True):
    """Unscored pretest items seeded into an adaptive section: `count` of `items` per attempt, drawn
    and placed by the attempt's seed (never first, spread over the part of the section every
    candidate reaches: `service.psychometrics.adaptive.pretest_schedule`). Their answers are saved
    and kept in the score document (`pretest`) for calibrations, and count in no score, θ or
    next-item choice."""

    items: Annotated[list[ItemRef], msgspec.Meta(min_length=1)]
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_ITEMS)] = 1


class Adaptive(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """A computer-adaptive section over `items`, with the item parameters of `dimension` in the
    published calibration `calibration` (pinned: a published calibration never changes). The first
    item is the most informative at θ = 0 (the prior mean); each next one the most informative at
    the EAP estimate so far, one of the `randomesque` best at random, keeping every indicator of
    `blueprint` at its minimum share of the items given; the section ends at `target_se` (once
    `min_items` were given) or at `max_items`. An answer cannot change once the next item is shown.
    `pretest`: unscored items seeded among them (the lengths count the scored items only)."""

    items: list[ItemRef]
    calibration: UUID
    dimension: Code
    min_items: Annotated[int, msgspec.Meta(ge=1, le=MAX_ITEMS)] = 5
    max_items: Annotated[int, msgspec.Meta(ge=1, le=MAX_ITEMS)] = 20
    target_se: Annotated[float, msgspec.Meta(gt=0, le=1, description="Stop at this standard error of θ")] = (
        0.3
    )
    randomesque: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5
    blueprint: dict[Code, Annotated[float, msgspec.Meta(gt=0, le=1)]] = msgspec.field(default_factory=dict)
    pretest: Pretest | None = None


class Section(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Fixed `items`, a `pool` to draw from, or an `adaptive` section (one of the three)."""

    code: Code
    title: Localized | None = None
    items: list[ItemRef] = msgspec.field(default_factory=list)
    pool: Pool | None = None
    adaptive: Adaptive | None = None
    shuffle_items: bool = False


class Window(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """When attempts may start; a running attempt ends at its own deadline."""

    opens_at: datetime | None = None
    closes_at: datetime | None = None


class Audience(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Who takes it: everyone named in `people`, and everyone who is in one of the `org_units`
    subtrees (any unit, if none is listed) and of one of the `categories` (any, if none is listed)
    when at least one unit or category is listed."""

    org_units: list[Code] = msgspec.field(default_factory=list)
    categories: list[Category] = msgspec.field(default_factory=list)
    people: list[ExternalId] = msgspec.field(default_factory=list)


class Marking(msgspec.Struct, forbid_unknown_fields=True):
    """How open responses are rated: once, or twice with a third rating when the two differ by more
    than `adjudication_gap` scale points (0 = no evidence, then one point per framework level)."""

    double: bool = False
    adjudication_gap: Annotated[int, msgspec.Meta(ge=0, le=10)] = 1


class AssessmentContent(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    code: Code
    title: Localized
    framework: FrameworkRef
    sections: list[Section]
    audience: Audience
    description: Localized | None = None
    instructions: Localized | None = None
    time_limit_minutes: Minutes | None = None
    window: Window = msgspec.field(default_factory=Window)
    attempts_allowed: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    shuffle_options: bool = True
    feedback: Feedback = "after_window"
    grace_seconds: Annotated[
        int, msgspec.Meta(ge=0, le=600, description="Answers in flight at the deadline")
    ] = 30
    marking: Marking = msgspec.field(default_factory=Marking)
    note: Text | None = None


def item_refs(content: AssessmentContent) -> list[tuple[str, ItemRef]]:
    """Every item reference with its JSON pointer."""
    refs = []
    for s, section in enumerate(content.sections):
        refs += [(f"/sections/{s}/items/{i}", ref) for i, ref in enumerate(section.items)]
        if section.pool is not None:
            refs += [(f"/sections/{s}/pool/items/{i}", ref) for i, ref in enumerate(section.pool.items)]
        if section.adaptive is not None:
            refs += [
                (f"/sections/{s}/adaptive/items/{i}", ref) for i, ref in enumerate(section.adaptive.items)
            ]
            if section.adaptive.pretest is not None:
                refs += [
                    (f"/sections/{s}/adaptive/pretest/items/{i}", ref)
                    for i, ref in enumerate(section.adaptive.pretest.items)
                ]
    return refs


def pretest_codes(content: AssessmentContent) -> frozenset[str]:
    """The assessment's unscored items: adaptive sections' pretest items and fixed or pool items
    flagged `unscored`."""
    codes = set()
    for section in content.sections:
        codes |= {ref.code for ref in section.items if ref.unscored}
        if section.pool is not None:
            codes |= {ref.code for ref in section.pool.items if ref.unscored}
        if section.adaptive is not None and section.adaptive.pretest is not None:
            codes |= {ref.code for ref in section.adaptive.pretest.items}
    return frozenset(codes)
