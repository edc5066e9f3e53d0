"""People and org units from a spreadsheet (XLSX or CSV) or, for the tree, a JSON document.

The console's imports read a file into the very body the API takes (`PeopleBulkUpsert` for POST
/v1/people/bulk, `OrgUnitImport` for POST /v1/org-units/import) and hand it to the same domain
function, so the rules and the all-or-nothing behaviour are the API's. What this module adds is the
naming: every problem, whether the row fails to parse or the domain refuses it (a JSON pointer such
as `/people/41/org_unit_code`), is given back as the file's sheet, row and column.

The first row names the columns (`PEOPLE_COLUMNS`, `UNIT_COLUMNS`, in any order); data starts on
row 2; empty rows are skipped. CSV is read as UTF-8, with or without a byte order mark (Excel's).
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args
from zipfile import BadZipFile

import asyncpg
import msgspec

from service.errors import DomainError, FieldError, Unprocessable, msgspec_field_error
from service.i18n import msg, render
from service.tenancy.fields import Category
from service.tenancy.org_units import MAX_IMPORT_UNITS, OrgUnitCreate, OrgUnitImport
from service.tenancy.people import MAX_BULK_PEOPLE, PeopleBulkUpsert, PersonBulkRow

PEOPLE_COLUMNS = ("external_id", "org_unit_code", "category", "display_name", "active")
UNIT_COLUMNS = ("code", "name", "level", "parent_code")
_TRUE = {"true", "yes", "1", "y", "是"}
_FALSE = {"false", "no", "0", "n", "否"}
_ROW_POINTER = re.compile(r"^/(?:people|units)/(\d+)(?:/([^/]+))?")

Row = TypeVar("Row", bound=msgspec.Struct)
Body = TypeVar("Body", PeopleBulkUpsert, OrgUnitImport)
Result = TypeVar("Result")


class Located(msgspec.Struct, frozen=True):
    """Where the n-th row of the body came from: the sheet's name and the 1-based row number."""

    sheet: str
    row: int


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _not_a_table(detail: str) -> Unprocessable:
    return Unprocessable(msg("the file cannot be read"), [FieldError(detail, "/file")])


def _xlsx_rows(content: bytes) -> tuple[str, Iterator[tuple[Any, ...]]]:
    import openpyxl  # imported here: only imports need it, and it takes a while to import

    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError):
        raise _not_a_table(msg("upload an .xlsx or .csv file")) from None
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    book.close()
    return sheet.title, iter(rows)


