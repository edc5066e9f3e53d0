"""Score documents as stored: numbers and references only (issue 19, goal 4). Pure: no I/O.

The engine (`service.scoring.engine`) makes the whole `ScoreDocument` in memory. Much of it is
the framework version repeated: every indicator's, dimension's and the overall score's feedback
(the next level's label, its descriptors, localized), each dimension's tags, the top-level
dimension of every indicator and contribution; and some of it is the document repeated (the
omitted and pending lists, the provenance's item versions). `strip` leaves all of that out, and
writes the items, contributions and indicators as arrays rather than objects; `hydrate` puts it
back from the framework version the provenance names (`FrameworkIndex`, built once per content
hash by the caller), so `hydrate(strip(d), FrameworkIndex(f)) == d` for every document the engine
makes of framework `f` (tests/unit/test_lean_scores.py holds it over generated attempts, to the
JSON byte).

What SQL reads inside stored documents stays where and as it was: `dimensions[]` objects with
`dimension`, `scaled` and `level`; `overall.weights_used`; `provenance.framework` and
`framework_hash`; `abilities` (the score feed and exports, rollups, webhook events, abilities).

A lean document says so (`"lean": 1`); a document stored before them has no such key and is read
as it is (`decode` tells the two apart). `store_forms` stores the lean form only when hydrating it
gives the document back exactly, so whatever the engine may one day make that this module does
not foresee is stored whole rather than changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from service.rubrics.model import Dimension, FrameworkContent, Indicator
from service.scoring.engine import (
    Abilities,
    Contribution,
    DimensionScore,
    IndicatorScore,
    ItemScore,
    ItemStatus,
    Overall,
    Provenance,
    ScoreDocument,
    _Tree,
)

LEAN = 1  # the form's number, in every lean document's `lean`
# Its structs are `gc=False`, as the engine's document's are (service/scoring/engine.py says why).
PRETEST = "pretest, unscored: "  # the engine's prefix of a pretest item's explanation


class LeanContribution(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A `Contribution` without its `dimension` (the indicator's top-level dimension)."""

    indicator: str
    weight: float
    fraction: float
    earned: float
    possible: float


