"""Score documents → the response matrices an IRT calibration fits, one per top-level dimension.
Pure: no I/O (the calibration job in `service.results.calibrations` feeds it batches of documents).

Columns: one per item that loads on an indicator of the dimension (an item loading on two
top-level dimensions is a column of both). Rows: one per attempt with a response to at least one
of them.

The credit an item gives on a dimension is the loading-weighted mean of the fractions of its
contributions to that dimension's indicators (`Contribution.fraction`, `weight`): for an item
loading on one indicator, simply the fraction of its points it earned. A situational-judgement
item keyed per indicator therefore gets, on each dimension, the credit of its own indicators
there.

Category of a response: the index of its credit among the item's credit levels, in increasing
order. The levels are the distinct fractions (documents round them to 6 decimals) the item gave on
the dimension in the calibration sample, so:
- a keyed dichotomous item (single choice; multiple choice `all_or_nothing`; ordering `exact`)
  gives 0 or 1: 2 categories, calibrated as 2PL;
- a Likert item gives one level per scale point (reverse keying already applied by its credit);
  situational judgement its keyed effectiveness levels (`best`), their combinations
  (`most_least`) or its rating closeness (`rate`); multiple choice `per_option` or
  `right_minus_wrong` its partial-credit levels; ordering `pairwise` the share of pairs in order;
  an open response the agreed rating's share: more than 2 categories, calibrated with the graded
  response model (see `service.psychometrics.calibration` for why GRM rather than GPCM).
Observed levels rather than every level the key could give: a level nobody reached is an empty
category, whose GRM threshold is not identified (the likelihood has no information on it). For the
same reason a level reached by fewer than `min_category` responses is merged into its neighbour
with fewer responses (the lower one on a tie), until every category has `min_category` or only two
remain, so a rare partial-credit level does not make an unstable threshold. `floors[k]` is the
lowest credit of category k: a credit c is in the highest category whose floor is ≤ c. The
order of credit is kept, so a category is still "this much of the item's points or more".

Not administered vs. omitted:
- an item that was not on the attempt's form (another pool draw, another form) is NaN: the
  person was never asked, and marginal maximum likelihood integrates such cells out;
- an item on the form left unanswered is category 0 (no credit), as in the score document, which
  gives it 0 credit too. Treating it as not administered would let a candidate raise their θ by
  skipping what they cannot answer, and the θ would then disagree with the reported score that
  counts the omission. (The documents cannot tell an embedded omission from an item not reached
  before the deadline, which PISA treats as not administered; both are 0 here.)
An item still pending a rating has no credit yet; only final documents are calibrated, where
nothing is pending.

Pretest items (unscored, listed apart in a document's `pretest`) are columns like any other: the
calibration is what they were administered for. They are read here only (`with_pretest`); abilities
use the scored items alone. How a calibration treats them: see `service.results.calibrations`.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from service.psychometrics.response import FloatArray
from service.scoring.engine import DIGITS, ScoreDocument

# Linacre's guideline for rating scales: at least 10 observations per category for stable thresholds
# ("Optimizing rating scale category effectiveness", J. Applied Measurement 3, 2002).
MIN_CATEGORY = 10


@dataclass(frozen=True)
class DimensionMatrix:
    """persons × items category codes (float, NaN: not administered), ready for
    `service.psychometrics.calibration.calibrate_dimension`."""

    dimension: str
    item_ids: tuple[str, ...]
    categories: tuple[int, ...]  # per item: its number of categories (1 when it gave one credit only)
    floors: tuple[tuple[float, ...], ...]  # per item: the lowest credit of each category
    responses: FloatArray


def dimension_credits(document: ScoreDocument, *, with_pretest: bool = False) -> dict[str, dict[str, float]]:
    """Per top-level dimension, per item scored or omitted in the document, its credit (0-1) there;
    `with_pretest`: the unscored pretest items administered too (for calibrations only)."""
    sums: dict[str, dict[str, list[float]]] = {}
    for item in [*document.items, *document.pretest] if with_pretest else document.items:
        if item.status == "pending_rating":
            continue
        for part in item.contributions:
            if not part.dimension or part.weight <= 0:
                continue
            totals = sums.setdefault(part.dimension, {}).setdefault(item.item, [0.0, 0.0])
            totals[0] += part.fraction * part.weight
            totals[1] += part.weight
    return {
        dimension: {item: round(earned / weight, DIGITS) + 0.0 for item, (earned, weight) in items.items()}
        for dimension, items in sums.items()
    }


def category_floors(counts: dict[float, int], min_category: int = MIN_CATEGORY) -> tuple[float, ...]:
    """The categories of one item from how often each credit level was given: levels in increasing
    order, a level with fewer than `min_category` responses merged into its smaller neighbour (the
    lower on a tie) while more than two categories remain. Returns each category's lowest credit."""
    groups = [[level, counts[level]] for level in sorted(counts)]
    while len(groups) > 2:
        sparse = [i for i, (_, n) in enumerate(groups) if n < min_category]
        if not sparse:
            break
        i = min(sparse, key=lambda k: (groups[k][1], k))
        if i == 0:
            j = 1
        elif i == len(groups) - 1:
            j = i - 1
        else:
            j = i - 1 if groups[i - 1][1] <= groups[i + 1][1] else i + 1
        low, high = min(i, j), max(i, j)
        groups[low] = [groups[low][0], groups[low][1] + groups[high][1]]
        del groups[high]
    return tuple(float(level) for level, _ in groups)


