"""Microbenchmarks of the per-request levers of issue 19, old way against new, in CPU µs per call.

Each figure is the least of `--repeat` timings of `--number` calls (`timeit`): on a shared machine
contention only adds time, and a short timing now and then runs uncontended. No database: the token
verifier runs over an issuer directory whose caches are filled beforehand (the hit path reads
nothing else).

    ./dev python bench/cpu_levers.py [--number 2000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path

DATA_DIR = Path(tempfile.mkdtemp(prefix="assess-levers-"))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(DATA_DIR))  # as `assess serve` runs the workers
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware

from service.api import observability
from service.api.app import create_app
from service.auth.directory import IssuerDirectory
from service.auth.issue import issue_token
from service.auth.keys import ServiceKeys, ensure_keys_file
from service.auth.verify import TokenVerifier
from service.config import Settings


def best(fn, number: int, repeat: int) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def best_async(loop: asyncio.AbstractEventLoop, coro_fn, number: int, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """µs per await of `coro_fn()`, awaited `number` times in one task (the loop's own cost amortised)."""

    async def many() -> None:
        for _ in range(number):
            await coro_fn()

    return min(timeit.repeat(lambda: loop.run_until_complete(many()), number=1, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    n, r = args.number, args.repeat
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.2f}; "
        f"command: {' '.join(sys.argv)}"
    )
    settings = Settings.from_env({"ASSESS_DATA_DIR": str(DATA_DIR)})
    app = create_app(settings)
    save = next(
        h
        for route in app.routes
        for h in getattr(route, "route_handlers", [])
        if h.handler_name == "save" and "PUT" in h.http_methods
    )
    guards = len(save.resolve_guards())
    copy_us = best(lambda: copy.copy(save), n, r)
    print(
        f"guards: copy(handler) {copy_us:.1f} µs, x{guards} guards on the save route = {copy_us * guards:.1f} µs"
    )

    loop = asyncio.new_event_loop()
    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/v1/me/attempts/x/answers/y",
        "path_template": "/v1/me/attempts/{attempt_id}/answers/{item}",
        "raw_path": b"/v1/me/attempts/x/answers/y",
        "query_string": b"",
        "headers": [],
        "root_path": "",
        "app": app,
        "litestar_app": app,
        "route_handler": save,
        "state": {},
    }

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def nothing(message):  # type: ignore[no-untyped-def]
        return None

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b""}

    old = PrometheusMiddleware(inner, PrometheusConfig(app_name="old", prefix="old", group_path=True))
    new = observability.request_metrics(inner)
    timings: dict[str, list[float]] = {"bare": [], "old": [], "new": []}
    for _ in range(3):  # alternated: the machine's load changes under the timings
        for name, mw in (("bare", inner), ("old", old), ("new", new)):
            timings[name].append(
                best_async(loop, lambda mw=mw: mw(dict(scope), receive, nothing), n, r // 3 + 1)
            )
    bare = min(timings["bare"])
    old_us, new_us = min(timings["old"]) - bare, min(timings["new"]) - bare
    print(
        f"metrics per request (multiprocess mode): Litestar's middleware {old_us:.1f} µs, request_metrics {new_us:.1f} µs"
    )

    # the access log's request id: a dict of the headers and a UUID from os.urandom per request (old)
    # against a scan of the headers and the random module (new); a save's headers, no X-Request-Id
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/120 Mobile"),
        (b"authorization", b"Bearer " + b"x" * 420),
        (b"content-type", b"application/json"),
        (b"content-length", b"41"),
        (b"accept-encoding", b"br, gzip"),
        (b"accept-language", b"zh-CN"),
    ]

    def old_request_id() -> str:
        incoming = dict(headers).get(b"x-request-id", b"").decode("latin-1")
        return incoming if observability._SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex

    old_id, new_id = (
        best(old_request_id, n * 5, r),
        best(lambda: observability._request_id(headers), n * 5, r),
    )
    print(f"access log's request id per request: dict + uuid4 {old_id:.2f} µs, scan + random {new_id:.2f} µs")

    keys_file = DATA_DIR / "keys.json"
    ensure_keys_file(keys_file)
    keys = ServiceKeys.load(keys_file)
    directory = IssuerDirectory(None, 3600, None)  # type: ignore[arg-type]  # caches filled below: no reads
    verifier = TokenVerifier(
        keys, directory, issuer="assess-service", audience="assess-api", leeway_seconds=10, cache_seconds=3600
    )
    tenant = uuid.uuid4()
    directory._tenants.put(tenant, "active")
    common = {"issuer": "assess-service", "audience": "assess-api", "ttl_seconds": 3600}
    token = issue_token(keys, kind="user", subject="c1", tenant_id=tenant, roles=["candidate"], **common)
    miss_us = best_async(loop, lambda: verifier._verify(token), n // 4, r)
    loop.run_until_complete(verifier.verify(token))
    hit_us = best_async(loop, lambda: verifier.verify(token), n, r)
    print(
        f"token: verification (signature and claims, PyJWT + Ed25519) {miss_us:.1f} µs; a verified token "
        f"again (hash, key, tenant status) {hit_us:.1f} µs"
    )


if __name__ == "__main__":
    main()
