"""Rating open responses over HTTP: double marking, adjudication, agreement, final scores."""

from __future__ import annotations

from fractions import Fraction

import pytest

from service.scoring.agreement import quadratic_weighted_kappa, ratings_needed, resolve
from tests.delivery_setup import delivery_tenant
from tests.helpers import user


def test_resolution_rules():
    assert resolve([2], double=False, gap=1) == 2.0
    assert resolve([2], double=True, gap=1) is None and ratings_needed([2], double=True, gap=1) == 1
    assert resolve([1, 2], double=True, gap=1) == 1.5
    assert resolve([1, 3], double=True, gap=1) is None and ratings_needed([1, 3], double=True, gap=1) == 1
    assert resolve([1, 3, 3], double=True, gap=1) == 3.0
    assert resolve([0, 3], double=True, gap=3) == 1.5
    assert ratings_needed([], double=True, gap=1) == 2 and ratings_needed([], double=False, gap=1) == 1


def test_kappa_against_hand_computed_values():
    # pairs (2,2), (1,3), (0,1) on 4 categories: observed disagreement (0 + 4/9 + 1/9) / 3 = 5/27;
    # expected: marginals 1/3 each on {0,1,2} and {1,2,3}, sum of (i-j)^2 = 21, so 21 / 81 = 7/27;
    # kappa = 1 - 5/7 = 2/7
    assert quadratic_weighted_kappa([(2, 2), (1, 3), (0, 1)], 4) == pytest.approx(float(Fraction(2, 7)))
    assert quadratic_weighted_kappa([(0, 0), (1, 1), (3, 3)], 4) == pytest.approx(1.0)
    assert quadratic_weighted_kappa([(1, 1), (1, 1)], 4) is None  # no variance: undefined
    assert quadratic_weighted_kappa([(0, 3), (3, 0)], 4) == pytest.approx(-1.0)


async def test_double_marking_with_adjudication_ends_final(client, service_keys):
    tenant = await delivery_tenant(
        client,
        service_keys,
        slug="rating-region",
        feedback="immediate",
        marking={"double": True, "adjudication_gap": 1},
    )
    r1, r2, r3 = (user(service_keys, tenant["id"], ["rater"], sub=name) for name in ("r1", "r2", "r3"))
    attempts = []
    for me in tenant["candidates"]:
        attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()[
            "attempt"
        ]["id"]
        await client.put(
            f"/v1/me/attempts/{attempt}/answers/T-OR-1",
            json={"revision": 1, "answer": {"text": f"prompt by {attempt[:4]}"}},
            headers=me,
        )
        await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
        attempts.append(attempt)

    queue = (await client.get("/v1/rating-tasks", headers=r1)).json()["items"]
    assert len(queue) == 3 and all(task["ratings_needed"] == 2 for task in queue)
    text = str(queue)
    assert not any(attempt in text for attempt in attempts)  # raters never see whose response it is
    assert not {"attempt", "attempt_id", "person", "external_id", "candidate"} & {
        k for task in queue for k in task
    }
    assert [p["value"] for p in queue[0]["scale"]] == [0, 1, 2, 3] and queue[0]["indicators"][0][
        "descriptors"
    ]
    by_response = {task["response"]: task["id"] for task in queue}
    tasks = [by_response[f"prompt by {attempt[:4]}"] for attempt in attempts]

    async def rate(who, task, value):
        response = await client.post(f"/v1/rating-tasks/{task}/ratings", json={"value": value}, headers=who)
        assert response.status_code == 200, response.text
        return response.json()

    for task, (first, second) in zip(tasks, [(2, 2), (1, 3), (0, 1)], strict=True):
        await rate(r1, task, first)
        state = await rate(r2, task, second)
    assert (
        await client.post(f"/v1/rating-tasks/{tasks[0]}/ratings", json={"value": 1}, headers=r1)
    ).status_code == 409  # one rating per rater
    assert state == {
        "id": tasks[2],
        "status": "agreed",
        "ratings": 2,
        "ratings_needed": 0,
        "agreed_value": 0.5,
    }
    assert [t["id"] for t in (await client.get("/v1/rating-tasks", headers=r3)).json()["items"]] == [tasks[1]]

    me = tenant["candidates"][1]
    waiting = (await client.get(f"/v1/me/attempts/{attempts[1]}/report", headers=me)).json()
    assert waiting["status"] == "provisional" and waiting["pending_ratings"] == 1
    adjudicated = await rate(r3, tasks[1], 3)
    assert adjudicated["status"] == "agreed" and adjudicated["agreed_value"] == 3
    final = (await client.get(f"/v1/me/attempts/{attempts[1]}/report", headers=me)).json()
    assert final["status"] == "final" and final["pending_ratings"] == 0

    history = (
        await client.get(f"/v1/assessments/quiz/attempts/{attempts[1]}/scores", headers=tenant["admin"])
    ).json()
    assert [(s["version"], s["status"], s["current"]) for s in history] == [
        (2, "final", True),
        (1, "provisional", False),
    ]
    item = next(i for i in history[0]["document"]["items"] if i["item"] == "T-OR-1")
    assert item["earned"] == pytest.approx(3.0) and item["possible"] == 3.0  # agreed 3 of 3 x 3 points
    assert len(history[0]["document"]["provenance"]["rating_ids"]) == 3

    report = (await client.get("/v1/assessments/quiz/rater-agreement", headers=tenant["admin"])).json()
    assert report["scale_points"] == 4
    assert report["overall"] == {
        "pairs": 3,
        "exact": pytest.approx(1 / 3),
        "adjacent": pytest.approx(2 / 3),
        "quadratic_weighted_kappa": pytest.approx(2 / 7),
    }
    assert [row["key"] for row in report["by_rater"]] == ["r1", "r2"]
    assert report["by_item"][0]["key"] == "T-OR-1"

    too_high = await client.post(f"/v1/rating-tasks/{tasks[0]}/ratings", json={"value": 4}, headers=r3)
    assert too_high.status_code == 422, too_high.text
