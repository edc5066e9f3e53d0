"""Server time of the console's analysis pages as scored attempts grow (10k, 100k; 1M optional).

    ./dev python bench/analysis.py                              # 10,000 then 100,000 attempts
    ./dev python bench/analysis.py --sizes 10000,100000,1000000 --requests 30

The app runs in this process (Litestar's ASGI app on an httpx transport, as bench/console.py), on the
embedded PostgreSQL in a temporary directory (or DATABASE_URL, in a fresh tenant). The tenant is
bench/aggregates.py's: the shipped cadre framework, a published assessment 'bench' and the realistic
org tree under its province (11 cities, 90 counties, 1,300 townships, 25,000 villages). For each of
`--sizes` (cumulative) it loads people with one submitted attempt and final score each (set-based
SQL as the owner: loading is not what is measured), rebuilds the rollups through the API's job,
runs VACUUM ANALYZE, then requests each analysis page `--requests` times (after two warm-ups) with an
analyst's console session, and prints the median and p95 of the service's own `latency_ms` (its
access log: first byte in to last byte out, inside the app) per page; pages over the 300 ms goal are
named at the end. The training effect pairs 'bench' with a second assessment, 'bench2' (a copy of it),
whose results are written for about half of the same people (their 'bench' scores plus a gain):
the first request registers the pair, its job (`training_effect`) builds the sums, timed, and then
the pages are measured; a rebuild of 'bench' sends the pair back to its job, so it is built again at
each size. The item statistics page reads the latest stored run (none here: computing one is a job,
not a page). The API's own drill-down, trend and training effect are measured too, for reference:
the difference is what the console adds (rendering the page).

Then, per page, one more request with every SQL statement logged (asyncpg's query logger on the
app's pool): the statements, their time (so the page's Python time is the rest), and each SELECT
run again under EXPLAIN (ANALYZE, BUFFERS) on the app role in the tenant, which gives the rows its
scans read and the buffers it touched: figures free of the machine's load, which stay flat from
one size to the next when a page reads rollups rather than results.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import bench_tenant
from _history import housekeeping, owner_conn, owner_tenant
from aggregates import bench_tree, copy_people, largest, placement_slots, rebuild, subtree_shares

from service.api.app import create_app
from service.api.runtime import runtime
from service.auth.keys import ServiceKeys, ensure_keys_file
from service.auth.principal import Principal
from service.config import Settings
from service.console import sessions
from service.db import migrate
from service.db.pool import tenant_transaction
from service.jobs.runner import JobRunner

GOAL_MS = 300.0
BASE = "/console/assessments/bench/analysis"


class AccessLog(logging.Handler):
    """The access log's latency per request id."""

    def __init__(self) -> None:
        super().__init__()
        self.latency: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        entry = json.loads(record.getMessage())
        self.latency[entry["request_id"]] = entry["latency_ms"]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def measure(
    http: httpx.AsyncClient, log: AccessLog, url: str, n: int, headers: dict[str, str] | None = None
) -> tuple[int, list[float], list[float]]:
    """(status, server ms, CPU ms of this process) per request: the app runs in this process, so its
    CPU time is the page's Python (and the client's small share), which the machine's load does not
    stretch the way it stretches wall time."""
    server: list[float] = []
    cpu: list[float] = []
    status = 0
    for i in range(n + 2):
        began = time.process_time()
        response = await http.get(url, headers=headers)
        used = (time.process_time() - began) * 1000
        status = response.status_code
        if i >= 2:
            server.append(log.latency[response.headers["x-request-id"]])
            cpu.append(used)
    return status, server, cpu


class Collections:
    """Python's garbage collector passes of the oldest generation and their wall time: a full pass over a
    large heap is a pause every request in flight waits for."""

    def __init__(self) -> None:
        self.began = 0.0
        self.pauses: list[float] = []
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict) -> None:  # type: ignore[type-arg]
        if info.get("generation") != 2:
            return
        if phase == "start":
            self.began = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self.began) * 1000)


