"""The framework editor: a framework's versions, the draft editor, publish, diff, and CASE import and export.

Every write is a call of the domain function the REST route makes, on the request's tenant
transaction, behind the API's role guards (`read`, `write` of service/api/frameworks.py):

- a version is edited one part at a time (service/console/framework_form.py): the overview page
  (title, sources, notes, levels, cut scores, the top-level dimensions' names and weights) and a page
  per top-level dimension (its sub-dimensions, indicators and descriptors). Saving a page is one JSON
  Patch for `frameworks.patch_draft` (as `PATCH /v1/frameworks/{code}/versions/{n}`): `replace` of the
  whole document with the stored one the page's part merged in, then the structural operation of the
  button pressed (`move` up or down, `add`, `remove`), under the ETag the page was rendered with (a
  stale page gets the API's 412 message, nothing is overwritten);
- "check" (htmx, on every change) merges the page's form the same way, converts it as `patch_draft`
  does and runs `validation.validate`, the function behind `POST .../validate`, and answers with each
  field's messages swapped into the error slot next to it (out of band); nothing is saved;
- publish is `frameworks.publish`, start a draft `frameworks.start_draft`, the diff
  `diff.diff_versions`, CASE `frameworks.import_case`/`frameworks.export_case`, as the API's routes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Redirect, Template

from service.api.deps import Conn, provide_tenant_conn
from service.api.frameworks import CodePath, VersionPath, read, write
from service.console.forms import FORM, unique_errors
from service.console.framework_form import (
    LANGUAGES,
    TAGS,
    _escape,
    _items,
    _level_codes,
    check,
    document_from_form,
    dom_id,
    domain_problems,
    keep,
    merged,
    on_page,
    other_languages,
    page_fields,
    place,
    slots,
    structural,
)
from service.console.views import form, page
from service.console.web import session_of
from service.errors import DomainError, FieldError, NotFound, msgspec_message
from service.i18n import msg, render
from service.rubrics import frameworks
from service.rubrics.diff import diff_versions
from service.rubrics.frameworks import FrameworkVersion
from service.rubrics.jsonpatch import PatchOperation
from service.rubrics.model import Code
from service.rubrics.validation import validate
from service.tenancy.fields import MAX_VERSION

__all__ = ["FrameworkScreens", "document_from_form", "dom_id", "place", "slots"]

DimensionPath = Annotated[int, Parameter(ge=0, le=999, description="A top-level dimension's place, from 0")]

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
    version: FrameworkVersion,
    doc: dict[str, Any],
    problems: list[FieldError],
    locale: str,
    focus: str | None,
    dimension: int | None,
) -> dict[str, Any]:
    shown_problems, elsewhere = on_page(problems, dimension)
    url = _version_url(version.framework, version.version)
    return {
        "fw": version,
        "doc": doc,
        "dimension": dimension,
        "errors": place(shown_problems, slots(doc, dimension), locale),
        "problem_count": len(problems),
        "elsewhere": elsewhere,
        "editable": version.status == "draft",
        "languages": LANGUAGES,
        "tags": TAGS,
        "dom_id": dom_id,
        "keep": keep,
        "other_languages": other_languages,
        "esc_token": _escape,
        "focus": focus,
        "level_codes": _level_codes(doc),
        "dimension_codes": [d.get("code") for d in _walk_dimensions(doc) if isinstance(d.get("code"), str)],
        "version_url": url,
        "action_url": url if dimension is None else f"{url}/dimensions/{dimension}",
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


class FrameworkScreens(Controller):
    """A framework's page, its version editor, diff, and the CASE exchange."""

    path = "/console/frameworks"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

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
        """The overview of a version: what is not inside a top-level dimension, and each one's name and weight."""
        return await _show(request, conn, code, version, None)

    @get("/{code:str}/versions/{version:int}/dimensions/{dimension:int}", guards=[read])
    async def dimension(
        self, request: Request, conn: Conn, code: CodePath, version: VersionPath, dimension: DimensionPath
    ) -> Template:
        """One top-level dimension with everything under it."""
        return await _show(request, conn, code, version, dimension)

    @post("/{code:str}/versions/{version:int}", guards=[write])
    async def save(
        self, request: Request, conn: Conn, code: CodePath, version: VersionPath
    ) -> Template | Response[str]:
        return await _save(request, conn, code, version, None)

    @post("/{code:str}/versions/{version:int}/dimensions/{dimension:int}", guards=[write])
    async def save_dimension(
        self, request: Request, conn: Conn, code: CodePath, version: VersionPath, dimension: DimensionPath
    ) -> Template | Response[str]:
        return await _save(request, conn, code, version, dimension)

    @post("/{code:str}/versions/{version:int}/check", guards=[write])
    async def check_form(
        self, request: Request, conn: Conn, code: CodePath, version: VersionPath
    ) -> Template:
        return await _check(request, conn, code, version, None)

    @post("/{code:str}/versions/{version:int}/dimensions/{dimension:int}/check", guards=[write])
    async def check_dimension(
        self, request: Request, conn: Conn, code: CodePath, version: VersionPath, dimension: DimensionPath
    ) -> Template:
        return await _check(request, conn, code, version, dimension)

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


