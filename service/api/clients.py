"""A tenant admin's service clients (HR systems): create, list, read, rotate the secret, revoke."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.params import JSONBody, PathParameter

from service.api.auth import requires_roles
from service.api.deps import Conn, provide_tenant_conn
from service.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_dated,
    next_dated,
    schema_name,
)
from service.api.responses import errors
from service.api.runtime import runtime
from service.auth.principal import TENANT_ADMIN
from service.clients import clients
from service.clients.clients import ClientCreate, ClientRotate, ServiceClient, ServiceClientWithSecret

ClientId = Annotated[UUID, PathParameter(description="Service client id (its OAuth client_id)")]
NO_STORE = {"Cache-Control": "no-store"}  # responses that carry a secret
_LIST = "service-clients"


ClientPage = Annotated[Page[ServiceClient], schema_name("ClientPage")]


async def forget_client(request: Request, client_id: UUID) -> None:
    """A coroutine, so it runs on the event loop (the verifier's caches are not shared with threads)."""
    runtime(request).verifier.forget_client(client_id)


class ClientController(Controller):
    path = "/v1/clients"
    tags = ["service clients"]
    guards = [requires_roles(TENANT_ADMIN)]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @post(
        "/",
        operation_id="createServiceClient",
        responses=errors(),
        summary="Register an HR system: its id and secret (shown this once) get tokens at POST /oauth/token",
    )
    async def create_client(
        self, request: Request, conn: Conn, data: JSONBody[ClientCreate]
    ) -> Response[ServiceClientWithSecret]:
        created = await clients.create_client(conn, data, request.user.subject)
        return Response(created, status_code=201, headers=NO_STORE)

    @get(
        "/",
        operation_id="listServiceClients",
        responses=errors(400),
        summary="This tenant's service clients, oldest first (no secrets)",
    )
    async def list_clients(
        self, conn: Conn, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> ClientPage:
        items = await clients.list_clients(conn, after=decode_dated(_LIST, cursor), limit=limit)
        return Page(items, next_dated(_LIST, items, limit))

    @get(
        "/{client_id:uuid}",
        operation_id="getServiceClient",
        responses=errors(404),
        summary="Read a service client",
    )
    async def get_client(self, conn: Conn, client_id: ClientId) -> ServiceClient:
        return await clients.get_client(conn, client_id)

    @post(
        "/{client_id:uuid}/rotate",
        operation_id="rotateServiceClientSecret",
        status_code=200,
        responses=errors(404, 409),
        summary="A new secret (shown this once); the previous one keeps working for grace_seconds (default 24 h)",
    )
    async def rotate_client(
        self, conn: Conn, client_id: ClientId, data: JSONBody[ClientRotate]
    ) -> Response[ServiceClientWithSecret]:
        return Response(await clients.rotate_client(conn, client_id, data), headers=NO_STORE)

    @post(
        "/{client_id:uuid}/revoke",
        operation_id="revokeServiceClient",
        status_code=200,
        responses=errors(404),
        summary="Revoke a client: no new tokens, and its outstanding tokens are refused",
    )
    async def revoke_client(
        self, request: Request, conn: Conn, client_id: ClientId
    ) -> Response[ServiceClient]:
        revoked = await clients.revoke_client(conn, client_id)
        # Forget cached verifications now, and once more after the commit, so a verification racing the
        # commit cannot cache the client as active again on this worker.
        await forget_client(request, client_id)
        return Response(revoked, background=BackgroundTask(forget_client, request, client_id))
