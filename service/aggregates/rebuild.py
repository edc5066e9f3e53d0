"""Recompute an assessment's results and rollups from its current final scores, or compare.

`rebuild` replaces them in one transaction (readers see the old figures until it commits).
`check` computes the same into temporary tables and reports every difference, changing
nothing. Both run as jobs a client polls (`aggregate_jobs`; run by `service.jobqueue`: leased, taken
over if the worker dies), since a large assessment takes a while. The computation is SQL, set-based: the same rules as the incremental path in
`rollups.refresh` (latest final attempt per person, placed where it was submitted), written
a second way, which is what makes the check worth running.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from service.aggregates import paired, rollups
from service.aggregates.rollups import _COUNTED, ALL_CATEGORIES, ALL_WEEKS, OVERALL, ROOT, lock_assessment
from service.aggregates.stats import BINS
from service.assessments.assessments import assessment_facts, id_by_code
from service.db import keyset
from service.db.pool import tenant_transaction
from service.errors import Conflict, NotFound
from service.i18n import msg
from service.jobqueue import queue
from service.jobqueue.job import Job
from service.rubrics import frameworks
from service.tenancy import org_units

WORK_MEM = "256MB"  # for the one transaction of a rebuild or check (one at a time per assessment)


_FAST_RANKS = 16  # framework versions whose level ranks a rebuild maps in one expression, at most


def _ranks_by_replacing(versions: dict[str, list[str]], z: str) -> tuple[str, list[object]]:
    """SQL of an expression (and its parameters, from $2): the level ranks of a counted result's
    level codes (the array `z`), for the framework versions `versions` (content hash: level codes, lowest
    first), by replacing each code with its rank in the array, no sub-query per result; NULL where
    it cannot say (another version, a code it does not know, a missing level), for the caller to
    ask the join. A version whose codes repeat or read as a rank is left to the join."""
    cases: list[str] = []
    parameters: list[object] = []
    for hash_, codes in sorted(versions.items())[:_FAST_RANKS]:
        ranks = [str(rank) for rank in range(len(codes))]
        if not codes or len(set(codes)) < len(codes) or set(codes) & set(ranks):
            continue
        parameters += [hash_, codes]
        h, c = f"${len(parameters)}::text", f"${len(parameters) + 1}::text[]"
        replaced = z
        for i, rank in enumerate(ranks, start=1):
            replaced = f"array_replace({replaced}, ({c})[{i}], '{rank}')"
        cases.append(f"WHEN {h} THEN CASE WHEN {z} <@ {c} THEN ({replaced})::smallint[] END")
    if not cases:
        return "NULL::smallint[]", []
    return "CASE c.framework_hash " + " ".join(cases) + " END", parameters


def _results_sql(target: str, versions: dict[str, list[str]]) -> tuple[str, list[object]]:
    """SQL (and its parameters after the assessment's id) that puts an assessment's counted results
    into `target`. The level ranks: replaced in the array where `versions` tells them
    (`_ranks_by_replacing`), else each code joined to the framework's levels."""
    fast, parameters = _ranks_by_replacing(versions, "(ARRAY[c.overall_level] || c.dim_levels)")
    sql = f"""
    INSERT INTO {target} (assessment_id, person_id, attempt_id, org_unit_id, category, week, measures, scaled,
                          level_ranks)
    WITH lv AS MATERIALIZED ({frameworks.level_ranks()}),
         counted AS ({_COUNTED} AND t.assessment_id = $1
                     ORDER BY t.assessment_id, t.person_id, t.number DESC)
    SELECT c.assessment_id, c.person_id, c.attempt_id, c.unit_id, c.category, c.week,
           ARRAY['{OVERALL}'] || c.dimensions, ARRAY[c.overall_scaled] || c.dim_scaled,
           coalesce({fast},
                    ARRAY(SELECT coalesce(lv.rank, 0)::smallint
                          FROM unnest(ARRAY[c.overall_level] || c.dim_levels) WITH ORDINALITY AS z(code, o)
                          LEFT JOIN lv ON lv.hash = c.framework_hash AND lv.code = z.code ORDER BY z.o))
    FROM counted c"""
    return sql, parameters


# One row per (unit subtree, measure, category, week, score bin, level rank): what a level of the
# tree is summed into before the next level up is summed from it. Small per level: the people of
# a level are grouped before they are carried up, and each step reads only the level below.
_GROUPED = "unit_id, measure, category, week, bin, rank, sum(c)::int AS c, sum(t) AS t, sum(tq) AS tq"
# a person's measure: its score bin and level rank (the histogram's two parts)
_BIN = f"least({BINS - 1}, greatest(0, floor(m.scaled)))::int"
_MEASURES = "CROSS JOIN LATERAL unnest(r.measures, r.scaled, r.level_ranks) AS m(measure, scaled, rank)"


def _hist(bins: str, ranks: str, counts: str | None, levels: int) -> str:
    """SQL (two aggregates, `hist` and `levels`): the dense count arrays of a row, of its score bins
    and of its level ranks (as wide as its highest rank; `levels` ranks at most), each counted
    `counts` times (None: once, a person). The ranks are counted one by one (a filtered count
    each), only the bins through an array."""
    if counts is None:
        hist = f"int_hist(array_agg({bins}), array_fill(1, ARRAY[count(*)::int]), {BINS})"
        ranked = [f"count(*) FILTER (WHERE {ranks} = {rank})" for rank in range(levels)]
    else:
        hist = f"int_hist(array_agg({bins}), array_agg({counts}), {BINS})"
        ranked = [f"coalesce(sum({counts}) FILTER (WHERE {ranks} = {rank}), 0)" for rank in range(levels)]
    return f"{hist} AS hist, (ARRAY[{', '.join(ranked)}]::int[])[1:max({ranks}) + 1] AS levels"


async def _rollups(conn: asyncpg.Connection, assessment_id: UUID, source: str, target: str) -> int:
    """The rollup rows of one assessment's results, a dense histogram each: a whole row per unit
    and measure, and rows per category and week for the split units (the tenant and the units with
    children; `rollups`). Each person is read where the rows need them, never carried as a row per
    person and ancestor:

    - a compact unit (a leaf) has its whole rows only, grouped from its own results at once;
    - the deepest split units (every unit under them a leaf: the townships) have their rows grouped
      from their subtree's results at once too (each person under the split unit nearest them);
    - above them, level by level of the tree, a level's rows are grouped by score bin and level
      rank from its units' own people and the level below's rows carried up to their parents (one
      CREATE TABLE ... GROUP BY per level; the first from the deepest split units' people), then
      made rollup rows.

    Temporary tables, dropped at commit."""
    # per unit: its depth, its parent, whether it is split (has children), and the split unit its
    # own people are grouped under (itself, or a leaf's parent), that unit's depth and its parent
    await conn.execute(
        f"""DROP TABLE IF EXISTS pg_temp.rollup_units;
            CREATE TEMP TABLE rollup_units ON COMMIT DROP AS
            WITH u AS (SELECT id, cardinality(parts) AS depth,
                              CASE WHEN cardinality(parts) > 1 THEN parts[cardinality(parts) - 1]::uuid
                                   ELSE '{ROOT}'::uuid END AS parent_id,
                              CASE WHEN cardinality(parts) > 2 THEN parts[cardinality(parts) - 2]::uuid
                                   ELSE '{ROOT}'::uuid END AS grandparent_id
                       FROM (SELECT p.id, string_to_array(trim(BOTH '/' FROM p.path), '/') AS parts
                             FROM {org_units.unit_paths()} p) x),
                 parents AS (SELECT DISTINCT parent_id AS id FROM u)
            SELECT u.id, u.depth, u.parent_id, p.id IS NOT NULL AS split,
                   CASE WHEN p.id IS NOT NULL THEN u.id ELSE u.parent_id END AS base_id,
                   CASE WHEN p.id IS NOT NULL THEN u.depth ELSE u.depth - 1 END AS base_depth,
                   CASE WHEN p.id IS NOT NULL THEN u.parent_id ELSE u.grandparent_id END AS base_parent_id
            FROM u LEFT JOIN parents p ON p.id = u.id;
            ANALYZE pg_temp.rollup_units"""
    )
    key = "assessment_id, unit_id, measure, category, week"
    whole = f"'{ALL_CATEGORIES}' AS category, DATE '{ALL_WEEKS.isoformat()}' AS week"
    counted = f"r.assessment_id = '{assessment_id}'::uuid AND r.attempt_id IS NOT NULL"
    # the highest level rank of any framework version (a counted result's ranks are these or 0)
    ranks = 1 + await conn.fetchval(f"SELECT coalesce(max(rank), 0) FROM ({frameworks.level_ranks()}) l")
    person = f"count(*)::int AS n, sum(m.scaled) AS t, sum(m.scaled * m.scaled) AS tq, {_hist(_BIN, 'm.rank::int', None, ranks)}"
    inserted = 0

    async def insert(sql: str) -> None:
        nonlocal inserted
        done = await conn.execute(
            f"""INSERT INTO {target} ({key}, n, total, total_sq, hist, levels)
                SELECT $1::uuid, unit_id, measure, category, week, n, t, tq, hist, levels
                FROM ({sql}) g""",
            assessment_id,
        )
        inserted += int(done.split()[-1])

    # the leaves' whole rows, from their own results
    await insert(
        f"""SELECT r.org_unit_id AS unit_id, m.measure, {whole}, {person}
            FROM {source} r JOIN rollup_units u ON u.id = r.org_unit_id AND NOT u.split {_MEASURES}
            WHERE {counted}
            GROUP BY r.org_unit_id, m.measure"""
    )
    deepest = await conn.fetchval("SELECT coalesce(max(base_depth), 0) FROM rollup_units")
    if deepest > 0:  # the deepest split units' rows, from their subtree's results
        # both kinds of row in one pass: per (category, week), and the whole row (the empty set)
        await insert(
            f"""SELECT u.base_id AS unit_id, m.measure,
                       CASE WHEN grouping(r.category) = 0 THEN r.category ELSE '{ALL_CATEGORIES}' END AS category,
                       CASE WHEN grouping(r.week) = 0 THEN r.week ELSE DATE '{ALL_WEEKS.isoformat()}' END AS week,
                       {person}
                FROM {source} r JOIN rollup_units u ON u.id = r.org_unit_id AND u.base_depth = {deepest}
                {_MEASURES}
                WHERE {counted}
                GROUP BY u.base_id, m.measure, GROUPING SETS ((r.category, r.week), ())"""
        )
    levels: list[str] = []
    for d in range(max(0, deepest - 1), -1, -1):  # the split units above them; the tenant (depth 0) last
        level = f"rollup_level_{d}"
        # this level's own people (grouped under the split unit nearest them; a result whose unit is
        # not in the tree, if any, at its own unit at depth 0), with the level below's rows carried
        # up; the first level carries the deepest split units' people up instead
        unit = f"coalesce(u.base_id, r.org_unit_id, '{ROOT}'::uuid)"
        depths = f"coalesce(u.base_depth, 0) = {d}"
        if d == deepest - 1:
            unit = f"CASE WHEN u.base_depth = {deepest} THEN u.base_parent_id ELSE {unit} END"
            depths = f"coalesce(u.base_depth, 0) IN ({d}, {deepest})"
        below = (
            f"""UNION ALL SELECT u.parent_id, s.measure, s.category, s.week, s.bin, s.rank, s.c, s.t, s.tq
                 FROM rollup_level_{d + 1} s JOIN rollup_units u ON u.id = s.unit_id"""
            if levels
            else ""
        )
        await conn.execute(
            f"""DROP TABLE IF EXISTS pg_temp.{level};
                CREATE TEMP TABLE {level} ON COMMIT DROP AS
                SELECT {_GROUPED}
                FROM (SELECT {unit} AS unit_id, m.measure, r.category, r.week, {_BIN} AS bin, m.rank::int AS rank,
                             1 AS c, m.scaled AS t, m.scaled * m.scaled AS tq
                      FROM {source} r LEFT JOIN rollup_units u ON u.id = r.org_unit_id {_MEASURES}
                      WHERE {counted} AND {depths}
                      {below}) x
                GROUP BY unit_id, measure, category, week, bin, rank"""
        )
        levels.append(level)
    # the split units: the tenant and every unit with children (a unit outside the tree is not)
    await conn.execute(
        f"""DROP TABLE IF EXISTS pg_temp.rollup_split;
            CREATE TEMP TABLE rollup_split ON COMMIT DROP AS
            SELECT id FROM rollup_units WHERE split UNION SELECT '{ROOT}'::uuid"""
    )
    both = _hist("bin", "rank", "c", ranks)
    for level in levels:  # a unit sits at one depth: each level's rows are whole, grouped on their own
        await insert(
            f"""SELECT unit_id, measure, category, week, sum(c)::int AS n, sum(t) AS t, sum(tq) AS tq, {both}
                FROM {level} WHERE unit_id IN (SELECT id FROM rollup_split)
                GROUP BY unit_id, measure, category, week
                UNION ALL
                SELECT unit_id, measure, {whole}, sum(c)::int, sum(t), sum(tq), {both}
                FROM {level} GROUP BY unit_id, measure"""
        )
    return inserted


async def _compute(conn: asyncpg.Connection, assessment_id: UUID) -> None:
    """An assessment's results and rollup rows computed afresh into `fresh_results` and
    `fresh_rollups` (temporary tables of this transaction: no WAL, no index, no row-level security
    to check; what they are computed from was read under the tenant's policies)."""
    # sorts, hashes and joins over up to a few million rows: in memory rather than in temporary files
    await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    await conn.execute(
        """DROP TABLE IF EXISTS pg_temp.fresh_results, pg_temp.fresh_rollups;
           CREATE TEMP TABLE fresh_results (LIKE results INCLUDING DEFAULTS) ON COMMIT DROP;
           CREATE TEMP TABLE fresh_rollups (LIKE rollups INCLUDING DEFAULTS) ON COMMIT DROP"""
    )
    # each framework version's level codes, lowest first: their ranks 0, 1, ... (`_ranks_by_replacing`)
    versions = {
        row["hash"]: row["codes"]
        for row in await conn.fetch(
            f"""SELECT hash, array_agg(code ORDER BY rank) AS codes, array_agg(rank ORDER BY rank) AS ranks
                FROM ({frameworks.level_ranks()}) l GROUP BY hash"""
        )
        if row["ranks"] == list(range(len(row["ranks"])))
    }
    sql, parameters = _results_sql("fresh_results", versions)
    await conn.execute(sql, assessment_id, *parameters)
    # its statistics, for the aggregates' plans (without them, 0.6 % of its rows are expected and the
    # sorts and hash tables sized for that spill)
    await conn.execute("ANALYZE pg_temp.fresh_results")
    await _rollups(conn, assessment_id, "fresh_results", "fresh_rollups")


async def _fresh_counts(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM fresh_results) AS results, (SELECT count(*) FROM fresh_rollups) AS rollups"
    )
    return {"results": row["results"], "rollup_rows": row["rollups"]}


