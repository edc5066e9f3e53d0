"""Writing items in the console: one form per item type, a live preview, versions, retire and restore.

A form's inputs are named after the JSON pointers of the item document they fill (`stem.zh-CN`,
`options.2.key`, `loadings.0.weight`, `key.options.1.credit.HMC.3`), so the domain's problems
(`bank.create_item` and `bank.update_item`, exactly as POST and PUT /v1/items call them) land next
to the input they name; every problem is also listed at the top of the form. Empty rows are
skipped, and the rows' numbers are kept so that `/options/1` of the item finds the form row it
came from. The preview is built by `candidate_view` and `rendered_view`, the functions behind the
candidate's form and GET /v1/items/{code}/preview, in both languages at once; authored text is
always rendered as text (Jinja autoescaping). Nothing here decides whether an item is valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from service.api.deps import Conn, provide_tenant_conn
from service.api.items import ItemCode, read, write
from service.console.forms import FORM
from service.console.views import page, write_allowed
from service.console.web import session_of
from service.errors import DomainError, FieldError, msgspec_field_error
from service.i18n import msg, render
from service.items import bank, images
from service.items.model import ITEM_TYPES, Item, ItemType, item_type
from service.items.validation import validate_item
from service.items.views import RenderedItem, candidate_view, rendered_view
from service.rubrics import frameworks
from service.rubrics.model import walk_indicators

LANGUAGES = ("zh-CN", "en")
WITH_OPTIONS = frozenset({"single_choice", "multiple_choice", "situational_judgement", "ordering"})
SHUFFLES = frozenset({"single_choice", "multiple_choice", "situational_judgement"})
MAX_ROWS = {"options": 12, "loadings": 10, "exemplars": 6}
MIN_ROWS = {"options": 4, "loadings": 2, "exemplars": 2}
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")

Values = dict[str, list[str]]


def one(values: Values, name: str) -> str:
    found = values.get(name)
    return found[0].strip() if found else ""


def localized(values: Values, name: str) -> dict[str, str] | None:
    texts = {lang: text for lang in LANGUAGES if (text := one(values, f"{name}.{lang}"))}
    return texts or None


def rows(values: Values, name: str) -> int:
    try:
        count = int(one(values, f"rows.{name}"))
    except ValueError:
        count = MIN_ROWS[name]
    return max(MIN_ROWS[name], min(count, MAX_ROWS[name]))


@dataclass
class Parsed:
    """An item document built from a form, and which form row each list entry came from."""

    document: dict[str, Any]
    option_rows: list[int] = field(default_factory=list)
    loading_rows: list[int] = field(default_factory=list)
    exemplar_rows: list[int] = field(default_factory=list)


def _set(document: dict[str, Any], name: str, value: Any) -> None:
    if value in (None, "", {}):
        document.pop(name, None)
    else:
        document[name] = value


def scale_rows(values: Values) -> int:
    """How many scale-label rows a Likert form shows: its scale points as typed (2 to 11, default 5)."""
    typed = one(values, "scale_points")
    return max(2, min(int(typed), 11)) if typed.isdigit() else 5


def parse_form(values: Values, kind: ItemType, framework: str) -> Parsed:
    """The item the form describes (the form has an input for every member of an item)."""
    document: dict[str, Any] = {"type": kind, "code": one(values, "code"), "framework": framework}
    document["stem"] = localized(values, "stem") or {}
    _set(document, "scenario", localized(values, "scenario"))
    _set(document, "image", one(values, "image"))
    _set(document, "image_alt", localized(values, "image_alt"))
    _set(document, "points", one(values, "points"))
    _set(document, "note", one(values, "note"))
    _set(document, "tags", [t.strip() for t in re.split(r"[,，]", one(values, "tags")) if t.strip()])
    parsed = Parsed(document)
    loadings = []
    for i in range(rows(values, "loadings")):
        indicator, weight = one(values, f"loadings.{i}.indicator"), one(values, f"loadings.{i}.weight")
        if indicator or weight:
            loadings.append({"indicator": indicator, **({"weight": weight} if weight else {})})
            parsed.loading_rows.append(i)
    document["loadings"] = loadings
    options = []
    if kind in WITH_OPTIONS:
        for i in range(rows(values, "options")):
            key, text, image, alt = (
                one(values, f"options.{i}.key"),
                localized(values, f"options.{i}.text"),
                one(values, f"options.{i}.image"),
                localized(values, f"options.{i}.image_alt"),
            )
            if key or text or image or alt:
                option: dict[str, Any] = {"key": key, "text": text or {}}
                _set(option, "image", image)
                _set(option, "image_alt", alt)
                options.append(option)
                parsed.option_rows.append(i)
        document["options"] = options
    if kind in SHUFFLES:
        document["shuffle_options"] = bool(one(values, "shuffle_options"))
    key_of_row = {row: option["key"] for row, option in zip(parsed.option_rows, options, strict=True)}
    if kind == "single_choice":
        chosen = one(values, "key.correct")
        document["key"] = {"correct": key_of_row.get(int(chosen), "") if chosen.isdigit() else ""}
    elif kind == "multiple_choice":
        chosen_rows = [int(r) for r in values.get("key.correct", []) if r.isdigit()]
        document["key"] = {
            "correct": [key_of_row[r] for r in chosen_rows if r in key_of_row],
            "partial_credit": one(values, "key.partial_credit") or "all_or_nothing",
        }
    elif kind == "situational_judgement":
        document["format"] = one(values, "format")
        _set(document, "rating_points", one(values, "rating_points"))
        indicators = [loading["indicator"] for loading in loadings if loading["indicator"]]
        document["key"] = {
            "options": [
                {
                    "option": key_of_row[row],
                    "credit": {
                        ind: value
                        for ind in indicators
                        if (value := one(values, f"key.options.{row}.credit.{ind}")) != ""
                    },
                }
                for row in parsed.option_rows
            ]
        }
    elif kind == "likert":
        _set(document, "scale_points", one(values, "scale_points"))
        labels = [localized(values, f"scale_labels.{n}") for n in range(scale_rows(values))]
        if any(labels):  # all or none: a row left empty is the domain's to name
            document["scale_labels"] = [label or {} for label in labels]
        document["key"] = {"reverse": bool(one(values, "key.reverse"))}
    elif kind == "ordering":
        document["key"] = {
            "order": [option["key"] for option in options],
            "credit": one(values, "key.credit") or "pairwise",
        }
    elif kind == "open_response":
        _set(document, "task", one(values, "task"))
        _set(document, "max_length", one(values, "max_length"))
        for_raters: dict[str, Any] = {}
        _set(for_raters, "rater_notes", localized(values, "key.rater_notes"))
        exemplars = []
        for i in range(rows(values, "exemplars")):
            text = localized(values, f"key.exemplars.{i}")
            if text:
                exemplars.append(text)
                parsed.exemplar_rows.append(i)
        _set(for_raters, "exemplars", exemplars)
        document["key"] = for_raters
    return parsed


def field_name(pointer: str, parsed: Parsed) -> str:
    """A JSON pointer into the item as the form's input name: list indexes back to form rows."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    by_list = {
        ("options",): parsed.option_rows,
        ("loadings",): parsed.loading_rows,
        ("key", "options"): parsed.option_rows,
        ("key", "exemplars"): parsed.exemplar_rows,
    }
    for prefix, row_of in by_list.items():
        n = len(prefix)
        if tuple(parts[:n]) == prefix and len(parts) > n and parts[n].isdigit():
            index = int(parts[n])
            parts[n] = str(row_of[index]) if index < len(row_of) else parts[n]
    if parts[:1] == ["tags"]:
        parts = parts[:1]
    if parts[:2] == ["key", "correct"]:
        parts = parts[:2]  # one slot for the whole choice of correct options
    return ".".join(parts)


