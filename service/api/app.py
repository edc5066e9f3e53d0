"""The application: `create_app()` assembles it without I/O; the lifespan opens the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

from service import __version__, i18n
from service.api import observability, public
from service.api.aggregates import AggregateController
from service.api.assessments import AssessmentController
from service.api.auth import authenticate, guards_see_their_handler
from service.api.body import decode_strictly
from service.api.clients import ClientController
from service.api.credentials import (
    CredentialSettingsController,
    IssuerController,
    MyCredentialController,
)
from service.api.credentials import (
    public_routes as credential_public_routes,
)
from service.api.delivery import DeliveryController
from service.api.docs import OfflineSwaggerPlugin, page_security_headers, static_router
from service.api.frameworks import FrameworkController, TemplateController
from service.api.images import ImageController
from service.api.items import ItemController
from service.api.oauth import token as oauth_token
from service.api.openapi_schema import StrictStructSchemaPlugin
from service.api.org_units import OrgUnitController
from service.api.participation import ParticipationController
from service.api.people import MeController, PeopleController
from service.api.problems import EXCEPTION_HANDLERS, on_http_exception
from service.api.qti import QtiController
from service.api.ratelimit import RateLimiter, add_ratelimit_headers, install_limiter, rate_limit
from service.api.ratings import RatingAdminController, RatingController
from service.api.runtime import Runtime, install, runtime
from service.api.score_exports import ScoreExportController
from service.api.scores import ScoreController
from service.api.tenant_self import TenantSelfController
from service.api.tenants import TenantController
from service.api.webhooks import WebhookController
from service.api.xapi import LrsController
from service.auth.keys import ServiceKeys
from service.config import Settings
from service.console import errors as console_errors
from service.console.routes import console_router
from service.console.take import route_handlers as take_client
from service.console.web import template_config
from service.db.embedded import ensure_database, start_embedded
from service.db.migrate import check_schema
from service.db.pool import create_pool
from service.db.urls import app_url, redact
from service.delivery.sweeper import run as sweeper_loop
from service.results import exports
from service.webhooks import dispatcher
from service.xapi import dispatcher as xapi_dispatcher

log = logging.getLogger("assess")

DESCRIPTION = """\
Measures what AI training achieved for public servants and teachers: rubrics derived from the
national standards, assessments taken through client apps, scores per person and per org unit.

Authenticate with `Authorization: Bearer <JWT>`. Errors are `application/problem+json` (RFC 9457)
with `errors[].pointer` (JSON pointer into the body) or `errors[].parameter` naming the field.
Lists are keyset-paginated: pass `next_cursor` back as `cursor`.
"""


START_WAIT_SECONDS = 60  # how long a starting worker waits for an unreachable or recovering database


async def _connect(settings: Settings) -> asyncpg.Pool:
    owner_url = settings.database_url
    if settings.app_database_url is None and owner_url is None:
        owner_url = await asyncio.to_thread(start_embedded, settings.data_dir)
        await ensure_database(owner_url)
    url = app_url(settings, owner_url or "")
    waited = 0.0
    while True:
        try:
            pool = await create_pool(url, min_size=settings.pool_min, max_size=settings.pool_max)
            break
        except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError) as exc:
            raise RuntimeError(
                f"cannot connect as the application role to {redact(url)}: {exc}; "
                "run `assess db upgrade` first"
            ) from exc
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError) as exc:
            # A worker granian respawns while the database restarts waits for it: one that exits
            # within seconds of its respawn makes granian stop the whole server.
            if waited >= START_WAIT_SECONDS:
                raise
            log.warning("database unavailable at worker start (%s: %s); retrying", type(exc).__name__, exc)
            await asyncio.sleep(0.5)
            waited += 0.5
    try:
        async with pool.acquire() as conn:
            await check_schema(conn)
    except BaseException:
        await pool.close()
        raise
    return pool


async def authenticate_and_limit(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The app-wide guards as one (one call per request; see `guards_see_their_handler`)."""
    await authenticate(connection, handler)
    await rate_limit(connection, handler)


def _lifespan(settings: Settings):
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        i18n.load()  # a broken message catalog fails start-up, not a request
        keys = ServiceKeys.load(settings.keys_file, settings.keys_reload_seconds)
        pool = await _connect(settings)
        install(app, Runtime(settings, pool, keys))
        pool_sampler = asyncio.create_task(observability.sample_pool_forever(pool))
        sweeper = (
            asyncio.create_task(sweeper_loop(pool, settings.deadline_sweep_seconds))
            if settings.deadline_sweep_seconds > 0
            else None
        )
        retries = dispatcher.RetryPolicy(
            settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds
        )
        webhooks = (
            asyncio.create_task(
                dispatcher.run(
                    pool, settings.webhook_dispatch_seconds, retries, settings.webhook_retention_days
                )
            )
            if settings.webhook_dispatch_seconds > 0
            else None
        )
        statements = (  # xAPI statements go out on the same schedule and retry policy as webhooks
            asyncio.create_task(
                xapi_dispatcher.run(
                    pool, settings.webhook_dispatch_seconds, retries, settings.webhook_retention_days
                )
            )
            if settings.webhook_dispatch_seconds > 0
            else None
        )
        expiry = asyncio.create_task(exports.expire_forever(pool))
        jobs = runtime(app).jobs
        job_poll = (
            asyncio.create_task(jobs.run_forever())
            if settings.job_poll_seconds > 0 and not jobs.enqueue_only
            else None
        )
        try:
            yield
        finally:
            for task in (sweeper, webhooks, statements, expiry, pool_sampler, job_poll):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await jobs.close()  # the jobs this worker runs go back to the queue for another worker
            observability.worker_exited()
            await pool.close()  # waits for in-flight requests to release their connections

    return lifespan


