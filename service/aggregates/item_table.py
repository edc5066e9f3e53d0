"""Item statistics as a table for CSV and XLSX (the console's download and the API's), one row per item:
its classical figures, then its differential item functioning, comparison by comparison.

For each comparison (a group against the rest, `variable:group`, e.g. `category:teacher`,
`org_unit:C1`) three columns: `mh_class:…` (ETS A, B or C), `mh_d:…` (MH D-DIF on the delta scale,
negative: harder for the group at equal total) and `lr:…` (the likelihood-ratio test: flagged or not
with its adjusted p, Δb and Δa; or why the comparison was not tested). A group too small to compare
gets its `mh_class:…` column with the reason in every row; a run with nothing analysed has one `dif`
column with the reason. Reasons and words are in the reader's language (`item_dif.localized`).
"""

from __future__ import annotations

from typing import Any

from service.aggregates.export import Table
from service.i18n import msg, render
from service.scoring.item_dif import DifComparison, DifItem, localized
from service.scoring.statistics import ItemStatistics

CLASSICAL = [
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


def _figure(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _lr_cell(comparison: DifComparison, item: DifItem, locale: str) -> str:
    if item.lr is None:
        if comparison.lr_reason:
            return render(msg("not tested: {reason}", reason=comparison.lr_reason), locale)
        return ""
    lr = item.lr
    p = "—" if lr.p_adjusted is None else f"{lr.p_adjusted:.3g}"
    text = msg(
        "{verdict}: adjusted p {p}, Δb {delta_b}, Δa {delta_a}",
        verdict=msg("flagged") if lr.flagged else msg("not flagged"),
        p=p,
        delta_b=_figure(lr.delta_b, 2),
        delta_a=_figure(lr.delta_a, 2),
    )
    return render(text, locale)


def item_statistics_table(stats: ItemStatistics, locale: str) -> Table:
    """The table; reasons and verdicts in `locale`."""
    deleted: dict[str, list[str]] = {}
    for dimension in stats.dimensions:
        for entry in dimension.alpha_if_deleted:
            alpha = "" if entry.alpha is None else f"{entry.alpha:.4f}"
            deleted.setdefault(entry.item, []).append(f"{dimension.dimension}:{alpha}")
    header = list(CLASSICAL)
    rows: list[list[Any]] = [
        [
            i.item,
            i.type,
            i.n,
            i.facility,
            i.discrimination,
            i.omission_rate,
            i.flagged,
            " ".join(f"{option}:{share:.4f}" for option, share in i.option_shares.items()),
            " ".join(deleted.get(i.item, [])),
        ]
        for i in stats.items
    ]
    if stats.dif is None:  # a run from before DIF: nothing to add
        return Table(header, rows)
    dif = localized(stats.dif, locale)
    at = {i.item: n for n, i in enumerate(stats.items)}
    if dif.reason:
        header.append("dif")
        for row in rows:
            row.append(dif.reason)
    for comparison in dif.comparisons:
        name = f"{comparison.variable}:{comparison.focal}"
        header += [f"mh_class:{name}", f"mh_d:{name}", f"lr:{name}"]
        cells: list[list[Any]] = [["", None, ""] for _ in rows]
        for item in comparison.items:
            if item.item in at:
                cells[at[item.item]] = [item.ets_class, item.mh_d_dif, _lr_cell(comparison, item, locale)]
        for row, added in zip(rows, cells, strict=True):
            row += added
    for skipped in dif.skipped:
        header.append(f"mh_class:{skipped.variable}:{skipped.group}")
        text = render(msg("not compared: {reason}", reason=skipped.reason), locale)
        for row in rows:
            row.append(text)
    return Table(header, rows)
