"""Load benchmark for delivery: concurrent candidates start, save 60 answers, submit.

Starts the service (`assess serve`, granian) on a free loopback port with its own embedded
PostgreSQL in a temporary directory (or on DATABASE_URL, in a fresh tenant), sets up a tenant
with the shipped cadre item bank and one published assessment, then drives `--candidates`
candidates, `--concurrency` at a time, through start -> 60 x save -> submit, and prints
saves per second, latency percentiles per operation and error counts. Not a test: the
figures depend on the machine, and the load generator shares it with server and database.

    ./dev python bench/delivery_load.py [--candidates 400] [--concurrency 64] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import defaultdict

import httpx
import msgspec
from _harness import RawConnection, bench_tenant, candidate_token, running_service

SAVES_PER_CANDIDATE = 60


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
        return {"order": keys[revision % len(keys) :] + keys[: revision % len(keys)]}
    return {"text": f"draft {revision}: 先核对数据来源，再让模型按格式输出。"}


async def candidate(
    connection: RawConnection,
    headers: dict[str, str],
    timings: dict[str, list[float]],
    errors: dict[str, int],
) -> None:
    """One candidate on its own keep-alive connection: start, 60 saves, submit."""

    async def call(op: str, method: str, path: str, body: object = None) -> bytes | None:
        began = time.perf_counter()
        try:
            status, data = await connection.request(
                method, path, headers, b"" if body is None else msgspec.json.encode(body)
            )
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            errors[f"{op}: {type(exc).__name__}"] += 1
            return None
        timings[op].append(time.perf_counter() - began)
        if status >= 300:
            errors[f"{op}: HTTP {status}"] += 1
            return None
        return data

    started = await call("start", "POST", "/v1/me/assessments/bench/attempts", {})
    if started is None:
        return
    state = msgspec.json.decode(started)
    attempt, items = state["attempt"]["id"], state["items"]
    for n in range(SAVES_PER_CANDIDATE):
        item = items[n % len(items)]
        revision = n // len(items) + 1
        await call(
            "save",
            "PUT",
            f"/v1/me/attempts/{attempt}/answers/{item['ref']}",
            {"revision": revision, "answer": sample_answer(item, n)},
        )
    await call("submit", "POST", f"/v1/me/attempts/{attempt}/submit")


def quantiles_ms(values: list[float]) -> tuple[float, float, float] | None:
    """p50, p95 and p99 in milliseconds of latencies in seconds (None for fewer than two)."""
    if len(values) < 2:
        return None
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49] * 1000, q[94] * 1000, q[98] * 1000


def percentiles(values: list[float]) -> str:
    q = quantiles_ms(values)
    return "n/a" if q is None else f"p50 {q[0]:7.1f} ms  p95 {q[1]:7.1f} ms  p99 {q[2]:7.1f} ms"


async def drive(service, candidates: int, concurrency: int) -> None:  # type: ignore[no-untyped-def]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=service.url, limits=limits, timeout=60) as http:
        tenant_id, _, people = await bench_tenant(http, service.keys, candidates)
        tokens = [candidate_token(service.keys, tenant_id, person) for person in people]
        timings: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        for token in tokens:
            queue.put_nowait(token)

        host, port = service.url.removeprefix("http://").split(":")

        async def worker() -> None:
            connection = RawConnection(host, int(port))
            while not queue.empty():
                await candidate(connection, queue.get_nowait(), timings, errors)
            connection.close()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    saves = len(timings["save"])
    print(
        f"\n{candidates} candidates, {concurrency} concurrent, {SAVES_PER_CANDIDATE} saves each, "
        f"{elapsed:.1f} s wall"
    )
    print(f"saves/s (acknowledged saves / wall time): {saves / elapsed:,.0f}")
    print(f"requests/s (all operations): {sum(len(v) for v in timings.values()) / elapsed:,.0f}")
    for op in ("start", "save", "submit"):
        print(f"  {op:<7} n={len(timings[op]):>7}  {percentiles(timings[op])}")
    print(f"errors: {dict(errors) if errors else 0}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with running_service(args.workers, max(4, min(20, args.concurrency // args.workers))) as service:
        asyncio.run(drive(service, args.candidates, args.concurrency))


if __name__ == "__main__":
    main()
