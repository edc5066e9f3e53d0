"""Unscored pretest items through the delivery API, on the real database (issue 20): a candidate of an
adaptive section is shown `count` pretest items, never first, indistinguishable from the scored ones;
the score, θ and the scored path are those of the same answers without them; the score document
keeps them apart, the calibration's response data holds them, the console trace marks them
"pretest, unscored"; publishing validates them; a fixed section's item flagged `unscored` works the
same way. The published calibrations are made directly (tests/test_adaptive_delivery.py's way)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
import numpy as np
import pytest

from service.assessments.model import AssessmentContent
from service.auth.keys import ServiceKeys
from service.db.pool import create_pool, tenant_transaction
from service.delivery import adaptive
from service.items.views import Answer
from service.psychometrics.ability import eap_arrays
from service.psychometrics.adaptive import pretest_schedule
from service.psychometrics.model import ItemParameters
from service.psychometrics.response import PackedItems
from service.results import calibrations, scores
from service.results.response_matrix import dimension_credits, response_matrices
from tests import test_adaptive_delivery as cat_setup
from tests.delivery_setup import FRAMEWORK, _l, _options, add_people, add_units, candidates, publish_framework
from tests.helpers import make_tenant, stored_document, stored_json, user
from tests.test_console_marking import console_headers

POOL = cat_setup.POOL
PRETEST = {f"PT-{j}": (1.2, -1.0 + 0.5 * j) for j in range(4)}  # "with parameters, not yet trusted"


def _pretest_item(code: str, indicator: str = "AK.1") -> dict[str, Any]:
    return {
        "type": "single_choice",
        "code": code,
        "framework": FRAMEWORK,
        "stem": _l(f"预测试{code}", f"Pretest {code}"),
        "loadings": [{"indicator": indicator}],
        "options": _options(4),
        "key": {"correct": "c"},
    }


def _parameters(code: str) -> ItemParameters:
    a, b = {**POOL, **PRETEST}[code]
    return ItemParameters(item_id=code, model="2PL", discrimination=a, thresholds=(b,))


async def _published_calibration(owner: asyncpg.Connection, tenant_id: str, assessment: str) -> UUID:
    """A published calibration of `assessment` with parameters for the pool and the pretest items."""
    result = cat_setup._result(list(POOL))
    calibration = msgspec.convert(result, cat_setup.CalibrationResult)
    extra = [
        msgspec.structs.replace(
            calibration.dimensions[0].items[0], item_id=code, parameters=_parameters(code)
        )
        for code in PRETEST
    ]
    dimension = msgspec.structs.replace(
        calibration.dimensions[0], items=calibration.dimensions[0].items + tuple(extra)
    )
    categories = msgspec.structs.replace(
        calibration.categories[0],
        items=calibration.categories[0].items
        + [cat_setup.ItemCategories(code, [0.0, 1.0]) for code in PRETEST],
    )
    full = msgspec.structs.replace(calibration, dimensions=[dimension], categories=[categories])
    assessment_id = await owner.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1 AND code = $2", UUID(tenant_id), assessment
    )
    return await owner.fetchval(
        "INSERT INTO calibrations (tenant_id, assessment_id, requested_by, status, state, result, finished_at, "
        "published_at, published_by) VALUES ($1, $2, 'test', 'done', 'published', $3::jsonb, now(), now(), "
        "'test') RETURNING id",
        UUID(tenant_id),
        assessment_id,
        json.dumps(msgspec.to_builtins(full)),
    )


def _body(calibration: UUID, code: str = "cat", **pretest: Any) -> dict[str, Any]:
    body = cat_setup._body(calibration, min_items=3, max_items=5)
    body["code"] = code
    body["sections"][0]["adaptive"]["pretest"] = {
        "items": [{"code": c} for c in PRETEST],
        "count": 2,
        **pretest,
    }
    return body


async def _publish(client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    created = await client.post("/v1/assessments", json=body, headers=admin)
    assert created.status_code == 201, created.text
    return await client.post(
        f"/v1/assessments/{body['code']}/publish", headers={**admin, "If-Match": created.headers["etag"]}
    )


@pytest.fixture
async def pretest(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
) -> dict[str, Any]:
    """The adaptive tests' tenant set-up (12-item pool, published calibration of 'source') plus four
    pretest items, and 'cat' published with 2 of them seeded; a published calibration of 'cat' in
    force, which gives the pretest items parameters too. Candidates c1 and c2."""
    tenant = await make_tenant(client, service_keys, "pretest-region")
    admin = tenant["admin"]
    await add_units(client, admin)
    await add_people(client, admin, candidates(2))
    await publish_framework(client, admin)
    items = [cat_setup._item(c) for c in POOL] + [_pretest_item(c) for c in PRETEST]
    items.append(  # an open response: rated, so not for pretesting
        {
            "type": "open_response",
            "code": "PT-OPEN",
            "framework": FRAMEWORK,
            "task": "write_prompt",
            "points": 3,
            "stem": _l("写一个提示词", "Write a prompt"),
            "loadings": [{"indicator": "AK.1"}],
            "max_length": 500,
            "key": {
                "rater_notes": _l("看上下文", "Look for context"),
                "exemplars": [_l("示例", "An exemplar")],
            },
        }
    )
    imported = await client.post("/v1/items/import", json={"items": items}, headers=admin)
    assert imported.status_code == 200, imported.text
    source = {
        "code": "source",
        "title": _l("来源", "Source"),
        "framework": {"code": FRAMEWORK, "version": 1},
        "sections": [{"code": "main", "items": [{"code": code} for code in POOL]}],
        "audience": {"org_units": ["prov"]},
    }
    assert (await client.post("/v1/assessments", json=source, headers=admin)).status_code == 201
    tenant["calibration"] = await cat_setup._calibration(
        owner, tenant["id"], state="published", codes=list(POOL)
    )
    published = await _publish(client, admin, _body(tenant["calibration"]))
    assert published.status_code == 200, published.text
    await _published_calibration(owner, tenant["id"], "cat")
    tenant["candidates"] = [user(service_keys, tenant["id"], ["candidate"], sub=f"c{i}") for i in (1, 2)]
    return tenant


def _answer(code: str) -> dict[str, Any]:
    """Right on the easier half (b < 0), wrong on the harder, so θ moves and responses vary."""
    right = {**POOL, **PRETEST}[code][1] < 0
    return {"revision": 1, "answer": {"choice": "c" if right else "a"}}


async def test_a_candidate_sees_k_pretest_items_and_score_and_theta_ignore_them(
    client: httpx.AsyncClient, pretest: dict[str, Any], owner: asyncpg.Connection, app_url: str
):
    me = pretest["candidates"][0]
    state = (await client.post("/v1/me/assessments/cat/attempts", json={}, headers=me)).json()
    attempt = state["attempt"]["id"]
    assert state["attempt"]["item_count"] == 5 + 2  # max_items and the pretest items
    shown = [state["items"][0]["ref"]]
    views = {shown[0]: state["items"][0]}
    while True:
        current = shown[-1]
        result = await client.put(
            f"/v1/me/attempts/{attempt}/answers/{current}", json=_answer(current), headers=me
        )
        assert result.status_code == 200, result.text
        body = result.json()
        assert body["adaptive"]["items_given"] == len(shown)  # pretest items count like any other
        assert body["adaptive"]["max_items"] == 5 + 2  # so does the client's "up to N questions"
        if "next_item" not in body:
            break
        shown.append(body["next_item"]["ref"])
        views[shown[-1]] = body["next_item"]
    seeded = [code for code in shown if code in PRETEST]
    assert len(seeded) == 2 and shown[0] not in PRETEST
    assert len(shown) == 5 + 2 and body["adaptive"]["status"] == "max_items"
    # the same view: the same fields, nothing marks a pretest item
    assert {tuple(sorted(v)) for v in views.values()} == {tuple(sorted(views[shown[0]]))}
    seed = await owner.fetchval("SELECT seed FROM attempts WHERE id = $1", UUID(attempt))
    assert {i: c for i, c in enumerate(shown) if c in PRETEST} == pretest_schedule(
        list(PRETEST), 2, 3, seed * 101
    )

    # the scored path is the one the same answers give without pretest items
    content = msgspec.json.decode(
        await owner.fetchval(
            "SELECT content::text FROM assessments WHERE tenant_id = $1 AND code = 'cat'", UUID(pretest["id"])
        ),
        type=AssessmentContent,
    )
    pool = await create_pool(app_url, max_size=1)
    try:
        async with tenant_transaction(pool, UUID(pretest["id"])) as conn:
            [section] = await adaptive.prepare(conn, None, content)
    finally:
        await pool.close()
    answers = {code: msgspec.convert(_answer(code)["answer"], Answer) for code in shown}
    without = adaptive.replay(msgspec.structs.replace(section, pretest=(), pretest_count=0), seed, answers)
    scored = [code for code in shown if code not in PRETEST]
    assert without.given == scored and without.status == "max_items"

    assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
    document = await stored_document(owner, attempt)
    assert sorted(i.item for i in document.items) == sorted(scored)
    assert sorted(i.item for i in document.pretest) == sorted(seeded)
    assert all(i.explanation.startswith("pretest, unscored") for i in document.pretest)
    assert document.provenance.item_versions.keys() == set(scored)
    # θ from the scored items alone, though the calibration in force has the pretest items' parameters
    assert document.abilities is not None
    [ability] = document.abilities.dimensions
    assert ability.items == len(scored)
    responses = np.array([[float(POOL[code][1] < 0) for code in scored]])
    theta, _ = eap_arrays(responses, PackedItems([_parameters(code) for code in scored]))
    assert ability.theta == pytest.approx(float(theta[0]), abs=1e-5)
    every = np.array([[float({**POOL, **PRETEST}[code][1] < 0) for code in shown]])
    with_pretest, _ = eap_arrays(every, PackedItems([_parameters(code) for code in shown]))
    assert abs(float(with_pretest[0]) - ability.theta) > 1e-3  # the check above would notice them

    # the response data calibration jobs read holds the pretest items
    pool = await create_pool(app_url, max_size=1)
    try:
        async with tenant_transaction(pool, UUID(pretest["id"])) as conn:
            assessment = await conn.fetchval("SELECT id FROM assessments WHERE code = 'cat'")
            batch = await scores.final_current_batch(conn, assessment, None, 100)
    finally:
        await pool.close()
    [matrix] = response_matrices([d for _, d in batch], min_category=1)
    assert set(seeded) <= set(matrix.item_ids) and set(scored) <= set(matrix.item_ids)
    assert not np.isnan(matrix.responses[0]).any()  # every item given has a response (one person)
    credits = dimension_credits(batch[0][1], with_pretest=True)["AK"]
    assert {code: credits[code] for code in seeded} == {code: float(PRETEST[code][1] < 0) for code in seeded}

    # the trace in the console marks them
    admin = await console_headers(client, pretest["id"], ["tenant_admin"], "admin-1")
    page = await client.get(f"/console/assessments/cat/attempts/{attempt}", headers=admin)
    assert page.status_code == 200, page.text
    for code in seeded:
        row_html = page.text.split(f'data-testid="pretest-1-{code}"')[1].split("</tr>")[0]
        assert "pretest, unscored" in row_html
    assert page.text.count("pretest, unscored") >= 2

    # the same answers without the pretest items score the same, θ included
    await owner.execute(
        "DELETE FROM responses WHERE attempt_id = $1 AND item_ref = ANY($2::text[])", UUID(attempt), seeded
    )
    pool = await create_pool(app_url, max_size=1)
    try:
        async with tenant_transaction(pool, UUID(pretest["id"])) as conn:
            again = (await scores.score_documents(conn, [UUID(attempt)]))[UUID(attempt)]
    finally:
        await pool.close()
    assert again.pretest == [] and again.abilities is not None
    assert again == msgspec.structs.replace(document, pretest=[])


async def test_saves_of_pretest_items_follow_the_adaptive_rules(
    client: httpx.AsyncClient, pretest: dict[str, Any]
):
    """A pretest item not shown yet cannot be answered; once moved on, its answer is fixed."""
    me = pretest["candidates"][1]
    state = (await client.post("/v1/me/assessments/cat/attempts", json={}, headers=me)).json()
    attempt = state["attempt"]["id"]
    for code in PRETEST:
        refused = await client.put(
            f"/v1/me/attempts/{attempt}/answers/{code}", json=_answer(code), headers=me
        )
        assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    current = state["items"][0]["ref"]
    while current not in PRETEST:
        current = (
            await client.put(
                f"/v1/me/attempts/{attempt}/answers/{current}", json=_answer(current), headers=me
            )
        ).json()["next_item"]["ref"]
    first = await client.put(
        f"/v1/me/attempts/{attempt}/answers/{current}",
        json={"revision": 1, "answer": {"choice": "b"}},
        headers=me,
    )
    assert first.json()["applied"]
    changed = await client.put(
        f"/v1/me/attempts/{attempt}/answers/{current}",
        json={"revision": 2, "answer": {"choice": "c"}},
        headers=me,
    )
    assert not changed.json()["applied"] and changed.json()["answer"] == {"choice": "b"}
    assert changed.json()["next_item"]["ref"] == first.json()["next_item"]["ref"]


async def test_publishing_validates_the_pretest_items(client: httpx.AsyncClient, pretest: dict[str, Any]):
    admin, calibration = pretest["admin"], pretest["calibration"]
    cases = [
        (_body(calibration, "p-count", count=5), ["/sections/0/adaptive/pretest/count"]),
        (
            _body(calibration, "p-pool", items=[{"code": "AD-3"}, {"code": "PT-0"}]),
            ["/sections/0/adaptive/pretest/items/0/code"],
        ),
        (
            _body(calibration, "p-missing", items=[{"code": "PT-0"}, {"code": "NOPE"}]),
            ["/sections/0/adaptive/pretest/items/1/code"],
        ),
        (
            _body(calibration, "p-open", items=[{"code": "PT-OPEN"}]),
            ["/sections/0/adaptive/pretest/items/0/code"],
        ),
    ]
    flagged = _body(calibration, "p-flag")
    flagged["sections"][0]["adaptive"]["items"][0]["unscored"] = True
    cases.append((flagged, ["/sections/0/adaptive/items/0/unscored"]))
    for body, pointers in cases:
        if body["code"] == "p-open":
            body["sections"][0]["adaptive"]["pretest"]["count"] = 1
        refused = await _publish(client, admin, body)
        assert refused.status_code == 422, (body["code"], refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["pointer"] for e in refused.json()["errors"]] == pointers, body["code"]
    zh = await client.post(
        "/v1/assessments/p-count/publish",
        headers={
            **admin,
            "Accept-Language": "zh-CN",
            "If-Match": (await client.get("/v1/assessments/p-count", headers=admin)).headers["etag"],
        },
    )
    assert zh.status_code == 422 and "预测试" in zh.json()["errors"][0]["detail"]


async def test_a_fixed_sections_unscored_item_is_shown_saved_and_kept_apart(
    client: httpx.AsyncClient, pretest: dict[str, Any], owner: asyncpg.Connection
):
    admin, me = pretest["admin"], pretest["candidates"][0]
    body = {
        "code": "fixed",
        "title": _l("固定", "Fixed"),
        "framework": {"code": FRAMEWORK, "version": 1},
        "sections": [
            {
                "code": "main",
                "items": [{"code": "AD-0"}, {"code": "PT-0", "unscored": True}, {"code": "AD-1"}],
            }
        ],
        "audience": {"org_units": ["prov"]},
    }
    assert (await _publish(client, admin, body)).status_code == 200
    state = (await client.post("/v1/me/assessments/fixed/attempts", json={}, headers=me)).json()
    assert [item["ref"] for item in state["items"]] == ["AD-0", "PT-0", "AD-1"]
    attempt = state["attempt"]["id"]
    for code, choice in (("AD-0", "c"), ("PT-0", "c"), ("AD-1", "a")):
        saved = await client.put(
            f"/v1/me/attempts/{attempt}/answers/{code}",
            json={"revision": 1, "answer": {"choice": choice}},
            headers=me,
        )
        assert saved.status_code == 200, saved.text
    assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
    document = await stored_json(owner, attempt)
    assert [i["item"] for i in document["items"]] == ["AD-0", "AD-1"]
    assert [i["item"] for i in document["pretest"]] == ["PT-0"] and document["overall"]["scaled"] == 50


async def test_a_calibration_of_the_adaptive_assessment_is_anchored_to_the_pinned_calibration(
    pretest: dict[str, Any], app_url: str
):
    """What the calibration job holds fixed: the pool's parameters in the calibration the section
    pins (not the pretest items', though that calibration has some), on its scale."""
    pool = await create_pool(app_url, max_size=1)
    try:
        async with tenant_transaction(pool, UUID(pretest["id"])) as conn:
            cat = await conn.fetchval("SELECT id FROM assessments WHERE code = 'cat'")
            source = await conn.fetchval("SELECT id FROM assessments WHERE code = 'source'")
            anchors = await calibrations._anchors(conn, cat)
            assert await calibrations._anchors(conn, source) == {}
    finally:
        await pool.close()
    assert list(anchors) == ["AK"] and anchors["AK"].calibration == str(pretest["calibration"])
    assert sorted(anchors["AK"].parameters) == sorted(POOL)
    assert anchors["AK"].parameters["AD-3"] == _parameters("AD-3")


async def test_a_rescoring_may_pin_adaptive_and_pretest_items(
    client: httpx.AsyncClient, pretest: dict[str, Any]
):
    """A rescoring's pins name any item a candidate may have answered: an adaptive section's items and its
    pretest items too (they were refused as 'not in this assessment')."""
    admin = pretest["admin"]
    adaptive, seeded = next(iter(POOL)), next(iter(PRETEST))
    started = await client.post(
        "/v1/assessments/cat/rescorings",
        json={"reason": "pins of adaptive and pretest items", "items": {adaptive: 1, seeded: 1}},
        headers=admin,
    )
    assert started.status_code == 202, started.text
    assert started.json()["pins"]["items"] == {adaptive: 1, seeded: 1}
    unknown = await client.post(
        "/v1/assessments/cat/rescorings", json={"reason": "no such item", "items": {"NOPE": 1}}, headers=admin
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/items/NOPE", (
        unknown.text
    )
