"""Items in Excel: the XLSX template (one sheet per item type, instructions in zh-CN and en) and its import.

Written with xlsxwriter, read with openpyxl (read-only, values only: formulas are not evaluated and
macros never run). Each sheet's first row holds the column names the import reads, the second a
hint in both languages; items start on row 3. Every row is checked: first its cells (numbers,
yes/no, loadings), then the item it makes (the item document's own rules), then every item against
its framework through `bank.import_items`, the same function as POST /v1/items/import. Every problem
is named by sheet, row and column, and nothing is written unless every row is valid (one transaction:
the caller's).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any
from zipfile import BadZipFile

import asyncpg
import msgspec
import xlsxwriter

from service.errors import FieldError, Unprocessable, msgspec_field_error
from service.i18n import Message, msg, render
from service.items import bank
from service.items.bank import ImportResult
from service.items.model import ITEM_TYPES, Item, ItemType

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = bank.MAX_IMPORT_ITEMS
OPTION_KEYS = "abcdef"
FIRST_ROW = 3  # row 1: column names; row 2: hints
INSTRUCTIONS = "instructions"
YES = {"yes", "y", "true", "1", "是", "对"}
NO = {"no", "n", "false", "0", "否", "不"}

COMMON = [
    "code",
    "framework",
    "stem_zh",
    "stem_en",
    "scenario_zh",
    "scenario_en",
    "stem_image",
    "stem_image_alt_zh",
    "stem_image_alt_en",
    "points",
    "loadings",
]
OPTIONS = [
    f"option_{k}_{part}"
    for k in OPTION_KEYS
    for part in ("zh", "en", "image", "image_alt_zh", "image_alt_en")
]
COLUMNS: dict[ItemType, list[str]] = {
    "single_choice": [*COMMON, *OPTIONS, "correct", "shuffle_options"],
    "multiple_choice": [*COMMON, *OPTIONS, "correct", "partial_credit", "shuffle_options"],
    "situational_judgement": [
        *COMMON,
        *OPTIONS,
        "format",
        "rating_points",
        *[f"credit_{k}" for k in OPTION_KEYS],
        "shuffle_options",
    ],
    "likert": [*COMMON, "scale_points", "reverse"],
    "ordering": [*COMMON, *OPTIONS, "order", "credit"],
    "open_response": [
        *COMMON,
        "task",
        "max_length",
        "rater_notes_zh",
        "rater_notes_en",
        "exemplar_1_zh",
        "exemplar_1_en",
        "exemplar_2_zh",
        "exemplar_2_en",
    ],
}
CHOICES: dict[str, list[str]] = {
    "partial_credit": ["all_or_nothing", "per_option", "right_minus_wrong"],
    "format": ["best", "most_least", "rate"],
    "credit": ["pairwise", "exact"],
    "task": ["free_text", "write_prompt", "critique_output"],
    "shuffle_options": ["yes", "no"],
    "reverse": ["yes", "no"],
}


def _hints() -> dict[str, Message]:
    """Each column's hint (a message: written in both languages)."""
    option = msg("option text (options a-f; leave unused ones empty)")
    hints = {
        "code": msg("item code, unique in your bank (letters, digits, . _ : -)"),
        "framework": msg("framework code (empty: the framework chosen at import)"),
        "stem_zh": msg("stem in Chinese"),
        "stem_en": msg("stem in English"),
        "scenario_zh": msg("scenario in Chinese (optional)"),
        "scenario_en": msg("scenario in English (optional)"),
        "stem_image": msg("id of an uploaded image shown with the stem (optional)"),
        "stem_image_alt_zh": msg("what the stem's image shows, in Chinese (required with an image)"),
        "stem_image_alt_en": msg("what the stem's image shows, in English"),
        "points": msg("points the item is worth (default 1)"),
        "loadings": msg(
            "indicators with weights summing to 1, e.g. AK.1=0.5; AK.2=0.5 (one indicator: AK.1)"
        ),
        "correct": msg("correct option(s): a key such as b; several as a, c"),
        "shuffle_options": msg("shuffle the options: yes or no (default yes)"),
        "partial_credit": msg("all_or_nothing, per_option or right_minus_wrong"),
        "format": msg("best, most_least or rate"),
        "rating_points": msg("points of the rating scale for format rate (default 5)"),
        "scale_points": msg("points of the agreement scale (default 5)"),
        "reverse": msg("reverse keyed: yes or no (default no)"),
        "order": msg("the correct order of the option keys, e.g. b, d, a, c"),
        "credit": msg("pairwise or exact (default pairwise)"),
        "task": msg("free_text, write_prompt or critique_output"),
        "max_length": msg("longest answer in characters (default 4000)"),
        "rater_notes_zh": msg("notes for raters in Chinese"),
        "rater_notes_en": msg("notes for raters in English"),
    }
    for key in OPTION_KEYS:
        hints[f"option_{key}_zh"] = option
        hints[f"option_{key}_en"] = option
        hints[f"option_{key}_image"] = msg("id of an uploaded image shown with the option (optional)")
        hints[f"option_{key}_image_alt_zh"] = msg(
            "what the option's image shows, in Chinese (required with an image)"
        )
        hints[f"option_{key}_image_alt_en"] = msg("what the option's image shows, in English")
        hints[f"credit_{key}"] = msg(
            "credit of option {key} per indicator, e.g. HMC.3=1; ES.1=0.5 (one indicator: a number)", key=key
        )
    for n in (1, 2):
        hints[f"exemplar_{n}_zh"] = msg("an exemplar answer in Chinese (optional)")
        hints[f"exemplar_{n}_en"] = msg("an exemplar answer in English (optional)")
    return hints


