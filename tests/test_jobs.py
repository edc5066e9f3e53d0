"""The job mechanism in process (service/jobs): a worker shutting down hands its jobs back, and
another claims them at once. (tests/test_jobs_faults.py kills real workers of each kind;
tests/test_score_exports.py covers takeover after a lapsed lease and fencing of a lost claim.)"""

from __future__ import annotations

import asyncio
from uuid import UUID

import msgspec

from service.api.app import _connect
from service.config import Settings
from service.db.pool import tenant_transaction
from service.jobs.runner import JobRunner
from service.results import item_stats
from tests.delivery_setup import delivery_tenant


async def _job(owner, job_id):  # type: ignore[no-untyped-def]
    return await owner.fetchrow("SELECT state, attempts, lease_owner FROM jobs WHERE id = $1", job_id)


async def test_a_worker_shutting_down_hands_its_job_back_and_another_takes_it_at_once(
    client, service_keys, owner, settings: Settings
):
    tenant = await delivery_tenant(client, service_keys, slug="jobs-handback")
    tenant_id = UUID(tenant["id"])
    paused = msgspec.structs.replace(settings, test_job_pause_seconds=3600.0, job_poll_seconds=0.0)
    runtime_pool = await _connect(settings)  # the app's own way in, as the application role
    try:
        async with tenant_transaction(runtime_pool, tenant_id) as conn:
            run = await item_stats.start(conn, "quiz", "tester")
        leaving = JobRunner(runtime_pool, paused, owner="leaving-worker")
        running = asyncio.create_task(leaving.launch(tenant_id, run.id))
        while (row := await _job(owner, run.id))["state"] != "running":
            await asyncio.sleep(0.01)
        assert row["attempts"] == 1 and row["lease_owner"].startswith("leaving-worker:")

        await leaving.close()  # a graceful shutdown, in the middle of the job
        await running
        row = await _job(owner, run.id)
        assert (row["state"], row["attempts"], row["lease_owner"]) == ("queued", 0, None)

        other = JobRunner(runtime_pool, settings, owner="other-worker")
        assert await other.poll_once() == 1  # claimable at once: no lease to wait for
        while other.running or other._spawned:
            await asyncio.sleep(0.01)
        assert tuple(await owner.fetchrow("SELECT state, attempts FROM jobs WHERE id = $1", run.id)) == (
            "done",
            1,
        )
        assert await owner.fetchval("SELECT status FROM statistics_runs WHERE id = $1", run.id) == "done"
    finally:
        await runtime_pool.close()


async def test_a_claim_whose_task_has_not_begun_is_handed_back_at_shutdown_too(
    client, service_keys, owner, settings: Settings
):
    """The interleaving forced: the claim is committed and its task created, then the shutdown comes
    before the task's first step (it is not yet among the running jobs). The claim is released, not
    left to its lease, and the task never runs the job."""
    from service.jobqueue import queue

    tenant = await delivery_tenant(client, service_keys, slug="jobs-unbegun")
    tenant_id = UUID(tenant["id"])
    runtime_pool = await _connect(settings)
    try:
        async with tenant_transaction(runtime_pool, tenant_id) as conn:
            run = await item_stats.start(conn, "quiz", "tester")
        leaving = JobRunner(runtime_pool, settings, owner="leaving-worker")
        async with tenant_transaction(runtime_pool, tenant_id) as conn:
            claimed = await queue.claim(
                conn, leaving._claimant(), settings.job_lease_seconds, settings.job_max_attempts, run.id
            )
        assert claimed is not None
        task = leaving._start(tenant_id, claimed)  # no await between this and close(): it has not begun
        assert not leaving.running
        await leaving.close()
        assert task.cancelled()
        row = await _job(owner, run.id)
        assert (row["state"], row["attempts"], row["lease_owner"]) == ("queued", 0, None)
        assert await owner.fetchval("SELECT status FROM statistics_runs WHERE id = $1", run.id) != "done"
    finally:
        await runtime_pool.close()


