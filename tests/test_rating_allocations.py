"""Tenant admins allocate rating tasks to raters (by rater, org unit subtree or item); the raters'
queues follow the allocations; progress per rater and per item."""

from __future__ import annotations

from tests.delivery_setup import delivery_tenant
from tests.helpers import user
from tests.test_rating_corrections import _rate, _submitted


async def test_allocation_reserves_slots_and_progress_counts_them(client, service_keys):
    tenant = await delivery_tenant(
        client,
        service_keys,
        slug="allocate-region",
        feedback="immediate",
        marking={"double": True, "adjudication_gap": 1},
    )
    admin = tenant["admin"]
    assert (
        await client.post(
            "/v1/org-units", json={"code": "town", "name": "Town", "parent_code": "prov"}, headers=admin
        )
    ).status_code == 201
    moved = await client.put(
        "/v1/people/c3", json={"org_unit_code": "town", "category": "civil_servant"}, headers=admin
    )
    assert moved.status_code == 200, moved.text  # an existing person
    attempts = await _submitted(client, tenant, 3)
    r1, r2, r3, r4 = (
        user(service_keys, tenant["id"], ["rater"], sub=name) for name in ("r1", "r2", "r3", "r4")
    )
    by_response = {
        t["response"]: t["id"] for t in (await client.get("/v1/rating-tasks", headers=r4)).json()["items"]
    }
    c1, c2, c3 = (by_response[f"prompt by {attempt[:4]}"] for attempt in attempts)

    async def allocate(**body):
        response = await client.post(
            "/v1/rating-allocations", json={"assessment": "quiz", **body}, headers=admin
        )
        assert response.status_code == 200, response.text
        return response.json()["allocated"]

    async def queue(who):
        return [t["id"] for t in (await client.get("/v1/rating-tasks", headers=who)).json()["items"]]

    assert (
        await client.post("/v1/rating-allocations", json={"rater": "r1", "assessment": "quiz"}, headers=r1)
    ).status_code == 403  # tenant admins only
    for body, pointer in (({"org_unit": "nowhere"}, "/org_unit"), ({"assessment": "nope"}, "/assessment")):
        refused = await client.post(
            "/v1/rating-allocations", json={"rater": "r1", "assessment": "quiz", **body}, headers=admin
        )
        assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == pointer

    assert await allocate(rater="r1", org_unit="town") == 1  # c3 only: the unit's subtree
    assert await allocate(rater="r2", item="T-OR-1", limit=2) == 2  # the oldest two: c1, c2
    assert await allocate(rater="r2", item="T-SC-1") == 0  # no open response there
    assert await queue(r1) == [c3, c1, c2]  # allocated first; c1 and c2 still have a free slot
    assert await allocate(rater="r3", item="T-OR-1") == 3  # the second slot of each
    assert await allocate(rater="r1") == 0  # every slot reserved; never twice the same rater on a task
    assert await queue(r4) == []  # every remaining slot is someone else's
    reserved = await client.post(f"/v1/rating-tasks/{c2}/ratings", json={"value": 1}, headers=r4)
    assert reserved.status_code == 409  # nor can r4 rate it by its id
    assert await queue(r1) == [c3] and await queue(r2) == [c1, c2] and await queue(r3) == [c1, c2, c3]
    text = str((await client.get("/v1/rating-tasks", headers=r1)).json())
    assert not any(marker in text for marker in ("town", "Town", attempts[2]))  # allocation stays blind

    await _rate(client, r2, c1, 2)
    assert (await _rate(client, r3, c1, 2))["status"] == "agreed"
    progress = await client.get("/v1/assessments/quiz/rating-progress", headers=admin)
    assert progress.status_code == 200, progress.text
    assert progress.json() == {
        "assessment": "quiz",
        "raters": [
            {"rater": "r1", "allocated": 1, "done": 0, "pending": 1},
            {"rater": "r2", "allocated": 2, "done": 1, "pending": 1},
            {"rater": "r3", "allocated": 3, "done": 1, "pending": 2},
        ],
        "items": [
            {"item": "T-OR-1", "tasks": 3, "agreed": 1, "open": 2, "ratings": 2, "allocated_pending": 4}
        ],
    }
    assert (await client.get("/v1/assessments/quiz/rating-progress", headers=r1)).status_code == 403
    assert (await client.get("/v1/assessments/nope/rating-progress", headers=admin)).status_code == 404

    released = await client.delete(
        "/v1/rating-allocations", params={"rater": "r3", "assessment": "quiz"}, headers=admin
    )
    assert released.status_code == 200 and released.json()["released"] == 2  # c2 and c3; c1 is rated
    assert await queue(r4) == [c2, c3]  # their second slots are free again
    after = (await client.get("/v1/assessments/quiz/rating-progress", headers=admin)).json()
    assert after["raters"][2] == {"rater": "r3", "allocated": 1, "done": 1, "pending": 0}
