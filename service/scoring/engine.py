"""The scoring engine: (framework version, an attempt's items, its answers, agreed ratings) ->
a score document. Pure and deterministic: no I/O, no clock, no randomness; the same input
always gives the same document, whatever the order of items or options.

`ENGINE_VERSION` changes whenever a framework that could be published, with the same items,
answers and ratings, could get a different document (rescoring then sees every document as
changed, since the provenance names the version). Cut scores of sub-dimensions (step 5) did not
change it: before them validation refused a sub-dimension's own cut scores, so no publishable
framework scores differently.

How the numbers are made (each step is in the document, so any number can be redone by hand):
1. Item credit: each answered item earns a fraction of its points per loaded indicator
   (`service.scoring.credit`); an unanswered item earns 0 and is listed as omitted.
   Per indicator: earned = fraction x points x loading weight; possible = points x loading weight.
2. Indicator: raw = sum of earned, max = sum of possible, scaled = 100 x raw / max.
3. Dimension: scaled = the framework-weighted mean of its measured children (indicators or
   sub-dimensions), weights renormalised over what the form measured; raw and max are sums.
4. Overall: the weighted mean of the measured top-level dimensions (their framework weights).
5. Levels: the highest cut score at or below the scaled score. A dimension (top-level or
   sub-dimension) uses its own cut scores; one without them uses its nearest ancestor's that has
   some, and a top-level dimension without them the overall ones. An indicator uses the cut scores
   its top-level dimension uses (its sub-dimension's own cut scores do not apply to it). The
   overall score uses the overall cut scores.
An open response without an agreed rating yet is left out of every sum and listed as pending;
the document is then `provisional` (a score so far), and `final` once nothing is pending.
Pretest items (`ScoringInput.pretest`: unscored, being calibrated) get their credit as in step 1,
listed apart in `pretest` with the explanation "pretest, unscored: ..."; they enter no sum, level,
omission list or provenance, so the document is the same as without them but for that list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from service.items.answers import Answer
from service.items.kinds import kind_named, kind_of
from service.items.model import Item
from service.rubrics.model import CutScore, Dimension, FrameworkContent, Indicator, Localized
from service.scoring.credit import credit

ENGINE_VERSION = "1.0.0"
DIGITS = 6  # every stored number is rounded to this many decimals, so documents compare exactly


ItemStatus = Literal["scored", "omitted", "pending_rating"]

# The document's structs are `gc=False` (msgspec: not tracked by the cyclic garbage collector): they are
# frozen values built from fresh lists and dicts, so they cannot form a cycle. A rescoring batch makes
# and decodes hundreds of thousands of them, and tracked, they set off collections that traverse the whole
# heap: decoding a batch's stored documents took 1.5 to 6 times as long (bench/README.md, rescoring).


class ScoredItem(msgspec.Struct, frozen=True):
    """One item of the attempt as the engine needs it: the pinned version's content."""

    version: int
    item: Item


class AgreedRating(msgspec.Struct, frozen=True):
    fraction: float  # share of the item's points, 0-1
    rating_ids: list[str] = msgspec.field(default_factory=list)


class ScoringInput(msgspec.Struct, frozen=True):
    framework: FrameworkContent
    framework_hash: str
    items: list[ScoredItem]
    answers: dict[str, Answer]
    ratings: dict[str, AgreedRating] = msgspec.field(default_factory=dict)
    pretest: list[ScoredItem] = msgspec.field(default_factory=list)


class Contribution(msgspec.Struct, frozen=True, gc=False):
    """What one item gave one indicator: earned = fraction x points x weight."""

    indicator: str
    dimension: str
    weight: float
    fraction: float
    earned: float
    possible: float


class ItemScore(msgspec.Struct, frozen=True, gc=False):
    item: str
    version: int
    type: str
    status: ItemStatus
    earned: float
    possible: float
    contributions: list[Contribution]
    explanation: str


