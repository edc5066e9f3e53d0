"""The app's runtime state, typed: what the lifespan opens once per worker (settings, the database
pool, the service's keys, the job runner, the issuer directory, token limits and verifier) and
every request shares.

Reach it with `runtime(request)` (or any ASGI connection, or the app itself), never through the
untyped `app.state`: the accessor says what is there, and fails plainly before the lifespan ran.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Litestar
from litestar.connection import ASGIConnection

from service.auth.directory import IssuerDirectory
from service.auth.keys import ServiceKeys
from service.auth.limits import Limit, TokenEndpointLimits
from service.auth.verify import TokenVerifier
from service.clients.clients import unrevoked_tenant
from service.config import Settings
from service.jobs.runner import JobRunner

_KEY = "runtime"  # app.state.runtime: tests read it as such


class Runtime:
    """What the lifespan opens and every request shares within one worker."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, keys: ServiceKeys) -> None:
        self.settings, self.pool, self.keys = settings, pool, keys
        # rescorings, item statistics, aggregate jobs, score exports: run here (JOB_MODE=inline) or only
        # enqueued here for the job processes (JOB_MODE=process, `assess serve`'s default)
        self.jobs = JobRunner(pool, settings, enqueue_only=settings.job_mode == "process")
        self.directory = IssuerDirectory(pool, settings.auth_cache_seconds, unrevoked_tenant)
        self.token_limits = TokenEndpointLimits(
            pool,
            issued=Limit("token", settings.token_rate_per_second, settings.token_rate_burst),
            per_address=Limit(
                "failures-address",
                settings.auth_failure_rate_per_address,
                settings.auth_failure_burst_per_address,
            ),
            total=Limit(
                "failures-total", settings.auth_failure_rate_total, settings.auth_failure_burst_total
            ),
        )
        self.verifier = TokenVerifier(
            keys,
            self.directory,
            issuer=settings.service_issuer,
            audience=settings.service_audience,
            leeway_seconds=settings.token_leeway_seconds,
            cache_seconds=settings.auth_cache_seconds,
        )


def install(app: Litestar, state: Runtime) -> None:
    """Called by the lifespan once it has opened what `state` holds."""
    app.state[_KEY] = state


def runtime(where: ASGIConnection[Any, Any, Any, Any] | Litestar) -> Runtime:
    """The runtime of the app serving `where` (a request, a websocket, or the app)."""
    app = where if isinstance(where, Litestar) else where.app
    state = app.state.get(_KEY)
    if not isinstance(state, Runtime):
        raise RuntimeError("the app's runtime is not open: its lifespan has not started")
    return state
