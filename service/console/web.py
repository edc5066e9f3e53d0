"""What every console request shares: the session cookie, the CSRF check, the Jinja environment.

`console_guard` runs before each console handler: it finds the session behind the cookie (none:
to the sign-in page), makes it the request's `user` (the same `Principal` a bearer token gives,
so the API's role guards apply unchanged), and on an unsafe method demands the session's CSRF
token, as form field `csrf_token` or header `X-CSRF-Token` (htmx sends it: static/console/console.js).
A request whose `Origin` is another site is refused whatever it carries.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import jinja2
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from service.api.docs import asset_url
from service.api.runtime import runtime
from service.console import sessions
from service.console.sessions import ConsoleSession
from service.i18n import msg, negotiate, translator
from service.i18n.catalog import DEFAULT, SUPPORTED
from service.rubrics import localize

COOKIE = "assess_console"
COOKIE_PATH = "/console"
TEMPLATES = Path(__file__).parent / "templates"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def origin(connection: ASGIConnection) -> str:
    """`scheme://host[:port]` as browsers see the console: CONSOLE_PUBLIC_URL, else the request's own."""
    configured = runtime(connection).settings.console_public_url
    return configured or f"{connection.url.scheme}://{connection.url.netloc}"


def cookie(request: Request, key: str, value: str, max_age: int) -> Cookie:
    """HttpOnly, SameSite=Lax, Path=/console, Secure when the console is reached over https."""
    return Cookie(
        key=key,
        value=value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=origin(request).startswith("https://"),
        max_age=max_age,
    )


def session_cookie(request: Request, value: str, max_age: int) -> Cookie:
    return cookie(request, COOKIE, value, max_age)


def cleared_cookie(request: Request, key: str = COOKIE) -> Cookie:
    return cookie(request, key, "", 0)


def session_of(request: Request) -> ConsoleSession:
    return request.scope["state"]["console_session"]


def _same_origin(connection: ASGIConnection) -> bool:
    sent = connection.headers.get("origin")
    if sent is None:  # not sent by older browsers on same-origin posts; the CSRF token still decides
        return True
    return sent == origin(connection)


async def console_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """A signed-in session (401 otherwise, answered with the sign-in page), and its CSRF token on writes."""
    if connection.scope.get("method") in UNSAFE and not _same_origin(connection):
        raise PermissionDeniedException(detail=msg("cross-site request refused"))
    if handler.opt.get("console_public"):
        return
    cookie = connection.cookies.get(COOKIE)
    session = await sessions.find(runtime(connection).pool, cookie) if cookie else None
    if session is None:
        raise NotAuthorizedException(detail=msg("sign in"))
    connection.scope.setdefault("state", {})["console_session"] = session
    connection.scope["user"] = session.principal()
    if connection.scope.get("method") in UNSAFE:
        sent = connection.headers.get("x-csrf-token")
        if sent is None and isinstance(connection, Request):
            sent = (await connection.form()).get("csrf_token")
        if not isinstance(sent, str) or not secrets.compare_digest(
            sent.encode(), session.csrf_token.encode()
        ):
            raise PermissionDeniedException(
                detail=msg("missing or wrong CSRF token: reload the page and try again")
            )


def request_locale(request: Request) -> str:
    """The session's language; before sign-in `?lang=`, then Accept-Language, then zh-CN."""
    session = request.scope.get("state", {}).get("console_session")
    if session is not None:
        return session.locale
    wanted = request.query_params.get("lang")
    if wanted in SUPPORTED:
        return wanted
    return negotiate(request.headers.get("accept-language")) or DEFAULT


@jinja2.pass_context
def _gettext(context: Any, message: str, **variables: Any) -> str:
    text = translator(context.get("locale", DEFAULT)).gettext(message)
    return text % variables if variables else text


@jinja2.pass_context
def _ngettext(context: Any, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translator(context.get("locale", DEFAULT)).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


@jinja2.pass_context
def _localized(context: Any, text: Any) -> str:
    """A `Localized` text (language -> string) in the page's language, falling back like the API does."""
    if not isinstance(text, dict) or not text:
        return "" if text is None else str(text)
    return str(text[localize.choose(list(text), [context.get("locale", DEFAULT), *SUPPORTED])])


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=False)  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
    env.globals["asset"] = asset_url
    env.filters["localized"] = _localized
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
