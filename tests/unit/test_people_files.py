"""Reading people and org units from a file (service/tenancy/spreadsheets.py): the API's body, each row's
place in the file, and every problem named by sheet, row and column."""

from __future__ import annotations

import io

import pytest
import xlsxwriter

from service.errors import FieldError, Unprocessable
from service.tenancy import spreadsheets
from service.tenancy.spreadsheets import Located


def _xlsx(rows: list[list[str]]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("people")
    for r, row in enumerate(rows):
        sheet.write_row(r, 0, row)
    book.close()
    return buffer.getvalue()


def test_a_csv_with_a_bom_columns_in_any_order_and_blank_rows() -> None:
    csv = "\ufeffdisplay_name,external_id,active,category\n张三,p-1,否,teacher\n,,,\n,p-2,,\n"
    parsed = spreadsheets.people_file(csv.encode(), "staff.csv")
    assert parsed.problems == []
    assert [(p.external_id, p.display_name, p.active, p.category) for p in parsed.body.people] == [
        ("p-1", "张三", False, "teacher"),
        ("p-2", None, True, "unspecified"),
    ]
    assert parsed.places == [Located("staff.csv", 2), Located("staff.csv", 4)]


def test_rows_that_do_not_parse_are_named_and_the_others_kept() -> None:
    book = _xlsx(
        [
            ["external_id", "category", "active"],
            ["p-1", "teacher", "yes"],
            ["", "teacher"],
            ["p-3", "x", "yes"],
            ["p-4", "teacher", "maybe"],
        ]
    )
    parsed = spreadsheets.people_file(book, "staff.xlsx")
    assert [p.external_id for p in parsed.body.people] == ["p-1"]
    assert [(e.sheet, e.row, e.column) for e in parsed.problems] == [
        ("people", 3, "external_id"),
        ("people", 4, "category"),
        ("people", 5, "active"),
    ]


def test_an_unknown_column_is_named_on_the_header_row() -> None:
    with pytest.raises(Unprocessable) as refused:
        spreadsheets.people_file(b"external_id,unit\np-1,P\n", "staff.csv")
    assert [(e.row, e.column) for e in refused.value.errors] == [(1, "unit")]


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"PK\x03\x04 not a zip", "x.xlsx"), (b"\xff\xfe", "x.csv"), (b"external_id\n", "x.csv")],
)
def test_a_file_that_cannot_be_read_is_a_problem_of_the_file(content: bytes, name: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        spreadsheets.people_file(content, name)
    assert [e.pointer for e in refused.value.errors] == ["/file"]


def test_the_domains_pointers_become_cells_and_json_keeps_its_pointers() -> None:
    places = [Located("units", 2), Located("units", 5)]
    named = spreadsheets.located(
        [FieldError("no org unit 'X'", "/units/1/parent_code"), FieldError("at most 1", "/units")], places
    )
    assert [(e.row, e.column, e.pointer) for e in named] == [(5, "parent_code", None), (None, None, "/units")]
    parsed = spreadsheets.units_file(
        b'{"units": [{"code": "A", "name": "a", "parent_code": "B"}]}', "tree.json"
    )
    assert parsed.places is None and parsed.body.units[0].parent_code == "B"
    with pytest.raises(Unprocessable) as refused:
        spreadsheets.units_file(b'{"units": [{"code": "A"}]}', "tree.json")
    assert refused.value.errors[0].pointer == "/units/0/name"


def test_every_bad_cell_of_every_row_is_named_at_once() -> None:
    book = _xlsx(
        [
            ["external_id", "category", "active", "org_unit_code"],
            ["bad id!", "x", "maybe", "P"],
            ["p-2", "teacher", "yes", "P"],
            ["p-3", "nurse", "perhaps", "P"],
        ]
    )
    parsed = spreadsheets.people_file(book, "staff.xlsx")
    assert [p.external_id for p in parsed.body.people] == ["p-2"]
    assert [(e.sheet, e.row, e.column) for e in parsed.problems] == [
        ("people", 2, "external_id"),
        ("people", 2, "category"),
        ("people", 2, "active"),
        ("people", 4, "category"),
        ("people", 4, "active"),
    ]
    assert all(e.detail for e in parsed.problems)
    units = spreadsheets.units_file(
        "code,name,level,parent_code\n,,x,也不行 code\nOK,fine,,\n".encode(), "units.csv"
    )
    assert [u.code for u in units.body.units] == ["OK"]
    assert [(e.row, e.column) for e in units.problems] == [(2, "code"), (2, "name"), (2, "parent_code")]
