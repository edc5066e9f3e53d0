"""Authentication middleware and the guards that say which roles reach which routes.

401: no token, or a token that proves nothing. 403: a valid token without the role.
Objects of other tenants are never reached at all: row-level security hides them (404).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from service.auth.principal import OPERATOR, Principal

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
        raise NotAuthorizedException("send 'Authorization: Bearer <token>'")
    principal = await connection.app.state.runtime.verifier.verify(token.strip())
    connection.scope["user"] = principal
    connection.scope.setdefault("state", {})["principal"] = principal


async def requires_operator(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    principal: Principal = connection.user
    if OPERATOR not in principal.roles:
        raise PermissionDeniedException("this route is for the platform operator")


def requires_roles(*roles: str) -> Guard:
    """A tenant principal holding at least one of `roles`."""
    wanted = frozenset(roles)

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        principal: Principal = connection.user
        if principal.tenant_id is None or not principal.has_any(wanted):
            raise PermissionDeniedException(f"this route needs one of the roles: {', '.join(sorted(wanted))}")

    guard.__name__ = "requires_" + "_or_".join(sorted(wanted))
    return guard
