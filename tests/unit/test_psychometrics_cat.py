"""Adaptive item selection (service/psychometrics/adaptive.py): determinism for a seed,
maximum information, randomesque exposure control, content balancing and the stop rule."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from service.psychometrics.adaptive import CatBank, CatSettings, next_item, sympson_hetter
from service.psychometrics.model import ItemParameters
from service.psychometrics.response import PackedItems, item_information

INDICATORS = ("ind.a", "ind.b", "ind.c")
BLUEPRINT = {"ind.a": 0.5, "ind.b": 0.3, "ind.c": 0.2}


def _bank(seed: int = 5, size: int = 90) -> CatBank:
    rng = np.random.default_rng(seed)
    items = [
        ItemParameters(
            item_id=f"q{j}",
            model="2PL",
            discrimination=float(rng.lognormal(0.0, 0.3)),
            thresholds=(float(rng.normal(0.0, 1.0)),),
        )
        for j in range(size)
    ]
    return CatBank(items, {item.item_id: INDICATORS[j % 3] for j, item in enumerate(items)})


def _run(
    bank: CatBank, theta: float, seed: int, settings: CatSettings, blueprint: dict[str, float] | None = None
) -> tuple[list[str], list[int], str, float]:
    """One simulee; responses drawn by a generator separate from the selection's."""
    answers = np.random.default_rng(seed + 10_000)
    administered: list[str] = []
    responses: list[int] = []
    while True:
        decision = next_item(bank, administered, responses, seed=seed, blueprint=blueprint, settings=settings)
        if decision.stop:
            return administered, responses, decision.reason, decision.se
        item = bank.items[bank.index[decision.next_item]]
        p = 1 / (1 + np.exp(-item.discrimination * (theta - item.thresholds[0])))
        administered.append(item.item_id)
        responses.append(int(answers.random() < p))


def test_same_seed_same_test_and_different_seeds_differ() -> None:
    bank = _bank()
    settings = CatSettings(max_items=15, target_se=0.0, randomesque=4)
    first = _run(bank, 0.4, seed=99, settings=settings, blueprint=BLUEPRINT)
    assert _run(bank, 0.4, seed=99, settings=settings, blueprint=BLUEPRINT) == first
    others = {tuple(_run(bank, 0.4, seed=s, settings=settings, blueprint=BLUEPRINT)[0]) for s in range(5)}
    assert len(others) > 1


def test_k_one_picks_the_most_informative_item() -> None:
    bank = _bank()
    administered, responses = ["q0", "q1", "q2"], [1, 0, 1]
    decision = next_item(bank, administered, responses, seed=1, settings=CatSettings(randomesque=1))
    info = item_information(np.array([decision.theta]), PackedItems(bank.items))[0]
    info[[0, 1, 2]] = -1
    assert decision.next_item == bank.items[int(np.argmax(info))].item_id
    for seed in range(10):
        assert (
            next_item(bank, administered, responses, seed=seed, settings=CatSettings(randomesque=1))
            == decision
        )


def test_randomesque_spreads_exposure_over_the_top_k() -> None:
    bank = _bank()
    info = item_information(np.array([0.0]), PackedItems(bank.items))[0]
    top5 = {bank.items[j].item_id for j in np.argsort(-info)[:5]}
    firsts = collections.Counter(
        next_item(bank, [], [], seed=s, settings=CatSettings(randomesque=5)).next_item for s in range(400)
    )
    assert set(firsts) == top5
    assert max(firsts.values()) / 400 < 0.3  # uniform would be 0.2
    pure = {next_item(bank, [], [], seed=s, settings=CatSettings(randomesque=1)).next_item for s in range(50)}
    assert len(pure) == 1


def test_randomesque_lowers_exposure_over_simulees() -> None:
    """Pure maximum information gives every simulee the same first item (exposure 1.0) and keeps
    reusing the few best items; k = 5 spreads them and uses more of the bank."""
    bank = _bank()

    def exposure(k: int) -> tuple[float, int]:
        counts: collections.Counter[str] = collections.Counter()
        rng = np.random.default_rng(3)
        for simulee in range(60):
            settings = CatSettings(max_items=10, target_se=0.0, randomesque=k)
            administered, *_ = _run(bank, float(rng.normal()), simulee, settings)
            counts.update(administered)
        return max(counts.values()) / 60, len(counts)

    pure_max, pure_used = exposure(1)
    spread_max, spread_used = exposure(5)
    assert pure_max == 1.0
    assert spread_max <= 0.85 and spread_used > pure_used


@pytest.mark.parametrize("theta", [-2.0, 0.0, 1.5])
def test_blueprint_minimum_shares_hold_at_every_length(theta: float) -> None:
    bank = _bank()
    indicator_of = {item.item_id: bank.indicators[j] for j, item in enumerate(bank.items)}
    administered, *_ = _run(
        bank, theta, 7, CatSettings(max_items=20, target_se=0.0, randomesque=3), BLUEPRINT
    )
    assert len(administered) == 20
    for length in range(1, 21):
        shares = collections.Counter(indicator_of[i] for i in administered[:length])
        for indicator, share in BLUEPRINT.items():
            assert shares[indicator] >= int(share * length), (length, indicator)


