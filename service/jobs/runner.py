"""Runs jobs in a worker: the one launched by a request, and those found by polling (queued, or
running with a lapsed lease). See the package docstring for the mechanism.

Where it runs (JOB_MODE): `inline`, in every HTTP worker (a request's job is claimed by its worker
right after the response; each worker polls); `process`, in job processes of their own
(`service.jobs.process`), the HTTP workers' runners only enqueueing (`enqueue_only`): a job process
LISTENs for enqueues (`queue.CHANNEL`, `listen_forever`) and claims a new job at once, polling as
the fallback, and takes a rescoring's batches too (JOB_PROCESS_BATCHES)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Coroutine
from typing import Any
from uuid import UUID

import asyncpg

from service.config import Settings
from service.db.pool import tenant_transaction
from service.jobqueue import queue
from service.jobqueue.job import Job, LeaseLost
from service.jobs.kinds import KINDS

log = logging.getLogger("assess.jobs")
# Jobs one poll claims per tenant at most: a dead worker's jobs are taken over in one pass, and a poll
# still cannot take a whole backlog into one worker.
CLAIMS_PER_POLL = 8
# A rescoring's batches (CPU-bound: the engine) an HTTP worker takes from the queue at once, besides those
# the rescoring's own job runs (JOB_MODE=inline). 0: on the 2-core benchmark machine batches in both
# workers made submissions meanwhile wait seconds (bench/README.md, rescoring, 2026-12-07). A job process
# (JOB_MODE=process), whose work yields the cores to requests, takes JOB_PROCESS_BATCHES instead.
BATCHES_PER_WORKER = 0
_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class JobRunner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        owner: str | None = None,
        *,
        enqueue_only: bool = False,
        job_process: bool = False,
    ) -> None:
        """`enqueue_only`: an HTTP worker's runner with JOB_MODE=process (it neither launches nor polls:
        a job process does both); `job_process`: the runner of a job process (its polls claim queued jobs
        at once, as no request worker launches them, and take JOB_PROCESS_BATCHES batches)."""
        self.pool, self.settings = pool, settings
        self.enqueue_only, self.job_process = enqueue_only, job_process
        self.batches = settings.job_process_batches if job_process else BATCHES_PER_WORKER
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.running: dict[UUID, tuple[Job, asyncio.Task[None]]] = {}
        self._spawned: set[asyncio.Task[None]] = set()
        # every claim this worker holds, by the task that runs it (started or not yet): what close() hands back
        self._claims: dict[asyncio.Task[None], tuple[UUID, queue.Claimed]] = {}
        self._closing = False  # close() has begun: claim nothing more
        # launches whose claim is under way: close() waits for them (a claim committed as the shutdown began
        # is handed back by its launch, while the pool is still open)
        self._claiming: set[asyncio.Future[None]] = set()

    def _claimant(self) -> str:
        """The lease owner of one claim: this worker (host:pid) and a nonce, so that two claims of a job
        in one worker (a poll taking over a claim starved of connections) fence each other out too."""
        return f"{self.owner}:{secrets.token_hex(4)}"

    async def launch(self, tenant_id: UUID, job_id: UUID) -> None:
        """Claim this job and run it to the end (a request's background task, after its commit; in a job
        process, on the enqueue's notice). Nothing in an HTTP worker with JOB_MODE=process: the enqueue's
        commit has told the job processes (`queue.CHANNEL`)."""
        if self.enqueue_only or self._closing:
            return
        claiming = asyncio.get_running_loop().create_future()
        self._claiming.add(claiming)
        try:
            async with tenant_transaction(self.pool, tenant_id) as conn:
                claimed = await queue.claim(
                    conn,
                    self._claimant(),
                    self.settings.job_lease_seconds,
                    self.settings.job_max_attempts,
                    job_id,
                )
            if claimed is not None and self._closing:  # close() began during the claim: hand it back
                assert claimed.owner is not None, "a claim names its owner"
                async with tenant_transaction(self.pool, tenant_id) as conn:
                    await queue.release(conn, claimed.id, claimed.owner)
                return
        finally:
            self._claiming.discard(claiming)
            claiming.set_result(None)
        if claimed is not None:  # else another worker's poll was quicker
            # a task of its own: the heartbeat (lease lost) or a shutdown may cancel it, not the request
            await asyncio.wait({self._start(tenant_id, claimed)})

    async def poll_once(self) -> int:
        """Fail the jobs whose last allowed worker died; claim every job a tenant has to claim (up to
        CLAIMS_PER_POLL) and start them. Returns how many were started.

        Every claimable job at once, not one per poll: the jobs of a worker that died are taken over in
        one pass of the first worker to poll. One a pass left the rest to later passes, which a worker
        restarted after a crash might not live to see: a new worker killed again soon after its first
        claim (a crash loop, or the kill -9 fault test) took one job over per start, and the last job
        waited one worker start (tens of seconds on a loaded machine) per job ahead of it."""
        started = 0
        if self._closing:
            return started
        for tenant_id in await queue.due_tenants(self.pool, queued=self.job_process):
            claims: list[queue.Claimed] = []
            async with tenant_transaction(self.pool, tenant_id) as conn:
                for dead in await queue.exhausted(conn, self.settings.job_max_attempts):
                    error = await queue.error_of(conn, dead.id)
                    log.warning("%s job %s failed: %s", dead.kind, dead.id, error)
                    await KINDS[dead.kind].failed(conn, dead.id, error)
                while len(claims) < CLAIMS_PER_POLL:
                    batches = sum(job.kind == "rescoring_batch" for job, _ in self.running.values()) + sum(
                        c.kind == "rescoring_batch" for c in claims
                    )
                    claimed = await queue.claim(
                        conn,
                        self._claimant(),
                        self.settings.job_lease_seconds,
                        self.settings.job_max_attempts,
                        not_of=["rescoring_batch"] if batches >= self.batches else None,
                        queued=self.job_process,
                    )
                    if claimed is None:
                        break
                    claims.append(claimed)
            for claimed in claims:
                if claimed.attempts > 1:
                    log.warning(
                        "%s job %s taken over (claim %s): its worker stopped",
                        claimed.kind,
                        claimed.id,
                        claimed.attempts,
                    )
                self._spawn_task(self._start(tenant_id, claimed))
                started += 1
        return started

    def _start(self, tenant_id: UUID, claimed: queue.Claimed) -> asyncio.Task[None]:
        """Run a claimed job in a task of its own, its claim held until the task ends."""
        task = asyncio.create_task(self.run(tenant_id, claimed))
        self._claims[task] = (tenant_id, claimed)
        task.add_done_callback(lambda done: self._claims.pop(done, None))
        return task

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.job_poll_seconds)
            try:
                await self.poll_once()
            except _DB_ERRORS as exc:
                log.warning("job poll failed, retrying in %ss: %s", self.settings.job_poll_seconds, exc)
            except Exception:  # the loop must outlive any one bad pass
                log.exception("job poll failed, retrying in %ss", self.settings.job_poll_seconds)

    async def listen_forever(self, url: str) -> None:
        """A job process's wake-ups: LISTEN for enqueues (`queue.CHANNEL`) on a connection of its own and
        claim each new job at once (or poll, for a rescoring's batches); after (re)connecting, one poll
        for what was enqueued meanwhile. The polls of `run_forever` remain the fallback."""
        while True:
            lost = asyncio.Event()
            try:
                listener = await queue.listen(url, self._notice, lost.set)
            except _DB_ERRORS as exc:
                log.warning("job listener could not connect, retrying in 1 s: %s", exc)
                await asyncio.sleep(1.0)
                continue
            try:
                self._spawn(self._poll_again())
                await lost.wait()
                log.warning("job listener connection lost; reconnecting")
            finally:
                with contextlib.suppress(*_DB_ERRORS):
                    await listener.close(timeout=2)

    def _notice(self, payload: str) -> None:
        tenant, _, job = payload.partition(" ")
        try:
            tenant_id, job_id = UUID(tenant), UUID(job) if job else None
        except ValueError:
            log.warning("job notice not understood: %r", payload)
            return
        if job_id is None:
            self._spawn(self._poll_again())
        else:
            self._spawn(self._launch_noticed(tenant_id, job_id))

    async def _launch_noticed(self, tenant_id: UUID, job_id: UUID) -> None:
        try:
            await self.launch(tenant_id, job_id)
        except _DB_ERRORS as exc:  # the next poll claims it
            log.warning("job %s: claim failed: %s", job_id, exc)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._spawn_task(asyncio.create_task(work))

    def _spawn_task(self, task: asyncio.Task[None]) -> None:
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def run(self, tenant_id: UUID, claimed: queue.Claimed) -> None:
        assert claimed.owner is not None, "a claim names its owner"
        job = Job(
            self.pool, tenant_id, claimed.id, claimed.kind, claimed.attempts, claimed.owner, self.settings
        )
        task = asyncio.current_task()
        assert task is not None
        self.running[job.id] = (job, task)
        heartbeat = asyncio.create_task(self._heartbeat(job, task))
        try:
            await KINDS[job.kind].run(job)
            if job.kind == "rescoring_batch" and self.settings.job_poll_seconds > 0:
                # the next batch at once, not at the next poll: a rescoring's batches keep every worker busy
                self._spawn(self._poll_again())
        except LeaseLost:
            log.warning(
                "%s job %s: lease lost, stopped (another worker has it, or it ended)", job.kind, job.id
            )
        except asyncio.CancelledError:
            if not job.lost:
                raise
            log.warning(
                "%s job %s: lease lost, stopped (another worker has it, or it ended)", job.kind, job.id
            )
        except Exception as exc:  # a job has no caller to raise to: record the failure where the client polls
            log.exception("%s job %s failed", job.kind, job.id)
            await self._record_failure(job, f"{type(exc).__name__}: {exc}"[:2000])
        finally:
            self.running.pop(job.id, None)
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _poll_again(self) -> None:
        try:
            await self.poll_once()
        except _DB_ERRORS as exc:
            log.warning("job poll failed: %s", exc)

    async def _record_failure(self, job: Job, error: str) -> None:
        try:
            async with tenant_transaction(self.pool, job.tenant_id) as conn:
                if await queue.finish(conn, job.id, job.owner, error):
                    await KINDS[job.kind].failed(conn, job.id, error)
        except _DB_ERRORS as exc:  # the lease lapses and another worker takes the job over
            log.warning("%s job %s: could not record its failure: %s", job.kind, job.id, exc)

    async def _heartbeat(self, job: Job, task: asyncio.Task[None]) -> None:
        """Renews the lease while the job runs; stops the job if the lease is no longer this worker's."""
        while True:
            await asyncio.sleep(self.settings.job_heartbeat_seconds)
            try:
                async with tenant_transaction(self.pool, job.tenant_id) as conn:
                    held = await queue.renew(conn, job.id, job.owner, self.settings.job_lease_seconds)
            except _DB_ERRORS as exc:
                log.warning("%s job %s: heartbeat failed: %s", job.kind, job.id, exc)
                continue
            if not held and not job.finished:  # (finished: the job ended while this renewal waited)
                job.lost = True
                task.cancel()
                return

    async def close(self) -> None:
        """Graceful shutdown: stop the jobs this worker runs and hand them back for another to claim,
        those whose task has not begun yet included (a claim made just before the shutdown)."""
        self._closing = True
        # polls and notices under way first: a claim they make after this would not be handed back
        pending = [task for task in self._spawned if task not in self._claims]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # launches claiming now: each hands its claim back itself once it sees the shutdown (no await
        # between a launch's claim and its task's start, so nothing slips between this and the list below)
        await asyncio.gather(*self._claiming, return_exceptions=True)
        claims = list(self._claims.items())  # every task this worker started, the polled ones included
        for task, _ in claims:
            task.cancel()
        for task, (tenant_id, claimed) in claims:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            assert claimed.owner is not None, "a claim names its owner"
            with contextlib.suppress(*_DB_ERRORS):
                async with tenant_transaction(self.pool, tenant_id) as conn:
                    await queue.release(conn, claimed.id, claimed.owner)
