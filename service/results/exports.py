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

Failure. The worker that accepted the request runs the job (a background task, like aggregate
jobs) and refreshes `heartbeat_at` every HEARTBEAT_SECONDS. If that worker dies, the heartbeat
stops: a queued or running job silent for STALE_SECONDS is reported `failed` (by whoever reads
it next, or the expiry sweep), its chunks are deleted, and the client starts a new export. Each
chunk commit is fenced on the job still being `running`, so a job declared dead (or deleted)
that is in fact alive stops at its next chunk instead of writing into a failed job.

Expiry. A finished file is kept for the retention period (SCORE_EXPORT_RETENTION_HOURS), then
the job becomes `expired` and its chunks are deleted: when the tenant's exports are next read
or created, and by a sweep in every worker (EXPIRY_SWEEP_SECONDS) for tenants that never come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from service.db import keyset
from service.db.pool import operator_transaction, tenant_transaction
from service.errors import Conflict, DomainError, NotFound
from service.i18n import msg
from service.results import feed

log = logging.getLogger("assess.exports")

CHUNK_BYTES = 1 << 20  # read when a job is created (and stored with it): tests make it small
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0
MAX_ACTIVE = 3  # queued or running exports per tenant: each holds a pooled connection and a snapshot
EXPIRY_SWEEP_SECONDS = 900.0

Format = Literal["csv", "jsonl"]


class ScoreExport(msgspec.Struct):
    id: UUID
    assessment: str
    format: Format
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


class StoredFile(msgspec.Struct, frozen=True):
    export: ScoreExport
    chunk_bytes: int


class NotReady(DomainError):
    status, slug, title = 409, "export-not-ready", msg("The export is not finished")


class Gone(DomainError):
    status, slug, title = 410, "export-gone", msg("The export's file no longer exists")


_SELECT = """SELECT e.id, a.code AS assessment, e.format, e.status, e.rows_total, e.rows_done, e.bytes, e.sha256,
                    e.error, e.requested_by, e.created_at, e.started_at, e.finished_at, e.expires_at, e.chunk_bytes
             FROM score_exports e JOIN assessments a ON a.tenant_id = e.tenant_id AND a.id = e.assessment_id"""

# A queued or running job whose worker stopped beating, and a finished file past its time: both lose
# their chunks. (Two separate UPDATEs: the sets are disjoint, so no row is updated twice.)
_SETTLE = """
    WITH stale AS (
        UPDATE score_exports SET status = 'failed', finished_at = now(),
               error = 'the worker running this export stopped (no heartbeat since '
                       || to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '); start a new one'
        WHERE status IN ('queued', 'running') AND heartbeat_at < now() - make_interval(secs => $1)
              AND ($2::uuid IS NULL OR id = $2)
        RETURNING id),
    expired AS (
        UPDATE score_exports SET status = 'expired'
        WHERE status IN ('done', 'failed') AND expires_at <= now() AND ($2::uuid IS NULL OR id = $2)
        RETURNING id)
    DELETE FROM score_export_chunks WHERE export_id IN (SELECT id FROM stale UNION ALL SELECT id FROM expired)"""


def _export(row: asyncpg.Record) -> ScoreExport:
    return msgspec.convert({k: v for k, v in dict(row).items() if k != "chunk_bytes"}, ScoreExport)


async def settle(conn: asyncpg.Connection, export_id: UUID | None = None) -> None:
    """Fail the tenant's exports whose worker died and expire old files (one export, or all)."""
    await conn.execute(_SETTLE, STALE_SECONDS, export_id)


async def create(conn: asyncpg.Connection, code: str, fmt: Format, requested_by: str,
                 retention: timedelta) -> ScoreExport:
    assessment_id = await conn.fetchval("SELECT id FROM assessments WHERE code = $1", code)
    if assessment_id is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    await settle(conn)
    active = await conn.fetchval("SELECT count(*) FROM score_exports WHERE status IN ('queued', 'running')")
    if active >= MAX_ACTIVE:
        raise Conflict(msg("{active} score exports are already queued or running: wait for one to finish",
                           active=active))
    export_id = await conn.fetchval(
        """INSERT INTO score_exports (assessment_id, format, chunk_bytes, requested_by, expires_at)
           VALUES ($1, $2, $3, $4, now() + $5::interval) RETURNING id""",
        assessment_id, fmt, CHUNK_BYTES, requested_by, retention)
    return await get(conn, export_id)