def errors_by_input(
    problems: list[FieldError], detail: str, parsed: Parsed, locale: str
) -> dict[str, list[str]]:
    """Each problem under its input's name (the nearest named ancestor), and all of them under FORM."""
    found: dict[str, list[str]] = {FORM: []}
    for problem in problems:
        text = render(problem.detail, locale)
        name = field_name(problem.pointer or "", parsed)
        found.setdefault(name, []).append(text)
        # The nearer groups show it as well: a row's problem is flagged on the row's group.
        found[FORM].append(f"{name}: {text}" if name else text)
    if not problems:
        found[FORM].append(render(detail, locale))
    return found


async def indicators_of(conn: asyncpg.Connection, framework: str) -> list[tuple[str, dict[str, str]]]:
    """(code, statement) of each indicator of the framework's latest published version."""
    content = await bank.latest_framework(conn, framework)
    if content is None:
        return []
    return [(indicator.code, indicator.statement) for _, _, indicator in walk_indicators(content)]


def previews(item: Item) -> dict[str, RenderedItem]:
    """What a candidate sees, in each language: the candidate view, rendered as the API's preview does."""
    view = candidate_view(item)
    return {lang: rendered_view(view, lang) for lang in LANGUAGES}


def convert(document: dict[str, Any]) -> Item:
    return msgspec.convert(document, Item, strict=False)