def _csv_rows(content: bytes, name: str) -> tuple[str, Iterator[tuple[Any, ...]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _not_a_table(msg("a CSV file must be UTF-8")) from None
    return name, (tuple(r) for r in csv.reader(io.StringIO(text)))


def read_table(
    content: bytes, filename: str, columns: tuple[str, ...]
) -> list[tuple[Located, dict[str, str]]]:
    """Every non-empty data row with its place, as cells by column name; unknown columns are named."""
    is_xlsx = content[:2] == b"PK" or filename.lower().endswith(".xlsx")
    sheet, lines = _xlsx_rows(content) if is_xlsx else _csv_rows(content, filename or "csv")
    header = [_text(c) for c in next(lines, ())]
    unknown = [
        FieldError(msg("unknown column '{name}'", name=name), sheet=sheet, row=1, column=name)
        for name in header
        if name and name not in columns
    ]
    if unknown:
        raise Unprocessable(msg("the columns are not the template's; nothing was saved"), unknown)
    found = []
    for number, values in enumerate(lines, start=2):
        cells = {name: _text(v) for name, v in zip(header, values, strict=False) if name}
        if any(cells.values()):
            found.append((Located(sheet, number), cells))
    if not found:
        raise _not_a_table(msg("the file holds no rows below its header"))
    return found


def people_template(locale: str) -> bytes:
    """An XLSX to fill in: the columns on the first sheet's first row, what each takes on a second sheet."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = book.add_format({"bold": True})
    book.add_worksheet("people").write_row(0, 0, PEOPLE_COLUMNS, bold)
    notes = book.add_worksheet(render(msg("Instructions"), locale))
    hints = [
        msg("The person's id in the HR system (required; letters, digits, . _ : @ -)"),
        msg("The code of the person's org unit (empty: none)"),
        msg("One of: {categories} (empty: unspecified)", categories=", ".join(get_args(Category))),
        msg("The name shown in the console and reports (optional)"),
        msg("true or false (empty: true); false: the person can no longer sign in"),
    ]
    notes.set_column(0, 0, 18)
    notes.set_column(1, 1, 90)
    for row, (column, hint) in enumerate(zip(PEOPLE_COLUMNS, hints, strict=True)):
        notes.write_row(row, 0, [column, render(hint, locale)])
    book.close()
    return buffer.getvalue()


def _flag(cells: dict[str, str], column: str) -> bool | str:
    value = cells.get(column, "").lower()
    if value == "":
        return True
    return True if value in _TRUE else False if value in _FALSE else cells[column]


def _person(cells: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"external_id": cells.get("external_id", ""), "active": _flag(cells, "active")}
    for column in ("org_unit_code", "display_name"):
        row[column] = cells.get(column) or None
    row["category"] = cells.get("category") or "unspecified"
    return row


def _unit(cells: dict[str, str]) -> dict[str, Any]:
    return {
        "code": cells.get("code", ""),
        "name": cells.get("name", ""),
        "level": cells.get("level") or None,
        "parent_code": cells.get("parent_code") or None,
    }


def _rows(
    table: list[tuple[Located, dict[str, str]]], kind: type[Row], make: Any, limit: int
) -> tuple[list[Row], list[Located], list[FieldError]]:
    """The rows that parse, where each came from, and a problem for each row that does not."""
    if len(table) > limit:
        raise _not_a_table(msg("at most {limit} rows per import", limit=limit))
    rows: list[Row] = []
    places: list[Located] = []
    problems: list[FieldError] = []
    for where, cells in table:
        try:
            rows.append(msgspec.convert(make(cells), kind))
            places.append(where)
        except msgspec.ValidationError as exc:
            order = {name: i for i, name in enumerate(cells)}  # the file's own column order
            bad = sorted(_bad_cells(kind, make(cells), exc), key=lambda c: order.get(c[0], len(order)))
            problems += [
                FieldError(error.detail, sheet=where.sheet, row=where.row, column=column)
                for column, error in bad
            ]
    return rows, places, problems


def _column(error: FieldError) -> str:
    return (error.pointer or "").lstrip("/").split("/", 1)[0]


@functools.cache
def _cell_types(kind: type[msgspec.Struct]) -> dict[str, type[msgspec.Struct]]:
    """A one-field struct per field of `kind`, with the field's own type and constraints: a cell checked
    alone fails with the very message the whole row would give for it."""
    return {
        field.name: msgspec.defstruct(f"{kind.__name__}_{field.name}", [(field.name, field.type)])
        for field in msgspec.structs.fields(kind)
    }


def _bad_cells(
    kind: type[msgspec.Struct], row: dict[str, Any], exc: msgspec.ValidationError
) -> list[tuple[str, FieldError]]:
    """Every cell of a row that does not parse, not only the first msgspec stops at; the row's own error
    when no cell fails alone (a rule across cells)."""
    cells = _cell_types(kind)
    found = []
    for name, value in row.items():
        try:
            msgspec.convert({name: value}, cells[name])
        except msgspec.ValidationError as alone:
            error = msgspec_field_error(str(alone))
            found.append((_column(error) or name, error))
    if found:
        return found
    error = msgspec_field_error(str(exc))
    return [(_column(error), error)]


@dataclass(frozen=True)
class Parsed(Generic[Body]):
    """A file read into the API's body: the rows that parsed, where each came from (None for JSON, whose
    problems keep their pointers), and the rows that did not parse, named."""

    body: Body
    places: list[Located] | None
    problems: list[FieldError]


def people_file(content: bytes, filename: str) -> Parsed[PeopleBulkUpsert]:
    """The body of POST /v1/people/bulk from a sheet."""
    table = read_table(content, filename, PEOPLE_COLUMNS)
    rows, places, problems = _rows(table, PersonBulkRow, _person, MAX_BULK_PEOPLE)
    return Parsed(PeopleBulkUpsert(people=rows), places, problems)


def units_file(content: bytes, filename: str) -> Parsed[OrgUnitImport]:
    """The body of POST /v1/org-units/import from a sheet or a JSON document."""
    if filename.lower().endswith(".json") or content.lstrip()[:1] == b"{":
        try:
            return Parsed(msgspec.json.decode(content, type=OrgUnitImport), None, [])
        except msgspec.ValidationError as exc:
            raise Unprocessable(
                msg("the document is not a valid import"), [msgspec_field_error(str(exc))]
            ) from None
        except msgspec.DecodeError:
            raise _not_a_table(msg("the file is not valid JSON")) from None
    table = read_table(content, filename, UNIT_COLUMNS)
    rows, places, problems = _rows(table, OrgUnitCreate, _unit, MAX_IMPORT_UNITS)
    return Parsed(OrgUnitImport(units=rows), places, problems)


def located(errors: list[FieldError], places: list[Located] | None) -> list[FieldError]:
    """The domain's problems about rows of the body (`/people/3/org_unit_code`) as cells of the file."""
    if places is None:
        return errors
    named = []
    for error in errors:
        found = _ROW_POINTER.match(error.pointer or "")
        if found is None or int(found.group(1)) >= len(places):
            named.append(error)
            continue
        where = places[int(found.group(1))]
        named.append(
            FieldError(error.detail, sheet=where.sheet, row=where.row, column=found.group(2) or None)
        )
    return named


class _Undo(Exception):
    """Raised inside the savepoint to roll back an import that was run only for its checks."""


async def apply(
    conn: asyncpg.Connection, parsed: Parsed[Body], run: Callable[[Body], Awaitable[Result]]
) -> Result:
    """`run` (the API's import) on the parsed rows in a savepoint, all or nothing. When some rows did not
    parse, the others still go through `run`, for the domain's own checks, and are then rolled back: the
    422 names every problem of the file at once, and nothing is saved."""
    problems = list(parsed.problems)
    try:
        async with conn.transaction():
            if problems and not _rows_in(parsed.body):
                raise _Undo
            result = await run(parsed.body)
            if problems:
                raise _Undo
        return result
    except _Undo:
        pass
    except DomainError as exc:
        if not problems:
            exc.errors = located(exc.errors, parsed.places)
            raise
        problems += located(exc.errors, parsed.places)
    problems.sort(key=lambda e: (e.row or 0, e.column or ""))
    raise Unprocessable(msg("{count} row(s) rejected; nothing was written", count=len(problems)), problems)


def _rows_in(body: Any) -> int:
    return len(body.people if isinstance(body, PeopleBulkUpsert) else body.units)
