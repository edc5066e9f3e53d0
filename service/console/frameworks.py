"""The framework editor: a framework's versions, the draft editor, publish, diff, and CASE import and export.

Every write is a call of the domain function the REST route makes, on the request's tenant
transaction, behind the API's role guards (`read`, `write` of service/api/frameworks.py):

- the editor's form is the whole document; saving it is one JSON Patch for `frameworks.patch_draft`
  (as `PATCH /v1/frameworks/{code}/versions/{n}`): `replace` of the whole document with the form's,
  then the structural operation of the button pressed (`move` up or down, `add`, `remove`), under the
  ETag the form was rendered with (a stale form gets the API's 412 message, nothing is overwritten);
- "check" (htmx, on every change) converts the form as `patch_draft` does and runs
  `validation.validate`, the function behind `POST .../validate`, and answers with each field's
  messages swapped into the error slot next to it (out of band); nothing is saved;
- publish is `frameworks.publish`, start a draft `frameworks.start_draft`, the diff
  `diff.diff_versions`, CASE `frameworks.import_case`/`frameworks.export_case`, as the API's routes.

Problems carry JSON pointers; `place` puts each next to the deepest field or group of the form
whose pointer contains it (a pointer the form has no slot for lands at the top of the form).
Field names are the JSON pointers of the values they hold (`/dimensions/0/name/zh-CN`), so the
form needs no mapping table; a hidden `<pointer>/_keep` carries an element's members the form does
not edit (tags, notes, sources) as JSON so a save never drops them.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.response import Redirect, Template

from service.api.deps import Conn, provide_tenant_conn
from service.api.frameworks import CodePath, VersionPath, read, write
from service.console.forms import FORM, unique_errors
from service.console.views import form, page
from service.console.web import request_locale, session_of
from service.errors import DomainError, FieldError, msgspec_field_error, msgspec_message
from service.i18n import msg, render
from service.rubrics import frameworks
from service.rubrics.diff import diff_versions
from service.rubrics.frameworks import FrameworkVersion
from service.rubrics.jsonpatch import PatchOperation
from service.rubrics.model import Code, FrameworkContent
from service.rubrics.validation import validate
from service.tenancy.fields import MAX_VERSION

LANGUAGES = ("zh-CN", "en")  # the editor's text boxes per localized text; other languages ride along
LOCALIZED = frozenset({"title", "description", "label", "name", "statement", "performance", "next_steps"})
NUMBERS = frozenset({"weight", "min_score"})
LISTS = frozenset({"levels", "dimensions", "children", "indicators", "descriptors", "overall"})
EDITED = {  # the members the editor has inputs for; the rest of an element travels in its `_keep`
    "framework": {"code", "title", "description", "levels", "dimensions", "cut_scores"},
    "dimension": {"code", "name", "weight", "description", "children", "indicators"},
    "indicator": {"code", "statement", "weight", "descriptors"},
}
KEEP = "_keep"
ACTION = re.compile(
    r"^(save|publish|up|down|remove|add-level|add-dimension|add-indicator|add-descriptor|"
    r"add-cut|add-dimension-cuts|move)(?: (\S+))?(?: (\S+))?$"
)


# --------------------------------------------------------------------------- form <-> document


def dom_id(prefix: str, pointer: str) -> str:
    """An HTML id for a JSON pointer: letters and digits kept, `/` as `-`, anything else as `_<hex>_`
    (unique, and safe in CSS selectors)."""
    return prefix + "".join(
        c if c.isascii() and c.isalnum() else "-" if c == "/" else f"_{ord(c):x}_" for c in pointer
    )


def _token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _number(text: str) -> Any:
    """A number as typed; what is not one stays text, so the domain's conversion names the field."""
    try:
        value = float(text.strip())
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def _listify(node: Any, path: tuple[str, ...] = ()) -> Any:
    """Objects whose members are indexes become lists where the document has lists (by member name; the
    per-dimension cut scores are an object of lists keyed by dimension code)."""
    if not isinstance(node, dict):
        return node
    children = {k: _listify(v, (*path, k)) for k, v in node.items()}
    per_dimension = path == ("cut_scores", "dimensions")
    listed = (len(path) == 3 and path[:2] == ("cut_scores", "dimensions")) or (
        bool(path) and path[-1] in LISTS and not per_dimension
    )
    if listed and all(k.isdigit() for k in children):
        return [children[k] for k in sorted(children, key=int)]
    return children


