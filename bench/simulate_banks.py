"""Simulate candidates over every shipped item bank and print its classical item statistics.

    ./dev python bench/simulate_banks.py [--candidates 2000] [--seed 1]

Each simulated candidate has a general ability plus a smaller part per top-level dimension
(theta_d = 0.8 g + 0.6 e_d). Answers come from an IRT model whose parameters are set by item type
and an intended difficulty spread evenly over the bank's knowledge items (b from -1.3 to +0.9):

- single choice: 3PL, a = 1.2, c = 1/options; a wrong answer picks a distractor at random;
- multiple choice: each option judged right with the 2PL probability (a = 1.0), its k-th root
  for all-or-nothing items of k options (so the whole pattern has the intended facility);
- situational judgement: a nominal model, P(option) ~ exp(1.6 * theta * keyed weighted credit),
  so abler candidates favour better-keyed options; most/least names the least from the reverse;
  `rate` gives each option its keyed rating plus noise that shrinks with ability;
- Likert: graded, value = 3 + 1.1 theta + noise, flipped for reverse-keyed statements;
- ordering: the keyed order with a number of adjacent swaps that falls with ability;
- open response: an agreed rating of round(1.5 + theta) levels, as a share of the scale.

Every candidate takes every item; each attempt is scored by the real engine
(`service.scoring.engine.score`) and the item-statistics job's pure core
(`service.scoring.statistics.item_statistics`) computes facility, corrected point-biserial and
alpha per dimension. Since the model makes every item monotone in ability, no item should show a
negative discrimination; facility of the knowledge items should fall between .2 and .9.

This proves the pipeline on the shipped content, not the items: real calibration needs real
responses. No database: the job's SQL only feeds these same functions.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from datetime import UTC, datetime

import msgspec

from service.items.model import (
    Item,
    Likert,
    MultipleChoice,
    OpenResponse,
    Ordering,
    SingleChoice,
    SituationalJudgement,
    option_keys,
)
from service.items.samples import ITEMS_DIR, sample_bank
from service.items.views import Answer
from service.rubrics.model import walk_indicators
from service.rubrics.templates import get_template
from service.scoring.engine import AgreedRating, ScoredItem, ScoringInput, score
from service.scoring.statistics import item_statistics

KNOWLEDGE = (SingleChoice, MultipleChoice)


def logistic(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def weighted_credit(item: SituationalJudgement) -> dict[str, float]:
    weights = {loading.indicator: loading.weight for loading in item.loadings}
    return {
        entry.option: sum(weights[code] * credit for code, credit in entry.credit.items()) / item.points
        for entry in item.key.options
    }


def pick(weights: dict[str, float], rng: random.Random) -> str:
    keys = list(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


def answer(
    item: Item, theta: float, difficulty: float, rng: random.Random
) -> tuple[dict | None, float | None]:  # type: ignore[type-arg]
    """An answer dict (None: omitted) and, for an open response, the agreed rating as a share."""
    keys = option_keys(item)
    if isinstance(item, SingleChoice):
        guess = 1 / len(keys)
        right = guess + (1 - guess) * logistic(1.2 * (theta - difficulty))
        if rng.random() < right:
            return {"choice": item.key.correct}, None
        return {"choice": rng.choice([k for k in keys if k != item.key.correct])}, None
    if isinstance(item, MultipleChoice):
        judged = logistic(1.0 * (theta - difficulty))
        if item.key.partial_credit == "all_or_nothing":  # intended facility is for the whole pattern
            judged = judged ** (1 / len(keys))
        chosen = [k for k in keys if (rng.random() < judged) == (k in item.key.correct)]
        return {"choices": chosen or [rng.choice(keys)]}, None
    if isinstance(item, SituationalJudgement):
        credit = weighted_credit(item)
        if item.format == "rate":
            spread = 1.5 * (1 - logistic(theta))
            ratings = {
                k: min(
                    item.rating_points,
                    max(1, round(1 + (item.rating_points - 1) * credit[k] + rng.gauss(0, spread))),
                )
                for k in keys
            }
            return {"ratings": ratings}, None
        most = pick({k: math.exp(1.6 * theta * (credit[k] - 0.5) * 2) for k in keys}, rng)
        if item.format == "best":
            return {"choice": most}, None
        least = pick({k: math.exp(-1.6 * theta * (credit[k] - 0.5) * 2) for k in keys if k != most}, rng)
        return {"most": most, "least": least}, None
    if isinstance(item, Likert):
        value = min(item.scale_points, max(1, round(3 + 1.1 * theta + rng.gauss(0, 0.8))))
        return {"value": item.scale_points + 1 - value if item.key.reverse else value}, None
    if isinstance(item, Ordering):
        order = list(item.key.order)
        for _ in range(max(0, round(rng.gauss(2 - 1.5 * theta, 1)))):
            i = rng.randrange(len(order) - 1)
            order[i], order[i + 1] = order[i + 1], order[i]
        return {"order": order}, None
    if isinstance(item, OpenResponse):
        return {"text": "simulated"}, None
    return None, None


def simulate(code: str, candidates: int, seed: int) -> None:
    template = get_template(code)
    framework = template.content
    items = list(sample_bank(code).items)
    dimension_of = {}
    for pointer, _dimension, indicator in walk_indicators(framework):
        dimension_of[indicator.code] = pointer.split("/")[2]  # /dimensions/<i>/...: the top-level index
    top = [dimension.code for dimension in framework.dimensions]
    knowledge = [item for item in items if isinstance(item, KNOWLEDGE)]
    difficulty = {item.code: -1.3 + 2.2 * i / max(1, len(knowledge) - 1) for i, item in enumerate(knowledge)}
    levels = len(framework.levels)
    rng = random.Random(seed)
    scored = [ScoredItem(1, item) for item in items]
    attempts = []
    began = time.perf_counter()
    for _ in range(candidates):
        general = rng.gauss(0, 1)
        theta = {d: 0.8 * general + 0.6 * rng.gauss(0, 1) for d in top}
        answers, ratings = {}, {}
        for item in items:
            heaviest = max(item.loadings, key=lambda loading: loading.weight).indicator
            ability = theta[top[int(dimension_of[heaviest])]]
            given, _ = answer(item, ability, difficulty.get(item.code, 0.0), rng)
            if given is not None:
                answers[item.code] = msgspec.convert(given, Answer)
            if isinstance(item, OpenResponse):
                ratings[item.code] = AgreedRating(min(levels, max(0, round(1.5 + ability))) / levels, ["sim"])
        document = score(ScoringInput(framework, template.content_hash, scored, answers, ratings))
        attempts.append((document, answers))
    statistics = item_statistics(attempts)
    elapsed = time.perf_counter() - began

    by_code = {item.code: item for item in items}
    facility = {s.item: s.facility for s in statistics.items if isinstance(by_code[s.item], KNOWLEDGE)}
    outside = sorted(code for code, f in facility.items() if f is None or not 0.2 <= f <= 0.9)
    discriminations = [s.discrimination for s in statistics.items if s.discrimination is not None]
    negative = [s.item for s in statistics.items if s.flagged]
    print(
        f"\n{code} (template {template.version}): {len(items)} items, {statistics.attempts} simulated "
        f"candidates, scored and analysed in {elapsed:.1f} s"
    )
    print(
        f"  knowledge facility: {min(facility.values()):.2f} to {max(facility.values()):.2f} over "
        f"{len(facility)} items; outside .20-.90: {', '.join(outside) or 'none'}"
    )
    print(
        f"  corrected point-biserial: {min(discriminations):.2f} to {max(discriminations):.2f}; "
        f"negative: {', '.join(negative) or 'none'}"
    )
    for reliability in statistics.dimensions:
        alpha = "n/a" if reliability.alpha is None else f"{reliability.alpha:.2f}"
        print(f"  dimension {reliability.dimension}: alpha {alpha} over {reliability.items} items")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC   ./dev python bench/simulate_banks.py "
        f"--candidates {args.candidates} --seed {args.seed}"
    )
    for path in sorted(ITEMS_DIR.glob("*/items.json")):
        simulate(path.parent.name, args.candidates, args.seed)


if __name__ == "__main__":
    main()
