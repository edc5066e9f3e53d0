"""The store of attempts and their responses: every statement on `attempts` and `responses`.

The candidate's flow (start, resume, save, submit, deadlines) is `service/delivery/attempts.py`,
which calls these functions; the packages between assessments and delivery (results, aggregates,
the score pipeline) read attempts and answers here, below them, rather than from the flow above.

Every read for a candidate matches the attempt by id *and* person, so one candidate never reaches
another's attempt (row-level security separates the tenants). The guarantees of a save (revision
guard, attempt open, a shared advisory lock on the attempt until commit) are the SQL function
`save_answer` (migrations 0023 and 0031), called with `SAVE_ANSWER`; those of start and submit are the
unique indexes and the single-row updates below. Whatever takes an attempt out of progress takes that
lock exclusively after its UPDATE (`_HOLD_OFF_SAVES`), before anything reads the answers: saves that
found the attempt in progress have committed by then, and later ones find it submitted.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.assessments import assessment_facts, id_of_code
from service.items.views import Answer
from service.tenancy.org_units import in_subtree
from service.tenancy.people import person_facts

# The candidate's reads carry the assessment's code (and for the state its title, instructions and
# whether it has adaptive sections) in the same round trip: these are the hottest reads of a sitting.
# What they read of the assessment is its owner's sub-query (`a`).
_ASSESSMENT = f"CROSS JOIN LATERAL {assessment_facts('t.tenant_id', 't.assessment_id')} a"

_SUMMARY = f"""
    SELECT t.id, a.code AS assessment, t.number, t.status, t.started_at, t.deadline,
           CASE WHEN t.deadline IS NULL THEN NULL
                ELSE greatest(0, extract(epoch FROM t.deadline - clock_timestamp()))::float8 END AS seconds_left,
           t.extra_time_factor::float8 AS extra_time_factor, t.submitted_at, t.submitted_by, t.item_count,
           (SELECT count(*) FROM responses r WHERE r.tenant_id = t.tenant_id AND r.attempt_id = t.id
              AND r.answer <> '{{}}'::jsonb)::int AS answered,
           clock_timestamp() AS server_time
    FROM attempts t {_ASSESSMENT}
"""

_STATE = (
    _SUMMARY.replace(
        "SELECT t.id,",
        "SELECT t.tenant_id, t.form, a.title, a.instructions, a.adaptive, t.id,",
    )
    + " WHERE t.id = $1 AND t.person_id = $2"
)

_DUE = "t.deadline IS NOT NULL AND t.deadline + make_interval(secs => t.grace_seconds) < now()"

# The new attempt's summary straight from the insert: nothing is answered yet.
_START = """
    INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count, time_limit_seconds,
                          extra_time_factor, deadline, grace_seconds)
    VALUES ($1, $2, $3, $4, $5, $6, $7::int, coalesce($8::numeric, 1),
            now() + make_interval(secs => ($7::int * coalesce($8::numeric, 1))::float8), $9)
    ON CONFLICT DO NOTHING
    RETURNING id, number, status, started_at, deadline,
              CASE WHEN deadline IS NULL THEN NULL
                   ELSE greatest(0, extract(epoch FROM deadline - clock_timestamp()))::float8 END AS seconds_left,
              extra_time_factor::float8 AS extra_time_factor, submitted_at, submitted_by, item_count,
              clock_timestamp() AS server_time