def document_from_form(fields: list[tuple[str, str]]) -> dict[str, Any]:
    """The document the form holds: each field named by the JSON pointer of its value; blank texts left
    out (a localized text with no language left is missing, and the domain says so)."""
    root: dict[str, Any] = {}
    keeps: list[tuple[list[str], str]] = []
    for name, value in fields:
        if not name.startswith("/"):
            continue
        tokens = [_token(t) for t in name[1:].split("/")]
        if tokens[-1] == KEEP:
            keeps.append((tokens[:-1], value))
            continue
        if len(tokens) >= 2 and tokens[-2] in LOCALIZED:
            if not value.strip():
                continue
        elif tokens[-1] in NUMBERS:
            value = _number(value)
        node = root
        for token in tokens[:-1]:
            child = node.get(token)
            if not isinstance(child, dict):
                child = node[token] = {}
            node = child
        node[tokens[-1]] = value
    for tokens, raw in keeps:
        node = root
        for token in tokens:
            node = node.setdefault(token, {})
            if not isinstance(node, dict):
                break
        else:
            try:
                kept = json.loads(raw)
            except ValueError:
                continue
            if isinstance(kept, dict):
                for k, v in kept.items():
                    node.setdefault(k, v)
    return _listify(root)


def keep(element: Any, kind: str) -> str:
    """The members of `element` the editor has no inputs for, as JSON for its hidden `_keep` field."""
    if not isinstance(element, dict):
        return "{}"
    return json.dumps({k: v for k, v in element.items() if k not in EDITED[kind]}, ensure_ascii=False)


def other_languages(text: Any) -> list[tuple[str, str]]:
    """Languages of a localized text beyond the editor's two, kept as hidden fields."""
    return [(k, v) for k, v in text.items() if k not in LANGUAGES] if isinstance(text, dict) else []


def _items(node: Any, key: str) -> list[Any]:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, list) else []


def slots(doc: dict[str, Any]) -> list[str]:
    """The pointers of every error slot the editor shows for `doc` (templates/_fw_editor.html has each)."""
    out = [FORM, "/title", "/description", "/levels", "/dimensions", "/cut_scores", "/cut_scores/overall"]
    for i, _ in enumerate(_items(doc, "levels")):
        p = f"/levels/{i}"
        out += [p, f"{p}/code", f"{p}/label", f"{p}/description"]

    def dimensions(items: list[Any], prefix: str) -> None:
        for i, dimension in enumerate(items):
            p = f"{prefix}/{i}"
            out.extend(
                f"{p}{s}"
                for s in ("", "/code", "/name", "/weight", "/description", "/children", "/indicators")
            )
            dimensions(_items(dimension, "children"), f"{p}/children")
            for j, indicator in enumerate(_items(dimension, "indicators")):
                q = f"{p}/indicators/{j}"
                out.extend(f"{q}{s}" for s in ("", "/code", "/statement", "/weight", "/descriptors"))
                for k, _ in enumerate(_items(indicator, "descriptors")):
                    r = f"{q}/descriptors/{k}"
                    out.extend([r, f"{r}/level", f"{r}/performance", f"{r}/next_steps"])

    dimensions(_items(doc, "dimensions"), "/dimensions")
    found = doc.get("cut_scores")
    cuts: dict[str, Any] = found if isinstance(found, dict) else {}
    for k, _ in enumerate(_items(cuts, "overall")):
        out += [
            f"/cut_scores/overall/{k}",
            f"/cut_scores/overall/{k}/level",
            f"/cut_scores/overall/{k}/min_score",
        ]
    per_dimension = cuts.get("dimensions")
    for code, rows in (per_dimension if isinstance(per_dimension, dict) else {}).items():
        base = f"/cut_scores/dimensions/{_escape(code)}"
        out.append(base)
        for k, _ in enumerate(rows if isinstance(rows, list) else []):
            out += [f"{base}/{k}", f"{base}/{k}/level", f"{base}/{k}/min_score"]
    return out


