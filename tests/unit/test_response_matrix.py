"""Score documents → per-dimension response matrices for calibration (pure: no database)."""

from __future__ import annotations

import numpy as np
import pytest

from service.results.response_matrix import (
    MatrixBuilder,
    category_floors,
    category_of,
    dimension_credits,
    response_matrices,
)
from service.scoring.engine import Contribution, ItemScore, Overall, Provenance, ScoreDocument


def _item(code: str, *parts: tuple[str, str, float, float], status: str = "scored") -> ItemScore:
    """parts: (indicator, top-level dimension, loading weight, fraction)."""
    contributions = [Contribution(i, d, w, f, f * w, w) for i, d, w, f in parts]
    return ItemScore(code, 1, "single_choice", status, 0.0, 0.0, contributions, "")  # type: ignore[arg-type]


def _document(*items: ItemScore, dimensions: tuple[str, ...] = ("AK", "HMC")) -> ScoreDocument:
    return ScoreDocument(
        "final",
        Overall(None, None, dict.fromkeys(dimensions, 1.0)),
        [],
        [],
        list(items),
        [i.item for i in items if i.status == "omitted"],
        [],
        Provenance("1.0.0", "fw", "sha256:x", {}, []),
    )


def test_credit_per_dimension_is_the_weighted_mean_of_its_indicators():
    """A situational-judgement item keyed per indicator, loading on two dimensions: each dimension
    gets the credit of its own indicators; two indicators of one dimension are weighted by loading."""
    sjt = _item("SJT", ("HMC.1", "HMC", 0.25, 1.0), ("HMC.2", "HMC", 0.25, 0.5), ("ES.1", "ES", 0.5, 0.25))
    assert dimension_credits(_document(sjt)) == {"HMC": {"SJT": 0.75}, "ES": {"SJT": 0.25}}


def test_dichotomous_items_have_two_categories_and_forms_leave_nan():
    """Three attempts on different forms: an item not on a form is NaN (not administered); an item on
    the form left unanswered (omitted, 0 credit) is category 0."""
    documents = [
        _document(_item("A", ("AK.1", "AK", 1.0, 1.0)), _item("B", ("AK.1", "AK", 1.0, 0.0))),
        _document(_item("A", ("AK.1", "AK", 1.0, 0.0)), _item("C", ("AK.2", "AK", 1.0, 1.0))),
        _document(
            _item("B", ("AK.1", "AK", 1.0, 1.0)), _item("C", ("AK.2", "AK", 1.0, 0.0), status="omitted")
        ),
    ]
    (matrix,) = response_matrices(documents)
    assert matrix.dimension == "AK" and matrix.item_ids == ("A", "B", "C")
    assert matrix.categories == (2, 2, 2) and matrix.floors == ((0.0, 1.0),) * 3
    expected = np.array([[1, 0, np.nan], [0, np.nan, 1], [np.nan, 1, 0]])
    np.testing.assert_array_equal(matrix.responses, expected)


def test_likert_points_are_ordered_categories_and_rare_levels_merge():
    """A 5-point item: each observed point is a category in credit order (reverse keying is already
    in the credit). A level given fewer than `min_category` times merges into its smaller neighbour."""
    builder = MatrixBuilder(min_category=2)
    for fraction in (0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0, 1.0):
        builder.add(_document(_item("LK", ("HMC.3", "HMC", 1.0, fraction))))
    (matrix,) = builder.matrices()
    # 0.0 was given once: merged into 0.25 (its only neighbour)
    assert matrix.floors == ((0.0, 0.5, 0.75, 1.0),) and matrix.categories == (4,)
    assert matrix.responses[:, 0].tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3, 3]


def test_category_floors_merge_into_the_smaller_neighbour_and_keep_two():
    # 0.5 (given once) joins its smaller neighbour, 1.0: their category starts at 0.5
    assert category_floors({0.0: 50, 0.5: 1, 1.0: 20}) == (0.0, 0.5)
    assert category_floors({0.0: 10, 0.5: 1, 1.0: 20}) == (0.0, 1.0)  # here 0.0's is the smaller
    assert category_floors({0.0: 1, 1.0: 1}) == (0.0, 1.0)  # two categories are never merged
    assert category_floors({0.0: 3, 0.3: 3, 0.6: 30, 1.0: 30}, min_category=5) == (0.0, 0.6, 1.0)
    assert category_floors({0.4: 7}) == (0.4,)
    floors = (0.0, 0.5, 1.0)
    assert [category_of(c, floors) for c in (0.0, 0.25, 0.5, 0.75, 1.0)] == [0, 0, 1, 1, 2]


def test_dimensions_follow_the_framework_order_and_empty_dimensions_are_absent():
    document = _document(
        _item("H", ("HMC.1", "HMC", 1.0, 0.5)),
        _item("A", ("AK.1", "AK", 1.0, 1.0)),
        dimensions=("AK", "HMC", "ES"),
    )
    # the document's dimensions list, filtered to the top level, gives the order
    from service.scoring.engine import DimensionScore

    ordered = ScoreDocument(
        document.status,
        document.overall,
        [DimensionScore(code, [], 0, 0, 0, "x", {}) for code in ("AK", "HMC", "ES")],
        [],
        document.items,
        [],
        [],
        document.provenance,
    )
    assert [m.dimension for m in response_matrices([ordered])] == ["AK", "HMC"]


def test_pending_items_and_unmapped_indicators_are_left_out():
    pending = _item("OR", ("HMC.2", "HMC", 1.0, 0.0), status="pending_rating")
    stray = _item("X", ("GONE.1", "", 1.0, 1.0))
    assert dimension_credits(_document(pending, stray)) == {}
    assert response_matrices([]) == []


@pytest.mark.parametrize("credit", [0.0, 0.3333333, 0.6666667, 1.0])
def test_rounded_credits_find_their_own_category(credit):
    floors = (0.0, 0.333333, 0.666667, 1.0)
    assert floors[category_of(round(credit, 6), floors)] == pytest.approx(round(credit, 6), abs=1e-6)


def test_the_builder_agrees_with_a_cell_by_cell_reading():
    """Random forms over two dimensions, random credit levels, omissions: every cell is the category of
    its credit among its item's floors, NaN exactly where the item was not on the attempt's form."""
    rng = np.random.default_rng(5)
    levels = {
        f"I{j}": sorted({0.0, 1.0, *rng.choice([0.25, 0.5, 0.75], size=j % 4, replace=False)})
        for j in range(12)
    }
    documents = []
    for _ in range(400):
        form = [code for code in levels if rng.random() < 0.6]
        items = []
        for code in form:
            dimension = "AK" if int(code[1:]) < 7 else "HMC"
            fraction = float(rng.choice(levels[code]))
            omitted = rng.random() < 0.1
            items.append(
                _item(
                    code,
                    (f"{dimension}.1", dimension, 1.0, 0.0 if omitted else fraction),
                    status="omitted" if omitted else "scored",
                )
            )
        documents.append(_document(*items))
    matrices = response_matrices(documents, min_category=15)
    assert [m.dimension for m in matrices] == ["AK", "HMC"]
    for matrix in matrices:
        rows = [d for d in (dimension_credits(doc).get(matrix.dimension) for doc in documents) if d]
        assert matrix.responses.shape == (len(rows), len(matrix.item_ids))
        for i, credits in enumerate(rows):
            for j, code in enumerate(matrix.item_ids):
                cell = matrix.responses[i, j]
                if code in credits:
                    assert cell == category_of(credits[code], matrix.floors[j])
                else:
                    assert np.isnan(cell)
