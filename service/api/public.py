"""Routes without a token: health probes and the service's public signing keys."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from service.api.auth import PUBLIC
from service.api.openapi_schema import PublicOperation
from service.api.problems import PROBLEM_MEDIA_TYPE, Problem, problem
from service.api.runtime import runtime
from service.db.migrate import SchemaBehind, check_schema
from service.i18n import msg

NOT_READY = {
    503: ResponseSpec(
        data_container=Problem,
        media_type=PROBLEM_MEDIA_TYPE,
        generate_examples=False,
        description="Database unreachable, or its schema is not at this code's revision",
    )
}


class Health(msgspec.Struct):
    status: str
    checks: dict[str, str] = msgspec.field(default_factory=dict)


@get(
    "/health/live",
    operation_id="liveness",
    opt=PUBLIC,
    security=[],
    operation_class=PublicOperation,
    tags=["health"],
    summary="The process is up",
)
async def liveness() -> Health:
    return Health("ok")


@get(
    "/health/ready",
    operation_id="readiness",
    opt=PUBLIC,
    security=[],
    operation_class=PublicOperation,
    tags=["health"],
    responses=NOT_READY,
    summary="The database answers and its schema is at this code's revision",
)
async def readiness(request: Request) -> Response[Health] | Response[Problem]:
    try:
        async with runtime(request).pool.acquire(timeout=2) as conn:
            await check_schema(conn)
    except SchemaBehind as exc:
        return problem(request, 503, str(exc), slug="schema-behind")
    except Exception as exc:
        return problem(
            request,
            503,
            msg("database unavailable: {error}", error=type(exc).__name__),
            slug="database-unavailable",
        )
    return Response(Health("ok", {"database": "ok", "schema": "current"}))


@get(
    "/.well-known/jwks.json",
    operation_id="jwks",
    opt=PUBLIC,
    security=[],
    operation_class=PublicOperation,
    tags=["auth"],
    summary="Public keys that verify tokens this service signs",
)
async def jwks(request: Request) -> Response[dict[str, Any]]:
    return Response(runtime(request).keys.jwks(), headers={"Cache-Control": "public, max-age=300"})
