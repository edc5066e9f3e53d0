"""People in the console: the list (filters, pages), edit, deactivate, and the bulk import from a sheet.

The same functions and guards as /v1/people (service/api/people.py): the list is `people.list_people`
behind `read` with the API's cursors; an edit is `people.patch_person` (PATCH, only the fields that
changed are sent), deactivating is the same patch with `active: false`, and an import is
`people.bulk_upsert_people` (POST /v1/people/bulk) behind `write`, on the body `tenancy.spreadsheets`
reads from an XLSX or CSV file: every row or none, every bad row named by sheet, row and column.
Routes of the screen itself sit under `/-/` (no external id starts with `-`).
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from service.api.deps import Conn, provide_tenant_conn
from service.api.pagination import Cursor, decode_cursor, next_cursor
from service.api.people import read, write
from service.console.forms import FORM, domain_errors, errors_by_field
from service.console.item_files import no_file, uploaded
from service.console.org_tree import is_admin, problem_rows
from service.console.views import form, page
from service.console.web import session_of
from service.errors import DomainError, FieldError, NotFound, msgspec_field_error
from service.i18n import render
from service.tenancy import people, spreadsheets
from service.tenancy.fields import CODE_PATTERN, EXTERNAL_ID_PATTERN, Category
from service.tenancy.people import BulkResult, Person, PersonPatch

ExternalId = Annotated[str, PathParameter(min_length=1, max_length=128, pattern=EXTERNAL_ID_PATTERN)]
Under = Annotated[str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN)]
PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CATEGORIES = get_args(Category)
EDIT_FIELDS = ("org_unit_code", "category", "display_name", "active")


def _filters(under: str | None, category: str | None, active: bool | None) -> dict[str, str]:
    shown = {
        "under": under or "",
        "category": category or "",
        "active": "" if active is None else str(active).lower(),
    }
    return {k: v for k, v in shown.items() if v}


def _values(person: Person) -> dict[str, str]:
    """The edit form's fields for the stored person."""
    return {
        "org_unit_code": person.org_unit_code or "",
        "category": person.category,
        "display_name": person.display_name or "",
        "active": "true" if person.active else "false",
    }


