"""Abilities over the real database: 300 simulated candidates, a calibration published; a later
submission's document carries θ, SE, scale score and level from it (pinned by id, equal to EAP on
its responses); a rescoring previews and applies it to the 300 past attempts with their history kept
and their percentage scores unchanged; a calibration published after a preview makes its commit a
conflict."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
import httpx
import msgspec

from service.auth.keys import ServiceKeys
from service.psychometrics.ability import estimate_ability
from service.results.calibration_result import CalibrationResult
from service.results.response_matrix import category_of, dimension_credits
from service.rubrics.templates import get_template
from service.scoring.engine import ScoreDocument
from tests.helpers import user
from tests.test_calibrations import (  # noqa: F401  (simulated: a fixture)
    PEOPLE,
    SEED,
    _answers,
    _finished,
    simulated,
)

A = "/v1/assessments/irt"


async def _calibrate(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    started = await client.post(f"{A}/calibrations", headers=admin)
    assert started.status_code == 202, started.text
    run = await _finished(client, f"{A}/calibrations/{started.json()['id']}", admin)
    assert run["status"] == "done", run["error"]
    return run


async def _settled(client: httpx.AsyncClient, url: str, admin: dict[str, str]) -> dict[str, Any]:
    for _ in range(600):
        job = (await client.get(url, headers=admin)).json()
        if job["status"] in ("previewed", "done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job did not finish: {job}")


async def _preview(client: httpx.AsyncClient, admin: dict[str, str]) -> tuple[str, dict[str, Any]]:
    started = await client.post(f"{A}/rescorings", json={"reason": "apply the calibration"}, headers=admin)
    assert started.status_code == 202, started.text
    url = f"{A}/rescorings/{started.json()['id']}"
    preview = await _settled(client, url, admin)
    assert preview["status"] == "previewed", preview
    return url, preview


def _expected(document: ScoreDocument, calibration: CalibrationResult) -> dict[str, float]:
    """EAP per dimension on the document's responses, by the calibration's categories."""
    credits = dimension_credits(document)
    floors = {(c.dimension, i.item_id): tuple(i.floors) for c in calibration.categories for i in c.items}
    thetas = {}
    for dimension in calibration.dimensions:
        bank = [i.parameters for i in dimension.items if i.parameters is not None]
        fitted = {p.item_id for p in bank}
        responses = {
            item: category_of(credit, floors[(dimension.dimension, item)])
            for item, credit in credits.get(dimension.dimension, {}).items()
            if item in fitted
        }
        thetas[dimension.dimension] = round(estimate_ability(responses, bank).theta, 6) + 0.0
    return thetas


async def _history(client: httpx.AsyncClient, admin: dict[str, str], attempt: str) -> list[dict[str, Any]]:
    found = await client.get(f"{A}/attempts/{attempt}/scores", headers=admin)
    assert found.status_code == 200, found.text
    return found.json()


async def test_abilities_from_a_published_calibration_and_rescoring_applies_it(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection, simulated: dict[str, Any]
):
    tenant = simulated  # tests/test_calibrations.py's tenant after its 300 simulated submissions
    admin = tenant["admin"]
    past = [
        str(row["id"])
        for row in await owner.fetch(
            "SELECT t.id FROM attempts t JOIN assessments a ON a.id = t.assessment_id "
            "WHERE a.tenant_id = $1 AND a.code = 'irt' ORDER BY t.id",
            tenant["id"],
        )
    ]
    assert len(past) == PEOPLE
    before = {attempt: (await _history(client, admin, attempt))[0] for attempt in past[:5]}
    assert all("abilities" not in s["document"] for s in before.values())  # nothing published yet

    run = await _calibrate(client, admin)
    assert (await client.post(f"{A}/calibrations/{run['id']}/publish", headers=admin)).status_code == 200
    calibration = msgspec.convert(run["result"], CalibrationResult)

    # A submission after the publication: its document carries abilities from it, beside the percentages.
    row = {"external_id": "late", "org_unit_code": "city", "category": "civil_servant"}
    assert (await client.post("/v1/people/bulk", json={"people": [row]}, headers=admin)).status_code == 200
    me = user(service_keys, tenant["id"], ["candidate"], sub="late")
    state = (await client.post("/v1/me/assessments/irt/attempts", json={}, headers=me)).json()
    attempt = state["attempt"]["id"]
    answers = _answers(random.Random(5), 0.8, [item["ref"] for item in state["items"]])
    saved = await client.post(
        f"/v1/me/attempts/{attempt}/answers",
        headers=me,
        json={"answers": [{"item": k, "revision": 1, "answer": v} for k, v in answers.items()]},
    )
    assert saved.status_code == 200, saved.text
    assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
    [stored] = await _history(client, admin, attempt)
    document = msgspec.convert(stored["document"], ScoreDocument)
    assert document.status == "final" and document.abilities is not None
    assert document.abilities.calibration == run["id"]
    found = {d.dimension: d for d in document.abilities.dimensions}
    assert set(found) == {"AK", "HMC", "ES"}
    assert {k: d.theta for k, d in found.items()} == _expected(document, calibration)
    template = get_template("cadre-ai-literacy")
    framework_levels = {level.code for level in template.content.levels}
    scales = {d.dimension: d.scale for d in calibration.dimensions}
    for code, ability in found.items():
        assert 0 < ability.se < 1 and ability.items >= 4
        assert abs(ability.scale_score - scales[code].score(ability.theta)) < 1e-4
        assert ability.level in framework_levels

    # A rescoring previews the calibration on the past attempts: every one changes (gains abilities),
    # no percentage score or level moves.
    url, preview = await _preview(client, admin)
    assert preview["pins"]["calibration"] == run["id"]
    summary = preview["summary"]
    assert summary["attempts"] == PEOPLE + 1 and summary["changed"] == PEOPLE
    assert summary["abilities_changed"] == PEOPLE
    assert summary["overall_score_changed"] == 0 and summary["overall_level_changed"] == 0
    assert all(d["score_changed"] == 0 and d["level_changed"] == 0 for d in summary["dimensions"])
    committed = await client.post(f"{url}/commit", headers=admin)
    assert committed.status_code == 202, committed.text
    done = await _settled(client, url, admin)
    assert (done["status"], done["processed"], done["changed"]) == ("done", PEOPLE + 1, PEOPLE)
    for attempt_id, old in before.items():
        history = await _history(client, admin, attempt_id)
        assert [s["version"] for s in history] == [2, 1] and history[0]["current"]
        new = msgspec.convert(history[0]["document"], ScoreDocument)
        assert new.abilities is not None and new.abilities.calibration == run["id"]
        assert {d.dimension: d.theta for d in new.abilities.dimensions} == _expected(new, calibration)
        # the percentage scores are exactly what they were: the document differs only by its abilities
        assert msgspec.to_builtins(msgspec.structs.replace(new, abilities=None)) == old["document"]
        assert history[1]["document"] == old["document"]
    again_url, again = await _preview(client, admin)
    assert again["summary"]["changed"] == 0

    # A newer calibration published after a preview: that preview cannot be committed (409); a new
    # rescoring pins the newer one.
    newer = await _calibrate(client, admin)
    assert (await client.post(f"{A}/calibrations/{newer['id']}/publish", headers=admin)).status_code == 200
    refused = await client.post(f"{again_url}/commit", headers=admin)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert newer["id"] in refused.json()["detail"]
    zh = await client.post(f"{again_url}/commit", headers={**admin, "Accept-Language": "zh-CN"})
    assert zh.status_code == 409 and "校准" in zh.json()["detail"]
    latest_url, latest = await _preview(client, admin)
    assert latest["pins"]["calibration"] == newer["id"] and latest["summary"]["changed"] == PEOPLE + 1
    assert (await client.post(f"{latest_url}/commit", headers=admin)).status_code == 202
    assert (await _settled(client, latest_url, admin))["status"] == "done"

    # Equated training effect: the same people take the second assessment after "training" (θ + 0.6);
    # it adopts the first's calibration, so both sets of abilities are on one θ scale.
    wrong = await client.post(f"{A}/calibrations/adopt", json={"calibration": newer["id"]}, headers=admin)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["pointer"] == "/calibration"
    adopted = await client.post(
        "/v1/assessments/empty/calibrations/adopt", json={"calibration": newer["id"]}, headers=admin
    )
    assert adopted.status_code == 201, adopted.text
    assert adopted.json()["state"] == "draft" and adopted.json()["result"]["adopted_from"] == newer["id"]
    assert adopted.json()["result"]["dimensions"] == newer["result"]["dimensions"]
    adopted_url = f"/v1/assessments/empty/calibrations/{adopted.json()['id']}"
    assert (await client.post(f"{adopted_url}/publish", headers=admin)).status_code == 200
    await _take_after_training(client, service_keys, tenant["id"], shift=0.6)
    effect = await client.get(f"{A}/training-effect", params={"after": "empty"}, headers=admin)
    assert effect.status_code == 200, effect.text
    body = effect.json()
    assert body["theta_calibration"] == newer["id"] and body["n"] == PEOPLE
    assert {g["measure"] for g in body["gains"]} >= {"overall", "AK", "HMC", "ES"}  # percentages, as before
    theta = {g["measure"]: g for g in body["theta_gains"]}
    assert set(theta) == {"AK", "HMC", "ES"}
    for g in theta.values():  # EAP shrinks towards 0, so less than the 0.6 planted, but clearly a gain
        assert g["n"] == PEOPLE and 0.2 < g["mean_gain"] < 0.9, g
        assert g["ci95_low"] < g["mean_gain"] < g["ci95_high"] and g["ci95_low"] > 0, g
    # the other way round: the same scale, the gains negated
    back = (
        await client.get("/v1/assessments/empty/training-effect", params={"after": "irt"}, headers=admin)
    ).json()
    assert back["theta_calibration"] == newer["id"]
    assert {g["measure"]: g["mean_gain"] for g in back["theta_gains"]} == {
        m: -g["mean_gain"] for m, g in theta.items()
    }
    zh = await client.post(
        f"{A}/calibrations/adopt",
        json={"calibration": "00000000-0000-0000-0000-000000000000"},
        headers={**admin, "Accept-Language": "zh-CN"},
    )
    assert zh.status_code == 422 and "校准" in zh.json()["detail"]


async def _take_after_training(
    client: httpx.AsyncClient, keys: ServiceKeys, tenant_id: str, *, shift: float
) -> None:
    """The 300 simulees (the same θ as in `_simulate`) plus `shift` take the assessment `empty`."""
    rng = random.Random(SEED)
    thetas = [rng.gauss(0, 1) for _ in range(PEOPLE)]
    seeds = [rng.randrange(2**32) for _ in range(PEOPLE)]
    gate = asyncio.Semaphore(4)

    async def take(i: int) -> None:
        me = user(keys, tenant_id, ["candidate"], sub=f"c{i}")
        async with gate:
            started = await client.post("/v1/me/assessments/empty/attempts", json={}, headers=me)
            assert started.status_code == 201, started.text
            state = started.json()
            answers = _answers(
                random.Random(seeds[i] + 1), thetas[i] + shift, [x["ref"] for x in state["items"]]
            )
            attempt = state["attempt"]["id"]
            saved = await client.post(
                f"/v1/me/attempts/{attempt}/answers",
                headers=me,
                json={"answers": [{"item": k, "revision": 1, "answer": v} for k, v in answers.items()]},
            )
            assert saved.status_code == 200, saved.text
            assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200

    await asyncio.gather(*(take(i) for i in range(PEOPLE)))
