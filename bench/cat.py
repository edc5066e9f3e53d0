"""Adaptive testing benchmark (service/psychometrics/adaptive.py) on simulated simulees.

A 300-item 2PL bank over 4 dimensions (75 items each; a ~ logNormal(0, 0.3), b ~ N(0, 1.2)),
each dimension's items spread over 3 indicators with a blueprint of minimum shares 0.4/0.3/0.3.
Every simulee (θ ~ N(0, 1) independently per dimension) takes one CAT per dimension: EAP,
maximum information with randomesque k, content balancing, stop at SE ≤ target after at least
`min_items`, or at `max_items`. Compared with the full fixed form (all 75 items of the
dimension, EAP). Figures per dimension-test: mean final SE, θ RMSE, mean length; max exposure
rate (share of simulees who saw the most-used item); blueprint deviation (per test, the largest
shortfall of an indicator below ⌊share · length⌋ — 0 means met — and the mean absolute
difference between achieved and blueprint shares); then the time of one `next_item` call on a
1,000-item bank with 10 items given. One process, one core.

    ./dev python bench/cat.py [--simulees 2000] [--seed 7] [--randomesque 5]

`--design bank` measures the issue's goals the way they can be met: exposure rates sum to the
mean test length, so with ~26 items from a 75-item dimension bank the *mean* rate is 0.35 and no
method can keep the highest at 0.25. There, one 300-item bank (a ~ logNormal(0, 0.3),
b ~ N(0, 1.2)) covers 4 dimensions × 3 indicators as content areas with a blueprint over the 12
indicators; the fixed form it is compared with is a 40-item form drawn by the same blueprint
(10 per dimension); the CAT stops at the fixed form's mean SE or at 20 items (half the form),
with Sympson–Hetter parameters for a ceiling of 0.25 computed on separate training simulees.

    ./dev python bench/cat.py --design bank [--simulees 2000] [--training 1000] [--iterations 12]
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.psychometrics.ability import eap_arrays
from service.psychometrics.adaptive import CatBank, CatSettings, next_item, sympson_hetter
from service.psychometrics.model import ItemParameters
from service.psychometrics.response import PackedItems

DIMENSIONS, PER_DIMENSION = 4, 75
BLUEPRINT_SHARES = (0.4, 0.3, 0.3)


def make_bank(rng: np.random.Generator, dimension: int, size: int) -> tuple[CatBank, dict[str, float]]:
    items = [
        ItemParameters(
            item_id=f"d{dimension}.q{j}",
            model="2PL",
            discrimination=float(rng.lognormal(0.0, 0.3)),
            thresholds=(float(rng.normal(0.0, 1.2)),),
        )
        for j in range(size)
    ]
    indicators = {item.item_id: f"d{dimension}.i{j % 3}" for j, item in enumerate(items)}
    blueprint = {f"d{dimension}.i{k}": share for k, share in enumerate(BLUEPRINT_SHARES)}
    return CatBank(items, indicators), blueprint


def run_cat(
    bank: CatBank,
    blueprint: dict[str, float],
    theta: float,
    seed: int,
    settings: CatSettings,
    rng: np.random.Generator,
) -> tuple[list[str], float, float]:
    administered: list[str] = []
    responses: list[int] = []
    while True:
        decision = next_item(bank, administered, responses, seed=seed, blueprint=blueprint, settings=settings)
        if decision.stop:
            return administered, decision.theta, decision.se
        item = bank.items[bank.index[decision.next_item]]  # type: ignore[index]
        p = 1.0 / (1.0 + math.exp(-item.discrimination * (theta - item.thresholds[0])))
        administered.append(item.item_id)
        responses.append(int(rng.random() < p))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--simulees", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--randomesque", type=int, default=5)
    parser.add_argument("--target-se", type=float, default=0.35)
    parser.add_argument("--min-items", type=int, default=5)
    parser.add_argument("--max-items", type=int, default=30)
    parser.add_argument("--design", choices=("per-dimension", "bank"), default="per-dimension")
    parser.add_argument("--training", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--ceiling", type=float, default=0.25)
    args = parser.parse_args()
    if args.design == "bank":
        bank_design(args)
        return
    settings = CatSettings(
        min_items=args.min_items,
        max_items=args.max_items,
        target_se=args.target_se,
        randomesque=args.randomesque,
    )
    print(
        f"bench/cat.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}, "
        f"seed {args.seed}, {args.simulees:,} simulees, {settings}"
    )
    rng = np.random.default_rng(args.seed)
    banks = [make_bank(rng, d, PER_DIMENSION) for d in range(DIMENSIONS)]
    thetas = rng.normal(0.0, 1.0, (args.simulees, DIMENSIONS))
    cat_se, cat_error, lengths, shortfalls, share_gaps = [], [], [], [], []
    full_se, full_error = [], []
    exposure: collections.Counter[str] = collections.Counter()
    began = time.perf_counter()
    for d, (bank, blueprint) in enumerate(banks):
        indicator_of = {item.item_id: bank.indicators[j] for j, item in enumerate(bank.items)}
        packed = PackedItems(bank.items)
        p = 1.0 / (1.0 + np.exp(-packed.a * (thetas[:, d : d + 1] - packed.b[:, 0])))
        full_responses = (rng.random(p.shape) < p).astype(np.float64)
        theta_full, se_full = eap_arrays(full_responses, packed)
        full_se.extend(se_full)
        full_error.extend(theta_full - thetas[:, d])
        for person in range(args.simulees):
            answers = np.random.default_rng([args.seed, d, person])
            administered, theta_hat, se = run_cat(
                bank, blueprint, float(thetas[person, d]), args.seed * 1_000_003 + person, settings, answers
            )
            exposure.update(administered)
            cat_se.append(se)
            cat_error.append(theta_hat - thetas[person, d])
            lengths.append(len(administered))
            counts = collections.Counter(indicator_of[i] for i in administered)
            n = len(administered)
            shortfalls.append(
                max(max(0, math.floor(share * n) - counts[ind]) for ind, share in blueprint.items())
            )
            share_gaps.append(np.mean([abs(counts[ind] / n - share) for ind, share in blueprint.items()]))
    wall = time.perf_counter() - began
    tests = len(lengths)
    print(
        f"CAT ({tests:,} dimension-tests, {sum(lengths):,} selections, {wall:.1f} s wall, "
        f"{wall / sum(lengths) * 1e6:.0f} µs per selection incl. simulation):"
    )
    print(
        f"  mean SE {np.mean(cat_se):.3f}   θ RMSE {np.sqrt(np.mean(np.square(cat_error))):.3f}   "
        f"mean items {np.mean(lengths):.1f} (min {min(lengths)}, max {max(lengths)})   "
        f"stopped by SE {np.mean(np.array(cat_se) <= settings.target_se):.1%}"
    )
    print(
        f"  max exposure rate {max(exposure.values()) / args.simulees:.3f}   items never used "
        f"{DIMENSIONS * PER_DIMENSION - len(exposure)} of {DIMENSIONS * PER_DIMENSION}"
    )
    print(
        f"  blueprint: tests with a shortfall {np.mean(np.array(shortfalls) > 0):.1%} (max {max(shortfalls)}), "
        f"mean |share − blueprint| {np.mean(share_gaps):.3f}"
    )
    print(
        f"full fixed form ({PER_DIMENSION} items per dimension): mean SE {np.mean(full_se):.3f}   "
        f"θ RMSE {np.sqrt(np.mean(np.square(full_error))):.3f}"
    )

    big_bank, big_blueprint = make_bank(np.random.default_rng(args.seed + 1), 9, 1000)
    given = [item.item_id for item in big_bank.items[:10]]
    answers = [j % 2 for j in range(10)]
    for _ in range(20):
        next_item(big_bank, given, answers, seed=1, blueprint=big_blueprint, settings=settings)
    timings = []
    for call in range(300):
        start = time.perf_counter()
        next_item(big_bank, given, answers, seed=call, blueprint=big_blueprint, settings=settings)
        timings.append(time.perf_counter() - start)
    timings_us = np.array(timings) * 1e6
    print(
        f"next_item on a 1,000-item bank, 10 given, 300 calls: median {np.median(timings_us):.0f} µs, "
        f"p95 {np.percentile(timings_us, 95):.0f} µs"
    )
    print(
        f"command: ./dev python bench/cat.py --simulees {args.simulees} --seed {args.seed} "
        f"--randomesque {args.randomesque} --target-se {args.target_se} --min-items {args.min_items} "
        f"--max-items {args.max_items}"
    )


def bank_design(args: argparse.Namespace) -> None:
    print(
        f"bench/cat.py --design bank, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
        f"{os.getloadavg()[0]:.2f}, seed {args.seed}, {args.simulees:,} simulees, {args.training:,} training "
        f"simulees, {args.iterations} Sympson–Hetter iterations, ceiling {args.ceiling}"
    )
    rng = np.random.default_rng(args.seed)
    size, form_length = DIMENSIONS * PER_DIMENSION, 40
    items = [
        ItemParameters(
            item_id=f"q{j}",
            model="2PL",
            discrimination=float(rng.lognormal(0.0, 0.3)),
            thresholds=(float(rng.normal(0.0, 1.2)),),
        )
        for j in range(size)
    ]
    # item j: dimension j // 75, indicator j % 3 of it; blueprint shares 0.4/0.3/0.3 of each quarter
    indicator_of = {item.item_id: f"d{j // PER_DIMENSION}.i{j % 3}" for j, item in enumerate(items)}
    blueprint = {
        f"d{d}.i{k}": share / DIMENSIONS
        for d in range(DIMENSIONS)
        for k, share in enumerate(BLUEPRINT_SHARES)
    }
    bank = CatBank(items, indicator_of)
    form_rows = []
    for indicator, share in blueprint.items():
        rows = [j for j, item in enumerate(items) if indicator_of[item.item_id] == indicator]
        form_rows += list(rng.choice(rows, size=round(share * form_length), replace=False))
    form = PackedItems([items[j] for j in form_rows])
    thetas = rng.normal(0.0, 1.0, args.simulees)
    p = 1.0 / (1.0 + np.exp(-form.a * (thetas[:, None] - form.b[:, 0])))
    theta_form, se_form = eap_arrays((rng.random(p.shape) < p).astype(np.float64), form)
    target = float(np.mean(se_form))
    settings = CatSettings(
        min_items=args.min_items, max_items=form_length // 2, target_se=target, randomesque=args.randomesque
    )
    print(
        f"fixed form ({len(form_rows)} items by the blueprint): mean SE {target:.3f}   θ RMSE "
        f"{np.sqrt(np.mean(np.square(theta_form - thetas))):.3f}   -> CAT target SE {target:.3f}, "
        f"at most {settings.max_items} items"
    )
    began = time.perf_counter()
    control = sympson_hetter(
        bank,
        rng.normal(0.0, 1.0, args.training),
        ceiling=args.ceiling,
        seed=args.seed + 1,
        blueprint=blueprint,
        settings=settings,
        iterations=args.iterations,
    )
    print(
        f"Sympson–Hetter: {time.perf_counter() - began:.0f} s; highest exposure per iteration "
        f"{control.max_exposure}; {sum(k < 1 for k in control.parameters.values())} items with K < 1"
    )
    controlled = bank.with_exposure(control.parameters)
    until_se = msgspec.structs.replace(settings, max_items=form_length)
    for label, used, rules in (
        ("randomesque only", bank, settings),
        ("with Sympson–Hetter", controlled, settings),
        (f"with Sympson–Hetter, up to {form_length} items", controlled, until_se),
    ):
        exposure: collections.Counter[str] = collections.Counter()
        ses, errors, lengths, misses = [], [], [], []
        for person, theta in enumerate(thetas):
            answers = np.random.default_rng([args.seed, 99, person])
            administered, theta_hat, se = run_cat(
                used, blueprint, float(theta), args.seed * 1_000_003 + person, rules, answers
            )
            exposure.update(administered)
            ses.append(se)
            errors.append(theta_hat - theta)
            lengths.append(len(administered))
            counts = collections.Counter(indicator_of[i] for i in administered)
            n = len(administered)
            misses.append(max(abs(counts[ind] - share * n) for ind, share in blueprint.items()))
        print(
            f"CAT, {label}: mean SE {np.mean(ses):.3f}   θ RMSE {np.sqrt(np.mean(np.square(errors))):.3f}   "
            f"mean items {np.mean(lengths):.1f} (max {max(lengths)})   reached the target SE "
            f"{np.mean(np.array(ses) <= target):.1%}   highest exposure {max(exposure.values()) / len(thetas):.3f}   "
            f"largest |count − share · n| {max(misses):.2f} items"
        )


if __name__ == "__main__":
    main()
