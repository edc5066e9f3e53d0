"""Score export benchmark: N score rows as CSV through the API, beside PostgreSQL's own COPY.

Starts the service (embedded PostgreSQL in a temporary directory, or DATABASE_URL), sets up a
tenant with the shipped cadre framework, a published assessment and the realistic org tree of
the aggregates benchmark, and loads N people with one submitted attempt and a final score each
(straight into the database, set-based; loading is not what is measured). Then:

1. streams `GET /v1/assessments/bench/scores.csv` to the end on one connection, counting rows
   and bytes, while sampling the resident memory of the service's processes every 50 ms;
2. runs the same SELECT the export runs (same joins, same columns) as
   `COPY (...) TO STDOUT WITH (FORMAT csv)` on one connection, on the same machine, into a sink;
3. prints rows per second of both, their ratio, and the service's memory before and at peak.

    ./dev python bench/score_export.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import psutil
from _harness import ROOT, bench_tenant, running_service
from aggregates import bench_tree, human_bytes, load_people, load_sql, owner_conn, placement_slots

from service.results import feed


class MemorySampler(threading.Thread):
    """Peak resident memory of a process and its children (the service's workers)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = self.baseline = self.rss()
        self.stopped = threading.Event()

    def rss(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            self.peak = max(self.peak, self.rss())


async def export_through_api(url: str, admin: dict[str, str]) -> tuple[int, int, float]:
    rows = size = 0
    began = time.perf_counter()
    async with (
        httpx.AsyncClient(base_url=url, timeout=3600) as http,
        http.stream("GET", "/v1/assessments/bench/scores.csv", headers=admin) as response,
    ):
        assert response.status_code == 200, await response.aread()
        async for chunk in response.aiter_bytes(1 << 16):
            size += len(chunk)
            rows += chunk.count(b"\n")
    return rows - 1, size, time.perf_counter() - began  # minus the header line


async def export_by_copy(owner_url: str, tenant_id: str, assessment_id: uuid.UUID) -> tuple[int, int, float]:
    sql = (
        feed._ROW.format(extra="") + f" WHERE s.current AND t.assessment_id = '{assessment_id}'"
        " ORDER BY p.external_id, t.number"
    )
    size = 0

    async def sink(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    conn = await owner_conn(owner_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
            began = time.perf_counter()
            status = await conn.copy_from_query(sql, output=sink, format="csv")
            elapsed = time.perf_counter() - began
    finally:
        await conn.close()
    return int(status.split()[-1]), size, elapsed


async def run(rows: int, seed: int) -> None:
    with running_service(workers=2, pool_max=4) as service:
        owner_url = service.owner_url()
        async with httpx.AsyncClient(base_url=service.url, timeout=3600) as http:
            assert service.keys is not None
            tenant_id, admin, _ = await bench_tenant(http, service.keys, people=0)
        rng = random.Random(seed)
        conn = await owner_conn(owner_url)
        try:
            assessment_id, template, units = await bench_tree(conn, tenant_id, rng)
        finally:
            await conn.close()
        began = time.perf_counter()
        await load_people(
            owner_url,
            tenant_id,
            assessment_id,
            load_sql(template),
            placement_slots(units, rng),
            datetime.now(UTC),
            1,
            rows,
            seed,
        )
        print(
            f"load: {rows:,} people, attempts and final scores in {time.perf_counter() - began:.1f} s",
            flush=True,
        )

        server_pid = next(
            p.pid for p in psutil.Process().children() if "service.cli" in " ".join(p.cmdline())
        )
        sampler = MemorySampler(server_pid)
        sampler.start()
        api_rows, api_bytes, api_seconds = await export_through_api(service.url, admin)
        sampler.stopped.set()
        sampler.join()
        copy_rows, copy_bytes, copy_seconds = await export_by_copy(owner_url, tenant_id, assessment_id)

    print(f"\n{'':<34} {'rows':>10} {'size':>10} {'seconds':>8} {'rows/s':>10}")
    print(
        f"{'API  GET .../scores.csv':<34} {api_rows:>10,} {human_bytes(api_bytes):>10} {api_seconds:>8.1f} "
        f"{api_rows / api_seconds:>10,.0f}"
    )
    print(
        f"{'COPY (same SELECT) TO STDOUT csv':<34} {copy_rows:>10,} {human_bytes(copy_bytes):>10} "
        f"{copy_seconds:>8.1f} {copy_rows / copy_seconds:>10,.0f}"
    )
    print(
        f"ratio API / COPY: {(api_rows / api_seconds) / (copy_rows / copy_seconds):.2f} "
        f"(API takes {api_seconds / copy_seconds:.1f}x the time)"
    )
    print(
        f"service memory (all processes, RSS): {human_bytes(sampler.baseline)} before, "
        f"{human_bytes(sampler.peak)} at peak (+{human_bytes(sampler.peak - sampler.baseline)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="score rows to load and export")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"(repository {ROOT})")
    asyncio.run(run(args.rows, args.seed))


if __name__ == "__main__":
    main()
