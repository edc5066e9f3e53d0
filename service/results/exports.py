"""Score export jobs: the streamed export rendered once into a file a client downloads, and
resumes, from any worker on any host.

Storage. The file lives in PostgreSQL, in `score_export_chunks` rows of `chunk_bytes` each (the
last one shorter), so every worker can serve it and no host's disk matters. Chunk `seq` holds
bytes [seq * chunk_bytes, (seq + 1) * chunk_bytes): a byte range maps to chunks by arithmetic,
and a resumed download reads only the chunks it still needs, one short transaction per chunk
(a slow client holds no pooled connection between chunks).

Consistency. The job renders with the stream's own code (`feed.export_batches`) inside one
REPEATABLE READ, read-only transaction: the row count, the dimension columns and every row come
from one snapshot, so the file is the export as of one instant and `rows_total` is exact. Chunks
and progress are committed as they fill, from other short transactions (a second connection):
a 1 GB file never sits in memory nor in one uncommitted transaction, and a poll sees progress.
The price: the snapshot holds back vacuum for as long as the export runs.

Failure. An export is a job of `service.jobqueue`: claimed with a lease the worker renews. Each chunk
commit renews it too and is fenced on the job still being this worker's and the export still
`running`, so an export deleted, or taken over by another worker, stops at its next chunk instead
of writing into it. If the worker dies, its lease lapses and another worker takes the export over:
it deletes the chunks written so far and renders again from a new snapshot (the file is then the
export as of that instant); after JOB_MAX_ATTEMPTS claims it reads `failed`, and the client starts
a new export.

Expiry. A finished file is kept for the retention period (SCORE_EXPORT_RETENTION_HOURS), then
the job becomes `expired` and its chunks are deleted: when the tenant's exports are next read
or created, and by a sweep in every worker (EXPIRY_SWEEP_SECONDS) for tenants that never come back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.assessments import codes_by_id, id_by_code
from service.db import keyset
from service.db.pool import operator_transaction, tenant_transaction
from service.errors import Conflict, DomainError, NotFound
from service.i18n import msg
from service.jobqueue import queue
from service.jobqueue.job import Job
from service.results import feed, score_workbook, scores
from service.tenancy import tenants

log = logging.getLogger("assess.exports")

CHUNK_BYTES = 1 << 20  # read when a job is created (and stored with it): tests make it small
MAX_ACTIVE = 3  # queued or running exports per tenant: each holds a pooled connection and a snapshot
EXPIRY_SWEEP_SECONDS = 900.0

Format = Literal["csv", "jsonl", "xlsx"]
Language = Literal["zh-CN", "en"]


class ScoreExport(msgspec.Struct):
    id: UUID
    assessment: str
    format: Format
    language: Language  # of an XLSX file's names (CSV and JSON Lines carry codes only)
    status: Literal["queued", "running", "done", "failed", "expired"]
    rows_total: int | None  # exact, counted in the export's snapshot when it starts
    rows_done: int
    bytes: int  # written so far; when done, the file's size
    sha256: str | None  # of the whole file, when done (also its ETag)
    error: str | None
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime  # the file is deleted then (a job not done by then is failed or expired too)
    file: str | None = None  # where to download it (409 until done)
    run_attempts: int = (
        0  # claims of its job by a worker so far: more than 1 when taken over from one that died
    )
    lease_expires_at: datetime | None = None  # queued or running: when another worker may take it over


class StoredFile(msgspec.Struct, frozen=True):
    export: ScoreExport
    chunk_bytes: int


class NotReady(DomainError):
    status, slug, title = 409, "export-not-ready", msg("The export is not finished")


class Gone(DomainError):
    status, slug, title = 410, "export-gone", msg("The export's file no longer exists")


_SELECT = (
    """SELECT e.id, e.assessment_id, e.format, e.language, e.status, e.rows_total, e.rows_done, e.bytes, e.sha256,
                    e.error, e.requested_by, e.created_at, e.started_at, e.finished_at, e.expires_at, e.chunk_bytes,
                    """
    + queue.LEASE_COLUMNS
    + """
             FROM score_exports e"""
    + queue.join("e")
)

# A finished file past its time loses its chunks. (A job whose worker died is the job mechanism's:
# taken over, or failed by `mark_failed`.)
_SETTLE = """
    WITH expired AS (
        UPDATE score_exports SET status = 'expired'
        WHERE status IN ('done', 'failed') AND expires_at <= now() AND ($1::uuid IS NULL OR id = $1)
        RETURNING id)
    DELETE FROM score_export_chunks WHERE export_id IN (SELECT id FROM expired)"""


def _export(row: asyncpg.Record, codes: dict[UUID, str]) -> ScoreExport:
    """`codes`: the assessments' codes by id (from their owner)."""
    fields = {k: v for k, v in dict(row).items() if k not in ("chunk_bytes", "assessment_id")}
    return msgspec.convert({**fields, "assessment": codes[row["assessment_id"]]}, ScoreExport)


async def settle(conn: asyncpg.Connection, export_id: UUID | None = None) -> None:
    """Expire old files (one export's, or all the tenant's)."""
    await conn.execute(_SETTLE, export_id)


