"""IRT calibrations of an assessment (the `calibrations` table's one owner): a job over every final
current score, in batches, that fits each top-level dimension of the framework, then a review and
publication.

The job (kind "calibration", leased like every job of `service.jobs`; a worker that takes it over
recomputes from the start) reads the documents through `service.results.scores`, `BATCH` at a
time, with progress (`processed` of `total`) written per batch, and turns them into one response
matrix per top-level dimension (`service.results.response_matrix`: which category a credit is,
and why an omission is category 0 while an item not on the form is not administered). Each
matrix is calibrated by `service.psychometrics.calibration.calibrate_dimension` (2PL for items
with two categories, the graded response model for more) in a worker thread, so the job's lease
keeps being renewed while `mirt` works. A dimension in which no item can be calibrated is
listed in `skipped` with the reason; when every dimension is, the run fails.

States: a run is `running`, then `done` or `failed` (`status`); a done run is a `draft` until a
tenant admin publishes it (`state`). A published calibration is immutable: the database trigger
`calibration_guard` refuses any update of its row, so what uses it (ability estimates, adaptive
sections: later steps) can pin it by id.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from service.assessments import assessments
from service.assessments.validation import CalibrationCover
from service.db import keyset
from service.db.pool import tenant_transaction
from service.errors import Conflict, NotFound
from service.i18n import msg
from service.jobqueue import queue
from service.jobqueue.job import Job
from service.psychometrics.calibration import CalibrationSettings, calibrate_dimension
from service.psychometrics.model import DimensionCalibration, ItemParameters
from service.results.response_matrix import DimensionMatrix, MatrixBuilder
from service.results.scores import count_final_current, final_current_batch

BATCH = 1000


class SkippedDimension(msgspec.Struct, frozen=True):
    dimension: str
    reason: str


class ItemCategories(msgspec.Struct, frozen=True):
    """How an item's credit on the dimension became categories: category k is a credit of at least
    `floors[k]` (and below `floors[k + 1]`)."""

    item_id: str
    floors: list[float]


class DimensionCategories(msgspec.Struct, frozen=True):
    dimension: str
    items: list[ItemCategories]


class CalibrationResult(msgspec.Struct, frozen=True):
    """Per top-level dimension calibrated, its `DimensionCalibration` (per item: parameters with
    standard errors, infit/outfit, flags; per dimension: marginal reliability, the test information
    curve over `theta_grid`, the reported scale) and its items' categories."""

    dimensions: list[DimensionCalibration]
    categories: list[DimensionCategories]
    skipped: list[SkippedDimension]


class CalibrationSummary(msgspec.Struct, kw_only=True):
    id: UUID
    assessment: str
    state: Literal["draft", "published"]
    status: Literal["running", "done", "failed"]
    total: int
    processed: int
    error: str | None
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    published_at: datetime | None
    published_by: str | None
    run_attempts: int = (
        0  # claims of its job by a worker so far: more than 1 when taken over from one that died
    )
    lease_expires_at: datetime | None = None  # queued or running: when another worker may take it over


class Calibration(CalibrationSummary, kw_only=True):
    result: CalibrationResult | None = None


_COLUMNS = """c.id, c.state, c.status, c.total, c.processed, c.error, c.requested_by, c.created_at, c.finished_at,
              c.published_at, c.published_by, """
_SELECT_ONE = (
    "SELECT " + _COLUMNS + "c.result, " + queue.LEASE_COLUMNS + " FROM calibrations c" + queue.join("c")
)
_SELECT_MANY = "SELECT " + _COLUMNS + queue.LEASE_COLUMNS + " FROM calibrations c" + queue.join("c")


async def start(conn: asyncpg.Connection, code: str, requested_by: str) -> Calibration:
    assessment = await assessments.assessment_id(conn, code)
    total = await count_final_current(conn, assessment)
    calibration_id = await conn.fetchval(
        "INSERT INTO calibrations (assessment_id, total, requested_by) VALUES ($1, $2, $3) RETURNING id",
        assessment,
        total,
        requested_by,
    )
    await queue.enqueue(conn, "calibration", calibration_id)
    return await get_calibration(conn, code, calibration_id)


async def get_calibration(conn: asyncpg.Connection, code: str, calibration_id: UUID) -> Calibration:
    assessment = await assessments.assessment_id(conn, code)
    row = await conn.fetchrow(
        _SELECT_ONE + " WHERE c.assessment_id = $1 AND c.id = $2", assessment, calibration_id
    )
    if row is None:
        raise NotFound(
            msg(
                "assessment '{code}' has no calibration {calibration_id}",
                code=code,
                calibration_id=calibration_id,
            )
        )
    return msgspec.convert(dict(row) | {"assessment": code}, Calibration)


async def list_calibrations(
    conn: asyncpg.Connection, code: str, *, before: keyset.Position | None, limit: int
) -> list[CalibrationSummary]:
    """Newest first, the page after `before` (the last calibration of the previous page); without results."""
    assessment = await assessments.assessment_id(conn, code)
    rows = await conn.fetch(
        _SELECT_MANY + " WHERE c.assessment_id = $1 AND " + keyset.newest_first("c", 2),
        assessment,
        *keyset.arguments(before, limit),
    )
    return [msgspec.convert(dict(row) | {"assessment": code}, CalibrationSummary) for row in rows]


