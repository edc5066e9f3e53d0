"""The console's screens: home, sign-out, language, frameworks and the template gallery.

Handlers stay thin: read the form, call the domain function the REST route calls (here
`frameworks.adopt_template`, as POST /v1/frameworks does) on the request's tenant transaction
behind the same role guard, render a template. Nothing is fetched from our own API over HTTP.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.response import Redirect, Template

from service.api.deps import Conn, provide_tenant_conn
from service.api.frameworks import read, write
from service.api.runtime import runtime
from service.console import sessions
from service.console.forms import domain_errors, errors_by_field, unique_errors
from service.console.web import cleared_cookie, request_locale, session_of
from service.errors import DomainError, msgspec_field_error
from service.i18n import SUPPORTED, render
from service.rubrics import frameworks, templates
from service.rubrics.frameworks import Adopt


async def form(request: Request) -> dict[str, str]:
    """The posted form's fields (first value of each). Read from the request rather than as a `data`
    parameter: the API's strict JSON body hook (service/api/body.py) handles `data`, and the form is
    already parsed (and cached) by the CSRF check."""
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


ADOPT_FIELDS = ("template", "code")


async def page(
    request: Request, conn: asyncpg.Connection, name: str, status_code: int = 200, **context: Any
) -> Template:
    """A full page for the signed-in user; renews the session's idle expiry on the way."""
    session = session_of(request)
    await sessions.touch(conn, session, runtime(request).settings.console_idle_seconds)
    return Template(
        name,
        status_code=status_code,
        context={"locale": session.locale, "session": session, "path": request.url.path, **context},
    )


def public_page(request: Request, name: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        name,
        status_code=status_code,
        context={"locale": request_locale(request), "session": None, "path": request.url.path, **context},
    )


def on_not_signed_in(request: Request, _: NotAuthorizedException) -> Response[Any]:
    if request.headers.get("hx-request"):  # htmx: a full page load of the sign-in page, not a fragment
        return Response("", status_code=401, headers={"HX-Redirect": "/console/login"})
    return Redirect("/console/login", status_code=303)


def on_forbidden(request: Request, exc: PermissionDeniedException) -> Response[Any]:
    """403 as a page: with the console's header when the session is known (a role guard refused), bare
    when it is not (a refused cross-site or token-less write)."""
    locale = request_locale(request)
    session = request.scope.get("state", {}).get("console_session")
    return Template(
        "error.html",
        status_code=403,
        context={
            "locale": locale,
            "session": session,
            "path": request.url.path,
            "status": 403,
            "detail": render(exc.detail, locale),
        },
    )


class Console(Controller):
    """Pages of a signed-in user."""

    path = "/console"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/")
    async def home(self, request: Request, conn: Conn) -> Template:
        return await page(request, conn, "home.html")

    @post("/logout", status_code=303)
    async def logout(self, request: Request, conn: Conn) -> Redirect:
        await sessions.delete(conn, session_of(request).id_hash)
        response = Redirect("/console/login", status_code=303)
        response.set_cookie(cleared_cookie(request))
        return response

    @post("/language", status_code=303)
    async def language(self, request: Request, conn: Conn) -> Redirect:
        data = await form(request)
        wanted = data.get("lang")
        if wanted in SUPPORTED:
            await sessions.set_locale(conn, session_of(request), wanted)
        back = data.get("next") or "/console"
        return Redirect(
            back if back.startswith("/console") and "//" not in back else "/console", status_code=303
        )

    @get("/frameworks", guards=[read])
    async def framework_list(self, request: Request, conn: Conn) -> Template:
        found = await frameworks.list_frameworks(conn, after=None, limit=200)
        return await page(request, conn, "frameworks.html", frameworks=found)

    @get("/templates", guards=[read])
    async def template_gallery(self, request: Request, conn: Conn) -> Template:
        return await page(
            request,
            conn,
            "templates.html",
            templates=templates.list_templates(),
            errors={},
            values={},
            can_adopt=write_allowed(request),
        )

    @post("/templates/adopt", guards=[write])
    async def adopt(self, request: Request, conn: Conn) -> Template | Response[str]:
        """Adopt a template: `frameworks.adopt_template`, as POST /v1/frameworks. From htmx (the gallery's
        forms), success is an HX-Redirect to the list and failure the template's card alone, errors in it;
        a plain form post (no script) gets a redirect or the whole gallery."""
        locale = session_of(request).locale
        data = await form(request)
        values = {name: data.get(name, "").strip() for name in ADOPT_FIELDS}
        errors: dict[str, list[str]]
        try:
            adopt = msgspec.convert({"template": values["template"], "code": values["code"] or None}, Adopt)
            async with (
                conn.transaction()
            ):  # a savepoint: a taken code leaves the request's transaction usable
                await frameworks.adopt_template(conn, adopt)
            if request.headers.get("hx-request"):
                return Response("", status_code=200, headers={"HX-Redirect": "/console/frameworks"})
            return Redirect("/console/frameworks", status_code=303)
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors = errors_by_field([problem], problem.detail, ADOPT_FIELDS, locale)
        except DomainError as exc:
            errors = domain_errors(exc, ADOPT_FIELDS, locale)
        except asyncpg.UniqueViolationError as exc:
            errors = unique_errors(exc, ADOPT_FIELDS, locale)
        context: dict[str, Any] = {
            "errors": {values["template"]: errors},
            "values": values,
            "can_adopt": True,
        }
        shown = [t for t in templates.list_templates() if t.code == values["template"]]
        if request.headers.get("hx-request") and shown:
            return await page(request, conn, "_template_card.html", status_code=422, t=shown[0], **context)
        return await page(
            request, conn, "templates.html", status_code=422, templates=templates.list_templates(), **context
        )


def write_allowed(request: Request) -> bool:
    return session_of(request).principal().has_any(frozenset({"tenant_admin", "author"}))
