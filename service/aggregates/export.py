"""Aggregate views as CSV: one row per cell and measure, withheld cells kept as flagged rows."""

from __future__ import annotations

import csv
import io
from datetime import date

from service.aggregates.views import AggregateView, Cell, DrillDown, TrainingEffect, Trend

_FIGURES = ["n", "mean", "sd", "p10", "p25", "p50", "p75", "p90"]


def _levels(cells: list[Cell]) -> list[str]:
    codes: list[str] = []
    for cell in cells:
        for summary in cell.measures:
            for level in summary.levels:
                if level.level not in codes:
                    codes.append(level.level)
    return codes


def _write(header: list[str], rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return out.getvalue().encode("utf-8")


def cells_csv(assessment: str, category: str | None, cells: list[tuple[date | None, Cell]]) -> bytes:
    levels = _levels([cell for _, cell in cells])
    header = ["assessment", "unit", "unit_name", "scope", "period_start", "category", "suppressed", "measure",
              *_FIGURES, *(f"level_{code}" for code in levels)]
    rows: list[list[object]] = []
    for start, cell in cells:
        lead: list[object] = [assessment, cell.unit, cell.name, cell.scope, start.isoformat() if start else None,
                              category or "all"]
        if cell.suppressed:
            rows.append([*lead, "true", None, *([None] * (len(_FIGURES) + len(levels)))])
            continue
        for summary in cell.measures:
            counts = {level.level: level.n for level in summary.levels}
            rows.append([*lead, "false", summary.measure, summary.n, summary.mean, summary.sd, summary.p10,
                         summary.p25, summary.p50, summary.p75, summary.p90, *(counts.get(c, 0) for c in levels)])
        for measure in cell.withheld_measures:
            rows.append([*lead, "true", measure, *([None] * (len(_FIGURES) + len(levels)))])
    return _write(header, rows)


def view_csv(view: AggregateView) -> bytes:
    return cells_csv(view.assessment, view.category, [(None, view.cell)])


def drill_down_csv(view: DrillDown) -> bytes:
    return cells_csv(view.assessment, view.category, [(None, view.parent), *((None, c) for c in view.children)])


def trend_csv(view: Trend) -> bytes:
    return cells_csv(view.assessment, None, [(p.start, p.cell) for p in view.points])


def effect_csv(view: TrainingEffect) -> bytes:
    header = ["before", "after", "unit", "category", "suppressed", "measure", "n", "mean_before", "mean_after",
              "mean_gain", "sd_gain", "ci95_low", "ci95_high", "d_z", "d_av"]
    lead: list[object] = [view.before, view.after, view.unit, view.category or "all"]
    if view.suppressed:
        return _write(header, [[*lead, "true", *([None] * 10)]])
    rows: list[list[object]] = [[*lead, "false", g.measure, g.n, g.mean_before, g.mean_after, g.mean_gain, g.sd_gain,
                                 g.ci95_low, g.ci95_high, g.d_z, g.d_av] for g in view.gains]
    rows += [[*lead, "true", measure, *([None] * 9)] for measure in view.withheld_measures]
    return _write(header, rows)
