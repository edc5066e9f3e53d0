"""Finished history, loaded straight into a tenant as its owner with set-based SQL (loading is not what
a benchmark measures): people, each with one submitted attempt of the tenant's assessment and its final
score document (scores around 60-70 with per-unit, per-category and per-dimension offsets, levels from
the framework's cut scores, submitted over four weeks), and optionally the attempt's saved answers.

Shared by bench/aggregates.py (people placed in an org tree) and bench/saves.py (answers too).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
import msgspec

from service.db.pool import _init_connection
from service.items.model import Item
from service.rubrics.model import FrameworkContent
from service.scoring.engine import ScoredItem, ScoreDocument, ScoringInput, score

CATEGORIES = {
    "civil_servant": (0.45, 0.0),
    "teacher": (0.22, 1.0),
    "professional_technical": (0.15, 2.0),
    "leading_cadre": (0.08, 3.0),
    "other": (0.07, -3.0),
    "unspecified": (0.03, -1.0),
}  # share, offset
MEAN, ABILITY_SD, NOISE_SD = 64.0, 10.0, 7.0  # scaled score = MEAN + offsets + ability + per-dimension noise
BATCH = 100_000  # people per loading transaction


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


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
           WHERE a.id = $1""",
        assessment_id,
    )
    framework = msgspec.convert(row["content"], FrameworkContent)
    codes = [
        i["code"]
        for s in (await conn.fetchval("SELECT content FROM assessments WHERE id = $1", assessment_id))[
            "sections"
        ]
        for i in s["items"]
    ]
    versions = {
        r["code"]: (r["version"], r["content"])
        for r in await conn.fetch(
            """SELECT i.code, v.version, v.content FROM items i JOIN item_versions v
             ON v.tenant_id = i.tenant_id AND v.item_id = i.id AND v.version = i.latest_version
           WHERE i.code = ANY($1::text[])""",
            codes,
        )
    }
    items = [
        ScoredItem(versions[c][0], msgspec.convert(versions[c][1], Item))  # type: ignore[arg-type]
        for c in sorted(codes)
    ]
    # every item omitted: each dimension is measured, with its max (possible points) and weights as scored
    document = score(ScoringInput(framework, row["content_hash"], items, {}))
    cuts = framework.cut_scores
    weights = {d.code: d.weight for d in framework.dimensions}
    dimensions = [
        {
            "code": d.dimension,
            "tags": d.tags,
            "max": d.max,
            "weights_used": d.weights_used,
            "weight": weights[d.dimension],
            "cuts": [(c.level, c.min_score) for c in cuts.dimensions.get(d.dimension, cuts.overall)],
        }
        for d in document.dimensions
        if d.dimension in weights
    ]  # top-level dimensions
    form = [
        {"section": "all", "code": c, "version": versions[c][0], "option_order": None} for c in sorted(codes)
    ]
    return Template(
        framework.code,
        row["content_hash"],
        dimensions,
        document.overall.weights_used,
        [(c.level, c.min_score) for c in cuts.overall],
        form,
    )


def level_sql(value: str, cuts: list[tuple[str, float]]) -> str:
    """The engine's rule: the last cut (in list order) at or below the score, else the first."""
    whens = " ".join(f"WHEN {value} >= {minimum!r} THEN {lit(level)}" for level, minimum in reversed(cuts))
    return f"CASE {whens} ELSE {lit(cuts[0][0])} END"


