"""Sends queued xAPI statements to each tenant's LRS, with the webhook dispatcher's retry machinery.

The same three steps as service/webhooks/dispatcher.py, on `lrs_statements`: claim a batch of
due statements with a lease (`FOR UPDATE SKIP LOCKED`) and commit; send them with no transaction
open; record each outcome only if the statement is still held by this claim. The same retry
policy (full jitter, until 24 h after the statement was queued, then failed) and the same lease:
delivery is at least once, and the LRS dedupes by the statement's deterministic id.

A statement is PUT to `<url>/statements?statementId=<id>` (xAPI 1.0.3 §2.1.1): a 2xx stores it;
a 409 means the LRS already holds a statement with that id, and since ours are built once and
stored, it is this one (an LRS answers 204 to the same id and content, 409 otherwise; a 409 is
recorded as delivered with its status, for the admin to see). Anything else is retried; the LRS's
status and the start of its answer are kept in the log.

Retention: as for webhooks, about once an hour each worker deletes the statements queued longer
ago than WEBHOOK_RETENTION_DAYS that are no longer pending (the LRS keeps its own copy; what goes
is our delivery log), per tenant in bounded batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec

from service.db.pool import dispatcher_transaction, tenant_transaction
from service.tenancy import tenants
from service.webhooks.dispatcher import (
    LEASE_SECONDS,
    PRUNE_EVERY_SECONDS,
    RETRY_WINDOW_HOURS,
    TIMEOUT_SECONDS,
    Outcome,
    RetryPolicy,
    new_client,
    prune_by_tenant,
)
from service.xapi import endpoint
from service.xapi.endpoint import LrsTarget

log = logging.getLogger("assess.xapi")

_ERROR_LENGTH = 500
BATCH = 5  # sent one by one, so a batch takes at most BATCH * TIMEOUT_SECONDS: within the lease
BATCHES_PER_TENANT = 40
assert LEASE_SECONDS > BATCH * TIMEOUT_SECONDS
ALREADY_STORED = 409


class Claimed(msgspec.Struct):
    id: UUID
    attempts: int
    lease: datetime
    statement: dict[str, Any]


async def due_tenants(pool: asyncpg.Pool) -> list[UUID]:
    async with dispatcher_transaction(pool) as conn:
        rows = await conn.fetch(
            "SELECT DISTINCT tenant_id FROM lrs_statements WHERE status = 'pending' AND next_attempt_at <= now()"
        )
    return [row["tenant_id"] for row in rows]


async def claim(conn: asyncpg.Connection, policy: RetryPolicy, limit: int = BATCH) -> list[Claimed]:
    """Lease due statements, oldest first, while the tenant's LRS is active (the caller checked the tenant)."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT s.id FROM lrs_statements s
               WHERE s.status = 'pending' AND s.next_attempt_at <= now()
                 AND EXISTS (SELECT 1 FROM lrs_endpoints WHERE active)
               ORDER BY s.next_attempt_at, s.created_at LIMIT $1 FOR UPDATE OF s SKIP LOCKED)
           UPDATE lrs_statements s SET next_attempt_at = clock_timestamp() + make_interval(secs => $2)
           FROM due WHERE s.id = due.id
           RETURNING s.id, s.attempts, s.next_attempt_at AS lease, s.statement""",
        limit,
        policy.lease_seconds,
    )
    return [msgspec.convert(dict(row), Claimed) for row in rows]


_encode = msgspec.json.Encoder().encode


async def send(http: httpx.AsyncClient, lrs: LrsTarget, claimed: Claimed) -> Outcome:
    """PUT the statement under its id; the LRS's answer is read only when it refuses."""
    headers = {"content-type": "application/json"} | endpoint.headers(lrs)
    try:
        response = await http.put(
            endpoint.statements_url(lrs.url),
            params={"statementId": str(claimed.id)},
            content=_encode(claimed.statement),
            headers=headers,
        )
    except Exception as exc:
        return Outcome(
            None, (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:_ERROR_LENGTH]
        )
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(status, None)
    return Outcome(status, f"HTTP {status}: {response.text}"[:_ERROR_LENGTH])


def delivered(outcome: Outcome) -> bool:
    return outcome.delivered or outcome.status_code == ALREADY_STORED


