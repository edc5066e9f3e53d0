"""The score export as a spreadsheet: the CSV's rows with unit names beside their codes and the
column, dimension and level names in the reader's language above the codes.

One composition for both ways a workbook is made: `GET .../scores.xlsx` streams it at once, and a
score export job (`format=xlsx`) stores it in chunks for a resumable download. `on_rows` reports
progress (rows written so far) as batches are written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from service.results import feed, xlsx
from service.results.labels import Labeller
from service.tenancy import org_units


async def chunks(
    conn: asyncpg.Connection, code: str, lang: str, on_rows: Callable[[int], Awaitable[None]] | None = None
) -> AsyncIterator[bytes]:
    """The workbook's bytes (needs an open transaction: the rows come from a server-side cursor)."""
    dimensions = await feed.dimension_codes(conn, code)
    labeller = Labeller(lang, *await feed.framework_names(conn, code))
    units = await org_units.names_by_code(conn)
    columns = feed.xlsx_columns(dimensions)
    rows = (feed.xlsx_row(row, dimensions, units) async for row in feed.export_rows(conn, code))
    async for chunk in xlsx.stream(
        "scores", labeller.columns(columns), columns, _counted(xlsx.batched(rows), on_rows)
    ):
        yield chunk


async def _counted(
    batches: AsyncIterator[list[Sequence[Any]]], on_rows: Callable[[int], Awaitable[None]] | None
) -> AsyncIterator[list[Sequence[Any]]]:
    done = 0
    async for batch in batches:
        yield batch
        done += len(batch)
        if on_rows is not None:
            await on_rows(done)
