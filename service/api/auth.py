"""The authentication guard (app-wide) and the guards that say which roles reach which routes.

401: no token, or a token that proves nothing. 403: a valid token without the role.
Objects of other tenants are never reached at all: row-level security hides them (404).

Service clients (HR systems, principal kind "client") are judged by the scopes their token was
granted, never by roles: a route open to them names the scope it needs with
`requires(..., client_scope=...)`; every other guard refuses them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from types import MethodType
from typing import cast

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.routes import HTTPRoute

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


async def _authorize_uncopied(self: BaseRouteHandler, connection: ASGIConnection) -> None:
    # resolved guards are coroutine functions: Litestar wraps a plain one (ensure_async_callable)
    for guard in cast("list[Guard]", self.resolve_guards()):
        await guard(connection, self)


_UNCOPIED: dict[type, type] = {}


def guards_see_their_handler(app: Litestar) -> None:
    """Run each route's guards with its route handler itself, not a copy per guard.

    Litestar's `authorize_connection` hands every guard `copy(handler)`, so that a guard cannot change
    the handler for later requests: 56 µs a guard on the 2-core bench machine (a handler made by
    `@get`/`@post`... carries a `__dict__` besides its slots, which takes `copy` its slow path), two
    guards on every candidate route, about a tenth of a save's CPU (bench/README.md, issue 19). No
    guard of this service writes to the handler (they read `handler.opt`), so each handler's
    `authorize_connection` awaits the same guards, in the same order, with the handler itself: bound
    on the instance where it has a `__dict__`, else by making it an instance of a subclass of its own
    class that adds nothing but that method (`__slots__ = ()`; the `@get`-style classes, which warn
    when subclassed, always have a `__dict__`). Called once by the composition root, after every
    route is registered.
    """
    for route in app.routes:
        for handler in route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler]:
            if hasattr(handler, "__dict__"):
                vars(handler)["authorize_connection"] = MethodType(_authorize_uncopied, handler)
                continue
            cls: type = type(handler)
            if cls not in _UNCOPIED.values():
                if cls not in _UNCOPIED:
                    _UNCOPIED[cls] = type(
                        cls.__name__,
                        (cls,),
                        {
                            "__slots__": (),
                            "__module__": cls.__module__,
                            "authorize_connection": _authorize_uncopied,
                        },
                    )
                handler.__class__ = _UNCOPIED[cls]


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
