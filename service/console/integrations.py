"""Service clients, webhooks and the tenant's own settings in the console: a tenant admin's integrations.

Every action is the API's function behind the API's guard: `clients.create_client`, `rotate_client`,
`revoke_client` (service/api/clients.py, tenant admins); `endpoints.create`, `update` (enable,
disable), `delete`, `send_test`, `rotate_secret`, `deliveries`, `redeliver` (service/api/webhooks.py);
`tenants.get_tenant_by_id` and `issuers.list_issuers` (service/api/tenant_self.py, read-only as there: issuers are the operator's).

A secret (a client's, a webhook's signing secret) is shown on one page only: the POST that made it
holds it on the console session's row and redirects (Post/Redirect/Get, so a reload does not post
again and make a second client), and the GET it redirects to takes it off the row as it shows it
(`sessions.take_secret`). That page is `no-store` and `no-referrer`; shown again (a reload, back)
it says the secret is gone. The lists never hold a secret, and it is never logged (the access log
records paths, not bodies). Rotating makes a new one.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from service.api.clients import ClientController, forget_client
from service.api.deps import Conn, provide_tenant_conn
from service.api.pagination import Cursor, decode_dated, next_dated
from service.api.runtime import runtime
from service.api.tenant_self import TenantSelfController
from service.api.webhooks import WebhookController
from service.auth.principal import CLIENT_SCOPES
from service.clients import clients as service_clients
from service.console import sessions
from service.console.forms import FORM, domain_errors, errors_by_field
from service.console.sessions import HeldSecret
from service.console.views import form, page
from service.console.web import session_of
from service.errors import DomainError, NotFound, msgspec_field_error
from service.i18n import msg, render
from service.tenancy import issuers, tenants
from service.webhooks import endpoints
from service.webhooks.endpoints import WebhookCreate, WebhookRotate, WebhookUpdate
from service.webhooks.outbox import EventType

admin_clients = ClientController.guards[0]
admin_webhooks = WebhookController.guards[0]
admin_tenant = TenantSelfController.guards[0]
ClientId = Annotated[UUID, PathParameter()]
WebhookId = Annotated[UUID, PathParameter()]
DeliveryId = Annotated[UUID, PathParameter()]
CLIENT_FIELDS = ("name", "scopes")
WEBHOOK_FIELDS = ("url", "events", "description")
EVENTS = get_args(EventType)
GRACE_CHOICES = (0, 3600, 24 * 3600, 7 * 24 * 3600)
LOG_SIZE = 50
_LOG = "webhook-deliveries"  # the API's cursor kind: a cursor from either reads the same log


async def hold(request: Request, conn: asyncpg.Connection, held: HeldSecret) -> Redirect:
    """After a POST that made a secret: hold it on the session and send the browser to the page that shows it."""
    await sessions.hold_secret(conn, session_of(request), held)
    return Redirect(f"/console/{held.kind}s/secret", status_code=303)


async def secret_page(request: Request, conn: asyncpg.Connection, kind: str) -> Template:
    """The one page that shows a secret: never stored by a cache, and the secret taken off the session as it
    is shown, so a second look (a reload, back) finds it gone (410)."""
    held = await sessions.take_secret(conn, session_of(request), kind)
    response = await page(
        request, conn, "secret_once.html", status_code=200 if held else 410, kind=kind, held=held
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _grace(data: dict[str, str]) -> int:
    value = data.get("grace_seconds", "")
    return int(value) if value.isdigit() else endpoints.DEFAULT_GRACE_SECONDS


async def _many(request: Request) -> dict[str, list[str]]:
    """Every value of each posted field (the scope and event checkboxes send several)."""
    found: dict[str, list[str]] = {}
    for key, value in (await request.form()).multi_items():
        if isinstance(value, str):
            found.setdefault(key, []).append(value)
    return found


class ClientScreens(Controller):
    path = "/console/clients"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    guards = [admin_clients]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/")
    async def client_list(self, request: Request, conn: Conn) -> Template:
        return await self._list(request, conn, {}, {"name": "", "scopes": []}, 200)

    async def _list(
        self,
        request: Request,
        conn: asyncpg.Connection,
        errors: dict[str, list[str]],
        values: dict[str, Any],
        status: int,
    ) -> Template:
        return await page(
            request,
            conn,
            "clients.html",
            status_code=status,
            clients=await service_clients.list_clients(conn, after=None, limit=500),
            scopes=CLIENT_SCOPES,
            grace_choices=GRACE_CHOICES,
            errors=errors,
            values=values,
        )

    @get("/secret")
    async def secret(self, request: Request, conn: Conn) -> Template:
        """The new client's secret, once (see `secret_page`)."""
        return await secret_page(request, conn, "client")

    @post("/")
    async def create(self, request: Request, conn: Conn) -> Template | Redirect:
        """`clients.create_client`, as POST /v1/clients: the secret is held for the page it redirects to."""
        locale = session_of(request).locale
        sent = await _many(request)
        values = {"name": (sent.get("name") or [""])[0].strip(), "scopes": sent.get("scopes", [])}
        try:
            data = msgspec.convert(values, service_clients.ClientCreate)
            async with conn.transaction():
                created = await service_clients.create_client(conn, data, session_of(request).subject)
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors = errors_by_field([problem], problem.detail, CLIENT_FIELDS, locale)
        except DomainError as exc:
            errors = domain_errors(exc, CLIENT_FIELDS, locale)
        else:
            return await hold(
                request, conn, HeldSecret("client", created.name, created.id, created.client_secret)
            )
        return await self._list(request, conn, errors, values, 422)

    @post("/{client_id:uuid}/rotate")
    async def rotate(self, request: Request, conn: Conn, client_id: ClientId) -> Template | Redirect:
        """`clients.rotate_client` (POST /v1/clients/{id}/rotate): a new secret, held for the page it redirects to."""
        data = service_clients.ClientRotate(grace_seconds=_grace(await form(request)))
        try:
            rotated = await service_clients.rotate_client(conn, client_id, data)
        except NotFound:
            raise
        except DomainError as exc:  # revoked: nothing to rotate
            errors = {FORM: [render(exc.message, session_of(request).locale)]}
            return await self._list(request, conn, errors, {"name": "", "scopes": []}, exc.status)
        return await hold(
            request, conn, HeldSecret("client", rotated.name, rotated.id, rotated.client_secret)
        )

    @post("/{client_id:uuid}/revoke")
    async def revoke(self, request: Request, conn: Conn, client_id: ClientId) -> Redirect:
        """`clients.revoke_client`, then forget the verifier's cache now and after the commit, as the API does."""
        await service_clients.revoke_client(conn, client_id)
        await forget_client(request, client_id)
        return Redirect(
            "/console/clients", status_code=303, background=BackgroundTask(forget_client, request, client_id)
        )