"""

# The lock a save holds shared on its attempt (`save_answer`, migration 0031: class 1931, the attempt's
# uuid_hash), taken exclusively by each transaction that submits attempts, after its UPDATE, in one
# order: the submission then waits for the saves in flight, and no save lands after it.
_HOLD_OFF_SAVES = """SELECT pg_advisory_xact_lock(1931, k)
                     FROM (SELECT DISTINCT uuid_hash(a) AS k FROM unnest($1::uuid[]) AS a) AS keys ORDER BY k"""

# A save's context, person check and guarded upsert, in one call (migration 0024): on its own
# (autocommit) one round trip, in a tenant transaction part of it. Arguments: tenant, the person's
# external id, attempt, item ref, answer, revision, keep the first non-empty answer.
SAVE_ANSWER = "SELECT * FROM save_answer($1, $2, $3, $4, $5, $6, $7)"


# --- the candidate's attempts ------------------------------------------------------------------


async def summary(conn: asyncpg.Connection, person_id: UUID, attempt_id: UUID) -> asyncpg.Record | None:
    """The person's attempt with its assessment's code, time left and count of answered items."""
    return await conn.fetchrow(_SUMMARY + " WHERE t.id = $1 AND t.person_id = $2", attempt_id, person_id)


async def state(conn: asyncpg.Connection, person_id: UUID, attempt_id: UUID) -> asyncpg.Record | None:
    """`summary` with the tenant, the form, the assessment's title and instructions, and whether it
    has adaptive sections, in one read."""
    return await conn.fetchrow(_STATE, attempt_id, person_id)


async def form_of(conn: asyncpg.Connection, person_id: UUID, attempt_id: UUID) -> asyncpg.Record | None:
    """The person's attempt's form, and whether its assessment has adaptive sections."""
    return await conn.fetchrow(
        f"SELECT t.form, a.adaptive FROM attempts t {_ASSESSMENT} WHERE t.id = $1 AND t.person_id = $2",
        attempt_id,
        person_id,
    )


async def is_adaptive(conn: asyncpg.Connection, person_id: UUID, attempt_id: UUID) -> bool | None:
    """Whether the person's attempt's assessment has adaptive sections (None: no such attempt)."""
    return await conn.fetchval(
        f"SELECT a.adaptive FROM attempts t {_ASSESSMENT} WHERE t.id = $1 AND t.person_id = $2",
        attempt_id,
        person_id,
    )


async def seed_and_content(
    conn: asyncpg.Connection, person_id: UUID, attempt_id: UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    """The tenant, the seed of the attempt's draw and its assessment's content; `lock` holds the
    attempt row until commit (saves to adaptive items of one attempt take turns)."""
    return await conn.fetchrow(
        f"SELECT t.tenant_id, t.seed, a.content FROM attempts t {_ASSESSMENT} "
        "WHERE t.id = $1 AND t.person_id = $2" + (" FOR UPDATE OF t" if lock else ""),
        attempt_id,
        person_id,
    )


async def of_person(conn: asyncpg.Connection, person_id: UUID) -> list[asyncpg.Record]:
    """The person's attempts (assessment id, id, number, status, times), by number."""
    return await conn.fetch(
        "SELECT assessment_id, id, number, status, started_at, deadline, submitted_at FROM attempts "
        "WHERE person_id = $1 ORDER BY number",
        person_id,
    )


async def forms_of_person(conn: asyncpg.Connection, person_id: UUID) -> list[asyncpg.Record]:
    """The person's attempts: `id`, the `form` as stored, and whether its assessment is `adaptive`."""
    return await conn.fetch(
        f"SELECT t.id, t.form, a.adaptive FROM attempts t {_ASSESSMENT} WHERE t.person_id = $1", person_id
    )


async def numbered_and_overdue(
    conn: asyncpg.Connection, assessment_id: UUID, person_id: UUID
) -> tuple[list[asyncpg.Record], bool]:
    """The person's attempts of this assessment (id, number, status) by number, and whether any of
    their attempts (of any assessment) is in progress past its deadline and grace, in one read: a
    start of someone with nothing overdue (every start of an exam's opening) needs no `submit_overdue`."""
    rows = await conn.fetch(
        f"""SELECT t.id, t.number, t.status, t.assessment_id = $1 AS mine,
                   t.status = 'in_progress' AND {_DUE} AS due
            FROM attempts t
            WHERE t.person_id = $2 AND (t.assessment_id = $1 OR (t.status = 'in_progress' AND {_DUE}))
            ORDER BY t.number""",
        assessment_id,
        person_id,
    )
    return [row for row in rows if row["mine"]], any(row["due"] for row in rows)


async def insert(
    conn: asyncpg.Connection,
    assessment_id: UUID,
    person_id: UUID,
    number: int,
    seed: int,
    form: Any,
    item_count: int,
    limit_seconds: int | None,
    factor: Decimal | None,
    grace_seconds: int,
) -> asyncpg.Record | None:
    """A new attempt's summary (no assessment code, nothing answered); None when a concurrent start
    of the same attempt won (or took the number)."""
    return await conn.fetchrow(
        _START,
        assessment_id,
        person_id,
        number,
        seed,
        form,
        item_count,
        limit_seconds,
        factor,
        grace_seconds,
    )


