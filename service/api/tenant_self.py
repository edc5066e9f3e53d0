"""A tenant admin's view of their own tenant and the identity providers it trusts."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.di import Provide

from service.api.auth import requires_roles
from service.api.deps import Conn, provide_tenant_conn
from service.api.responses import errors
from service.auth.principal import TENANT_ADMIN
from service.tenancy import issuers, tenants
from service.tenancy.issuers import Issuer
from service.tenancy.tenants import Tenant


class TenantSelfController(Controller):
    path = "/v1"
    tags = ["tenant"]
    guards = [requires_roles(TENANT_ADMIN)]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/tenant", operation_id="getOwnTenant", responses=errors(), summary="The caller's tenant")
    async def get_own_tenant(self, request: Request, conn: Conn) -> Tenant:
        return await tenants.get_tenant_by_id(conn, request.user.tenant_id)

    # Registering and removing issuers is the operator's job (/v1/tenants/{slug}/issuers): a tenant
    # admin who could bind any (issuer, audience) could claim another region's identity provider.
    @get(
        "/issuers",
        operation_id="listIssuers",
        responses=errors(),
        summary="Identity providers this tenant trusts",
    )
    async def list_issuers(self, request: Request, conn: Conn) -> list[Issuer]:
        return await issuers.list_issuers(conn, request.user.tenant_id)
