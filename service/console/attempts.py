"""An assessment's attempts in the console, and one attempt's score history with its full trace.

`GET /console/assessments/{code}/attempts` lists `monitor.list_attempts` (as
`GET /v1/assessments/{code}/attempts`, behind the same guard: admins, authors, analysts, never
raters), filtered by org unit (its subtree), status and submission day in the tenant's time zone,
a page at a time. `GET .../attempts/{id}` shows `scores.score_history` (as
`GET .../attempts/{id}/scores`): every score version, the current one first, each with its trace
(overall, dimensions with the weights used, indicators, items with their credit and what each
contributed to which indicator) as tables, with the framework's names beside the codes
(`results.trace`, from the framework version the document was scored with).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import PathParameter, QueryParameter
from litestar.response import Template

from service.api.assessments import results
from service.api.deps import Conn, provide_tenant_conn
from service.api.pagination import DEFAULT_LIMIT, Cursor, decode_cursor, next_cursor
from service.console.views import page
from service.console.web import session_of
from service.delivery import monitor
from service.errors import FieldError, Unprocessable
from service.i18n import msg
from service.results import scores, trace
from service.rubrics import frameworks
from service.rubrics.model import FrameworkContent
from service.tenancy import tenants
from service.tenancy.fields import CODE_PATTERN

Code = Annotated[str, PathParameter(max_length=64, pattern=CODE_PATTERN)]
AttemptId = Annotated[UUID, PathParameter()]
# A GET form sends its empty fields too: each filter may be empty (no filter).
Unit = Annotated[str | None, QueryParameter(max_length=64, pattern=f"^$|{CODE_PATTERN}")]
Status = Annotated[str | None, QueryParameter(pattern="^(in_progress|submitted)?$")]
DAY = r"^(\d{4}-\d{2}-\d{2})?$"
STATUSES = ("in_progress", "submitted")


async def tenant_zone(request: Request, conn: asyncpg.Connection) -> ZoneInfo:
    return ZoneInfo((await tenants.get_tenant_by_id(conn, session_of(request).tenant_id)).timezone)


def day_bounds(
    first: date | None, last: date | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """Days (both included) in the tenant's zone as the half-open time range the domain filters on."""
    return (
        datetime.combine(first, time(), zone) if first else None,
        datetime.combine(last + timedelta(days=1), time(), zone) if last else None,
    )


def _day(text: str | None, name: str) -> date | None:
    """A date input's value; an impossible date is refused as the API refuses a malformed parameter."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Unprocessable(
            msg("invalid date"), [FieldError(msg("expected a date YYYY-MM-DD"), parameter=name)]
        ) from None


class AttemptScreens(Controller):
    """Attempts of an assessment and one attempt's scores (linked from the assessment list)."""

    path = "/console/assessments"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/{code:str}/attempts", guards=[results])
    async def attempt_list(
        self,
        request: Request,
        conn: Conn,
        code: Code,
        unit: Unit = None,
        status: Status = None,
        day_from: Annotated[str | None, QueryParameter(name="from", pattern=DAY)] = None,
        day_to: Annotated[str | None, QueryParameter(name="to", pattern=DAY)] = None,
        cursor: Cursor = None,
    ) -> Template:
        zone = await tenant_zone(request, conn)
        first, last = _day(day_from, "from"), _day(day_to, "to")
        since, until = day_bounds(first, last, zone)
        found = await monitor.list_attempts(
            conn,
            code,
            status=status or None,
            after=decode_cursor("attempts", cursor),
            limit=DEFAULT_LIMIT,
            unit=unit or None,
            submitted_from=since,
            submitted_to=until,
        )
        shown = {
            k: v
            for k, v in {
                "unit": unit or "",
                "status": status or "",
                "from": first.isoformat() if first else "",
                "to": last.isoformat() if last else "",
            }.items()
            if v
        }
        more = next_cursor("attempts", [str(a.id) for a in found], DEFAULT_LIMIT)
        return await page(
            request,
            conn,
            "attempt_list.html",
            code=code,
            attempts=found,
            values=shown,
            statuses=STATUSES,
            zone=zone,
            next_url=f"/console/assessments/{code}/attempts?{urlencode({**shown, 'cursor': more})}"
            if more
            else None,
        )

    @get("/{code:str}/attempts/{attempt_id:uuid}", guards=[results])
    async def attempt_page(self, request: Request, conn: Conn, code: Code, attempt_id: AttemptId) -> Template:
        await monitor.attempt_of(conn, code, attempt_id)
        history = await scores.score_history(conn, attempt_id)
        contents = await frameworks.contents_by_hash(
            conn, sorted({s.document.provenance.framework_hash for s in history})
        )
        names: dict[str, Any] = {
            digest: trace.names(msgspec.convert(content, FrameworkContent))
            for digest, content in contents.items()
        }
        return await page(
            request,
            conn,
            "attempt_page.html",
            code=code,
            attempt_id=attempt_id,
            history=history,
            names={
                s.version: names.get(s.document.provenance.framework_hash, trace.names(None)) for s in history
            },
            zone=await tenant_zone(request, conn),
        )
