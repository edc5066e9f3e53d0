"""Rescoring from the console: choose corrected item versions or a framework version, preview, commit.

`GET /console/assessments/{code}/rescorings` lists `rescoring.list_rescorings` and, for those who may
start one (admins and authors, as `POST /v1/assessments/{code}/rescorings`), a form: a reason, and per
item of the assessment (or for its framework) the version scoring should use from now on, chosen among
the versions that exist. Posting it is `rescoring.create`, the API's own, whose problems come back next
to their fields; the job is launched after the response, as the API launches it.

`GET .../rescorings/{id}` shows the job: its progress (polled every second through htmx while it runs,
answered with the status section alone), then the preview's counts of changed scores and levels per
dimension, and who would change (`rescoring.affected`, the preview's comparison for the first people
it finds). Committing is `rescoring.commit`, behind the API's guard, after which the page polls again
until the commit is done.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from service.api.assessments import results, write
from service.api.deps import Conn, provide_tenant_conn
from service.api.runtime import runtime
from service.assessments import assessments
from service.assessments.assessments import Assessment
from service.auth.principal import AUTHOR, TENANT_ADMIN
from service.console.forms import FORM, domain_errors, errors_by_field
from service.console.views import form, page
from service.console.web import session_of
from service.errors import DomainError, msgspec_field_error
from service.items import bank
from service.results import rescoring
from service.results.rescoring import Rescoring, RescoringRequest
from service.results.scores import ScoringPins, pins_in_force
from service.rubrics import frameworks
from service.tenancy.fields import CODE_PATTERN

Code = Annotated[str, PathParameter(max_length=64, pattern=CODE_PATTERN)]
RescoringId = Annotated[UUID, PathParameter()]
FIELDS = ("reason", "framework_version", "items")
ITEM_FIELD = "item:"  # a select per item: "item:T-SC-1" -> version
POLL_SECONDS = 1
SHOWN = 50  # people listed as changing
RUNNING = ("previewing", "running")
WRITERS = frozenset({TENANT_ADMIN, AUTHOR})


class ItemChoice(msgspec.Struct):
    code: str
    delivered: int | None
    in_force: int | None
    versions: list[int]


async def _choices(conn: asyncpg.Connection, found: Assessment) -> dict[str, Any]:
    """What the form offers: each item's versions, the framework's published versions, the pins in force."""
    pins = (await pins_in_force(conn, [found.id])).get(found.id, ScoringPins())
    refs = {
        ref.code: ref.version
        for section in found.content.sections
        for ref in section.items + (section.pool.items if section.pool else [])
    }
    items = [
        ItemChoice(
            code,
            version,
            pins.items.get(code, version),
            [v.version for v in await bank.list_versions(conn, code)],
        )
        for code, version in sorted(refs.items())
    ]
    framework = await frameworks.get_framework(conn, found.content.framework.code)
    return {
        "items": items,
        "framework": found.content.framework,
        "framework_versions": [v.version for v in framework.versions if v.status != "draft"],
        "framework_in_force": pins.framework_version or found.content.framework.version,
    }


def _launch(request: Request, job: Rescoring) -> BackgroundTask:
    """The job runs after the response, once the transaction that queued it has committed."""
    return BackgroundTask(runtime(request).jobs.launch, request.user.tenant_id, job.id)


def _partial(request: Request) -> bool:
    return bool(request.headers.get("hx-request")) and not request.headers.get("hx-history-restore-request")


class RescoringScreens(Controller):
    """An assessment's rescorings (linked from its attempts and the assessment list)."""

    path = "/console/assessments"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    async def _list(
        self,
        request: Request,
        conn: Conn,
        code: str,
        *,
        errors: dict[str, list[str]] | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        found = await assessments.get_assessment(conn, code)
        jobs = await rescoring.list_rescorings(conn, code, before=None, limit=SHOWN)
        return await page(
            request,
            conn,
            "rescoring_list.html",
            status_code=status_code,
            code=code,
            rescorings=jobs,
            can_write=session_of(request).principal().has_any(WRITERS) and found.status != "draft",
            errors=errors or {},
            values=values or {},
            **await _choices(conn, found),
        )

    @get("/{code:str}/rescorings", guards=[results])
    async def rescoring_list(self, request: Request, conn: Conn, code: Code) -> Template:
        return await self._list(request, conn, code)

    @post("/{code:str}/rescorings", guards=[write])
    async def start(self, request: Request, conn: Conn, code: Code) -> Template | Response[Any]:
        """`rescoring.create`, as POST /v1/assessments/{code}/rescorings: a preview first."""
        await assessments.get_assessment(conn, code)  # 404 first, whatever the form holds
        data = await form(request)
        values = {k: v.strip() for k, v in data.items() if k in FIELDS or k.startswith(ITEM_FIELD)}
        body: dict[str, Any] = {
            "reason": values.get("reason", ""),
            "items": {
                k.removeprefix(ITEM_FIELD): int(v) if v.isdigit() else v
                for k, v in values.items()
                if k.startswith(ITEM_FIELD) and v
            },
        }
        if values.get("framework_version"):
            chosen = values["framework_version"]
            body["framework_version"] = int(chosen) if chosen.isdigit() else chosen
        locale = session_of(request).locale
        try:
            request_data = msgspec.convert(body, RescoringRequest)
            async with conn.transaction():
                job = await rescoring.create(conn, code, request_data, request.user.subject)
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors = errors_by_field([problem], problem.detail, FIELDS, locale)
        except DomainError as exc:
            errors = domain_errors(exc, FIELDS, locale)
        else:
            return Redirect(
                f"/console/assessments/{code}/rescorings/{job.id}",
                status_code=303,
                background=_launch(request, job),
            )
        return await self._list(request, conn, code, errors=errors, values=values, status_code=422)

    async def _show(
        self,
        request: Request,
        conn: Conn,
        code: str,
        job: Rescoring,
        errors: dict[str, list[str]] | None = None,
        status_code: int = 200,
    ) -> Template:
        shown = (
            await rescoring.affected(conn, code, job.id, after=None, limit=SHOWN)
            if job.status == "previewed"
            else None
        )
        context: dict[str, Any] = {
            "code": code,
            "job": job,
            "affected": shown,
            "running": job.status in RUNNING,
            "poll_seconds": POLL_SECONDS,
            "can_commit": session_of(request).principal().has_any(WRITERS)
            and job.status in ("previewed", "failed"),
            "errors": errors or {},
            "self_url": f"/console/assessments/{code}/rescorings/{job.id}",
        }
        name = "_rescoring_state.html" if _partial(request) else "rescoring_page.html"
        response = await page(request, conn, name, status_code=status_code, **context)
        response.headers["Vary"] = "HX-Request"
        response.headers["Cache-Control"] = "no-store"
        return response

    @get("/{code:str}/rescorings/{rescoring_id:uuid}", guards=[results])
    async def rescoring_page(
        self, request: Request, conn: Conn, code: Code, rescoring_id: RescoringId
    ) -> Template:
        return await self._show(request, conn, code, await rescoring.get_rescoring(conn, code, rescoring_id))

    @post("/{code:str}/rescorings/{rescoring_id:uuid}/commit", guards=[write])
    async def commit(
        self, request: Request, conn: Conn, code: Code, rescoring_id: RescoringId
    ) -> Template | Response[Any]:
        """`rescoring.commit`, as POST /v1/assessments/{code}/rescorings/{id}/commit; then watch it run."""
        try:
            async with conn.transaction():
                job = await rescoring.commit(conn, code, rescoring_id, request.user.subject)
        except DomainError as exc:
            if exc.status == 404:
                raise
            job = await rescoring.get_rescoring(conn, code, rescoring_id)
            errors = {FORM: domain_errors(exc, (), session_of(request).locale)[FORM]}
            return await self._show(request, conn, code, job, errors=errors, status_code=exc.status)
        return Redirect(
            f"/console/assessments/{code}/rescorings/{job.id}",
            status_code=303,
            background=_launch(request, job),
        )