def place(problems: list[FieldError], where: list[str], locale: str) -> dict[str, list[str]]:
    """Each problem's message at the deepest slot whose pointer is its pointer or a prefix of it."""
    known = set(where)
    placed: dict[str, list[str]] = {}
    for problem in problems:
        pointer = problem.pointer or FORM
        while pointer and pointer not in known:
            pointer = pointer.rsplit("/", 1)[0]
        placed.setdefault(pointer, []).append(render(problem.detail, locale))
    return placed


def domain_problems(exc: DomainError) -> list[FieldError]:
    """A domain error's field problems; one without any is a problem of the whole form."""
    return exc.errors or [FieldError(exc.message, FORM)]


def check(doc: dict[str, Any]) -> list[FieldError]:
    """What `patch_draft` would refuse (the document not well-formed), else every validation problem."""
    try:
        content = msgspec.convert(doc, FrameworkContent, strict=True)
    except msgspec.ValidationError as exc:
        return [msgspec_field_error(str(exc))]
    return validate(content)


# --------------------------------------------------------------------------- structural actions


def _parent_index(pointer: str) -> tuple[str, int]:
    parent, _, last = pointer.rpartition("/")
    if not last.isdigit():
        return parent, -1
    return parent, int(last)


def _at(doc: Any, pointer: str) -> Any:
    node = doc
    for token in pointer.lstrip("/").split("/") if pointer else []:
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, dict):
            node = node.get(_token(token))
        else:
            return None
    return node


