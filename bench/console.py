"""Server time of every console page (GET) with 10,000 items in the bank.

    ./dev python bench/console.py                 # 10,000 items, 20,000 people, 30 requests per page
    ./dev python bench/console.py --items 10000 --people 20000 --requests 50
    ./dev python bench/console.py --only /console/frameworks   # the framework editor's pages alone

The app runs in this process (Litestar's ASGI app on an httpx transport: no network, no second
process), on the embedded PostgreSQL in a temporary directory (or DATABASE_URL, in a fresh
database), with the demo tenant seeded and then grown: `--items` more items (the shipped cadre
bank's items under new codes, imported through `bank.import_items`, the domain function of
POST /v1/items/import), `--people` more people in a few units (`people.bulk_upsert_people`), and a
draft assessment whose pool holds the most items an assessment may (500), so the composer, its
audience count and a drawn preview are measured at their largest.

"Server time" is the service's own figure: the `latency_ms` of its access log line for each
request (service/api/observability.py: from the first byte in to the last byte out, inside the
app). Each page is requested `--requests` times after two warm-up requests; the median and p95 are
printed per page, and every page over the 200 ms goal is named at the end. Console GET routes
without a path parameter are found by walking the app (a page added later is measured without
editing this file); routes with one are measured with the keys listed in `KEYED`, and a keyed
route missing from that list is reported as not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.api.app import create_app
from service.assessments import assessments
from service.assessments.model import AssessmentContent
from service.auth.keys import ensure_keys_file
from service.auth.principal import Principal
from service.config import Settings
from service.console import sessions
from service.db import migrate
from service.db.pool import tenant_transaction
from service.demo import DEMO_ASSESSMENT, DEMO_FRAMEWORK, seed_demo
from service.items import bank
from service.items.samples import sample_bank
from service.rubrics import frameworks
from service.rubrics.frameworks import Adopt
from service.tenancy import org_units, people
from service.tenancy.org_units import OrgUnitCreate, OrgUnitImport
from service.tenancy.people import PeopleBulkUpsert, PersonBulkRow

GOAL_MS = 200.0
BIG_DRAFT = "bench-big-draft"
TEACHER = "bench-teacher"  # the teacher template adopted as a draft: the framework editor's largest
TEACHER_URL = f"/console/frameworks/{TEACHER}/versions/1"
DEMO_ITEM = "CAL-AK-001"  # the shipped cadre bank's first item, in the demo tenant's bank
# Keyed console routes and the URL each is measured at ({demo}: the demo's published assessment).
KEYED = {
    "/console/assessments/{code:str}": [
        f"/console/assessments/{DEMO_ASSESSMENT}",
        f"/console/assessments/{BIG_DRAFT}",
    ],
    "/console/assessments/{code:str}/preview": [
        f"/console/assessments/{DEMO_ASSESSMENT}/preview?seed=1",
        f"/console/assessments/{BIG_DRAFT}/preview?seed=1",
    ],
    "/console/assessments/{code:str}/accommodations": [
        f"/console/assessments/{DEMO_ASSESSMENT}/accommodations"
    ],
    # The analysis pages at the demo's scale (with many results: bench/analysis.py).
    "/console/assessments/{code:str}/analysis": [f"/console/assessments/{DEMO_ASSESSMENT}/analysis?unit=P"],
    "/console/assessments/{code:str}/analysis/report": [
        f"/console/assessments/{DEMO_ASSESSMENT}/analysis/report?unit=P"
    ],
    "/console/assessments/{code:str}/analysis/trend": [
        f"/console/assessments/{DEMO_ASSESSMENT}/analysis/trend"
    ],
    "/console/assessments/{code:str}/analysis/effect": [
        f"/console/assessments/{DEMO_ASSESSMENT}/analysis/effect?after={DEMO_ASSESSMENT}"
    ],
    "/console/assessments/{code:str}/analysis/items": [
        f"/console/assessments/{DEMO_ASSESSMENT}/analysis/items"
    ],
    "/console/assessments/{code:str}/analysis/table": [
        f"/console/assessments/{DEMO_ASSESSMENT}/analysis/table?view=drill&unit=P"
    ],
    "/console/assessments/{code:str}/analysis/person": [
        f"/console/assessments/{DEMO_ASSESSMENT}/analysis/person?external_id=demo-0001"
    ],
    "/console/frameworks/{code:str}": [f"/console/frameworks/{TEACHER}"],
    "/console/frameworks/{code:str}/versions/{version:int}": [TEACHER_URL],
    "/console/frameworks/{code:str}/versions/{version:int}/dimensions/{dimension:int}": [
        f"{TEACHER_URL}/dimensions/{i}" for i in range(5)
    ],
    "/console/frameworks/{code:str}/versions/{version:int}/export": [f"{TEACHER_URL}/export"],
    "/console/frameworks/{code:str}/diff": [f"/console/frameworks/{DEMO_FRAMEWORK}/diff"],
    "/console/items/{code:str}": [f"/console/items/{DEMO_ITEM}"],
    "/console/items/{code:str}/edit": [f"/console/items/{DEMO_ITEM}/edit"],
    "/console/org-units/{code:str}": ["/console/org-units/P"],
    "/console/people/{external_id:str}": ["/console/people/demo-0001"],
    **{
        f"/console/assessments/{{code:str}}/{page}": [f"/console/assessments/{DEMO_ASSESSMENT}/{page}"]
        for page in (
            "attempts",
            "participation",
            "participation/not-started.csv",
            "participation/not-started.xlsx",
            "rescorings",
            "rating-allocations",
            "credentials",
            "agreement",
        )
    },
    # {attempt}: one of the demo's submitted attempts, found when the tenant is seeded
    "/console/assessments/{code:str}/attempts/{attempt_id:uuid}": [
        f"/console/assessments/{DEMO_ASSESSMENT}/attempts/{{attempt}}"
    ],
}
# Pages found by the walk that need a query to be a page, and one-time pages left out.
PLAIN = {"/console/org-units/-/children": ["/console/org-units/-/children?parent=P"]}
LEFT_OUT = {"/console/clients/secret", "/console/webhooks/secret"}  # 410 once the secret was shown
# Extra query strings for routes found by the walk: filters that make the database work.
QUERIES = {
    "/console/items": [
        "?q=ai",
        "?type=likert",
        "?indicator=AK.1",
        f"?framework={DEMO_FRAMEWORK}&status=active",
    ],
    "/console/assessments/-/audience": [
        "?audience_units=P-C1&audience_categories=civil_servant&audience_people=demo-0005"
    ],
    "/console/assessments/-/org-units": ["?parent=P"],
    "/console/assessments/-/people": ["?under=P", "?under=P-C1-B3"],
    "/console/assessments/-/items": ["?item_q=bench&framework=" + DEMO_FRAMEWORK],
}
SKIP = {"/console/login", "/console/callback", "/console/demo-idp/authorize"}  # sign-in hops: not pages


class AccessLog(logging.Handler):
    """The access log's latency per request id."""

    def __init__(self) -> None:
        super().__init__()
        self.latency: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        entry = json.loads(record.getMessage())
        self.latency[entry["request_id"]] = entry["latency_ms"]