class Statements:
    """Every statement the app's pool runs while on: its SQL, arguments and time."""

    def __init__(self) -> None:
        self.on = False
        self.logged: list[tuple[str, tuple, float]] = []  # type: ignore[type-arg]

    def __call__(self, record: object) -> None:
        if self.on:
            self.logged.append((record.query, tuple(record.args or ()), record.elapsed))  # type: ignore[attr-defined]


async def watch(pool: object, statements: Statements) -> None:
    """The query logger on each of the pool's connections (all held at once, so each is a new one)."""
    held = []
    try:
        for _ in range(pool.get_max_size()):  # type: ignore[attr-defined]
            held.append(await pool.acquire())  # type: ignore[attr-defined]
        for conn in held:
            conn.add_query_logger(statements)
    finally:
        for conn in held:
            await pool.release(conn)  # type: ignore[attr-defined]


def scanned(plan: dict) -> int:  # type: ignore[type-arg]
    """Rows the plan's scans read (actual rows times loops, plus those their filters removed)."""
    rows = 0
    if "Scan" in plan["Node Type"]:
        loops = plan.get("Actual Loops", 1)
        rows += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * loops
    for child in plan.get("Plans", []):
        rows += scanned(child)
    return rows


async def profile(
    http: httpx.AsyncClient,
    pool: object,
    tenant_id: str,
    statements: Statements,
    url: str,
    headers: dict | None,  # type: ignore[type-arg]
) -> tuple[int, float, int, int]:
    """(statements, their ms, rows their scans read, buffers touched) of one request of `url`."""
    statements.logged.clear()
    statements.on = True
    try:
        await http.get(url, headers=headers)
    finally:
        statements.on = False
    logged = list(statements.logged)
    rows = buffers = 0
    async with tenant_transaction(pool, UUID(tenant_id)) as conn:  # type: ignore[arg-type]
        for query, args, _ in logged:
            if not query.lstrip().upper().startswith(("SELECT", "WITH")) or "advisory" in query:
                continue
            try:
                async with conn.transaction():
                    found = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", *args)
            except (
                asyncpg.PostgresError
            ):  # a statement of another context (sign-in's lookup): not re-run here
                continue
            plan = json.loads(found)[0]["Plan"] if isinstance(found, str) else found[0]["Plan"]
            rows += scanned(plan)
            buffers += plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    return len(logged), sum(e for _, _, e in logged) * 1000, rows, buffers


async def second_assessment(owner_url: str, tenant_id: str) -> None:
    """'bench2', a copy of 'bench', with results for about half of 'bench''s people (their scores plus
    a gain of 5 +- 5 points), written as the owner; new people only at each size."""
    async with owner_tenant(owner_url, tenant_id) as conn:
        await conn.execute(
            """INSERT INTO assessments (code, status, content, forms, published_at)
               SELECT 'bench2', status, content, forms, now() FROM assessments WHERE code = 'bench'
               ON CONFLICT DO NOTHING"""
        )
        await conn.execute(
            """INSERT INTO results (assessment_id, person_id, attempt_id, org_unit_id, category, week, measures,
                                    scaled, level_ranks)
               SELECT (SELECT id FROM assessments WHERE code = 'bench2'), r.person_id, gen_random_uuid(),
                      r.org_unit_id, r.category, r.week + 28, r.measures,
                      ARRAY(SELECT least(100, greatest(0, s + 5 + 10 * (random() - 0.5))) FROM unnest(r.scaled) s),
                      r.level_ranks
               FROM results r JOIN assessments a ON a.id = r.assessment_id AND a.code = 'bench'
               WHERE r.attempt_id IS NOT NULL AND hashtext(r.person_id::text) % 2 = 0
               ON CONFLICT DO NOTHING"""
        )


async def build_pair(
    http: httpx.AsyncClient, app: object, owner_url: str, tenant_id: str, admin: dict
) -> float:  # type: ignore[type-arg]
    """Ask for the training effect once (registering the pair), run its job, wait until built: seconds."""
    began = time.perf_counter()
    await http.get("/v1/assessments/bench/training-effect?after=bench2", headers=admin)
    state = runtime(app)  # type: ignore[arg-type]
    while True:
        async with owner_tenant(owner_url, tenant_id) as conn:
            row = await conn.fetchrow("SELECT id, state, error FROM effect_pairs")
        if row["state"] == "ready":
            return time.perf_counter() - began
        if row["state"] == "failed":
            raise SystemExit(f"the training effect's build failed: {row['error']}")
        await JobRunner(state.pool, state.settings).launch(UUID(tenant_id), row["id"])
        await asyncio.sleep(0.5)