class LeanItem(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An `ItemScore`; a pretest item's explanation without the engine's prefix."""

    item: str
    version: int
    type: str
    status: ItemStatus
    earned: float
    possible: float
    contributions: list[LeanContribution]
    explanation: str


class LeanIndicator(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An `IndicatorScore` without its dimension and feedback."""

    indicator: str
    raw: float
    max: float
    scaled: float
    level: str


class LeanDimension(msgspec.Struct, frozen=True, gc=False):
    """A `DimensionScore` without its tags and feedback; an object still, as SQL reads it by name."""

    dimension: str
    raw: float
    max: float
    scaled: float
    level: str
    weights_used: dict[str, float]


class LeanOverall(msgspec.Struct, frozen=True, gc=False):
    scaled: float | None
    level: str | None
    weights_used: dict[str, float]


class LeanProvenance(msgspec.Struct, frozen=True, gc=False):
    """`Provenance` without `item_versions` (the items' own versions, in their order)."""

    engine_version: str
    framework: str
    framework_hash: str
    rating_ids: list[str]


class LeanDocument(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    lean: int
    status: Literal["final", "provisional"]
    overall: LeanOverall
    dimensions: list[LeanDimension]
    indicators: list[LeanIndicator]
    items: list[LeanItem]
    provenance: LeanProvenance
    abilities: Abilities | None = None
    pretest: list[LeanItem] = msgspec.field(default_factory=list)


class FrameworkIndex:
    """What hydrating needs of one framework version: the engine's own index of it (the same feedback,
    the same top-level dimension of each indicator), and its dimensions and indicators by code."""

    def __init__(self, framework: FrameworkContent) -> None:
        self.tree = _Tree(framework)
        self.dimensions: dict[str, Dimension] = {}
        self.indicators: dict[str, Indicator] = {}

        def walk(dimension: Dimension) -> None:
            self.dimensions.setdefault(dimension.code, dimension)
            for indicator in dimension.indicators:
                self.indicators.setdefault(indicator.code, indicator)
            for child in dimension.children:
                walk(child)

        for dimension in framework.dimensions:
            walk(dimension)
        # a contribution's dimension, per indicator code (the engine's: "" for one not in the framework)
        self._contributions: dict[tuple[str, float, float, float, float], Contribution] = {}

    def contribution(self, lean: LeanContribution) -> Contribution:
        key = (lean.indicator, lean.weight, lean.fraction, lean.earned, lean.possible)
        found = self._contributions.get(key)
        if found is None:
            found = Contribution(
                lean.indicator,
                self.tree.top_of.get(lean.indicator, ""),
                lean.weight,
                lean.fraction,
                lean.earned,
                lean.possible,
            )
            if len(self._contributions) < 100_000:  # frozen and shared; bounded, as the index is cached
                self._contributions[key] = found
        return found


def _lean_item(item: ItemScore, prefix: str = "") -> LeanItem:
    return LeanItem(
        item.item,
        item.version,
        item.type,
        item.status,
        item.earned,
        item.possible,
        [
            LeanContribution(c.indicator, c.weight, c.fraction, c.earned, c.possible)
            for c in item.contributions
        ],
        item.explanation.removeprefix(prefix) if prefix else item.explanation,
    )


def strip(document: ScoreDocument, memo: dict[int, LeanItem] | None = None) -> LeanDocument:
    """The document without what `hydrate` derives from its framework version and from itself.
    `memo`: lean items by the identity of their item scores, for documents that share them (as
    `score_many`'s do); the caller keeps those documents alive while it holds the memo."""
    lean_item = _lean_item if memo is None else _memo(memo, _lean_item)
    return LeanDocument(
        lean=LEAN,
        status=document.status,
        overall=LeanOverall(document.overall.scaled, document.overall.level, document.overall.weights_used),
        dimensions=[
            LeanDimension(d.dimension, d.raw, d.max, d.scaled, d.level, d.weights_used)
            for d in document.dimensions
        ],
        indicators=[LeanIndicator(i.indicator, i.raw, i.max, i.scaled, i.level) for i in document.indicators],
        items=[lean_item(item) for item in document.items],
        provenance=LeanProvenance(
            document.provenance.engine_version,
            document.provenance.framework,
            document.provenance.framework_hash,
            document.provenance.rating_ids,
        ),
        abilities=document.abilities,
        pretest=[_lean_item(item, PRETEST) for item in document.pretest],
    )


def _memo(
    memo: dict[int, LeanItem], make: Callable[[ItemScore], LeanItem]
) -> Callable[[ItemScore], LeanItem]:
    def lean_item(item: ItemScore) -> LeanItem:
        found = memo.get(id(item))
        if found is None:
            found = memo[id(item)] = make(item)
        return found

    return lean_item


def _item(index: FrameworkIndex, lean: LeanItem, prefix: str = "") -> ItemScore:
    return ItemScore(
        lean.item,
        lean.version,
        lean.type,
        lean.status,
        lean.earned,
        lean.possible,
        [index.contribution(c) for c in lean.contributions],
        prefix + lean.explanation,
    )


def hydrate(
    lean: LeanDocument, index: FrameworkIndex, memo: dict[int, ItemScore] | None = None
) -> ScoreDocument:
    """The whole document again, `index` being the framework version its provenance names (KeyError
    if a code it records is not in that version: it was not made from it). `memo`: as `strip`'s,
    item scores by the identity of lean items shared between documents."""
    tree = index.tree
    if memo is None:
        items = [_item(index, item) for item in lean.items]
    else:
        items = []
        for item in lean.items:
            found = memo.get(id(item))
            if found is None:
                found = memo[id(item)] = _item(index, item)
            items.append(found)
    overall = lean.overall
    return ScoreDocument(
        status=lean.status,
        overall=Overall(
            overall.scaled,
            overall.level,
            overall.weights_used,
            tree.feedback(overall.level) if overall.level is not None else None,
        ),
        dimensions=[
            DimensionScore(
                d.dimension,
                list(index.dimensions[d.dimension].tags),
                d.raw,
                d.max,
                d.scaled,
                d.level,
                d.weights_used,
                tree.feedback(d.level),
            )
            for d in lean.dimensions
        ],
        indicators=[
            IndicatorScore(
                i.indicator,
                tree.top_of[i.indicator],
                i.raw,
                i.max,
                i.scaled,
                i.level,
                tree.feedback(i.level, index.indicators[i.indicator]),
            )
            for i in lean.indicators
        ],
        items=items,
        omitted=[item.item for item in items if item.status == "omitted"],
        pending=[item.item for item in items if item.status == "pending_rating"],
        provenance=Provenance(
            lean.provenance.engine_version,
            lean.provenance.framework,
            lean.provenance.framework_hash,
            {item.item: item.version for item in items},
            lean.provenance.rating_ids,
        ),
        abilities=lean.abilities,
        pretest=[_item(index, item, PRETEST) for item in lean.pretest],
    )


StoredForm = LeanDocument | ScoreDocument  # a document as stored: lean, or whole


def store_forms(
    documents: list[ScoreDocument], indexes: dict[str, FrameworkIndex]
) -> list[LeanDocument | ScoreDocument]:
    """What to store of each document: its lean form when the index of its framework version (`indexes`,
    by content hash) hydrates that back to exactly the document, else the document whole (no index, or
    a document this module cannot redo). Item scores shared between the documents are stripped and
    hydrated once."""
    stripped: dict[int, LeanItem] = {}
    hydrated: dict[int, ItemScore] = {}
    forms: list[LeanDocument | ScoreDocument] = []
    for document in documents:
        index = indexes.get(document.provenance.framework_hash)
        form: LeanDocument | ScoreDocument = document
        if index is not None:
            lean = strip(document, stripped)
            try:
                if hydrate(lean, index, hydrated) == document:
                    form = lean
            except KeyError:
                pass
        forms.append(form)
    return forms


_lean_decoder = msgspec.json.Decoder(LeanDocument)
_full_decoder = msgspec.json.Decoder(ScoreDocument)


def decode(stored: str | bytes) -> LeanDocument | ScoreDocument:
    """A stored document's JSON as it was stored: lean, or whole (stored before lean documents, or by
    `store_forms`' fallback). A whole document fails the lean decoder at once (its `items` are
    objects, not arrays) and has no `lean` key, so nothing whole is ever taken for lean."""
    try:
        return _lean_decoder.decode(stored)
    except msgspec.ValidationError:
        return _full_decoder.decode(stored)


def framework_hashes(stored: list[LeanDocument | ScoreDocument]) -> set[str]:
    """The framework versions (content hashes) the lean ones among these documents need to hydrate."""
    return {d.provenance.framework_hash for d in stored if isinstance(d, LeanDocument)}
