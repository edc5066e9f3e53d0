"""Allocation of rating tasks to raters by tenant admins, and progress per rater and per item.

An allocation reserves one rating slot of an open task for one rater (a task needs one rating, or
two under double marking before any is given; an adjudication is one more). Allocated tasks come
first in their rater's queue; a task whose remaining slots are all reserved for others is offered
to nobody else. Two allocations of a task always name two raters (the key is the task and the
rater), so double marking still gets two different raters. The candidate's org unit (the attempt's,
else the person's) only selects tasks here: raters never see it.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.assessments import id_by_code
from service.errors import FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.results.ratings import TASK_ATTEMPT, rated, rating_count, rating_rows, task_rows
from service.sittings import attempts as sittings
from service.tenancy import people
from service.tenancy.fields import CODE_PATTERN
from service.tenancy.org_units import in_subtree, subtree_bounds

# Ratings an open task still needs (double marking with no rating yet: two; otherwise one).
_NEEDED = f"""CASE WHEN coalesce((a.content->'marking'->>'double')::boolean, false)
                   AND NOT {rated("t.tenant_id", "t.id")}
              THEN 2 ELSE 1 END"""
# Allocations of the task whose rater has not rated it yet: slots reserved.
_RESERVED = f"""(SELECT count(*) FROM rating_allocations l WHERE l.tenant_id = t.tenant_id AND l.task_id = t.id
                AND NOT {rated("l.tenant_id", "l.task_id", "l.rater")})"""
# An open task (aliases t and a) rater $1 may rate: not rated by them, and allocated to them or with a free slot.
OPEN_TO = f"""NOT {rated("t.tenant_id", "t.id", "$1")}
    AND (EXISTS (SELECT 1 FROM rating_allocations l WHERE l.tenant_id = t.tenant_id AND l.task_id = t.id
                 AND l.rater = $1)
         OR {_NEEDED} > {_RESERVED})"""

RATER_PATTERN = r"^[^\x00-\x1f]+$"


def allocated_to(rater: str) -> str:
    """SQL: true when the task (alias t) is allocated to the rater (`rater`: its SQL)."""
    return (
        f"EXISTS (SELECT 1 FROM rating_allocations l WHERE l.tenant_id = t.tenant_id AND l.task_id = t.id "
        f"AND l.rater = {rater})"
    )


async def open_to(conn: asyncpg.Connection, task_id: UUID, rater: str) -> bool:
    """Whether the rater may rate this task now (its slots not all reserved for others)."""
    return bool(
        await conn.fetchval(
            f"""SELECT {OPEN_TO} FROM {task_rows("t")} {TASK_ATTEMPT} WHERE t.id = $2""",
            rater,
            task_id,
        )
    )


class AllocationInput(msgspec.Struct, forbid_unknown_fields=True):
    rater: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=255,
            pattern=RATER_PATTERN,
            description="The rater's subject (their token's `sub`)",
        ),
    ]
    assessment: Annotated[str, msgspec.Meta(max_length=64, pattern=CODE_PATTERN)]
    item: (
        Annotated[
            str, msgspec.Meta(max_length=64, pattern=CODE_PATTERN, description="Only responses to this item")
        ]
        | None
    ) = None
    org_unit: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=64, pattern=CODE_PATTERN, description="Only candidates in this unit's subtree"
            ),
        ]
        | None
    ) = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=10000, description="At most this many tasks")] = 100


class Allocated(msgspec.Struct):
    rater: str
    assessment: str
    allocated: int  # tasks newly reserved for the rater by this request


class Released(msgspec.Struct):
    rater: str
    assessment: str
    released: int


class RaterProgress(msgspec.Struct):
    rater: str
    allocated: int  # tasks allocated to the rater
    done: int  # tasks the rater has rated (allocated or not)
    pending: int  # allocated, still open, not yet rated by the rater


class ItemProgress(msgspec.Struct):
    item: str
    tasks: int
    agreed: int
    open: int
    ratings: int
    allocated_pending: int  # open slots reserved for a rater who has not rated yet


class RatingProgress(msgspec.Struct):
    assessment: str
    raters: list[RaterProgress]
    items: list[ItemProgress]


async def _assessment_id(conn: asyncpg.Connection, code: str) -> UUID | None:
    return await id_by_code(conn, code)


async def _known_assessment(conn: asyncpg.Connection, code: str) -> UUID:
    found = await _assessment_id(conn, code)
    if found is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    return found


# The candidate's unit (the attempt's, else the person's) in the subtree with path bounds $4, $5.
_UNIT_IN_SUBTREE = in_subtree(
    "at.tenant_id", f"coalesce(at.org_unit_id, {people.unit_of('at.tenant_id', 'at.person_id')})", "$4", "$5"
)


async def allocate(conn: asyncpg.Connection, data: AllocationInput, allocated_by: str) -> Allocated:
    """Reserve up to `limit` open tasks (oldest first) with a free slot for the rater."""
    assessment_id = await _assessment_id(conn, data.assessment)
    if assessment_id is None:
        raise Unprocessable(
            msg("no assessment '{code}'", code=data.assessment),
            [FieldError(msg("no such assessment"), "/assessment")],
        )
    try:
        low, high = await subtree_bounds(conn, data.org_unit)
    except NotFound:
        raise Unprocessable(
            msg("no org unit '{code}'", code=data.org_unit),
            [FieldError(msg("no such org unit"), "/org_unit")],
        ) from None
    count = await conn.fetchval(
        f"""WITH picked AS (
               INSERT INTO rating_allocations (task_id, rater, allocated_by)
               SELECT t.id, $1, $7 FROM {task_rows("t")} {TASK_ATTEMPT}
               WHERE at.assessment_id = $2 AND t.status = 'open' AND ($3::text IS NULL OR t.item_ref = $3)
                 AND ($4::text IS NULL OR {_UNIT_IN_SUBTREE})
                 AND NOT EXISTS (SELECT 1 FROM rating_allocations l WHERE l.tenant_id = t.tenant_id
                                 AND l.task_id = t.id AND l.rater = $1)
                 AND {OPEN_TO}
               ORDER BY t.created_at, t.id LIMIT $6
               ON CONFLICT DO NOTHING RETURNING 1)
            SELECT count(*) FROM picked""",
        data.rater,
        assessment_id,
        data.item,
        low,
        high,
        data.limit,
        allocated_by,
    )
    return Allocated(data.rater, data.assessment, count)


async def release(conn: asyncpg.Connection, rater: str, assessment: str) -> Released:
    """Hand back the rater's allocations on the assessment's tasks they have not rated yet."""
    assessment_id = await _known_assessment(conn, assessment)
    count = await conn.fetchval(
        f"""WITH gone AS (
               DELETE FROM rating_allocations l USING {task_rows("t")}
               WHERE t.tenant_id = l.tenant_id AND t.id = l.task_id
                 AND {sittings.in_assessment("t.tenant_id", "t.attempt_id", "$2")} AND l.rater = $1
                 AND NOT {rated("l.tenant_id", "l.task_id", "l.rater")}
               RETURNING 1)
           SELECT count(*) FROM gone""",
        rater,
        assessment_id,
    )
    return Released(rater, assessment, count)


async def progress(conn: asyncpg.Connection, code: str) -> RatingProgress:
    assessment_id = await _known_assessment(conn, code)
    tasks = f"""SELECT t.tenant_id, t.id, t.item_ref, t.status FROM {task_rows("t")}
               CROSS JOIN LATERAL {sittings.attempt_facts("t.tenant_id", "t.attempt_id")} at WHERE at.assessment_id = $1"""
    raters = await conn.fetch(
        f"""WITH tasks AS ({tasks}),
                 allocations AS (
                   SELECT l.rater, count(*) AS allocated,
                          count(*) FILTER (
                              WHERE t.status = 'open' AND NOT {rated("l.tenant_id", "l.task_id", "l.rater")}
                          ) AS pending
                   FROM rating_allocations l JOIN tasks t ON t.tenant_id = l.tenant_id AND t.id = l.task_id
                   GROUP BY l.rater),
                 done AS (
                   SELECT r.rater, count(*) AS done FROM {rating_rows("r")}
                   JOIN tasks t ON t.tenant_id = r.tenant_id AND t.id = r.task_id GROUP BY r.rater)
            SELECT coalesce(l.rater, d.rater) AS rater, coalesce(l.allocated, 0) AS allocated,
                   coalesce(d.done, 0) AS done, coalesce(l.pending, 0) AS pending
            FROM allocations l FULL JOIN done d ON d.rater = l.rater ORDER BY 1""",
        assessment_id,
    )
    items = await conn.fetch(
        f"""WITH tasks AS ({tasks})
            SELECT t.item_ref AS item, count(*) AS tasks, count(*) FILTER (WHERE t.status = 'agreed') AS agreed,
                   count(*) FILTER (WHERE t.status = 'open') AS open,
                   coalesce(sum({rating_count("t.tenant_id", "t.id")}), 0)::bigint AS ratings,
                   coalesce(sum((SELECT count(*) FROM rating_allocations l WHERE l.tenant_id = t.tenant_id
                                 AND l.task_id = t.id AND NOT {rated("l.tenant_id", "l.task_id", "l.rater")})
                            ) FILTER (WHERE t.status = 'open'), 0)::bigint AS allocated_pending
            FROM tasks t GROUP BY t.item_ref ORDER BY t.item_ref""",
        assessment_id,
    )
    return RatingProgress(
        code, [RaterProgress(**dict(row)) for row in raters], [ItemProgress(**dict(row)) for row in items]
    )