async def python_profile(http: httpx.AsyncClient, url: str, headers: dict | None, top: int) -> None:  # type: ignore[type-arg]
    """cProfile of one request (the app runs in this process): the functions with the most own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    await http.get(url, headers=headers)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    print("\n".join("    " + line for line in stream.getvalue().splitlines()[6 : 8 + top]))


async def run(sizes: list[int], requests: int, seed: int, top: int = 0) -> None:
    with tempfile.TemporaryDirectory(prefix="assess-bench-analysis-") as data_dir:
        owner_url = os.environ.get("DATABASE_URL")
        if owner_url is None:
            from service.db.embedded import ensure_database, start_embedded

            owner_url = start_embedded(Path(data_dir))
            await ensure_database(owner_url)
        keys_file = Path(data_dir) / "signing-keys.json"
        ensure_keys_file(keys_file)
        keys = ServiceKeys.load(keys_file)
        settings = Settings.from_env(
            {
                "DATABASE_URL": owner_url,
                "SERVICE_KEYS_FILE": str(keys_file),
                "LOG_LEVEL": "INFO",
                "DB_POOL_MAX": "4",
            }
        )
        await migrate.ensure_app_role(owner_url, settings.app_db_user, settings.app_db_password)
        await asyncio.to_thread(migrate.upgrade, owner_url, settings.app_db_user)
        app = create_app(settings)
        log = AccessLog()
        access = logging.getLogger("assess.access")
        access.addHandler(log)
        access.setLevel(logging.INFO)
        access.propagate = False
        async with (
            app.lifespan(),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://assess.test", timeout=3600
            ) as http,
        ):
            tenant_id, admin, _ = await bench_tenant(http, keys, people=0)
            rng = random.Random(seed)
            conn = await owner_conn(owner_url)
            try:
                assessment_id, template, units = await bench_tree(conn, tenant_id, rng)
            finally:
                await conn.close()
            slots = placement_slots(units, rng)
            shares = subtree_shares(units, slots[0])
            city = largest([u for u in units if u.level == "city"], shares)
            county = largest(city.children, shares)
            township = largest(county.children, shares)
            print(
                f"org tree: {len(units):,} units; measured along P > {city.code} > {county.code} > {township.code}"
            )
            principal = Principal(
                "user", "bench-analyst", frozenset({"analyst"}), UUID(tenant_id), "bench", 0.0
            )
            async with owner_tenant(owner_url, tenant_id) as conn:
                session_id = await sessions.create(
                    conn, principal, "zh-CN", idle_seconds=86400, max_seconds=86400
                )
            http.cookies.set("assess_console", session_id)
            pages = [
                ("drill-down, whole tenant", BASE),
                (f"drill-down, province P ({len(units[0].children)} cities)", f"{BASE}?unit=P"),
                (f"drill-down, city {city.code}", f"{BASE}?unit={city.code}"),
                (f"drill-down, county {county.code}", f"{BASE}?unit={county.code}"),
                (f"drill-down, township {township.code}", f"{BASE}?unit={township.code}"),
                ("drill-down, province, one category", f"{BASE}?unit=P&category=civil_servant"),
                (f"unit report, city {city.code}", f"{BASE}/report?unit={city.code}"),
                ("trend by week, whole tenant", f"{BASE}/trend?interval=week"),
                (f"trend by month, county {county.code}", f"{BASE}/trend?unit={county.code}"),
                ("training effect, whole tenant", f"{BASE}/effect?after=bench2"),
                (f"training effect, county {county.code}", f"{BASE}/effect?after=bench2&unit={county.code}"),
                (
                    "training effect, province, one category",
                    f"{BASE}/effect?after=bench2&unit=P&category=teacher",
                ),
                ("item statistics (no run stored)", f"{BASE}/items"),
                ("table CSV, province drill-down", f"{BASE}/table?view=drill&unit=P"),
                ("table XLSX, province drill-down", f"{BASE}/table?view=drill&unit=P&format=xlsx"),
                ("individual report", f"{BASE}/person?external_id=bench-0000001"),
            ]
            # The API's answers to the same questions, for reference: what the page adds is rendering.
            api = "/v1/assessments/bench/aggregates"
            references = [
                ("API: drill-down, province P", f"{api}/children?unit=P"),
                (f"API: drill-down, township {township.code}", f"{api}/children?unit={township.code}"),
                ("API: trend by week, whole tenant", f"{api}/trend?interval=week"),
                ("API: training effect, whole tenant", "/v1/assessments/bench/training-effect?after=bench2"),
            ]
            logged = Statements()
            collections = Collections()
            pool = runtime(app).pool
            await watch(pool, logged)
            anchor = datetime.now(UTC)
            loaded = 0
            over: list[str] = []
            for size in sizes:
                print(f"\n=== {size:,} scored attempts ===", flush=True)
                began = time.perf_counter()
                # the fast loader (COPY; bench/aggregates.py): the same rows as `_history.load_people`'s
                await copy_people(
                    owner_url, tenant_id, assessment_id, template, slots, anchor, loaded + 1, size, seed
                )
                loaded = size
                print(f"load: {time.perf_counter() - began:.1f} s", flush=True)
                rebuild_seconds, outcome = await rebuild(http, admin)
                print(f"rebuild (API job): {rebuild_seconds:.1f} s; {outcome['rollup_rows']:,} rollup rows")
                await second_assessment(owner_url, tenant_id)
                print(
                    f"training effect bench -> bench2 built (its job): {await build_pair(http, app, owner_url, tenant_id, admin):.1f} s"
                )
                await housekeeping(
                    owner_url, ("results", "rollups", "effect_rollups", "scores", "attempts", "people")
                )
                async with owner_tenant(owner_url, tenant_id) as conn:
                    counts = await conn.fetchrow(
                        "SELECT (SELECT count(*) FROM results WHERE attempt_id IS NOT NULL) AS results, "
                        "(SELECT count(*) FROM effect_rollups) AS effect_rows"
                    )
                print(
                    f"results in the tenant: {counts['results']:,}; effect_rollups rows: {counts['effect_rows']:,}"
                )
                print(
                    f"load average {os.getloadavg()[0]:.2f} (a shared 2-core machine: other work runs too)\n"
                    f"{'page':<48} {'status':>6} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>7} {'stmts':>6} {'SQL ms':>7} "
                    f"{'rows read':>10} {'buffers':>8}  full GC passes (ms)",
                    flush=True,
                )
                for label, url in [*pages, *references]:
                    headers = admin if url.startswith("/v1/") else None
                    collections.pauses.clear()
                    status, server, cpu = await measure(http, log, url, requests, headers)
                    pauses = list(collections.pauses)
                    median, high = statistics.median(server), p95(server)
                    count, sql_ms, rows, buffers = await profile(http, pool, tenant_id, logged, url, headers)
                    print(
                        f"{label:<48} {status:>6} {median:>10.1f} {high:>8.1f} {statistics.median(cpu):>7.1f} "
                        f"{count:>6} {sql_ms:>7.1f} "
                        f"{int(rows):>10,} {int(buffers):>8,}  {' '.join(f'{p:.0f}' for p in pauses)}",
                        flush=True,
                    )
                    if top:
                        await python_profile(http, url, headers, top)
                    if status != 200:
                        over.append(f"{size:,}: {label} answered {status}")
                    elif high > GOAL_MS:
                        over.append(f"{size:,}: {label} p95 {high:.0f} ms")
            print("\nover the 300 ms goal (p95) or failing:" if over else "\nevery page within 300 ms (p95)")
            for line in over:
                print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=int, default=0, help="print each page's N costliest functions")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}; command: "
        f"./dev python bench/analysis.py --sizes {args.sizes} --requests {args.requests}",
        flush=True,
    )
    asyncio.run(run(sizes, args.requests, args.seed, args.profile))


if __name__ == "__main__":
    main()
