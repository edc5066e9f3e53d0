"""The org-unit tree in the console: browse (children loaded when opened), search, move, import.

Each screen calls what the API calls, behind the API's guards (service/api/org_units.py): reading
is `read` (admins, authors, analysts), changing is `write` (tenant admins); a move is
`pipeline.move_org_unit` (POST /v1/org-units/{code}/move, rollups follow the subtree), an import
`pipeline.import_org_units` in the mode chosen (POST /v1/org-units/import?mode=), read from an
XLSX, CSV or JSON file by `tenancy.spreadsheets`, with every problem named by its row and column.
Routes of the screen itself sit under `/-/` (no unit code starts with `-`).
"""

from __future__ import annotations

from typing import Annotated, Any, cast, get_args

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from service import pipeline
from service.api.deps import Conn, provide_tenant_conn
from service.api.org_units import read, write
from service.console.forms import FORM, domain_errors
from service.console.item_files import no_file, uploaded
from service.console.views import form, page
from service.console.web import session_of
from service.errors import DomainError, FieldError, msgspec_field_error
from service.i18n import render
from service.tenancy import org_units, spreadsheets
from service.tenancy.fields import CODE_PATTERN
from service.tenancy.org_units import ImportMode, ImportResult, OrgUnit, OrgUnitMove

UnitCode = Annotated[str, PathParameter(max_length=64, pattern=CODE_PATTERN)]
Parent = Annotated[str, QueryParameter(max_length=64, pattern=CODE_PATTERN)]
Search = Annotated[str | None, QueryParameter(max_length=200)]
SHOWN = 500  # units listed at one level, or found by a search
MODES = get_args(ImportMode)


def is_admin(request: Request) -> bool:
    return "tenant_admin" in session_of(request).roles


async def _with_counts(conn: asyncpg.Connection, units: list[OrgUnit]) -> list[tuple[OrgUnit, int]]:
    counts = await org_units.child_counts(conn, [u.code for u in units])
    return [(u, counts.get(u.code, 0)) for u in units]


def problem_rows(problems: list[FieldError], locale: str) -> list[tuple[Any, ...]]:
    """(sheet, row, column, message) of each problem; a JSON document's problems name their pointer."""
    return [
        (p.sheet or "", p.row or "", p.column or p.pointer or "", render(p.detail, locale)) for p in problems
    ]


class OrgTreeScreens(Controller):
    path = "/console/org-units"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/", guards=[read])
    async def tree(self, request: Request, conn: Conn, q: Search = None) -> Template:
        text = (q or "").strip()
        found = await org_units.search_org_units(conn, text, SHOWN) if text else []
        roots = (
            []
            if text
            else await org_units.list_org_units(
                conn, under=None, parent=None, level=None, after=None, limit=SHOWN, roots=True
            )
        )
        return await page(
            request,
            conn,
            "org_tree.html",
            q=text,
            found=await _with_counts(conn, found),
            roots=await _with_counts(conn, roots),
            can_write=is_admin(request),
        )

    @get("/-/children", guards=[read])
    async def children(self, request: Request, conn: Conn, parent: Parent) -> Template:
        """One level below `parent`, as the list htmx puts under it when it is opened."""
        units = await org_units.list_org_units(
            conn, under=None, parent=parent, level=None, after=None, limit=SHOWN
        )
        return await page(request, conn, "_org_children.html", units=await _with_counts(conn, units))

    @get("/{code:str}", guards=[read])
    async def unit(self, request: Request, conn: Conn, code: UnitCode) -> Template:
        return await self._unit(request, conn, code, {}, "", 200)

    async def _unit(
        self,
        request: Request,
        conn: asyncpg.Connection,
        code: str,
        errors: dict[str, list[str]],
        parent_code: str,
        status: int,
    ) -> Template:
        unit = await org_units.get_org_unit(conn, code)
        below = await org_units.list_org_units(
            conn, under=None, parent=code, level=None, after=None, limit=SHOWN
        )
        return await page(
            request,
            conn,
            "org_unit.html",
            status_code=status,
            unit=unit,
            children=await _with_counts(conn, below),
            errors=errors,
            parent_code=parent_code,
            moved=request.query_params.get("moved") == "1",
            can_write=is_admin(request),
        )

    @post("/{code:str}/move", guards=[write])
    async def move(self, request: Request, conn: Conn, code: UnitCode) -> Template | Redirect:
        """`pipeline.move_org_unit`, as POST /v1/org-units/{code}/move; an empty parent makes it a root."""
        locale = session_of(request).locale
        parent_code = (await form(request)).get("parent_code", "").strip()
        await org_units.get_org_unit(conn, code)  # 404 page for a unit that is not there
        try:
            data = msgspec.convert({"parent_code": parent_code or None}, OrgUnitMove)
            async with conn.transaction():  # a savepoint: a refused move leaves the request usable
                await pipeline.move_org_unit(conn, code, data)
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors = {"parent_code": [render(problem.detail, locale)]}
        except DomainError as exc:
            errors = domain_errors(exc, ("parent_code",), locale)
        else:
            return Redirect(f"/console/org-units/{code}?moved=1", status_code=303)
        return await self._unit(request, conn, code, errors, parent_code, 422)

    @get("/-/import", guards=[write])
    async def import_page(self, request: Request, conn: Conn) -> Template:
        return await self._import(request, conn, {}, [], None, "create", 200)

    async def _import(
        self,
        request: Request,
        conn: asyncpg.Connection,
        errors: dict[str, list[str]],
        problems: list[FieldError],
        result: ImportResult | None,
        mode: str,
        status: int,
    ) -> Template:
        return await page(
            request,
            conn,
            "org_import.html",
            status_code=status,
            errors=errors,
            problems=problem_rows(problems, session_of(request).locale),
            result=result,
            modes=MODES,
            mode=mode,
        )

    @post("/-/import", guards=[write])
    async def import_file(self, request: Request, conn: Conn) -> Template | Response[Any]:
        """`pipeline.import_org_units` in the chosen mode, as POST /v1/org-units/import: all or nothing."""
        locale = session_of(request).locale
        fields, content, name = await uploaded(request)
        mode = fields.get("mode", "create")
        if mode not in MODES:
            return await self._import(
                request, conn, {"mode": ["create, upsert, sync"]}, [], None, "create", 422
            )
        if content is None:
            return await self._import(request, conn, no_file(locale), [], None, mode, 422)
        chosen = cast(ImportMode, mode)  # one of MODES: checked above
        try:
            parsed = spreadsheets.units_file(content, name or "")
            result = await spreadsheets.apply(
                conn, parsed, lambda body: pipeline.import_org_units(conn, body, chosen)
            )
        except DomainError as exc:
            problems = exc.errors
            file_only = [p for p in problems if p.pointer == "/file"]
            errors = (
                domain_errors(exc, ("file",), locale) if file_only else {FORM: [render(exc.message, locale)]}
            )
            shown = [p for p in problems if p.pointer != "/file"]
            return await self._import(request, conn, errors, shown, None, mode, 422)
        return await self._import(request, conn, {}, [], result, mode, 200)
