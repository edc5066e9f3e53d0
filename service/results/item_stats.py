"""Item statistics as a job: over every final current score of an assessment, in batches, in
constant memory (`StatisticsAccumulator`); the result is kept with the run. Tenant-scoped. A job of
`service.jobqueue` (leased; a worker that takes it over after a crash recomputes from the start).
Beside the classical statistics, differential item functioning (`service.scoring.item_dif`: Mantel–Haenszel,
and the IRT likelihood-ratio test within its limits) by the category and org unit each attempt was
counted in when it was submitted."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.assessments import id_by_code
from service.db.pool import tenant_transaction
from service.errors import NotFound
from service.i18n import msg
from service.jobqueue import queue
from service.jobqueue.job import Job
from service.results import scores
from service.scoring import item_dif, statistics
from service.scoring.item_dif import DifAccumulator
from service.scoring.statistics import ItemStatistics, StatisticsAccumulator
from service.sittings import attempts as sittings
from service.tenancy import org_units

BATCH = 1000


class StatisticsRun(msgspec.Struct):
    id: UUID
    assessment: str
    status: Literal["running", "done", "failed"]
    total: int
    processed: int
    result: ItemStatistics | None
    error: str | None
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    run_attempts: int = (
        0  # claims of its job by a worker so far: more than 1 when taken over from one that died
    )
    lease_expires_at: datetime | None = None  # queued or running: when another worker may take it over


_SELECT = (
    """SELECT r.id, $1::text AS assessment, r.status, r.total, r.processed, r.result, r.error, r.requested_by,
                    r.created_at, r.finished_at, """
    + queue.LEASE_COLUMNS
    + """
             FROM statistics_runs r"""
    + queue.join("r")
)


async def start(conn: asyncpg.Connection, code: str, requested_by: str) -> StatisticsRun:
    assessment_id = await id_by_code(conn, code)
    if assessment_id is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    total = await scores.count_final_current(conn, assessment_id)
    run_id = await conn.fetchval(
        "INSERT INTO statistics_runs (assessment_id, total, requested_by) VALUES ($1, $2, $3) RETURNING id",
        assessment_id,
        total,
        requested_by,
    )
    await queue.enqueue(conn, "item_statistics", run_id)
    return await get_run(conn, code, run_id)


async def get_run(conn: asyncpg.Connection, code: str, run_id: UUID | None = None) -> StatisticsRun:
    """A run, or the latest one of the assessment."""
    assessment_id = await id_by_code(conn, code)
    row = await conn.fetchrow(
        _SELECT
        + " WHERE r.assessment_id = $2 AND ($3::uuid IS NULL OR r.id = $3) ORDER BY r.created_at DESC LIMIT 1",
        code,
        assessment_id,
        run_id,
    )
    if row is None:
        raise NotFound(
            msg("assessment '{code}' has no item statistics run {run_id}", code=code, run_id=run_id)
            if run_id
            else msg("assessment '{code}' has no item statistics yet", code=code)
        )
    return msgspec.convert(dict(row), StatisticsRun)


def localized(run: StatisticsRun, locale: str) -> StatisticsRun:
    """The run with its alpha and DIF reasons in `locale` (`statistics.localized`, `item_dif.localized`):
    what the API and the console show."""
    if run.result is None:
        return run
    result = statistics.localized(run.result, locale)
    if result.dif is not None:
        result = msgspec.structs.replace(result, dif=item_dif.localized(result.dif, locale))
    return msgspec.structs.replace(run, result=result)


async def run(job: Job) -> None:
    """From the start on every claim (a worker that takes it over recomputes: the accumulator is in memory)."""
    pool, tenant_id, run_id = job.pool, job.tenant_id, job.id
    accumulator = StatisticsAccumulator()
    differential = DifAccumulator()
    async with tenant_transaction(pool, tenant_id) as conn:
        await job.fence(conn)
        assessment_id = await conn.fetchval(
            "UPDATE statistics_runs SET processed = 0 WHERE id = $1 "
            "AND status = 'running' RETURNING assessment_id",
            run_id,
        )
        if assessment_id is None:  # gone, or already ended
            await job.complete(conn)
            return
    await job.checkpoint()
    after = None
    while True:
        async with tenant_transaction(pool, tenant_id) as conn:
            await job.fence(conn)
            rows = await scores.final_current_scores(conn, assessment_id, after, BATCH)
            if not rows:
                break
            answers = await sittings.answers(conn, [row.attempt_id for row in rows])
            units = await org_units.code_paths(conn, list({r.org_unit_id for r in rows if r.org_unit_id}))
            for row in rows:
                accumulator.add(row.document, answers.get(row.attempt_id, {}))
                differential.add(
                    row.document, row.category, units.get(row.org_unit_id) if row.org_unit_id else None
                )
            await conn.execute(
                "UPDATE statistics_runs SET processed = processed + $2 WHERE id = $1", run_id, len(rows)
            )
        after = rows[-1].attempt_id
    # DIF's likelihood-ratio test refits IRT models (seconds to minutes): in a thread, so the job's
    # heartbeat keeps its lease meanwhile
    dif = await asyncio.to_thread(differential.result)
    async with tenant_transaction(pool, tenant_id) as conn:
        await job.fence(conn)
        await conn.execute(
            "UPDATE statistics_runs SET status = 'done', result = $2, finished_at = now() WHERE id = $1",
            run_id,
            msgspec.to_builtins(msgspec.structs.replace(accumulator.result(), dif=dif)),
        )
        await job.complete(conn)


async def mark_failed(conn: asyncpg.Connection, run_id: UUID, error: str) -> None:
    await conn.execute(
        "UPDATE statistics_runs SET status = 'failed', error = $2 WHERE id = $1 AND status = 'running'",
        run_id,
        error,
    )