def form_values(document: dict[str, Any]) -> Values:
    """The inputs of a form showing an existing item (the inverse of `parse_form`)."""
    values: Values = {"code": [document["code"]]}

    def put(name: str, value: Any) -> None:
        if value is not None:
            values[name] = [str(value)]

    def put_text(name: str, text: dict[str, str] | None) -> None:
        for lang, value in (text or {}).items():
            put(f"{name}.{lang}", value)

    put_text("stem", document.get("stem"))
    put_text("scenario", document.get("scenario"))
    put("image", document.get("image"))
    put_text("image_alt", document.get("image_alt"))
    put("points", document.get("points"))
    put("note", document.get("note"))
    if document.get("tags"):
        put("tags", ", ".join(document["tags"]))
    for i, loading in enumerate(document.get("loadings", [])):
        put(f"loadings.{i}.indicator", loading["indicator"])
        put(f"loadings.{i}.weight", loading.get("weight", 1.0))
    options = document.get("options", [])
    for i, option in enumerate(options):
        put(f"options.{i}.key", option["key"])
        put_text(f"options.{i}.text", option["text"])
        put(f"options.{i}.image", option.get("image"))
        put_text(f"options.{i}.image_alt", option.get("image_alt"))
    if document.get("shuffle_options", True):
        put("shuffle_options", "on")
    key = document.get("key", {})
    row = {option["key"]: i for i, option in enumerate(options)}
    kind = document["type"]
    if kind == "single_choice" and key.get("correct") in row:
        put("key.correct", row[key["correct"]])
    elif kind == "multiple_choice":
        values["key.correct"] = [str(row[k]) for k in key.get("correct", []) if k in row]
        put("key.partial_credit", key.get("partial_credit"))
    elif kind == "situational_judgement":
        put("format", document.get("format"))
        put("rating_points", document.get("rating_points"))
        for entry in key.get("options", []):
            for indicator, credit in entry["credit"].items():
                if entry["option"] in row:
                    put(f"key.options.{row[entry['option']]}.credit.{indicator}", credit)
    elif kind == "likert":
        put("scale_points", document.get("scale_points"))
        for n, label in enumerate(document.get("scale_labels", [])):
            put_text(f"scale_labels.{n}", label)
        if key.get("reverse"):
            put("key.reverse", "on")
    elif kind == "ordering":
        order = key.get("order", [])
        by_key = {option["key"]: option for option in options}
        if sorted(order) == sorted(by_key):  # the form lists the steps in their right order
            for i, k in enumerate(order):
                put(f"options.{i}.key", k)
                put_text(f"options.{i}.text", by_key[k]["text"])
                values.pop(f"options.{i}.image", None)
                put(f"options.{i}.image", by_key[k].get("image"))
                for lang in LANGUAGES:
                    values.pop(f"options.{i}.image_alt.{lang}", None)
                put_text(f"options.{i}.image_alt", by_key[k].get("image_alt"))
        put("key.credit", key.get("credit"))
    elif kind == "open_response":
        put("task", document.get("task"))
        put("max_length", document.get("max_length"))
        put_text("key.rater_notes", key.get("rater_notes"))
        for i, exemplar in enumerate(key.get("exemplars", [])):
            put_text(f"key.exemplars.{i}", exemplar)
    for name, count in (
        ("options", len(options)),
        ("loadings", len(document.get("loadings", []))),
        ("exemplars", len(key.get("exemplars", [])) if isinstance(key, dict) else 0),
    ):
        put(f"rows.{name}", max(MIN_ROWS[name], count + 1))
    return values


async def submitted(request: Request) -> Values:
    data = await request.form()
    return {k: [v for v in data.getall(k) if isinstance(v, str)] for k in data}


