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
import json
import os
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import httpx
import msgspec
from _harness import ROOT, RawConnection, bench_tenant, ok, running_service

from service.aggregates import rollups
from service.db.embedded import start_embedded
from service.db.pool import _init_connection
from service.items.model import Item
from service.rubrics.model import FrameworkContent
from service.scoring.engine import ScoredItem, ScoreDocument, ScoringInput, score

CITIES, COUNTIES, TOWNSHIPS, VILLAGES = 11, 90, 1300, 25_000
# where people are placed: most in villages, some directly in a township, county, city or the province
PLACEMENT = {"village": 0.85, "township": 0.09, "county": 0.04, "city": 0.015, "province": 0.005}
CATEGORIES = {"civil_servant": (0.45, 0.0), "teacher": (0.22, 1.0), "professional_technical": (0.15, 2.0),
              "leading_cadre": (0.08, 3.0), "other": (0.07, -3.0), "unspecified": (0.03, -1.0)}  # share, offset
MEAN, ABILITY_SD, NOISE_SD = 64.0, 10.0, 7.0  # scaled score = MEAN + offsets + ability + per-dimension noise
SLOTS = 1 << 18  # people are placed by drawing one of these pre-weighted unit slots
BATCH = 100_000  # people per loading transaction


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


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
        unit = Unit(unit_id, code, name, level, parent, f"{parent.path}{unit_id}/", parent.depth + 1, weight,
                    parent.offset + offset)
        parent.children.append(unit)
        units.append(unit)
        return unit

    counties = allocate(COUNTIES, CITIES, rng, 0.6, 1.4)
    townships = iter(allocate(TOWNSHIPS, COUNTIES, rng))
    villages = iter(allocate(VILLAGES, TOWNSHIPS, rng))
    for c in range(CITIES):
        city = child(province, f"C{c + 1:02d}", f"City {c + 1}", "city", rng.uniform(0.5, 1.8), rng.gauss(0, 4))
        for k in range(counties[c]):
            county = child(city, f"{city.code}-{k + 1:02d}", f"County {city.code}-{k + 1}", "county",
                           city.weight * rng.uniform(0.6, 1.4), rng.gauss(0, 2))
            for t in range(next(townships)):
                township = child(county, f"{county.code}-{t + 1:02d}", f"Township {county.code}-{t + 1}",
                                 "township", county.weight * rng.uniform(0.6, 1.4), rng.gauss(0, 1))
                for v in range(next(villages)):
                    child(township, f"{township.code}-{v + 1:02d}", f"Village {township.code}-{v + 1}", "village",
                          township.weight * rng.lognormvariate(0, 0.45), 0.0)
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


class Template(msgspec.Struct):
    """What every generated score document shares, taken from a real scoring of the assessment's form."""

    framework_code: str
    framework_hash: str
    dimensions: list[dict]  # type: ignore[type-arg]  # code, tags, max, weights_used, cuts, weight
    overall_weights: dict[str, float]
    overall_cuts: list[tuple[str, float]]
    form: list[dict]  # type: ignore[type-arg]


async def read_template(conn: asyncpg.Connection, assessment_id: uuid.UUID) -> Template:
    row = await conn.fetchrow(
        """SELECT v.content, v.content_hash FROM assessments a
           JOIN frameworks f ON f.tenant_id = a.tenant_id AND f.code = a.content->'framework'->>'code'
           JOIN framework_versions v ON v.tenant_id = f.tenant_id AND v.framework_id = f.id
                AND v.version = (a.content->'framework'->>'version')::int
           WHERE a.id = $1""", assessment_id)
    framework = msgspec.convert(row["content"], FrameworkContent)
    codes = [i["code"] for s in (await conn.fetchval("SELECT content FROM assessments WHERE id = $1",
                                                     assessment_id))["sections"] for i in s["items"]]
    versions = {r["code"]: (r["version"], r["content"]) for r in await conn.fetch(
        """SELECT i.code, v.version, v.content FROM items i JOIN item_versions v
             ON v.tenant_id = i.tenant_id AND v.item_id = i.id AND v.version = i.latest_version
           WHERE i.code = ANY($1::text[])""", codes)}
    items = [ScoredItem(versions[c][0], msgspec.convert(versions[c][1], Item))  # type: ignore[arg-type]
             for c in sorted(codes)]
    # every item omitted: each dimension is measured, with its max (possible points) and weights as scored
    document = score(ScoringInput(framework, row["content_hash"], items, {}))
    cuts = framework.cut_scores
    weights = {d.code: d.weight for d in framework.dimensions}
    dimensions = [{"code": d.dimension, "tags": d.tags, "max": d.max, "weights_used": d.weights_used,
                   "weight": weights[d.dimension],
                   "cuts": [(c.level, c.min_score) for c in cuts.dimensions.get(d.dimension, cuts.overall)]}
                  for d in document.dimensions if d.dimension in weights]  # top-level dimensions
    form = [{"section": "all", "code": c, "version": versions[c][0], "option_order": None} for c in sorted(codes)]
    return Template(framework.code, row["content_hash"], dimensions, document.overall.weights_used,
                    [(c.level, c.min_score) for c in cuts.overall], form)


