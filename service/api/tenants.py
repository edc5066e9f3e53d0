"""Operator routes: tenants and the identity providers they trust. No tenant data here."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter

from service.api.auth import requires_operator
from service.api.deps import Conn, provide_operator_conn
from service.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    next_cursor,
    schema_name,
)
from service.api.responses import errors
from service.api.runtime import runtime
from service.tenancy import issuers, tenants
from service.tenancy.fields import SLUG_PATTERN
from service.tenancy.issuers import Issuer, IssuerCreate
from service.tenancy.tenants import Tenant, TenantCreate, TenantStatus, TenantUpdate

SlugPath = Annotated[str, PathParameter(description="Tenant slug", max_length=63, pattern=SLUG_PATTERN)]


TenantPage = Annotated[Page[Tenant], schema_name("TenantPage")]


def _forget_auth_cache(request: Request) -> None:
    runtime(request).directory.forget()


class TenantController(Controller):
    path = "/v1/tenants"
    tags = ["operator"]
    guards = [requires_operator]
    dependencies = {"conn": Provide(provide_operator_conn)}

    @post("/", operation_id="createTenant", responses=errors(409, 422), summary="Create a tenant")
    async def create_tenant(self, conn: Conn, data: JSONBody[TenantCreate]) -> Tenant:
        return await tenants.create_tenant(conn, data)

    @get("/", operation_id="listTenants", responses=errors(), summary="List tenants")
    async def list_tenants(
        self,
        conn: Conn,
        status: FromQuery[TenantStatus | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> TenantPage:
        items = await tenants.list_tenants(
            conn, status=status, after=decode_cursor("tenants", cursor), limit=limit
        )
        return Page(items, next_cursor("tenants", [t.slug for t in items], limit))

    @get("/{slug:str}", operation_id="getTenant", responses=errors(404), summary="Read a tenant")
    async def get_tenant(self, conn: Conn, slug: SlugPath) -> Tenant:
        return await tenants.get_tenant(conn, slug)

    @patch(
        "/{slug:str}",
        operation_id="updateTenant",
        responses=errors(404, 422),
        summary="Rename, suspend or reactivate a tenant",
    )
    async def update_tenant(
        self, request: Request, conn: Conn, slug: SlugPath, data: JSONBody[TenantUpdate]
    ) -> Tenant:
        tenant = await tenants.update_tenant(conn, slug, data)
        _forget_auth_cache(request)
        return tenant

    @post(
        "/{slug:str}/issuers",
        operation_id="registerTenantIssuer",
        responses=errors(404, 409, 422),
        summary="Trust an identity provider for this tenant's tokens",
    )
    async def register_issuer(
        self, request: Request, conn: Conn, slug: SlugPath, data: JSONBody[IssuerCreate]
    ) -> Issuer:
        tenant = await tenants.get_tenant(conn, slug)
        issuer = await issuers.register_issuer(conn, tenant.id, data)
        _forget_auth_cache(request)
        return issuer

    @get(
        "/{slug:str}/issuers",
        operation_id="listTenantIssuers",
        responses=errors(404),
        summary="Identity providers this tenant trusts",
    )
    async def list_issuers(self, conn: Conn, slug: SlugPath) -> list[Issuer]:
        tenant = await tenants.get_tenant(conn, slug)
        return await issuers.list_issuers(conn, tenant.id)

    @delete(
        "/{slug:str}/issuers/{issuer_id:uuid}",
        operation_id="deleteTenantIssuer",
        responses=errors(404),
        summary="Stop trusting an identity provider",
    )
    async def delete_issuer(
        self, request: Request, conn: Conn, slug: SlugPath, issuer_id: FromPath[UUID]
    ) -> None:
        tenant = await tenants.get_tenant(conn, slug)
        await issuers.delete_issuer(conn, tenant.id, issuer_id)
        _forget_auth_cache(request)
