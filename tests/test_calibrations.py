"""Calibration jobs over the real database: 300 simulated candidates through the delivery API, the
job to done, parameters and flags, review and publication (once, then immutable), roles."""

from __future__ import annotations

import asyncio
import copy
import math
import random
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
import numpy as np
import pytest

from service.api.app import _connect
from service.auth.keys import ServiceKeys
from service.config import Settings
from service.db.pool import create_pool, operator_transaction, tenant_transaction
from service.errors import Conflict
from service.jobs.runner import JobRunner
from service.results import calibrations
from service.results.calibrations import Calibration
from tests.delivery_setup import FRAMEWORK, ITEMS, _l, _options, publish_assessment, publish_framework
from tests.harness import snapshot
from tests.helpers import blocked_on_a_lock, make_tenant, user

PEOPLE = 300
SEED = 20261206


def _single(code: str, indicator: str) -> dict[str, Any]:
    return {
        "type": "single_choice",
        "code": code,
        "framework": FRAMEWORK,
        "stem": _l(f"单选{code}", f"Single {code}"),
        "loadings": [{"indicator": indicator}],
        "options": _options(4),
        "key": {"correct": "c"},
    }


# True 2PL parameters of the simulated single-choice items: (a, b).
SINGLE = {
    **{f"K-SC-{j}": (0.8 + 0.15 * j, -1.6 + 0.45 * j) for j in range(1, 9)},  # AK
    **{f"H-SC-{j}": (1.2, -1.0 + 0.6 * j) for j in range(1, 5)},  # HMC
    **{f"E-SC-{j}": (1.0, -1.2 + 0.6 * j) for j in range(1, 5)},  # ES
    **{f"P-SC-{j}": (1.0, 0.0) for j in range(1, 5)},  # AK, a pool: one of four per attempt
}
INDICATOR = {"K": "AK.1", "H": "HMC.1", "E": "ES.1", "P": "AK.3"}
TYPED = ("T-MC-1", "T-SJT-BEST", "T-LK-1", "T-ORD-1")
FIXED = [code for code in SINGLE if not code.startswith("P-")] + list(TYPED)


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _answers(rng: random.Random, theta: float, form: list[str]) -> dict[str, dict[str, Any]]:
    """A simulee of ability θ answers every item of its form (a graded, monotone response process for each)."""
    answers: dict[str, dict[str, Any]] = {}
    for code in form:
        if code in SINGLE:
            a, b = SINGLE[code]
            right = rng.random() < _logistic(a * (theta - b))
            answers[code] = {"choice": "c" if right else rng.choice("abd")}
        elif code == "T-MC-1":  # key a, d of a-e, per-option credit: each option judged right with P(θ)
            chosen = []
            for key, beta in zip("abcde", (-1.0, -0.5, 0.0, 0.5, 1.0), strict=True):
                judged = rng.random() < _logistic(1.3 * (theta - beta))
                if judged == (key in "ad"):
                    chosen += [key] if key in "ad" else []
                elif key not in "ad":
                    chosen.append(key)
            if chosen:
                answers[code] = {"choices": chosen}
        elif code == "T-LK-1":  # reverse keyed: agreeing (5) earns 0
            answers[code] = {"value": min(5, max(1, round(3 - 1.3 * theta + rng.gauss(0, 0.7))))}
        elif code == "T-ORD-1":  # key b, d, a, c: the abler, the fewer swaps
            noise = math.exp(-theta)
            answers[code] = {
                "order": sorted("bdac", key=lambda k, n=noise: "bdac".index(k) + rng.gauss(0, n))
            }
        elif code == "T-SJT-BEST":
            z = theta + rng.gauss(0, 0.5)
            answers[code] = {"choice": "d" if z > 0.7 else "a" if z > 0 else "b" if z > -0.7 else "c"}
    return answers


