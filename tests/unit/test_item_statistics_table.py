"""The item statistics as a table (service/aggregates/item_table.py `item_statistics_table`), the console's
CSV and XLSX of the item statistics screen.

What this file proves: one row per item in the statistics' order, every figure as computed (never
rounded or zero-filled: a missing discrimination stays empty), option shares as `option:share`
pairs, alpha if deleted gathered from every dimension that has the item, and the flag carried; the
CSV starts with a byte order mark when asked. Pure: no database.
"""

from __future__ import annotations

from service.aggregates.export import to_csv
from service.aggregates.item_table import item_statistics_table
from service.scoring.statistics import AlphaIfDeleted, DimensionReliability, ItemStatistic, ItemStatistics


def _stats() -> ItemStatistics:
    return ItemStatistics(
        attempts=40,
        items=[
            ItemStatistic("SC-1", "single_choice", 40, 0.5, -0.12, 0.0, {"a": 0.25, "b": 0.75}, True),
            ItemStatistic("OR-1", "open_response", 38, 0.61, None, 0.05, {}, False),
        ],
        dimensions=[
            DimensionReliability(
                "AK", 2, 40, 0.7, [AlphaIfDeleted("SC-1", 0.81), AlphaIfDeleted("OR-1", None)]
            ),
            DimensionReliability("ES", 1, 40, None, [AlphaIfDeleted("SC-1", 0.5)], reason="one item"),
        ],
    )


def test_one_row_per_item_with_its_figures_shares_and_alpha_if_deleted() -> None:
    table = item_statistics_table(_stats(), "en")
    assert table.columns == [
        "item",
        "type",
        "n",
        "facility",
        "discrimination",
        "omission_rate",
        "flagged",
        "option_shares",
        "alpha_if_deleted",
    ]
    assert table.rows == [
        ["SC-1", "single_choice", 40, 0.5, -0.12, 0.0, True, "a:0.2500 b:0.7500", "AK:0.8100 ES:0.5000"],
        ["OR-1", "open_response", 38, 0.61, None, 0.05, False, "", "AK:"],
    ]


def test_the_csv_keeps_a_missing_figure_empty_and_starts_with_a_bom() -> None:
    text = to_csv(item_statistics_table(_stats(), "en"), bom=True).decode("utf-8")
    assert text.startswith("\ufeffitem,type,n,")
    assert text.splitlines()[2] == "OR-1,open_response,38,0.61,,0.05,false,,AK:"