def test_stop_rules() -> None:
    bank = _bank()
    # target SE reached, but never before min_items
    administered, _responses, reason, se = _run(
        bank, 0.0, 1, CatSettings(min_items=6, max_items=40, target_se=0.9)
    )
    assert (len(administered), reason) == (6, "target_se") and se <= 0.9
    administered, _, reason, se = _run(bank, 0.0, 1, CatSettings(min_items=3, max_items=40, target_se=0.4))
    assert reason == "target_se" and se <= 0.4 and 3 <= len(administered) < 40
    administered, _, reason, se = _run(bank, 0.0, 1, CatSettings(min_items=3, max_items=12, target_se=0.01))
    assert (len(administered), reason) == (12, "max_items") and se > 0.01
    small = _bank(size=6)
    administered, _, reason, _ = _run(small, 0.0, 1, CatSettings(max_items=10, target_se=0.0))
    assert (len(administered), reason) == (6, "bank_exhausted")
    assert len(set(administered)) == 6


def test_the_decision_reports_the_current_estimate() -> None:
    bank = _bank()
    start = next_item(bank, [], [], seed=0)
    assert (start.theta, start.se, start.items_given, start.stop, start.reason) == (
        0.0,
        1.0,
        0,
        False,
        "continue",
    )
    up = next_item(bank, ["q0", "q1"], [1, 1], seed=0)
    down = next_item(bank, ["q0", "q1"], [0, 0], seed=0)
    assert up.theta > 0 > down.theta and up.items_given == 2 and up.se < 1


def test_invalid_input() -> None:
    bank = _bank()
    with pytest.raises(ValueError, match="differ in length"):
        next_item(bank, ["q0"], [], seed=0)
    with pytest.raises(KeyError):
        next_item(bank, ["nope"], [1], seed=0)


def test_graded_items_in_the_bank() -> None:
    """Rubric-level items (GRM) are selected and scored like dichotomous ones; a top score on a
    graded item moves θ up more than a middle one."""
    graded = [
        ItemParameters(
            item_id=f"g{j}", model="GRM", discrimination=1.2, thresholds=(-1.0 + j * 0.2, 0.0 + j * 0.2, 1.0)
        )
        for j in range(5)
    ]
    bank = CatBank([*_bank(size=9).items, *graded], {})
    decision = next_item(bank, [], [], seed=0, settings=CatSettings(randomesque=1))
    info = item_information(np.array([0.0]), bank.packed)[0]
    assert decision.next_item == bank.items[int(np.argmax(info))].item_id
    top = next_item(bank, ["g0"], [3], seed=0)
    middle = next_item(bank, ["g0"], [2], seed=0)
    assert top.theta > middle.theta


def _max_exposure(bank: CatBank, thetas: np.ndarray, settings: CatSettings, seed: int) -> float:
    counts: collections.Counter[str] = collections.Counter()
    for person, theta in enumerate(thetas):
        counts.update(_run(bank, float(theta), seed + person, settings, BLUEPRINT)[0])
    return max(counts.values()) / len(thetas)


def test_sympson_hetter_brings_exposure_down_towards_its_ceiling_on_new_simulees() -> None:
    """Few simulees and iterations to stay fast: the ceiling is approached, not reached (bench/cat.py
    runs the procedure to convergence and shows the ceiling held)."""
    bank = _bank(size=90)
    settings = CatSettings(max_items=6, target_se=0.0, randomesque=2)
    training = np.random.default_rng(1).normal(size=150)
    control = sympson_hetter(
        bank, training, ceiling=0.25, seed=3, blueprint=BLUEPRINT, settings=settings, iterations=6
    )
    assert set(control.parameters) == {item.item_id for item in bank.items}
    assert all(0 < k <= 1 for k in control.parameters.values())
    assert min(control.parameters.values()) < 1  # some items were too popular
    assert len(control.max_exposure) == 6 and control.max_exposure[0] > 0.7  # K = 1 first
    assert min(control.max_exposure) < control.max_exposure[0] / 2
    fresh = np.random.default_rng(2).normal(size=150)
    without = _max_exposure(bank, fresh, settings, 50_000)
    with_control = _max_exposure(bank.with_exposure(control.parameters), fresh, settings, 50_000)
    assert without > 0.7
    assert with_control < 0.45


def test_sympson_hetter_is_reproducible_and_k_one_changes_nothing() -> None:
    bank = _bank(size=60)
    settings = CatSettings(max_items=6, target_se=0.0, randomesque=3)
    thetas = np.random.default_rng(4).normal(size=60)
    first = sympson_hetter(bank, thetas, ceiling=0.3, seed=9, settings=settings, iterations=2)
    again = sympson_hetter(bank, thetas, ceiling=0.3, seed=9, settings=settings, iterations=2)
    assert first == again
    ones = bank.with_exposure({item.item_id: 1.0 for item in bank.items})
    for seed in range(30):
        assert _run(ones, 0.3, seed, settings) == _run(bank, 0.3, seed, settings)


def test_exposure_parameters_are_checked() -> None:
    bank = _bank(size=10)
    with pytest.raises(ValueError, match="exposure parameters"):
        bank.with_exposure({"q1": 0.0})
    with pytest.raises(ValueError, match="ceiling"):
        sympson_hetter(bank, [0.0], ceiling=1.5, seed=1)
    with pytest.raises(ValueError, match="simulees"):
        sympson_hetter(bank, [], ceiling=0.2, seed=1)
