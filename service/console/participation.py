"""Running a sitting in the console: the assessments, and participation per org unit down the tree.

`GET /console/assessments` lists the tenant's assessments (`assessments.list_assessments`, behind the
API's read guard). `GET /console/assessments/{code}/participation?unit=` calls
`participation.participation` as `GET /v1/assessments/{code}/participation` does, behind the same
guard (admins, authors, analysts: never raters); a unit's row links one level down, breadcrumbs lead
back up, and the table polls itself every 5 s (htmx) during a sitting, answered with the table
alone. Who has not started downloads as CSV (with a byte order mark, for Excel) or XLSX, through
`participation.not_started` behind the API's tenant-admin guard.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream, Template

from service.api.assessments import admin, results
from service.api.deps import Conn, provide_tenant_conn
from service.api.downloads import csv_response, xlsx_response
from service.auth.principal import TENANT_ADMIN
from service.console.views import page
from service.console.web import session_of
from service.delivery import participation
from service.tenancy.fields import CODE_PATTERN

Code = Annotated[str, PathParameter(max_length=64, pattern=CODE_PATTERN)]
Unit = Annotated[str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN)]
POLL_SECONDS = 5


def _url(code: str, suffix: str, unit: str | None) -> str:
    return f"/console/assessments/{code}/participation{suffix}" + (
        f"?{urlencode({'unit': unit})}" if unit else ""
    )


class SittingScreens(Controller):
    """An assessment's participation (linked from the assessment list of `assessments.AssessmentScreens`)."""

    path = "/console/assessments"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/{code:str}/participation", guards=[results])
    async def participation_page(
        self, request: Request, conn: Conn, code: Code, unit: Unit = None
    ) -> Template:
        found = await participation.participation(conn, code, unit)
        context: dict[str, Any] = {
            "p": found,
            "code": code,
            "self_url": _url(code, "", unit),
            "csv_url": _url(code, "/not-started.csv", unit),
            "xlsx_url": _url(code, "/not-started.xlsx", unit),
            "poll_seconds": POLL_SECONDS,
            "can_list": session_of(request).principal().has_any(frozenset({TENANT_ADMIN})),
        }
        partial = request.headers.get("hx-request") and not request.headers.get("hx-history-restore-request")
        name = "participation_table.html" if partial else "participation.html"
        response = await page(request, conn, name, **context)
        response.headers["Vary"] = "HX-Request"
        response.headers["Cache-Control"] = "no-store"
        return response

    @get("/{code:str}/participation/not-started.csv", guards=[admin])
    async def not_started_csv(self, conn: Conn, code: Code, unit: Unit = None) -> Response[bytes]:
        people = await participation.not_started(conn, code, unit)
        return csv_response(participation.not_started_csv(people, bom=True), f"{code}-not-started")

    @get("/{code:str}/participation/not-started.xlsx", guards=[admin])
    async def not_started_xlsx(self, request: Request, conn: Conn, code: Code, unit: Unit = None) -> Stream:
        people = await participation.not_started(conn, code, unit)
        locale = session_of(request).locale
        return xlsx_response(participation.not_started_xlsx(people, locale), f"{code}-not-started", locale)