async def id_of(conn: asyncpg.Connection, assessment_id: UUID, person_id: UUID, number: int) -> UUID | None:
    return await conn.fetchval(
        "SELECT id FROM attempts WHERE assessment_id = $1 AND person_id = $2 AND number = $3",
        assessment_id,
        person_id,
        number,
    )


async def submit_overdue(conn: asyncpg.Connection, person_id: UUID | None, limit: int | None) -> list[UUID]:
    """Mark submitted (by the deadline) the attempts past their deadline and grace, of one person or
    any, at most `limit`, oldest deadline first; attempts another transaction holds are skipped."""
    rows = await conn.fetch(
        f"""UPDATE attempts t SET status = 'submitted', submitted_at = now(), submitted_by = 'deadline'
            WHERE t.id IN (SELECT t.id FROM attempts t
                           WHERE t.status = 'in_progress' AND {_DUE} AND ($1::uuid IS NULL OR t.person_id = $1)
                           ORDER BY t.deadline LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING t.id""",
        person_id,
        limit,
    )
    submitted = [row["id"] for row in rows]
    if submitted:
        await conn.execute(_HOLD_OFF_SAVES, submitted)
    return submitted


async def mark_submitted(conn: asyncpg.Connection, person_id: UUID, attempt_id: UUID) -> str | None:
    """Submit the person's attempt if it is in progress: by whom ('deadline' past its deadline and
    grace, else 'candidate'); None if it was not in progress (or is not theirs). Returns once the
    saves in flight have committed (the attempt's save lock, exclusively, after the UPDATE)."""
    return await conn.fetchval(
        f"""WITH s AS (UPDATE attempts t SET status = 'submitted', submitted_at = now(),
                              submitted_by = CASE WHEN {_DUE} THEN 'deadline' ELSE 'candidate' END
                       WHERE t.id = $1 AND t.person_id = $2 AND t.status = 'in_progress'
                       RETURNING t.id, t.submitted_by)
            SELECT s.submitted_by, pg_advisory_xact_lock(1931, uuid_hash(s.id)) FROM s""",
        attempt_id,
        person_id,
    )


async def extend_running(
    conn: asyncpg.Connection, assessment_id: UUID, person_id: UUID, factor: Decimal | float
) -> Any:
    """Apply an extra-time factor to the person's running timed attempt: its new deadline, or None."""
    return await conn.fetchval(
        """UPDATE attempts SET extra_time_factor = $3::numeric,
                  deadline = started_at + make_interval(secs => (time_limit_seconds * $3::numeric)::float8)
           WHERE assessment_id = $1 AND person_id = $2 AND status = 'in_progress' AND time_limit_seconds IS NOT NULL
           RETURNING deadline""",
        assessment_id,
        person_id,
        factor,
    )


# --- answers -----------------------------------------------------------------------------------


async def saved_answers(conn: asyncpg.Connection, attempt_id: UUID) -> list[asyncpg.Record]:
    """The attempt's stored answers (item ref, answer, revision, saved at), by item ref."""
    return await conn.fetch(
        "SELECT item_ref, answer, revision, saved_at FROM responses WHERE attempt_id = $1 ORDER BY item_ref",
        attempt_id,
    )


async def answers(conn: asyncpg.Connection, attempt_ids: list[UUID]) -> dict[UUID, dict[str, Answer]]:
    """The answers of these attempts, by attempt and item ref (attempts without any are absent)."""
    found: dict[UUID, dict[str, Answer]] = {}
    for r in await conn.fetch(
        "SELECT attempt_id, item_ref, answer FROM responses WHERE attempt_id = ANY($1::uuid[])", attempt_ids
    ):
        found.setdefault(r["attempt_id"], {})[r["item_ref"]] = msgspec.convert(r["answer"], Answer)
    return found


# --- what authors and admins see ---------------------------------------------------------------


# Conditions on attempts and answers for one-query reads whose main table is another owner's
# (participation's people, the rating tasks), in the way of `jobqueue.queue.join`: whole sub-queries, so the caller names no column of
# `attempts`. Inside, the table's alias is `o` (the owner's), which callers do not use. `person`: the SQL of the person's id, `tenant` of the tenant id, `assessment` of the
# assessment's id (usually a parameter).


