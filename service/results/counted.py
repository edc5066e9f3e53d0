"""The results that count (table `results`): per person and assessment, the one result the aggregates
count, and every statement on that table.

A row holds the person's latest submitted attempt with a final score at the assessment, where that
attempt was placed (org unit, category, ISO week) and its measures with their scaled scores and level
ranks; a row without an attempt is a placeholder that serialises concurrent refreshes of one person.
Which result counts, and how the rollups move with it, is decided by `aggregates/rollups.py`
(`refresh`, `move_unit`, the rebuild's `replace_with`); this module only stores and reads the rows.

Why the owner is here, in `results`, a layer below `aggregates`, which alone writes the table: the
score feed (`results/feed.py`) says of every score version whether it is the one that counts, and the
feed lies in this layer; an owner in `aggregates` could only be read from it by an upward import. So,
as the attempts' store sits in `sittings` below every reader of attempts, the table's owner sits in
the lowest layer that reads it: the aggregates' refresh and rebuild, the training effect
(`aggregates/paired.py`) and the feed all call it, and nothing below `results` needs it. (The feed
reading the scores and attempts instead would have meant computing "the latest final attempt" again
in every page's query, with another plan, where the table already holds the answer.)

Readers read `result_rows()` as a table; the statements that write rows, and the one that locks
them, are functions here. The SQL is the SQL the aggregates ran before, with the table's alias `o`
inside a plain sub-query the planner pulls up: the plans are the same (EXPLAIN, 2026-12-07).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

import asyncpg

from service.tenancy.org_units import unit_facts


def result_rows() -> str:
    """SQL for a sub-query of every row of the table, to read as a table: `tenant_id`, `assessment_id`,
    `person_id`, `attempt_id` (NULL: a placeholder, no result counts), `org_unit_id`, `category`, `week`,
    `measures`, `scaled`, `level_ranks` (three arrays in step: `overall` first, then each dimension) and
    `updated_at`. A plain selection: the planner reads the table, with its indexes."""
    return """(SELECT o.tenant_id, o.assessment_id, o.person_id, o.attempt_id, o.org_unit_id, o.category, o.week,
                o.measures, o.scaled, o.level_ranks, o.updated_at FROM results o)"""


async def hold(conn: asyncpg.Connection, assessments: list[UUID], people: list[UUID]) -> list[asyncpg.Record]:
    """The stored rows of these (assessment, person) pairs (`assessments[i]`, `people[i]`), locked to the
    caller's commit, in key order: a placeholder is added first for a pair without one, so concurrent
    refreshes of one person queue on the row lock. Each row's `assessment_id`, `person_id`, `attempt_id`,
    `path` (of its org unit), `category`, `week`, `measures`, `scaled` and `level_ranks`."""
    await conn.execute(
        """INSERT INTO results (assessment_id, person_id)
                          SELECT * FROM unnest($1::uuid[], $2::uuid[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING""",
        assessments,
        people,
    )
    return await conn.fetch(
        f"""SELECT r.assessment_id, r.person_id, r.attempt_id, u.path, r.category, r.week, r.measures, r.scaled,
                  r.level_ranks
           FROM results r JOIN unnest($1::uuid[], $2::uuid[]) AS w(a, p) ON r.assessment_id = w.a AND r.person_id = w.p
           LEFT JOIN LATERAL {unit_facts("r.tenant_id", "r.org_unit_id")} u ON true
           ORDER BY r.assessment_id, r.person_id FOR UPDATE OF r""",
        assessments,
        people,
    )


async def store(conn: asyncpg.Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """Write held rows (`hold`) anew: each of `rows` (JSON-ready) names the pair (`a`, `p`) and gives
    `attempt_id`, `unit_id`, `category`, `week`, `measures`, `scaled`, `level_ranks` (NULLs and empty
    lists: no result counts any more)."""
    await conn.execute(
        """UPDATE results r SET attempt_id = d.attempt_id, org_unit_id = d.unit_id, category = d.category,
                  week = d.week, measures = d.measures, scaled = d.scaled, level_ranks = d.level_ranks,
                  updated_at = now()
           FROM jsonb_to_recordset($1::jsonb) AS d(a uuid, p uuid, attempt_id uuid, unit_id uuid, category text,
                week date, measures text[], scaled float8[], level_ranks smallint[])
           WHERE r.assessment_id = d.a AND r.person_id = d.p""",
        rows,
    )


# Two results alike: the same attempt, place and measures, and scaled scores within what computing
# them in another order changes (the rebuild check's tolerance).
_SAME_RESULT = """(s.attempt_id, s.org_unit_id, s.category, s.week, s.measures, s.level_ranks)
    IS NOT DISTINCT FROM (f.attempt_id, f.org_unit_id, f.category, f.week, f.measures, f.level_ranks)
    AND (s.scaled = f.scaled OR (cardinality(s.scaled) = cardinality(f.scaled)
         AND NOT EXISTS (SELECT 1 FROM unnest(s.scaled, f.scaled) AS z(a, b) WHERE abs(a - b) > 1e-9)))"""


async def replace_with(conn: asyncpg.Connection, assessment_id: UUID, fresh_results: str) -> dict[str, int]:
    """Make an assessment's rows those of a freshly computed table (`fresh_results`: a rebuild's temporary
    table of this assessment alone), writing only the rows that differ: the rows it lacks deleted, those
    that differ updated, the new ones inserted. The rows written, by kind (`results_deleted`,
    `results_updated`, `results_inserted`)."""
    written: dict[str, int] = {}

    async def run(name: str, sql: str) -> None:
        done = await conn.execute(sql, assessment_id)
        written[name] = int(done.split()[-1])

    await run(
        "results_deleted",
        f"""DELETE FROM results s WHERE s.assessment_id = $1
            AND NOT EXISTS (SELECT 1 FROM {fresh_results} f WHERE f.person_id = s.person_id)""",
    )
    await run(
        "results_updated",
        f"""UPDATE results s SET attempt_id = f.attempt_id, org_unit_id = f.org_unit_id, category = f.category,
                   week = f.week, measures = f.measures, scaled = f.scaled, level_ranks = f.level_ranks,
                   updated_at = now()
            FROM {fresh_results} f WHERE s.assessment_id = $1 AND s.person_id = f.person_id AND NOT ({_SAME_RESULT})""",
    )
    await run(
        "results_inserted",
        f"""INSERT INTO results (assessment_id, person_id, attempt_id, org_unit_id, category, week, measures,
                                 scaled, level_ranks)
            SELECT $1, f.person_id, f.attempt_id, f.org_unit_id, f.category, f.week, f.measures, f.scaled,
                   f.level_ranks
            FROM {fresh_results} f
            WHERE NOT EXISTS (SELECT 1 FROM results s WHERE s.assessment_id = $1 AND s.person_id = f.person_id)
            ORDER BY f.person_id""",
    )
    return written


async def differences(
    conn: asyncpg.Connection, assessment_id: UUID, fresh_results: str
) -> list[asyncpg.Record]:
    """The stored results of an assessment that differ from a freshly computed table's (by the comparison
    of `replace_with`): `person_id`, `stored` and `fresh` (JSON, NULL for a row one side lacks)."""
    return await conn.fetch(
        f"""SELECT coalesce(s.person_id, f.person_id) AS person_id, to_jsonb(s) - 'tenant_id' - 'updated_at' AS stored,
                   to_jsonb(f) - 'tenant_id' - 'updated_at' AS fresh
            FROM (SELECT * FROM results WHERE assessment_id = $1 AND attempt_id IS NOT NULL) s
            FULL JOIN {fresh_results} f USING (assessment_id, person_id)
            WHERE s.person_id IS NULL OR f.person_id IS NULL OR NOT ({_SAME_RESULT})""",
        assessment_id,
    )