class Editor(msgspec.Struct, kw_only=True):
    """Everything an item form's page needs."""

    kind: ItemType
    framework: str
    values: Values
    errors: dict[str, list[str]]
    action: str
    etag: str | None = None
    code: str | None = None


async def editor_context(conn: asyncpg.Connection, editor: Editor) -> dict[str, Any]:
    values = editor.values
    count = {name: rows(values, name) for name in MIN_ROWS}
    loaded = [
        one(values, f"loadings.{i}.indicator")
        for i in range(count["loadings"])
        if one(values, f"loadings.{i}.indicator")
    ]
    return {
        "kind": editor.kind,
        "framework": editor.framework,
        "values": values,
        "one": lambda name: one(values, name),
        "chosen": lambda name: values.get(name, []),
        "errors": editor.errors,
        "action": editor.action,
        "etag": editor.etag,
        "code": editor.code,
        "rows": count,
        "scale_rows": scale_rows(values),
        "indicators": await indicators_of(conn, editor.framework),
        "loaded": list(dict.fromkeys(loaded)),
        "images": await images.list_images(conn, after=None, limit=200),
        "problems": [],
        "with_options": editor.kind in WITH_OPTIONS,
        "shuffles": editor.kind in SHUFFLES,
    }


def preview_of(
    values: Values, kind: ItemType, framework: str
) -> tuple[dict[str, RenderedItem] | None, list[str]]:
    """The candidate's view of the form as it stands, or why there is none yet (msgspec's first problem)."""
    parsed = parse_form(values, kind, framework)
    try:
        item = convert(parsed.document)
    except msgspec.ValidationError as exc:
        problem = msgspec_field_error(str(exc))
        return None, [f"{field_name(problem.pointer or '', parsed)}: {problem.detail}"]
    return previews(item), []