def load_sql(t: Template, answers: list[tuple[str, object]] | None = None) -> dict[str, str]:
    """The batch's statements, in order: draw people into a temporary table, then people, attempts,
    scores and, given `answers` ((item ref, answer) of the form, as a candidate saves them), every
    attempt's saved answers (revisions 1-3, saved between its start and its submission)."""
    dim_offsets = {"AK": 3.0, "AA": -2.0, "HMC": -4.0, "ES": 5.0, "AG": -1.0}  # unknown codes: 0
    normal = "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"
    share, category_case, offset_case = 0.0, [], []
    for name, (part, offset) in CATEGORIES.items():
        share += part
        category_case.append(f"WHEN rc < {share!r} THEN {lit(name)}")
        offset_case.append(f"WHEN {lit(name)} THEN {offset!r}")
    dims = ", ".join(
        f"least(100, greatest(0, base + {dim_offsets.get(d['code'], 0.0)!r} + {NOISE_SD!r} * {normal}))"
        for d in t.dimensions
    )
    draw = f"""
        CREATE TEMP TABLE bench_new ON COMMIT DROP AS
        SELECT g, gen_random_uuid() AS person_id, gen_random_uuid() AS attempt_id, unit_id, category, submitted_at,
               submitted_at - (15 + 75 * random()) * interval '1 minute' AS started_at, ARRAY[{dims}] AS dims
        FROM (SELECT g, unit_id, category, submitted_at,
                     {MEAN!r} + unit_offset + CASE category {" ".join(offset_case)} ELSE 0 END
                     + {ABILITY_SD!r} * ability AS base
              FROM (SELECT g, ($4::uuid[])[slot] AS unit_id, ($5::float8[])[slot] AS unit_offset,
                           CASE {" ".join(category_case)} ELSE 'unspecified' END AS category,
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
        f"""jsonb_build_object('dimension', {lit(d["code"])}, 'tags', {lit(json.dumps(d["tags"]))}::jsonb,
                               'raw', round((r{i} / 100 * {d["max"]!r})::numeric, 6)::float8, 'max', {d["max"]!r},
                               'scaled', r{i}, 'level', {level_sql(f"r{i}", d["cuts"])},
                               'weights_used', {lit(json.dumps(d["weights_used"]))}::jsonb)"""
        for i, d in enumerate(t.dimensions)
    )
    provenance = {
        "engine_version": "1.0.0",
        "framework": t.framework_code,
        "framework_hash": t.framework_hash,
        "item_versions": {},
        "rating_ids": [],
    }
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
        FROM (SELECT *, {level_sql("o", t.overall_cuts)} AS ol
              FROM (SELECT attempt_id, {rounded},
                           round((({overall}) / {total_weight!r})::numeric, 6)::float8 AS o
                    FROM bench_new) AS r) AS l"""
    statements = {"draw": draw, "people": people, "attempts": attempts, "scores": scores}
    if answers:
        rows = [{"n": n, "ref": ref, "answer": answer} for n, (ref, answer) in enumerate(answers)]
        statements["answers"] = f"""
            INSERT INTO responses (attempt_id, item_ref, answer, revision, saved_at)
            SELECT b.attempt_id, f.ref, f.answer, 1 + (b.g + f.n) % 3,
                   b.started_at + (b.submitted_at - b.started_at) * (f.n + 1) / {len(rows) + 1}
            FROM bench_new b CROSS JOIN jsonb_to_recordset({lit(json.dumps(rows))}::jsonb)
                 AS f(n int, ref text, answer jsonb)"""
    return statements


async def owner_conn(owner_url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(owner_url, server_settings={"application_name": "assess-benchmark"})
    await _init_connection(conn)
    return conn


@asynccontextmanager
async def owner_tenant(owner_url: str, tenant_id: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the owner, in one transaction that sees `tenant_id`'s rows (row-level security is
    forced on the owner too)."""
    conn = await owner_conn(owner_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
            yield conn
    finally:
        await conn.close()


async def load_people(
    owner_url: str,
    tenant_id: str,
    assessment_id: uuid.UUID,
    statements: dict[str, str],
    slots: tuple[list[uuid.UUID], list[float]],
    anchor: datetime,
    first: int,
    last: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """People first..last (1-based), each with one submitted attempt and its final score (and answers,
    if `statements` has them), in batches; returns the seconds spent per statement. Each person is
    placed in a unit drawn from `slots` (unit ids and their score offsets, repeated as weighted);
    `progress` is told the last person loaded after each batch."""
    arguments: dict[str, tuple[object, ...]] = {"attempts": (assessment_id,)}
    seconds = dict.fromkeys([*statements, "analyze"], 0.0)
    conn = await owner_conn(owner_url)
    try:
        for start in range(first, last + 1, BATCH):
            end = min(last, start + BATCH - 1)
            arguments["draw"] = (start, end, len(slots[0]), *slots, anchor)
            async with conn.transaction():
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
                await conn.execute("SELECT setseed($1)", ((seed * 7919 + start) % 1_000_003) / 1_000_003)
                for name, sql in statements.items():
                    began = time.perf_counter()
                    await conn.execute(sql, *arguments.get(name, ()))
                    seconds[name] += time.perf_counter() - began
            if progress is not None:
                progress(end)
        began = time.perf_counter()
        await conn.execute(
            "ANALYZE people, attempts, scores" + (", responses" if "answers" in statements else "")
        )
        seconds["analyze"] = time.perf_counter() - began
    finally:
        await conn.close()
    return seconds


async def check_document(owner_url: str, tenant_id: str) -> None:
    """A loaded score document decodes strictly as the engine's ScoreDocument."""
    async with owner_tenant(owner_url, tenant_id) as conn:
        text = await conn.fetchval(
            "SELECT document::text FROM scores WHERE reason = 'benchmark load' LIMIT 1"
        )
    msgspec.json.decode(text, type=ScoreDocument, strict=True)


async def housekeeping(owner_url: str, tables: tuple[str, ...]) -> tuple[dict[str, int], float]:
    """What autovacuum and the checkpointer would otherwise do while latencies are measured; returns the
    on-disk sizes (with indexes) of `tables` and of the database, and the seconds it took."""
    conn = await asyncpg.connect(owner_url)
    try:
        began = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        # an owner that is neither superuser nor pg_checkpoint: the checkpointer will get to it
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CHECKPOINT")
        seconds = time.perf_counter() - began
        sizes = {
            name: await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name) for name in tables
        }
        sizes["database"] = await conn.fetchval("SELECT pg_database_size(current_database())")
        return sizes, seconds
    finally:
        await conn.close()


def human_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)
