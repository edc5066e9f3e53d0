"""Aggregates benchmark: subtree and drill-down latency through the API as scored attempts grow.

Starts the service (embedded PostgreSQL in a temporary directory, or DATABASE_URL in a fresh
tenant), sets up a tenant with the shipped cadre framework and a published assessment through
the API, and builds a realistic org tree under its province: 11 cities, 90 counties, 1,300
townships, 25,000 villages. Then, for each of `--sizes` (cumulative: 10k, then +90k, then +900k):

1. loads people (mostly in villages, some placed in townships, counties, cities and the
   province itself; a realistic category mix), one submitted attempt each and its final score
   document (scores around 60-70 with per-city, per-category and per-dimension offsets,
   levels from the framework's cut scores, submitted over four weeks) straight into the
   database as the owner, with set-based SQL (loading is not what is measured);
2. rebuilds the assessment's results and rollups through the API (the service's own SQL, a job
   polled to the end), then VACUUM ANALYZE and CHECKPOINT, so that neither autovacuum nor the
   checkpointer is busy with the load while latencies are measured;
3. times `--requests` sequential requests of each of six queries on one keep-alive connection,
   after a warm-up: the subtree aggregate of the whole tenant, the largest city and its largest
   county; the drill-down of the province (11 cities), of that county and of its largest
   township.

Prints load and rebuild times, table sizes and, per query, p50 / p95 / mean / min latency and
the number of rollup rows the view reads (what its cost follows, free of timing noise), then
the ratios of the largest size's figures to the smallest's (the goal: 1,000,000 within 1.5x of
10,000). The whole default run takes about 20 minutes on two cores and some 6 GB of disk. On
DATABASE_URL the tenant and its rows stay in the database afterwards.

    ./dev python bench/aggregates.py [--sizes 10000,100000,1000000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import httpx
import msgspec
import numpy as np
from _harness import COMMON, ROOT, RawConnection, bearer, bench_tenant, ok, running_service
from _history import (
    ABILITY_SD,
    CATEGORIES,
    MEAN,
    NOISE_SD,
    Template,
    check_document,
    housekeeping,
    human_bytes,
    load_people,
    load_sql,
    owner_conn,
    owner_tenant,
    read_template,
)

from service.aggregates import rollups
from service.auth.issue import issue_token

CITIES, COUNTIES, TOWNSHIPS, VILLAGES = 11, 90, 1300, 25_000
# where people are placed: most in villages, some directly in a township, county, city or the province
PLACEMENT = {"village": 0.85, "township": 0.09, "county": 0.04, "city": 0.015, "province": 0.005}
SLOTS = 1 << 18  # people are placed by drawing one of these pre-weighted unit slots


def allocate(total: int, parts: int, rng: random.Random, low: float = 0.5, high: float = 1.5) -> list[int]:
    """`total` split into `parts` positive counts of uneven size that add up exactly."""
    weights = [rng.uniform(low, high) for _ in range(parts)]
    scale = sum(weights)
    counts = [max(1, int(total * w / scale)) for w in weights]
    for i in sorted(range(parts), key=lambda i: -weights[i])[: max(0, total - sum(counts))]:
        counts[i] += 1
    return counts


@dataclass
class Unit:
    id: uuid.UUID
    code: str
    name: str
    level: str
    parent: Unit | None
    path: str
    depth: int
    weight: float  # relative head count of its subtree's people
    offset: float  # added to every score of people placed in its subtree (city and county effects)
    children: list[Unit] = field(default_factory=list)


def build_tree(province_id: uuid.UUID, province_path: str, rng: random.Random) -> list[Unit]:
    """The province (already stored) and 11 cities > 90 counties > 1,300 townships > 25,000 villages."""
    province = Unit(province_id, "P", "Province", "province", None, province_path, 0, 1.0, 0.0)
    units = [province]

    def child(parent: Unit, code: str, name: str, level: str, weight: float, offset: float) -> Unit:
        unit_id = uuid.uuid4()
        unit = Unit(
            unit_id,
            code,
            name,
            level,
            parent,
            f"{parent.path}{unit_id}/",
            parent.depth + 1,
            weight,
            parent.offset + offset,
        )
        parent.children.append(unit)
        units.append(unit)
        return unit

    counties = allocate(COUNTIES, CITIES, rng, 0.6, 1.4)
    townships = iter(allocate(TOWNSHIPS, COUNTIES, rng))
    villages = iter(allocate(VILLAGES, TOWNSHIPS, rng))
    for c in range(CITIES):
        city = child(
            province, f"C{c + 1:02d}", f"City {c + 1}", "city", rng.uniform(0.5, 1.8), rng.gauss(0, 4)
        )
        for k in range(counties[c]):
            county = child(
                city,
                f"{city.code}-{k + 1:02d}",
                f"County {city.code}-{k + 1}",
                "county",
                city.weight * rng.uniform(0.6, 1.4),
                rng.gauss(0, 2),
            )
            for t in range(next(townships)):
                township = child(
                    county,
                    f"{county.code}-{t + 1:02d}",
                    f"Township {county.code}-{t + 1}",
                    "township",
                    county.weight * rng.uniform(0.6, 1.4),
                    rng.gauss(0, 1),
                )
                for v in range(next(villages)):
                    child(
                        township,
                        f"{township.code}-{v + 1:02d}",
                        f"Village {township.code}-{v + 1}",
                        "village",
                        township.weight * rng.lognormvariate(0, 0.45),
                        0.0,
                    )
    return units


def placement_slots(units: list[Unit], rng: random.Random) -> tuple[list[uuid.UUID], list[float]]:
    """SLOTS draws of a unit, each level getting its PLACEMENT share in proportion to unit weights."""
    chosen: list[Unit] = []
    for level, share in PLACEMENT.items():
        candidates = [u for u in units if u.level == level]
        chosen += rng.choices(candidates, [u.weight for u in candidates], k=round(SLOTS * share))
    rng.shuffle(chosen)
    return [u.id for u in chosen], [u.offset for u in chosen]


def subtree_shares(units: list[Unit], slot_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Per unit, the placement slots in its subtree: its expected share of the people."""
    shares = dict.fromkeys((u.id for u in units), 0)
    for unit_id in slot_ids:
        shares[unit_id] += 1
    for unit in reversed(units):  # children come after their parent
        if unit.parent is not None:
            shares[unit.parent.id] += shares[unit.id]
    return shares


