"""The `jobs` table's SQL: enqueue, claim, fence, finish, fail, release. Tenant-scoped, except
`due_tenants` (the dispatcher's read-only, cross-tenant view of which tenants have jobs to claim)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from service.db.pool import dispatcher_transaction

# A new job is left this long to the worker that accepted its request (it claims it right after
# answering) before polling workers may take it (that worker died before claiming it).
LAUNCH_SECONDS = 30.0

# What each kind's API adds to its own JSON, read with the kind's row (`lease_columns` + `join`).
LEASE_COLUMNS = "coalesce(jb.attempts, 0) AS run_attempts, jb.lease_expires_at"


def join(alias: str) -> str:
    return f" LEFT JOIN jobs jb ON jb.tenant_id = {alias}.tenant_id AND jb.id = {alias}.id"


Kind = Literal[
    "rescoring",
    "rescoring_batch",
    "item_statistics",
    "aggregates",
    "score_export",
    "calibration",
    "training_effect",
]


class Claimed(msgspec.Struct, frozen=True):
    id: UUID
    kind: Kind
    attempts: int
    owner: str | None = None


# The channel a job process LISTENs on (JOB_MODE=process): every enqueue NOTIFYs it, delivered when the
# enqueuing transaction commits, so a job process claims a new job at once instead of at its next poll.
# The payload: "<tenant id> <job id>" (that job: claim it), or "<tenant id>" (jobs nobody launches: poll).
CHANNEL = "assess_jobs"


async def enqueue(conn: asyncpg.Connection, kind: Kind, job_id: UUID) -> None:
    """A new job, or the next run of a finished one (a rescoring's commit after its preview, a retry);
    job processes are told when the transaction commits (CHANNEL)."""
    await conn.execute(
        """WITH queued AS (
               INSERT INTO jobs (id, kind, lease_expires_at) VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
               ON CONFLICT (tenant_id, id) DO UPDATE SET state = 'queued', attempts = 0, lease_owner = NULL,
                   lease_expires_at = excluded.lease_expires_at, error = NULL, created_at = now(), started_at = NULL,
                   finished_at = NULL
               WHERE jobs.state IN ('done', 'failed')
               RETURNING tenant_id, id)
           SELECT pg_notify($4, tenant_id::text || ' ' || id::text) FROM queued""",
        job_id,
        kind,
        LAUNCH_SECONDS,
        CHANNEL,
    )


async def enqueue_now(conn: asyncpg.Connection, kind: Kind, job_ids: list[UUID]) -> None:
    """New jobs that no request launches (a rescoring's batches): claimable by any worker at once; job
    processes are told to poll when the transaction commits (CHANNEL)."""
    await conn.execute(
        """WITH queued AS (INSERT INTO jobs (id, kind) SELECT unnest($1::uuid[]), $2 ORDER BY 1 RETURNING tenant_id)
           SELECT pg_notify($3, tenant_id::text) FROM (SELECT DISTINCT tenant_id FROM queued) AS t""",
        job_ids,
        kind,
        CHANNEL,
    )


async def listen(
    url: str, on_notice: Callable[[str], None], on_lost: Callable[[], None]
) -> asyncpg.Connection:
    """A connection of its own (not pooled: the pool's connections LISTEN to nothing) that calls
    `on_notice(payload)` for every enqueue committed from now on, and `on_lost()` if the connection
    ends; close it to stop."""
    conn: asyncpg.Connection = await asyncpg.connect(url, server_settings={"application_name": "assess-jobs"})
    try:
        conn.add_termination_listener(lambda _conn: on_lost())
        await conn.add_listener(CHANNEL, lambda _conn, _pid, _channel, payload: on_notice(payload))
    except BaseException:
        await conn.close()
        raise
    return conn


async def due_tenants(pool: asyncpg.Pool, *, queued: bool = False) -> list[UUID]:
    """Tenants with jobs to claim; `queued`: counting queued jobs still left to their launcher (a job
    process's poll: with JOB_MODE=process no request worker launches a job)."""
    async with dispatcher_transaction(pool) as conn:
        rows = await conn.fetch(
            f"SELECT DISTINCT tenant_id FROM jobs WHERE {_CLAIMABLE} OR ($1 AND state = 'queued')", queued
        )
    return [row["tenant_id"] for row in rows]


# queued and left by its launcher (or handed back), or running with its lease lapsed
_CLAIMABLE = """(state IN ('queued', 'running') AND (lease_expires_at IS NULL OR lease_expires_at < clock_timestamp()))"""


async def claim(
    conn: asyncpg.Connection,
    owner: str,
    lease_seconds: float,
    max_attempts: int,
    job_id: UUID | None = None,
    *,
    among: list[UUID] | None = None,
    not_of: list[Kind] | None = None,
    queued: bool = False,
) -> Claimed | None:
    """One claimable job of the tenant, or this one (its launcher claims it while queued); or one of
    `among` (a rescoring's batches, which its own job runs too); none of the kinds `not_of`. `queued`:
    a queued job left to its launcher is claimable too (a job process's poll, see `due_tenants`)."""
    row = await conn.fetchrow(
        f"""UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1,
                   lease_expires_at = clock_timestamp() + make_interval(secs => $2), heartbeat_at = now(),
                   started_at = coalesce(started_at, now())
            WHERE id = (SELECT id FROM jobs WHERE ({_CLAIMABLE} OR (state = 'queued' AND ($7 OR id = $4)))
                          AND attempts < $3
                          AND ($4::uuid IS NULL OR id = $4) AND ($5::uuid[] IS NULL OR id = ANY($5::uuid[]))
                          AND NOT (kind = ANY($6::text[]))
                        ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, kind, attempts, lease_owner AS owner""",
        owner,
        lease_seconds,
        max_attempts,
        job_id,
        among,
        list(not_of or []),
        queued,
    )
    return msgspec.convert(dict(row), Claimed) if row else None


async def exhausted(conn: asyncpg.Connection, max_attempts: int) -> list[Claimed]:
    """Running jobs whose lease lapsed after their last allowed claim: failed now (the caller marks
    the kinds' rows in the same transaction)."""
    rows = await conn.fetch(
        f"""UPDATE jobs SET state = 'failed', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
                   error = 'its worker stopped (lease lapsed at '
                           || to_char(lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                           || ') after ' || attempts || ' attempt(s); start it again'
            WHERE id IN (SELECT id FROM jobs WHERE {_CLAIMABLE} AND attempts >= $1 FOR UPDATE SKIP LOCKED)
            RETURNING id, kind, attempts, error""",
        max_attempts,
    )
    return [msgspec.convert({k: r[k] for k in ("id", "kind", "attempts")}, Claimed) for r in rows]


async def renew(conn: asyncpg.Connection, job_id: UUID, owner: str, lease_seconds: float) -> bool:
    """The lease moved ahead, if this owner still holds it (the row stays locked until commit)."""
    return (
        await conn.fetchval(
            """UPDATE jobs SET lease_expires_at = clock_timestamp() + make_interval(secs => $3), heartbeat_at = now()
           WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING true""",
            job_id,
            owner,
            lease_seconds,
        )
        is not None
    )


async def finish(conn: asyncpg.Connection, job_id: UUID, owner: str, error: str | None = None) -> bool:
    """Done (or failed with `error`), if this owner still holds it."""
    return (
        await conn.fetchval(
            """UPDATE jobs SET state = CASE WHEN $3::text IS NULL THEN 'done' ELSE 'failed' END, error = $3,
                  finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
           WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING true""",
            job_id,
            owner,
            error,
        )
        is not None
    )


async def release(conn: asyncpg.Connection, job_id: UUID, owner: str) -> None:
    """Handed back (a graceful shutdown): queued again, this claim not counted."""
    await conn.execute(
        """UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), lease_owner = NULL,
                  lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2 AND state = 'running'""",
        job_id,
        owner,
    )


async def error_of(conn: asyncpg.Connection, job_id: UUID) -> str:
    """The error a failed job recorded."""
    return await conn.fetchval("SELECT error FROM jobs WHERE id = $1", job_id)