async def rebuild_now(conn: asyncpg.Connection, assessment_id: UUID) -> dict[str, int]:
    """Computed afresh, then only the rows that differ written (`rollups.replace_with`): the same
    figures as deleting and re-inserting every row, without rewriting the rows already in step."""
    await _compute(conn, assessment_id)
    written = await rollups.replace_with(conn, assessment_id, "fresh_results", "fresh_rollups")
    await paired.assessment_rebuilt(conn, assessment_id)
    return await _fresh_counts(conn) | written


class Difference(msgspec.Struct, omit_defaults=True):
    table: str
    key: dict[str, Any]
    stored: dict[str, Any] | None = None
    fresh: dict[str, Any] | None = None


async def check_now(conn: asyncpg.Connection, assessment_id: UUID, limit: int = 50) -> dict[str, Any]:
    """Differences between the stored results and rollups and a fresh computation (none: in step)."""
    await _compute(conn, assessment_id)
    result_diffs, rollup_diffs = await rollups.differences(
        conn, assessment_id, "fresh_results", "fresh_rollups"
    )
    fresh_counts = await _fresh_counts(conn)
    differences = [
        Difference("results", {"person_id": str(r["person_id"])}, r["stored"], r["fresh"])
        for r in result_diffs[:limit]
    ]
    differences += [
        Difference(
            "rollups",
            {
                "unit_id": str(r["unit_id"]),
                "measure": r["measure"],
                "category": r["category"],
                "week": r["week"].isoformat(),
            },
            r["stored"],
            r["fresh"],
        )
        for r in rollup_diffs[:limit]
    ]
    return {
        "in_step": not result_diffs and not rollup_diffs,
        "results_checked": fresh_counts["results"],
        "rollup_rows_checked": fresh_counts["rollup_rows"],
        "results_differing": len(result_diffs),
        "rollup_rows_differing": len(rollup_diffs),
        "differences": msgspec.to_builtins(differences),
    }


