"""Routes for raters: their queue of open responses, one task, rating it and correcting their own
rating; for tenant admins: allocating tasks to raters and progress per rater and item."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from service import pipeline
from service.api.auth import requires_roles
from service.api.deps import Conn, provide_tenant_conn
from service.api.etags import IfMatch, require_if_match, versioned
from service.api.pagination import DEFAULT_LIMIT, Limit
from service.api.responses import errors
from service.auth.principal import RATER, TENANT_ADMIN
from service.results import rating_allocations, ratings
from service.results.rating_allocations import (
    RATER_PATTERN,
    Allocated,
    AllocationInput,
    RatingProgress,
    Released,
)
from service.results.ratings import MyRating, RatingInput, RatingTask, TaskState
from service.tenancy.fields import CODE_PATTERN

rater = requires_roles(RATER)
TaskId = Annotated[UUID, PathParameter(description="Rating task id")]


class RatingQueue(msgspec.Struct):
    items: list[RatingTask]


class Correction(msgspec.Struct):
    rating: MyRating
    task: TaskState


admin = requires_roles(TENANT_ADMIN)


class RatingController(Controller):
    path = "/v1/rating-tasks"
    tags = ["ratings"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/",
        operation_id="listRatingTasks",
        guards=[rater],
        responses=errors(),
        summary="My queue: open responses I have not rated that still need a rating: those allocated to me "
        "first, then unreserved ones, oldest first",
    )
    async def queue(
        self,
        request: Request,
        conn: Conn,
        assessment: Annotated[str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN)] = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> RatingQueue:
        return RatingQueue(
            await ratings.rater_queue(conn, request.user.subject, assessment=assessment, limit=limit)
        )

    @get(
        "/{task_id:uuid}",
        operation_id="getRatingTask",
        guards=[requires_roles(RATER, TENANT_ADMIN)],
        responses=errors(404),
        summary="One response to rate, with the indicators' level descriptors",
    )
    async def get_task(self, conn: Conn, task_id: TaskId) -> RatingTask:
        return await ratings.get_task(conn, task_id)

    @post(
        "/{task_id:uuid}/ratings",
        operation_id="rateResponse",
        guards=[rater],
        status_code=200,
        responses=errors(404, 409, 422),
        summary="Rate a response (0 = no evidence, 1.. = the framework's levels); when this settles the "
        "rating, the attempt is rescored at once",
    )
    async def rate(
        self, request: Request, conn: Conn, task_id: TaskId, data: JSONBody[RatingInput]
    ) -> TaskState:
        return await pipeline.rate(conn, task_id, request.user.subject, data)

    @get(
        "/{task_id:uuid}/ratings/mine",
        operation_id="getMyRating",
        guards=[rater],
        responses=errors(404),
        summary="My rating of this response, its earlier values, and whether I may still correct it (ETag)",
    )
    async def my_rating(self, request: Request, conn: Conn, task_id: TaskId) -> Response[MyRating]:
        return versioned(await ratings.my_rating(conn, task_id, request.user.subject))

    @put(
        "/{task_id:uuid}/ratings/mine",
        operation_id="correctMyRating",
        guards=[rater],
        responses=errors(404, 409, 412, 422, 428),
        summary="Correct my rating while it is unused (409 rating-used once the response's agreed rating rests "
        "on it); the earlier value is kept; If-Match: the ETag of my rating",
    )
    async def correct(
        self,
        request: Request,
        conn: Conn,
        task_id: TaskId,
        data: JSONBody[RatingInput],
        if_match: IfMatch = None,
    ) -> Response[Correction]:
        expected = require_if_match(if_match, "rating")
        mine, state = await pipeline.correct(conn, task_id, request.user.subject, data, expected)
        return Response(Correction(mine, state), headers={"ETag": mine.etag})


AssessmentCode = Annotated[
    str, PathParameter(description="Assessment code", max_length=64, pattern=CODE_PATTERN)
]


class RatingAdminController(Controller):
    path = "/v1"
    tags = ["ratings"]
    dependencies = {"conn": Provide(provide_tenant_conn)}
    guards = [admin]

    @post(
        "/rating-allocations",
        operation_id="allocateRatingTasks",
        status_code=200,
        responses=errors(422),
        summary="Reserve open rating tasks of an assessment for a rater (optionally one item, or candidates in "
        "an org unit's subtree), oldest first, up to `limit`; tasks with no free rating slot are skipped",
    )
    async def allocate(self, request: Request, conn: Conn, data: JSONBody[AllocationInput]) -> Allocated:
        return await rating_allocations.allocate(conn, data, request.user.subject)

    @delete(
        "/rating-allocations",
        operation_id="releaseRatingTasks",
        status_code=200,
        responses=errors(404),
        summary="Release a rater's allocations on an assessment's tasks they have not rated yet",
    )
    async def release(
        self,
        conn: Conn,
        rater: Annotated[str, QueryParameter(min_length=1, max_length=255, pattern=RATER_PATTERN)],
        assessment: Annotated[str, QueryParameter(max_length=64, pattern=CODE_PATTERN)],
    ) -> Released:
        return await rating_allocations.release(conn, rater, assessment)

    @get(
        "/assessments/{code:str}/rating-progress",
        operation_id="getRatingProgress",
        responses=errors(404),
        summary="Rating progress: per rater allocated, done and pending; per item tasks, agreed, open, ratings",
    )
    async def progress(self, conn: Conn, code: AssessmentCode) -> RatingProgress:
        return await rating_allocations.progress(conn, code)
