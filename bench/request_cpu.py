"""The service's CPU per start and per save, in one process, without sockets (issue 19).

On a shared machine latencies measure the neighbours; CPU time per request does not (much). This
builds the app as `assess serve` does (uvloop, Prometheus in multiprocess mode, LOG_LEVEL=WARNING),
opens its lifespan, sets up the benchmark tenant (bench/_harness.py) through the app, and then calls
the ASGI app directly, `--concurrency` requests in flight:

- **starts**: `--starts` candidates, each with a token the worker has never seen, start the
  assessment as the /take client does (`?lang=zh-CN`, `Accept-Encoding: br, gzip`);
- **saves**: `--saves` saves over those attempts, each with a rising revision, their tokens already
  verified once (time is modelled: every `--saves-per-period` saves per token, the clock the
  token verifier and the issuer directory read moves on by AUTH_CACHE_SECONDS, as a sitting's saves
  outlive the auth caches: a candidate saving every 6 s sends about 5 saves per worker per minute);
- each phase prints the process's CPU time per request (`time.process_time`: this process is the
  service plus a load generator that builds no HTTP, so a small constant; PostgreSQL is not in it);
- `--rounds` repeats both with new candidates. Each phase is measured in chunks of `--chunk` requests,
  and the summary prints the 10th percentile and the median of the chunks' CPU per request: on a
  shared machine contention only adds CPU time (caches, the other hyperthread, preemption), and a
  short chunk now and then runs uncontended, so the 10th percentile is the figure to compare, run
  against run, back to back.

    ./dev python bench/request_cpu.py [--starts 400] [--saves 4000] [--rounds 3] [--concurrency 32] [--profile DIR]

`--profile DIR` records each phase with py-spy (`PY_SPY`, default `py-spy` on the PATH) and prints the
top frames (own and total time). With DATABASE_URL the run uses that database (a fresh tenant),
else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA_DIR = Path(tempfile.mkdtemp(prefix="assess-cpu-"))
# as `assess serve` runs the workers: metrics in multiprocess mode (set before prometheus_client is imported)
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(DATA_DIR / "metrics"))
(DATA_DIR / "metrics").mkdir()

import brotli
import httpx
import msgspec
from _harness import bench_tenant, candidate_token
from delivery_load import sample_answer

from service.auth.keys import ServiceKeys, ensure_keys_file
from service.cli import db_upgrade
from service.config import Settings

TAKE_QUERY, TAKE_HEADERS = b"lang=zh-CN", [(b"accept-encoding", b"br, gzip")]


class Clock:
    """time.time / time.monotonic moved on by `offset`: what the auth caches read (see --saves-per-period)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


async def lifespan(app: Any) -> Callable[[], Any]:
    """Run the app's lifespan startup; returns the coroutine function that shuts it down."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"lifespan: {started}")

    async def shutdown() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return shutdown


async def call(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
    query: bytes = b"",
) -> tuple[int, bytes]:
    """One request through the ASGI app, as granian hands it over."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a disconnect never comes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def auth(token_headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", token_headers["Authorization"].encode())]