async def grow(pool: asyncpg.Pool, tenant_id: UUID, n_items: int, n_people: int) -> None:
    """The demo tenant with `n_items` more items, `n_people` more people, a draft with a 500-item pool and
    the teacher template adopted as a draft framework (the editor's largest document)."""
    samples = list(sample_bank(DEMO_FRAMEWORK).items)
    started = time.perf_counter()
    made: list[str] = []
    for start in range(0, n_items, 1000):
        batch = []
        for i in range(start, min(n_items, start + 1000)):
            item = samples[i % len(samples)]
            batch.append(msgspec.structs.replace(item, code=f"BENCH-{i:05d}-{item.code}"))
        async with tenant_transaction(pool, tenant_id) as conn:
            await bank.import_items(conn, batch)
        made += [item.code for item in batch]
    print(f"  {n_items:,} items imported in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    async with tenant_transaction(pool, tenant_id) as conn:
        units = [OrgUnitCreate(f"P-C1-B{k}", f"Bench unit {k}", "county", "P-C1") for k in range(20)]
        await org_units.import_org_units(conn, OrgUnitImport(units), "create")
    categories = ["civil_servant", "teacher", "leading_cadre", "professional_technical", "other"]
    for start in range(0, n_people, 10_000):
        rows = [
            PersonBulkRow(
                external_id=f"bench-{i:06d}", org_unit_code=f"P-C1-B{i % 20}", category=categories[i % 5]
            )
            for i in range(start, min(n_people, start + 10_000))
        ]
        async with tenant_transaction(pool, tenant_id) as conn:
            await people.bulk_upsert_people(conn, PeopleBulkUpsert(rows))  # type: ignore[arg-type]
    print(f"  {n_people:,} people loaded in {time.perf_counter() - started:.1f} s", flush=True)
    content = {
        "code": BIG_DRAFT,
        "title": {"zh-CN": "大题池草稿", "en": "Big pool draft"},
        "framework": {"code": DEMO_FRAMEWORK, "version": 1},
        "sections": [{"code": "pool", "pool": {"items": [{"code": c} for c in made[:500]], "draw": 50}}],
        "audience": {"org_units": ["P"], "categories": ["civil_servant", "teacher"]},
        "time_limit_minutes": 60,
    }
    async with tenant_transaction(pool, tenant_id) as conn:
        await assessments.create_assessment(conn, msgspec.convert(content, AssessmentContent))
        await frameworks.adopt_template(conn, Adopt(template="teacher-digital-literacy", code=TEACHER))


def console_gets(app: Any) -> tuple[list[str], list[str]]:
    """(console GET routes without a path parameter, keyed ones)."""
    plain, keyed = set(), set()
    for route in app.routes:
        if route.path.startswith("/console") and "GET" in getattr(route, "methods", ()):
            (keyed if "{" in route.path else plain).add(route.path)
    return sorted(plain - SKIP), sorted(keyed)


async def measure(
    http: httpx.AsyncClient, log: AccessLog, url: str, n: int
) -> tuple[int, list[float], list[float], int]:
    server, client = [], []
    status = size = 0
    for i in range(n + 2):
        started = time.perf_counter()
        response = await http.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        status, size = response.status_code, len(response.content)
        if i >= 2:
            server.append(log.latency[response.headers["x-request-id"]])
            client.append(elapsed)
    return status, server, client, size


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--only", default="", help="measure only URLs starting with this, e.g. /console/frameworks"
    )
    args = parser.parse_args()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}; "
        f"command: ./dev python bench/console.py --items {args.items} --people {args.people} --requests {args.requests}"
        + (f" --only {args.only}" if args.only else ""),
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="assess-bench-console-") as data_dir:
        owner_url = os.environ.get("DATABASE_URL")
        if owner_url is None:
            from service.db.embedded import ensure_database, start_embedded

            owner_url = start_embedded(Path(data_dir))
            await ensure_database(owner_url)
        keys = Path(data_dir) / "signing-keys.json"
        ensure_keys_file(keys)
        settings = Settings.from_env(
            {
                "DATABASE_URL": owner_url,
                "SERVICE_KEYS_FILE": str(keys),
                "ASSESS_DEMO": "1",
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
        async with app.lifespan():
            pool = app.state.runtime.pool
            tenant_id = await seed_demo(pool)
            print(f"growing the demo tenant: {args.items:,} items, {args.people:,} people", flush=True)
            await grow(pool, tenant_id, args.items, args.people)
            # Fresh statistics, as autovacuum would gather after a bulk load (only the owner may: the
            # service's role would skip every table). Without them the planner takes 10,000 items
            # for a few dozen and sorts them all for each page of 50.
            owner = await asyncpg.connect(owner_url)
            try:
                await owner.execute("ANALYZE")
            finally:
                await owner.close()
            principal = Principal(
                "user",
                "bench-admin",
                frozenset({"tenant_admin", "author", "analyst", "rater"}),
                tenant_id,
                "demo",
                0.0,
            )
            async with tenant_transaction(pool, tenant_id) as conn:
                session_id = await sessions.create(
                    conn, principal, "zh-CN", idle_seconds=3600, max_seconds=7200
                )
                count = await conn.fetchval("SELECT count(*) FROM items")
                attempt = await conn.fetchval("SELECT id FROM attempts WHERE status = 'submitted' LIMIT 1")
            print(f"items in the tenant's bank: {count:,}", flush=True)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://assess.test",
                cookies={"assess_console": session_id},
            ) as http:
                first = await http.get("/console/items")
                cursor = first.text.split('data-testid="next-page"')[0].rsplit('href="', 1)[-1].split('"')[0]
                plain, keyed = console_gets(app)
                urls = []
                missing = [p for p in keyed if p not in KEYED]
                for path in plain:
                    if path not in LEFT_OUT:
                        urls += PLAIN.get(path, [path]) + [path + q for q in QUERIES.get(path, [])]
                urls.append(cursor.replace("&amp;", "&"))
                for path in keyed:
                    for url in KEYED.get(path, []):
                        if "{attempt}" not in url:
                            urls.append(url)
                        elif attempt is not None:  # the demo seeds no attempts: a trace needs a sitting
                            urls.append(url.replace("{attempt}", str(attempt)))
                        else:
                            missing.append(path)
                urls = [u for u in urls if u.startswith(args.only)]
                print(
                    f"\n{'page':<92} {'status':>6} {'median ms':>10} {'p95 ms':>8} {'client p95':>10} {'KB':>6}"
                )
                slow = []
                for url in urls:
                    status, server, client, size = await measure(http, log, url, args.requests)
                    median, high = statistics.median(server), p95(server)
                    print(
                        f"{url[:92]:<92} {status:>6} {median:>10.1f} {high:>8.1f} {p95(client):>10.1f}"
                        f" {size / 1000:>6.0f}",
                        flush=True,
                    )
                    if high > GOAL_MS or status >= 400:
                        slow.append(url)
                print(f"\n{len(urls)} URLs, {args.requests} requests each (after 2 warm-up requests)")
                print(f"over the {GOAL_MS:.0f} ms goal at p95 (or failing): {slow or 'none'}")
                if missing:
                    print(f"keyed console routes not measured (add them to KEYED): {missing}")


if __name__ == "__main__":
    asyncio.run(main())