async def publish(
    conn: asyncpg.Connection, code: str, calibration_id: UUID, published_by: str
) -> Calibration:
    """A done draft becomes published (and immutable); anything else is a conflict."""
    await get_calibration(conn, code, calibration_id)  # 404 unless it is this assessment's
    published = await conn.fetchval(
        "UPDATE calibrations SET state = 'published', published_at = now(), published_by = $2 "
        "WHERE id = $1 AND state = 'draft' AND status = 'done' RETURNING id",
        calibration_id,
        published_by,
    )
    if published is None:
        current = await get_calibration(conn, code, calibration_id)  # as it is now, after any racing publish
        if current.state == "published":
            raise Conflict(
                msg("calibration {calibration_id} is already published", calibration_id=calibration_id)
            )
        raise Conflict(
            msg(
                "calibration {calibration_id} is {status}: only a finished calibration can be published",
                calibration_id=calibration_id,
                status=current.status,
            )
        )
    return await get_calibration(conn, code, calibration_id)


class NothingToCalibrate(Exception):
    """No top-level dimension had an item with enough responses: the run fails with the reasons."""


def calibrate(
    matrices: list[DimensionMatrix], settings: CalibrationSettings | None = None
) -> CalibrationResult:
    """Every dimension's matrix calibrated (pure, CPU-bound: the job runs it in a thread)."""
    dimensions, categories, skipped = [], [], []
    for matrix in matrices:
        try:
            calibration = calibrate_dimension(
                matrix.dimension, matrix.responses, matrix.categories, matrix.item_ids, settings
            )
        except ValueError as exc:  # no item of the dimension can be fitted
            skipped.append(SkippedDimension(matrix.dimension, str(exc)))
            continue
        dimensions.append(calibration)
        categories.append(
            DimensionCategories(
                matrix.dimension,
                [
                    ItemCategories(item, list(f))
                    for item, f in zip(matrix.item_ids, matrix.floors, strict=True)
                ],
            )
        )
    if not dimensions:
        reasons = "; ".join(f"{s.dimension}: {s.reason}" for s in skipped) or "no final scores"
        raise NothingToCalibrate(f"no dimension could be calibrated ({reasons})")
    return CalibrationResult(dimensions, categories, skipped)


async def run(job: Job) -> None:
    """From the start on every claim (the matrices are built in memory)."""
    pool, tenant_id, calibration_id = job.pool, job.tenant_id, job.id
    async with tenant_transaction(pool, tenant_id) as conn:
        await job.fence(conn)
        assessment = await conn.fetchval(
            "UPDATE calibrations SET processed = 0 WHERE id = $1 AND status = 'running' RETURNING assessment_id",
            calibration_id,
        )
        if assessment is None:  # gone, or already ended
            await job.complete(conn)
            return
    await job.checkpoint()
    builder = MatrixBuilder()
    after = None
    while True:
        async with tenant_transaction(pool, tenant_id) as conn:
            await job.fence(conn)
            batch = await final_current_batch(conn, assessment, after, BATCH)
            if not batch:
                break
            for _, document in batch:
                builder.add(document)
            await conn.execute(
                "UPDATE calibrations SET processed = processed + $2 WHERE id = $1", calibration_id, len(batch)
            )
        after = batch[-1][0]
    result = await asyncio.to_thread(calibrate, builder.matrices())
    async with tenant_transaction(pool, tenant_id) as conn:
        await job.fence(conn)
        await conn.execute(
            "UPDATE calibrations SET status = 'done', result = $2, finished_at = now() WHERE id = $1",
            calibration_id,
            msgspec.to_builtins(result),
        )
        await job.complete(conn)


async def mark_failed(conn: asyncpg.Connection, calibration_id: UUID, error: str) -> None:
    await conn.execute(
        "UPDATE calibrations SET status = 'failed', error = $2, finished_at = now() "
        "WHERE id = $1 AND status = 'running'",
        calibration_id,
        error,
    )


async def covers(conn: asyncpg.Connection, calibration_ids: list[UUID]) -> dict[UUID, CalibrationCover]:
    """For composing adaptive sections: each calibration's state and, per dimension, its calibrated
    items (`service.assessments.assessments.CalibrationLookup`)."""
    found = {}
    for row in await conn.fetch(
        "SELECT id, state, result FROM calibrations WHERE id = ANY($1::uuid[])", calibration_ids
    ):
        result = msgspec.convert(row["result"], CalibrationResult) if row["result"] else None
        found[row["id"]] = CalibrationCover(
            row["state"],
            {
                d.dimension: frozenset(i.item_id for i in d.items if i.parameters is not None)
                for d in (result.dimensions if result else [])
            },
        )
    return found


class PoolParameters(msgspec.Struct, frozen=True):
    """One dimension of a published calibration, as an adaptive section uses it: each calibrated
    item's parameters, and how its credit becomes a response category (`floors`)."""

    parameters: list[ItemParameters]
    floors: dict[str, list[float]]


async def pool_parameters(
    conn: asyncpg.Connection, calibration_id: UUID, dimension: str
) -> PoolParameters | None:
    """The dimension's parameters in a published calibration (None if it is not published, or has
    no such dimension). Published calibrations never change, so callers may pin what they read."""
    result = await conn.fetchval(
        "SELECT result FROM calibrations WHERE id = $1 AND state = 'published'", calibration_id
    )
    if result is None:
        return None
    calibration = msgspec.convert(result, CalibrationResult)
    for found, categories in zip(calibration.dimensions, calibration.categories, strict=True):
        if found.dimension == dimension:
            return PoolParameters(
                [i.parameters for i in found.items if i.parameters is not None],
                {i.item_id: i.floors for i in categories.items},
            )
    return None
