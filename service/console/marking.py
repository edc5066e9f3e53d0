"""Marking in the console: a rater's queue, one response at a time, and rater agreement for admins.

`GET /console/marking` shows the first task of `ratings.rater_queue` (what `GET /v1/rating-tasks`
lists), behind the API's rater guard: the response, the item's stem and scenario, every indicator
it is rated on with each level's descriptor side by side, the rater notes and exemplars. Blind as the
API is: a task carries no candidate, attempt or time, and neither does the page. A level is chosen
by a click or its number key (static/console/marking.js); saving posts through htmx and the answer is
the next task, swapped in without a page load.

Saving is `pipeline.rate` and correcting is `pipeline.correct`, as for the REST routes: the
ratings' domain functions (double marking and adjudication included), then the rescore of the
attempt a settled rating completes. A rater may correct their rating from the task's page until it
is used.

`GET /console/assessments/{code}/agreement` shows `ratings.agreement_report` (as
`GET /v1/assessments/{code}/rater-agreement`, behind the same guard) with the raters and items whose
quadratic weighted kappa is below the threshold highlighted.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from service import pipeline
from service.api.assessments import results
from service.api.deps import Conn, provide_tenant_conn
from service.api.ratings import rater
from service.console.forms import domain_errors, errors_by_field
from service.console.views import form, page
from service.console.web import session_of
from service.errors import DomainError, NotFound, msgspec_field_error
from service.i18n import msg, render
from service.results import ratings
from service.results.ratings import MyRating, RatingInput, RatingTask
from service.tenancy.fields import CODE_PATTERN

TaskId = Annotated[UUID, PathParameter()]
Code = Annotated[str, PathParameter(max_length=64, pattern=CODE_PATTERN)]
Threshold = Annotated[float, QueryParameter(ge=-1, le=1)]
DEFAULT_THRESHOLD = 0.6  # quadratic weighted kappa under this: "moderate" agreement at best
QUEUE_PEEK = 100  # how far the queue is counted ("100 or more")
FIELDS = ("value", "comment")


class Cell(msgspec.Struct):
    value: int
    performance: Any  # Localized | None
    next_steps: Any


class Guide(msgspec.Struct):
    indicator: str
    statement: Any
    cells: list[Cell]


def guides(task: RatingTask) -> list[Guide]:
    """Each indicator's descriptors lined up under the scale's points (none under 0, no evidence)."""
    found = []
    for indicator in task.indicators:
        by_level = {d.level: d for d in indicator.descriptors}
        cells = []
        for point in task.scale:
            d = by_level.get(point.level) if point.level else None
            cells.append(Cell(point.value, d.performance if d else None, d.next_steps if d else None))
        found.append(Guide(indicator.indicator, indicator.statement, cells))
    return found


def _partial(request: Request) -> bool:
    return bool(request.headers.get("hx-request")) and not request.headers.get("hx-history-restore-request")


class MarkingScreens(Controller):
    """A rater's queue and one task."""

    path = "/console/marking"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    async def _show(
        self,
        request: Request,
        conn: Conn,
        task: RatingTask | None,
        *,
        mine: MyRating | None = None,
        waiting: int = 0,
        errors: dict[str, list[str]] | None = None,
        values: dict[str, str] | None = None,
        notice: str | None = None,
        previous: UUID | None = None,
        status_code: int = 200,
    ) -> Template:
        context: dict[str, Any] = {
            "task": task,
            "guides": guides(task) if task else [],
            "mine": mine,
            "waiting": waiting,
            "peek": QUEUE_PEEK,
            "errors": errors or {},
            "values": values or {},
            "notice": notice,
            "previous": previous,
        }
        name = "marking_task.html" if _partial(request) else "marking_queue.html"
        response = await page(request, conn, name, status_code=status_code, **context)
        response.headers["Vary"] = "HX-Request"
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _next(
        self, request: Request, conn: Conn, notice: str | None = None, previous: UUID | None = None
    ) -> Template:
        queue = await ratings.rater_queue(conn, request.user.subject, assessment=None, limit=QUEUE_PEEK)
        return await self._show(
            request, conn, queue[0] if queue else None, waiting=len(queue), notice=notice, previous=previous
        )

    @get("/", guards=[rater])
    async def queue(self, request: Request, conn: Conn) -> Template:
        return await self._next(request, conn)

    @get("/{task_id:uuid}", guards=[rater])
    async def task(self, request: Request, conn: Conn, task_id: TaskId) -> Template:
        """A task by id: to rate it, or, when I have rated it, to correct my rating while it is unused."""
        task = await ratings.get_task(conn, task_id)
        return await self._show(request, conn, task, mine=await self._mine(conn, task_id, request))

    async def _mine(self, conn: Conn, task_id: UUID, request: Request) -> MyRating | None:
        try:
            async with conn.transaction():
                return await ratings.my_rating(conn, task_id, request.user.subject)
        except NotFound:
            return None

    async def _posted(
        self, request: Request
    ) -> tuple[dict[str, str], RatingInput | None, dict[str, list[str]]]:
        data = await form(request)
        values = {name: data.get(name, "").strip() for name in (*FIELDS, "revision")}
        locale = session_of(request).locale
        try:
            value = int(values["value"])
        except ValueError:
            return values, None, {"value": [render(msg("choose a level"), locale)]}
        try:
            return (
                values,
                msgspec.convert({"value": value, "comment": values["comment"] or None}, RatingInput),
                {},
            )
        except msgspec.ValidationError as exc:  # the API's message for the same body, next to its field
            problem = msgspec_field_error(str(exc))
            return values, None, errors_by_field([problem], problem.detail, FIELDS, locale)

    @post("/{task_id:uuid}", guards=[rater])
    async def rate(self, request: Request, conn: Conn, task_id: TaskId) -> Template | Response[Any]:
        """`pipeline.rate`, as POST /v1/rating-tasks/{id}/ratings; then the next task."""
        task = await ratings.get_task(conn, task_id)  # 404 first, whatever the form holds
        values, data, errors = await self._posted(request)
        if data is not None:
            try:
                async with conn.transaction():
                    await pipeline.rate(conn, task_id, request.user.subject, data)
            except DomainError as exc:
                errors = domain_errors(exc, FIELDS, session_of(request).locale)
        if errors:
            return await self._show(request, conn, task, errors=errors, values=values, status_code=422)
        if not _partial(request):
            return Redirect("/console/marking", status_code=303)
        notice = render(msg("Rating saved."), session_of(request).locale)
        return await self._next(request, conn, notice=notice, previous=task_id)

    @post("/{task_id:uuid}/correct", guards=[rater])
    async def correct(self, request: Request, conn: Conn, task_id: TaskId) -> Template | Response[Any]:
        """`pipeline.correct`, as PUT /v1/rating-tasks/{id}/ratings/mine (the revision read is the If-Match)."""
        task = await ratings.get_task(conn, task_id)
        values, data, errors = await self._posted(request)
        if data is not None:
            try:
                async with conn.transaction():
                    await pipeline.correct(
                        conn, task_id, request.user.subject, data, f'"{values["revision"]}"'
                    )
            except DomainError as exc:
                errors = domain_errors(exc, FIELDS, session_of(request).locale)
        if errors:
            mine = await self._mine(conn, task_id, request)
            return await self._show(
                request, conn, task, mine=mine, errors=errors, values=values, status_code=422
            )
        if not _partial(request):
            return Redirect("/console/marking", status_code=303)
        notice = render(msg("Rating corrected."), session_of(request).locale)
        return await self._next(request, conn, notice=notice, previous=task_id)


class AgreementScreens(Controller):
    """Rater agreement of an assessment, for the people who may read its results."""

    path = "/console/assessments"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/{code:str}/agreement", guards=[results])
    async def agreement(
        self, request: Request, conn: Conn, code: Code, threshold: Threshold = DEFAULT_THRESHOLD
    ) -> Template:
        report = await ratings.agreement_report(conn, code)
        return await page(
            request, conn, "marking_agreement.html", code=code, report=report, threshold=threshold
        )
