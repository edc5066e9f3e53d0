"""Error pages of the console: a person following a link gets a page in the console's layout, in their
language, never the API's problem+json.

The console's router uses these for what its handlers raise (a refused path or query parameter: 400
naming it; a domain refusal: its status and message; any other HTTP error: its status), and the app
(service/api/app.py) for what happens before a console route is found (no such page: 404). The
messages are the API's own, from the same catalog.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Template

from service.console.web import request_locale
from service.errors import DomainError
from service.i18n import msg, render

CONSOLE = "/console"


def is_console(request: Request) -> bool:
    path = request.url.path
    return path == CONSOLE or path.startswith(CONSOLE + "/")


def error_page(request: Request, status: int, detail: str) -> Response[Any]:
    """The console's error page (templates/error.html) with `status` and a rendered `detail`."""
    return Template(
        "error.html",
        status_code=status,
        context={
            "locale": request_locale(request),
            "session": request.scope.get("state", {}).get("console_session"),
            "path": request.url.path,
            "status": status,
            "detail": detail,
        },
    )


def on_invalid_parameter(request: Request, exc: ValidationException) -> Response[Any]:
    """A malformed code or number in the path or query (`/console/items/bad code`): 400, naming it."""
    locale = request_locale(request)
    names = [
        str(item.get("key", ""))
        for item in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(item, dict) and item.get("key")
    ]
    detail = msg("invalid {names}", names=", ".join(names)) if names else msg("Request is invalid")
    return error_page(request, 400, render(detail, locale))


def on_domain_refusal(request: Request, exc: DomainError) -> Response[Any]:
    """A domain refusal outside a form (an object that is not the tenant's: 404) as a page."""
    return error_page(request, exc.status, render(exc.message, request_locale(request)))


def on_http_error(request: Request, exc: HTTPException) -> Response[Any]:
    """Any other HTTP error raised on a console route (or no console route at all): its status as a page."""
    status = exc.status_code
    if status == 404:
        detail = msg("There is no such page or object.")
    elif status == 405:
        detail = msg("This page does not accept that request.")
    else:
        detail = msg("Request is invalid") if status < 500 else msg("Server error")
    return error_page(request, status, render(detail, request_locale(request)))
