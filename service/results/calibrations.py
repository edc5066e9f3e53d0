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

Anchoring (issue 20, pretest items): when the assessment has adaptive sections, each pins a
published calibration, and a run holds the pool items of each such section at the parameters of
that calibration on the section's dimension, estimating every other item of the dimension (the
pretest items seeded into the section, and items of its other sections) on that scale:
fixed-parameter calibration (`service.psychometrics.calibration`, "Anchored"). The result names,
per dimension, the calibration it was anchored to (`anchored_to`), and its items so held are
flagged `anchored`. A dimension without adaptive sections, and an assessment without them, are
calibrated freely, as before.

States: a run is `running`, then `done` or `failed` (`status`); a done run is a `draft` until a
tenant admin publishes it (`state`). A published calibration is immutable: the database trigger
`calibration_guard` refuses any update of its row, so what uses it can pin it by id: the latest
published one is in force for scoring (`in_force_ids`), and every final score document names the
calibration its abilities come from (`service.results.abilities`); a rescoring applies it to
past attempts. Decoded results of published calibrations are kept per process by id.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
import msgspec

from service.assessments import assessments
from service.assessments.validation import CalibrationCover
from service.db import keyset
from service.db.pool import tenant_transaction
from service.errors import Conflict, FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.jobqueue import queue
from service.jobqueue.job import Job
from service.psychometrics.calibration import CalibrationSettings, calibrate_dimension
from service.psychometrics.model import ItemParameters, ScaleTransform
from service.results import scores
from service.results.calibration_result import (
    CalibrationResult,
    DimensionCategories,
    ItemCategories,
    PublishedCalibration,
    SkippedDimension,
)
from service.results.response_matrix import DimensionMatrix, MatrixBuilder

BATCH = 1000


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
    total = await scores.count_final_current(conn, assessment)
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
    """A done draft becomes published (and immutable); anything else is a conflict. From its commit
    on, every attempt scored gets abilities from it (`scores`); it waits for submissions scoring
    under the calibration before it (the pins lock, exclusively), so none of them commits after it
    with the older one. Past attempts get it through a rescoring."""
    await get_calibration(conn, code, calibration_id)  # 404 unless it is this assessment's
    await scores.lock_pins(conn, [await assessments.assessment_id(conn, code)], exclusive=True)
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


# Published calibrations are immutable, so their decoded results are kept by id (a UUID: no tenant can
# name another's, and the id is always first read through the tenant's row-level security).
_PUBLISHED_KEPT = 32
_published: OrderedDict[UUID, PublishedCalibration] = OrderedDict()
_result_decoder = msgspec.json.Decoder(CalibrationResult)


async def _published_results(conn: asyncpg.Connection, ids: set[UUID]) -> dict[UUID, PublishedCalibration]:
    """Only ids this tenant can see (read under its row-level security on every call); results decoded
    once per process."""
    if not ids:
        return {}
    visible = {
        row["id"]
        for row in await conn.fetch(
            "SELECT id FROM calibrations WHERE id = ANY($1::uuid[]) AND state = 'published'", list(ids)
        )
    }
    missing = [i for i in visible if i not in _published]
    if missing:
        for row in await conn.fetch(
            "SELECT id, result::text AS result FROM calibrations WHERE id = ANY($1::uuid[])", missing
        ):
            _published[row["id"]] = PublishedCalibration(
                str(row["id"]), _result_decoder.decode(row["result"])
            )
    found = {}
    for i in visible:
        _published.move_to_end(i)
        found[i] = _published[i]
    while len(_published) > _PUBLISHED_KEPT:
        _published.popitem(last=False)
    return found


async def in_force_ids(conn: asyncpg.Connection, assessment_ids: list[UUID]) -> dict[UUID, UUID]:
    """Per assessment, the id of its most recently published calibration (the one scoring applies)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (assessment_id) assessment_id, id FROM calibrations
           WHERE assessment_id = ANY($1::uuid[]) AND state = 'published'
           ORDER BY assessment_id, published_at DESC, id""",
        assessment_ids,
    )
    return {row["assessment_id"]: row["id"] for row in rows}


async def published(conn: asyncpg.Connection, calibration_ids: set[UUID]) -> dict[UUID, PublishedCalibration]:
    """These published calibrations (ids not published, or not the tenant's, are left out)."""
    return await _published_results(conn, calibration_ids)


class CalibrationAdoption(msgspec.Struct, forbid_unknown_fields=True):
    calibration: Annotated[UUID, msgspec.Meta(description="A published calibration of another assessment")]


