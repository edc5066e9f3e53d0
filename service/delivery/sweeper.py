"""Submits attempts whose deadline and grace have passed, so an abandoned attempt is submitted
on time even if no client ever touches it again (touching it also submits it, see attempts.py).

Runs in every worker; the UPDATE is idempotent under row locks, so workers racing each other
submit each attempt once. Tenants are visited one at a time, each in its own tenant-scoped
transaction: the sweeper sees nothing a tenant's own request could not.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from service.db.pool import operator_transaction, tenant_transaction
from service.delivery.attempts import submit_overdue
from service.tenancy import tenants

log = logging.getLogger("assess.sweeper")
BATCH = 100


async def sweep_once(pool: asyncpg.Pool) -> int:
    """Submit every overdue attempt of every active tenant; returns how many were submitted."""
    async with operator_transaction(pool) as conn:
        active = await tenants.tenant_ids(conn, active_only=True)
    submitted = 0
    for tenant_id in active:
        while True:  # small transactions: scoring is CPU work that must not hold the event loop for long
            async with tenant_transaction(pool, tenant_id) as conn:
                done = await submit_overdue(conn, limit=BATCH)
            submitted += done
            if done < BATCH:
                break
            await asyncio.sleep(0)
    return submitted


async def run(pool: asyncpg.Pool, every_seconds: float) -> None:
    """Sweep forever; a failed sweep (database restarting, say) is logged and retried next time."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            count = await sweep_once(pool)
            if count:
                log.info("submitted %d attempt(s) at their deadline", count)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("deadline sweep failed, retrying in %ss: %s", every_seconds, exc)