def level_sql(value: str, cuts: list[tuple[str, float]]) -> str:
    """The engine's rule: the last cut (in list order) at or below the score, else the first."""
    whens = " ".join(f"WHEN {value} >= {minimum!r} THEN {lit(level)}" for level, minimum in reversed(cuts))
    return f"CASE {whens} ELSE {lit(cuts[0][0])} END"


def load_sql(t: Template) -> tuple[str, str, str, str]:
    """The batch's statements: draw people into a temporary table, then people, attempts, scores."""
    dim_offsets = {"AK": 3.0, "AA": -2.0, "HMC": -4.0, "ES": 5.0, "AG": -1.0}  # unknown codes: 0
    normal = "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"
    share, category_case, offset_case = 0.0, [], []
    for name, (part, offset) in CATEGORIES.items():
        share += part
        category_case.append(f"WHEN rc < {share!r} THEN {lit(name)}")
        offset_case.append(f"WHEN {lit(name)} THEN {offset!r}")
    dims = ", ".join(f"least(100, greatest(0, base + {dim_offsets.get(d['code'], 0.0)!r} + {NOISE_SD!r} * {normal}))"
                     for d in t.dimensions)
    draw = f"""
        CREATE TEMP TABLE bench_new ON COMMIT DROP AS
        SELECT g, gen_random_uuid() AS person_id, gen_random_uuid() AS attempt_id, unit_id, category, submitted_at,
               submitted_at - (15 + 75 * random()) * interval '1 minute' AS started_at, ARRAY[{dims}] AS dims
        FROM (SELECT g, unit_id, category, submitted_at,
                     {MEAN!r} + unit_offset + CASE category {' '.join(offset_case)} ELSE 0 END
                     + {ABILITY_SD!r} * ability AS base
              FROM (SELECT g, ($4::uuid[])[slot] AS unit_id, ($5::float8[])[slot] AS unit_offset,
                           CASE {' '.join(category_case)} ELSE 'unspecified' END AS category,
                           $6::timestamptz - random() * interval '28 days' AS submitted_at, ability
                    FROM (SELECT g, 1 + floor(random() * $3)::int AS slot, random() AS rc, {normal} AS ability
                          FROM generate_series($1::int, $2::int) AS g) AS drawn) AS placed) AS based"""
    people = """INSERT INTO people (id, external_id, org_unit_id, category)
                SELECT person_id, 'bench-' || lpad(g::text, 7, '0'), unit_id, category FROM bench_new"""
    attempts = f"""
        INSERT INTO attempts (id, assessment_id, person_id, number, status, seed, form, item_count, started_at,
                              time_limit_seconds, deadline, submitted_at, submitted_by, org_unit_id, category)
        SELECT attempt_id, $1, person_id, 1, 'submitted', g, {lit(json.dumps(t.form))}::jsonb, {len(t.form)},
               started_at, 7200, started_at + interval '2 hours', submitted_at, 'candidate', unit_id, category
        FROM bench_new"""
    total_weight = sum(d["weight"] for d in t.dimensions)
    overall = " + ".join(f"{d['weight']!r} * dims[{i + 1}]" for i, d in enumerate(t.dimensions))
    rounded = ", ".join(f"round(dims[{i + 1}]::numeric, 6)::float8 AS r{i}" for i in range(len(t.dimensions)))
    dimension_objects = ", ".join(
        f"""jsonb_build_object('dimension', {lit(d['code'])}, 'tags', {lit(json.dumps(d['tags']))}::jsonb,
                               'raw', round((r{i} / 100 * {d['max']!r})::numeric, 6)::float8, 'max', {d['max']!r},
                               'scaled', r{i}, 'level', {level_sql(f'r{i}', d['cuts'])},
                               'weights_used', {lit(json.dumps(d['weights_used']))}::jsonb)"""
        for i, d in enumerate(t.dimensions))
    provenance = {"engine_version": "1.0.0", "framework": t.framework_code, "framework_hash": t.framework_hash,
                  "item_versions": {}, "rating_ids": []}
    scores = f"""
        INSERT INTO scores (attempt_id, version, status, current, overall_scaled, overall_level, document, reason,
                            scored_by)
        SELECT attempt_id, 1, 'final', true, o, ol, jsonb_build_object(
                   'status', 'final',
                   'overall', jsonb_build_object('scaled', o, 'level', ol,
                                                 'weights_used', {lit(json.dumps(t.overall_weights))}::jsonb),
                   'dimensions', jsonb_build_array({dimension_objects}),
                   'indicators', '[]'::jsonb, 'items', '[]'::jsonb, 'omitted', '[]'::jsonb, 'pending', '[]'::jsonb,
                   'provenance', {lit(json.dumps(provenance))}::jsonb),
               'benchmark load', 'benchmark'
        FROM (SELECT *, {level_sql('o', t.overall_cuts)} AS ol
              FROM (SELECT attempt_id, {rounded},
                           round((({overall}) / {total_weight!r})::numeric, 6)::float8 AS o
                    FROM bench_new) AS r) AS l"""
    return draw, people, attempts, scores