class WebhookScreens(Controller):
    path = "/console/webhooks"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    guards = [admin_webhooks]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/")
    async def webhook_list(self, request: Request, conn: Conn) -> Template:
        return await self._list(request, conn, {}, {"url": "", "events": [], "description": ""}, 200)

    async def _list(
        self,
        request: Request,
        conn: asyncpg.Connection,
        errors: dict[str, list[str]],
        values: dict[str, Any],
        status: int,
    ) -> Template:
        return await page(
            request,
            conn,
            "webhooks.html",
            status_code=status,
            webhooks=await endpoints.list_endpoints(conn),
            events=EVENTS,
            notice=request.query_params.get("done"),
            errors=errors,
            values=values,
        )

    @get("/secret")
    async def secret(self, request: Request, conn: Conn) -> Template:
        """The new signing secret, once (see `secret_page`)."""
        return await secret_page(request, conn, "webhook")

    @post("/")
    async def create(self, request: Request, conn: Conn) -> Template | Redirect:
        """`endpoints.create`, as POST /v1/webhooks: the signing secret is held for the page it redirects to."""
        locale = session_of(request).locale
        sent = await _many(request)
        values = {
            "url": (sent.get("url") or [""])[0].strip(),
            "events": sent.get("events", []),
            "description": (sent.get("description") or [""])[0].strip(),
        }
        try:
            data = msgspec.convert({**values, "description": values["description"] or None}, WebhookCreate)
            async with conn.transaction():
                created = await endpoints.create(
                    conn,
                    data,
                    session_of(request).subject,
                    allow_loopback=runtime(request).settings.webhook_allow_loopback,
                )
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors = errors_by_field([problem], problem.detail, WEBHOOK_FIELDS, locale)
        except DomainError as exc:
            errors = domain_errors(exc, WEBHOOK_FIELDS, locale)
        else:
            return await hold(request, conn, HeldSecret("webhook", created.url, created.id, created.secret))
        return await self._list(request, conn, errors, values, 422)

    @get("/{webhook_id:uuid}")
    async def webhook(
        self, request: Request, conn: Conn, webhook_id: WebhookId, cursor: Cursor = None
    ) -> Template:
        return await self._detail(request, conn, webhook_id, cursor, None, 200)

    async def _detail(
        self,
        request: Request,
        conn: asyncpg.Connection,
        webhook_id: UUID,
        cursor: str | None,
        problem: str | None,
        status: int,
    ) -> Template:
        hook = await endpoints.get(conn, webhook_id)
        log = await endpoints.deliveries(conn, webhook_id, after=decode_dated(_LOG, cursor), limit=LOG_SIZE)
        return await page(
            request,
            conn,
            "webhook.html",
            status_code=status,
            hook=hook,
            log=log,
            next_cursor=next_dated(_LOG, log, LOG_SIZE),
            problem=problem,
            notice=request.query_params.get("done"),
            grace_choices=GRACE_CHOICES,
        )

    async def _refused(
        self, request: Request, conn: asyncpg.Connection, webhook_id: UUID, exc: DomainError
    ) -> Template:
        return await self._detail(
            request, conn, webhook_id, None, render(exc.message, session_of(request).locale), exc.status
        )

    @post("/{webhook_id:uuid}/test")
    async def send_test(self, request: Request, conn: Conn, webhook_id: WebhookId) -> Template | Redirect:
        """`endpoints.send_test` (POST /v1/webhooks/{id}/test): a `webhook.test` event, in the log below."""
        try:
            await endpoints.send_test(conn, webhook_id)
        except NotFound:
            raise
        except DomainError as exc:  # disabled
            return await self._refused(request, conn, webhook_id, exc)
        return Redirect(f"/console/webhooks/{webhook_id}?done=test", status_code=303)

    @post("/{webhook_id:uuid}/rotate-secret")
    async def rotate_secret(self, request: Request, conn: Conn, webhook_id: WebhookId) -> Redirect:
        """`endpoints.rotate_secret` (POST /v1/webhooks/{id}/rotate-secret): the new secret, shown once."""
        data = WebhookRotate(grace_seconds=_grace(await form(request)))
        rotated = await endpoints.rotate_secret(conn, webhook_id, data)
        return await hold(request, conn, HeldSecret("webhook", rotated.url, rotated.id, rotated.secret))

    @post("/{webhook_id:uuid}/active")
    async def set_active(self, request: Request, conn: Conn, webhook_id: WebhookId) -> Redirect:
        """`endpoints.update` with `active` alone (PATCH /v1/webhooks/{id} {"active": ...}): disabling fails
        the pending deliveries, as there."""
        active = (await form(request)).get("active") == "true"
        await endpoints.update(
            conn,
            webhook_id,
            WebhookUpdate(active=active),
            allow_loopback=runtime(request).settings.webhook_allow_loopback,
        )
        done = "enabled" if active else "disabled"
        return Redirect(f"/console/webhooks/{webhook_id}?done={done}", status_code=303)

    @post("/{webhook_id:uuid}/delete")
    async def delete(self, request: Request, conn: Conn, webhook_id: WebhookId) -> Template | Redirect:
        """`endpoints.delete` (DELETE /v1/webhooks/{id}): the endpoint and its delivery log, once confirmed."""
        if (await form(request)).get("confirm") != "yes":
            await endpoints.get(conn, webhook_id)  # another tenant's or a deleted webhook: 404, as the API
            problem = render(
                msg("tick the box to confirm: the delivery log goes too"), session_of(request).locale
            )
            return await self._detail(request, conn, webhook_id, None, problem, 422)
        await endpoints.delete(conn, webhook_id)
        return Redirect("/console/webhooks?done=deleted", status_code=303)

    @post("/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/redeliver")
    async def redeliver(
        self, request: Request, conn: Conn, webhook_id: WebhookId, delivery_id: DeliveryId
    ) -> Template | Redirect:
        """`endpoints.redeliver` (POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver)."""
        try:
            await endpoints.redeliver(conn, webhook_id, delivery_id)
        except NotFound:
            raise
        except DomainError as exc:  # disabled
            return await self._refused(request, conn, webhook_id, exc)
        return Redirect(f"/console/webhooks/{webhook_id}?done=redeliver", status_code=303)


class TenantScreens(Controller):
    path = "/console/tenant"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    guards = [admin_tenant]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/")
    async def settings(self, request: Request, conn: Conn) -> Template:
        """GET /v1/tenant and GET /v1/issuers, read-only: the operator changes them."""
        tenant_id = session_of(request).tenant_id
        return await page(
            request,
            conn,
            "tenant.html",
            tenant=await tenants.get_tenant_by_id(conn, tenant_id),
            issuers=await issuers.list_issuers(conn, tenant_id),
        )


# The integration screens this module adds, for the console's router.
INTEGRATIONS: list[type] = [ClientScreens, WebhookScreens, TenantScreens]
