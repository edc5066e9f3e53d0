"""Aggregate views as tables (one row per cell and measure, withheld cells kept as flagged rows),
rendered as CSV or XLSX.

Every cell the JSON lists gets at least one row: a cell with nobody in it (n = 0, no measures)
gets one row with n = 0, so the CSV and the JSON list the same units.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date
from typing import Any, NamedTuple

from service.aggregates.views import AggregateView, Cell, DrillDown, TrainingEffect, Trend
from service.results import xlsx
from service.results.labels import Labeller

_FIGURES = ["n", "mean", "sd", "p10", "p25", "p50", "p75", "p90"]
BOM = "\ufeff"


class Table(NamedTuple):
    columns: list[str]
    rows: list[list[Any]]
    measure_column: int | None = None  # where a measure's name goes beside its code in XLSX


def _levels(cells: list[Cell]) -> list[str]:
    codes: list[str] = []
    for cell in cells:
        for summary in cell.measures:
            for level in summary.levels:
                if level.level not in codes:
                    codes.append(level.level)
    return codes


def cells_table(assessment: str, category: str | None, cells: list[tuple[date | None, Cell]]) -> Table:
    levels = _levels([cell for _, cell in cells])
    header = [
        "assessment",
        "unit",
        "unit_name",
        "scope",
        "period_start",
        "category",
        "suppressed",
        "measure",
        *_FIGURES,
        *(f"level_{code}" for code in levels),
    ]
    blank = [None] * (len(_FIGURES) + len(levels))
    rows: list[list[Any]] = []
    for start, cell in cells:
        lead: list[Any] = [assessment, cell.unit, cell.name, cell.scope, start, category or "all"]
        if cell.suppressed:
            rows.append([*lead, True, None, *blank])
            continue
        for summary in cell.measures:
            counts = {level.level: level.n for level in summary.levels}
            rows.append(
                [
                    *lead,
                    False,
                    summary.measure,
                    summary.n,
                    summary.mean,
                    summary.sd,
                    summary.p10,
                    summary.p25,
                    summary.p50,
                    summary.p75,
                    summary.p90,
                    *(counts.get(c, 0) for c in levels),
                ]
            )
        for measure in cell.withheld_measures:
            rows.append([*lead, True, measure, *blank])
        if not cell.measures and not cell.withheld_measures:  # nobody in it: listed, as in the JSON
            rows.append([*lead, False, None, cell.n or 0, *blank[1:]])
    return Table(header, rows, header.index("measure"))


def view_table(view: AggregateView) -> Table:
    return cells_table(view.assessment, view.category, [(None, view.cell)])


def drill_down_table(view: DrillDown) -> Table:
    return cells_table(
        view.assessment, view.category, [(None, view.parent), *((None, c) for c in view.children)]
    )


def trend_table(view: Trend) -> Table:
    return cells_table(view.assessment, None, [(p.start, p.cell) for p in view.points])


def effect_table(view: TrainingEffect) -> Table:
    header = [
        "before",
        "after",
        "unit",
        "category",
        "suppressed",
        "measure",
        "n",
        "mean_before",
        "mean_after",
        "mean_gain",
        "sd_gain",
        "ci95_low",
        "ci95_high",
        "d_z",
        "d_av",
    ]
    lead: list[Any] = [view.before, view.after, view.unit, view.category or "all"]
    if view.suppressed:
        return Table(header, [[*lead, True, *([None] * 10)]], header.index("measure"))
    rows: list[list[Any]] = [
        [
            *lead,
            False,
            g.measure,
            g.n,
            g.mean_before,
            g.mean_after,
            g.mean_gain,
            g.sd_gain,
            g.ci95_low,
            g.ci95_high,
            g.d_z,
            g.d_av,
        ]
        for g in view.gains
    ]
    rows += [[*lead, True, measure, *([None] * 9)] for measure in view.withheld_measures]
    return Table(header, rows, header.index("measure"))


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return value


def to_csv(table: Table, bom: bool = False) -> bytes:
    """UTF-8 CSV; with `bom`, a leading U+FEFF so Excel reads it as UTF-8 (Chinese names intact)."""
    out = io.StringIO()
    if bom:
        out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    writer.writerows([_text(value) for value in row] for row in table.rows)
    return out.getvalue().encode("utf-8")


def to_xlsx(table: Table, sheet: str, labeller: Labeller) -> AsyncIterator[bytes]:
    """The table as a workbook, with each measure's name (in the labeller's language) beside its code."""
    columns, rows = list(table.columns), table.rows
    at = table.measure_column
    if at is not None:
        columns.insert(at + 1, "measure_name")
        rows = [[*row[: at + 1], labeller.measure(row[at]), *row[at + 1 :]] for row in rows]
    return xlsx.workbook(sheet, labeller.columns(columns), columns, rows)
