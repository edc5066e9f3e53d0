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
   larger k lowers the top items' exposure at a small cost in information. (Randomesque only
   caps how often the single best item is used; a stricter exposure ceiling needs
   Sympson–Hetter parameters, which a later step can add as a per-item eligibility filter.)
Determinism holds for a given numpy version (the generator's `integers` stream is fixed by the
locked numpy; numpy may change it between feature releases).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec
import numpy as np

from service.psychometrics.ability import eap_arrays
from service.psychometrics.model import ItemParameters
from service.psychometrics.response import PackedItems, item_information


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

    __slots__ = ("index", "indicators", "items", "packed")

    def __init__(self, items: Sequence[ItemParameters], indicators: Mapping[str, str]) -> None:
        self.items = tuple(items)
        self.packed = PackedItems(self.items)
        self.indicators = np.array([indicators.get(item.item_id, "") for item in self.items], dtype=object)
        self.index = {item.item_id: row for row, item in enumerate(self.items)}


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

    def decision(stop: bool, reason: str, item: str | None = None) -> CatDecision:
        return CatDecision(stop=stop, reason=reason, next_item=item, theta=theta, se=se, items_given=n)

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
    best = candidates[np.argsort(-information, kind="stable")[:top]]
    rng = np.random.default_rng([seed, n])
    chosen = int(best[rng.integers(top)])
    return decision(False, "continue", bank.items[chosen].item_id)