async def create(
    conn: asyncpg.Connection,
    code: str,
    fmt: Format,
    requested_by: str,
    retention: timedelta,
    language: Language = "zh-CN",
) -> ScoreExport:
    assessment_id = await id_by_code(conn, code)
    if assessment_id is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    await settle(conn)
    active = await conn.fetchval("SELECT count(*) FROM score_exports WHERE status IN ('queued', 'running')")
    if active >= MAX_ACTIVE:
        raise Conflict(
            msg("{active} score exports are already queued or running: wait for one to finish", active=active)
        )
    export_id = await conn.fetchval(
        """INSERT INTO score_exports (assessment_id, format, chunk_bytes, requested_by, expires_at, language)
           VALUES ($1, $2, $3, $4, now() + $5::interval, $6) RETURNING id""",
        assessment_id,
        fmt,
        CHUNK_BYTES,
        requested_by,
        retention,
        language,
    )
    await queue.enqueue(conn, "score_export", export_id)
    return await get(conn, export_id)


async def get(conn: asyncpg.Connection, export_id: UUID) -> ScoreExport:
    return (await stored(conn, export_id)).export


async def stored(conn: asyncpg.Connection, export_id: UUID) -> StoredFile:
    await settle(conn, export_id)
    row = await conn.fetchrow(_SELECT + " WHERE e.id = $1", export_id)
    if row is None:
        raise NotFound(msg("no score export {export_id}", export_id=export_id))
    codes = await codes_by_id(conn, [row["assessment_id"]])
    return StoredFile(_export(row, codes), row["chunk_bytes"])


async def downloadable(conn: asyncpg.Connection, export_id: UUID) -> StoredFile:
    """The finished file's job; 409 while it runs, 410 once failed or expired."""
    found = await stored(conn, export_id)
    status = found.export.status
    if status in ("queued", "running"):
        raise NotReady(
            msg(
                "score export {export_id} is {status} ({done} of {total} rows): poll it",
                export_id=export_id,
                status=status,
                done=found.export.rows_done,
                total=found.export.rows_total if found.export.rows_total is not None else "?",
            )
        )
    if status != "done":
        raise Gone(
            msg("score export {export_id} is {status}: start a new one", export_id=export_id, status=status)
        )
    return found


async def list_exports(
    conn: asyncpg.Connection, *, after: keyset.Position | None, limit: int
) -> list[ScoreExport]:
    """The tenant's exports, newest first."""
    await settle(conn)
    rows = await conn.fetch(
        _SELECT + " WHERE " + keyset.newest_first("e", 1), *keyset.arguments(after, limit)
    )
    codes = await codes_by_id(conn, list({row["assessment_id"] for row in rows})) if rows else {}
    return [_export(row, codes) for row in rows]


async def delete(conn: asyncpg.Connection, export_id: UUID) -> None:
    """The job and its file (a running job stops at its next chunk)."""
    if await conn.fetchval("DELETE FROM score_exports WHERE id = $1 RETURNING id", export_id) is None:
        raise NotFound(msg("no score export {export_id}", export_id=export_id))