async def record(
    conn: asyncpg.Connection, claimed: list[Claimed], outcomes: list[Outcome], policy: RetryPolicy
) -> int:
    """Store the outcomes of statements still held by this claim; how many were recorded."""
    recorded = await conn.fetch(
        f"""UPDATE lrs_statements s
            SET attempts = s.attempts + 1, last_attempt_at = now(), last_status = r.status_code,
                last_error = r.error,
                status = CASE WHEN r.delivered THEN 'delivered'
                              WHEN now() >= s.created_at + interval '{RETRY_WINDOW_HOURS} hours' THEN 'failed'
                              ELSE 'pending' END,
                delivered_at = CASE WHEN r.delivered THEN now() END,
                next_attempt_at = CASE WHEN r.delivered THEN s.next_attempt_at
                                       ELSE least(now() + make_interval(secs => r.delay),
                                                  s.created_at + interval '{RETRY_WINDOW_HOURS} hours') END
            FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::text[], $5::bool[], $6::float8[])
                 AS r(id, lease, status_code, error, delivered, delay)
            WHERE s.id = r.id AND s.status = 'pending' AND s.next_attempt_at = r.lease
            RETURNING s.id""",
        [c.id for c in claimed],
        [c.lease for c in claimed],
        [o.status_code for o in outcomes],
        [o.error for o in outcomes],
        [delivered(o) for o in outcomes],
        [policy.delay(c.attempts) for c in claimed],
    )
    return len(recorded)


async def release(conn: asyncpg.Connection, claimed: list[Claimed]) -> None:
    """Hand unsent claims back (shutting down): due again at once, no attempt counted."""
    await conn.execute(
        """UPDATE lrs_statements s SET next_attempt_at = now()
           FROM unnest($1::uuid[], $2::timestamptz[]) AS r(id, lease)
           WHERE s.id = r.id AND s.status = 'pending' AND s.next_attempt_at = r.lease""",
        [c.id for c in claimed],
        [c.lease for c in claimed],
    )


async def _deliver_batch(
    pool: asyncpg.Pool, http: httpx.AsyncClient, tenant_id: UUID, policy: RetryPolicy
) -> tuple[int, int]:
    """Claim, send, record one batch of one tenant: (claimed, delivered). Sent one after another, in
    the order they were queued: an LRS need not take concurrent writes (Ralph's file backend does
    not), and it sees a voided statement's target first."""
    async with tenant_transaction(pool, tenant_id) as conn:
        active = await tenants.status_of(conn, tenant_id) == "active"
        lrs = await endpoint.target(conn) if active else None
        claimed = await claim(conn, policy) if lrs is not None else []
    if lrs is None or not claimed:
        return 0, 0
    outcomes: list[Outcome] = []
    try:
        for statement in claimed:
            outcomes.append(await send(http, lrs, statement))
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                async with tenant_transaction(pool, tenant_id) as conn:
                    await record(conn, claimed[: len(outcomes)], outcomes, policy)
                    await release(conn, claimed[len(outcomes) :])
        raise
    async with tenant_transaction(pool, tenant_id) as conn:
        await record(conn, claimed, outcomes, policy)
    for statement, outcome in zip(claimed, outcomes, strict=True):
        if not delivered(outcome):
            log.info("xAPI statement %s to %s failed: %s", statement.id, lrs.url, outcome.error)
    return len(claimed), sum(delivered(o) for o in outcomes)


async def dispatch_once(pool: asyncpg.Pool, http: httpx.AsyncClient, policy: RetryPolicy) -> int:
    """Send what is due for every tenant; how many statements the LRSs accepted."""
    accepted = 0
    for tenant_id in await due_tenants(pool):
        for _ in range(BATCHES_PER_TENANT):
            claimed, succeeded = await _deliver_batch(pool, http, tenant_id, policy)
            accepted += succeeded
            if claimed < BATCH:
                break
    return accepted


async def prune(pool: asyncpg.Pool, retention_days: float) -> int:
    """Delete statements queued more than `retention_days` ago, unless still pending; how many."""
    return await prune_by_tenant(
        pool,
        retention_days,
        "SELECT DISTINCT tenant_id FROM lrs_statements "
        "WHERE created_at < now() - make_interval(secs => $1) AND status <> 'pending'",
        """WITH old AS (
               SELECT id FROM lrs_statements
               WHERE created_at < now() - make_interval(secs => $1) AND status <> 'pending'
               LIMIT $2 FOR UPDATE SKIP LOCKED),
           gone AS (DELETE FROM lrs_statements s USING old WHERE s.id = old.id RETURNING 1)
           SELECT count(*) FROM gone""",
    )


async def run(
    pool: asyncpg.Pool, every_seconds: float, policy: RetryPolicy, retention_days: float = 30.0
) -> None:
    """Dispatch forever, pruning the old log now and then; a failed pass (database restarting, say)
    is logged and retried next time."""
    pruned_at = time.monotonic() - PRUNE_EVERY_SECONDS * random.random()  # workers spread their pruning
    async with new_client() as http:
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await dispatch_once(pool, http, policy)
                if retention_days > 0 and time.monotonic() - pruned_at >= PRUNE_EVERY_SECONDS:
                    pruned_at = time.monotonic()
                    await prune(pool, retention_days)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("xAPI dispatch failed, retrying in %ss: %s", every_seconds, exc)