def category_of(credit: float, floors: tuple[float, ...]) -> int:
    """The highest category whose floor is at or below `credit` (0 below every floor)."""
    category = 0
    for k, floor in enumerate(floors):
        if floor <= credit + 1e-9:
            category = k
    return category


class _Cells:
    """One dimension's responses as they arrive: (row, column, credit) in compact arrays (16 bytes a
    response, rather than a dict per attempt), and per item how often each credit was given."""

    __slots__ = ("columns", "counts", "credits", "persons", "rows", "who")

    def __init__(self) -> None:
        self.columns: dict[str, int] = {}  # item code -> its column, in order of first response
        self.counts: list[dict[float, int]] = []  # per column: credit -> responses
        self.rows, self.who, self.credits = array("q"), array("q"), array("d")
        self.persons = 0

    def add(self, credits: dict[str, float]) -> None:
        for item, credit in credits.items():
            j = self.columns.get(item)
            if j is None:
                j = self.columns[item] = len(self.counts)
                self.counts.append({})
            self.counts[j][credit] = self.counts[j].get(credit, 0) + 1
            self.rows.append(self.persons)
            self.who.append(j)
            self.credits.append(credit)
        self.persons += 1


class MatrixBuilder:
    """Documents added one at a time (a batch at a time from the database); `matrices()` at the end.
    Keeps every response's credit until then (the levels of an item are known only after the last
    document): about 16 bytes per item answered."""

    def __init__(self, min_category: int = MIN_CATEGORY) -> None:
        self.min_category = min_category
        self._cells: dict[str, _Cells] = {}
        self._order: list[str] = []  # top-level dimensions in the framework's order, as first seen

    def add(self, document: ScoreDocument) -> None:
        top = document.overall.weights_used
        for scored in document.dimensions:
            if scored.dimension in top and scored.dimension not in self._order:
                self._order.append(scored.dimension)
        for code, credits in dimension_credits(document, with_pretest=True).items():
            if code not in self._order:
                self._order.append(code)
            self._cells.setdefault(code, _Cells()).add(credits)

    def matrices(self) -> list[DimensionMatrix]:
        result = []
        for dimension in self._order:
            cells = self._cells.get(dimension)
            if cells is None or not cells.persons:
                continue
            item_ids = tuple(sorted(cells.columns))
            position = {item: k for k, item in enumerate(item_ids)}
            by_column = [position[item] for item in sorted(cells.columns, key=cells.columns.__getitem__)]
            floors_of = [category_floors(counts, self.min_category) for counts in cells.counts]
            floors = tuple(floors_of[cells.columns[item]] for item in item_ids)
            responses = np.full((cells.persons, len(item_ids)), np.nan)
            rows = np.frombuffer(cells.rows, dtype=np.int64)
            columns = np.frombuffer(cells.who, dtype=np.int64)
            credits = np.frombuffer(cells.credits, dtype=np.float64)
            for j, item_floors in enumerate(floors_of):
                mask = columns == j
                # the highest category whose floor is at or below the credit (as `category_of`)
                codes = np.searchsorted(np.asarray(item_floors) - 1e-9, credits[mask], side="right") - 1
                responses[rows[mask], by_column[j]] = np.maximum(codes, 0)
            result.append(
                DimensionMatrix(
                    dimension=dimension,
                    item_ids=item_ids,
                    categories=tuple(len(f) for f in floors),
                    floors=floors,
                    responses=responses,
                )
            )
        return result


def response_matrices(
    documents: Iterable[ScoreDocument], min_category: int = MIN_CATEGORY
) -> list[DimensionMatrix]:
    """Every top-level dimension's matrix over these documents (rows in document order)."""
    builder = MatrixBuilder(min_category)
    for document in documents:
        builder.add(document)
    return builder.matrices()