def attempt_facts(tenant: str, attempt: str) -> str:
    """SQL for a LATERAL sub-query of one row: the attempt's `tenant_id`, `id`, `assessment_id`, `person_id`,
    `number`, `status`, `submitted_at`, the `org_unit_id` and `category` it was counted in (set
    when submitted) and its `form`. Columns a read does not use cost nothing: the planner joins the
    table itself."""
    return f"""(SELECT o.tenant_id, o.id, o.assessment_id, o.person_id, o.number, o.status, o.submitted_at,
                o.org_unit_id, o.category, o.form FROM attempts o WHERE o.tenant_id = {tenant} AND o.id = {attempt})"""


def attempt_rows() -> str:
    """SQL for a sub-query of every attempt, to read as a table (the aggregates' counted results):
    `tenant_id`, `id`, `assessment_id`, `person_id`, `number`, `status`, `submitted_at`, and the
    `org_unit_id` and `category` it was counted in. A plain selection: the planner reads the table."""
    return """(SELECT o.tenant_id, o.id, o.assessment_id, o.person_id, o.number, o.status, o.submitted_at,
                o.org_unit_id, o.category FROM attempts o)"""


async def assessment_people(conn: asyncpg.Connection, attempt_ids: list[UUID]) -> list[asyncpg.Record]:
    """The (assessment_id, person_id) pairs of these attempts, each once, in that order."""
    return await conn.fetch(
        """SELECT DISTINCT assessment_id, person_id FROM attempts WHERE id = ANY($1::uuid[])
                                ORDER BY assessment_id, person_id""",
        attempt_ids,
    )


def in_assessment(tenant: str, attempt: str, assessment: str) -> str:
    """SQL: true when the attempt (`attempt`: the SQL of its id) is one of the assessment's."""
    return (
        f"EXISTS (SELECT 1 FROM attempts o WHERE o.tenant_id = {tenant} AND o.id = {attempt} "
        f"AND o.assessment_id = {assessment})"
    )


def newest_submitted(tenant: str, assessment: str, person: str) -> str:
    """SQL for a LATERAL sub-query of one row: `number`, the highest of the person's submitted
    attempts at the assessment (NULL without one)."""
    return f"""(SELECT max(o.number) AS number FROM attempts o WHERE o.tenant_id = {tenant}
                AND o.assessment_id = {assessment} AND o.person_id = {person} AND o.status = 'submitted')"""


def has_attempt(person: str, tenant: str, assessment: str) -> str:
    """SQL: true when the person has an attempt (in any state) at the assessment."""
    return (
        f"EXISTS (SELECT 1 FROM attempts o WHERE o.tenant_id = {tenant} AND o.assessment_id = {assessment} "
        f"AND o.person_id = {person})"
    )


def answer_text(tenant: str, attempt: str, item: str) -> str:
    """SQL of the text of an attempt's answer to an item (an open response's; NULL without one)."""
    return (
        f"(SELECT o.answer->>'text' FROM responses o WHERE o.tenant_id = {tenant} AND o.attempt_id = {attempt} "
        f"AND o.item_ref = {item})"
    )


def sat(person: str, tenant: str, assessment: str) -> str:
    """SQL for a LATERAL sub-query of one row: `started` (any attempt) and `submitted` (any submitted
    attempt) of the person at the assessment."""
    return f"""(SELECT count(*) > 0 AS started, coalesce(bool_or(o.status = 'submitted'), false) AS submitted
        FROM attempts o WHERE o.tenant_id = {tenant} AND o.assessment_id = {assessment} AND o.person_id = {person})"""


