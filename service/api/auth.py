"""The authentication guard (app-wide) and the guards that say which roles reach which routes.

401: no token, or a token that proves nothing. 403: a valid token without the role.
Objects of other tenants are never reached at all: row-level security hides them (404).

Service clients (HR systems, principal kind "client") are judged by the scopes their token was
granted, never by roles: a route open to them names the scope it needs with
`requires(..., client_scope=...)`; every other guard refuses them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from service.api.runtime import runtime
from service.auth.principal import OPERATOR, Principal
from service.i18n import msg

# Guards are coroutines: Litestar runs a plain function guard in a worker thread, which costs a
# thread hop on every request.
Guard = Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]
PUBLIC = {"exclude_from_auth": True}  # opt= of routes that need no token


async def authenticate(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """App-wide guard: every route needs a verified bearer token unless it opts out with `opt=PUBLIC`.

    A guard rather than a middleware, so its 401 goes through the same exception handlers,
    request id and access log as every other response.
    """
    if handler.opt.get("exclude_from_auth") or connection.scope["path"].startswith("/docs"):
        return
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(detail=msg("send 'Authorization: Bearer <token>'"))
    principal = await runtime(connection).verifier.verify(token.strip())
    connection.scope["user"] = principal
    connection.scope.setdefault("state", {})["principal"] = principal


async def requires_operator(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    principal: Principal = connection.user
    if OPERATOR not in principal.roles:
        raise PermissionDeniedException(detail=msg("this route is for the platform operator"))


def requires_roles(*roles: str) -> Guard:
    """A tenant user holding at least one of `roles` (never a service client: see `requires`)."""
    return requires(*roles)


def requires(*roles: str, client_scope: str | Iterable[str] = ()) -> Guard:
    """A tenant user holding one of `roles`, or a service client granted one of `client_scope`.

    A client passes on its scopes alone, so a route without `client_scope` is closed to clients
    even when `roles` lists hr_client (which still admits users an identity provider gave that role).
    """
    wanted = frozenset(roles)
    scopes = frozenset([client_scope] if isinstance(client_scope, str) else client_scope)
    needs = msg("one of the roles: {roles}", roles=", ".join(sorted(wanted)))

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        principal: Principal = connection.user
        if principal.tenant_id is None:
            raise PermissionDeniedException(detail=msg("this route needs {needs}", needs=needs))
        if principal.kind == "client":
            if principal.scopes.isdisjoint(scopes):
                raise PermissionDeniedException(
                    detail=(
                        msg("this route needs the scope {scopes}", scopes=" or ".join(sorted(scopes)))
                        if scopes
                        else msg("this route is not open to service clients")
                    )
                )
        elif not principal.has_any(wanted):
            raise PermissionDeniedException(detail=msg("this route needs {needs}", needs=needs))

    guard.__name__ = "requires_" + "_or_".join(sorted(wanted | scopes))
    guard.client_scopes = scopes  # type: ignore[attr-defined]  # read by the scope-table test
    return guard
