"""The request metrics (`observability.request_metrics`): Litestar's PrometheusMiddleware's names, labels
and types, written without building a Request per request."""

from __future__ import annotations

import re
from typing import Annotated

from litestar import Litestar, get
from litestar.params import PathParameter
from litestar.testing import TestClient
from prometheus_client import REGISTRY, generate_latest

from service.api.observability import request_metrics


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series.startswith(name + "{") and dict(re.findall(r'(\w+)="([^"]*)"', series)) == labels:
            return float(value)
    return None


def test_requests_are_counted_timed_and_5xx_apart_by_route_template() -> None:
    @get("/probe-metrics/{n:int}", sync_to_thread=False)
    def probe(n: Annotated[int, PathParameter()]) -> str:
        if n == 0:
            raise RuntimeError("a bug")
        return "ok"

    @get("/metrics", sync_to_thread=False)
    def metrics() -> str:
        return "scraped"

    app = Litestar([probe, metrics], middleware=[request_metrics])
    before = generate_latest(REGISTRY).decode()
    ok = {"method": "GET", "path": "/probe-metrics/{n}", "status_code": "200", "app_name": "assess"}
    failed = {**ok, "status_code": "500"}
    counted = sample(before, "assess_requests_total", **ok) or 0.0
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/probe-metrics/1").text == "ok"
        assert client.get("/probe-metrics/2").text == "ok"
        assert client.get("/probe-metrics/0").status_code == 500
        assert client.get("/metrics").text == "scraped"
    after = generate_latest(REGISTRY).decode()
    assert sample(after, "assess_requests_total", **ok) == counted + 2
    assert (sample(after, "assess_requests_error_total", **failed) or 0) >= 1
    assert (sample(after, "assess_requests_total", **failed) or 0) >= 1
    assert sample(after, "assess_request_duration_seconds_count", **ok) == counted + 2
    assert (sample(after, "assess_request_duration_seconds_sum", **ok) or 0) > 0
    assert sample(after, "assess_requests_in_progress", **ok) == 0
    assert 'path="/metrics"' not in after
    assert "/probe-metrics/1" not in after  # the template, never the path sent