class Feedback(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """What the next level asks for."""

    next_level: str
    next_level_label: Localized
    performance: Localized | None = None
    next_steps: Localized | None = None


class IndicatorScore(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    indicator: str
    dimension: str
    raw: float
    max: float
    scaled: float
    level: str
    feedback: Feedback | None = None


class DimensionScore(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    dimension: str
    tags: list[str]
    raw: float
    max: float
    scaled: float
    level: str
    weights_used: dict[str, float]  # child code -> renormalised weight in this dimension's mean
    feedback: Feedback | None = None


class Overall(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    scaled: float | None
    level: str | None
    weights_used: dict[str, float]
    feedback: Feedback | None = None


class Provenance(msgspec.Struct, frozen=True, gc=False):
    engine_version: str
    framework: str
    framework_hash: str
    item_versions: dict[str, int]
    rating_ids: list[str]


class DimensionAbility(msgspec.Struct, frozen=True, gc=False):
    """A top-level dimension on the IRT scale (service/results/abilities.py says how each is made)."""

    dimension: str
    theta: float  # EAP
    se: float  # posterior SD
    scale_score: float
    scale_se: float
    level: str  # on the θ cut points the dimension's cut scores map to through the TCC
    items: int  # calibrated items of the dimension the attempt answered or omitted


class Abilities(msgspec.Struct, frozen=True, gc=False):
    """IRT beside the percentage scores: present in a final document when the assessment had a
    published calibration; `calibration` pins which one."""

    calibration: str
    dimensions: list[DimensionAbility]


class ScoreDocument(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """`abilities` is added by service/results/scores.py after the engine (None: no published
    calibration, or not final); omitted when None, so a document without it encodes as before.
    `pretest`: the unscored pretest items administered, with the credit their answers would have
    earned (what calibrations read); counted in nothing, omitted when empty."""

    status: Literal["final", "provisional"]
    overall: Overall
    dimensions: list[DimensionScore]
    indicators: list[IndicatorScore]
    items: list[ItemScore]
    omitted: list[str]
    pending: list[str]
    provenance: Provenance
    abilities: Abilities | None = None
    pretest: list[ItemScore] = msgspec.field(default_factory=list)


def _r(value: float) -> float:
    return round(value, DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _level(cuts: list[CutScore], scaled: float) -> str:
    """Called with the score as reported, so the level always agrees with the number shown."""
    reached = [cut for cut in cuts if cut.min_score <= scaled]
    return (reached[-1] if reached else cuts[0]).level


def _feedback(
    framework: FrameworkContent,
    level: str,
    descriptors: dict[str, tuple[Localized, Localized | None]] | None = None,
) -> Feedback | None:
    codes = [lvl.code for lvl in framework.levels]
    if level not in codes or codes.index(level) + 1 >= len(codes):
        return None
    following = framework.levels[codes.index(level) + 1]
    performance = descriptors.get(following.code, (None, None))[0] if descriptors else following.description
    next_steps = descriptors.get(level, (None, None))[1] if descriptors else None
    return Feedback(following.code, following.label, performance, next_steps)


class _Tree:
    """The framework's dimensions and indicators, indexed for scoring; with what scoring many attempts
    on the framework can reuse (`score_many`): each pure function's result, computed once per input.

    `items` memoises `_item_score` by (the item object, its version, the answer's JSON, the agreed
    rating's exact value): the same inputs always give the same result, so a batch computes each
    distinct answer to an item once. None when scoring one attempt (`score`): nothing to reuse."""

    def __init__(self, framework: FrameworkContent, *, memo: bool = False) -> None:
        self.framework = framework
        self.top_of: dict[str, str] = {}  # indicator code -> top-level dimension code
        self.cuts: dict[str, list[CutScore]] = {}  # dimension code (any depth) -> the cut scores it uses
        for dimension in framework.dimensions:
            self._resolve_cuts(dimension, framework.cut_scores.overall)
            for code in self._indicators(dimension):
                self.top_of[code] = dimension.code
        self.items: dict[tuple[int, int, bytes | None, str | None], tuple[ItemScore, _Exact]] | None = (
            {} if memo else None
        )
        # an indicator's score and exact scaled score by (code, exact raw, exact max): what `_score` makes
        # of the same exact sums, made once per tree (a `score_many` batch; few distinct sums per indicator)
        self.indicator_scores: dict[tuple[str, float, float], tuple[IndicatorScore, float]] = {}
        self._descriptors: dict[str, dict[str, tuple[Localized, Localized | None]]] = {}
        self._feedback: dict[tuple[str | None, str], Feedback | None] = {}

    def feedback(self, level: str, indicator: Indicator | None = None) -> Feedback | None:
        """`_feedback` of a level (an indicator's, from its descriptors; else a dimension's or the
        overall score's), computed once per tree."""
        key = (indicator.code if indicator is not None else None, level)
        if key not in self._feedback:
            if indicator is None:
                self._feedback[key] = _feedback(self.framework, level)
            else:
                descriptors = self._descriptors.get(indicator.code)
                if descriptors is None:
                    descriptors = {d.level: (d.performance, d.next_steps) for d in indicator.descriptors}
                    self._descriptors[indicator.code] = descriptors
                self._feedback[key] = _feedback(self.framework, level, descriptors)
        return self._feedback[key]

    def _resolve_cuts(self, dimension: Dimension, inherited: list[CutScore]) -> None:
        """Its own cut scores, else the nearest ancestor's (`inherited`), down the tree."""
        own = self.framework.cut_scores.dimensions.get(dimension.code, inherited)
        self.cuts[dimension.code] = own
        for child in dimension.children:
            self._resolve_cuts(child, own)

    def _indicators(self, dimension: Dimension) -> list[str]:
        codes = [indicator.code for indicator in dimension.indicators]
        for child in dimension.children:
            codes += self._indicators(child)
        return codes


def _answered(answer: Answer | None) -> bool:
    """An answer with something in it: a blank text, an empty choice list or rating set is no answer."""
    if answer is None:
        return False
    for value in msgspec.structs.astuple(answer):
        if isinstance(value, str):
            if value.strip():
                return True
        elif isinstance(value, list | dict):
            if value:
                return True
        elif value is not None:  # a number: a Likert point
            return True
    return False


_Exact = dict[str, tuple[float, float]]  # indicator code -> the exact (earned, possible) an item gives it
_encode = msgspec.json.encode


def _memo_item_score(
    tree: _Tree, scored: ScoredItem, answer: Answer | None, rating: AgreedRating | None
) -> tuple[ItemScore, _Exact]:
    """`_item_score`, looked up in the tree's memo when it has one (the result is shared, never changed)."""
    if tree.items is None:
        return _item_score(tree, scored, answer, rating)
    key = (
        id(scored.item),
        scored.version,
        None if answer is None else _encode(answer),
        None if rating is None else rating.fraction.hex(),
    )
    found = tree.items.get(key)
    if found is None:
        found = tree.items[key] = _item_score(tree, scored, answer, rating)
    return found


def _item_score(
    tree: _Tree, scored: ScoredItem, answer: Answer | None, rating: AgreedRating | None
) -> tuple[ItemScore, _Exact]:
    """The item's score as reported (rounded), and per indicator the exact (earned, possible) to add up."""
    item = scored.item
    kind = kind_of(item)
    weights = {loading.indicator: loading.weight for loading in item.loadings}
    answered = _answered(answer)
    status: ItemStatus
    fractions: dict[str, float]
    if answered and kind.rated and rating is None:
        status, fractions, why = "pending_rating", {}, "awaiting an agreed rating"
    elif answer is None or not answered:
        status, fractions, why = "omitted", dict.fromkeys(weights, 0.0), "not answered"
    else:
        got = credit(item, answer, rating.fraction if rating else None)
        status, fractions, why = "scored", got.fractions, got.why
    exact = (
        {}
        if status == "pending_rating"
        else {
            code: (fractions[code] * item.points * weight, item.points * weight)
            for code, weight in weights.items()
        }
    )
    contributions = [
        Contribution(
            code, tree.top_of.get(code, ""), weights[code], _r(fractions[code]), _r(earned), _r(possible)
        )
        for code, (earned, possible) in sorted(exact.items())
    ]
    return ItemScore(
        item.code,
        scored.version,
        kind.tag,
        status,
        _r(sum(e for e, _ in exact.values())),
        _r(sum(p for _, p in exact.values())),
        contributions,
        why,
    ), exact


def score(data: ScoringInput) -> ScoreDocument:
    return _score(data, _Tree(data.framework))


def score_many(inputs: Sequence[ScoringInput]) -> list[ScoreDocument]:
    """The documents of many attempts, each exactly `score`'s (tests/unit/test_scoring_batch.py holds
    it over generated attempts): the framework indexed once per framework object, each distinct
    (item, answer, rating) credited once, each indicator's score made once per exact (raw, max) sums,
    each level's feedback built once. Items and frameworks are
    recognised by identity, so inputs that share their objects (as `results.scores` builds them)
    share the work; the memo lives for this call only."""
    trees: dict[int, _Tree] = {}
    documents = []
    for data in inputs:
        tree = trees.get(id(data.framework))
        if tree is None:
            tree = trees[id(data.framework)] = _Tree(data.framework, memo=True)
        documents.append(_score(data, tree))
    return documents


def _score(data: ScoringInput, tree: _Tree) -> ScoreDocument:
    framework = data.framework
    items = sorted(data.items, key=lambda s: s.item.code)
    scored = [
        _memo_item_score(tree, s, data.answers.get(s.item.code), data.ratings.get(s.item.code)) for s in items
    ]
    scores = [item_score for item_score, _ in scored]

    # sums of the exact amounts: rounding happens once, when a number is written to the document
    raw: dict[str, float] = {}
    possible: dict[str, float] = {}
    for _, exact in scored:
        for code, (earned, most) in exact.items():
            raw[code] = raw.get(code, 0.0) + earned
            possible[code] = possible.get(code, 0.0) + most

    indicators: list[IndicatorScore] = []
    dimensions: list[DimensionScore] = []
    scaled_of: dict[str, float] = {}

    def visit(dimension: Dimension, indicator_cuts: list[CutScore]) -> tuple[float, float] | None:
        """Scores the dimension (children first); None when the form measured nothing in it.
        `indicator_cuts` are the top-level dimension's: every indicator below it uses them."""
        parts: list[tuple[str, float, float, float, float]] = []  # code, weight, scaled, raw, max
        for indicator in dimension.indicators:
            most = possible.get(indicator.code, 0.0)
            if most > 0:
                earned = raw[indicator.code]
                key = (indicator.code, earned, most)
                found = tree.indicator_scores.get(key)
                if found is None:
                    scaled = 100 * earned / most
                    level = _level(indicator_cuts, _r(scaled))
                    found = tree.indicator_scores[key] = (
                        IndicatorScore(
                            indicator.code,
                            tree.top_of[indicator.code],
                            _r(earned),
                            _r(most),
                            _r(scaled),
                            level,
                            tree.feedback(level, indicator),
                        ),
                        scaled,
                    )
                indicators.append(found[0])
                scaled_of[indicator.code] = found[1]
                parts.append((indicator.code, indicator.weight, found[1], earned, most))
        for child in dimension.children:
            measured = visit(child, indicator_cuts)
            if measured is not None:
                parts.append((child.code, child.weight, scaled_of[child.code], *measured))
        total_weight = sum(p[1] for p in parts)
        if not parts or total_weight <= 0:
            return None
        scaled = sum(p[1] * p[2] for p in parts) / total_weight
        scaled_of[dimension.code] = scaled
        level = _level(tree.cuts[dimension.code], _r(scaled))
        raw_sum, max_sum = sum(p[3] for p in parts), sum(p[4] for p in parts)
        dimensions.append(
            DimensionScore(
                dimension.code,
                list(dimension.tags),
                _r(raw_sum),
                _r(max_sum),
                _r(scaled),
                level,
                {p[0]: _r(p[1] / total_weight) for p in parts},
                tree.feedback(level),
            )
        )
        return raw_sum, max_sum

    top_parts: dict[str, float] = {}
    for dimension in framework.dimensions:
        if visit(dimension, tree.cuts[dimension.code]) is not None:
            top_parts[dimension.code] = dimension.weight
    total = sum(top_parts.values())
    if total > 0:
        overall_scaled = sum(w * scaled_of[code] for code, w in top_parts.items()) / total
        level = _level(framework.cut_scores.overall, _r(overall_scaled))
        overall = Overall(
            _r(overall_scaled),
            level,
            {c: _r(w / total) for c, w in top_parts.items()},
            tree.feedback(level),
        )
    else:
        overall = Overall(None, None, {})

    pending = [s.item for s in scores if s.status == "pending_rating"]
    rated = {s.item for s in scores if s.status == "scored" and kind_named(s.type).rated}
    rating_ids = sorted(
        rid for code, rating in data.ratings.items() if code in rated for rid in rating.rating_ids
    )
    unscored = [
        msgspec.structs.replace(item_score, explanation=f"pretest, unscored: {item_score.explanation}")
        for item_score, _ in (
            _item_score(tree, s, data.answers.get(s.item.code), None)
            for s in sorted(data.pretest, key=lambda s: s.item.code)
        )
    ]
    return ScoreDocument(
        status="provisional" if pending else "final",
        overall=overall,
        dimensions=sorted(dimensions, key=lambda d: d.dimension),
        indicators=sorted(indicators, key=lambda i: i.indicator),
        items=scores,
        omitted=[s.item for s in scores if s.status == "omitted"],
        pending=pending,
        provenance=Provenance(
            ENGINE_VERSION,
            framework.code,
            data.framework_hash,
            {s.item.code: s.version for s in items},
            rating_ids,
        ),
        pretest=unscored,
    )
