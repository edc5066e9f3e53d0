"""What a job's code gets while it runs: its identity, its lease (`fence`, `complete`) and the
test-only pause. The kinds' modules import this, never the runner."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from service.config import Settings
from service.jobqueue import queue


class LeaseLost(Exception):
    """Another worker took the job over (this one was too slow to renew its lease), or it ended."""


@dataclass
class Job:
    pool: asyncpg.Pool
    tenant_id: UUID
    id: UUID
    kind: queue.Kind
    attempt: int  # 1 on the first claim; more when taken over from a worker that died
    owner: str  # of this claim: host:pid:nonce
    settings: Settings
    lost: bool = field(default=False)
    finished: bool = field(default=False)

    async def fence(self, conn: asyncpg.Connection) -> None:
        """First statement of every transaction that writes the job's work: renews the lease and holds
        the job's row until commit; raises LeaseLost (rolling the transaction back) if no longer ours."""
        if not await queue.renew(conn, self.id, self.owner, self.settings.job_lease_seconds):
            raise LeaseLost(f"job {self.id} is no longer held by {self.owner}")

    async def complete(self, conn: asyncpg.Connection) -> None:
        """In the transaction that writes the job's outcome: the job is done when that commits."""
        if not await queue.finish(conn, self.id, self.owner):
            raise LeaseLost(f"job {self.id} is no longer held by {self.owner}")
        self.finished = True

    async def checkpoint(self) -> None:
        """After the claim, before the work: tests make jobs pause here (ASSESS_TEST_JOB_PAUSE_SECONDS)."""
        if self.settings.test_job_pause_seconds > 0:
            await asyncio.sleep(self.settings.test_job_pause_seconds)