async def _calibration_tenant(client: httpx.AsyncClient, keys: ServiceKeys) -> dict[str, Any]:
    tenant = await make_tenant(client, keys, "calibration-region")
    admin = tenant["admin"]
    for unit in (
        {"code": "prov", "name": "Province"},
        {"code": "city", "name": "City", "parent_code": "prov"},
    ):
        assert (await client.post("/v1/org-units", json=unit, headers=admin)).status_code == 201
    rows = [
        {"external_id": f"c{i}", "org_unit_code": "city", "category": "civil_servant"} for i in range(PEOPLE)
    ]
    assert (await client.post("/v1/people/bulk", json={"people": rows}, headers=admin)).status_code == 200
    await publish_framework(client, admin)
    items = [_single(code, INDICATOR[code[0]]) for code in SINGLE]
    items += [copy.deepcopy(item) for item in ITEMS if item["code"] in TYPED]
    imported = await client.post("/v1/items/import", json={"items": items}, headers=admin)
    assert imported.status_code == 200, imported.text
    sections = [
        {"code": "main", "items": [{"code": code} for code in FIXED]},
        {"code": "pool", "pool": {"items": [{"code": f"P-SC-{j}"} for j in range(1, 5)], "draw": 1}},
    ]
    for code, body_sections in (("irt", sections), ("empty", sections[:1])):
        body = {
            "code": code,
            "title": _l("测评", "Quiz"),
            "framework": {"code": FRAMEWORK, "version": 1},
            "sections": body_sections,
            "audience": {"org_units": ["prov"]},
            "time_limit_minutes": 30,
        }
        await publish_assessment(client, admin, body)
    tenant["author"] = user(keys, tenant["id"], ["author"], sub="author-1")
    tenant["analyst"] = user(keys, tenant["id"], ["analyst"], sub="analyst-1")
    tenant["candidate"] = user(keys, tenant["id"], ["candidate"], sub="c0")
    return tenant


async def _simulate(client: httpx.AsyncClient, keys: ServiceKeys, tenant_id: str) -> None:
    rng = random.Random(SEED)
    thetas = [rng.gauss(0, 1) for _ in range(PEOPLE)]
    seeds = [rng.randrange(2**32) for _ in range(PEOPLE)]
    gate = asyncio.Semaphore(4)

    async def take(i: int) -> None:
        me = user(keys, tenant_id, ["candidate"], sub=f"c{i}")
        async with gate:
            started = await client.post("/v1/me/assessments/irt/attempts", json={}, headers=me)
            assert started.status_code == 201, started.text
            state = started.json()
            form = [item["ref"] for item in state["items"]]
            answers = _answers(random.Random(seeds[i]), thetas[i], form)
            attempt = state["attempt"]["id"]
            saved = await client.post(
                f"/v1/me/attempts/{attempt}/answers",
                headers=me,
                json={"answers": [{"item": k, "revision": 1, "answer": v} for k, v in answers.items()]},
            )
            assert saved.status_code == 200, saved.text
            submitted = await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
            assert submitted.status_code == 200, submitted.text

    await asyncio.gather(*(take(i) for i in range(PEOPLE)))


@pytest.fixture
@snapshot
async def simulated(client: httpx.AsyncClient, service_keys: ServiceKeys) -> dict[str, Any]:
    """The calibration tenant after its PEOPLE simulated submissions (`_calibration_tenant`, then
    `_simulate`): a template database built once per worker (tests/harness.py), which this file and
    tests/test_abilities_flow.py start from; `./dev test` runs both files on one worker (SAME_WORKER in
    tests/conftest.py)."""
    tenant = await _calibration_tenant(client, service_keys)
    await _simulate(client, service_keys, tenant["id"])
    return tenant


async def _finished(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(600):
        run = (await client.get(url, headers=headers)).json()
        if run["status"] != "running":
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"still running: {run}")