class Profiler:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, phase: str) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        spy = os.environ.get("PY_SPY") or shutil.which("py-spy") or "py-spy"
        out = self.directory / f"{phase}.txt"
        self.process = subprocess.Popen(
            [spy, "record", "--pid", str(os.getpid()), "--rate", "250", "--format", "raw", "-o", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # attached before the phase begins

    def stop(self, phase: str) -> None:
        if self.process is None or self.directory is None:
            return
        self.process.send_signal(2)
        self.process.wait(timeout=60)
        self.process = None
        print_top(self.directory / f"{phase}.txt", phase)


def print_top(path: Path, phase: str, n: int = 25) -> None:
    """Own and total (callees included) share of the samples per frame, from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or ("process_time" in stack and "request_cpu" in stack.split(";")[-1]):
            continue
        frames = [
            f.split(" (/")[0] + " (" + f.rsplit("/", 1)[-1] if " (/" in f else f for f in stack.split(";")
        ]
        k = int(count)
        samples += k
        own[frames[-1]] += k
        for frame in set(frames):
            total[frame] += k
    print(f"\n{phase}: {samples} samples (py-spy 250 Hz, {path})")
    print("  own %   frame")
    for frame, k in own.most_common(n):
        print(f"  {100 * k / samples:5.1f}   {frame}")
    print("  total % frame (callees included)")
    for frame, k in total.most_common(n + 15):
        print(f"  {100 * k / samples:5.1f}   {frame}")


async def run(args: argparse.Namespace) -> None:
    import uvloop  # noqa: F401  (the loop is set by main)

    from service.api.app import create_app
    from service.auth import directory, verify

    settings = Settings.from_env(
        {
            **os.environ,
            "ASSESS_DATA_DIR": str(DATA_DIR),
            "LOG_LEVEL": "WARNING",
            "DB_POOL_MAX": str(args.concurrency),
            "DEADLINE_SWEEP_SECONDS": "0",
            "JOB_POLL_SECONDS": "0",
        }
    )
    app = create_app(settings)
    shutdown = await lifespan(app)
    clock = Clock()
    verify.time = directory.time = clock  # type: ignore[attr-defined, assignment]
    try:
        keys = ServiceKeys.load(settings.keys_file)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as http:
            tenant_id, _, people = await bench_tenant(http, keys, args.starts * args.rounds + args.warmup)
        tokens = [auth(candidate_token(keys, tenant_id, p)) for p in people]
        errors: Counter[str] = Counter()

        async def start(headers: list[tuple[bytes, bytes]]) -> dict[str, Any] | None:
            status, body = await call(
                app,
                "POST",
                "/v1/me/assessments/bench/attempts",
                headers + TAKE_HEADERS,
                b'{"number": 1}',
                TAKE_QUERY,
            )
            if status >= 300:
                errors[f"start {status}"] += 1
                return None
            return {"headers": headers, "status": status, "body": body}

        chunks: list[float] = []  # CPU ms per request of each chunk of the phase being measured

        async def in_flight(jobs: list[Any]) -> list[Any]:
            """The jobs, `--concurrency` at a time, in chunks of `--chunk` whose CPU is taken apart."""
            results: list[Any] = []
            for at in range(0, len(jobs), args.chunk):
                chunk = jobs[at : at + args.chunk]
                queue = list(enumerate(chunk))
                queue.reverse()
                out: list[Any] = [None] * len(chunk)

                async def worker(queue: list[Any] = queue, out: list[Any] = out) -> None:
                    while queue:
                        i, job = queue.pop()
                        out[i] = await job()

                began = time.process_time()
                await asyncio.gather(*(worker() for _ in range(min(args.concurrency, len(chunk)))))
                chunks.append(1000 * (time.process_time() - began) / len(chunk))
                results += out
            return results

        # warm-up: the published assessment cached, the pool open, every code path taken once
        await in_flight([lambda h=h: start(h) for h in tokens[: args.warmup]])
        profiler = Profiler(args.profile)
        figures: dict[str, list[float]] = {"starts": [], "first saves": [], "saves": []}

        def phase_cpu(name: str, began: tuple[float, float], n: int) -> None:
            cpu, wall = time.process_time() - began[0], time.perf_counter() - began[1]
            figures[name] += chunks
            print(
                f"  {name:<11} n={n:>6}  CPU {cpu:7.2f} s  wall {wall:7.2f} s  "
                f"{1000 * cpu / n:.3f} ms CPU per request  ({n / wall:,.0f}/s)",
                flush=True,
            )
            chunks.clear()

        for round_ in range(args.rounds):
            print(f"round {round_ + 1}: load average {os.getloadavg()[0]:.2f}", flush=True)
            measured = tokens[args.warmup + round_ * args.starts : args.warmup + (round_ + 1) * args.starts]
            last = round_ == args.rounds - 1
            if last:
                profiler.start("starts")
            chunks.clear()
            began = time.process_time(), time.perf_counter()
            started = await in_flight([lambda h=h: start(h) for h in measured])
            phase_cpu("starts", began, len(measured))
            if last:
                profiler.stop("starts")

            # the forms, decoded outside the measured phases
            forms = []
            for s in started:
                if s is not None:
                    state = msgspec.json.decode(brotli.decompress(s["body"]))
                    forms.append((s["headers"], state["attempt"]["id"], state["items"]))
            revisions: Counter[tuple[str, str]] = Counter()
            plan = []
            for n in range(args.saves):
                headers, attempt, items = forms[n % len(forms)]
                item = items[(n // len(forms)) % len(items)]
                revisions[(attempt, item["ref"])] += 1
                revision = revisions[(attempt, item["ref"])]
                plan.append(
                    (
                        headers,
                        f"/v1/me/attempts/{attempt}/answers/{item['ref']}",
                        msgspec.json.encode({"revision": revision, "answer": sample_answer(item, revision)}),
                    )
                )
            period = args.saves_per_period * len(forms)  # saves before the auth caches' clock moves on

            async def save(i: int, plan: list[Any] = plan, period: int = period) -> None:
                headers, path, body = plan[i]
                if args.saves_per_period and i and i % period == 0:
                    clock.offset += settings.auth_cache_seconds
                status, answer = await call(app, "PUT", path, headers, body)
                if status != 200 or b'"applied":true' not in answer:
                    errors[f"save {status} {answer[:80]!r}"] += 1

            first = len(forms)  # each attempt's first save: this worker does not hold its answer rules yet
            chunks.clear()
            began = time.process_time(), time.perf_counter()
            await in_flight([lambda i=i: save(i) for i in range(first)])
            phase_cpu("first saves", began, first)
            if last:
                profiler.start("saves")
            began = time.process_time(), time.perf_counter()
            await in_flight([lambda i=i: save(i) for i in range(first, len(plan))])
            phase_cpu("saves", began, len(plan) - first)
            if last:
                profiler.stop("saves")
        for name, values in figures.items():
            q = statistics.quantiles(values, n=10, method="inclusive")
            print(
                f"**{name}: {q[0]:.3f} ms CPU per request** (10th percentile of {len(values)} chunks of "
                f"{args.chunk}; median {statistics.median(values):.3f})"
            )
        print(f"auth clock moved on by {clock.offset:.0f} s; errors: {dict(errors) or 0}")
    finally:
        await shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--saves", type=int, default=4000, help="per round, the first save of each attempt included"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="starts then saves, each round with new candidates"
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=64, help="requests per CPU measurement within a phase")
    parser.add_argument(
        "--saves-per-period",
        type=int,
        default=5,
        help="saves per token before the auth caches' clock moves on by AUTH_CACHE_SECONDS (0: never)",
    )
    parser.add_argument("--profile", type=Path, default=None, help="record each phase with py-spy here")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}; command: {' '.join(sys.argv)}",
        flush=True,
    )
    settings = Settings.from_env({**os.environ, "ASSESS_DATA_DIR": str(DATA_DIR)})
    db_upgrade(settings)
    ensure_keys_file(settings.keys_file)
    import uvloop

    try:
        uvloop.run(run(args))
    finally:
        shutil.rmtree(DATA_DIR / "metrics", ignore_errors=True)


if __name__ == "__main__":
    main()
