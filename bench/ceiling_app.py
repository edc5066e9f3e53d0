"""The framework ceiling of a save (bench/saves.py): a bare Litestar app with the save route alone.

`PUT /v1/me/attempts/{attempt_id:uuid}/answers/{item:str}` with the same path parameters (a UUID, an
item ref with the service's pattern) and the same strictly decoded body struct as the service's
save (`SaveAnswer`, imported from the service), returning one constant pre-encoded JSON response
of the size of a real `SaveResult`. Served by the same ASGI server, worker count and flags as the
service in the benchmark.

Included: the server's HTTP handling, Litestar's routing, path parameter parsing and msgspec body
decoding and validation. Excluded, so that a/b is the cost of everything the service adds: the
authentication guard (JWT verification, or its per-token cache hit) and role guard, the service's
middleware (request id, JSON access log, Prometheus metrics) and exception handlers, the check of the
answer against the item, the asyncpg pool and every database round trip.

    granian --interface asgi --factory bench.ceiling_app:create_app
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Litestar, Response, get, put
from litestar.params import JSONBody, PathParameter

from service.delivery.attempts import SaveAnswer
from service.tenancy.fields import CODE_PATTERN

# What the service answers to an accepted save, give or take the values.
SAVED = (
    b'{"item":"q01","applied":true,"revision":7,"answer":{"choice":"b"},'
    b'"saved_at":"2026-11-23T19:00:00.000000Z"}'
)
ItemRef = Annotated[str, PathParameter(max_length=64, pattern=CODE_PATTERN)]


@put("/v1/me/attempts/{attempt_id:uuid}/answers/{item:str}", status_code=200)
async def save(attempt_id: UUID, item: ItemRef, data: JSONBody[SaveAnswer]) -> Response[bytes]:
    return Response(SAVED, media_type="application/json")


@get("/health/ready")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


def create_app() -> Litestar:
    return Litestar([save, ready], openapi_config=None)