async def test_calibration_job_review_and_publication(
    client: httpx.AsyncClient,
    service_keys: ServiceKeys,
    owner: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    simulated: dict[str, Any],
):
    monkeypatch.setattr(calibrations, "BATCH", 64)  # the job reads the 300 documents in 5 batches
    tenant = simulated
    admin, author, candidate = tenant["admin"], tenant["author"], tenant["candidate"]

    # Only a tenant admin starts one; an author or a candidate cannot.
    for who in (author, candidate):
        assert (await client.post("/v1/assessments/irt/calibrations", headers=who)).status_code == 403
    started = await client.post("/v1/assessments/irt/calibrations", headers=admin)
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "draft" and started.json()["total"] == PEOPLE
    url = f"/v1/assessments/irt/calibrations/{started.json()['id']}"
    run = await _finished(client, url, tenant["analyst"])  # analysts read results
    assert run["status"] == "done", run["error"]
    assert (
        run["processed"] == run["total"] == PEOPLE and run["state"] == "draft" and run["published_at"] is None
    )
    result = run["result"]
    dimensions = {d["dimension"]: d for d in result["dimensions"]}
    assert set(dimensions) == {"AK", "HMC", "ES"} and result["skipped"] == []
    floors = {(c["dimension"], i["item_id"]): i["floors"] for c in result["categories"] for i in c["items"]}

    for dimension in dimensions.values():
        assert dimension["persons"] == PEOPLE and dimension["converged"]
        assert 0.3 < dimension["marginal_reliability"] < 1
        assert len(dimension["information"]) == len(dimension["theta_grid"]) == 33
        assert all(i > 0 for i in dimension["information"])
        assert dimension["scale"]["scale_mean"] == 500 and dimension["scale"]["scale_sd"] == 100
        for item in dimension["items"]:
            code, parameters = item["item_id"], item["parameters"]
            item_floors = floors[(dimension["dimension"], code)]
            assert item_floors == sorted(item_floors) and len(item_floors) == item["categories"]
            if code.startswith("P-"):  # a pool of four, one drawn per attempt: about 75 responses each
                assert 30 < item["responses"] < 200 and "few_responses" in item["flags"]
            else:
                assert item["responses"] == PEOPLE and "few_responses" not in item["flags"]
            # every item with responses in two or more categories has parameters, standard errors and fit
            assert parameters is not None, item
            assert parameters["se_discrimination"] is not None, item
            if "extreme_threshold" not in item["flags"]:  # a threshold at the estimator's bound has no SE
                assert all(se is not None for se in parameters["se_thresholds"]), item
            assert item["infit"] > 0 and item["outfit"] > 0
            if code in SINGLE:
                assert (item["categories"], parameters["model"]) == (2, "2PL")
                # (a pool item's ~75 responses, drawn at random per attempt, make too loose a bound)
                assert code.startswith("P-") or parameters["discrimination"] > 0.3, item
            else:
                assert item["categories"] > 2 and parameters["model"] == "GRM", item
                assert parameters["thresholds"] == sorted(parameters["thresholds"])
    # the simulated difficulties come back in order (300 persons: rank correlation, not equality)
    ak = {i["item_id"]: i["parameters"]["thresholds"][0] for i in dimensions["AK"]["items"]}
    truth = [SINGLE[f"K-SC-{j}"][1] for j in range(1, 9)]
    estimated = [ak[f"K-SC-{j}"] for j in range(1, 9)]
    assert np.corrcoef(np.argsort(np.argsort(truth)), np.argsort(np.argsort(estimated)))[0, 1] > 0.8
    # the reverse-keyed Likert item is calibrated on its credit: positively discriminating
    hmc = {i["item_id"]: i for i in dimensions["HMC"]["items"]}
    assert hmc["T-LK-1"]["categories"] == 5 and hmc["T-LK-1"]["parameters"]["discrimination"] > 0.5
    # the situational-judgement item loads on HMC.3 and ES.1: a column of both dimensions
    assert "T-SJT-BEST" in hmc and "T-SJT-BEST" in {i["item_id"] for i in dimensions["ES"]["items"]}

    # The list: newest first, without results.
    listed = await client.get("/v1/assessments/irt/calibrations", headers=admin)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["items"]] == [run["id"]] and "result" not in listed.json()[
        "items"
    ][0]
    assert listed.json()["next_cursor"] is None

    # Publication: only a tenant admin; once.
    publish = f"{url}/publish"
    for who in (author, candidate, tenant["analyst"]):
        assert (await client.post(publish, headers=who)).status_code == 403
    published = await client.post(publish, headers=admin)
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["state"] == "published" and body["published_by"] == "someone" and body["published_at"]
    assert body["result"] == result
    again = await client.post(publish, headers=admin)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    assert "already published" in again.json()["detail"]
    zh = await client.post(publish, headers={**admin, "Accept-Language": "zh-CN"})
    assert zh.status_code == 409 and "已发布" in zh.json()["detail"]

    # A published calibration cannot change, whoever writes (the database refuses it).
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):
        await owner.execute(
            "UPDATE calibrations SET result = '{}'::jsonb WHERE id = $1", started.json()["id"]
        )
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):
        await owner.execute(
            "UPDATE calibrations SET state = 'draft', published_at = NULL, published_by = NULL WHERE id = $1",
            started.json()["id"],
        )
    assert (await client.get(url, headers=admin)).json() == body

    # Another run, handed back by a worker shutting down (after a dead worker's progress, say), is taken
    # over and recomputed from the start: progress counts every document once, and the same data give
    # the same result.
    runtime_pool = await _connect(settings)
    try:
        async with tenant_transaction(runtime_pool, UUID(tenant["id"])) as conn:
            again_run = await calibrations.start(conn, "irt", "tester")
        paused = msgspec.structs.replace(settings, test_job_pause_seconds=3600.0, job_poll_seconds=0.0)
        leaving = JobRunner(runtime_pool, paused, owner="leaving-worker")
        launched = asyncio.create_task(leaving.launch(UUID(tenant["id"]), again_run.id))
        # Running in the worker, not only claimed: the claim's commit is seen before `launch` starts the
        # job's task, and a close() in between handed nothing back while the job went on to pause for
        # an hour (the test hung once, 2026-12-07; JobRunner.launch does not check _closing after its claim).
        while again_run.id not in leaving.running:
            await asyncio.sleep(0.01)
        assert await owner.fetchval("SELECT state FROM jobs WHERE id = $1", again_run.id) == "running"
        await leaving.close()
        await launched
        await owner.execute("UPDATE calibrations SET processed = 123 WHERE id = $1", again_run.id)
        other = JobRunner(runtime_pool, settings, owner="other-worker")
        assert await other.poll_once() == 1
        while other.running or other._spawned:
            await asyncio.sleep(0.01)
    finally:
        await runtime_pool.close()
    retaken = (await client.get(f"/v1/assessments/irt/calibrations/{again_run.id}", headers=admin)).json()
    assert (retaken["status"], retaken["processed"], retaken["total"]) == ("done", PEOPLE, PEOPLE)
    assert retaken["state"] == "draft" and retaken["run_attempts"] == 1
    assert retaken["result"] == result
    listed = (await client.get("/v1/assessments/irt/calibrations?limit=1", headers=admin)).json()
    assert [c["id"] for c in listed["items"]] == [str(again_run.id)] and listed["next_cursor"]
    rest = await client.get(
        f"/v1/assessments/irt/calibrations?limit=1&cursor={listed['next_cursor']}", headers=admin
    )
    assert [c["id"] for c in rest.json()["items"]] == [run["id"]]

    # Unknown ids are 404 problems; a failed calibration (no scores at all) cannot be published.
    missing = await client.get(
        "/v1/assessments/irt/calibrations/00000000-0000-0000-0000-000000000000", headers=admin
    )
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(
        "application/problem+json"
    )
    other = await client.get(f"/v1/assessments/empty/calibrations/{run['id']}", headers=admin)
    assert other.status_code == 404
    empty = await client.post("/v1/assessments/empty/calibrations", headers=admin)
    assert empty.status_code == 202 and empty.json()["total"] == 0
    failed = await _finished(client, f"/v1/assessments/empty/calibrations/{empty.json()['id']}", admin)
    assert failed["status"] == "failed" and "no dimension could be calibrated" in failed["error"]
    refused = await client.post(
        f"/v1/assessments/empty/calibrations/{empty.json()['id']}/publish", headers=admin
    )
    assert refused.status_code == 409 and "failed" in refused.json()["detail"]


