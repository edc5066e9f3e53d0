"""Sends queued webhook deliveries: a background loop in every worker, like the deadline sweeper.

Each pass finds the tenants with deliveries due (the one cross-tenant read, allowed by the
`dispatcher` policy on webhook_deliveries), then works inside each tenant's own transactions:
1. claim a batch of due deliveries (`FOR UPDATE SKIP LOCKED`, so workers never share one) by
   moving `next_attempt_at` a lease ahead, and commit;
2. send them, concurrently, with no transaction open while the receivers answer;
3. record each outcome, only if the delivery is still held by this claim (its `next_attempt_at`
   is the lease this worker set; a redelivery or another worker's later claim wins otherwise).
A worker that dies between 1 and 3 leaves a lease that expires, and another worker sends again:
delivery is at least once, and receivers dedupe by `webhook-id`. A worker that shuts down
gracefully hands its claims back first.

Retention: about once an hour each worker deletes the events older than the retention period
(WEBHOOK_RETENTION_DAYS), with their deliveries, except those still pending. The tenants with
old events are found through the `dispatcher` policy on webhook_events; the deletion runs in
each tenant's transaction, in bounded batches.

Outcomes: a 2xx is delivered. Anything else (status, timeout, refused connection) is retried
after a random delay in [0, min(cap, base * 2**attempts)] ("full jitter"), until 24 h after the
event; the last try is at that mark, and a failure after it marks the delivery failed.
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

from service import __version__
from service.db.pool import dispatcher_transaction, tenant_transaction
from service.tenancy import tenants
from service.webhooks import signing

log = logging.getLogger("assess.webhooks")

BATCH = 20  # sent concurrently, so a batch takes at most about one TIMEOUT
BATCHES_PER_TENANT = 10  # per pass, so one busy tenant does not hold up the others
TIMEOUT_SECONDS = 10.0
LEASE_SECONDS = 60.0  # must exceed a batch's sending time, or another worker may send it again
RETRY_WINDOW_HOURS = 24
PRUNE_EVERY_SECONDS = 3600.0
PRUNE_BATCH = 5000
_ERROR_LENGTH = 500


class RetryPolicy(msgspec.Struct, frozen=True):
    base_seconds: float = 5.0
    max_seconds: float = 3600.0
    lease_seconds: float = LEASE_SECONDS

    def delay(self, attempts_before: int) -> float:
        """Full jitter: uniform over [0, min(cap, base * 2**attempts_before)]."""
        return random.uniform(0, min(self.max_seconds, self.base_seconds * 2 ** min(attempts_before, 62)))


class Envelope(msgspec.Struct):
    """The body, fields in this order (jsonb keeps its own key order)."""

    id: str
    type: str
    timestamp: str
    data: dict[str, Any]


class Claimed(msgspec.Struct):
    id: UUID
    attempts: int
    lease: datetime
    url: str
    secrets: list[str]  # the current secret, and the previous one during a rotation's grace period
    event_id: UUID
    payload: Envelope


class Outcome(msgspec.Struct):
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def due_tenants(pool: asyncpg.Pool) -> list[UUID]:
    async with dispatcher_transaction(pool) as conn:
        rows = await conn.fetch(
            "SELECT DISTINCT tenant_id FROM webhook_deliveries "
            "WHERE status = 'pending' AND next_attempt_at <= now()"
        )
    return [row["tenant_id"] for row in rows]


async def claim(conn: asyncpg.Connection, policy: RetryPolicy, limit: int = BATCH) -> list[Claimed]:
    """Lease due deliveries of active endpoints of an active tenant; a due delivery of a disabled
    endpoint fails instead (it was claimed while its endpoint was being disabled)."""
    if not await tenants.is_active(conn):  # a suspended tenant's deliveries wait
        return []
    rows = await conn.fetch(
        """WITH due AS (
               SELECT d.id FROM webhook_deliveries d
               WHERE d.status = 'pending' AND d.next_attempt_at <= now()
               ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED)
           UPDATE webhook_deliveries d
           SET next_attempt_at = CASE WHEN e.active THEN clock_timestamp() + make_interval(secs => $2)
                                      ELSE d.next_attempt_at END,
               status = CASE WHEN e.active THEN d.status ELSE 'failed' END,
               last_error = CASE WHEN e.active THEN d.last_error ELSE 'endpoint disabled' END
           FROM due, webhook_endpoints e, webhook_events v
           WHERE d.id = due.id AND e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
             AND v.tenant_id = d.tenant_id AND v.id = d.event_id
           RETURNING d.id, d.attempts, d.next_attempt_at AS lease, e.url, e.active, v.id AS event_id,
                     CASE WHEN e.previous_valid_until > now() THEN ARRAY[e.secret, e.previous_secret]
                          ELSE ARRAY[e.secret] END AS secrets,
                     v.payload""",
        limit,
        policy.lease_seconds,
    )
    return [
        msgspec.convert({k: v for k, v in row.items() if k != "active"}, Claimed)
        for row in rows
        if row["active"]
    ]


_encode = msgspec.json.Encoder().encode


async def send(http: httpx.AsyncClient, delivery: Claimed) -> Outcome:
    """POST the event, signed; only the status is read, never the receiver's body."""
    body = _encode(delivery.payload)
    message_id, timestamp = str(delivery.event_id), int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": f"assess-webhooks/{__version__}",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(delivery.secrets, message_id, timestamp, body),
    }
    try:
        async with http.stream("POST", delivery.url, content=body, headers=headers) as response:
            status = response.status_code
    except Exception as exc:
        return Outcome(
            None, (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:_ERROR_LENGTH]
        )
    return Outcome(status, None if 200 <= status < 300 else f"HTTP {status}")


