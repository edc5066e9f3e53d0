"""Request ids, structured access logs and Prometheus metrics.

The access log line carries request id, tenant, principal kind, route template, status
and latency; never a token, a body or an answer.

Metrics of all a host's workers: `assess serve` sets PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode) before granian starts the workers, so each worker writes its samples there and
`/metrics`, whichever worker answers, reports the sum over all of them. Each host is scraped on its
own. `/metrics` is not public: with METRICS_TOKEN set it needs that bearer token; unset, it answers
only clients on the loopback interface (a scraper or agent on the same host).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import re
import time
import uuid

import asyncpg
import msgspec
from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    generate_latest,
    multiprocess,
)

from service.api.auth import PUBLIC
from service.api.runtime import runtime
from service.i18n import msg

access_log = logging.getLogger("assess.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

prometheus = PrometheusConfig(app_name="assess", prefix="assess", group_path=True, exclude=["^/metrics$"])


def access_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            # the line is built only when it is written (LOG_LEVEL above INFO: not at all)
            if access_log.isEnabledFor(logging.INFO):
                _log_request(scope, request_id, status, started)

    return middleware


def _log_request(scope: Scope, request_id: str, status: int, started: float) -> None:
    principal = scope.get("state", {}).get("principal")
    access_log.info(
        msgspec.json.encode(
            {
                "event": "request",
                "request_id": request_id,
                "method": scope.get("method"),
                "route": scope.get("path_template") or "<unmatched>",
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                "tenant": str(principal.tenant_id) if principal and principal.tenant_id else None,
                "principal": principal.kind if principal else None,
            }
        ).decode()
    )


MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
POOL_SAMPLE_SECONDS = 5.0
# livesum: the host's total over its live workers (a dead worker's samples are dropped at its exit).
pool_connections = Gauge(
    "assess_db_pool_connections",
    "Open database connections in the workers' pools",
    multiprocess_mode="livesum",
)
pool_idle = Gauge(
    "assess_db_pool_idle_connections",
    "Idle database connections in the workers' pools",
    multiprocess_mode="livesum",
)


async def sample_pool_forever(pool: asyncpg.Pool) -> None:
    """This worker's pool into the gauges, every few seconds (in multiprocess mode a scrape reads
    files, so the gauges must be set beforehand, not computed when scraped)."""
    while True:
        pool_connections.set(pool.get_size())
        pool_idle.set(pool.get_idle_size())
        await asyncio.sleep(POOL_SAMPLE_SECONDS)


def worker_exited() -> None:
    if os.environ.get(MULTIPROC_DIR):
        multiprocess.mark_process_dead(os.getpid())


def _loopback(request: Request) -> bool:
    try:
        return ipaddress.ip_address(request.client.host if request.client else "").is_loopback
    except ValueError:
        return False


def requires_metrics_access(request: Request) -> None:
    token = runtime(request).settings.metrics_token
    if token is None:
        if not _loopback(request):
            raise PermissionDeniedException(
                detail=msg(
                    "/metrics answers loopback clients only; set METRICS_TOKEN to scrape from elsewhere"
                )
            )
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        raise NotAuthorizedException(detail=msg("send 'Authorization: Bearer <METRICS_TOKEN>'"))


@get("/metrics", include_in_schema=False, opt=PUBLIC, sync_to_thread=False)
def metrics(request: Request) -> Response[bytes]:
    requires_metrics_access(request)
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