async def test_two_publishers_at_once_one_wins_the_other_gets_a_conflict(
    app_url: str, owner: asyncpg.Connection
):
    """Forced interleaving: the first publisher's transaction holds the row; the second waits on it,
    then sees it published and is refused (409), never publishing it a second time."""
    pool = await create_pool(app_url, min_size=2, max_size=2)
    try:
        async with operator_transaction(pool) as conn:
            tenant = await conn.fetchval(
                "INSERT INTO tenants (slug, name) VALUES ('cal-race', 'R') RETURNING id"
            )
        async with tenant_transaction(pool, tenant) as conn:
            assessment = await conn.fetchval(
                "INSERT INTO assessments (code, content) VALUES ('R', '{}') RETURNING id"
            )
            calibration = await conn.fetchval(
                "INSERT INTO calibrations (assessment_id, requested_by, status, result) VALUES ($1, 'x', 'done', $2) "
                "RETURNING id",
                assessment,
                {"dimensions": [], "categories": [], "skipped": []},
            )

        async def second() -> Calibration:
            async with tenant_transaction(pool, tenant) as conn:
                return await calibrations.publish(conn, "R", calibration, "second")

        async with tenant_transaction(pool, tenant) as conn:
            first = await calibrations.publish(conn, "R", calibration, "first")
            racing = asyncio.create_task(second())
            assert await blocked_on_a_lock(owner, racing)  # waiting for the first publisher's row lock
        with pytest.raises(Conflict, match="already published"):
            await racing
        assert first.state == "published" and first.published_by == "first"
        async with tenant_transaction(pool, tenant) as conn:
            stored = await calibrations.get_calibration(conn, "R", calibration)
        assert (stored.published_by, stored.published_at) == ("first", first.published_at)
    finally:
        await pool.close()


