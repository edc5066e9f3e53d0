"""Score export benchmark: N score rows as CSV through the API, beside PostgreSQL's own COPY.

Starts the service (embedded PostgreSQL in a temporary directory, or DATABASE_URL), sets up a
tenant with the shipped cadre framework, a published assessment and the realistic org tree of
the aggregates benchmark, and loads N people with one submitted attempt and a final score each
(straight into the database, set-based; loading is not what is measured). Then:

1. streams `GET /v1/assessments/bench/scores.csv` to the end on one connection, counting rows
   and bytes, while sampling the resident memory of the service's processes every 50 ms;
2. runs the feed's SELECT of the same rows (same joins, same columns: the ceiling since 2026-11-23) as
   `COPY (...) TO STDOUT WITH (FORMAT csv)` on one connection, on the same machine, into a sink; and
   the SELECT the CSV export itself has run since 2026-12-07 (service/results/score_csv.py), the same way;
3. prints rows per second of all three, the API's ratio to each COPY, and the service's memory before
   and at peak.

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

from service.results import feed, score_csv, scores


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


async def export_by_copy(
    owner_url: str, tenant_id: str, assessment_id: uuid.UUID, own: bool = False
) -> tuple[int, int, float]:
    """COPY of the feed's SELECT of the score rows (the ceiling since 2026-11-23), or with `own` of the
    SELECT the CSV export itself runs since 2026-12-07 (service/results/score_csv.py): the service then
    adds only what it does to COPY's bytes (line ends, compression, HTTP)."""
    rows = feed._ROW.format(extra=f", {scores.DIMENSION_LIST} AS dimension_list")
    size = 0

    async def sink(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    conn = await owner_conn(owner_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
            if own:
                dimensions = await feed.dimension_codes(conn, "bench")
                sql = score_csv.select(rows + " WHERE s.current AND t.assessment_id = $1", len(dimensions))
                args: tuple[object, ...] = (assessment_id, *dimensions)
            else:
                sql = (
                    feed._ROW.format(extra="") + f" WHERE s.current AND t.assessment_id = '{assessment_id}'"
                    " ORDER BY p.external_id, t.number"
                )
                args = ()
            began = time.perf_counter()
            status = await conn.copy_from_query(sql, *args, output=sink, format="csv")
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
        own_rows, own_bytes, own_seconds = await export_by_copy(owner_url, tenant_id, assessment_id, own=True)

    print(f"\n{'':<34} {'rows':>10} {'size':>10} {'seconds':>8} {'rows/s':>10}")
    for name, n, size, seconds in (
        ("API  GET .../scores.csv", api_rows, api_bytes, api_seconds),
        ("COPY (feed's SELECT) TO STDOUT csv", copy_rows, copy_bytes, copy_seconds),
        ("COPY (export's SELECT) csv", own_rows, own_bytes, own_seconds),
    ):
        print(f"{name:<34} {n:>10,} {human_bytes(size):>10} {seconds:>8.1f} {n / seconds:>10,.0f}")
    print(
        f"ratio API / COPY of the feed's SELECT: {(api_rows / api_seconds) / (copy_rows / copy_seconds):.2f} "
        f"(API takes {api_seconds / copy_seconds:.1f}x the time)"
    )
    print(
        f"ratio API / COPY of the export's own SELECT: {(api_rows / api_seconds) / (own_rows / own_seconds):.2f}"
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