class AggregateJob(msgspec.Struct):
    id: UUID
    assessment: str
    kind: Literal["rebuild", "check"]
    status: Literal["running", "done", "failed"]
    phase: str
    result: dict[str, Any] | None
    error: str | None
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    run_attempts: int = (
        0  # claims of its job by a worker so far: more than 1 when taken over from one that died
    )
    lease_expires_at: datetime | None = None  # queued or running: when another worker may take it over


_SELECT = (
    """SELECT j.id, a.code AS assessment, j.kind, j.status, j.phase, j.result, j.error, j.requested_by,
                    j.created_at, j.finished_at, """
    + queue.LEASE_COLUMNS
    + """
             FROM aggregate_jobs j CROSS JOIN LATERAL """
    + assessment_facts("j.tenant_id", "j.assessment_id")
    + " a"
    + queue.join("j")
)


async def get_job(conn: asyncpg.Connection, code: str, job_id: UUID) -> AggregateJob:
    row = await conn.fetchrow(_SELECT + " WHERE a.code = $1 AND j.id = $2", code, job_id)
    if row is None:
        raise NotFound(msg("assessment '{code}' has no aggregate job {job_id}", code=code, job_id=job_id))
    return msgspec.convert(dict(row), AggregateJob)


async def list_jobs(
    conn: asyncpg.Connection, code: str, *, before: tuple[datetime, UUID] | None, limit: int
) -> list[AggregateJob]:
    """Newest first, the page after `before` (the last job of the previous page)."""
    if await id_by_code(conn, code) is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    rows = await conn.fetch(
        _SELECT + " WHERE a.code = $1 AND " + keyset.newest_first("j", 2),
        code,
        *keyset.arguments(before, limit),
    )
    return [msgspec.convert(dict(row), AggregateJob) for row in rows]


