"""Load benchmark for delivery: concurrent candidates start, save 60 answers, submit.

Starts the service (`assess serve`, granian) on a free loopback port with its own embedded
PostgreSQL in a temporary directory (or on DATABASE_URL, in a fresh tenant), sets up a tenant
with the shipped cadre item bank and one published assessment, then drives `--candidates`
candidates, `--concurrency` at a time, through start -> 60 x save -> submit, and prints
saves per second, latency percentiles per operation and error counts. Not a test: the
figures depend on the machine, and the load generator shares it with server and database.

    ./dev python benchmarks/delivery_load.py [--candidates 400] [--concurrency 64] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.auth.issue import issue_operator_token, issue_token  # noqa: E402
from service.auth.keys import ServiceKeys  # noqa: E402
from service.items.samples import sample_bank  # noqa: E402

FRAMEWORK = "cadre-ai-literacy"
SAVES_PER_CANDIDATE = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_answer(item: dict, revision: int) -> dict:
    """A valid answer for a candidate-facing item, varying with the revision."""
    keys = [option["key"] for option in item.get("options") or []]
    kind = item["answer_with"]
    if kind == "choice":
        return {"choice": keys[revision % len(keys)]}
    if kind == "choices":
        return {"choices": keys[: 1 + revision % len(keys)]}
    if kind == "most_least":
        return {"most": keys[revision % len(keys)], "least": keys[(revision + 1) % len(keys)]}
    if kind == "ratings":
        return {"ratings": {k: 1 + (revision + i) % item["rating_points"] for i, k in enumerate(keys)}}
    if kind == "value":
        return {"value": 1 + revision % item["scale_points"]}
    if kind == "order":
        return {"order": keys[revision % len(keys):] + keys[: revision % len(keys)]}
    return {"text": f"draft {revision}: 先核对数据来源，再让模型按格式输出。"}


async def setup(http: httpx.AsyncClient, keys: ServiceKeys, candidates: int) -> list[dict[str, str]]:
    common = {"issuer": "assess-service", "audience": "assess-api", "ttl_seconds": 6 * 3600}
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    operator = {"Authorization": "Bearer " + issue_operator_token(keys, **common)}
    tenant = (await http.post("/v1/tenants", json={"slug": slug, "name": "Bench"}, headers=operator)).json()
    admin = {"Authorization": "Bearer " + issue_token(keys, kind="user", subject="bench-admin", tenant_id=uuid.UUID(
        tenant["id"]), roles=["tenant_admin", "author"], **common)}

    async def ok(response_: "asyncio.Future[httpx.Response]") -> httpx.Response:
        response = await response_
        if response.status_code >= 300:
            raise SystemExit(f"set-up failed: {response.request.method} {response.request.url}: {response.text}")
        return response

    await ok(http.post("/v1/org-units", json={"code": "P", "name": "Province"}, headers=admin))
    for start in range(0, candidates, 5000):
        rows = [{"external_id": f"cand-{i:06d}", "org_unit_code": "P", "category": "civil_servant"}
                for i in range(start, min(candidates, start + 5000))]
        await ok(http.post("/v1/people/bulk", json={"people": rows}, headers=admin))
    await ok(http.post("/v1/frameworks", json={"template": FRAMEWORK}, headers=admin))
    etag = (await ok(http.get(f"/v1/frameworks/{FRAMEWORK}/versions/1", headers=admin))).headers["etag"]
    await ok(http.post(f"/v1/frameworks/{FRAMEWORK}/versions/1/publish", headers={**admin, "If-Match": etag}))
    bank = sample_bank(FRAMEWORK)
    import msgspec
    await ok(http.post("/v1/items/import", json={"items": msgspec.to_builtins(bank.items)}, headers=admin))
    assessment = {"code": "bench", "title": {"en": "Bench"}, "framework": {"code": FRAMEWORK, "version": 1},
                  "sections": [{"code": "all", "items": [{"code": item.code} for item in bank.items],
                                "shuffle_items": True}],
                  "audience": {"org_units": ["P"]}, "time_limit_minutes": 120}
    created = await ok(http.post("/v1/assessments", json=assessment, headers=admin))
    await ok(http.post("/v1/assessments/bench/publish", headers={**admin, "If-Match": created.headers["etag"]}))
    return [{"Authorization": "Bearer " + issue_token(keys, kind="user", subject=f"cand-{i:06d}", tenant_id=uuid.UUID(
        tenant["id"]), roles=["candidate"], **common)} for i in range(candidates)]


async def candidate(http: httpx.AsyncClient, headers: dict[str, str], timings: dict[str, list[float]],
                    errors: dict[str, int]) -> None:
    async def call(op: str, method: str, url: str, **kwargs: object) -> httpx.Response | None:
        began = time.perf_counter()
        try:
            response = await http.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            errors[f"{op}: {type(exc).__name__}"] += 1
            return None
        timings[op].append(time.perf_counter() - began)
        if response.status_code >= 300:
            errors[f"{op}: HTTP {response.status_code}"] += 1
            return None
        return response

    started = await call("start", "POST", "/v1/me/assessments/bench/attempts", json={})
    if started is None:
        return
    state = started.json()
    attempt, items = state["attempt"]["id"], state["items"]
    for n in range(SAVES_PER_CANDIDATE):
        item = items[n % len(items)]
        revision = n // len(items) + 1
        await call("save", "PUT", f"/v1/me/attempts/{attempt}/answers/{item['ref']}",
                   json={"revision": revision, "answer": sample_answer(item, n)})
    await call("submit", "POST", f"/v1/me/attempts/{attempt}/submit")


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49] * 1000:7.1f} ms  p95 {q[94] * 1000:7.1f} ms  p99 {q[98] * 1000:7.1f} ms"


async def drive(base_url: str, keys_file: Path, candidates: int, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as http:
        tokens = await setup(http, ServiceKeys.load(keys_file), candidates)
        timings: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        for token in tokens:
            queue.put_nowait(token)

        async def worker() -> None:
            while not queue.empty():
                await candidate(http, queue.get_nowait(), timings, errors)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    saves = len(timings["save"])
    print(f"\n{candidates} candidates, {concurrency} concurrent, {SAVES_PER_CANDIDATE} saves each, "
          f"{elapsed:.1f} s wall")
    print(f"saves/s (acknowledged saves / wall time): {saves / elapsed:,.0f}")
    print(f"requests/s (all operations): {sum(len(v) for v in timings.values()) / elapsed:,.0f}")
    for op in ("start", "save", "submit"):
        print(f"  {op:<7} n={len(timings[op]):>7}  {percentiles(timings[op])}")
    print(f"errors: {dict(errors) if errors else 0}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="assess-bench-") as data_dir:
        env = {**os.environ, "ASSESS_DATA_DIR": data_dir, "PORT": str(port), "WORKERS": str(args.workers),
               "LOG_LEVEL": "WARNING", "DB_POOL_MAX": str(max(4, min(20, args.concurrency // args.workers)))}
        server = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], cwd=ROOT, env=env)
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None:
                    raise SystemExit("the service exited during start-up")
                time.sleep(0.1)
            else:
                raise SystemExit("the service did not become ready")
            print(f"service on 127.0.0.1:{port} with {args.workers} granian worker(s); "
                  f"database: {'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded, ' + data_dir}")
            asyncio.run(drive(f"http://127.0.0.1:{port}", Path(data_dir) / "signing-keys.json", args.candidates,
                              args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
