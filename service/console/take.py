"""The reference candidate client at `/take`: static files served by the service, and a tiny shell.

A mobile-first web app (service/static/take/: ES modules, no framework, no build step) with which a
candidate signs in through the tenant's identity provider (authorization code + PKCE, done in the
browser as a public client), takes an assessment and reads the report. It talks to the documented
`/v1/me/...` routes only, with its bearer token, as any vendor's client would: it is the worked
example of the delivery contract (README, "Writing a candidate client").

Served here rather than under `/static` because a service worker's scope is its script's folder:
`/take/sw.js` controls `/take/`, so an open attempt survives a reload without a network. Every file
is answered with `Cache-Control: no-cache` and a content ETag (the service worker keeps the offline
copy; a new release is picked up on the next online load). The shell (`/take/`) is index.html with
the sign-in configuration in data attributes: which tenant (`?tenant=<slug>`; in demo mode the demo
tenant by default), and its provider's endpoints. In demo mode the demo tenant signs in through the
built-in demo provider (service/console/demo_idp.py). Any other tenant signs in through its own
provider, the one the console uses (discovery document, `console_client_id`): the provider must
accept the redirect URI `<origin>/take/` for that client and answer its token endpoint to a browser
(CORS), as providers do for public clients; the ID token it returns is the bearer token, verified
by the API like any other. Without a provider the shell says sign-in is not set up.

Headers: the page policy of service/api/docs.py (`/take` in PAGE_POLICIES): everything same-origin,
no inline script or style; the shell's policy also lets the page reach its provider's token endpoint
(connect-src), the one request to another origin.
"""

from __future__ import annotations

import hashlib
import html
import mimetypes
import time
from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from uuid import UUID

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter
from litestar.response import Redirect

from service.api.auth import PUBLIC
from service.api.docs import CONNECT_STATE, STATIC_DIR
from service.api.runtime import runtime
from service.console import oidc
from service.console.demo_idp import PATH as DEMO_IDP
from service.console.demo_idp import TAKE_CLIENT_ID
from service.console.oidc import Provider
from service.db.pool import auth_lookup_transaction
from service.demo import DEMO_SLUG
from service.tenancy import tenants

TAKE_DIR = STATIC_DIR / "take"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".html": "text/html; charset=utf-8",
}


@cache
def _files() -> dict[str, tuple[bytes, str, str]]:
    """Every served file by its path under /take/: (bytes, media type, ETag)."""
    found = {}
    for path in sorted(TAKE_DIR.rglob("*")):
        if path.is_file() and path.name != "index.html" and not path.name.startswith("."):
            body = path.read_bytes()
            media = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            found[path.relative_to(TAKE_DIR).as_posix()] = (body, media, _etag(body))
    return found


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def app_files() -> list[str]:
    """The app's own files (for the service worker's offline copy and the size test)."""
    return sorted(_files())


@cache
def _index() -> str:
    return (TAKE_DIR / "index.html").read_text()


_PROVIDERS_SECONDS = 300.0  # a tenant's provider endpoints (its discovery document), kept this long
_providers: dict[UUID, tuple[float, Provider | None]] = {}


async def _provider(request: Request, slug: str) -> Provider | None:
    """The sign-in provider for a tenant's candidates: in demo mode the demo provider for the demo
    tenant; else the tenant's own (the console's registration: `discovery_url`, `console_client_id`,
    whose registration must also allow the redirect URI `<origin>/take/`); None when there is none."""
    state = runtime(request)
    if state.settings.demo and slug == DEMO_SLUG:
        return Provider("demo", f"{DEMO_IDP}/authorize", f"{DEMO_IDP}/token", TAKE_CLIENT_ID)
    if not slug:
        return None
    async with auth_lookup_transaction(state.pool) as conn:
        tenant_id = await tenants.active_tenant_id(conn, slug)
    if tenant_id is None:
        return None
    held = _providers.get(tenant_id)
    if held is not None and held[0] > time.monotonic():
        return held[1]
    try:
        provider = await oidc.tenant_provider(state.pool, tenant_id)
    except oidc.SignInFailed:
        return None  # unreachable now: not cached, the next load asks again
    _providers[tenant_id] = (time.monotonic() + _PROVIDERS_SECONDS, provider)
    return provider


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("https", "http") and parts.netloc else None


async def _shell(request: Request) -> Response[bytes]:
    settings = runtime(request).settings
    tenant = request.query_params.get("tenant") or (DEMO_SLUG if settings.demo else "")
    provider = await _provider(request, tenant)
    attributes = {
        "tenant": tenant,
        "client": provider.client_id if provider else "",
        "authorize": provider.authorization_endpoint if provider else "",
        "token": (provider.token_endpoint or "") if provider else "",
    }
    config = " ".join(f'data-{name}="{html.escape(value)}"' for name, value in attributes.items())
    body = _index().replace('data-config=""', config).encode()
    token_origin = _origin(attributes["token"])
    if token_origin is not None:  # the code exchange is the page's one request to another origin
        request.scope.setdefault("state", {})[CONNECT_STATE] = token_origin
    return Response(body, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


def _file(request: Request, name: str) -> Response[bytes]:
    found = _files().get(name)
    if found is None:
        raise NotFoundException()
    body, media, etag = found
    headers = {"Cache-Control": "no-cache", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)


@get("/take", opt=dict(PUBLIC), include_in_schema=False)
async def take_root(request: Request) -> Redirect | Response[bytes]:
    """`/take/` is the shell; `/take` (Litestar routes both here) redirects there, into the worker's scope."""
    if request.scope.get("raw_path", b"").endswith(b"/"):
        return await _shell(request)
    return Redirect("/take/", status_code=308)


@get("/take/{name:path}", opt=dict(PUBLIC), include_in_schema=False)
async def take_file(
    request: Request, name: Annotated[str, PathParameter(description="A file of the app")]
) -> Response[bytes]:
    """The shell at `/take/` (any path without a dot: the app routes itself), else a file of the app."""
    name = name.lstrip("/")
    if name in ("", "index.html") or "." not in Path(name).name:
        return await _shell(request)
    return _file(request, name)


route_handlers = [take_root, take_file]
