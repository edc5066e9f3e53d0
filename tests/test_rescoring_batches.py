"""A rescoring's batches (issue 19 goal 4): jobs of their own that several workers run side by side,
each one transaction, so a batch run twice or cut off half-way neither loses nor doubles anything."""

from __future__ import annotations

import asyncio
from uuid import UUID

from service import pipeline
from service.config import Settings
from service.db.pool import create_pool, tenant_transaction
from service.jobqueue import queue
from service.jobqueue.job import Job
from service.jobs import runner
from service.jobs.runner import JobRunner
from service.results import rescoring
from tests.test_aggregates_flow import _check_in_step
from tests.test_rescoring_flow import _new_version, _rescore, _settled, sat  # noqa: F401 (a fixture)

KEY_CORRECTED = {"reason": "T-SC-1 was keyed c; b is right", "items": {"T-SC-1": 2}}


async def _state(owner):  # type: ignore[no-untyped-def]
    """Every score row, the rollups' sums and the rescorings' progress: what a batch run twice must not move."""
    return (
        [
            tuple(r)
            for r in await owner.fetch(
                "SELECT attempt_id, version, current, overall_scaled FROM scores ORDER BY attempt_id, version"
            )
        ],
        [
            tuple(r)
            for r in await owner.fetch(
                "SELECT unit_id, measure, category, week, n, total FROM rollups ORDER BY 1, 2, 3, 4"
            )
        ],
        [
            tuple(r)
            for r in await owner.fetch("SELECT id, status, processed, changed FROM rescorings ORDER BY id")
        ],
    )


async def test_a_batch_run_again_after_it_was_done_changes_nothing(client, sat, owner, app_url, settings):
    admin, tenant = sat["admin"], UUID(sat["id"])
    await _new_version(client, admin, key={"correct": "b"})
    url, _ = await _rescore(client, admin, KEY_CORRECTED)
    assert (await client.post(f"{url}/commit", headers=admin)).status_code == 202
    done = await _settled(client, admin, url)
    assert (done["status"], done["processed"], done["changed"]) == ("done", 3, 3)
    before = await _state(owner)
    batches = await owner.fetch("SELECT id FROM rescoring_batches WHERE phase = 'commit'")
    assert len(batches) == 1
    pool = await create_pool(app_url, min_size=1, max_size=2)
    try:
        for batch in batches:  # its job queued again (as a retry would) and claimed by another worker
            async with tenant_transaction(pool, tenant) as conn:
                await queue.enqueue(conn, "rescoring_batch", batch["id"])
                claimed = await queue.claim(conn, "again:1", 30, 3, batch["id"])
            assert claimed is not None and claimed.owner is not None
            job = Job(pool, tenant, claimed.id, claimed.kind, claimed.attempts, claimed.owner, settings)
            await rescoring.run_batch(job, store=pipeline.store)
            assert job.finished
    finally:
        await pool.close()
    assert await _state(owner) == before
    await _check_in_step(client, admin)


async def test_a_batch_cut_off_before_its_commit_leaves_nothing_and_committing_again_finishes_once(
    client,
    sat,
    owner,
    monkeypatch,
):
    admin = sat["admin"]
    await _new_version(client, admin, key={"correct": "b"})
    url, _ = await _rescore(client, admin, KEY_CORRECTED)

    async def cut_off(ids, scored_by):  # type: ignore[no-untyped-def]
        if scored_by.startswith("rescoring:"):
            raise RuntimeError("the worker died here")

    monkeypatch.setattr(pipeline, "before_rollups", cut_off)
    assert (await client.post(f"{url}/commit", headers=admin)).status_code == 202
    failed = await _settled(client, admin, url)
    assert (failed["status"], failed["processed"], failed["changed"]) == ("failed", 0, 0)
    assert "the worker died here" in failed["error"]
    assert await owner.fetchval("SELECT count(*) FROM scores") == 3  # the batch's documents went with it
    assert await owner.fetchval("SELECT count(*) FROM rescoring_batches WHERE done AND phase = 'commit'") == 0

    monkeypatch.setattr(pipeline, "before_rollups", None)
    assert (await client.post(f"{url}/commit", headers=admin)).status_code == 202
    done = await _settled(client, admin, url)
    assert (done["status"], done["processed"], done["changed"]) == ("done", 3, 3)
    versions = await owner.fetch(
        "SELECT attempt_id, array_agg(version ORDER BY version) AS v, count(*) FILTER (WHERE current) AS c "
        "FROM scores GROUP BY attempt_id"
    )
    assert {(tuple(r["v"]), r["c"]) for r in versions} == {((1, 2), 1)}  # rescored once each
    await _check_in_step(client, admin)


async def test_the_batches_of_a_commit_run_in_several_workers_at_once(
    client,
    sat,
    owner,
    app_url,
    settings: Settings,
    monkeypatch,
):
    """Three batches of one attempt: the rescoring's own job holds the first open (stepped by hand)
    while another worker's poll takes one and finishes it; then all finish, each attempt rescored once."""
    admin = sat["admin"]
    await _new_version(client, admin, key={"correct": "b"})
    monkeypatch.setattr(rescoring, "BATCH", 1)
    monkeypatch.setattr(runner, "BATCHES_PER_WORKER", 1)
    url, preview = await _rescore(client, admin, KEY_CORRECTED)
    assert preview["summary"]["changed"] == 3  # the tallies of three preview batches summed
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_the_first(ids, scored_by):  # type: ignore[no-untyped-def]
        if scored_by.startswith("rescoring:") and not held.is_set():
            held.set()
            await release.wait()

    monkeypatch.setattr(pipeline, "before_rollups", hold_the_first)
    commit = asyncio.create_task(client.post(f"{url}/commit", headers=admin))
    await asyncio.wait_for(held.wait(), 30)
    pool = await create_pool(app_url, min_size=1, max_size=3)
    try:
        other = JobRunner(pool, settings, owner="other-worker")
        assert await other.poll_once() == 1  # one batch (BATCHES_PER_WORKER), while the first is held
        while other.running or other._spawned:
            await asyncio.sleep(0.01)
        # the other worker's batch done (and the one it chained to: `JobRunner.run`), the first still held
        done_meanwhile = await owner.fetchval(
            "SELECT count(*) FROM rescoring_batches WHERE phase = 'commit' AND done"
        )
        assert 1 <= done_meanwhile < 3
        release.set()
        assert (await commit).status_code == 202
        done = await _settled(client, admin, url)
    finally:
        await pool.close()
    assert (done["status"], done["total"], done["processed"], done["changed"]) == ("done", 3, 3, 3)
    owners = await owner.fetch(
        "SELECT j.attempts FROM jobs j JOIN rescoring_batches b ON b.tenant_id = j.tenant_id AND b.id = j.id "
        "WHERE b.phase = 'commit' AND j.state = 'done'"
    )
    assert len(owners) == 3
    versions = await owner.fetch(
        "SELECT count(*) FILTER (WHERE current) AS c, count(*) AS n FROM scores GROUP BY attempt_id"
    )
    assert {(r["c"], r["n"]) for r in versions} == {(1, 2)}
    await _check_in_step(client, admin)
