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
import random
import re
import time
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.api.auth import PUBLIC
from service.api.runtime import runtime
from service.i18n import msg

access_log = logging.getLogger("assess.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

APP_NAME = "assess"
_LABELS = ("method", "path", "status_code", "app_name")
# The request metrics Litestar's PrometheusMiddleware kept (same names, labels and types; its
# `group_path`: the path label is the route template), written by `request_metrics` below.
requests_in_progress = Gauge(
    "assess_requests_in_progress",
    "Total requests currently in progress",
    _LABELS,
    multiprocess_mode="livesum",
)
requests_total = Counter("assess_requests_total", "Total requests", _LABELS)
requests_errors = Counter("assess_requests_error_total", "Total errors in requests", _LABELS)
request_seconds = Histogram("assess_request_duration_seconds", "Request duration, in seconds", _LABELS)

# The labelled children, bound once per (method, route template[, status]): finite, since the path
# label is the template, never the path a client sent.
_in_progress: dict[tuple[str, str], Any] = {}
_finished: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}


def _finished_children(method: str, path: str, status: int) -> tuple[Any, Any, Any]:
    key = (method, path, status)
    children = _finished.get(key)
    if children is None:
        values = (method, path, str(status), APP_NAME)
        children = _finished[key] = (
            requests_total.labels(*values),
            request_seconds.labels(*values),
            requests_errors.labels(*values) if status >= 500 else None,
        )
    return children


def request_metrics(app: ASGIApp) -> ASGIApp:
    """Route middleware (it runs once the route is known, so the path label is its template): requests
    in progress, counted, timed to their first body message, and 5xx counted apart; /metrics itself is
    not counted. What Litestar's PrometheusMiddleware recorded, without building a `Request`, its URL and
    four label dicts per request: that was 5% of a save's CPU (bench/README.md, issue 19)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path_template") or scope["path"]
        if path == "/metrics":
            await app(scope, receive, send)
            return
        method: str = scope.get("method") or scope["type"]  # type: ignore[assignment]  # websocket: its type
        in_progress = _in_progress.get((method, path))
        if in_progress is None:
            in_progress = _in_progress[(method, path)] = requests_in_progress.labels(
                method, path, "200", APP_NAME
            )
        started = time.perf_counter()
        status, duration = 200, 0.0

        async def timed_send(message: Message) -> None:
            nonlocal status, duration
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                duration = time.perf_counter() - started
            await send(message)

        in_progress.inc()
        try:
            await app(scope, receive, timed_send)
        finally:
            in_progress.dec()
            count, seconds, errors = _finished_children(method, path, status)
            if errors is not None:
                errors.inc()
            count.inc()
            seconds.observe(duration)

    return middleware


def access_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = _request_id(scope["headers"])
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


def _request_id(headers: Any) -> str:
    """The client's X-Request-Id if it is safe to echo and log, else a new one: 32 hex digits, as
    `uuid4().hex` gave, from the random module (reseeded in each forked worker) rather than a UUID built
    on `os.urandom` per request (2.6 against 0.6 µs, bench/cpu_levers.py; a save costs ~400 µs): an id to find
    a request's lines by, not a secret. The headers are scanned, not made into a dict (the last of
    repeated headers counts, as it did in the dict)."""
    incoming = b""
    for name, value in headers:
        if name == b"x-request-id":
            incoming = value
    if incoming:
        text: str = incoming.decode("latin-1")
        if _SAFE_REQUEST_ID.match(text):
            return text
    return f"{random.getrandbits(128):032x}"


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
