"""A tenant admin's view of their own tenant and the identity providers it trusts."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from service.api.auth import requires_roles
from service.api.deps import Conn, provide_tenant_conn
from service.api.responses import errors
from service.auth.principal import TENANT_ADMIN
from service.tenancy import issuers, tenants
from service.tenancy.issuers import Issuer, IssuerCreate
from service.tenancy.tenants import Tenant


class TenantSelfController(Controller):
    path = "/v1"
    tags = ["tenant"]
    guards = [requires_roles(TENANT_ADMIN)]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/tenant", operation_id="getOwnTenant", responses=errors(), summary="The caller's tenant")
    async def get_own_tenant(self, request: Request, conn: Conn) -> Tenant:
        return await tenants.get_tenant_by_id(conn, request.user.tenant_id)

    @get("/issuers", operation_id="listIssuers", responses=errors(), summary="Identity providers this tenant trusts")
    async def list_issuers(self, request: Request, conn: Conn) -> list[Issuer]:
        return await issuers.list_issuers(conn, request.user.tenant_id)

    @post("/issuers", operation_id="registerIssuer", responses=errors(409, 422),
          summary="Trust an identity provider (inline JWKS, JWKS URL or PEM public keys)")
    async def register_issuer(self, request: Request, conn: Conn, data: JSONBody[IssuerCreate]) -> Issuer:
        issuer = await issuers.register_issuer(conn, request.user.tenant_id, data)
        request.app.state.runtime.directory.forget()
        return issuer

    @delete("/issuers/{issuer_id:uuid}", operation_id="deleteIssuer", responses=errors(404),
            summary="Stop trusting an identity provider")
    async def delete_issuer(self, request: Request, conn: Conn, issuer_id: FromPath[UUID]) -> None:
        await issuers.delete_issuer(conn, request.user.tenant_id, issuer_id)
        request.app.state.runtime.directory.forget()
