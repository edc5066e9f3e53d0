"""Webhook endpoints: register, change, rotate the secret, read the delivery log, redeliver.

For tenant admins, and for service clients granted `webhooks:manage` (an HR system subscribing to
events itself): the same routes and rules, within the client's own tenant (row-level security).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.params import JSONBody, PathParameter

from service.api.auth import requires
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
from service.auth.principal import TENANT_ADMIN, WEBHOOKS_MANAGE
from service.webhooks import endpoints
from service.webhooks.endpoints import (
    Delivery,
    Webhook,
    WebhookCreate,
    WebhookRotate,
    WebhookUpdate,
    WebhookWithSecret,
)

WebhookId = Annotated[UUID, PathParameter(description="Webhook endpoint id")]
DeliveryId = Annotated[UUID, PathParameter(description="Delivery id, from the delivery log")]
_LOG = "webhook-deliveries"
_ENDPOINTS = "webhooks"


class WebhookList(msgspec.Struct):
    items: list[Webhook]
    next_cursor: str | None


DeliveryPage = Annotated[Page[Delivery], schema_name("DeliveryPage")]


def _loopback(request: Request) -> bool:
    return runtime(request).settings.webhook_allow_loopback


class WebhookController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]
    guards = [requires(TENANT_ADMIN, client_scope=WEBHOOKS_MANAGE)]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @post(
        "/",
        operation_id="createWebhook",
        responses=errors(409, 422),
        summary="Register an endpoint for events; the answer carries its signing secret, shown this once",
    )
    async def create_webhook(
        self, request: Request, conn: Conn, data: JSONBody[WebhookCreate]
    ) -> WebhookWithSecret:
        return await endpoints.create(conn, data, request.user.subject, allow_loopback=_loopback(request))

    @get(
        "/",
        operation_id="listWebhooks",
        responses=errors(400),
        summary="The tenant's webhook endpoints, oldest first",
    )
    async def list_webhooks(
        self, conn: Conn, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> WebhookList:
        items = await endpoints.list_endpoints(conn, after=decode_dated(_ENDPOINTS, cursor), limit=limit)
        return WebhookList(items, next_dated(_ENDPOINTS, items, limit))

    @get("/{webhook_id:uuid}", operation_id="getWebhook", responses=errors(404), summary="Read an endpoint")
    async def get_webhook(self, conn: Conn, webhook_id: WebhookId) -> Webhook:
        return await endpoints.get(conn, webhook_id)

    @patch(
        "/{webhook_id:uuid}",
        operation_id="updateWebhook",
        responses=errors(404, 422),
        summary="Change the URL, events, description, or disable it (its pending deliveries then fail)",
    )
    async def update_webhook(
        self, request: Request, conn: Conn, webhook_id: WebhookId, data: JSONBody[WebhookUpdate]
    ) -> Webhook:
        return await endpoints.update(conn, webhook_id, data, allow_loopback=_loopback(request))

    @delete(
        "/{webhook_id:uuid}",
        operation_id="deleteWebhook",
        responses=errors(404),
        summary="Delete an endpoint and its delivery log",
    )
    async def delete_webhook(self, conn: Conn, webhook_id: WebhookId) -> None:
        await endpoints.delete(conn, webhook_id)

    @post(
        "/{webhook_id:uuid}/rotate-secret",
        operation_id="rotateWebhookSecret",
        status_code=200,
        responses=errors(404),
        summary="A new signing secret (shown this once); deliveries are signed with it "
        "and, for grace_seconds (default 24 h), with the previous one too",
    )
    async def rotate_secret(
        self, conn: Conn, webhook_id: WebhookId, data: JSONBody[WebhookRotate | None] = None
    ) -> WebhookWithSecret:
        return await endpoints.rotate_secret(conn, webhook_id, data or WebhookRotate())

    @get(
        "/{webhook_id:uuid}/deliveries",
        operation_id="listWebhookDeliveries",
        responses=errors(400, 404),
        summary="The delivery log, newest first: event, status, attempts, the receiver's last answer",
    )
    async def list_deliveries(
        self, conn: Conn, webhook_id: WebhookId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> DeliveryPage:
        items = await endpoints.deliveries(conn, webhook_id, after=decode_dated(_LOG, cursor), limit=limit)
        return Page(items, next_dated(_LOG, items, limit))

    @post(
        "/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/redeliver",
        operation_id="redeliverWebhook",
        status_code=200,
        responses=errors(404, 409),
        summary="Send a delivery again now, with a fresh retry schedule",
    )
    async def redeliver(self, conn: Conn, webhook_id: WebhookId, delivery_id: DeliveryId) -> Delivery:
        return await endpoints.redeliver(conn, webhook_id, delivery_id)

    @post(
        "/{webhook_id:uuid}/test",
        operation_id="testWebhook",
        status_code=202,
        responses=errors(404, 409),
        summary="Queue a `webhook.test` event to this endpoint; follow it in the delivery log",
    )
    async def test_webhook(self, conn: Conn, webhook_id: WebhookId) -> Delivery:
        return await endpoints.send_test(conn, webhook_id)