async def get(conn: asyncpg.Connection, export_id: UUID) -> ScoreExport:
    return (await stored(conn, export_id)).export


async def stored(conn: asyncpg.Connection, export_id: UUID) -> StoredFile:
    await settle(conn, export_id)
    row = await conn.fetchrow(_SELECT + " WHERE e.id = $1", export_id)
    if row is None:
        raise NotFound(msg("no score export {export_id}", export_id=export_id))
    return StoredFile(_export(row), row["chunk_bytes"])


async def downloadable(conn: asyncpg.Connection, export_id: UUID) -> StoredFile:
    """The finished file's job; 409 while it runs, 410 once failed or expired."""
    found = await stored(conn, export_id)
    status = found.export.status
    if status in ("queued", "running"):
        raise NotReady(msg("score export {export_id} is {status} ({done} of {total} rows): poll it",
                           export_id=export_id, status=status, done=found.export.rows_done,
                           total=found.export.rows_total if found.export.rows_total is not None else "?"))
    if status != "done":
        raise Gone(msg("score export {export_id} is {status}: start a new one", export_id=export_id,
                       status=status))
    return found


async def list_exports(conn: asyncpg.Connection, *, after: keyset.Position | None, limit: int
                       ) -> list[ScoreExport]:
    """The tenant's exports, newest first."""
    await settle(conn)
    rows = await conn.fetch(_SELECT + " WHERE " + keyset.newest_first("e", 1), *keyset.arguments(after, limit))
    return [_export(row) for row in rows]


async def delete(conn: asyncpg.Connection, export_id: UUID) -> None:
    """The job and its file (a running job stops at its next chunk)."""
    if await conn.fetchval("DELETE FROM score_exports WHERE id = $1 RETURNING id", export_id) is None:
        raise NotFound(msg("no score export {export_id}", export_id=export_id))


