"""The docs UI (`/docs`), served entirely by the service itself.

Litestar's Swagger UI page loads its scripts from a public CDN and starts them with an inline
script: on an intranet without internet it is a blank page. Here the page references Swagger UI
from `service/static/vendor/` (copied from a pinned npm package by scripts/vendor_assets.py, with
its licence and a manifest of checksums) and starts it from a served file
(`service/static/docs/swagger-init.js`), so the page can carry a strict Content-Security-Policy:
everything from the service's own origin, no inline script, no inline style.

Static files live under `/static` (other pages reuse the folder). Their URLs carry `?v=` with the
file's content hash, so they can be cached for a year: a new version has a new URL.
"""

from __future__ import annotations

import hashlib
import html
import json
from functools import cache
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader, MutableScopeHeaders
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import Message, Scope

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PATH = "/static"
MANIFEST = STATIC_DIR / "vendor" / "manifest.json"

# Everything from the service's own origin. Swagger UI's stylesheet uses data: URIs for its icons.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@cache
def asset_url(relative: str) -> str:
    """`/static/<relative>?v=<first 12 hex of its sha256>`: a cache-busting URL for a served file."""
    digest = hashlib.sha256((STATIC_DIR / relative).read_bytes()).hexdigest()[:12]
    return f"{STATIC_PATH}/{relative}?v={digest}"


def vendored() -> dict[str, Any]:
    """The manifest of vendored packages: source, version, licence, each file's sha256."""
    return json.loads(MANIFEST.read_text())


def static_router() -> Router:
    from service.api.auth import PUBLIC

    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        opt=dict(PUBLIC),
        include_in_schema=False,
        cache_control=CacheControlHeader(public=True, max_age=365 * 24 * 3600, immutable=True),
    )


class OfflineSwaggerPlugin(OpenAPIRenderPlugin):
    """Swagger UI from the service's own static files, started by a served script (no inline code)."""

    def __init__(self, path: str = "/") -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(openapi_schema["info"]["title"])
        spec_url = html.escape(self.get_openapi_json_route(request))
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{asset_url("vendor/swagger-ui/swagger-ui.css")}">
<link rel="stylesheet" href="{asset_url("docs/docs.css")}">
</head>
<body>
<div id="swagger-container" data-openapi-url="{spec_url}"></div>
<script src="{asset_url("vendor/swagger-ui/swagger-ui-bundle.js")}"></script>
<script src="{asset_url("docs/swagger-init.js")}"></script>
</body>
</html>
""".encode()


# The console: everything from the service's own origin, no inline script or style, no data: images.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# The console's sign-in page submits a form whose answer redirects to the tenant's identity provider,
# another origin; `form-action` also governs that redirect, so this one page lets forms lead to https.
CONSOLE_LOGIN_CSP = CONSOLE_CSP.replace("form-action 'self'", "form-action 'self' https:")

# The candidate client at /take (service/console/take.py): same-origin only; its service worker and manifest too.
# Item images are fetched with the bearer token and shown from object URLs (blob:), made by the page.
TAKE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

# Path prefix -> the Content-Security-Policy of the pages under it, the first match wins. One helper
# for every page the service renders (the docs UI, the web console), so their headers cannot drift apart.
PAGE_POLICIES = (
    ("/docs", DOCS_CSP),
    ("/console/login", CONSOLE_LOGIN_CSP),
    ("/console", CONSOLE_CSP),
    ("/take", TAKE_CSP),
)


# A page's handler may name one more origin its scripts call (scope state): the /take shell, its
# tenant's token endpoint (service/console/take.py). Added to connect-src, nothing else.
CONNECT_STATE = "csp_connect_src"


async def page_security_headers(message: Message, scope: Scope) -> None:
    """Pages' Content-Security-Policy, no framing, no MIME sniffing, no referrer to other origins."""
    if message["type"] != "http.response.start":
        return
    path = scope.get("path", "")
    for prefix, policy in PAGE_POLICIES:
        if path == prefix or path.startswith(prefix + "/"):
            headers = MutableScopeHeaders.from_message(message)
            extra = scope.get("state", {}).get(CONNECT_STATE)
            if extra and "connect-src 'self'" in policy:
                policy = policy.replace("connect-src 'self'", f"connect-src 'self' {extra}")
            headers["Content-Security-Policy"] = policy
            headers["X-Content-Type-Options"] = "nosniff"
            headers["X-Frame-Options"] = "DENY"
            headers.setdefault("Referrer-Policy", "same-origin")  # a page may be stricter (a secret's: none)
            return