class ItemAuthoring(Controller):
    """New item, edit, preview, item page with versions, retire and restore."""

    path = "/console/items"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    async def _frameworks(self, conn: asyncpg.Connection) -> list[str]:
        found = await frameworks.list_frameworks(conn, after=None, limit=200)
        return [f.code for f in found if f.latest_published]

    @get("/new", guards=[write])
    async def new_item(self, request: Request, conn: Conn) -> Template:
        kind = request.query_params.get("type", "")
        framework = request.query_params.get("framework", "")
        published = await self._frameworks(conn)
        if kind not in ITEM_TYPES or framework not in published:
            return await page(
                request,
                conn,
                "item_new.html",
                types=ITEM_TYPES,
                frameworks=published,
                chosen_type=kind,
                chosen_framework=framework,
            )
        values: Values = {"shuffle_options": ["on"]} if kind in SHUFFLES else {}
        editor = Editor(kind=kind, framework=framework, values=values, errors={}, action="/console/items/new")
        return await page(
            request, conn, "item_form.html", **await editor_context(conn, editor), previews=None
        )

    @post("/new", guards=[write])
    async def create(self, request: Request, conn: Conn) -> Template | Redirect:
        values = await submitted(request)
        kind, framework = one(values, "type"), one(values, "framework")
        if kind not in ITEM_TYPES or not CODE.match(framework):
            raise NotFoundException()
        editor = Editor(kind=kind, framework=framework, values=values, errors={}, action="/console/items/new")
        return await self._save(request, conn, editor, None)

    async def _save(
        self,
        request: Request,
        conn: asyncpg.Connection,
        editor: Editor,
        current: bank.ItemVersion | None,
    ) -> Template | Redirect:
        locale = session_of(request).locale
        values = editor.values
        step = one(values, "step")
        if step in ("add_option", "add_loading", "add_exemplar"):  # more rows: the form again, nothing saved
            name = {"add_option": "options", "add_loading": "loadings", "add_exemplar": "exemplars"}[step]
            values[f"rows.{name}"] = [str(rows(values, name) + 1)]
        else:
            parsed = parse_form(values, editor.kind, editor.framework)
            try:
                item = convert(parsed.document)
                async with (
                    conn.transaction()
                ):  # a savepoint: a refused write leaves the page's transaction usable
                    if current is None:
                        saved = await bank.create_item(conn, item)
                    else:
                        saved = await bank.update_item(conn, current.code, item, one(values, "etag"))
                return Redirect(f"/console/items/{saved.code}", status_code=303)
            except msgspec.ValidationError as exc:
                problem = msgspec_field_error(str(exc))
                editor.errors = errors_by_input([problem], problem.detail, parsed, locale)
            except DomainError as exc:
                editor.errors = errors_by_input(exc.errors, exc.message, parsed, locale)
            except asyncpg.UniqueViolationError:
                editor.errors = errors_by_input(
                    [FieldError(msg("already exists"), "/code")], "", parsed, locale
                )
        kind, framework = editor.kind, editor.framework
        shown, _ = preview_of(values, kind, framework)
        return await page(
            request,
            conn,
            "item_form.html",
            status_code=422 if editor.errors else 200,
            **await editor_context(conn, editor),
            previews=shown,
        )

    @post("/preview", guards=[read])
    async def preview(self, request: Request, conn: Conn) -> Template:
        """The live preview (htmx): the form's item as a candidate sees it in both languages, and the
        domain's problems with it so far."""
        locale = session_of(request).locale
        values = await submitted(request)
        kind, framework = one(values, "type"), one(values, "framework")
        if kind not in ITEM_TYPES:
            raise NotFoundException()
        shown, problems = preview_of(values, kind, framework)
        if shown is not None:
            content = await bank.latest_framework(conn, framework)
            parsed = parse_form(values, kind, framework)
            checked = validate_item(convert(parsed.document), content)
            problems = [f"{field_name(p.pointer or '', parsed)}: {render(p.detail, locale)}" for p in checked]
        return await page(request, conn, "_item_preview.html", previews=shown, problems=problems)

    @get("/{code:str}", guards=[read])
    async def item_page(self, request: Request, conn: Conn, code: ItemCode) -> Template:
        wanted = request.query_params.get("version", "")
        version = int(wanted) if wanted.isdigit() and 0 < int(wanted) < 1_000_000 else None
        try:
            shown = await bank.get_item(conn, code, version)
            versions = await bank.list_versions(conn, code)
            latest = await bank.get_item(conn, code)
        except DomainError as exc:
            raise NotFoundException() from exc
        document = msgspec.json.format(msgspec.json.encode(shown.content), indent=2).decode()
        return await page(
            request,
            conn,
            "item_page.html",
            item=shown,
            latest=latest,
            kind=item_type(shown.content),
            versions=versions,
            previews=previews(shown.content),
            document=document,
            can_write=write_allowed(request),
            problems=[],
        )

    @get("/{code:str}/edit", guards=[write])
    async def edit(self, request: Request, conn: Conn, code: ItemCode) -> Template:
        current = await self._current(conn, code)
        document = msgspec.to_builtins(current.content)
        editor = Editor(
            kind=item_type(current.content),
            framework=current.content.framework,
            values=form_values(document),
            errors={},
            action=f"/console/items/{code}/edit",
            etag=current.etag,
            code=code,
        )
        return await page(
            request,
            conn,
            "item_form.html",
            **await editor_context(conn, editor),
            previews=previews(current.content),
        )

    @post("/{code:str}/edit", guards=[write])
    async def update(self, request: Request, conn: Conn, code: ItemCode) -> Template | Redirect:
        current = await self._current(conn, code)
        values = await submitted(request)
        editor = Editor(
            kind=item_type(current.content),
            framework=current.content.framework,
            values=values,
            errors={},
            action=f"/console/items/{code}/edit",
            etag=one(values, "etag"),
            code=code,
        )
        return await self._save(request, conn, editor, current)

    async def _current(self, conn: asyncpg.Connection, code: ItemCode) -> bank.ItemVersion:
        try:
            return await bank.get_item(conn, code)
        except DomainError as exc:
            raise NotFoundException() from exc

    @post("/{code:str}/retire", guards=[write], status_code=303)
    async def retire(self, conn: Conn, code: ItemCode) -> Redirect:
        return await self._status(conn, code, "retired")

    @post("/{code:str}/restore", guards=[write], status_code=303)
    async def restore(self, conn: Conn, code: ItemCode) -> Redirect:
        return await self._status(conn, code, "active")

    async def _status(self, conn: asyncpg.Connection, code: str, status: bank.ItemStatus) -> Redirect:
        try:
            await bank.set_status(conn, code, status)
        except DomainError as exc:
            raise NotFoundException() from exc
        return Redirect(f"/console/items/{code}", status_code=303)