async def record(
    conn: asyncpg.Connection, claimed: list[Claimed], outcomes: list[Outcome], policy: RetryPolicy
) -> int:
    """Store the outcomes of deliveries still held by this claim; how many were recorded."""
    recorded = await conn.fetch(
        f"""UPDATE webhook_deliveries d
            SET attempts = d.attempts + 1, last_attempt_at = now(), last_status = r.status_code,
                last_error = r.error,
                status = CASE WHEN r.delivered THEN 'delivered'
                              WHEN now() >= v.created_at + interval '{RETRY_WINDOW_HOURS} hours' THEN 'failed'
                              ELSE 'pending' END,
                delivered_at = CASE WHEN r.delivered THEN now() END,
                next_attempt_at = CASE WHEN r.delivered THEN d.next_attempt_at
                                       ELSE least(now() + make_interval(secs => r.delay),
                                                  v.created_at + interval '{RETRY_WINDOW_HOURS} hours') END
            FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::text[], $5::bool[], $6::float8[])
                 AS r(id, lease, status_code, error, delivered, delay),
                 webhook_events v
            WHERE d.id = r.id AND d.status = 'pending' AND d.next_attempt_at = r.lease
              AND v.tenant_id = d.tenant_id AND v.id = d.event_id
            RETURNING d.id""",
        [c.id for c in claimed],
        [c.lease for c in claimed],
        [o.status_code for o in outcomes],
        [o.error for o in outcomes],
        [o.delivered for o in outcomes],
        [policy.delay(c.attempts) for c in claimed],
    )
    return len(recorded)


async def release(conn: asyncpg.Connection, claimed: list[Claimed]) -> None:
    """Hand unsent claims back (shutting down): due again at once, no attempt counted."""
    await conn.execute(
        """UPDATE webhook_deliveries d SET next_attempt_at = now()
           FROM unnest($1::uuid[], $2::timestamptz[]) AS r(id, lease)
           WHERE d.id = r.id AND d.status = 'pending' AND d.next_attempt_at = r.lease""",
        [c.id for c in claimed],
        [c.lease for c in claimed],
    )


async def _deliver_batch(
    pool: asyncpg.Pool, http: httpx.AsyncClient, tenant_id: UUID, policy: RetryPolicy
) -> tuple[int, int]:
    """Claim, send, record one batch of one tenant: (claimed, delivered)."""
    async with tenant_transaction(pool, tenant_id) as conn:
        claimed = await claim(conn, policy)
    if not claimed:
        return 0, 0
    try:
        outcomes = list(await asyncio.gather(*(send(http, c) for c in claimed)))
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                async with tenant_transaction(pool, tenant_id) as conn:
                    await release(conn, claimed)
        raise
    async with tenant_transaction(pool, tenant_id) as conn:
        await record(conn, claimed, outcomes, policy)
    for delivery, outcome in zip(claimed, outcomes, strict=True):
        if not outcome.delivered:
            log.info("webhook delivery %s to %s failed: %s", delivery.id, delivery.url, outcome.error)
    return len(claimed), sum(o.delivered for o in outcomes)


async def dispatch_once(pool: asyncpg.Pool, http: httpx.AsyncClient, policy: RetryPolicy) -> int:
    """Send what is due for every tenant; how many deliveries succeeded."""
    delivered = 0
    for tenant_id in await due_tenants(pool):
        for _ in range(BATCHES_PER_TENANT):
            claimed, succeeded = await _deliver_batch(pool, http, tenant_id, policy)
            delivered += succeeded
            if claimed < BATCH:
                break
    return delivered


async def prune(pool: asyncpg.Pool, retention_days: float) -> int:
    """Delete events older than `retention_days` and their deliveries, unless still pending; how many."""
    return await prune_by_tenant(
        pool,
        retention_days,
        "SELECT DISTINCT tenant_id FROM webhook_events WHERE created_at < now() - make_interval(secs => $1)",
        """WITH old AS (
               SELECT v.id FROM webhook_events v
               WHERE v.created_at < now() - make_interval(secs => $1)
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                 WHERE d.event_id = v.id AND d.status = 'pending')
               LIMIT $2 FOR UPDATE SKIP LOCKED),
           gone AS (DELETE FROM webhook_events v USING old WHERE v.id = old.id RETURNING 1)
           SELECT count(*) FROM gone""",
    )


async def prune_by_tenant(pool: asyncpg.Pool, retention_days: float, tenants_sql: str, batch_sql: str) -> int:
    """Retention's common steps: the tenants with old rows (`tenants_sql`, in the dispatcher's context,
    $1 the retention in seconds), then in each tenant's transaction `batch_sql` ($1 the retention, $2
    the batch size; it returns how many it deleted) until a batch comes back short; how many in all."""
    async with dispatcher_transaction(pool) as conn:
        rows = await conn.fetch(tenants_sql, retention_days * 86400)
    deleted = 0
    for row in rows:
        while True:
            async with tenant_transaction(pool, row["tenant_id"]) as conn:
                batch = await conn.fetchval(batch_sql, retention_days * 86400, PRUNE_BATCH)
            deleted += batch
            if batch < PRUNE_BATCH:
                break
    return deleted


def new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=TIMEOUT_SECONDS,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=BATCH * 2, max_keepalive_connections=BATCH),
    )


async def run(
    pool: asyncpg.Pool, every_seconds: float, policy: RetryPolicy, retention_days: float = 30.0
) -> None:
    """Dispatch forever, pruning old events now and then; a failed pass (database restarting, say)
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
                log.warning("webhook dispatch failed, retrying in %ss: %s", every_seconds, exc)
