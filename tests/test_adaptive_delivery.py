"""Adaptive sections through the delivery API, on the real database: the current item is the same on
every device, a retried save does not advance twice, an answer cannot change after moving on, the
section stops at its maximum length (or target SE), and a deadline auto-submit scores what was
answered. A published calibration is made directly from known 2PL parameters (a calibration run is
tests/test_calibrations.py's subject), so the tests stay fast."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
import pytest

from service.auth.keys import ServiceKeys
from service.db.pool import create_pool, tenant_transaction
from service.delivery import adaptive, attempts
from service.delivery.attempts import SaveAnswer
from service.delivery.sweeper import sweep_once
from service.items.views import Answer
from service.psychometrics.adaptive import CatBank, CatSettings
from service.psychometrics.model import (
    DimensionCalibration,
    ItemCalibration,
    ItemParameters,
    ScaleTransform,
)
from service.results.calibrations import CalibrationResult, DimensionCategories, ItemCategories
from service.tenancy.people import person_for_sign_in
from tests.delivery_setup import FRAMEWORK, _l, _options, add_people, add_units, candidates, publish_framework
from tests.helpers import blocked_on_a_lock, make_tenant, stored_json, user

# True 2PL parameters (a, b) of a 12-item pool on dimension AK, two indicators.
POOL = {f"AD-{j}": (1.0 + 0.1 * (j % 4), -2.2 + 0.4 * j) for j in range(12)}
INDICATOR = {code: ("AK.1" if j % 2 else "AK.3") for j, code in enumerate(POOL)}


def _item(code: str, image: str | None = None) -> dict[str, Any]:
    return {
        "type": "single_choice",
        "code": code,
        "framework": FRAMEWORK,
        "stem": _l(f"自适应{code}", f"Adaptive {code}"),
        "loadings": [{"indicator": INDICATOR[code]}],
        "options": _options(4),
        "key": {"correct": "c"},
        **({"image": image, "image_alt": _l(f"图{code}", f"Figure {code}")} if image else {}),
    }


def _result(codes: list[str]) -> dict[str, Any]:
    items = tuple(
        ItemCalibration(
            item_id=code,
            categories=2,
            responses=300,
            parameters=ItemParameters(
                item_id=code, model="2PL", discrimination=POOL[code][0], thresholds=(POOL[code][1],)
            ),
            infit=1.0,
            outfit=1.0,
            flags=(),
        )
        for code in codes
    )
    dimension = DimensionCalibration(
        dimension="AK",
        persons=300,
        items=items,
        converged=True,
        iterations=10,
        log_likelihood=-1000.0,
        marginal_reliability=0.8,
        theta_grid=(0.0,),
        information=(1.0,),
        scale=ScaleTransform(theta_mean=0.0, theta_sd=1.0),
    )
    categories = DimensionCategories("AK", [ItemCategories(code, [0.0, 1.0]) for code in codes])
    return msgspec.to_builtins(CalibrationResult([dimension], [categories], []))


async def _calibration(owner: asyncpg.Connection, tenant_id: str, *, state: str, codes: list[str]) -> UUID:
    """A finished calibration of the tenant's assessment 'source' (published if `state` says so)."""
    assessment = await owner.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1 AND code = 'source'", UUID(tenant_id)
    )
    return await owner.fetchval(
        "INSERT INTO calibrations (tenant_id, assessment_id, requested_by, status, state, result, finished_at, "
        "published_at, published_by) VALUES ($1, $2, 'test', 'done', $3, $4::jsonb, now(), "
        "CASE WHEN $3 = 'published' THEN now() END, CASE WHEN $3 = 'published' THEN 'test' END) RETURNING id",
        UUID(tenant_id),
        assessment,
        state,
        json.dumps(_result(codes)),
    )


