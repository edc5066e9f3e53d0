"""A rater corrects their own rating until it is used; a correction racing the settling rating.

Used means the task is agreed: its agreed (or adjudicated) value rests on the rating and the score
document names it. The races step two connections by hand: one holds the task's row lock, the other
is seen waiting on it in pg_stat_activity, then the first commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from service.db.pool import create_pool, tenant_transaction
from service.errors import Conflict
from service.results import ratings
from service.results.ratings import RatingInput, RatingUsed
from tests.delivery_setup import delivery_tenant
from tests.helpers import user

PROBLEM = "application/problem+json"


async def _submitted(client, tenant: dict[str, Any], count: int) -> list[str]:
    attempts = []
    for me in tenant["candidates"][:count]:
        attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()[
            "attempt"
        ]["id"]
        await client.put(
            f"/v1/me/attempts/{attempt}/answers/T-OR-1",
            json={"revision": 1, "answer": {"text": f"prompt by {attempt[:4]}"}},
            headers=me,
        )
        assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
        attempts.append(attempt)
    return attempts


async def _rate(client, who, task, value) -> dict[str, Any]:
    response = await client.post(f"/v1/rating-tasks/{task}/ratings", json={"value": value}, headers=who)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_rater_corrects_an_unused_rating_and_the_used_one_is_final(client, service_keys):
    tenant = await delivery_tenant(
        client,
        service_keys,
        slug="correct-region",
        people=1,
        feedback="immediate",
        marking={"double": True, "adjudication_gap": 1},
    )
    r1, r2, r3 = (user(service_keys, tenant["id"], ["rater"], sub=name) for name in ("r1", "r2", "r3"))
    (attempt,) = await _submitted(client, tenant, 1)
    (task,) = [t["id"] for t in (await client.get("/v1/rating-tasks", headers=r1)).json()["items"]]
    mine = f"/v1/rating-tasks/{task}/ratings/mine"

    assert (await client.get(mine, headers=r1)).status_code == 404  # nothing to correct yet
    await _rate(client, r1, task, 1)
    read = await client.get(mine, headers=r1)
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    assert read.json()["value"] == 1 and read.json()["correctable"] is True and read.json()["history"] == []
    assert not {"attempt", "candidate", "person", "submitted_at"} & set(read.json())  # still blind

    assert (await client.put(mine, json={"value": 2}, headers=r1)).status_code == 428
    stale = await client.put(mine, json={"value": 2}, headers={**r1, "If-Match": '"7"'})
    assert stale.status_code == 412
    assert (await client.put(mine, json={"value": 2}, headers={**r2, "If-Match": '"1"'})).status_code == 404
    corrected = await client.put(
        mine, json={"value": 2, "comment": "misread"}, headers={**r1, "If-Match": '"1"'}
    )
    assert corrected.status_code == 200, corrected.text
    body = corrected.json()
    assert (
        corrected.headers["etag"] == '"2"'
        and body["rating"]["value"] == 2
        and body["rating"]["revision"] == 2
    )
    assert [(p["revision"], p["value"], p["comment"]) for p in body["rating"]["history"]] == [(1, 1, None)]
    assert body["task"] == {
        "id": task,
        "status": "open",
        "ratings": 1,
        "ratings_needed": 1,
        "agreed_value": None,
    }

    # r2 disagrees by more than the gap: the task waits for an adjudicator, and both ratings are unused.
    assert (await _rate(client, r2, task, 0))["ratings_needed"] == 1
    # r2's correction brings the pair within the gap: the correction settles the task and rescores.
    settled = await client.put(mine, json={"value": 1}, headers={**r2, "If-Match": '"1"'})
    assert settled.status_code == 200, settled.text
    assert settled.json()["task"]["status"] == "agreed" and settled.json()["task"]["agreed_value"] == 1.5
    assert settled.json()["rating"]["correctable"] is False
    report = (await client.get(f"/v1/me/attempts/{attempt}/report", headers=tenant["candidates"][0])).json()
    assert report["status"] == "final"

    # Used: neither rating may change any more, with a problem type clients can switch on.
    used = await client.put(mine, json={"value": 3}, headers={**r1, "If-Match": '"2"'})
    assert used.status_code == 409 and used.headers["content-type"].startswith(PROBLEM)
    assert used.json()["type"] == "urn:assess:problem:rating-used"
    stale_and_used = await client.put(mine, json={"value": 3}, headers={**r1, "If-Match": '"1"'})
    assert stale_and_used.status_code == 409  # final whichever version was read
    assert (await client.get(mine, headers=r1)).json()["value"] == 2
    assert (
        await client.post(f"/v1/rating-tasks/{task}/ratings", json={"value": 3}, headers=r3)
    ).status_code == 409


async def test_a_single_marked_rating_is_used_at_once(client, service_keys):
    tenant = await delivery_tenant(client, service_keys, slug="single-region", people=1)
    r1 = user(service_keys, tenant["id"], ["rater"], sub="r1")
    await _submitted(client, tenant, 1)
    (task,) = [t["id"] for t in (await client.get("/v1/rating-tasks", headers=r1)).json()["items"]]
    assert (await _rate(client, r1, task, 2))["status"] == "agreed"
    used = await client.put(
        f"/v1/rating-tasks/{task}/ratings/mine", json={"value": 1}, headers={**r1, "If-Match": '"1"'}
    )
    assert used.status_code == 409 and used.json()["type"] == "urn:assess:problem:rating-used"


@pytest.fixture
async def pool(app_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(app_url, min_size=2, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def _until_waiting_on_a_lock(owner: asyncpg.Connection, pid: int) -> None:
    """Returns once backend `pid` waits on a lock (a condition, not a timer: it always comes)."""
    while await owner.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid) != "Lock":
        await asyncio.sleep(0.01)


async def _one_rated_task(client, service_keys, slug: str) -> tuple[Any, str]:
    tenant = await delivery_tenant(
        client, service_keys, slug=slug, people=1, marking={"double": True, "adjudication_gap": 1}
    )
    r1 = user(service_keys, tenant["id"], ["rater"], sub="r1")
    await _submitted(client, tenant, 1)
    (task,) = [t["id"] for t in (await client.get("/v1/rating-tasks", headers=r1)).json()["items"]]
    await _rate(client, r1, task, 1)
    return tenant["id"], task


async def test_the_settling_rating_first_then_the_correction_is_refused(client, service_keys, pool, owner):
    tenant_id, task = await _one_rated_task(client, service_keys, "race-settle-first")
    async with tenant_transaction(pool, tenant_id) as settling:
        state, _ = await ratings.rate(
            settling, task, "r2", RatingInput(1)
        )  # |1 - 1| <= 1: agreed, uncommitted
        assert state.status == "agreed"

        async def correction() -> None:
            async with tenant_transaction(pool, tenant_id) as correcting:
                await _pid.put(correcting.get_server_pid())
                await ratings.correct(correcting, task, "r1", RatingInput(3), '"1"')

        _pid: asyncio.Queue[int] = asyncio.Queue()
        racing = asyncio.create_task(correction())
        await _until_waiting_on_a_lock(owner, await _pid.get())
    with pytest.raises(RatingUsed):  # the correction saw the committed agreement
        await racing
    assert await owner.fetchval("SELECT value FROM ratings WHERE rater = 'r1' AND task_id = $1", task) == 1
    assert await owner.fetchval("SELECT count(*) FROM rating_corrections") == 0
    assert await owner.fetchval("SELECT agreed_value FROM rating_tasks WHERE id = $1", task) == 1.0


async def test_the_correction_first_then_the_second_rating_sees_it(client, service_keys, pool, owner):
    tenant_id, task = await _one_rated_task(client, service_keys, "race-correct-first")
    async with tenant_transaction(pool, tenant_id) as correcting:
        await ratings.correct(correcting, task, "r1", RatingInput(3), '"1"')  # uncommitted, holds the task

        async def second_rating() -> Any:
            async with tenant_transaction(pool, tenant_id) as rating:
                await _pid.put(rating.get_server_pid())
                return await ratings.rate(rating, task, "r2", RatingInput(1))

        _pid: asyncio.Queue[int] = asyncio.Queue()
        racing = asyncio.create_task(second_rating())
        await _until_waiting_on_a_lock(owner, await _pid.get())
    state, settled = await racing
    # Against the corrected 3, the second rating's 1 is beyond the gap: an adjudicator is needed.
    # (Had the rating read r1's value as of its start, it would have agreed 1.0 on a stale 1.)
    assert (state.status, state.ratings, state.ratings_needed, settled) == ("open", 2, 1, None)
    assert await owner.fetchval("SELECT status FROM rating_tasks WHERE id = $1", task) == "open"


async def test_two_first_ratings_racing_both_count(client, service_keys, pool, owner):
    """Two raters giving the first two ratings at once: the second sees the first (and agrees the pair)."""
    tenant = await delivery_tenant(
        client, service_keys, slug="race-two-first", people=1, marking={"double": True, "adjudication_gap": 1}
    )
    await _submitted(client, tenant, 1)
    task = await owner.fetchval("SELECT id FROM rating_tasks WHERE tenant_id = $1", tenant["id"])
    async with tenant_transaction(pool, tenant["id"]) as first:
        assert (await ratings.rate(first, task, "r1", RatingInput(2)))[0].status == "open"

        async def second() -> Any:
            async with tenant_transaction(pool, tenant["id"]) as conn:
                await _pid.put(conn.get_server_pid())
                return await ratings.rate(conn, task, "r2", RatingInput(2))

        _pid: asyncio.Queue[int] = asyncio.Queue()
        racing = asyncio.create_task(second())
        await _until_waiting_on_a_lock(owner, await _pid.get())
    state, settled = await racing
    assert (state.status, state.agreed_value, state.ratings) == ("agreed", 2.0, 2) and settled is not None
    with pytest.raises(Conflict):  # and nobody rates it a third time
        async with tenant_transaction(pool, tenant["id"]) as conn:
            await ratings.rate(conn, task, "r3", RatingInput(0))
