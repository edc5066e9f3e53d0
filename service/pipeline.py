"""The score pipeline: submitted → score → store → rollups → outbox, one sequence for every trigger.

Every change that gives an attempt a new current score, or moves where scores are counted, passes
here, inside the caller's tenant-scoped transaction, so the score, the aggregates, the webhook
events and the xAPI statements commit together or not at all:

- submission and deadline: `submitted`, called by service/delivery/attempts.py (a candidate's
  submit, an overdue attempt touched by its candidate or found by the sweeper);
- a settled rating: `rate` and `correct` (service/api/ratings.py), which rescore the attempt whose
  open responses the rating settled;
- a rescoring commit: `store`, which the rescoring job (service/results/rescoring.py) is given by
  the job registry (service/jobs/kinds.py) and calls once per batch;
- org-unit moves and deletes: `move_org_unit`, `import_org_units`, `delete_org_unit`, which move
  the rollups along with the tree (or refuse a unit that results are counted in).

The domain packages below (results, aggregates, webhooks, xapi, tenancy) call none of each other for
this; `store` (credentials included: service/results/credentials.py, `scores_stored`) is the one place
that makes a score current and keeps the rest in step. The layers
are in ARCHITECTURE.md and held by tests/test_architecture.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg

from service.aggregates import rollups
from service.errors import Conflict
from service.i18n import msg
from service.results import credentials, ratings, scores
from service.results.ratings import MyRating, RatingInput, TaskState
from service.scoring.engine import ScoreDocument
from service.scoring.lean import StoredForm
from service.tenancy import org_units, people
from service.tenancy.org_units import (
    ImportMode,
    ImportResult,
    OrgUnit,
    OrgUnitCreate,
    OrgUnitImport,
    OrgUnitMove,
)
from service.webhooks import outbox
from service.xapi import outbox as xapi_outbox

# Tests only: awaited in `store` after everything but the rollups (the attempts, `scored_by`), to hold a
# transaction there while another runs (None in production).
before_rollups: Callable[[list[UUID], str], Awaitable[None]] | None = None


async def store(
    conn: asyncpg.Connection,
    documents: dict[UUID, ScoreDocument],
    *,
    reason: str,
    scored_by: str,
    submitted: bool = False,
    forms: dict[UUID, StoredForm] | None = None,
) -> None:
    """Each document becomes its attempt's current score (rating tasks for what awaits a rater), the
    aggregates move, Open Badges credentials are issued or revoked where the assessment has them switched
    on, and webhooks announce it (`attempt.submitted` too when the same transaction submitted the
    attempts), and so do xAPI statements to the tenant's LRS (`completed`, `scored`, `voided`), all in
    the caller's transaction. The rollups move last: the caller commits right after (nothing slow
    between its call of `store` and its commit). `forms`: the documents' stored forms if the caller
    made them already (`scores.store_documents`)."""
    if not documents:
        return
    await scores.store_documents(conn, documents, reason=reason, scored_by=scored_by, forms=forms)
    ids = list(documents)
    await credentials.scores_stored(conn, documents)
    wanted = await outbox.subscribers(conn, outbox.score_event_types(submitted=submitted))
    lrs = await xapi_outbox.lrs(conn)
    if (
        wanted or lrs
    ):  # the attempts' event data is read once, for every event type, and only if someone listens
        rows = await scores.event_rows(conn, ids)
        if wanted:
            await outbox.scores_stored(conn, wanted, rows, submitted=submitted)
        if lrs:
            await xapi_outbox.scores_stored(conn, lrs, rows, submitted=submitted)
    if before_rollups is not None:
        await before_rollups(ids, scored_by)
    # Last, so that the rollup rows every submission of the assessment also updates (the tenant's, the
    # province's...) stay locked only from this statement to the caller's commit: a rescoring batch
    # (hundreds of large documents stored above) must not hold them while it stores (issue 19, goal 4).
    await rollups.refresh(conn, ids)


async def score_attempts(
    conn: asyncpg.Connection, attempt_ids: list[UUID], *, reason: str, scored_by: str, submitted: bool = False
) -> dict[UUID, ScoreDocument]:
    """Score the attempts with the pins in force and store the documents (see `store`)."""
    documents = await scores.score_documents(conn, attempt_ids)
    await store(conn, documents, reason=reason, scored_by=scored_by, submitted=submitted)
    return documents


async def submitted(
    conn: asyncpg.Connection, attempt_ids: list[UUID], *, reason: str, scored_by: str
) -> None:
    """Attempts this transaction just submitted (by their candidate or at their deadline)."""
    await score_attempts(conn, attempt_ids, reason=reason, scored_by=scored_by, submitted=True)


async def rate(conn: asyncpg.Connection, task_id: UUID, rater: str, data: RatingInput) -> TaskState:
    """Record a rating; when it settles the response's agreed rating, rescore the attempt at once."""
    state, settled = await ratings.rate(conn, task_id, rater, data)
    if settled is not None:
        await score_attempts(conn, [settled], reason="rating agreed", scored_by="ratings")
    return state


async def correct(
    conn: asyncpg.Connection, task_id: UUID, rater: str, data: RatingInput, if_match: str
) -> tuple[MyRating, TaskState]:
    """Correct the rater's own unused rating; rescore the attempt if that settles the response."""
    mine, state, settled = await ratings.correct(conn, task_id, rater, data, if_match)
    if settled is not None:
        await score_attempts(conn, [settled], reason="rating agreed", scored_by="ratings")
    return mine, state


async def move_org_unit(conn: asyncpg.Connection, code: str, data: OrgUnitMove) -> OrgUnit:
    """Move a unit with its subtree; the results counted in it leave the old ancestors' rollups and
    join the new ones'."""
    unit, moved = await org_units.move_org_unit(conn, code, data)
    await rollups.move_unit(conn, moved.unit_id, moved.old_path, moved.new_path)
    return unit


async def create_org_unit(conn: asyncpg.Connection, data: OrgUnitCreate) -> OrgUnit:
    """Create a unit; a parent that counted results as a leaf gets its per-category and week rollups."""
    unit = await org_units.create_org_unit(conn, data)
    await rollups.reshape_parents(conn, [data.code])
    return unit


async def import_org_units(
    conn: asyncpg.Connection, data: OrgUnitImport, mode: ImportMode = "create"
) -> ImportResult:
    """Import a tree; each unit it moves takes its rollups along, in the order the import moved them,
    and a parent that counted results as a leaf gets its per-category and week rollups."""
    result, moves = await org_units.import_org_units(conn, data, mode)
    for moved in moves:
        await rollups.move_unit(conn, moved.unit_id, moved.old_path, moved.new_path)
    await rollups.reshape_parents(conn, [unit.code for unit in data.units])
    return result


async def delete_org_unit(conn: asyncpg.Connection, code: str) -> None:
    """Delete a unit without children, people or results counted in it; its empty rollups go with it."""
    unit = await org_units.deletable(conn, code)
    await people.leave_unit(conn, unit.id, code)
    if await rollups.has_results(conn, unit.id):
        raise Conflict(
            msg(
                "org unit '{code}' has assessment results counted in it: they stay where they "
                "were submitted, so the unit must stay too",
                code=code,
            )
        )
    await rollups.forget_unit(conn, unit.id)
    await org_units.remove(conn, unit)