async def read(pool: asyncpg.Pool, tenant_id: UUID, export_id: UUID, chunk_bytes: int, first: int, last: int
               ) -> AsyncIterator[bytes]:
    """Bytes first..last (inclusive) of the file, a chunk at a time, each read in a short transaction."""
    for seq in range(first // chunk_bytes, last // chunk_bytes + 1):
        start = max(first - seq * chunk_bytes, 0)  # within the chunk
        length = min(last - seq * chunk_bytes + 1, chunk_bytes) - start
        async with tenant_transaction(pool, tenant_id) as conn:
            data = await conn.fetchval(
                "SELECT substring(data FROM $3 FOR $4) FROM score_export_chunks WHERE export_id = $1 AND seq = $2",
                export_id, seq, start + 1, length)
        if data is None or len(data) != length:
            # deleted or expired mid-download: end the response short of its Content-Length, which tells
            # the client the body is incomplete (a clean end would pass a truncated file as whole)
            raise RuntimeError(f"score export {export_id} lost chunk {seq} while it was downloaded")
        yield data


# --------------------------------------------------------------------------- the job


class _Abandoned(Exception):
    """The job was deleted, or declared dead, while this worker was still running it."""


_COUNT = """SELECT count(*) FROM scores s JOIN attempts t ON t.tenant_id = s.tenant_id AND t.id = s.attempt_id
            WHERE s.current AND t.assessment_id = (SELECT id FROM assessments WHERE code = $1)"""


async def _commit(pool: asyncpg.Pool, tenant_id: UUID, export_id: UUID, seq: int, chunk: bytes, assignments: str,
                  *values: object) -> None:
    """One chunk (if any) and the job's progress (`assignments`, from $2 on), in one transaction, only
    while the job is still running."""
    async with tenant_transaction(pool, tenant_id) as conn:
        alive = await conn.fetchval(
            f"UPDATE score_exports SET {assignments}, heartbeat_at = now() WHERE id = $1 AND status = 'running' "
            "RETURNING id", export_id, *values)
        if alive is None:
            raise _Abandoned
        if chunk:
            await conn.execute("INSERT INTO score_export_chunks (export_id, seq, data) VALUES ($1, $2, $3)",
                               export_id, seq, chunk)


async def _heartbeat(pool: asyncpg.Pool, tenant_id: UUID, export_id: UUID) -> None:
    """Keeps the job alive while no chunk is committed (sorting a large assessment before its first row)."""
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        try:
            async with tenant_transaction(pool, tenant_id) as conn:
                await conn.execute("UPDATE score_exports SET heartbeat_at = now() WHERE id = $1 AND status = 'running'",
                                   export_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("score export %s: heartbeat failed: %s", export_id, exc)


async def _render(pool: asyncpg.Pool, tenant_id: UUID, export_id: UUID, code: str, fmt: Format, chunk_bytes: int,
                  retention: timedelta) -> None:
    digest, pending = hashlib.sha256(), bytearray()
    seq = rows = size = 0
    async with tenant_transaction(pool, tenant_id, isolation="repeatable_read", readonly=True) as snapshot:
        total = await snapshot.fetchval(_COUNT, code)
        await _commit(pool, tenant_id, export_id, 0, b"", "rows_total = $2", total)
        async for data, count in feed.export_batches(snapshot, code, feed.RENDERERS[fmt]):
            digest.update(data)
            pending += data
            rows, size = rows + count, size + len(data)
            while len(pending) >= chunk_bytes:
                chunk = bytes(pending[:chunk_bytes])
                del pending[:chunk_bytes]
                await _commit(pool, tenant_id, export_id, seq, chunk, "rows_done = $2, bytes = $3",
                              rows, (seq + 1) * chunk_bytes)
                seq += 1
    await _commit(pool, tenant_id, export_id, seq, bytes(pending),
                  "rows_done = $2, bytes = $3, sha256 = $4, status = 'done', finished_at = now(), "
                  "expires_at = now() + $5::interval", rows, size, digest.hexdigest(), retention)


async def run(pool: asyncpg.Pool, tenant_id: UUID, export_id: UUID, retention: timedelta) -> None:
    """Render a queued export to the end (a background task); the outcome is in its row."""
    try:
        async with tenant_transaction(pool, tenant_id) as conn:
            await settle(conn)  # the tenant's old files go whenever one of its exports runs
            job = await conn.fetchrow(
                """UPDATE score_exports e SET status = 'running', started_at = now(), heartbeat_at = now()
                   FROM assessments a WHERE e.id = $1 AND e.status = 'queued'
                        AND a.tenant_id = e.tenant_id AND a.id = e.assessment_id
                   RETURNING a.code, e.format, e.chunk_bytes""", export_id)
        if job is None:
            return  # deleted, or declared dead, before it started
        heartbeat = asyncio.create_task(_heartbeat(pool, tenant_id, export_id))
        try:
            await _render(pool, tenant_id, export_id, job["code"], job["format"], job["chunk_bytes"], retention)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
    except _Abandoned:
        log.info("score export %s was deleted or declared dead while it ran: stopped", export_id)
        await _discard(pool, tenant_id, export_id, None)
    except Exception as exc:  # a job has no caller to raise to: record the failure where the client polls
        log.exception("score export %s failed", export_id)
        await _discard(pool, tenant_id, export_id, f"{type(exc).__name__}: {exc}"[:2000])


async def _discard(pool: asyncpg.Pool, tenant_id: UUID, export_id: UUID, error: str | None) -> None:
    """The chunks of a job that will not finish; `error`: mark it failed too (unless it already ended)."""
    try:
        async with tenant_transaction(pool, tenant_id) as conn:
            if error is not None:
                await conn.execute("UPDATE score_exports SET status = 'failed', error = $2, finished_at = now() "
                                   "WHERE id = $1 AND status IN ('queued', 'running')", export_id, error)
            if await conn.fetchval("SELECT status FROM score_exports WHERE id = $1", export_id) != "done":
                await conn.execute("DELETE FROM score_export_chunks WHERE export_id = $1", export_id)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # the heartbeat's silence says it later
        log.warning("score export %s: could not record its end: %s", export_id, exc)


async def sweep_once(pool: asyncpg.Pool) -> None:
    """Settle every tenant's exports: expired files and dead jobs lose their chunks."""
    async with operator_transaction(pool) as conn:
        tenants = [row["id"] for row in await conn.fetch("SELECT id FROM tenants")]
    for tenant_id in tenants:
        async with tenant_transaction(pool, tenant_id) as conn:
            await settle(conn)


async def expire_forever(pool: asyncpg.Pool, every_seconds: float = EXPIRY_SWEEP_SECONDS) -> None:
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await sweep_once(pool)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("score export expiry sweep failed, retrying in %ss: %s", every_seconds, exc)