async def read(
    pool: asyncpg.Pool, tenant_id: UUID, export_id: UUID, chunk_bytes: int, first: int, last: int
) -> AsyncIterator[bytes]:
    """Bytes first..last (inclusive) of the file, a chunk at a time, each read in a short transaction."""
    for seq in range(first // chunk_bytes, last // chunk_bytes + 1):
        start = max(first - seq * chunk_bytes, 0)  # within the chunk
        length = min(last - seq * chunk_bytes + 1, chunk_bytes) - start
        async with tenant_transaction(pool, tenant_id) as conn:
            data = await conn.fetchval(
                "SELECT substring(data FROM $3 FOR $4) FROM score_export_chunks WHERE export_id = $1 AND seq = $2",
                export_id,
                seq,
                start + 1,
                length,
            )
        if data is None or len(data) != length:
            # deleted or expired mid-download: end the response short of its Content-Length, which tells
            # the client the body is incomplete (a clean end would pass a truncated file as whole)
            raise RuntimeError(f"score export {export_id} lost chunk {seq} while it was downloaded")
        yield data


# --------------------------------------------------------------------------- the job


class _Abandoned(Exception):
    """The job was deleted, or declared dead, while this worker was still running it."""


async def _commit(
    job: Job, seq: int, chunk: bytes, assignments: str, *values: object, done: bool = False
) -> None:
    """One chunk (if any) and the job's progress (`assignments`, from $2 on), in one transaction, only
    while the job is still this worker's and the export still running; `done`: the job ends with it."""
    async with tenant_transaction(job.pool, job.tenant_id) as conn:
        await job.fence(conn)
        alive = await conn.fetchval(
            f"UPDATE score_exports SET {assignments} WHERE id = $1 AND status = 'running' RETURNING id",
            job.id,
            *values,
        )
        if alive is None:
            raise _Abandoned
        if chunk:
            await conn.execute(
                "INSERT INTO score_export_chunks (export_id, seq, data) VALUES ($1, $2, $3)",
                job.id,
                seq,
                chunk,
            )
        if done:
            await job.complete(conn)


async def _batches(
    snapshot: asyncpg.Connection, job: Job, code: str, fmt: Format, language: Language
) -> AsyncGenerator[tuple[bytes, int], None]:
    """(bytes, rows they add) in file order. An XLSX file is final only once its last row is written (a zip's
    directory comes last), so its rows are reported as written and its bytes come at the end."""
    if fmt != "xlsx":
        async with aclosing(feed.export_batches(snapshot, code, fmt)) as batches:
            async for data, count in batches:
                yield data, count
        return

    async def written(rows: int) -> None:
        await _commit(job, 0, b"", "rows_done = $2", rows)

    async for data in score_workbook.chunks(snapshot, code, language, on_rows=written):
        yield data, 0


async def _render(
    job: Job, code: str, fmt: Format, language: Language, chunk_bytes: int, retention: timedelta
) -> None:
    digest, pending = hashlib.sha256(), bytearray()
    seq = rows = size = 0
    async with tenant_transaction(
        job.pool, job.tenant_id, isolation="repeatable_read", readonly=True
    ) as snapshot:
        assessment_id = await id_by_code(snapshot, code)
        total = await scores.count_current(snapshot, assessment_id) if assessment_id is not None else 0
        await _commit(job, 0, b"", "rows_total = $2", total)
        async with aclosing(_batches(snapshot, job, code, fmt, language)) as batches:
            async for data, count in batches:
                digest.update(data)
                pending += data
                rows, size = (rows + count if fmt != "xlsx" else total), size + len(data)
                while len(pending) >= chunk_bytes:
                    chunk = bytes(pending[:chunk_bytes])
                    del pending[:chunk_bytes]
                    await _commit(
                        job, seq, chunk, "rows_done = $2, bytes = $3", rows, (seq + 1) * chunk_bytes
                    )
                    seq += 1
    await _commit(
        job,
        seq,
        bytes(pending),
        "rows_done = $2, bytes = $3, sha256 = $4, status = 'done', finished_at = now(), "
        "expires_at = now() + $5::interval",
        rows,
        size,
        digest.hexdigest(),
        retention,
        done=True,
    )


async def run(job: Job) -> None:
    """Render an export to the end, from the start on every claim (a worker taking it over after a
    crash drops the chunks written before); the outcome is in its row."""
    retention = timedelta(hours=job.settings.score_export_retention_hours)
    async with tenant_transaction(job.pool, job.tenant_id) as conn:
        await job.fence(conn)
        await settle(conn)  # the tenant's old files go whenever one of its exports runs
        found = await conn.fetchrow(
            """UPDATE score_exports e SET status = 'running', started_at = coalesce(e.started_at, now()),
                      rows_done = 0, bytes = 0, rows_total = NULL
               WHERE e.id = $1 AND e.status IN ('queued', 'running')
               RETURNING e.assessment_id, e.format, e.language, e.chunk_bytes""",
            job.id,
        )
        await conn.execute("DELETE FROM score_export_chunks WHERE export_id = $1", job.id)
        if found is None:  # deleted, or failed, before it started
            await job.complete(conn)
            return
        code = (await codes_by_id(conn, [found["assessment_id"]]))[found["assessment_id"]]
    await job.checkpoint()
    try:
        await _render(job, code, found["format"], found["language"], found["chunk_bytes"], retention)
    except _Abandoned:
        log.info("score export %s was deleted or failed while it ran: stopped", job.id)
        await _discard(job)
        raise RuntimeError("the export was deleted or failed while it ran") from None


async def mark_failed(conn: asyncpg.Connection, export_id: UUID, error: str) -> None:
    """The job failed (or its last worker died): the export reads failed and loses its chunks."""
    await conn.execute(
        "UPDATE score_exports SET status = 'failed', error = $2, finished_at = now() "
        "WHERE id = $1 AND status IN ('queued', 'running')",
        export_id,
        error,
    )
    await conn.execute("DELETE FROM score_export_chunks WHERE export_id = $1", export_id)


async def _discard(job: Job) -> None:
    """The chunks of an export that will not finish (unless it is done)."""
    try:
        async with tenant_transaction(job.pool, job.tenant_id) as conn:
            if await conn.fetchval("SELECT status FROM score_exports WHERE id = $1", job.id) != "done":
                await conn.execute("DELETE FROM score_export_chunks WHERE export_id = $1", job.id)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("score export %s: could not delete its chunks: %s", job.id, exc)


async def sweep_once(pool: asyncpg.Pool) -> None:
    """Settle every tenant's exports: expired files and dead jobs lose their chunks."""
    async with operator_transaction(pool) as conn:
        every = await tenants.tenant_ids(conn)
    for tenant_id in every:
        async with tenant_transaction(pool, tenant_id) as conn:
            await settle(conn)


async def expire_forever(pool: asyncpg.Pool, every_seconds: float = EXPIRY_SWEEP_SECONDS) -> None:
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await sweep_once(pool)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("score export expiry sweep failed, retrying in %ss: %s", every_seconds, exc)