def test_a_dimension_without_a_calibratable_item_is_skipped_with_its_reason():
    """Pure: one dimension simulated from a 2PL, another whose only item everyone got right (one
    category: nothing to fit). The first is calibrated, the second listed in `skipped`; with only the
    second, the run fails."""
    from service.results.response_matrix import DimensionMatrix

    rng = np.random.default_rng(9)
    theta = rng.normal(size=400)
    b = np.linspace(-1.5, 1.5, 8)
    good = (rng.random((400, 8)) < 1 / (1 + np.exp(-(theta[:, None] - b)))).astype(float)
    ids = tuple(f"G{j}" for j in range(8))
    matrices = [
        DimensionMatrix("AK", ids, (2,) * 8, ((0.0, 1.0),) * 8, good),
        DimensionMatrix("ES", ("E1",), (1,), ((1.0,),), np.zeros((400, 1))),
    ]
    result = calibrations.calibrate(matrices)
    assert [d.dimension for d in result.dimensions] == ["AK"] and len(result.dimensions[0].items) == 8
    assert [(s.dimension, s.reason) for s in result.skipped] == [
        ("ES", "no item has enough responses to calibrate")
    ]
    assert [c.dimension for c in result.categories] == ["AK"]
    with pytest.raises(calibrations.NothingToCalibrate, match="ES: no item has enough responses"):
        calibrations.calibrate(matrices[1:])