async def create_job(conn: asyncpg.Connection, code: str, kind: str, requested_by: str) -> AggregateJob:
    assessment_id = await id_by_code(conn, code)
    if assessment_id is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    # a running job is alive or about to be taken over: one whose last worker died reads failed
    if await conn.fetchval(
        "SELECT 1 FROM aggregate_jobs WHERE assessment_id = $1 AND status = 'running'", assessment_id
    ):
        raise Conflict(msg("an aggregate job for '{code}' is already running: wait for it", code=code))
    job_id = await conn.fetchval(
        "INSERT INTO aggregate_jobs (assessment_id, kind, requested_by) VALUES ($1, $2, $3) RETURNING id",
        assessment_id,
        kind,
        requested_by,
    )
    await queue.enqueue(conn, "aggregates", job_id)
    return await get_job(conn, code, job_id)


async def run(job: Job) -> None:
    """Run a rebuild or check to the end; the outcome is in the job's row. One transaction does the work
    and records it, holding the job's row (`fence`): a worker that dies mid-way leaves nothing behind,
    and the one that takes it over starts again."""
    pool, tenant_id, job_id = job.pool, job.tenant_id, job.id
    async with tenant_transaction(pool, tenant_id) as conn:
        await job.fence(conn)
        found = await conn.fetchrow(
            "UPDATE aggregate_jobs SET phase = 'computing' WHERE id = $1 AND status = 'running' "
            "RETURNING assessment_id, kind",
            job_id,
        )
        if found is None:
            await job.complete(conn)
            return
    await job.checkpoint()
    async with tenant_transaction(pool, tenant_id) as conn:
        await job.fence(conn)
        if found["kind"] == "rebuild":
            await lock_assessment(conn, found["assessment_id"], exclusive=True)
            result = await rebuild_now(conn, found["assessment_id"])
        else:
            result = await check_now(conn, found["assessment_id"])
        await conn.execute(
            "UPDATE aggregate_jobs SET status = 'done', phase = 'done', result = $2, "
            "finished_at = now() WHERE id = $1",
            job_id,
            result,
        )
        await job.complete(conn)


async def mark_failed(conn: asyncpg.Connection, job_id: UUID, error: str) -> None:
    await conn.execute(
        "UPDATE aggregate_jobs SET status = 'failed', phase = 'failed', error = $2, "
        "finished_at = now() WHERE id = $1 AND status = 'running'",
        job_id,
        error,
    )
