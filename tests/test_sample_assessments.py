"""The ready-made assessments in rubrics/assessments/: a new region posts each file unchanged after
importing the bank, and publishes a 40-minute form; the demo's teacher sits the demo teacher
assessment end to end (start, answer every item, submit, report)."""

from __future__ import annotations

from collections import Counter

import pytest

from service.db.pool import create_pool
from service.demo import DEMO_TEACHER, DEMO_TEACHER_ASSESSMENT, seed_demo
from service.items.samples import ASSESSMENTS_DIR, ITEMS_DIR, sample_assessment, sample_bank
from tests.helpers import make_tenant, user

JSON = {"Content-Type": "application/json"}


def test_every_shipped_bank_has_a_ready_made_assessment():
    banks = {path.parent.name for path in ITEMS_DIR.glob("*/items.json")}
    assert {path.stem for path in ASSESSMENTS_DIR.glob("*.json")} == banks
    for framework in banks:
        form = sample_assessment(framework)
        assert form.framework.code == framework and form.time_limit_minutes == 40
        codes = {item.code for item in sample_bank(framework).items}
        referenced = [
            ref.code
            for section in form.sections
            for ref in (section.items or (section.pool.items if section.pool else []))
        ]
        assert set(referenced) == codes and len(referenced) == len(codes), "every bank item, once"
        assert all(section.pool.balance_by_indicator for section in form.sections if section.pool)


@pytest.mark.parametrize("framework", ["teacher-digital-literacy", "cadre-ai-literacy"])
async def test_a_new_region_imports_and_publishes_the_ready_made_assessment(client, service_keys, framework):
    admin = (await make_tenant(client, service_keys, f"ready-{framework[:7]}"))["admin"]
    assert (
        await client.post("/v1/frameworks", json={"template": framework}, headers=admin)
    ).status_code == 201
    etag = (await client.get(f"/v1/frameworks/{framework}/versions/1", headers=admin)).headers["etag"]
    published = await client.post(
        f"/v1/frameworks/{framework}/versions/1/publish", headers={**admin, "If-Match": etag}
    )
    assert published.status_code == 200, published.text
    imported = await client.post(
        "/v1/items/import",
        content=(ITEMS_DIR / framework / "items.json").read_bytes(),
        headers={**admin, **JSON},
    )
    assert imported.status_code == 200, imported.text
    created = await client.post(
        "/v1/assessments",
        content=(ASSESSMENTS_DIR / f"{framework}.json").read_bytes(),
        headers={**admin, **JSON},
    )
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    done = await client.post(
        f"/v1/assessments/{code}/publish", headers={**admin, "If-Match": created.headers["etag"]}
    )
    assert done.status_code == 200, done.text
    form = (await client.get(f"/v1/assessments/{code}/preview?seed=7", headers=admin)).json()
    kinds = Counter(item["view"]["type"] for item in form["items"])
    assert kinds["situational_judgement"] == 12 and kinds["open_response"] == 1 and kinds["ordering"] == 1, (
        kinds
    )
    assert kinds["single_choice"] + kinds["multiple_choice"] == 10, kinds


def answer_for(item: dict) -> dict:
    keys = [option["key"] for option in item.get("options", [])]
    kind = item["type"]
    if kind == "single_choice":
        return {"choice": keys[0]}
    if kind == "multiple_choice":
        return {"choices": keys[:2]}
    if kind == "situational_judgement":
        if item["format"] == "most_least":
            return {"most": keys[0], "least": keys[-1]}
        if item["format"] == "rate":
            return {"ratings": dict.fromkeys(keys, 3)}
        return {"choice": keys[1]}
    if kind == "likert":
        return {"value": 4}
    if kind == "ordering":
        return {"order": keys}
    return {"text": "先说明学情和目标，再让模型标出需要核实的内容。"}


async def test_the_demo_teacher_sits_the_teacher_assessment_end_to_end(client, app_url, service_keys):
    pool = await create_pool(app_url, max_size=2)
    try:
        tenant_id = await seed_demo(pool)
        assert await seed_demo(pool) == tenant_id
    finally:
        await pool.close()
    me = user(service_keys, tenant_id, ["candidate"], sub=DEMO_TEACHER)
    listed = {entry["code"] for entry in (await client.get("/v1/me/assessments", headers=me)).json()}
    assert DEMO_TEACHER_ASSESSMENT in listed
    state = (
        await client.post(f"/v1/me/assessments/{DEMO_TEACHER_ASSESSMENT}/attempts", json={}, headers=me)
    ).json()
    attempt = state["attempt"]["id"]
    assert state["sections"] == ["knowledge", "judgement", "self-report", "ordering", "task"]
    for item in state["items"]:
        saved = await client.put(
            f"/v1/me/attempts/{attempt}/answers/{item['ref']}",
            json={"revision": 1, "answer": answer_for(item)},
            headers=me,
        )
        assert saved.status_code == 200, saved.text
    submitted = await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
    assert submitted.status_code == 200, submitted.text
    report = (await client.get(f"/v1/me/attempts/{attempt}/report", headers=me)).json()
    assert (
        report["available"] is True and report["status"] == "provisional" and report["pending_ratings"] == 1
    )
    assert {"1", "2", "3", "4", "5"} <= {dimension["dimension"] for dimension in report["dimensions"]}
