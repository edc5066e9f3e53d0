"""Adaptive sections in delivery: which item of an adaptive section a candidate sees now, and which
items were administered when the attempt is scored.

Nothing about the path through an adaptive section is stored. At start the attempt's form holds
every pool item (with its option order, like any form item); the items administered so far are
*replayed* from the saved answers: the first item is `next_item` of nothing given, and while the
item chosen has a (non-empty) saved answer, its response category is added and the next one is
chosen. `service.psychometrics.adaptive.next_item` is a pure function of (calibration, items given,
responses, seed), and the calibration is published (immutable) and pinned by the section, so every
request, worker and device computes the same path and the same current item. Hence:
- resuming on another device shows the same current item;
- a retried save changes nothing it has not changed already (saves of an adaptive item keep the
  first non-empty answer, see `service.delivery.attempts`), so it cannot advance twice;
- an answer cannot change once the next item is shown: the save of an administered item keeps
  the stored answer, and a save of an item not yet shown is refused;
- the score (at submission by the candidate or at the deadline, and on rescoring) counts an
  adaptive section's answered items only (`service.assessments.forms.scored_placements`): the
  percentage over the items administered, not over the pool, and not the current item left
  unanswered.

A response's category: the item's credit on its loadings (loading-weighted mean of the fractions,
which is its credit on the calibrated dimension when the item loads on that dimension only, as
adaptive pools do), placed among the calibration's category floors for the item. Items scored by
raters (open responses) have no credit before rating and are not for adaptive pools.

Pretest items (`Adaptive.pretest`): `count` of them are placed in the path at positions drawn from
the seed (`service.psychometrics.adaptive.pretest_schedule`): when the items administered so far
number one of those positions, the current item is that pretest item instead of the CAT's choice.
The CAT is asked only about the scored items and their responses (its draws are indexed by their
number), so the scored path, θ and the stop are those of the same answers without the pretest
items. They are shown, saved and fixed after moving on like every adaptive item (the state's
`items_given` counts them too: a candidate cannot tell them apart), and the score document keeps
them apart, unscored (`service.assessments.forms.pretest_placements`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.forms import FrozenItem
from service.assessments.model import AssessmentContent
from service.errors import Conflict
from service.i18n import msg
from service.items import bank
from service.items.model import Item
from service.items.views import Answer, is_empty
from service.psychometrics.adaptive import CatBank, CatSettings, next_item, pretest_schedule
from service.psychometrics.model import ItemParameters
from service.results import calibrations
from service.results.response_matrix import category_of
from service.scoring.credit import credit


class AdaptiveProgress(msgspec.Struct):
    """Where the candidate is in an adaptive section: `items_given` answered so far (`given`: their
    refs, in the order shown), the `current` item to answer (None once the section has ended), and
    why it ended (`target_se`, `max_items`, `bank_exhausted`) or `continue`. `max_items`: the
    section ends after this many items at the latest (earlier once the estimate is precise enough;
    unscored pretest items included, since the candidate cannot tell them apart), so a client can show honest progress without a total it cannot know."""

    section: str
    items_given: int
    current: str | None
    status: str
    given: list[str] = msgspec.field(default_factory=list)
    max_items: int = 0


class Prepared(msgspec.Struct):
    """One adaptive section ready for replays: its bank and the pinned items' contents."""

    code: str
    position: int
    bank: CatBank
    blueprint: dict[str, float]
    settings: CatSettings
    floors: dict[str, tuple[float, ...]]
    items: dict[str, Item]
    pretest: tuple[str, ...] = ()
    pretest_count: int = 0

    def holds(self, code: str) -> bool:
        """Whether `code` is an item of this section (of its pool or a pretest item)."""
        return code in self.items or code in self.pretest


class Path(msgspec.Struct):
    """A replay's outcome: the items administered and answered, in order, and what comes next."""

    section: str
    given: list[str]
    current: str | None
    status: str


def has_adaptive(content: AssessmentContent) -> bool:
    return any(section.adaptive is not None for section in content.sections)


# Published calibrations and pinned item versions never change, so a section's bank is kept by
# (tenant, calibration, dimension, pinned items). Filled only from reads row-level security let through.
_BANKS_MAX = 200
_banks: OrderedDict[tuple, Prepared] = OrderedDict()


