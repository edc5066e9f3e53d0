"""A domain's 404 (`NotFound`: no such unit, person, client or webhook in this tenant) as a console page.

The API answers problem+json; a console screen answers the same status as a page with the console's
header, and the domain's message in the session's language. Another tenant's key reads exactly as a
key nobody has (row-level security hides it), so the page says no more than that.
"""

from __future__ import annotations

from litestar import Request
from litestar.response import Template

from service.errors import NotFound
from service.i18n import render


def on_missing(request: Request, exc: NotFound) -> Template:
    session = request.scope.get("state", {}).get("console_session")
    locale = session.locale if session else "zh-CN"
    return Template(
        "error.html",
        status_code=404,
        context={
            "locale": locale,
            "session": session,
            "path": request.url.path,
            "status": 404,
            "detail": render(exc.message, locale),
        },
    )
