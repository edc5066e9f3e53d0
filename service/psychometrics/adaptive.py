"""Next-item selection for a computer-adaptive test on one dimension. A pure function of
(item bank, items administered, responses, seed, blueprint, settings): the same inputs always
give the same decision, so delivery can recompute it after a crash or on another worker.

Per step:
1. θ̂ and its SE: EAP of the responses so far (see `ability`), prior N(0, 1).
2. Stop if at least `min_items` were given and either SE ≤ `target_se` or `max_items` were
   given (or the bank is exhausted). `min_items` wins over the SE rule.
3. Content balancing (Kingsbury & Zara 1989): the blueprint gives each indicator a minimum
   share of the test. With n items given, indicator i's deficit is share_i · (n + 1) − count_i;
   if some deficit is positive, only the items of the indicator with the largest deficit (ties:
   the blueprint's order) are eligible. So at every length n each indicator has at least
   ⌊share_i · n⌋ items once the bank can supply them, whether the test stops by SE or by length.
   Indicators not in the blueprint have no minimum.
4. Maximum Fisher information at θ̂ among the eligible items not yet given, with randomesque
   exposure control (Kingsbury & Zara 1989): one of the `randomesque` most informative items,
   chosen uniformly by a generator seeded with (seed, n). k = 1 is pure maximum information;
   larger k lowers the top items' exposure at a small cost in information.
5. Sympson–Hetter exposure control (Sympson & Hetter 1985), when the bank carries exposure
   parameters K_i (from `sympson_hetter`, computed once per calibration by simulation): the
   item chosen in 4 is administered with probability K_i; if the draw refuses it, the next one
   is tried (the rest of the top k, then the others by information). As in the original
   procedure a refused item is out of the pool for the rest of that examinee's test: each
   examinee's draws are one uniform number per item from a generator seeded with (seed, 2³¹),
   fixed for the whole test, so the refusal is remembered without any state beyond the seed. Randomesque only spreads the top k; Sympson–Hetter holds
   every item's exposure rate near a ceiling r (P(administered) = P(selected) · K ≤ r), which
   is what keeps a bank from being learnt by its first takers. Without parameters (K = 1) the
   decision is exactly step 4's.
Pretest items (unscored, being calibrated) are seeded in by `pretest_schedule`, which the CAT
never sees: it decides on the scored items and responses alone, so seeding them in changes no θ,
no next item and no stop.
The exposure rates any method can reach are bounded below by arithmetic: they sum to the mean
test length, so with n items per test from a bank of N the highest rate is at least n / N.
Determinism holds for a given numpy version (the generator's `integers` stream is fixed by the
locked numpy; numpy may change it between feature releases).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec
import numpy as np
from numpy.typing import NDArray

from service.psychometrics.ability import eap_arrays
from service.psychometrics.model import ItemParameters
from service.psychometrics.response import PackedItems, category_probabilities, item_information

EXPOSURE_STREAM = 2**31  # the examinee's Sympson–Hetter draws: [seed, n] per step never reaches it
PRETEST_STREAM = 2**31 + 1  # the pretest draw and placement (`pretest_schedule`)


class CatSettings(msgspec.Struct, frozen=True, kw_only=True):
    min_items: int = 5
    max_items: int = 30
    target_se: float = 0.3
    randomesque: int = 5


class CatDecision(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """`next_item` is None when `stop` is true; `reason` is `target_se`, `max_items` or
    `bank_exhausted` when stopping, else `continue`."""

    stop: bool
    reason: str
    next_item: str | None
    theta: float
    se: float
    items_given: int


class CatBank:
    """A bank prepared once (packed arrays, indicator per item) and reused for every step."""

    __slots__ = ("controlled", "exposure", "index", "indicators", "items", "packed")

    def __init__(
        self,
        items: Sequence[ItemParameters],
        indicators: Mapping[str, str],
        exposure: Mapping[str, float] | None = None,
    ) -> None:
        """`exposure`: Sympson–Hetter parameters K_i in (0, 1] by item id (missing: 1)."""
        self.items = tuple(items)
        self.packed = PackedItems(self.items)
        self.indicators = np.array([indicators.get(item.item_id, "") for item in self.items], dtype=object)
        self.index = {item.item_id: row for row, item in enumerate(self.items)}
        given = exposure or {}
        if any(not 0.0 < k <= 1.0 for k in given.values()):
            raise ValueError("exposure parameters must lie in (0, 1]")
        self.exposure = np.array([given.get(item.item_id, 1.0) for item in self.items], dtype=np.float64)
        self.controlled = bool((self.exposure < 1.0).any())

    def with_exposure(self, exposure: Mapping[str, float]) -> CatBank:
        return CatBank(self.items, dict(zip(self.index, self.indicators, strict=True)), exposure)


def next_item(
    bank: CatBank,
    administered: Sequence[str],
    responses: Sequence[int],
    *,
    seed: int,
    blueprint: Mapping[str, float] | None = None,
    settings: CatSettings | None = None,
) -> CatDecision:
    """The decision after `administered` (in order) were answered with `responses`."""
    return _decide(bank, administered, responses, seed, blueprint, settings)[0]


def _decide(
    bank: CatBank,
    administered: Sequence[str],
    responses: Sequence[int],
    seed: int,
    blueprint: Mapping[str, float] | None,
    settings: CatSettings | None,
) -> tuple[CatDecision, NDArray[np.int64]]:
    """The decision, and the bank rows that went through the exposure draw (Sympson–Hetter's
    "selected" items: the administered one last)."""
    s = settings or CatSettings()
    if len(administered) != len(responses):
        raise ValueError("administered and responses differ in length")
    given = np.array([bank.index[item_id] for item_id in administered], dtype=np.int64)
    if given.size:
        row = np.asarray(responses, dtype=np.float64)[None, :]
        theta_arr, se_arr = eap_arrays(row, bank.packed.subset(given))
        theta, se = float(theta_arr[0]), float(se_arr[0])
    else:
        theta, se = 0.0, 1.0
    n = int(given.size)

    nothing = np.array([], dtype=np.int64)

    def decision(stop: bool, reason: str, item: str | None = None) -> tuple[CatDecision, NDArray[np.int64]]:
        return CatDecision(
            stop=stop, reason=reason, next_item=item, theta=theta, se=se, items_given=n
        ), nothing

    if n >= s.min_items and se <= s.target_se:
        return decision(True, "target_se")
    if n >= s.max_items:
        return decision(True, "max_items")
    available = np.ones(len(bank.items), dtype=bool)
    available[given] = False
    if not available.any():
        return decision(True, "bank_exhausted")
    eligible = available
    if blueprint:
        given_indicators = bank.indicators[given] if n else np.array([], dtype=object)
        deficits = [
            (share * (n + 1) - int((given_indicators == indicator).sum()), -order, indicator)
            for order, (indicator, share) in enumerate(blueprint.items())
            if (available & (bank.indicators == indicator)).any()
        ]
        if deficits:
            deficit, _, indicator = max(deficits)
            if deficit > 0:
                eligible = available & (bank.indicators == indicator)
    candidates = np.flatnonzero(eligible)
    information = item_information(np.array([theta]), bank.packed.subset(candidates))[0]
    top = max(1, min(s.randomesque, candidates.size))
    # stable sort, ties broken by bank order: the decision never depends on sort internals
    ranked = candidates[np.argsort(-information, kind="stable")]
    rng = np.random.default_rng([seed, n])
    first = int(rng.integers(top))
    # randomesque's pick first, then the rest of the top k, then the others by information
    sequence = np.concatenate([np.roll(ranked[:top], -first), ranked[top:]])
    if bank.controlled:
        draws = np.random.default_rng([seed, EXPOSURE_STREAM]).random(len(bank.items))
        accepted = np.flatnonzero(draws[sequence] < bank.exposure[sequence])
    else:
        accepted = np.zeros(1, dtype=np.int64)
    # every draw refused (rare: it needs every remaining item's K < 1): the last one tried
    stop_at = int(accepted[0]) if accepted.size else sequence.size - 1
    chosen = int(sequence[stop_at])
    return decision(False, "continue", bank.items[chosen].item_id)[0], sequence[: stop_at + 1]


class ExposureControl(msgspec.Struct, frozen=True, kw_only=True):
    """Sympson–Hetter parameters K by item id, and per iteration the highest exposure rate the
    simulation saw with the parameters of that iteration."""

    parameters: dict[str, float]
    max_exposure: list[float]


def sympson_hetter(
    bank: CatBank,
    thetas: Sequence[float],
    *,
    ceiling: float,
    seed: int,
    blueprint: Mapping[str, float] | None = None,
    settings: CatSettings | None = None,
    iterations: int = 8,
) -> ExposureControl:
    """Sympson–Hetter exposure parameters by simulation (Sympson & Hetter 1985; van der Linden
    & Glas 2010, ch. 9): simulees at `thetas` (a sample of the calibration's ability
    distribution) take the CAT with the current K; P(S_i) is the share of simulees for whom item
    i went through the exposure draw; K_i ← 1 if P(S_i) ≤ r, else r / P(S_i). Repeated
    `iterations` times from K = 1: each iteration pushes the overflow of the most popular items
    one rank further down, so it settles slowly (ten or more iterations when the ceiling is within
    a factor of two of its lower bound n / N). The parameters of the iteration whose simulation had the
    lowest highest exposure are returned. Responses are drawn from the model at each θ by a
    generator seeded with (seed, iteration, simulee), so the result is reproducible."""
    if not 0.0 < ceiling <= 1.0:
        raise ValueError("the exposure ceiling must lie in (0, 1]")
    if not len(thetas):
        raise ValueError("sympson_hetter needs simulees")
    people = len(thetas)
    k = np.ones(len(bank.items))
    best_k, best_rate, history = k, np.inf, []
    for iteration in range(iterations):
        current = bank.with_exposure(dict(zip(bank.index, k, strict=True)))
        selected = np.zeros(len(bank.items))
        administered = np.zeros(len(bank.items))
        for person, theta in enumerate(thetas):
            draws = np.random.default_rng([seed, iteration, person])
            given: list[str] = []
            answers: list[int] = []
            went_through_draw: set[int] = set()
            while True:
                choice, tried = _decide(
                    current, given, answers, seed * 1_000_003 + person, blueprint, settings
                )
                if choice.stop or choice.next_item is None:
                    break
                went_through_draw.update(int(row) for row in tried)
                row = bank.index[choice.next_item]
                administered[row] += 1
                probabilities = category_probabilities(
                    np.array([theta]), bank.packed.subset(np.array([row]))
                )[0, 0]
                answers.append(int(draws.choice(probabilities.size, p=probabilities / probabilities.sum())))
                given.append(choice.next_item)
            selected[list(went_through_draw)] += 1
        rate = float(administered.max() / people)
        history.append(round(rate, 4))
        if rate < best_rate:
            best_k, best_rate = k, rate
        share = selected / people
        k = np.where(share > ceiling, ceiling / np.maximum(share, 1e-12), 1.0)
    return ExposureControl(
        parameters={item_id: round(float(best_k[row]), 6) for item_id, row in bank.index.items()},
        max_exposure=history,
    )


def pretest_schedule(pretest: Sequence[str], count: int, min_items: int, seed: int) -> dict[int, str]:
    """Where a section's pretest items go: position in the sequence of items administered (0 is the
    first) → pretest item. A pure function of the seed, so every replay of the path agrees.

    Which: `count` of `pretest` (all of them when fewer), a seeded random sample, so each pretest
    item is seen by about count / len(pretest) of the candidates. Where: the positions 1 ..
    S = min_items + count − 1 are cut into `count` strata of (nearly) equal width and one position is
    drawn uniformly in each (stratified placement), so they are spread over that span, one per
    stratum, and never first. Why that span: the section gives at least `min_items` scored items
    (its bank holds at least `max_items` ≥ `min_items`), and the i-th pretest position (0-based) is
    at most min_items + i, so at most `min_items` scored items come before it and the section
    cannot have stopped yet: every candidate who finishes the section sees all of them. Placing them
    over the whole possible length (up to `max_items`) would leave those beyond where the test
    stops for ever unseen, or bunched at the end. A larger `min_items` spreads them further.
    Generator: numpy's default, seeded with (seed, PRETEST_STREAM), a stream the CAT's own draws
    ([seed, n] with n < 2³¹, and [seed, 2³¹]) never use."""
    chosen_count = min(count, len(pretest))
    if chosen_count <= 0:
        return {}
    rng = np.random.default_rng([seed, PRETEST_STREAM])
    order = rng.permutation(len(pretest))[:chosen_count]
    span = max(1, min_items) + chosen_count - 1
    schedule = {}
    for stratum, index in enumerate(order):
        low = 1 + stratum * span // chosen_count
        high = 1 + (stratum + 1) * span // chosen_count
        schedule[low + int(rng.integers(high - low))] = pretest[int(index)]
    return schedule
