"""An HR system's whole night, end to end over HTTP: a service client gets a token, provisions
people, candidates finish, the system pulls the score feed with its cursor and receives signed
webhooks, pulls again and gets nothing new; a rescoring then brings exactly the changed scores,
by feed and by webhook."""

from __future__ import annotations

import asyncio
import copy

from tests.delivery_setup import (
    ITEMS,
    add_units,
    assessment_body,
    import_items,
    publish_assessment,
    publish_framework,
)
from tests.helpers import make_tenant, user
from tests.test_service_clients import create_client, token_for
from tests.test_webhooks import Receiver, eventually, hook_settings, hooks, register, verified  # noqa: F401

CLOSED = [{"code": item["code"]} for item in ITEMS if item["type"] != "open_response"]


async def _feed(http, headers, cursor):
    rows = []
    while True:
        page = await http.get(
            "/v1/scores", params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert page.status_code == 200, page.text
        body = page.json()
        rows += body["items"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return rows, cursor


async def test_an_hr_system_provisions_pulls_and_is_told(hooks, service_keys):
    http = hooks
    tenant = await make_tenant(http, service_keys, "hr-night")
    admin = tenant["admin"]
    await add_units(http, admin)
    await publish_framework(http, admin)
    await import_items(http, admin)
    await publish_assessment(http, admin, assessment_body(sections=[{"code": "main", "items": CLOSED}]))

    # the HR system's client: provisioning and reading scores, nothing else
    hr = await token_for(http, await create_client(http, admin, ["people:write", "scores:read"]))
    reader = await token_for(http, await create_client(http, admin, ["scores:read"]))
    people = {
        "people": [
            {"external_id": f"e{i}", "org_unit_code": "city", "category": "civil_servant"} for i in range(4)
        ]
    }
    assert (await http.post("/v1/people/bulk", json=people, headers=reader)).status_code == 403
    assert (await http.post("/v1/people/bulk", json=people, headers=hr)).status_code == 200

    async with Receiver() as receiver:
        webhook = await register(http, admin, receiver.url, ["score.finalized", "score.rescored"])
        candidates = [user(service_keys, tenant["id"], ["candidate"], sub=f"e{i}") for i in range(4)]
        attempts = []
        for me, choice in zip(candidates, "bccd", strict=True):
            attempt = (await http.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()[
                "attempt"
            ]["id"]
            await http.put(
                f"/v1/me/attempts/{attempt}/answers/T-SC-1",
                json={"revision": 1, "answer": {"choice": choice}},
                headers=me,
            )
            assert (await http.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
            attempts.append(attempt)

        rows, cursor = await _feed(http, hr, None)
        assert sorted(r["attempt_id"] for r in rows) == sorted(attempts)
        assert {r["person"] for r in rows} == {"e0", "e1", "e2", "e3"} and all(
            r["status"] == "final" for r in rows
        )
        await eventually(lambda: len(receiver.answered()) == 4)
        told = [verified(webhook["secret"], r) for r in receiver.answered()]
        assert sorted(e["data"]["attempt_id"] for e in told) == sorted(attempts)
        assert {e["type"] for e in told} == {"score.finalized"}
        assert (await _feed(http, hr, cursor))[0] == []  # nothing new since

        # T-SC-1 was keyed c; b is right: e0 (b) and e1, e2 (c) change; e3 (d) scores 0 either way
        single = copy.deepcopy(next(item for item in ITEMS if item["code"] == "T-SC-1"))
        single["key"] = {"correct": "b"}
        etag = (await http.get("/v1/items/T-SC-1", headers=admin)).headers["etag"]
        await http.put("/v1/items/T-SC-1", json=single, headers={**admin, "If-Match": etag})
        started = await http.post(
            "/v1/assessments/quiz/rescorings",
            json={"reason": "key corrected", "items": {"T-SC-1": 2}},
            headers=admin,
        )
        url = f"/v1/assessments/quiz/rescorings/{started.json()['id']}"
        for status in ("previewed", "done"):
            for _ in range(200):
                if (await http.get(url, headers=admin)).json()["status"] == status:
                    break
                await asyncio.sleep(0.05)
            if status == "previewed":
                await http.post(f"{url}/commit", headers=admin)
        # every attempt is rescored: e3's score stays 0 but its document now names version 2 of T-SC-1
        rescored_attempts = sorted(attempts)
        rows, cursor = await _feed(http, hr, cursor)
        assert sorted(r["attempt_id"] for r in rows) == rescored_attempts and all(
            r["score_version"] == 2 for r in rows
        )
        await eventually(lambda: len(receiver.answered()) == 8)
        rescored = [verified(webhook["secret"], r) for r in receiver.answered()[4:]]
        assert {e["type"] for e in rescored} == {"score.rescored"}
        assert sorted(e["data"]["attempt_id"] for e in rescored) == rescored_attempts
        assert (await _feed(http, hr, cursor))[0] == []
