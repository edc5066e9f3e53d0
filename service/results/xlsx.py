"""Spreadsheets Excel opens as they are: XLSX written with flat memory, then streamed.

Writer: XlsxWriter (BSD, maintained since 2013, pure Python, already a dependency) in its
`constant_memory` mode: each row is flushed to a temporary XML file as soon as the next row
starts and strings are written inline instead of into a shared-strings table, so memory does not
grow with the row count (bench/xlsx_memory.py measures it). openpyxl's write-only mode would do
too but is slower; the tests read the files back with openpyxl as an independent reader.

Streaming: an XLSX file is a zip whose directory comes last, so no byte of it is final before
the last row is written. The workbook is therefore written to a temporary file (XlsxWriter's own
per-sheet temporary file plus the zip), which is then sent in chunks and deleted; memory stays
flat, disk holds the file once. Writing an in-memory zip (`in_memory`) would hold the whole file
in memory. Rows are written in batches in a worker thread, so the event loop keeps serving.

A sheet has two header rows: the columns' names in the requested language, then their codes
(the CSV header), frozen above the data so both stay visible. Past Excel's 1,048,576 rows a sheet,
rows continue on a next sheet ("scores 2", ...) under the same two header rows.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import xlsxwriter

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK_BYTES = 64 * 1024
BATCH_ROWS = 1000
MAX_SHEET_NAME = 31  # Excel's limit
MAX_ROWS = 1_048_576  # Excel's rows per sheet: more rows continue on a next sheet, headers repeated


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):  # Excel has no time zones: ISO 8601 text keeps the offset
        return value.isoformat()
    if isinstance(value, (date, UUID)):
        return str(value)
    return value


class SheetWriter:
    """One worksheet written row by row into `path` (synchronous; call from a worker thread)."""

    def __init__(
        self, path: str, sheet: str, labels: Sequence[str], codes: Sequence[str], max_rows: int = MAX_ROWS
    ) -> None:
        self.workbook = xlsxwriter.Workbook(
            path,
            {
                "constant_memory": True,
                "tmpdir": os.path.dirname(path),
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        self.name, self.labels, self.codes, self.max_rows = sheet, list(labels), list(codes), max_rows
        self.bold = self.workbook.add_format({"bold": True})
        self.code_style = self.workbook.add_format({"font_color": "#666666"})
        self.sheets = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.sheets += 1
        suffix = "" if self.sheets == 1 else f" {self.sheets}"
        self.sheet = self.workbook.add_worksheet(self.name[: MAX_SHEET_NAME - len(suffix)] + suffix)
        self.sheet.write_row(0, 0, self.labels, self.bold)
        self.sheet.write_row(1, 0, self.codes, self.code_style)
        self.sheet.freeze_panes(2, 0)
        self.next_row = 2

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            if self.next_row >= self.max_rows:
                self._new_sheet()
            for column, value in enumerate(row):
                value = _cell(value)
                if value is None:
                    continue
                if isinstance(value, bool):
                    self.sheet.write_boolean(self.next_row, column, value)
                elif isinstance(value, (int, float)):
                    self.sheet.write_number(self.next_row, column, value)
                else:
                    self.sheet.write_string(self.next_row, column, str(value))
            self.next_row += 1

    def close(self) -> None:
        self.workbook.close()


async def stream(
    sheet: str, labels: Sequence[str], codes: Sequence[str], batches: AsyncIterable[Sequence[Sequence[Any]]]
) -> AsyncIterator[bytes]:
    """The workbook of `batches` of rows, in chunks: written to a temporary file first (see above)."""
    with tempfile.TemporaryDirectory(prefix="assess-xlsx-") as folder:
        path = os.path.join(folder, "export.xlsx")
        writer = await asyncio.to_thread(SheetWriter, path, sheet, labels, codes)
        try:
            async for batch in batches:
                await asyncio.to_thread(writer.write, batch)
        finally:
            await asyncio.to_thread(writer.close)
        with open(path, "rb") as file:  # noqa: ASYNC230 - a local file; each read goes to a thread
            while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
                yield chunk


async def batched(
    rows: AsyncIterable[Sequence[Any]], size: int = BATCH_ROWS
) -> AsyncIterator[list[Sequence[Any]]]:
    batch: list[Sequence[Any]] = []
    async for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _once(rows: Sequence[Sequence[Any]]) -> AsyncIterator[Sequence[Sequence[Any]]]:
    yield rows


def workbook(
    sheet: str, labels: Sequence[str], codes: Sequence[str], rows: Sequence[Sequence[Any]]
) -> AsyncIterator[bytes]:
    """A small table (an aggregate view) as a streamed workbook."""
    return stream(sheet, labels, codes, _once(rows))