async def owner_conn(owner_url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(owner_url, server_settings={"application_name": "assess-benchmark"})
    await _init_connection(conn)
    return conn


async def load_people(owner_url: str, tenant_id: str, assessment_id: uuid.UUID, statements: tuple[str, ...],
                      slots: tuple[list[uuid.UUID], list[float]], anchor: datetime, first: int, last: int,
                      seed: int) -> dict[str, float]:
    """People first..last (1-based), each with one submitted attempt and its final score, in batches."""
    draw, people, attempts, scores = statements
    seconds = {"draw": 0.0, "people": 0.0, "attempts": 0.0, "scores": 0.0, "analyze": 0.0}
    conn = await owner_conn(owner_url)
    try:
        for start in range(first, last + 1, BATCH):
            end = min(last, start + BATCH - 1)
            async with conn.transaction():
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
                await conn.execute("SELECT setseed($1)", ((seed * 7919 + start) % 1_000_003) / 1_000_003)
                for name, sql, args in (("draw", draw, (start, end, SLOTS, *slots, anchor)),
                                        ("people", people, ()), ("attempts", attempts, (assessment_id,)),
                                        ("scores", scores, ())):
                    began = time.perf_counter()
                    await conn.execute(sql, *args)
                    seconds[name] += time.perf_counter() - began
        began = time.perf_counter()
        await conn.execute("ANALYZE people, attempts, scores")
        seconds["analyze"] = time.perf_counter() - began
    finally:
        await conn.close()
    return seconds


async def insert_tree(conn: asyncpg.Connection, tenant_id: str, units: list[Unit]) -> None:
    new = [u for u in units if u.parent is not None]
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
        await conn.execute(
            """INSERT INTO org_units (id, code, name, level, parent_id, path, depth)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[],
                                    $7::smallint[])""",
            [u.id for u in new], [u.code for u in new], [u.name for u in new], [u.level for u in new],
            [u.parent.id for u in new if u.parent], [u.path for u in new], [u.depth for u in new])
    await conn.execute("ANALYZE org_units")


async def rebuild(http: httpx.AsyncClient, admin: dict[str, str]) -> tuple[float, dict]:  # type: ignore[type-arg]
    began = time.perf_counter()
    job = (await ok(http.post("/v1/assessments/bench/aggregate-jobs", params={"kind": "rebuild"},
                              headers=admin))).json()
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
    scope_units: list[uuid.UUID]  # the units whose head counts the view reads (path, and each node's children)
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


async def rows_read(owner_url: str, tenant_id: str, assessment_id: uuid.UUID, queries: list[Query]) -> dict[str, int]:
    """Rollup rows each unfiltered view reads, as views._scope and views._tallies select them: the
    per-category and per-week head counts of its scope, the all-categories rows of its targets."""
    conn = await owner_conn(owner_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
            return {view.label: await conn.fetchval(
                """SELECT count(*) FILTER (WHERE measure = $4 AND category <> $5 AND unit_id = ANY($2::uuid[]))
                          + count(*) FILTER (WHERE category = $5 AND unit_id = ANY($3::uuid[]))
                   FROM rollups WHERE assessment_id = $1 AND n <> 0
                    AND (unit_id = ANY($2::uuid[]) OR unit_id = ANY($3::uuid[]))""",
                assessment_id, view.scope_units, view.tally_units, rollups.OVERALL, rollups.ALL_CATEGORIES)
                for view in queries}
    finally:
        await conn.close()


async def measure(service_url: str, admin: dict[str, str], queries: list[Query], requests: int, warmup: int
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
                    notes[view.label] = (f"n={cell.get('n') or 0:,}" if not cell["suppressed"] else "suppressed") + (
                        f", {len(children) - 1} children ({sum(c['suppressed'] for c in children)} of "
                        f"{len(children)} cells withheld)" if children is not None else "") + f", {len(body):,} B"
    finally:
        connection.close()
    return timings, notes


def quantile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


def human_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


async def run(sizes: list[int], requests: int, warmup: int, workers: int, seed: int) -> None:
    began_all = time.perf_counter()
    with running_service(workers=workers, pool_max=4) as service:
        owner_url = os.environ.get("DATABASE_URL") or start_embedded(service.data_dir)
        async with httpx.AsyncClient(base_url=service.url, timeout=3600) as http:
            assert service.keys is not None
            tenant_id, admin, _ = await bench_tenant(http, service.keys, people=0)
            conn = await owner_conn(owner_url)
            try:
                async with conn.transaction():
                    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
                    top = await conn.fetchrow("SELECT id, path FROM org_units WHERE code = 'P'")
                    assessment_id = await conn.fetchval("SELECT id FROM assessments WHERE code = 'bench'")
                    template = await read_template(conn, assessment_id)
                    k = await conn.fetchval("SELECT min_group_size FROM tenants WHERE id = $1::uuid", tenant_id)
                rng = random.Random(seed)
                began = time.perf_counter()
                units = build_tree(top["id"], top["path"], rng)
                await insert_tree(conn, tenant_id, units)
                levels = {level: sum(u.level == level for u in units) for level in PLACEMENT}
                print(f"org tree: {', '.join(f'{n:,} {level}' for level, n in levels.items())} "
                      f"({len(units):,} units) in {time.perf_counter() - began:.1f} s; framework "
                      f"{template.framework_code}, {len(template.dimensions)} dimensions "
                      f"({', '.join(d['code'] for d in template.dimensions)}), {len(template.form)}-item form, "
                      f"privacy threshold k={k}", flush=True)
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
                query(f"drill-down province P ({len(province.children)} cities)", f"{base}/children?unit=P",
                      province, units, True),
                query(f"drill-down county {county.code} ({len(county.children)} townships)",
                      f"{base}/children?unit={county.code}", county, units, True),
                query(f"drill-down township {township.code} ({len(township.children)} villages)",
                      f"{base}/children?unit={township.code}", township, units, True),
            ]
            statements = load_sql(template)
            anchor = datetime.now(UTC)
            results: dict[int, dict[str, list[float]]] = {}
            rows: dict[int, dict[str, int]] = {}
            loaded = 0
            for size in sizes:
                print(f"\n=== {size:,} scored attempts ===", flush=True)
                began = time.perf_counter()
                phases = await load_people(owner_url, tenant_id, assessment_id, statements, slots, anchor,
                                           loaded + 1, size, seed)
                load_seconds = time.perf_counter() - began
                print(f"load: +{size - loaded:,} people, attempts and final scores in {load_seconds:.1f} s "
                      f"({(size - loaded) / load_seconds:,.0f}/s; "
                      + ", ".join(f"{name} {s:.1f} s" for name, s in phases.items()) + ")", flush=True)
                loaded = size
                if size == sizes[0]:
                    await check_document(owner_url, tenant_id)

                rebuild_seconds, outcome = await rebuild(http, admin)
                print(f"rebuild (API job): {rebuild_seconds:.1f} s; {outcome['results']:,} results, "
                      f"{outcome['rollup_rows']:,} rollup rows", flush=True)
                sizes_now, vacuum_seconds = await housekeeping(owner_url)
                print(f"VACUUM ANALYZE and CHECKPOINT: {vacuum_seconds:.1f} s; on disk (with indexes): "
                      + ", ".join(f"{name} {human_bytes(b)}" for name, b in sizes_now.items()), flush=True)

                rows[size] = await rows_read(owner_url, tenant_id, assessment_id, queries)
                load_before = os.getloadavg()[0]
                timings, notes = await measure(service.url, admin, queries, requests, warmup)
                results[size] = timings
                print(f"latency over {requests} requests each (after {warmup} warm-up rounds), ms; "
                      f"rows: rollup rows the view reads; load average {load_before:.1f} before, "
                      f"{os.getloadavg()[0]:.1f} after")
                print(f"  {'query':<44} {'p50':>7} {'p95':>7} {'mean':>7} {'min':>7} {'rows':>6}   response")
                for view in queries:
                    values = timings[view.label]
                    print(f"  {view.label:<44} {quantile(values, 50):7.1f} {quantile(values, 95):7.1f} "
                          f"{statistics.fmean(values) * 1000:7.1f} {min(values) * 1000:7.1f} "
                          f"{rows[size][view.label]:6,}   {notes[view.label]}", flush=True)

            if len(sizes) > 1:
                small, large = sizes[0], sizes[-1]
                print(f"\nratio {large:,} / {small:,} (goal: at most 1.5x)")
                print(f"  {'query':<44} {'p50':>7} {'p95':>7} {'mean':>7} {'min':>7} {'rows':>7}")
                for view in queries:
                    a, b = results[small][view.label], results[large][view.label]
                    print(f"  {view.label:<44} {quantile(b, 50) / quantile(a, 50):6.2f}x "
                          f"{quantile(b, 95) / quantile(a, 95):6.2f}x "
                          f"{statistics.fmean(b) / statistics.fmean(a):6.2f}x {min(b) / min(a):6.2f}x "
                          f"{rows[large][view.label] / max(1, rows[small][view.label]):6.2f}x")
    print(f"\ntotal wall time {time.perf_counter() - began_all:.0f} s", flush=True)


async def check_document(owner_url: str, tenant_id: str) -> None:
    """A loaded score document decodes strictly as the engine's ScoreDocument."""
    conn = await owner_conn(owner_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
            text = await conn.fetchval("SELECT document::text FROM scores WHERE reason = 'benchmark load' LIMIT 1")
        msgspec.json.decode(text, type=ScoreDocument, strict=True)
    finally:
        await conn.close()


async def housekeeping(owner_url: str) -> tuple[dict[str, int], float]:
    """What autovacuum and the checkpointer would otherwise do while latencies are measured."""
    conn = await asyncpg.connect(owner_url)
    try:
        began = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        try:
            await conn.execute("CHECKPOINT")
        except asyncpg.InsufficientPrivilegeError:
            pass  # an owner that is neither superuser nor pg_checkpoint: the checkpointer will get to it
        seconds = time.perf_counter() - began
        sizes = {name: await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name)
                 for name in ("results", "rollups", "scores", "attempts", "people")}
        sizes["database"] = await conn.fetchval("SELECT pg_database_size(current_database())")
        return sizes, seconds
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="cumulative numbers of scored attempts, increasing (default: 10000,100000,1000000)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per query and size")
    parser.add_argument("--warmup", type=int, default=20, help="untimed rounds of every query first")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if not sizes or any(b <= a for a, b in itertools.pairwise(sizes)) or sizes[0] < 1:
        parser.error("--sizes must be increasing positive numbers")
    if args.requests < 2:
        parser.error("--requests must be at least 2")
    print(f"(repository {ROOT})")
    asyncio.run(run(sizes, args.requests, args.warmup, args.workers, args.seed))


if __name__ == "__main__":
    main()