async def _stored(
    conn: Conn, code: str, version: int, dimension: int | None
) -> tuple[FrameworkVersion, dict[str, Any]]:
    """The version (404 when it is not the tenant's) and its document; 404 for a dimension it lacks."""
    found = await frameworks.get_version(conn, code, version)
    doc: dict[str, Any] = msgspec.to_builtins(found.content)
    if dimension is not None and dimension >= len(_items(doc, "dimensions")):
        raise NotFound(
            msg(
                "framework '{code}' version {version} has no dimension {n}",
                code=code,
                version=version,
                n=dimension,
            )
        )
    return found, doc


async def _show(request: Request, conn: Conn, code: str, version: int, dimension: int | None) -> Template:
    found, doc = await _stored(conn, code, version, dimension)
    problems = validate(found.content) if found.status == "draft" else []
    focus = request.query_params.get("focus")
    context = _editor_context(found, doc, problems, session_of(request).locale, focus, dimension)
    return await page(request, conn, "frameworks_editor.html", can_write=_can_write(request), **context)


async def _save(
    request: Request, conn: Conn, code: str, version: int, dimension: int | None
) -> Template | Response[str]:
    """Save the page (and apply the button's structural change), or save and publish: one JSON Patch
    through `frameworks.patch_draft`, then `frameworks.publish`, under the page's ETag."""
    locale = session_of(request).locale
    fields = await _fields(request)
    values = dict(fields)
    actions = [v for k, v in fields if k == "action" and v]
    action = actions[-1] if actions else "save"
    etag = values.get("etag", "")
    current, stored = await _stored(conn, code, version, dimension)  # 404 before anything else
    doc = merged(stored, document_from_form(page_fields(fields, dimension)), dimension)
    problems: list[FieldError] = []
    focus: str | None = None
    try:
        operations, focus = structural(action, doc, values, locale)
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
    here = _version_url(code, version) + ("" if dimension is None else f"/dimensions/{dimension}")
    if dimension is not None and dimension >= len(_items(doc, "dimensions")):
        dimension = None  # the page's dimension was removed: back to the overview
        here = _version_url(code, version)
    if problems:
        status = 422
    else:
        if not _is_htmx(request):
            query = f"?{urlencode({'focus': focus})}" if focus else ""
            return Redirect(here + query, status_code=303)
        status = 200
        problems = check(doc)
    context = _editor_context(current, doc, problems, locale, focus, dimension)
    context["etag"] = etag  # after a refused save the form's own: a stale form stays stale
    name = "_fw_editor.html" if _is_htmx(request) else "frameworks_editor.html"
    return await page(request, conn, name, status_code=status, can_write=True, **context)


async def _check(request: Request, conn: Conn, code: str, version: int, dimension: int | None) -> Template:
    """As you type (htmx on change): the page's problems, each swapped into the slot next to its field."""
    _, stored = await _stored(conn, code, version, dimension)  # 404 for a version that is not ours
    doc = merged(stored, document_from_form(page_fields(await _fields(request), dimension)), dimension)
    problems, elsewhere = on_page(check(doc), dimension)
    where = slots(doc, dimension)
    return await page(
        request,
        conn,
        "_fw_check.html",
        errors=place(problems, where, session_of(request).locale),
        where=where,
        problem_count=len(problems) + elsewhere,
        elsewhere=elsewhere,
        version_url=_version_url(code, version),
        dom_id=dom_id,
    )


def _can_write(request: Request) -> bool:
    return session_of(request).principal().has_any(frozenset({"tenant_admin", "author"}))
