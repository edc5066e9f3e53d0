"""Allocating rating tasks to raters in the console, and progress per rater and item.

`GET /console/assessments/{code}/rating-allocations` shows `rating_allocations.progress` (as
`GET /v1/assessments/{code}/rating-progress`) and a form that allocates open tasks to a rater, all of
them or one item's or those of candidates in an org unit's subtree: `rating_allocations.allocate`, as
`POST /v1/rating-allocations`, its problems next to their fields. Each rater's row can hand back what
they have not rated (`rating_allocations.release`, as `DELETE /v1/rating-allocations`). Tenant admins
only, as the API.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import PathParameter
from litestar.response import Template

from service.api.deps import Conn, provide_tenant_conn
from service.api.ratings import admin
from service.console.forms import domain_errors, errors_by_field
from service.console.views import form, page
from service.console.web import session_of
from service.errors import DomainError, msgspec_field_error
from service.i18n import msg, render
from service.results import rating_allocations
from service.results.rating_allocations import AllocationInput
from service.tenancy.fields import CODE_PATTERN

Code = Annotated[str, PathParameter(max_length=64, pattern=CODE_PATTERN)]
FIELDS = ("rater", "item", "org_unit", "limit")


class AllocationScreens(Controller):
    """Rating allocation of an assessment (linked from the assessment list, for admins)."""

    path = "/console/assessments"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}
    guards = [admin]

    async def _show(
        self,
        request: Request,
        conn: Conn,
        code: str,
        *,
        errors: dict[str, list[str]] | None = None,
        values: dict[str, str] | None = None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Template:
        progress = await rating_allocations.progress(conn, code)
        return await page(
            request,
            conn,
            "rating_allocations.html",
            status_code=status_code,
            code=code,
            progress=progress,
            errors=errors or {},
            values=values or {"limit": "100"},
            notice=notice,
        )

    @get("/{code:str}/rating-allocations")
    async def allocations(self, request: Request, conn: Conn, code: Code) -> Template:
        return await self._show(request, conn, code)

    @post("/{code:str}/rating-allocations")
    async def allocate(self, request: Request, conn: Conn, code: Code) -> Template:
        await rating_allocations.progress(conn, code)  # 404 first, whatever the form holds
        data = await form(request)
        values = {name: data.get(name, "").strip() for name in FIELDS}
        locale = session_of(request).locale
        body: dict[str, Any] = {
            "rater": values["rater"],
            "assessment": code,
            "item": values["item"] or None,
            "org_unit": values["org_unit"] or None,
        }
        if values["limit"]:
            body["limit"] = int(values["limit"]) if values["limit"].isdigit() else values["limit"]
        try:
            wanted = msgspec.convert(body, AllocationInput)
            async with conn.transaction():
                done = await rating_allocations.allocate(conn, wanted, request.user.subject)
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors = errors_by_field([problem], problem.detail, FIELDS, locale)
        except DomainError as exc:
            errors = domain_errors(exc, FIELDS, locale)
        else:
            notice = render(
                msg("{count} task(s) allocated to {rater}.", count=done.allocated, rater=done.rater), locale
            )
            return await self._show(request, conn, code, notice=notice, values={**values, "rater": ""})
        return await self._show(request, conn, code, errors=errors, values=values, status_code=422)

    @post("/{code:str}/rating-allocations/release")
    async def release(self, request: Request, conn: Conn, code: Code) -> Template:
        data = await form(request)
        rater = data.get("rater", "").strip()
        locale = session_of(request).locale
        if not rater:
            return await self._show(
                request, conn, code, errors={"": [render(msg("choose a rater"), locale)]}, status_code=422
            )
        done = await rating_allocations.release(conn, rater, code)
        notice = render(
            msg("{count} allocation(s) of {rater} released.", count=done.released, rater=done.rater), locale
        )
        return await self._show(request, conn, code, notice=notice)
