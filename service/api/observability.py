"""Request ids, structured access logs and Prometheus metrics.

The access log line carries request id, tenant, principal kind, route template, status
and latency; never a token, a body or an answer.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

import asyncpg
from litestar import Response, get
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from service.api.auth import PUBLIC

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
            principal = scope.get("state", {}).get("principal")
            access_log.info(json.dumps({
                "event": "request", "request_id": request_id, "method": scope["method"],
                "route": scope.get("path_template") or "<unmatched>", "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                "tenant": str(principal.tenant_id) if principal and principal.tenant_id else None,
                "principal": principal.kind if principal else None,
            }))

    return middleware


class PoolCollector(Collector):
    """Connections per worker: how many are open and how many are idle."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    def collect(self) -> Any:
        size = GaugeMetricFamily("assess_db_pool_connections", "Open database connections in this worker's pool")
        size.add_metric([], self.pool.get_size())
        idle = GaugeMetricFamily("assess_db_pool_idle_connections", "Idle database connections in the pool")
        idle.add_metric([], self.pool.get_idle_size())
        return [size, idle]


@get("/metrics", include_in_schema=False, opt=PUBLIC, sync_to_thread=False)
def metrics() -> Response[bytes]:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