async def test_a_launch_claiming_as_the_shutdown_begins_hands_its_claim_back(
    client, service_keys, owner, settings: Settings, monkeypatch
):
    """The interleaving forced: a request's launch has claimed the job (committed) when the shutdown
    begins, before the launch has started the job's task. The shutdown waits for that launch, which hands
    the claim back: the job is queued again, not left to its lease, and never runs in this worker. (Before,
    close() saw no claim, returned, and the launch then ran the job in a worker shutting down.)"""
    from service.jobqueue import queue

    tenant = await delivery_tenant(client, service_keys, slug="jobs-claiming")
    tenant_id = UUID(tenant["id"])
    runtime_pool = await _connect(settings)
    claimed_it, go_on = asyncio.Event(), asyncio.Event()
    real_claim = queue.claim

    async def claim_then_wait(*args, **kwargs):  # type: ignore[no-untyped-def]
        claimed = await real_claim(*args, **kwargs)
        claimed_it.set()
        await go_on.wait()
        return claimed

    try:
        async with tenant_transaction(runtime_pool, tenant_id) as conn:
            run = await item_stats.start(conn, "quiz", "tester")
        leaving = JobRunner(runtime_pool, settings, owner="leaving-worker")
        monkeypatch.setattr(queue, "claim", claim_then_wait)
        launching = asyncio.create_task(leaving.launch(tenant_id, run.id))
        await claimed_it.wait()
        closing = asyncio.create_task(leaving.close())
        while not leaving._closing:  # close() has begun
            await asyncio.sleep(0)
        go_on.set()
        await closing
        assert launching.done()  # close() waited for the launch under way
        await launching
        assert not leaving.running and not leaving._claims
        row = await _job(owner, run.id)
        assert (row["state"], row["attempts"], row["lease_owner"]) == ("queued", 0, None)
        assert await owner.fetchval("SELECT status FROM statistics_runs WHERE id = $1", run.id) != "done"
    finally:
        await runtime_pool.close()


async def test_one_poll_takes_over_every_job_of_a_dead_worker(
    client, service_keys, owner, settings: Settings
):
    """Three jobs of one tenant held by a worker that died (their leases lapsed, forced here): the first
    poll of another worker claims all three, not one a poll (a worker restarted after a crash may be
    killed again before its next poll, as in tests/test_jobs_faults.py, and the others then waited a
    worker start each)."""
    from service.jobqueue import queue

    tenant = await delivery_tenant(client, service_keys, slug="jobs-takeover-all")
    tenant_id = UUID(tenant["id"])
    paused = msgspec.structs.replace(settings, test_job_pause_seconds=3600.0, job_poll_seconds=0.0)
    runtime_pool = await _connect(settings)
    other = JobRunner(runtime_pool, paused, owner="other-worker")
    try:
        runs = []
        async with tenant_transaction(runtime_pool, tenant_id) as conn:
            for _ in range(3):
                run = await item_stats.start(conn, "quiz", "tester")
                claimed = await queue.claim(
                    conn, "dead-worker:1:0", settings.job_lease_seconds, settings.job_max_attempts, run.id
                )
                assert claimed is not None
                runs.append(run.id)
        await owner.execute(
            "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = ANY($1::uuid[])", runs
        )
        assert await other.poll_once() == 3
        for run_id in runs:
            row = await _job(owner, run_id)
            assert (row["state"], row["attempts"]) == ("running", 2)
            assert row["lease_owner"].startswith("other-worker:")
    finally:
        await other.close()
        await runtime_pool.close()


async def test_an_enqueue_tells_the_job_processes_whose_poll_claims_a_queued_job_at_once(
    client, service_keys, owner, settings: Settings
):
    """JOB_MODE=process: the enqueue NOTIFYs `queue.CHANNEL` at its commit (tenant and job); an HTTP
    worker's runner (enqueue_only) leaves the job alone; a worker's poll leaves it to its launcher for
    LAUNCH_SECONDS, a job process's poll (no request worker launches there) claims it at once."""
    from service.db.urls import app_url
    from service.jobqueue import queue

    tenant = await delivery_tenant(client, service_keys, slug="jobs-notified")
    tenant_id = UUID(tenant["id"])
    runtime_pool = await _connect(settings)
    notices: asyncio.Queue[str] = asyncio.Queue()
    listener = await queue.listen(
        app_url(settings, settings.database_url or ""), notices.put_nowait, lambda: None
    )
    try:
        async with tenant_transaction(runtime_pool, tenant_id) as conn:
            run = await item_stats.start(conn, "quiz", "tester")
            await asyncio.sleep(0.1)  # (a notice is sent at commit, not before)
            assert notices.empty()
        assert await asyncio.wait_for(notices.get(), 10) == f"{tenant_id} {run.id}"

        web = JobRunner(runtime_pool, settings, owner="web-worker", enqueue_only=True)
        await web.launch(tenant_id, run.id)
        assert await JobRunner(runtime_pool, settings, owner="inline-worker").poll_once() == 0
        assert tuple(await _job(owner, run.id)) == ("queued", 0, None)

        jobs = JobRunner(runtime_pool, settings, owner="job-process", job_process=True)
        assert await jobs.poll_once() == 1
        while jobs.running or jobs._spawned:
            await asyncio.sleep(0.01)
        assert tuple(await owner.fetchrow("SELECT state, attempts FROM jobs WHERE id = $1", run.id)) == (
            "done",
            1,
        )
    finally:
        await listener.close()
        await runtime_pool.close()