def largest(units: list[Unit], shares: dict[uuid.UUID, int]) -> Unit:
    return max(units, key=lambda u: (shares[u.id], u.code))


async def insert_tree(conn: asyncpg.Connection, tenant_id: str, units: list[Unit]) -> None:
    new = [u for u in units if u.parent is not None]
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
        await conn.execute(
            """INSERT INTO org_units (id, code, name, level, parent_id, path, depth)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[],
                                    $7::smallint[])""",
            [u.id for u in new],
            [u.code for u in new],
            [u.name for u in new],
            [u.level for u in new],
            [u.parent.id for u in new if u.parent],
            [u.path for u in new],
            [u.depth for u in new],
        )
    await conn.execute("ANALYZE org_units")


DIM_OFFSETS = {"AK": 3.0, "AA": -2.0, "HMC": -4.0, "ES": 5.0, "AG": -1.0}  # as _history.load_sql; others 0
COPY_BATCH = 100_000  # people per loading transaction


def _level(value: float, cuts: list[tuple[str, float]]) -> str:
    """The engine's rule (as _history.level_sql): the last cut (in list order) at or below the score, else the first."""
    for level, minimum in reversed(cuts):
        if value >= minimum:
            return level
    return cuts[0][0]


def _drawn(
    t: Template,
    slots: tuple[list[uuid.UUID], list[float]],
    anchor: datetime,
    first: int,
    last: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """People first..last drawn as _history.load_sql draws them (the same distributions), vectorised."""
    count = last - first + 1
    names = list(CATEGORIES)
    shares = np.cumsum([CATEGORIES[c][0] for c in names])
    category = np.minimum(np.searchsorted(shares, rng.random(count), side="right"), len(names) - 1)
    slot = rng.integers(0, len(slots[0]), count)
    offsets = np.asarray(slots[1])[slot] + np.asarray([CATEGORIES[c][1] for c in names])[category]
    base = MEAN + offsets + ABILITY_SD * rng.standard_normal(count)
    dims = np.clip(
        base[:, None]
        + np.asarray([DIM_OFFSETS.get(d["code"], 0.0) for d in t.dimensions])[None, :]
        + NOISE_SD * rng.standard_normal((count, len(t.dimensions))),
        0,
        100,
    )
    weights = np.asarray([d["weight"] for d in t.dimensions])
    submitted = anchor.timestamp() - rng.random(count) * 28 * 86400
    started = submitted - (15 + 75 * rng.random(count)) * 60
    return {
        "category": category,
        "slot": slot,
        "dims": np.round(dims, 6),
        "overall": np.round(dims @ weights / weights.sum(), 6),
        "submitted": submitted,
        "started": started,
    }


async def copy_people(
    owner_url: str,
    tenant_id: str,
    assessment_id: uuid.UUID,
    template: Template,
    slots: tuple[list[uuid.UUID], list[float]],
    anchor: datetime,
    first: int,
    last: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """`_history.load_people`'s rows (people first..last, each with one submitted attempt and its final
    score document), drawn in Python and written with COPY: the service's columns and documents, the
    participation tallies its triggers would keep (added set-based per batch, the per-row triggers off
    for the batch's transaction), and the foreign keys checked once afterwards. Needs an owner that
    bypasses row-level security (COPY FROM refuses tables under it otherwise), as the embedded server's
    and a superuser DATABASE_URL are. Returns seconds per step."""
    t = template
    names = list(CATEGORIES)
    form = msgspec.Raw(msgspec.json.encode(t.form))
    overall_weights = msgspec.Raw(msgspec.json.encode(t.overall_weights))
    fixed = [
        (
            d["code"],
            msgspec.Raw(msgspec.json.encode(d["tags"])),
            d["max"],
            d["cuts"],
            msgspec.Raw(msgspec.json.encode(d["weights_used"])),
        )
        for d in t.dimensions
    ]
    provenance = msgspec.Raw(
        msgspec.json.encode(
            {
                "engine_version": "1.0.0",
                "framework": t.framework_code,
                "framework_hash": t.framework_hash,
                "item_versions": {},
                "rating_ids": [],
            }
        )
    )
    empty = msgspec.Raw(b"[]")
    tenant = uuid.UUID(tenant_id)
    seconds = dict.fromkeys(
        ["draw", "people", "attempts", "scores", "tallies", "foreign keys", "analyze"], 0.0
    )
    conn = await owner_conn(owner_url)
    try:
        if not await conn.fetchval(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ):
            raise SystemExit(
                "the COPY loader needs an owner that bypasses row-level security: use --loader sql"
            )
        for start in range(first, last + 1, COPY_BATCH):
            end = min(last, start + COPY_BATCH - 1)
            began = time.perf_counter()
            rng = np.random.default_rng([seed, start])
            d = _drawn(t, slots, anchor, start, end, rng)
            people, attempts, scores = [], [], []
            tallies: dict[tuple[uuid.UUID, str], int] = {}
            for i in range(end - start + 1):
                g = start + i
                person, attempt = uuid.uuid4(), uuid.uuid4()
                unit, category = slots[0][d["slot"][i]], names[d["category"][i]]
                submitted = datetime.fromtimestamp(d["submitted"][i], UTC)
                started = datetime.fromtimestamp(d["started"][i], UTC)
                tallies[(unit, category)] = tallies.get((unit, category), 0) + 1
                people.append((tenant, person, f"bench-{g:07d}", unit, category))
                attempts.append((attempt, person, g, started, submitted, unit, category))
                overall = float(d["overall"][i])
                overall_level = _level(overall, t.overall_cuts)
                dimensions = []
                for (code, tags, most, cuts, weights_used), scaled in zip(
                    fixed, d["dims"][i].tolist(), strict=True
                ):
                    dimensions.append(
                        {
                            "dimension": code,
                            "tags": tags,
                            "raw": round(scaled / 100 * most, 6),
                            "max": most,
                            "scaled": scaled,
                            "level": _level(scaled, cuts),
                            "weights_used": weights_used,
                        }
                    )
                document = {
                    "status": "final",
                    "overall": {"scaled": overall, "level": overall_level, "weights_used": overall_weights},
                    "dimensions": dimensions,
                    "indicators": empty,
                    "items": empty,
                    "omitted": empty,
                    "pending": empty,
                    "provenance": provenance,
                }
                scores.append(
                    (
                        tenant,
                        attempt,
                        1,
                        "final",
                        True,
                        overall,
                        overall_level,
                        document,
                        "benchmark load",
                        "benchmark",
                    )
                )
            seconds["draw"] += time.perf_counter() - began
            async with conn.transaction():
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
                # no per-row triggers (the tallies below, the foreign keys after the load)
                await conn.execute("SET LOCAL session_replication_role = replica")
                for name, table, rows, columns in (
                    (
                        "people",
                        "people",
                        people,
                        ["tenant_id", "id", "external_id", "org_unit_id", "category"],
                    ),
                    (
                        "scores",
                        "scores",
                        scores,
                        [
                            "tenant_id",
                            "attempt_id",
                            "version",
                            "status",
                            "current",
                            "overall_scaled",
                            "overall_level",
                            "document",
                            "reason",
                            "scored_by",
                        ],
                    ),
                ):
                    began = time.perf_counter()
                    await conn.copy_records_to_table(table, records=rows, columns=columns)
                    seconds[name] += time.perf_counter() - began
                began = time.perf_counter()
                # the form (the same for every attempt) parsed once, not once per row as COPY would
                columns = list(zip(*attempts, strict=True))
                await conn.execute(
                    """INSERT INTO attempts (tenant_id, id, assessment_id, person_id, number, status, seed, form,
                                           item_count, started_at, time_limit_seconds, deadline, submitted_at,
                                           submitted_by, org_unit_id, category)
                       SELECT $1, a.id, $2, a.person, 1, 'submitted', a.g, $3::jsonb, $4, a.started, 7200,
                              a.started + interval '2 hours', a.submitted, 'candidate', a.unit, a.category
                       FROM unnest($5::uuid[], $6::uuid[], $7::bigint[], $8::timestamptz[], $9::timestamptz[],
                                   $10::uuid[], $11::text[]) AS a(id, person, g, started, submitted, unit, category)""",
                    tenant,
                    assessment_id,
                    form,
                    len(t.form),
                    *columns,
                )
                seconds["attempts"] += time.perf_counter() - began
                began = time.perf_counter()
                keys = sorted(tallies, key=lambda k: (str(k[0]), k[1]))
                # what people_tally and attempts_tally add for new active people with one submitted attempt
                await conn.execute(
                    """INSERT INTO audience_tallies AS a (org_unit_id, category, people)
                       SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[])
                       ON CONFLICT ON CONSTRAINT audience_tallies_key DO UPDATE SET people = a.people + excluded.people""",
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [tallies[k] for k in keys],
                )
                await conn.execute(
                    """INSERT INTO participation_tallies AS p (assessment_id, org_unit_id, category, started, submitted)
                       SELECT $4, u, c, n, n FROM unnest($1::uuid[], $2::text[], $3::int[]) AS x(u, c, n)
                       ON CONFLICT ON CONSTRAINT participation_tallies_key DO UPDATE
                       SET started = p.started + excluded.started, submitted = p.submitted + excluded.submitted""",
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [tallies[k] for k in keys],
                    assessment_id,
                )
                seconds["tallies"] += time.perf_counter() - began
            if progress is not None:
                progress(end)
        began = time.perf_counter()
        await conn.execute("ANALYZE people, attempts, scores")
        seconds["analyze"] = time.perf_counter() - began
        began = time.perf_counter()
        orphans = await conn.fetchval(
            """SELECT (SELECT count(*) FROM people p
                       LEFT JOIN org_units u ON u.tenant_id = p.tenant_id AND u.id = p.org_unit_id
                       WHERE p.tenant_id = $1 AND p.org_unit_id IS NOT NULL AND u.id IS NULL)
                    + (SELECT count(*) FROM attempts a
                       LEFT JOIN people p ON p.tenant_id = a.tenant_id AND p.id = a.person_id
                       WHERE a.tenant_id = $1 AND p.id IS NULL)
                    + (SELECT count(*) FROM scores s
                       LEFT JOIN attempts a ON a.tenant_id = s.tenant_id AND a.id = s.attempt_id
                       WHERE s.tenant_id = $1 AND a.id IS NULL)""",
            tenant,
        )
        if orphans:
            raise SystemExit(f"the COPY loader left {orphans} rows without their referenced row")
        seconds["foreign keys"] = time.perf_counter() - began
    finally:
        await conn.close()
    return seconds


async def rebuild(http: httpx.AsyncClient, admin: dict[str, str]) -> tuple[float, dict]:  # type: ignore[type-arg]
    began = time.perf_counter()
    job = (
        await ok(http.post("/v1/assessments/bench/aggregate-jobs", params={"kind": "rebuild"}, headers=admin))
    ).json()
    while job["status"] == "running":
        await asyncio.sleep(0.25)
        job = (await ok(http.get(f"/v1/assessments/bench/aggregate-jobs/{job['id']}", headers=admin))).json()
    elapsed = time.perf_counter() - began
    if job["status"] != "done":
        raise SystemExit(f"the rebuild failed: {job['error']}")
    return elapsed, job["result"]


class Query(msgspec.Struct):
    label: str
    path: str
    scope_units: list[
        uuid.UUID
    ]  # the units whose head counts the view reads (path, and each node's children)
    tally_units: list[uuid.UUID]  # the units whose full rollup rows it reads (the unit, and its children)


def query(label: str, path: str, unit: Unit | None, units: list[Unit], drill: bool) -> Query:
    """A view of `unit` (None: the whole tenant) and the units whose rollup rows it reads (views._scope)."""
    if drill and unit is None:
        raise ValueError("a drill-down of the whole tenant is not measured")
    path_units: list[Unit] = []
    node = unit
    while node is not None:
        path_units.insert(0, node)
        node = node.parent
    tops = [u.id for u in units if u.parent is None]
    scope = [rollups.ROOT, *tops, *(u.id for p in path_units for u in [p, *p.children])]
    target = unit.id if unit else rollups.ROOT
    kids = unit.children if unit is not None and drill else []
    return Query(label, path, sorted(set(scope), key=str), [target, *(k.id for k in kids)])


async def rows_read(
    owner_url: str, tenant_id: str, assessment_id: uuid.UUID, queries: list[Query]
) -> dict[str, int]:
    """Rows each unfiltered view reads, as views._scope and views._tallies select them: the per-category
    and per-week head counts of its scope (a compact unit's: its results, person by person), the
    all-categories rows of its targets."""
    async with owner_tenant(owner_url, tenant_id) as conn:
        return {
            view.label: await conn.fetchval(
                """WITH compact AS (SELECT w.unit_id FROM rollups w
                                    WHERE w.assessment_id = $1 AND w.unit_id = ANY($2::uuid[]) AND w.measure = $4
                                      AND w.category = $5 AND w.n <> 0
                                      AND NOT EXISTS (SELECT 1 FROM rollups x WHERE x.assessment_id = $1
                                                      AND x.unit_id = w.unit_id AND x.category <> $5 AND x.n <> 0))
                   SELECT (SELECT count(*) FILTER (WHERE measure = $4 AND unit_id = ANY($2::uuid[]))
                                + count(*) FILTER (WHERE category = $5 AND unit_id = ANY($3::uuid[]))
                           FROM rollups WHERE assessment_id = $1 AND n <> 0
                             AND (unit_id = ANY($2::uuid[]) OR unit_id = ANY($3::uuid[])))
                        + (SELECT count(*) FROM results r JOIN org_units u ON u.id = r.org_unit_id
                           JOIN org_units c ON u.path >= c.path AND u.path < left(c.path, -1) || '0'
                           WHERE r.assessment_id = $1 AND r.attempt_id IS NOT NULL
                             AND c.id IN (SELECT unit_id FROM compact))""",
                assessment_id,
                view.scope_units,
                view.tally_units,
                rollups.OVERALL,
                rollups.ALL_CATEGORIES,
            )
            for view in queries
        }


async def measure(
    service_url: str, admin: dict[str, str], queries: list[Query], requests: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Sequential requests on one keep-alive connection, the queries taken in turn."""
    host, port = service_url.removeprefix("http://").split(":")
    connection = RawConnection(host, int(port))
    timings: dict[str, list[float]] = {view.label: [] for view in queries}
    notes: dict[str, str] = {}
    try:
        for round_ in range(warmup + requests):
            for view in queries:
                began = time.perf_counter()
                status, body = await connection.request("GET", view.path, admin)
                elapsed = time.perf_counter() - began
                if status != 200:
                    raise SystemExit(f"GET {view.path}: HTTP {status}: {body[:500]!r}")
                if round_ >= warmup:
                    timings[view.label].append(elapsed)
                if round_ == 0:
                    data = msgspec.json.decode(body)
                    cell = data.get("cell") or data.get("parent")
                    children = data.get("children")
                    notes[view.label] = (
                        (f"n={cell.get('n') or 0:,}" if not cell["suppressed"] else "suppressed")
                        + (
                            f", {len(children) - 1} children ({sum(c['suppressed'] for c in children)} of "
                            f"{len(children)} cells withheld)"
                            if children is not None
                            else ""
                        )
                        + f", {len(body):,} B"
                    )
    finally:
        connection.close()
    return timings, notes


async def report(
    service_url: str,
    admin: dict[str, str],
    queries: list[Query],
    requests: int,
    warmup: int,
    rows: dict[str, int],
) -> dict[str, list[float]]:
    """Measure the queries and print their latencies and rows read; return the timings."""
    load_before = os.getloadavg()[0]
    timings, notes = await measure(service_url, admin, queries, requests, warmup)
    print(
        f"latency over {requests} requests each (after {warmup} warm-up rounds), ms; "
        f"rows: rollup rows (and a compact unit's results) the view reads; load average {load_before:.1f} "
        f"before, {os.getloadavg()[0]:.1f} after"
    )
    print(f"  {'query':<44} {'p50':>7} {'p95':>7} {'mean':>7} {'min':>7} {'rows':>6}   response")
    for view in queries:
        values = timings[view.label]
        print(
            f"  {view.label:<44} {quantile(values, 50):7.1f} {quantile(values, 95):7.1f} "
            f"{statistics.fmean(values) * 1000:7.1f} {min(values) * 1000:7.1f} "
            f"{rows[view.label]:6,}   {notes[view.label]}",
            flush=True,
        )
    return timings


def quantile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


async def stored_tree(
    conn: asyncpg.Connection, tenant_id: str, rng: random.Random
) -> tuple[uuid.UUID, list[Unit]]:
    """The tree a run with this seed built in `tenant_id` (the same codes; ids read back by code)."""
    top = await conn.fetchrow(
        "SELECT id, path FROM org_units WHERE tenant_id = $1::uuid AND code = 'P'", tenant_id
    )
    assessment_id = await conn.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1::uuid AND code = 'bench'", tenant_id
    )
    ids = {
        r["code"]: (r["id"], r["path"])
        for r in await conn.fetch(
            "SELECT code, id, path FROM org_units WHERE tenant_id = $1::uuid", tenant_id
        )
    }
    units = build_tree(top["id"], top["path"], rng)
    for unit in units:
        unit.id, unit.path = ids[unit.code]
    return assessment_id, units


async def bench_tree(
    conn: asyncpg.Connection, tenant_id: str, rng: random.Random
) -> tuple[uuid.UUID, Template, list[Unit]]:
    """The realistic org tree under the bench tenant's province, inserted as the owner; with the
    'bench' assessment's id and load template."""
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
        # the tenant named: an owner that bypasses row-level security sees every tenant's rows
        top = await conn.fetchrow(
            "SELECT id, path FROM org_units WHERE tenant_id = $1::uuid AND code = 'P'", tenant_id
        )
        assessment_id = await conn.fetchval(
            "SELECT id FROM assessments WHERE tenant_id = $1::uuid AND code = 'bench'", tenant_id
        )
        template = await read_template(conn, assessment_id)
    units = build_tree(top["id"], top["path"], rng)
    await insert_tree(conn, tenant_id, units)
    return assessment_id, template, units


async def run(
    sizes: list[int],
    requests: int,
    warmup: int,
    workers: int,
    seed: int,
    loader: str = "copy",
    reuse: str | None = None,
) -> None:
    began_all = time.perf_counter()
    with running_service(workers=workers, pool_max=4) as service:
        owner_url = service.owner_url()
        async with httpx.AsyncClient(base_url=service.url, timeout=3600) as http:
            assert service.keys is not None
            rng = random.Random(seed)
            if reuse is not None:  # views only, on a tenant an earlier run (same seed) left in DATABASE_URL
                tenant_id = reuse
                admin = bearer(
                    issue_token(
                        service.keys,
                        kind="user",
                        subject="bench-admin",
                        tenant_id=uuid.UUID(reuse),
                        roles=["tenant_admin", "author", "analyst"],
                        **COMMON,
                    )
                )
            else:
                tenant_id, admin, _ = await bench_tenant(http, service.keys, people=0)
            began = time.perf_counter()
            conn = await owner_conn(owner_url)
            try:
                if reuse is not None:
                    assessment_id, units = await stored_tree(conn, tenant_id, rng)
                    async with conn.transaction():
                        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
                        template = await read_template(conn, assessment_id)
                else:
                    assessment_id, template, units = await bench_tree(conn, tenant_id, rng)
                k = await conn.fetchval("SELECT min_group_size FROM tenants WHERE id = $1::uuid", tenant_id)
                levels = {level: sum(u.level == level for u in units) for level in PLACEMENT}
                print(
                    f"org tree: {', '.join(f'{n:,} {level}' for level, n in levels.items())} "
                    f"({len(units):,} units) in {time.perf_counter() - began:.1f} s; framework "
                    f"{template.framework_code}, {len(template.dimensions)} dimensions "
                    f"({', '.join(d['code'] for d in template.dimensions)}), {len(template.form)}-item form, "
                    f"privacy threshold k={k}",
                    flush=True,
                )
            finally:
                await conn.close()

            slots = placement_slots(units, rng)
            shares = subtree_shares(units, slots[0])
            city = largest([u for u in units if u.level == "city"], shares)
            county = largest(city.children, shares)
            township = largest(county.children, shares)
            base = "/v1/assessments/bench/aggregates"
            province = units[0]
            queries = [
                query("subtree   whole tenant", base, None, units, False),
                query(f"subtree   city {city.code}", f"{base}?unit={city.code}", city, units, False),
                query(f"subtree   county {county.code}", f"{base}?unit={county.code}", county, units, False),
                query(
                    f"drill-down province P ({len(province.children)} cities)",
                    f"{base}/children?unit=P",
                    province,
                    units,
                    True,
                ),
                query(
                    f"drill-down county {county.code} ({len(county.children)} townships)",
                    f"{base}/children?unit={county.code}",
                    county,
                    units,
                    True,
                ),
                query(
                    f"drill-down township {township.code} ({len(township.children)} villages)",
                    f"{base}/children?unit={township.code}",
                    township,
                    units,
                    True,
                ),
            ]
            statements = load_sql(template)
            anchor = datetime.now(UTC)
            results: dict[int, dict[str, list[float]]] = {}
            rows: dict[int, dict[str, int]] = {}
            loaded = 0
            for size in sizes:
                print(f"\n=== {size:,} scored attempts ===", flush=True)
                if reuse is not None:
                    rows[size] = await rows_read(owner_url, tenant_id, assessment_id, queries)
                    results[size] = await report(service.url, admin, queries, requests, warmup, rows[size])
                    continue
                began = time.perf_counter()
                if loader == "copy":
                    phases = await copy_people(
                        owner_url, tenant_id, assessment_id, template, slots, anchor, loaded + 1, size, seed
                    )
                else:
                    phases = await load_people(
                        owner_url, tenant_id, assessment_id, statements, slots, anchor, loaded + 1, size, seed
                    )
                load_seconds = time.perf_counter() - began
                print(
                    f"load: +{size - loaded:,} people, attempts and final scores in {load_seconds:.1f} s "
                    f"({(size - loaded) / load_seconds:,.0f}/s; "
                    + ", ".join(f"{name} {s:.1f} s" for name, s in phases.items())
                    + ")",
                    flush=True,
                )
                loaded = size
                if size == sizes[0]:
                    await check_document(owner_url, tenant_id)

                rebuild_seconds, outcome = await rebuild(http, admin)
                written = {
                    k: v for k, v in outcome.items() if k.endswith(("_deleted", "_updated", "_inserted"))
                }
                print(
                    f"rebuild (API job): {rebuild_seconds:.1f} s; {outcome['results']:,} results, "
                    f"{outcome['rollup_rows']:,} rollup rows; rows written: "
                    + ", ".join(f"{k} {v:,}" for k, v in written.items()),
                    flush=True,
                )
                sizes_now, vacuum_seconds = await housekeeping(
                    owner_url, ("results", "rollups", "scores", "attempts", "people")
                )
                print(
                    f"VACUUM ANALYZE and CHECKPOINT: {vacuum_seconds:.1f} s; on disk (with indexes): "
                    + ", ".join(f"{name} {human_bytes(b)}" for name, b in sizes_now.items()),
                    flush=True,
                )

                rows[size] = await rows_read(owner_url, tenant_id, assessment_id, queries)
                results[size] = await report(service.url, admin, queries, requests, warmup, rows[size])

            if len(sizes) > 1:
                small, large = sizes[0], sizes[-1]
                print(f"\nratio {large:,} / {small:,} (goal: at most 1.5x)")
                print(f"  {'query':<44} {'p50':>7} {'p95':>7} {'mean':>7} {'min':>7} {'rows':>7}")
                for view in queries:
                    a, b = results[small][view.label], results[large][view.label]
                    print(
                        f"  {view.label:<44} {quantile(b, 50) / quantile(a, 50):6.2f}x "
                        f"{quantile(b, 95) / quantile(a, 95):6.2f}x "
                        f"{statistics.fmean(b) / statistics.fmean(a):6.2f}x {min(b) / min(a):6.2f}x "
                        f"{rows[large][view.label] / max(1, rows[small][view.label]):6.2f}x"
                    )
    print(f"\ntotal wall time {time.perf_counter() - began_all:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="cumulative numbers of scored attempts, increasing (default: 10000,100000,1000000)",
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests per query and size")
    parser.add_argument("--warmup", type=int, default=20, help="untimed rounds of every query first")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--reuse-tenant",
        metavar="TENANT_ID",
        help="measure the views only, on a tenant an earlier run with the same --seed left in DATABASE_URL "
        "(with --sizes naming the size it holds)",
    )
    parser.add_argument(
        "--loader",
        choices=("copy", "sql"),
        default="copy",
        help="copy: rows drawn in Python and COPYed (needs an owner that bypasses row-level security); "
        "sql: _history.load_people's set-based INSERTs",
    )
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if not sizes or any(b <= a for a, b in itertools.pairwise(sizes)) or sizes[0] < 1:
        parser.error("--sizes must be increasing positive numbers")
    if args.requests < 2:
        parser.error("--requests must be at least 2")
    print(f"(repository {ROOT})")
    asyncio.run(
        run(sizes, args.requests, args.warmup, args.workers, args.seed, args.loader, args.reuse_tenant)
    )


if __name__ == "__main__":
    main()