async def adopt(
    conn: asyncpg.Connection, code: str, data: CalibrationAdoption, requested_by: str
) -> Calibration:
    """Another assessment's published calibration becomes a done draft of this one (reviewed and
    published as any other): its items keep their parameters, so both assessments' abilities are on
    one θ scale and a training effect between them reports gains on θ. Items of this assessment the
    calibration does not have are not used for θ."""
    assessment = await assessments.assessment_id(conn, code)
    source = await conn.fetchrow(
        "SELECT id, assessment_id, result::text AS result FROM calibrations WHERE id = $1 AND state = 'published'",
        data.calibration,
    )
    if source is None or source["assessment_id"] == assessment:
        detail = (
            msg(
                "calibration {calibration_id} is not a published calibration", calibration_id=data.calibration
            )
            if source is None
            else msg(
                "calibration {calibration_id} is already this assessment's", calibration_id=data.calibration
            )
        )
        raise Unprocessable(detail, [FieldError(detail, "/calibration")])
    result = _result_decoder.decode(source["result"])
    adopted = msgspec.structs.replace(result, adopted_from=result.adopted_from or str(source["id"]))
    calibration_id = await conn.fetchval(
        "INSERT INTO calibrations (assessment_id, requested_by, status, result, finished_at) "
        "VALUES ($1, $2, 'done', $3, now()) RETURNING id",
        assessment,
        requested_by,
        msgspec.to_builtins(adopted),
    )
    return await get_calibration(conn, code, calibration_id)


async def scale_roots(conn: asyncpg.Connection, calibration_ids: list[UUID]) -> dict[UUID, str]:
    """Per calibration, the id of the calibration whose fit it is (its own, or the adopted one's)."""
    rows = await conn.fetch(
        "SELECT id, coalesce(result->>'adopted_from', id::text) AS root FROM calibrations "
        "WHERE id = ANY($1::uuid[])",
        calibration_ids,
    )
    return {row["id"]: row["root"] for row in rows}


class NothingToCalibrate(Exception):
    """No top-level dimension had an item with enough responses: the run fails with the reasons."""


class Anchor(msgspec.Struct, frozen=True):
    """One dimension's anchors: the published calibration they come from, its items' parameters held
    fixed, and its reporting scale."""

    calibration: str
    parameters: dict[str, ItemParameters]
    scale: ScaleTransform


def calibrate(
    matrices: list[DimensionMatrix],
    settings: CalibrationSettings | None = None,
    anchors: dict[str, Anchor] | None = None,
) -> CalibrationResult:
    """Every dimension's matrix calibrated (pure, CPU-bound: the job runs it in a thread); a
    dimension in `anchors` with its anchors' parameters held fixed."""
    dimensions, categories, skipped = [], [], []
    anchored_to: dict[str, str] = {}
    for matrix in matrices:
        anchor = (anchors or {}).get(matrix.dimension)
        try:
            calibration = calibrate_dimension(
                matrix.dimension,
                matrix.responses,
                matrix.categories,
                matrix.item_ids,
                settings,
                anchors=anchor.parameters if anchor else None,
                anchor_scale=anchor.scale if anchor else None,
            )
        except ValueError as exc:  # no item of the dimension can be fitted
            skipped.append(SkippedDimension(matrix.dimension, str(exc)))
            continue
        dimensions.append(calibration)
        if anchor is not None and any("anchored" in item.flags for item in calibration.items):
            anchored_to[matrix.dimension] = anchor.calibration
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
    return CalibrationResult(dimensions, categories, skipped, anchored_to=anchored_to)


async def _anchors(conn: asyncpg.Connection, assessment_id: UUID) -> dict[str, Anchor]:
    """Per dimension, the anchors of the assessment's adaptive sections (the first section of a
    dimension decides, if two pin different calibrations): its pool items' pinned parameters."""
    code = (await assessments.codes_by_id(conn, [assessment_id])).get(assessment_id)
    if code is None:
        return {}
    content = (await assessments.get_assessment(conn, code)).content
    found: dict[str, Anchor] = {}
    for section in content.sections:
        adaptive = section.adaptive
        if adaptive is None or adaptive.dimension in found:
            continue
        pinned = await published(conn, {adaptive.calibration})
        if adaptive.calibration not in pinned:
            continue
        result = pinned[adaptive.calibration].result
        pool = {ref.code for ref in adaptive.items}
        for dimension in result.dimensions:
            if dimension.dimension == adaptive.dimension:
                found[adaptive.dimension] = Anchor(
                    str(adaptive.calibration),
                    {
                        item.item_id: item.parameters
                        for item in dimension.items
                        if item.parameters is not None and item.item_id in pool
                    },
                    dimension.scale,
                )
    return found


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
        anchors = await _anchors(conn, assessment)
    await job.checkpoint()
    builder = MatrixBuilder()
    after = None
    while True:
        async with tenant_transaction(pool, tenant_id) as conn:
            await job.fence(conn)
            batch = await scores.final_current_batch(conn, assessment, after, BATCH)
            if not batch:
                break
            for _, document in batch:
                builder.add(document)
            await conn.execute(
                "UPDATE calibrations SET processed = processed + $2 WHERE id = $1", calibration_id, len(batch)
            )
        after = batch[-1][0]
    result = await asyncio.to_thread(calibrate, builder.matrices(), None, anchors)
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