async def listed(
    conn: asyncpg.Connection,
    assessment_id: UUID,
    *,
    status: str | None,
    after: str | None,
    limit: int,
    low: str | None,
    high: str | None,
    submitted_from: datetime | None,
    submitted_to: datetime | None,
) -> list[asyncpg.Record]:
    """The assessment's attempts in id order, the page after `after`, each with its person's external
    id and count of answered items; `low`/`high`: only those whose unit (the attempt's, else the
    person's) has a path in [low, high); submitted in [`submitted_from`, `submitted_to`)."""
    return await conn.fetch(
        f"""SELECT t.id, p.external_id, t.number, t.status, t.started_at, t.deadline,
                  t.extra_time_factor::float8 AS extra_time_factor, t.submitted_at, t.submitted_by, t.item_count,
                  (SELECT count(*) FROM responses r WHERE r.tenant_id = t.tenant_id AND r.attempt_id = t.id
                     AND r.answer <> '{{}}'::jsonb)::int AS answered
           FROM attempts t CROSS JOIN LATERAL {person_facts("t.tenant_id", "t.person_id")} p
           WHERE t.assessment_id = $1 AND ($2::text IS NULL OR t.status = $2) AND ($3::uuid IS NULL OR t.id > $3)
             AND ($5::text IS NULL OR {in_subtree("t.tenant_id", "coalesce(t.org_unit_id, p.org_unit_id)", "$5", "$6")})
             AND ($7::timestamptz IS NULL OR t.submitted_at >= $7)
             AND ($8::timestamptz IS NULL OR t.submitted_at < $8)
           ORDER BY t.id LIMIT $4""",
        assessment_id,
        status,
        after,
        limit,
        low,
        high,
        submitted_from,
        submitted_to,
    )


async def of_assessment(conn: asyncpg.Connection, code: str, attempt_id: UUID) -> bool:
    """Whether the attempt is one of the assessment's (by its code)."""
    return bool(
        await conn.fetchval(
            f"SELECT 1 FROM attempts t WHERE t.assessment_id = {id_of_code('$1')} AND t.id = $2",
            code,
            attempt_id,
        )
    )


# --- the submitted attempts of an assessment, in id order (a rescoring's batches) ----------------------


async def submitted_bounds(conn: asyncpg.Connection, assessment_id: UUID, every: int) -> list[UUID]:
    """The ids that end batches of `every` submitted attempts of the assessment, in id order (the last
    batch may be shorter): batch k holds the ids after bound k-1 up to bound k. Empty without any."""
    rows = await conn.fetch(
        """SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n, count(*) OVER () AS total
                           FROM attempts WHERE assessment_id = $1 AND status = 'submitted') s
           WHERE n % $2 = 0 OR n = total ORDER BY id""",
        assessment_id,
        every,
    )
    return [row["id"] for row in rows]


async def submitted_between(
    conn: asyncpg.Connection, assessment_id: UUID, after: UUID | None, upto: UUID | None, limit: int
) -> list[UUID]:
    """The ids of the assessment's submitted attempts after `after` up to `upto` (None: no bound), in id
    order, `limit` at most."""
    rows = await conn.fetch(
        """SELECT id FROM attempts WHERE assessment_id = $1 AND status = 'submitted'
             AND ($2::uuid IS NULL OR id > $2) AND ($3::uuid IS NULL OR id <= $3) ORDER BY id LIMIT $4""",
        assessment_id,
        after,
        upto,
        limit,
    )
    return [row["id"] for row in rows]


def submitted_count(assessment: str) -> str:
    """SQL of the number of the assessment's submitted attempts (`assessment`: the SQL of its id)."""
    return (
        f"(SELECT count(*) FROM attempts o WHERE o.assessment_id = {assessment} AND o.status = 'submitted')"
    )


async def count_submitted(conn: asyncpg.Connection, assessment_id: UUID) -> int:
    count: int = await conn.fetchval(f"SELECT {submitted_count('$1')}", assessment_id)
    return count


async def forms_as_text(conn: asyncpg.Connection, attempt_ids: list[UUID]) -> list[asyncpg.Record]:
    """Of these attempts: `id`, `assessment_id` and the `form` as JSON text (the scorer decodes it
    straight into its placements)."""
    return await conn.fetch(
        "SELECT id, assessment_id, form::text AS form FROM attempts WHERE id = ANY($1::uuid[])", attempt_ids
    )


async def answers_as_text(conn: asyncpg.Connection, attempt_ids: list[UUID]) -> list[asyncpg.Record]:
    """Of these attempts with answers: `attempt_id` and `answers`, one JSON object (item ref: answer) as
    text, decoded in one call (not a row and a conversion per answer: `answers`)."""
    return await conn.fetch(
        """SELECT attempt_id, jsonb_object_agg(item_ref, answer)::text AS answers FROM responses
           WHERE attempt_id = ANY($1::uuid[]) GROUP BY attempt_id""",
        attempt_ids,
    )