def _instructions() -> list[str]:
    return [
        msg("Item import template"),
        msg("One sheet per item type. Row 1 holds the column names the import reads: do not change them."),
        msg("Row 2 explains each column. Write one item per row from row 3 on; empty rows are skipped."),
        msg(
            "Texts may be given in Chinese, English or both; at least one language for the stem and each option."
        ),
        msg(
            "The import checks every row and names every problem by sheet, row and column; "
            "nothing is saved unless every row is valid."
        ),
        msg("An existing code edits that item (a new version once a published assessment uses it)."),
        msg("Upload images first (console: Images); put an image's id in stem_image."),
        msg("Every image needs its text alternative (what it shows) in the image_alt columns next to it."),
    ]


def template() -> bytes:
    """The empty template: an instructions sheet, then one sheet per item type with its columns."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    hint = book.add_format({"italic": True, "font_color": "#555555", "text_wrap": True, "valign": "top"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    sheet = book.add_worksheet(INSTRUCTIONS)
    sheet.set_column(0, 1, 80)
    sheet.write_row(0, 0, ["中文", "English"], bold)
    for i, line in enumerate(_instructions(), start=1):
        sheet.write_row(i, 0, [render(line, "zh-CN"), render(line, "en")], wrap)
    hints = _hints()
    for item_type in ITEM_TYPES:
        sheet = book.add_worksheet(item_type)
        columns = COLUMNS[item_type]
        sheet.write_row(0, 0, columns, bold)
        sheet.write_row(
            1,
            0,
            [f"{render(hints[c], 'zh-CN')}\n{render(hints[c], 'en')}" if c in hints else "" for c in columns],
            hint,
        )
        sheet.set_row(1, 90)
        sheet.set_column(0, len(columns) - 1, 22)
        sheet.freeze_panes(FIRST_ROW - 1, 1)
        for j, column in enumerate(columns):
            if column in CHOICES:
                sheet.data_validation(
                    FIRST_ROW - 1,
                    j,
                    FIRST_ROW - 2 + MAX_ROWS,
                    j,
                    {"validate": "list", "source": CHOICES[column]},
                )
    book.close()
    return buffer.getvalue()


class CellError(Exception):
    def __init__(self, column: str, detail: str) -> None:
        super().__init__(detail)
        self.column = column
        self.detail = detail


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _localized(cells: dict[str, str], zh: str, en: str) -> dict[str, str] | None:
    texts = {lang: cells[col] for lang, col in (("zh-CN", zh), ("en", en)) if cells.get(col)}
    return texts or None


def _yes_no(cells: dict[str, str], column: str) -> bool | None:
    value = cells.get(column, "").lower()
    if not value:
        return None
    if value in YES:
        return True
    if value in NO:
        return False
    raise CellError(column, msg("write yes or no"))


def _number(cells: dict[str, str], column: str, kind: Callable[[str], float | int]) -> float | int | None:
    value = cells.get(column, "")
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise CellError(column, msg("write a number")) from None


def _keys(cells: dict[str, str], column: str) -> list[str]:
    return [k.strip() for k in re.split(r"[,，;；\s]+", cells.get(column, "")) if k.strip()]


def _weights(cells: dict[str, str], column: str, single: float | None = None) -> dict[str, float]:
    """`AK.1=0.5; AK.2=0.5` as {indicator: number}; a bare indicator (loadings) or number (credit) alone."""
    text = cells.get(column, "")
    found: dict[str, float] = {}
    for part in (p.strip() for p in re.split(r"[;；\n]+", text) if p.strip()):
        name, sep, number = part.partition("=")
        try:
            found[name.strip()] = float(number) if sep else (single if single is not None else float("nan"))
        except ValueError:
            raise CellError(column, msg("write indicator=number pairs separated by semicolons")) from None
        if found[name.strip()] != found[name.strip()]:  # NaN: a bare name where a number was needed
            raise CellError(column, msg("write indicator=number pairs separated by semicolons"))
    return found


def row_item(item_type: ItemType, cells: dict[str, str], framework: str | None) -> dict[str, Any]:
    """The item document a row describes (checked by msgspec and the bank next); CellError on a bad cell."""
    document: dict[str, Any] = {
        "type": item_type,
        "code": cells.get("code", ""),
        "framework": cells.get("framework") or framework or "",
        "stem": _localized(cells, "stem_zh", "stem_en") or {},
    }
    scenario = _localized(cells, "scenario_zh", "scenario_en")
    if scenario:
        document["scenario"] = scenario
    if cells.get("stem_image"):
        document["image"] = cells["stem_image"]
    alt = _localized(cells, "stem_image_alt_zh", "stem_image_alt_en")
    if alt:
        document["image_alt"] = alt
    points = _number(cells, "points", float)
    if points is not None:
        document["points"] = points
    loadings = _weights(cells, "loadings", single=1.0)
    document["loadings"] = [{"indicator": name, "weight": weight} for name, weight in loadings.items()]
    if "option_a_zh" in COLUMNS[item_type]:
        document["options"] = []
        for key in OPTION_KEYS:
            text = _localized(cells, f"option_{key}_zh", f"option_{key}_en")
            image = cells.get(f"option_{key}_image")
            alt = _localized(cells, f"option_{key}_image_alt_zh", f"option_{key}_image_alt_en")
            if text or image or alt:
                document["options"].append(
                    {
                        "key": key,
                        "text": text or {},
                        **({"image": image} if image else {}),
                        **({"image_alt": alt} if alt else {}),
                    }
                )
    shuffle = _yes_no(cells, "shuffle_options") if "shuffle_options" in COLUMNS[item_type] else None
    if shuffle is not None:
        document["shuffle_options"] = shuffle
    if item_type == "single_choice":
        document["key"] = {"correct": cells.get("correct", "")}
    elif item_type == "multiple_choice":
        document["key"] = {"correct": _keys(cells, "correct")}
        if cells.get("partial_credit"):
            document["key"]["partial_credit"] = cells["partial_credit"]
    elif item_type == "situational_judgement":
        document["format"] = cells.get("format", "")
        rating = _number(cells, "rating_points", int)
        if rating is not None:
            document["rating_points"] = rating
        only = loadings and len(loadings) == 1 and next(iter(loadings))
        keyed = []
        for option in document["options"]:
            column = f"credit_{option['key']}"
            value = cells.get(column, "")
            credit: dict[str, Any]
            if only and value and "=" not in value:
                credit = {only: _number(cells, column, float)}
            else:
                credit = _weights(cells, column)
            keyed.append({"option": option["key"], "credit": credit})
        document["key"] = {"options": keyed}
    elif item_type == "likert":
        scale = _number(cells, "scale_points", int)
        if scale is not None:
            document["scale_points"] = scale
        document["key"] = {"reverse": bool(_yes_no(cells, "reverse"))}
    elif item_type == "ordering":
        document["key"] = {"order": _keys(cells, "order")}
        if cells.get("credit"):
            document["key"]["credit"] = cells["credit"]
    elif item_type == "open_response":
        if cells.get("task"):
            document["task"] = cells["task"]
        length = _number(cells, "max_length", int)
        if length is not None:
            document["max_length"] = length
        open_key: dict[str, Any] = {}
        notes = _localized(cells, "rater_notes_zh", "rater_notes_en")
        if notes:
            open_key["rater_notes"] = notes
        exemplars = [e for n in (1, 2) if (e := _localized(cells, f"exemplar_{n}_zh", f"exemplar_{n}_en"))]
        if exemplars:
            open_key["exemplars"] = exemplars
        document["key"] = open_key
    return document


_OPTION_COLUMN = re.compile(r"^/options/(\d+)(/.*)?$")
_KEYED_COLUMN = re.compile(r"^/key/options/(\d+)(/.*)?$")


def column_of(pointer: str, item_type: ItemType, document: dict[str, Any]) -> str:
    """The column a JSON pointer into a row's item comes from (the row's first column when none fits)."""
    columns = COLUMNS[item_type]
    keys = [o["key"] for o in document.get("options", [])]
    if found := _OPTION_COLUMN.match(pointer):
        i = int(found.group(1))
        rest = found.group(2) or ""
        part = "en" if rest.endswith("/en") else "zh"
        if rest == "/image":
            part = "image"
        elif rest.startswith("/image_alt"):
            part = f"image_alt_{part}"
        return f"option_{keys[i]}_{part}" if i < len(keys) else "option_a_zh"
    if found := _KEYED_COLUMN.match(pointer):
        i = int(found.group(1))
        return f"credit_{keys[i]}" if i < len(keys) else "credit_a"
    head = pointer.split("/")
    first = head[1] if len(head) > 1 else ""
    second = head[2] if len(head) > 2 else ""
    by_name = {
        "stem": "stem_en" if second == "en" else "stem_zh",
        "scenario": "scenario_en" if second == "en" else "scenario_zh",
        "image": "stem_image",
        "image_alt": "stem_image_alt_en" if second == "en" else "stem_image_alt_zh",
        "options": "option_a_zh",
        "loadings": "loadings",
    }
    if first == "key":
        if second == "rater_notes":
            name = "rater_notes_en" if pointer.endswith("/en") else "rater_notes_zh"
        elif second == "exemplars":
            n = int(head[3]) + 1 if len(head) > 3 and head[3].isdigit() else 1
            name = f"exemplar_{n}_{'en' if pointer.endswith('/en') else 'zh'}"
        elif second == "options":
            name = "credit_a"
        else:
            name = second
    else:
        name = by_name.get(first, first)
    return name if name in columns else columns[0]


class _Row(msgspec.Struct):
    sheet: ItemType
    row: int
    document: dict[str, Any]


def _read(content: bytes) -> list[tuple[ItemType, int, dict[str, str]]]:
    """(sheet, row number, cells by column name) of every non-empty row of every item sheet."""
    import openpyxl  # imported here: only imports need it, and it takes a while to import

    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError):
        raise Unprocessable(
            msg("the file is not an XLSX workbook"), [FieldError(msg("upload an .xlsx file"), "/file")]
        ) from None
    rows: list[tuple[ItemType, int, dict[str, str]]] = []
    problems: list[FieldError] = []
    try:
        for item_type in ITEM_TYPES:
            if item_type not in book.sheetnames:
                continue
            lines = book[item_type].iter_rows(values_only=True)
            header = [_text(c) for c in next(lines, ())]
            problems.extend(
                FieldError(msg("unknown column '{name}'", name=name), sheet=item_type, row=1, column=name)
                for name in header
                if name and name not in COLUMNS[item_type]
            )
            for number, values in enumerate(lines, start=2):
                if number < FIRST_ROW:
                    continue
                cells = {name: _text(v) for name, v in zip(header, values, strict=False) if name}
                if any(cells.values()):
                    rows.append((item_type, number, cells))
    finally:
        book.close()
    if problems:
        raise Unprocessable(msg("the template's columns were changed; nothing was saved"), problems)
    if not rows:
        raise Unprocessable(
            msg("the workbook holds no items"),
            [FieldError(msg("write items from row 3 of a type's sheet"), "/file")],
        )
    if len(rows) > MAX_ROWS:
        raise Unprocessable(
            msg("at most {limit} items per import", limit=MAX_ROWS),
            [FieldError(msg("at most {limit} items per import", limit=MAX_ROWS), "/file")],
        )
    return rows


async def import_workbook(
    conn: asyncpg.Connection, content: bytes, framework: str | None = None
) -> ImportResult:
    """Import every row, or none: a 422 naming every problem by sheet, row and column."""
    parsed: list[_Row] = []
    items: list[Item] = []
    problems: list[FieldError] = []
    for item_type, number, cells in _read(content):
        try:
            document = row_item(item_type, cells, framework)
        except CellError as exc:
            problems.append(FieldError(exc.detail, sheet=item_type, row=number, column=exc.column))
            continue
        try:
            item = msgspec.convert(document, Item, strict=False)
        except msgspec.ValidationError as exc:
            error = msgspec_field_error(str(exc))
            column = column_of(error.pointer or "", item_type, document)
            problems.append(FieldError(error.detail, sheet=item_type, row=number, column=column))
            continue
        parsed.append(_Row(item_type, number, document))
        items.append(item)
    try:
        if problems:  # still check the rows that made items, so that every problem is named at once
            await bank.check_items(conn, items)
        else:
            return await bank.import_items(conn, items)
    except Unprocessable as exc:
        for error in exc.errors:
            found = re.match(r"^/items/(\d+)(.*)$", error.pointer or "")
            if found is None:
                problems.append(error)
                continue
            row = parsed[int(found.group(1))]
            column = column_of(found.group(2), row.sheet, row.document)
            problems.append(FieldError(error.detail, sheet=row.sheet, row=row.row, column=column))
    problems.sort(key=lambda e: (ITEM_TYPES.index(e.sheet) if e.sheet in ITEM_TYPES else -1, e.row or 0))
    raise Unprocessable(
        msg("{count} problem(s) in the workbook; nothing was saved", count=len(problems)), problems
    )