def _codes(doc: dict[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("code"), str):
                found.add(node["code"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return found


def _new_code(doc: dict[str, Any], stem: str) -> str:
    taken = _codes(doc)
    n = 1
    while f"{stem}{n}" in taken:
        n += 1
    return f"{stem}{n}"


def _both(text: str) -> dict[str, str]:
    return {language: render(text, language) for language in LANGUAGES}


def _level_codes(doc: dict[str, Any]) -> list[str]:
    return [
        level["code"]
        for level in _items(doc, "levels")
        if isinstance(level, dict) and isinstance(level.get("code"), str)
    ]


def structural(
    action: str, doc: dict[str, Any], extra: dict[str, str]
) -> tuple[list[PatchOperation], str | None]:
    """The JSON Patch operations of a structural button, and the pointer of the control to focus after."""
    found = ACTION.match(action)
    if not found:
        raise DomainError(msg("unknown editor action"))
    kind, first, second = found.group(1), found.group(2) or "", found.group(3) or ""
    if kind in ("save", "publish"):
        return [], None
    if kind in ("up", "down"):
        parent, index = _parent_index(first)
        target = index - 1 if kind == "up" else index + 1
        return [PatchOperation("move", f"{parent}/{target}", from_=first)], f"{parent}/{target}"
    if kind == "move":  # drag and drop: from, to
        return [PatchOperation("move", second, from_=first)], second
    if kind == "remove":
        return [PatchOperation("remove", first)], None
    if kind == "add-level":
        new: dict[str, Any] = {"code": _new_code(doc, "L"), "label": _both(msg("New level"))}
        return [PatchOperation("add", "/levels/-", value=new)], f"/levels/{len(_items(doc, 'levels'))}/code"
    if kind == "add-dimension":  # first: the list to append to (/dimensions or .../children)
        new = {"code": _new_code(doc, "D"), "name": _both(msg("New dimension")), "weight": 0}
        return [PatchOperation("add", f"{first}/-", value=new)], f"{first}/{len(_items_at(doc, first))}/code"
    if kind == "add-indicator":
        new = {
            "code": _new_code(doc, "I"),
            "statement": _both(msg("New indicator")),
            "weight": 0,
            "descriptors": [
                {"level": code, "performance": _both(msg("What performance at this level looks like"))}
                for code in _level_codes(doc)
            ],
        }
        return [PatchOperation("add", f"{first}/-", value=new)], f"{first}/{len(_items_at(doc, first))}/code"
    if kind == "add-descriptor":
        present = {d.get("level") for d in _items_at(doc, first) if isinstance(d, dict)}
        level = next((c for c in _level_codes(doc) if c not in present), (_level_codes(doc) or ["L1"])[0])
        new = {"level": level, "performance": _both(msg("What performance at this level looks like"))}
        return [PatchOperation("add", f"{first}/-", value=new)], f"{first}/{len(_items_at(doc, first))}/level"
    if kind == "add-cut":
        rows = _items_at(doc, first)
        present = {r.get("level") for r in rows if isinstance(r, dict)}
        level = next((c for c in _level_codes(doc) if c not in present), (_level_codes(doc) or ["L1"])[-1])
        scores: list[float] = [
            r["min_score"]
            for r in rows
            if isinstance(r, dict) and isinstance(r.get("min_score"), (int, float))
        ]
        new_cut = {"level": level, "min_score": min(100, max(scores) + 1) if scores else 0}
        return [PatchOperation("add", f"{first}/-", value=new_cut)], f"{first}/{len(rows)}/level"
    if kind == "add-dimension-cuts":
        code = extra.get("cut_dimension", "").strip()
        overall = _items_at(doc, "/cut_scores/overall")
        pointer = f"/cut_scores/dimensions/{_escape(code)}"
        ops = []
        if not isinstance(_at(doc, "/cut_scores/dimensions"), dict):
            ops.append(PatchOperation("add", "/cut_scores/dimensions", value={}))
        ops.append(PatchOperation("add", pointer, value=overall))
        return ops, f"{pointer}/0/level"
    return [], None


def _items_at(doc: dict[str, Any], pointer: str) -> list[Any]:
    found = _at(doc, pointer)
    return found if isinstance(found, list) else []


# --------------------------------------------------------------------------- rendering helpers


def shown(value: Any) -> list[str]:
    """A diff value as lines of text: a localized text one line per language, anything else as JSON."""
    if value is None:
        return ["—"]
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        return [f"{k}: {v}" for k, v in value.items()]
    if isinstance(value, str):
        return [value]
    return [json.dumps(value, ensure_ascii=False)]


def _editor_context(
    version: FrameworkVersion, doc: dict[str, Any], problems: list[FieldError], locale: str, focus: str | None
) -> dict[str, Any]:
    return {
        "fw": version,
        "doc": doc,
        "errors": place(problems, slots(doc), locale),
        "problem_count": len(problems),
        "editable": version.status == "draft",
        "languages": LANGUAGES,
        "dom_id": dom_id,
        "keep": keep,
        "other_languages": other_languages,
        "esc_token": _escape,
        "focus": focus,
        "level_codes": _level_codes(doc),
        "dimension_codes": [d.get("code") for d in _walk_dimensions(doc) if isinstance(d.get("code"), str)],
        "action_url": _version_url(version.framework, version.version),
        "etag": version.etag,
    }


def _walk_dimensions(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(items: list[Any]) -> None:
        for item in items:
            if isinstance(item, dict):
                found.append(item)
                walk(_items(item, "children"))

    walk(_items(doc, "dimensions"))
    return found


def _version_url(code: str, version: int) -> str:
    return f"/console/frameworks/{quote(code)}/versions/{version}"


def _is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request")) and not request.headers.get("hx-history-restore-request")


async def _fields(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]


def _int_or_none(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    value = int(text.strip())
    return value if 1 <= value <= MAX_VERSION else None


# --------------------------------------------------------------------------- the screens


def on_domain_error(request: Request, exc: DomainError) -> Response[Any]:
    """A domain refusal outside a form (a framework or version that is not the tenant's: 404) as a page."""
    locale = request_locale(request)
    return Template(
        "error.html",
        status_code=exc.status,
        context={
            "locale": locale,
            "session": request.scope.get("state", {}).get("console_session"),
            "path": request.url.path,
            "status": exc.status,
            "detail": render(exc.message, locale),
        },
    )


class FrameworkScreens(Controller):
    """A framework's page, its version editor, diff, and the CASE exchange."""

    path = "/console/frameworks"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}
    exception_handlers = {DomainError: on_domain_error}

    @get("/import", guards=[write])
    async def import_form(self, request: Request, conn: Conn) -> Template:
        return await page(request, conn, "frameworks_import.html", errors={}, values={})

    @post("/import", guards=[write])
    async def import_case(self, request: Request, conn: Conn) -> Template | Redirect:
        """A CASE 1.1 package uploaded as a file: `frameworks.import_case`, as POST /v1/frameworks/import/case."""
        locale = session_of(request).locale
        data = await request.form()
        code = str(data.get("code") or "").strip()
        upload = data.get("package")
        errors: dict[str, list[str]] = {}
        package: Any = None
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors["package"] = [render(msg("choose a CASE package (a .json file) to import"), locale)]
        else:
            raw = await upload.read()
            try:
                package = msgspec.json.decode(raw, strict=True)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                errors["package"] = [render(msgspec_message(str(exc)), locale)]
        if code:
            try:
                msgspec.convert(code, Code)
            except msgspec.ValidationError as exc:
                errors["code"] = [render(msgspec_message(str(exc)), locale)]
        if not errors:
            try:
                async with conn.transaction():  # a savepoint: a refused import leaves nothing behind
                    created = await frameworks.import_case(conn, package, code or None)
                return Redirect(f"/console/frameworks/{quote(created.code)}", status_code=303)
            except DomainError as exc:
                errors["package"] = [render(exc.message, locale)] + [
                    f"{e.pointer}: {render(e.detail, locale)}" if e.pointer else render(e.detail, locale)
                    for e in exc.errors
                ]
            except asyncpg.UniqueViolationError as exc:
                errors = unique_errors(exc, ("code",), locale)
                if FORM in errors:
                    errors["code"] = errors.pop(FORM)
        return await page(
            request, conn, "frameworks_import.html", status_code=422, errors=errors, values={"code": code}
        )

    @get("/{code:str}", guards=[read])
    async def framework(self, request: Request, conn: Conn, code: CodePath) -> Template:
        found = await frameworks.get_framework(conn, code)
        return await page(
            request,
            conn,
            "frameworks_detail.html",
            framework=found,
            can_write=_can_write(request),
            errors={},
        )

    @post("/{code:str}/versions", guards=[write])
    async def start_draft(self, request: Request, conn: Conn, code: CodePath) -> Template | Redirect:
        """A new draft from a version (`frameworks.start_draft`, as POST /v1/frameworks/{code}/versions)."""
        data = await form(request)
        wanted = _int_or_none(data.get("from_version"))
        try:
            async with conn.transaction():
                draft = await frameworks.start_draft(conn, code, wanted)
        except DomainError as exc:
            found = await frameworks.get_framework(conn, code)  # 404 for a framework that is not ours
            errors = {"from_version": [render(exc.message, session_of(request).locale)]}
            return await page(
                request,
                conn,
                "frameworks_detail.html",
                status_code=422,
                framework=found,
                can_write=True,
                errors=errors,
            )
        return Redirect(_version_url(code, draft.version), status_code=303)

    @get("/{code:str}/versions/{version:int}", guards=[read])
    async def version(self, request: Request, conn: Conn, code: CodePath, version: VersionPath) -> Template:
        found = await frameworks.get_version(conn, code, version)
        doc = msgspec.to_builtins(found.content)
        problems = validate(found.content) if found.status == "draft" else []
        focus = request.query_params.get("focus")
        context = _editor_context(found, doc, problems, session_of(request).locale, focus)
        return await page(request, conn, "frameworks_editor.html", can_write=_can_write(request), **context)

    @post("/{code:str}/versions/{version:int}", guards=[write])
    async def save(
        self, request: Request, conn: Conn, code: CodePath, version: VersionPath
    ) -> Template | Response[str]:
        """Save the form (and apply the button's structural change), or save and publish: one JSON Patch
        through `frameworks.patch_draft`, then `frameworks.publish`, under the form's ETag."""
        locale = session_of(request).locale
        fields = await _fields(request)
        values = dict(fields)
        actions = [v for k, v in fields if k == "action" and v]
        action = actions[-1] if actions else "save"
        etag = values.get("etag", "")
        doc = document_from_form(fields)
        current = await frameworks.get_version(conn, code, version)  # 404 before anything else
        problems: list[FieldError] = []
        focus: str | None = None
        try:
            operations, focus = structural(action, doc, values)
            async with conn.transaction():
                saved = await frameworks.patch_draft(
                    conn, code, version, [PatchOperation("replace", "", value=doc), *operations], etag
                )
            current, doc, etag = saved, msgspec.to_builtins(saved.content), saved.etag
            if action == "publish":
                async with conn.transaction():
                    await frameworks.publish(conn, code, version, saved.etag)
                target = f"/console/frameworks/{quote(code)}"
                if _is_htmx(request):
                    return Response("", status_code=200, headers={"HX-Redirect": target})
                return Redirect(target, status_code=303)
        except DomainError as exc:
            problems = domain_problems(exc)
        if problems:
            status = 422
        else:
            if not _is_htmx(request):
                query = f"?{urlencode({'focus': focus})}" if focus else ""
                return Redirect(_version_url(code, version) + query, status_code=303)
            status = 200
            problems = check(doc)
        context = _editor_context(current, doc, problems, locale, focus)
        context["etag"] = etag  # after a refused save the form's own: a stale form stays stale
        name = "_fw_editor.html" if _is_htmx(request) else "frameworks_editor.html"
        return await page(request, conn, name, status_code=status, can_write=True, **context)

    @post("/{code:str}/versions/{version:int}/check", guards=[write])
    async def check_form(
        self, request: Request, conn: Conn, code: CodePath, version: VersionPath
    ) -> Template:
        """As you type (htmx on change): the form's problems, each swapped into the slot next to its field."""
        await frameworks.get_version(conn, code, version)  # 404 for a version that is not ours
        doc = document_from_form(await _fields(request))
        problems = check(doc)
        where = slots(doc)
        return await page(
            request,
            conn,
            "_fw_check.html",
            errors=place(problems, where, session_of(request).locale),
            where=where,
            problem_count=len(problems),
            dom_id=dom_id,
        )

    @get("/{code:str}/versions/{version:int}/export", guards=[read])
    async def export(
        self, request: Request, conn: Conn, code: CodePath, version: VersionPath
    ) -> Response[bytes]:
        """The version as a CASE 1.1 package file (`frameworks.export_case`, as GET .../export?format=case)."""
        package = await frameworks.export_case(conn, code, version, creator=str(request.user.tenant_id))
        filename = f"{code}-v{version}.case.json"
        return Response(
            msgspec.json.encode(package),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @get("/{code:str}/diff", guards=[read])
    async def diff(self, request: Request, conn: Conn, code: CodePath) -> Template:
        """Two versions side by side: `diff.diff_versions`, as GET /v1/frameworks/{code}/diff."""
        found = await frameworks.get_framework(conn, code)
        locale = session_of(request).locale
        numbers = [v.version for v in found.versions]
        chosen: dict[str, int | None] = {}
        errors: dict[str, list[str]] = {}
        for name, default in (("from", numbers[-2] if len(numbers) > 1 else numbers[0]), ("to", numbers[-1])):
            sent = request.query_params.get(name)
            value = default if sent is None else _int_or_none(sent)
            if value is None or value not in numbers:
                errors[name] = [
                    render(
                        msg("framework '{code}' has no version {version}", code=code, version=sent or ""),
                        locale,
                    )
                ]
            chosen[name] = value
        result = None
        if not errors:
            old = await frameworks.get_version(conn, code, chosen["from"] or 0)
            new = await frameworks.get_version(conn, code, chosen["to"] or 0)
            result = diff_versions(old.content, new.content)
        return await page(
            request,
            conn,
            "frameworks_diff.html",
            status_code=422 if errors else 200,
            framework=found,
            numbers=numbers,
            chosen=chosen,
            errors=errors,
            diff=result,
            shown=shown,
        )


def _can_write(request: Request) -> bool:
    return session_of(request).principal().has_any(frozenset({"tenant_admin", "author"}))
