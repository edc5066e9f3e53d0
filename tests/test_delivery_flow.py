"""A candidate's way through an assessment over HTTP: list, start, save, resume, submit."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import pytest

from service.db.pool import create_pool
from service.delivery import attempts
from service.delivery.sweeper import sweep_once
from service.demo import DEMO_ASSESSMENT, DEMO_CANDIDATE, seed_demo
from service.items.samples import ITEMS_DIR, sample_bank
from tests.delivery_setup import ANSWERS, ITEMS, delivery_tenant, publish_framework
from tests.helpers import make_tenant, user


@pytest.fixture
def tenant(delivery):
    return delivery


async def test_start_save_resume_submit(client, tenant):
    me = tenant["candidates"][0]
    listed = await client.get("/v1/me/assessments", headers=me)
    assert listed.status_code == 200, listed.text
    [quiz] = listed.json()
    assert quiz["code"] == "quiz" and quiz["can_start"] and quiz["attempts_left"] == 1
    assert quiz["item_count"] == len(ITEMS)

    started = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)
    assert started.status_code == 201, started.text
    state = started.json()
    attempt = state["attempt"]["id"]
    assert sorted(item["ref"] for item in state["items"]) == sorted(item["code"] for item in ITEMS)
    assert state["attempt"]["deadline"] is not None and 0 < state["attempt"]["seconds_left"] <= 30 * 60

    again = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)
    assert again.status_code == 200 and again.json()["attempt"]["id"] == attempt
    assert [i["ref"] for i in again.json()["items"]] == [i["ref"] for i in state["items"]]

    for ref, answer in ANSWERS.items():
        saved = await client.put(
            f"/v1/me/attempts/{attempt}/answers/{ref}", json={"revision": 1, "answer": answer}, headers=me
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["applied"] and saved.json()["answer"] == answer

    stale = await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": "a"}},
        headers=me,
    )
    assert stale.status_code == 200 and not stale.json()["applied"]
    assert stale.json()["answer"] == {"choice": "b"}

    resumed = (await client.get(f"/v1/me/attempts/{attempt}", headers=me)).json()
    assert {a["item"]: a["answer"] for a in resumed["answers"]} == ANSWERS
    assert resumed["attempt"]["answered"] == len(ANSWERS)

    submitted = await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted" and submitted.json()["submitted_by"] == "candidate"
    retried = await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
    assert retried.json()["submitted_at"] == submitted.json()["submitted_at"]

    late = await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 2, "answer": {"choice": "a"}},
        headers=me,
    )
    assert late.status_code == 409 and late.json()["type"].endswith("attempt-closed")
    resumed = (await client.get(f"/v1/me/attempts/{attempt}", headers=me)).json()
    assert {a["item"]: a["answer"] for a in resumed["answers"]}["T-SC-1"] == {"choice": "b"}

    no_more = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)
    assert no_more.status_code == 409


async def test_bad_answers_name_the_field(client, tenant):
    me = tenant["candidates"][0]
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()["attempt"][
        "id"
    ]
    wrong_key = await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": "z"}},
        headers=me,
    )
    assert wrong_key.status_code == 422
    assert wrong_key.json()["errors"][0]["pointer"] == "/answer/choice"
    wrong_field = await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-LK-1",
        json={"revision": 1, "answer": {"choice": "a"}},
        headers=me,
    )
    assert wrong_field.status_code == 422 and wrong_field.json()["errors"][0]["pointer"] == "/answer/choice"
    batch = await client.post(
        f"/v1/me/attempts/{attempt}/answers",
        json={
            "answers": [
                {"item": "T-SC-1", "revision": 1, "answer": {"choice": "a"}},
                {"item": "T-ORD-1", "revision": 1, "answer": {"order": ["a", "b"]}},
            ]
        },
        headers=me,
    )
    assert batch.status_code == 422 and batch.json()["errors"][0]["pointer"] == "/answers/1/answer/order"
    resumed = (await client.get(f"/v1/me/attempts/{attempt}", headers=me)).json()
    assert resumed["answers"] == []  # nothing of a refused batch was saved


async def test_attempts_of_one_form_share_one_cached_copy_of_its_answer_rules(client, tenant):
    """A worker caches what validating an answer needs for every running attempt: attempts showing
    the same items (in any order) hold one shared copy, not one copy of every item per attempt."""
    attempts.forget_cached_forms()
    held = []
    for me in tenant["candidates"]:
        attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()[
            "attempt"
        ]["id"]
        saved = await client.put(
            f"/v1/me/attempts/{attempt}/answers/T-SC-1",
            json={"revision": 1, "answer": {"choice": "b"}},
            headers=me,
        )
        assert saved.status_code == 200, saved.text
        held.append(attempts.cached_rules(UUID(attempt)))
    assert len(held) == 3 and all(rules is held[0] for rules in held)
    assert set(held[0]) == {item["code"] for item in ITEMS}


async def test_the_sweeper_submits_abandoned_attempts_at_their_deadline(client, tenant, app_url, owner_url):
    """No client touches the attempt again: the background sweep submits it with what was saved."""
    me = tenant["candidates"][0]
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()["attempt"][
        "id"
    ]
    await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": "c"}},
        headers=me,
    )
    owner = await asyncpg.connect(owner_url)
    pool = await create_pool(app_url, max_size=2)
    try:
        assert await sweep_once(pool) == 0  # not due yet
        await owner.execute(
            "UPDATE attempts SET deadline = now() - interval '10 seconds' WHERE id = $1", UUID(attempt)
        )
        assert await sweep_once(pool) == 0  # within the 30 s grace
        await owner.execute(
            "UPDATE attempts SET deadline = now() - interval '5 minutes' WHERE id = $1", UUID(attempt)
        )
        assert await sweep_once(pool) == 1
        assert await sweep_once(pool) == 0
        row = await owner.fetchrow("SELECT status, submitted_by FROM attempts WHERE id = $1", UUID(attempt))
        assert dict(row) == {"status": "submitted", "submitted_by": "deadline"}
    finally:
        await pool.close()
        await owner.close()
    resumed = (await client.get(f"/v1/me/attempts/{attempt}", headers=me)).json()
    assert resumed["answers"][0]["answer"] == {"choice": "c"}


async def test_the_demo_tenant_has_a_real_assessment_to_take(client, app_url, service_keys):
    """The demo seed adopts the cadre template, imports the sample bank and publishes an assessment
    that the demo candidate can start; seeding twice changes nothing."""
    pool = await create_pool(app_url, max_size=2)
    try:
        tenant_id = await seed_demo(pool)
        assert await seed_demo(pool) == tenant_id
    finally:
        await pool.close()
    me = user(service_keys, tenant_id, ["candidate"], sub=DEMO_CANDIDATE)
    [listed] = (await client.get("/v1/me/assessments", headers=me)).json()
    assert listed["code"] == DEMO_ASSESSMENT
    state = (await client.post(f"/v1/me/assessments/{DEMO_ASSESSMENT}/attempts", json={}, headers=me)).json()
    assert state["sections"] == ["knowledge", "judgement", "self-report", "tasks"]
    types = {item["type"] for item in state["items"]}
    # the knowledge pool draws 10 of its single- and multiple-choice items; the rest is fixed
    assert types - {"multiple_choice"} == {
        "single_choice",
        "situational_judgement",
        "likert",
        "ordering",
        "open_response",
    }
    assert len(state["items"]) == listed["item_count"]


async def test_the_sample_bank_file_imports_through_the_api_as_it_is(client, service_keys):
    """rubrics/items/cadre-ai-literacy/items.json is in the import format: post the file unchanged."""
    admin = (await make_tenant(client, service_keys, "sample-bank"))["admin"]
    await publish_framework(client, admin)
    body = (ITEMS_DIR / "cadre-ai-literacy" / "items.json").read_bytes()
    imported = await client.post(
        "/v1/items/import", content=body, headers={**admin, "Content-Type": "application/json"}
    )
    assert imported.status_code == 200, imported.text
    assert len(imported.json()["created"]) == len(sample_bank("cadre-ai-literacy").items) >= 40
    again = await client.post(
        "/v1/items/import", content=body, headers={**admin, "Content-Type": "application/json"}
    )
    assert again.json()["created"] == [] and len(again.json()["unchanged"]) >= 40


async def test_closing_stops_new_starts_but_running_attempts_go_on(client, tenant):
    first, second = tenant["candidates"][:2]
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=first)).json()[
        "attempt"
    ]["id"]
    closed = await client.post("/v1/assessments/quiz/close", headers=tenant["admin"])
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    refused = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=second)
    assert refused.status_code == 409 and "closed" in refused.json()["detail"]
    assert (await client.get("/v1/me/assessments", headers=second)).json() == []
    [running] = (await client.get("/v1/me/assessments", headers=first)).json()
    assert running["can_start"] and [(a["id"], a["status"]) for a in running["attempts"]] == [
        (attempt, "in_progress")
    ]
    again = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=first)
    assert again.status_code == 200 and again.json()["attempt"]["id"] == attempt
    saved = await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": "a"}},
        headers=first,
    )
    assert saved.status_code == 200 and saved.json()["applied"]


async def test_submitting_scores_the_attempt_and_the_report_follows_the_feedback_policy(client, service_keys):
    """Submit stores a score document in the same transaction; the candidate's report shows the
    profile at once (`immediate`), not before the window closes (`after_window`), or never."""
    tenant = await delivery_tenant(client, service_keys, slug="report-region", feedback="immediate")
    admin, me = tenant["admin"], tenant["candidates"][0]
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()["attempt"][
        "id"
    ]
    before = (await client.get(f"/v1/me/attempts/{attempt}/report", headers=me)).json()
    assert before["available"] is False and before["status"] == "not_submitted" and before["dimensions"] == []
    for ref, answer in ANSWERS.items():
        await client.put(
            f"/v1/me/attempts/{attempt}/answers/{ref}", json={"revision": 1, "answer": answer}, headers=me
        )
    await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
    await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)  # a retry scores nothing twice
    history = (await client.get(f"/v1/assessments/quiz/attempts/{attempt}/scores", headers=admin)).json()
    assert [(s["version"], s["current"], s["scored_by"]) for s in history] == [(1, True, "candidate")]
    document = history[0]["document"]
    assert document["status"] == "provisional" and document["pending"] == ["T-OR-1"]  # the open response
    assert {d["dimension"] for d in document["dimensions"]} == {"AK", "HMC", "ES"}

    report = (await client.get(f"/v1/me/attempts/{attempt}/report", headers=me)).json()
    assert report["available"] and report["status"] == "provisional" and report["pending_ratings"] == 1
    by_dimension = {d["dimension"]: d for d in report["dimensions"]}
    assert (
        by_dimension["HMC"]["scaled"]
        == next(d for d in document["dimensions"] if d["dimension"] == "HMC")["scaled"]
    )
    assert "items" not in report and "key" not in str(report)

    hidden = await delivery_tenant(client, service_keys, slug="never-region", feedback="never")
    other = hidden["candidates"][0]
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=other)).json()[
        "attempt"
    ]["id"]
    await client.post(f"/v1/me/attempts/{attempt}/submit", headers=other)
    report = (await client.get(f"/v1/me/attempts/{attempt}/report", headers=other)).json()
    assert (report["available"], report["feedback_policy"], report["status"]) == (False, "never", "final")
    assert report["overall_scaled"] is None and report["dimensions"] == [] and report["indicators"] == []

    later = await delivery_tenant(
        client,
        service_keys,
        slug="later-region",
        feedback="after_window",
        window={"closes_at": "2099-01-01T00:00:00+08:00"},
    )
    third = later["candidates"][0]
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=third)).json()[
        "attempt"
    ]["id"]
    await client.post(f"/v1/me/attempts/{attempt}/submit", headers=third)
    report = (await client.get(f"/v1/me/attempts/{attempt}/report", headers=third)).json()
    assert not report["available"]
    assert datetime.fromisoformat(report["available_from"]) == datetime(2098, 12, 31, 16, tzinfo=UTC)
    await client.post("/v1/assessments/quiz/close", headers=later["admin"])  # closing ends the window early
    assert (await client.get(f"/v1/me/attempts/{attempt}/report", headers=third)).json()["available"]