async def complete_options_allow(message: Message, scope: Scope) -> None:
    """`Allow` on an OPTIONS answer names every method of the path. Litestar 2 names only those of the
    handlers registered on it first (litestar-org/litestar#4169, fixed in 3.x)."""
    if (
        message["type"] != "http.response.start"
        or scope.get("method") != "OPTIONS"
        or message["status"] != 204
    ):
        return
    template = scope.get("path_template")
    for route in Litestar.from_scope(scope).routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            MutableScopeHeaders.from_message(message)["Allow"] = ", ".join(sorted(route.methods))
            return


# Mobile networks in villages pay for every byte: JSON, CSV and the served scripts over 1 KiB leave
# compressed (brotli where the client accepts it, else gzip; both levels chosen for CPU, not the last
# per cent). Not compressed: stored export files (their byte ranges, Content-Length and ETag address the
# stored bytes, so a broken download resumes) and XLSX (already a zip). Levels: brotli 5 was 16% of the
# workers' samples while 2,000 candidates started (bench/README.md, issue 19); on an 80-item form in one
# language (68 KB) brotli 4 takes 1.5 ms of CPU for 22.8 KB where 5 took 2.8 ms for 20.4 KB, gzip 4
# 1.4 ms for 22.8 KB where 6 took 2.8 ms for 22.0 KB: a 44-item form stays near 12.5 KB.
COMPRESSION = CompressionConfig(
    backend="brotli",
    brotli_quality=4,
    brotli_gzip_fallback=True,
    gzip_compress_level=4,
    minimum_size=1024,
    exclude=[r"^/v1/score-exports/[^/]+/file$", r"\.xlsx$"],
)


def _http_error(request: Request, exc: HTTPException) -> Response[Any]:
    """An HTTP error before any route answered (no such path, a method it does not take): the console's
    error page under /console, problem+json everywhere else."""
    if console_errors.is_console(request):
        return console_errors.on_http_error(request, exc)
    return on_http_exception(request, exc)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    app = Litestar(
        route_handlers=[
            public.liveness,
            public.readiness,
            public.jwks,
            observability.metrics,
            TenantController,
            TenantSelfController,
            OrgUnitController,
            PeopleController,
            MeController,
            TemplateController,
            FrameworkController,
            ItemController,
            QtiController,
            ImageController,
            AssessmentController,
            ParticipationController,
            DeliveryController,
            RatingController,
            RatingAdminController,
            AggregateController,
            ScoreController,
            ScoreExportController,
            WebhookController,
            LrsController,
            ClientController,
            IssuerController,
            CredentialSettingsController,
            MyCredentialController,
            *credential_public_routes,
            oauth_token,
            static_router(),
            console_router(settings),
            *take_client,
        ],
        lifespan=[_lifespan(settings)],
        middleware=[observability.request_metrics],
        compression_config=COMPRESSION,
        guards=[authenticate_and_limit],
        before_request=decode_strictly,
        before_send=[complete_options_allow, add_ratelimit_headers, page_security_headers],
        plugins=[StrictStructSchemaPlugin()],
        template_config=template_config(),
        exception_handlers={**EXCEPTION_HANDLERS, HTTPException: _http_error},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="AI-literacy assessment service",
            version=__version__,
            description=DESCRIPTION,
            path="/docs",
            render_plugins=[OfflineSwaggerPlugin(path="/")],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                    "clientBasic": SecurityScheme(
                        type="http",
                        scheme="basic",
                        description="A service client's id and secret: POST /oauth/token only",
                    ),
                }
            ),
            security=[{"bearer": []}],
            use_handler_docstrings=False,
            create_examples=False,
        ),
        logging_config=None,
        debug=False,
    )
    # Outermost, around Litestar's own exception handling: router 404/405s and errors raised
    # before a route runs still get a request id and an access-log line.
    app.asgi_handler = observability.access_log_middleware(app.asgi_handler)
    guards_see_their_handler(app)
    install_limiter(
        app,
        RateLimiter(settings.client_rate_per_second, settings.client_rate_burst),
        public=RateLimiter(settings.client_rate_per_second, settings.client_rate_burst),
    )
    return app