def _body(calibration: UUID, **adaptive_settings: Any) -> dict[str, Any]:
    return {
        "code": "cat",
        "title": _l("自适应测评", "Adaptive quiz"),
        "framework": {"code": FRAMEWORK, "version": 1},
        "sections": [
            {
                "code": "cat",
                "adaptive": {
                    "items": [{"code": code} for code in POOL],
                    "calibration": str(calibration),
                    "dimension": "AK",
                    "min_items": 2,
                    "max_items": 4,
                    "target_se": 0.05,  # unreachable with 4 items: the section stops at max_items
                    "randomesque": 2,
                    "blueprint": {"AK.1": 0.5, "AK.3": 0.5},
                    **adaptive_settings,
                },
            }
        ],
        "audience": {"org_units": ["prov"]},
        "time_limit_minutes": 30,
    }


@pytest.fixture
async def cat(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
) -> dict[str, Any]:
    """A tenant with the 12-item pool, a published calibration of it, and the adaptive assessment
    'cat' published; candidates c1 and c2."""
    return await _cat_tenant(client, service_keys, owner, "adaptive-region")


async def _cat_tenant(
    client: httpx.AsyncClient,
    service_keys: ServiceKeys,
    owner: asyncpg.Connection,
    slug: str,
    images: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`cat`'s tenant; `images`: the pool items' images, by item (uploaded here, ids in tenant["images"])."""
    tenant = await make_tenant(client, service_keys, slug)
    admin = tenant["admin"]
    await add_units(client, admin)
    await add_people(client, admin, candidates(2))
    await publish_framework(client, admin)
    tenant["images"] = {}
    for code, content in (images or {}).items():
        uploaded = await client.post(
            "/v1/images", files={"file": (f"{code}.png", content, "image/png")}, headers=admin
        )
        assert uploaded.status_code == 201, uploaded.text
        tenant["images"][code] = uploaded.json()["id"]
    items = [_item(c, tenant["images"].get(c)) for c in POOL]
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
    tenant["calibration"] = await _calibration(owner, tenant["id"], state="published", codes=list(POOL))
    created = await client.post("/v1/assessments", json=_body(tenant["calibration"]), headers=admin)
    assert created.status_code == 201, created.text
    published = await client.post(
        "/v1/assessments/cat/publish", headers={**admin, "If-Match": created.headers["etag"]}
    )
    assert published.status_code == 200, published.text
    tenant["candidates"] = [user(service_keys, tenant["id"], ["candidate"], sub=f"c{i}") for i in (1, 2)]
    return tenant


def _right(item: str) -> dict[str, Any]:
    return {"revision": 1, "answer": {"choice": "c"}}


async def test_a_candidate_gets_the_images_of_the_items_shown_and_none_of_the_pool_not_yet_shown(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
):
    """The form of an adaptive attempt names the whole pool; what a candidate may fetch is what the
    replayed path has shown (the items administered and the current one), as the state shows it."""
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
    tenant = await _cat_tenant(
        client, service_keys, owner, "adaptive-images", {code: png + code.encode() for code in POOL}
    )
    images, me = tenant["images"], tenant["candidates"][0]
    started = await client.post("/v1/me/assessments/cat/attempts", json={}, headers=me)
    assert started.status_code == 201, started.text
    attempt = started.json()["attempt"]["id"]
    [first] = [item["ref"] for item in started.json()["items"]]

    async def fetchable() -> set[str]:
        got = {code: await client.get(f"/v1/images/{image}", headers=me) for code, image in images.items()}
        assert {r.status_code for r in got.values()} <= {200, 404}
        return {code for code, r in got.items() if r.status_code == 200}

    assert await fetchable() == {first}
    saved = await client.put(f"/v1/me/attempts/{attempt}/answers/{first}", json=_right(first), headers=me)
    second = saved.json()["next_item"]["ref"]
    assert await fetchable() == {first, second}


async def test_resume_on_another_device_shows_the_same_item_and_a_retried_save_does_not_advance_twice(
    client: httpx.AsyncClient, cat: dict[str, Any], owner: asyncpg.Connection
):
    me = cat["candidates"][0]
    started = await client.post("/v1/me/assessments/cat/attempts", json={}, headers=me)
    assert started.status_code == 201, started.text
    state = started.json()
    attempt = state["attempt"]["id"]
    assert state["attempt"]["item_count"] == 4  # at most max_items
    [first] = [item["ref"] for item in state["items"]]
    assert state["adaptive"] == [
        {
            "section": "cat",
            "items_given": 0,
            "current": first,
            "status": "continue",
            "given": [],
            "max_items": 4,
        }
    ]

    # Another device (a fresh worker cache too) resumes on the same item.
    adaptive._banks.clear()
    resumed = (await client.get(f"/v1/me/attempts/{attempt}", headers=me)).json()
    assert [item["ref"] for item in resumed["items"]] == [first]

    # An item of the pool not shown yet cannot be answered.
    unseen = next(code for code in POOL if code != first)
    refused = await client.put(f"/v1/me/attempts/{attempt}/answers/{unseen}", json=_right(unseen), headers=me)
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"

    saved = await client.put(f"/v1/me/attempts/{attempt}/answers/{first}", json=_right(first), headers=me)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    second = body["next_item"]["ref"]
    assert body["applied"] and second != first
    assert body["adaptive"] == {
        "section": "cat",
        "items_given": 1,
        "current": second,
        "status": "continue",
        "given": [first],
        "max_items": 4,
    }

    # The retried save (same revision) changes nothing and names the same next item.
    retried = (
        await client.put(f"/v1/me/attempts/{attempt}/answers/{first}", json=_right(first), headers=me)
    ).json()
    assert not retried["applied"] and retried["next_item"]["ref"] == second
    assert retried["adaptive"]["items_given"] == 1

    # Moving on fixed the first answer: a newer revision is not applied.
    changed = await client.put(
        f"/v1/me/attempts/{attempt}/answers/{first}",
        json={"revision": 2, "answer": {"choice": "a"}},
        headers=me,
    )
    assert changed.status_code == 200, changed.text
    assert not changed.json()["applied"]
    assert changed.json()["answer"] == {"choice": "c"} and changed.json()["revision"] == 1

    elsewhere = (await client.get(f"/v1/me/attempts/{attempt}", headers=me)).json()
    assert [item["ref"] for item in elsewhere["items"]] == [first, second]

    # Answer until the section ends at max_items (4): then no next item.
    current, given = second, [first]
    while current is not None:
        result = (
            await client.put(f"/v1/me/attempts/{attempt}/answers/{current}", json=_right(current), headers=me)
        ).json()
        given.append(current)
        current = result.get("next_item", {}).get("ref")
    assert len(given) == 4 and result["adaptive"]["status"] == "max_items"
    assert result["adaptive"]["given"] == given and result["adaptive"]["current"] is None
    # content balancing: two items of each indicator
    assert sorted(INDICATOR[code] for code in given) == ["AK.1", "AK.1", "AK.3", "AK.3"]

    submitted = await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
    assert submitted.status_code == 200, submitted.text
    document = await stored_json(owner, attempt)
    assert sorted(item["item"] for item in document["items"]) == sorted(given)
    assert document["overall"]["scaled"] == 100


async def test_a_deadline_auto_submit_scores_what_was_answered(
    client: httpx.AsyncClient, cat: dict[str, Any], owner: asyncpg.Connection, app_url: str
):
    me = cat["candidates"][1]
    state = (await client.post("/v1/me/assessments/cat/attempts", json={}, headers=me)).json()
    attempt = state["attempt"]["id"]
    current = state["items"][0]["ref"]
    answered = []
    for answer in ({"choice": "c"}, {"choice": "a"}):
        result = (
            await client.put(
                f"/v1/me/attempts/{attempt}/answers/{current}",
                json={"revision": 1, "answer": answer},
                headers=me,
            )
        ).json()
        answered.append(current)
        current = result["next_item"]["ref"]
    await owner.execute(
        "UPDATE attempts SET deadline = now() - interval '5 minutes' WHERE id = $1", UUID(attempt)
    )
    pool = await create_pool(app_url, max_size=2)
    try:
        assert await sweep_once(pool) == 1
    finally:
        await pool.close()
    row = await owner.fetchrow("SELECT status, submitted_by FROM attempts WHERE id = $1", UUID(attempt))
    assert dict(row) == {"status": "submitted", "submitted_by": "deadline"}
    document = await stored_json(owner, attempt)
    # the two answered items only (one right, one wrong); the unanswered current item is not scored
    assert sorted(item["item"] for item in document["items"]) == sorted(answered)
    assert document["overall"]["scaled"] == 50 and current not in document["omitted"]


async def test_two_saves_of_the_current_item_at_once_the_first_answer_stays(
    client: httpx.AsyncClient, cat: dict[str, Any], app_url: str, owner: asyncpg.Connection
):
    """Forced interleaving: the first save's transaction holds the attempt row; a second save of the
    same item (another answer, a higher revision) waits, then finds the item answered and keeps the
    first answer, so both name the same next item."""
    me = cat["candidates"][0]
    state = (await client.post("/v1/me/assessments/cat/attempts", json={}, headers=me)).json()
    attempt, current = UUID(state["attempt"]["id"]), state["items"][0]["ref"]
    tenant = UUID(cat["id"])
    pool = await create_pool(app_url, min_size=2, max_size=2)
    try:

        async def save(revision: int, choice: str) -> attempts.SaveResult:
            async with tenant_transaction(pool, tenant) as conn:
                person = await person_for_sign_in(conn, "c1")
                data = msgspec.convert({"revision": revision, "answer": {"choice": choice}}, SaveAnswer)
                return await attempts.save(conn, tenant, person, attempt, current, data)

        async with tenant_transaction(pool, tenant) as conn:
            person = await person_for_sign_in(conn, "c1")
            data = msgspec.convert({"revision": 1, "answer": {"choice": "c"}}, SaveAnswer)
            first = await attempts.save(conn, tenant, person, attempt, current, data)
            racing = asyncio.create_task(save(2, "a"))
            assert await blocked_on_a_lock(owner, racing)  # waiting for the first save's row lock
        second = await racing
    finally:
        await pool.close()
    assert first.applied and not second.applied
    assert msgspec.to_builtins(second.answer) == {"choice": "c"} and second.revision == 1
    assert first.next_item is not None and second.next_item is not None
    assert first.next_item.ref == second.next_item.ref
    assert second.adaptive is not None and second.adaptive.items_given == 1


async def test_a_worker_holding_the_rules_saves_adaptive_items_in_a_transaction_only(
    client: httpx.AsyncClient, cat: dict[str, Any], app_url: str
):
    """The one-round-trip save (`save_at_once`, migration 0023) is for fixed forms: with an
    attempt's rules held, a save of an adaptive item still goes the transaction's way (row lock,
    first answer kept, next item), so a newer revision through it changes nothing."""
    me = cat["candidates"][0]
    state = (await client.post("/v1/me/assessments/cat/attempts", json={}, headers=me)).json()
    attempt, current = UUID(state["attempt"]["id"]), state["items"][0]["ref"]
    url = f"/v1/me/attempts/{attempt}/answers/{current}"
    assert (await client.put(url, json=_right(current), headers=me)).status_code == 200
    assert attempts.cached_rules(attempt) is not None  # the rules are held now

    pool = await create_pool(app_url, max_size=1)
    try:
        at_once = await attempts.save_at_once(
            pool, UUID(cat["id"]), "c1", attempt, current, SaveAnswer(2, Answer(choice="a"))
        )
    finally:
        await pool.close()
    assert at_once is None  # nothing written: `save` in a tenant transaction answers it
    later = (await client.put(url, json={"revision": 2, "answer": {"choice": "a"}}, headers=me)).json()
    assert not later["applied"] and later["answer"] == {"choice": "c"} and later["revision"] == 1
    assert later["next_item"]["ref"] != current


async def test_publishing_needs_a_published_calibration_that_covers_the_pool(
    client: httpx.AsyncClient, cat: dict[str, Any], owner: asyncpg.Connection
):
    admin = cat["admin"]
    draft = await _calibration(owner, cat["id"], state="draft", codes=list(POOL))
    partial = await _calibration(owner, cat["id"], state="published", codes=list(POOL)[:10])
    for calibration, pointers in (
        (draft, ["/sections/0/adaptive/calibration"]),
        (partial, ["/sections/0/adaptive/items/10/code", "/sections/0/adaptive/items/11/code"]),
        (UUID(int=7), ["/sections/0/adaptive/calibration"]),
    ):
        body = _body(calibration) | {"code": f"cat-{str(calibration)[:4]}"}
        created = await client.post("/v1/assessments", json=body, headers=admin)
        assert created.status_code == 201, created.text
        refused = await client.post(
            f"/v1/assessments/{body['code']}/publish", headers={**admin, "If-Match": created.headers["etag"]}
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["pointer"] for e in refused.json()["errors"]] == pointers
    body = _body(cat["calibration"], min_items=5, max_items=13) | {"code": "cat-lengths"}
    created = await client.post("/v1/assessments", json=body, headers=admin)
    refused = await client.post(
        "/v1/assessments/cat-lengths/publish", headers={**admin, "If-Match": created.headers["etag"]}
    )
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/sections/0/adaptive/max_items"]


def _prepared(**settings: Any) -> adaptive.Prepared:
    items = [
        ItemParameters(item_id=code, model="2PL", discrimination=2.5, thresholds=(b,))
        for code, (_, b) in POOL.items()
    ]
    return adaptive.Prepared(
        code="cat",
        position=0,
        bank=CatBank(items, INDICATOR),
        blueprint={},
        settings=CatSettings(**settings),
        floors=dict.fromkeys(POOL, (0.0, 1.0)),
        items={},
    )


def test_the_path_stops_at_the_target_se_or_the_maximum_length(monkeypatch: pytest.MonkeyPatch):
    """Pure: replays with every shown item answered (category 1 for items below θ = 0.3, else 0)."""
    monkeypatch.setattr(adaptive, "category", lambda section, code, answer: int(POOL[code][1] < 0.3))
    answer = msgspec.convert({"choice": "c"}, Answer)

    def walk(section: adaptive.Prepared) -> adaptive.Path:
        answers: dict[str, Answer] = {}
        while (path := adaptive.replay(section, 42, answers)).current is not None:
            answers[path.current] = answer
        return path

    by_se = walk(_prepared(min_items=2, max_items=12, target_se=0.6, randomesque=1))
    assert by_se.status == "target_se" and 2 <= len(by_se.given) < 12
    by_length = walk(_prepared(min_items=2, max_items=3, target_se=0.01, randomesque=1))
    assert by_length.status == "max_items" and len(by_length.given) == 3
    # continuing a path replayed from fewer answers gives the full replay's path
    section = _prepared(min_items=2, max_items=12, target_se=0.6, randomesque=2)
    answers: dict[str, Answer] = {}
    earlier = adaptive.replay(section, 42, answers)
    while earlier.current is not None:
        answers[earlier.current] = answer
        continued = adaptive.replay(section, 42, answers, earlier)
        assert continued == adaptive.replay(section, 42, answers)
        earlier = continued
    # the same inputs give the same path
    assert walk(_prepared(min_items=2, max_items=12, target_se=0.6, randomesque=1)) == by_se
    assert math.isfinite(len(by_se.given))