async def prepare(
    conn: asyncpg.Connection, tenant_id: UUID | None, content: AssessmentContent
) -> list[Prepared]:
    """The assessment's adaptive sections with their calibrated banks."""
    prepared = []
    for position, section in enumerate(content.sections):
        adaptive = section.adaptive
        if adaptive is None:
            continue
        refs = {ref.code: ref.version for ref in adaptive.items}
        pretest = tuple(ref.code for ref in adaptive.pretest.items) if adaptive.pretest else ()
        pretest_count = adaptive.pretest.count if adaptive.pretest else 0
        key = (
            tenant_id,
            adaptive.calibration,
            adaptive.dimension,
            section.code,
            position,
            tuple(refs.items()),
            pretest,
            pretest_count,
        )
        held = _banks.get(key) if tenant_id is not None else None
        if held is None:
            pool = await calibrations.pool_parameters(conn, adaptive.calibration, adaptive.dimension)
            if pool is None:  # validated at publication; a calibration is never unpublished
                raise Conflict(msg("the calibration of section '{code}' is not available", code=section.code))
            versions = await bank.pinned_versions(conn, refs)
            items = {code: v.content for code, v in versions.items()}
            parameters: list[ItemParameters] = [p for p in pool.parameters if p.item_id in refs]
            indicators = {
                code: max(item.loadings, key=lambda loading: loading.weight).indicator
                for code, item in items.items()
            }
            held = Prepared(
                section.code,
                position,
                CatBank(parameters, indicators),
                dict(adaptive.blueprint),
                CatSettings(
                    min_items=adaptive.min_items,
                    max_items=adaptive.max_items,
                    target_se=adaptive.target_se,
                    randomesque=adaptive.randomesque,
                ),
                {code: tuple(floors) for code, floors in pool.floors.items()},
                items,
                pretest,
                pretest_count,
            )
            if tenant_id is not None:
                _banks[key] = held
                if len(_banks) > _BANKS_MAX:
                    _banks.popitem(last=False)
        prepared.append(held)
    return prepared


def category(section: Prepared, code: str, answer: Answer) -> int:
    """The response category of `answer` to item `code` (see the module docstring)."""
    item = section.items[code]
    fractions = credit(item, answer).fractions
    weights = {loading.indicator: loading.weight for loading in item.loadings}
    total = sum(weights.values())
    earned = sum(fractions.get(indicator, 0.0) * weight for indicator, weight in weights.items())
    return category_of(round(earned / total, 6) if total else 0.0, section.floors.get(code, (0.0, 1.0)))


def replay(section: Prepared, seed: int, answers: Mapping[str, Answer], after: Path | None = None) -> Path:
    """The section's path so far: pure, from the attempt's seed and saved answers. `after`: a path
    replayed earlier from a subset of these answers, which the replay continues (its items were
    decided and answered already: a save only adds answers), saving its decisions."""
    section_seed = seed * 101 + section.position
    schedule = (
        pretest_schedule(section.pretest, section.pretest_count, section.settings.min_items, section_seed)
        if section.pretest
        else {}
    )
    seeded = set(schedule.values())
    given: list[str] = list(after.given) if after else []
    scored = [code for code in given if code not in seeded]  # what the CAT sees
    responses: list[int] = [category(section, code, answers[code]) for code in scored]
    while True:
        chosen = schedule.get(len(given))
        if chosen is None:
            decision = next_item(
                section.bank,
                scored,
                responses,
                seed=section_seed,
                blueprint=section.blueprint,
                settings=section.settings,
            )
            if decision.stop or decision.next_item is None:
                return Path(section.code, given, None, decision.reason)
            chosen = decision.next_item
        answer = answers.get(chosen)
        if answer is None or is_empty(answer):
            return Path(section.code, given, chosen, "continue")
        given.append(chosen)
        if chosen not in seeded:
            scored.append(chosen)
            responses.append(category(section, chosen, answer))


def progress(section: Prepared, path: Path) -> AdaptiveProgress:
    return AdaptiveProgress(
        path.section,
        len(path.given),
        path.current,
        path.status,
        list(path.given),
        min(section.settings.max_items, len(section.bank.items)) + section.pretest_count,
    )


def shown(form: list[FrozenItem], paths: list[Path]) -> list[FrozenItem]:
    """The form as the candidate sees it now: fixed sections whole, an adaptive section's items
    administered in order and then its current item."""
    by_section = {path.section: [*path.given, *([path.current] if path.current else [])] for path in paths}
    views = {(item.section, item.view.ref): item for item in form}
    out: list[FrozenItem] = []
    done: set[str] = set()
    for item in form:
        if item.section not in by_section:
            out.append(item)
        elif item.section not in done:
            done.add(item.section)
            out += [views[(item.section, code)] for code in by_section[item.section]]
    return out


class NotShownYet(Conflict):
    """A save to an adaptive item that is not the section's current item (nor answered before)."""


def keeps_first_answer(sections: list[Prepared], paths: list[Path], item: str) -> bool:
    """Whether `item` is an adaptive item (whose save keeps the first non-empty answer). Raises
    `NotShownYet` for an adaptive item the candidate has not been shown."""
    for section, path in zip(sections, paths, strict=True):
        if section.holds(item):
            if item == path.current or item in path.given:
                return True
            raise NotShownYet(
                msg(
                    "item '{item}' of an adaptive section is not shown yet; answer the current item first",
                    item=item,
                )
            )
    return False
