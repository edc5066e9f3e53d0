"""Routes for raters: their queue of open responses, one task, rating it; agreement for authors."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from service.api.auth import requires_roles
from service.api.deps import Conn, provide_tenant_conn
from service.api.pagination import DEFAULT_LIMIT, Limit
from service.api.responses import errors
from service.auth.principal import RATER, TENANT_ADMIN
from service.results import ratings, scores
from service.results.ratings import RatingInput, RatingTask, TaskState
from service.tenancy.fields import CODE_PATTERN

rater = requires_roles(RATER)
TaskId = Annotated[UUID, PathParameter(description="Rating task id")]


class RatingQueue(msgspec.Struct):
    items: list[RatingTask]


class RatingController(Controller):
    path = "/v1/rating-tasks"
    tags = ["ratings"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/", operation_id="listRatingTasks", guards=[rater], responses=errors(),
         summary="My queue: open responses I have not rated that still need a rating, oldest first")
    async def queue(self, request: Request, conn: Conn,
                    assessment: Annotated[str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN)] = None,
                    limit: Limit = DEFAULT_LIMIT) -> RatingQueue:
        return RatingQueue(await ratings.rater_queue(conn, request.user.subject, assessment=assessment, limit=limit))

    @get("/{task_id:uuid}", operation_id="getRatingTask", guards=[requires_roles(RATER, TENANT_ADMIN)],
         responses=errors(404), summary="One response to rate, with the indicators' level descriptors")
    async def get_task(self, conn: Conn, task_id: TaskId) -> RatingTask:
        return await ratings.get_task(conn, task_id)

    @post("/{task_id:uuid}/ratings", operation_id="rateResponse", guards=[rater], status_code=200,
          responses=errors(404, 409, 422),
          summary="Rate a response (0 = no evidence, 1.. = the framework's levels); when this settles the "
                  "rating, the attempt is rescored at once")
    async def rate(self, request: Request, conn: Conn, task_id: TaskId, data: JSONBody[RatingInput]) -> TaskState:
        state, settled = await ratings.rate(conn, task_id, request.user.subject, data)
        if settled is not None:
            await scores.score_attempts(conn, [settled], reason="rating agreed", scored_by="ratings")
        return state