class PeopleScreens(Controller):
    path = "/console/people"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/", guards=[read])
    async def people_list(
        self,
        request: Request,
        conn: Conn,
        under: Under = None,
        category: Annotated[Category | None, QueryParameter()] = None,
        active: Annotated[bool | None, QueryParameter()] = None,
        cursor: Cursor = None,
    ) -> Template:
        errors: dict[str, list[str]] = {}
        try:
            found = await people.list_people(
                conn,
                under=under,
                category=category,
                active=active,
                after=decode_cursor("people", cursor),
                limit=PAGE_SIZE,
            )
        except NotFound as exc:  # an unknown unit: the API's 404, shown next to the filter
            found, errors = [], {"under": [render(exc.message, session_of(request).locale)]}
        filters = _filters(under, category, active)
        return await page(
            request,
            conn,
            "people.html",
            status_code=404 if errors else 200,
            errors=errors,
            people=found,
            filters=filters,
            next_cursor=next_cursor("people", [p.external_id for p in found], PAGE_SIZE),
            first_page=cursor is None,
            categories=CATEGORIES,
            can_write=is_admin(request),
        )

    @get("/{external_id:str}", guards=[read])
    async def person(self, request: Request, conn: Conn, external_id: ExternalId) -> Template:
        values = _values(await people.get_person(conn, external_id))
        saved = request.query_params.get("saved") == "1"
        return await self._person(request, conn, external_id, values, {}, saved, 200)

    async def _person(
        self,
        request: Request,
        conn: asyncpg.Connection,
        external_id: str,
        values: dict[str, str],
        errors: dict[str, list[str]],
        saved: bool,
        status: int,
    ) -> Template:
        return await page(
            request,
            conn,
            "person.html",
            status_code=status,
            person=await people.get_person(conn, external_id),
            values=values,
            errors=errors,
            saved=saved,
            categories=CATEGORIES,
            can_write=is_admin(request),
        )

    @post("/{external_id:str}", guards=[write])
    async def edit(self, request: Request, conn: Conn, external_id: ExternalId) -> Template | Redirect:
        """`people.patch_person` with the fields that differ from the stored person (PATCH /v1/people/{id})."""
        locale = session_of(request).locale
        current = await people.get_person(conn, external_id)
        data = await form(request)
        values = {**_values(current), **{k: data[k].strip() for k in EDIT_FIELDS if k in data}}
        wanted: dict[str, Any] = {
            "org_unit_code": values["org_unit_code"] or None,
            "category": values["category"],
            "display_name": values["display_name"] or None,
            "active": {"true": True, "false": False}.get(values["active"], values["active"]),
        }
        before = msgspec.structs.asdict(current)
        changed = {k: v for k, v in wanted.items() if before[k] != v}
        try:
            patch = msgspec.convert(changed, PersonPatch)
            async with conn.transaction():
                await people.patch_person(conn, external_id, patch)
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors = errors_by_field([problem], problem.detail, EDIT_FIELDS, locale)
        except DomainError as exc:
            errors = domain_errors(exc, EDIT_FIELDS, locale)
        else:
            return Redirect(f"/console/people/{external_id}?saved=1", status_code=303)
        return await self._person(request, conn, external_id, values, errors, False, 422)

    @post("/{external_id:str}/deactivate", guards=[write])
    async def deactivate(self, request: Request, conn: Conn, external_id: ExternalId) -> Redirect:
        """PATCH /v1/people/{id} with `{"active": false}`: the person can no longer sign in; results stay."""
        await people.patch_person(conn, external_id, PersonPatch(active=False))
        return Redirect(f"/console/people/{external_id}?saved=1", status_code=303)

    @get("/-/template.xlsx", guards=[write])
    async def template(self, request: Request) -> Response[bytes]:
        """An empty sheet with the import's columns, and what each takes in the session's language."""
        return Response(
            spreadsheets.people_template(session_of(request).locale),
            media_type=XLSX,
            headers={"Content-Disposition": 'attachment; filename="people-import-template.xlsx"'},
        )

    @get("/-/import", guards=[write])
    async def import_page(self, request: Request, conn: Conn) -> Template:
        return await self._import(request, conn, {}, [], None, 200)

    async def _import(
        self,
        request: Request,
        conn: asyncpg.Connection,
        errors: dict[str, list[str]],
        problems: list[FieldError],
        result: BulkResult | None,
        status: int,
    ) -> Template:
        return await page(
            request,
            conn,
            "people_import.html",
            status_code=status,
            errors=errors,
            problems=problem_rows(problems, session_of(request).locale),
            result=result,
            columns=spreadsheets.PEOPLE_COLUMNS,
            categories=CATEGORIES,
        )

    @post("/-/import", guards=[write])
    async def import_file(self, request: Request, conn: Conn) -> Template:
        """`people.bulk_upsert_people` (POST /v1/people/bulk) on the file's rows: every row or none."""
        locale = session_of(request).locale
        _, content, name = await uploaded(request)
        if content is None:
            return await self._import(request, conn, no_file(locale), [], None, 422)
        try:
            parsed = spreadsheets.people_file(content, name or "")
            result = await spreadsheets.apply(
                conn, parsed, lambda body: people.bulk_upsert_people(conn, body)
            )
        except DomainError as exc:
            problems = exc.errors
            on_file = any(p.pointer == "/file" for p in problems)
            errors = (
                domain_errors(exc, ("file",), locale) if on_file else {FORM: [render(exc.message, locale)]}
            )
            return await self._import(
                request, conn, errors, [p for p in problems if p.pointer != "/file"], None, 422
            )
        return await self._import(request, conn, {}, [], result, 200)
