"""Aggregates over HTTP: equal to a direct computation from the final scores (after submissions,
a rescoring, a person moving and an org unit moving), withheld small groups that differencing
cannot recover, trend, training effect, CSV, rebuild and check."""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import math
import random
import statistics
from typing import Any

import asyncpg
import pytest

from tests.delivery_setup import (
    ITEMS,
    add_people,
    add_units,
    assessment_body,
    import_items,
    publish_assessment,
    publish_framework,
)
from tests.harness import snapshot
from tests.helpers import blocked_on_a_lock, make_tenant, user

K = 3
# prov > cityA (> countyA1, countyA2), cityB; people: where they sit, and their category
UNITS = [("prov", None), ("cityA", "prov"), ("cityB", "prov"), ("countyA1", "cityA"), ("countyA2", "cityA")]
PEOPLE = (
    [("countyA1", "civil_servant")] * 4
    + [("countyA2", "teacher")]
    + [("cityB", "civil_servant")] * 3
    + [("cityB", "teacher")] * 3
    + [("cityA", "leading_cadre")] * 3
)
SCORED = [
    item for item in ITEMS if item["code"] != "T-OR-1"
]  # no open response: every score is final at once


def _answer(rng: random.Random, code: str) -> dict[str, Any] | None:
    return {
        "T-SC-1": lambda: {"choice": rng.choice("abcd")},
        "T-MC-1": lambda: {"choices": rng.sample("abcde", rng.randint(1, 3))},
        "T-LK-1": lambda: {"value": rng.randint(1, 5)},
        "T-ORD-1": lambda: {"order": rng.sample("abcd", 4)},
        "T-SJT-BEST": lambda: {"choice": rng.choice("abcd")},
    }.get(code, lambda: None)()


async def _sit(client, candidate, code, rng):
    started = await client.post(f"/v1/me/assessments/{code}/attempts", json={}, headers=candidate)
    assert started.status_code == 201, started.text  # a new attempt
    attempt = started.json()["attempt"]["id"]
    answers = [
        {"item": c, "revision": 1, "answer": a}
        for c in (i["code"] for i in SCORED)
        if (a := _answer(rng, c)) is not None
    ]
    saved = await client.post(
        f"/v1/me/attempts/{attempt}/answers", json={"answers": answers}, headers=candidate
    )
    assert saved.status_code == 200, saved.text
    assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=candidate)).status_code == 200
    return attempt


@pytest.fixture
@snapshot
async def region(client, service_keys):
    tenant = await make_tenant(client, service_keys, "agg-region", min_group_size=K)
    admin = tenant["admin"]
    await add_units(
        client,
        admin,
        [
            {"code": code, "name": code.title(), **({"parent_code": parent} if parent else {})}
            for code, parent in UNITS
        ],
    )
    rows = [
        {"external_id": f"p{i}", "org_unit_code": unit, "category": category}
        for i, (unit, category) in enumerate(PEOPLE)
    ]
    await add_people(client, admin, rows)
    await publish_framework(client, admin)
    await import_items(client, admin)
    sections = [{"code": "main", "items": [{"code": i["code"]} for i in SCORED]}]
    await publish_assessment(client, admin, assessment_body("quiz", sections=sections, attempts_allowed=2))
    await publish_assessment(client, admin, assessment_body("quiz2", sections=sections))
    tenant["people"] = {
        f"p{i}": (unit, category, user(service_keys, tenant["id"], ["candidate"], sub=f"p{i}"))
        for i, (unit, category) in enumerate(PEOPLE)
    }
    tenant["analyst"] = user(service_keys, tenant["id"], ["analyst"])
    rng = random.Random(7)
    tenant["attempts"] = {
        person: await _sit(client, token, "quiz", rng) for person, (_, _, token) in tenant["people"].items()
    }
    return tenant


async def _documents(client, admin, attempts):
    """The current score document of each attempt, read back through the API."""
    out = {}
    for person, attempt in attempts.items():
        history = (await client.get(f"/v1/assessments/quiz/attempts/{attempt}/scores", headers=admin)).json()
        out[person] = next(s["document"] for s in history if s["current"])
    return out


def _expected(documents, people):
    """Per measure, the figures computed directly from the people's documents."""
    values: dict[str, list[float]] = {}
    levels: dict[str, dict[str, int]] = {}
    for person in people:
        doc = documents[person]
        for measure, scaled, level in [("overall", doc["overall"]["scaled"], doc["overall"]["level"])] + [
            (d["dimension"], d["scaled"], d["level"]) for d in doc["dimensions"]
        ]:
            values.setdefault(measure, []).append(scaled)
            levels.setdefault(measure, {}).setdefault(level, 0)
            levels[measure][level] += 1
    return values, levels


def _assert_cell(cell, documents, people):
    values, levels = _expected(documents, people)
    assert not cell["suppressed"] and cell["n"] == len(people)
    got = {m["measure"]: m for m in cell["measures"]}
    assert set(got) == set(values)
    for measure, xs in values.items():
        figures = got[measure]
        assert figures["n"] == len(xs)
        assert math.isclose(figures["mean"], statistics.mean(xs), abs_tol=1e-3)
        assert math.isclose(figures["sd"], statistics.stdev(xs), abs_tol=1e-3)
        ordered = sorted(xs)
        for p in (10, 25, 50, 75, 90):  # one-point bins: within a point of the sorted scores around the rank
            rank = p / 100 * len(xs)
            low, high = ordered[max(0, math.ceil(rank) - 1)], ordered[min(len(xs) - 1, math.ceil(rank) - 1)]
            assert math.floor(low) - 1e-9 <= figures[f"p{p}"] <= math.floor(high) + 1 + 1e-9, (measure, p, xs)
        assert {lv["level"]: lv["n"] for lv in figures["levels"] if lv["n"]} == levels[measure]


def _in(tenant, units):
    return [p for p, (unit, _, _) in tenant["people"].items() if unit in units]


SUBTREES = {
    None: {u for u, _ in UNITS},
    "prov": {u for u, _ in UNITS},
    "cityA": {"cityA", "countyA1", "countyA2"},
    "cityB": {"cityB"},
}


async def _check_in_step(client, admin, code="quiz"):
    started = await client.post(
        f"/v1/assessments/{code}/aggregate-jobs", params={"kind": "check"}, headers=admin
    )
    assert started.status_code == 202, started.text
    job = await _settled(client, admin, f"/v1/assessments/{code}/aggregate-jobs/{started.json()['id']}")
    assert job["status"] == "done" and job["result"]["in_step"], job
    return job


async def _settled(client, admin, url):
    for _ in range(200):
        job = (await client.get(url, headers=admin)).json()
        if job["status"] != "running":
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job did not finish: {job}")


async def test_aggregates_equal_a_direct_computation_through_rescoring_and_moves(client, region):
    admin, analyst = region["admin"], region["analyst"]
    documents = await _documents(client, admin, region["attempts"])

    async def agree():
        for unit, units in SUBTREES.items():
            view = (
                await client.get(
                    "/v1/assessments/quiz/aggregates", params={"unit": unit} if unit else {}, headers=analyst
                )
            ).json()
            _assert_cell(view["cell"], documents, _in(region, units))
        cs = [p for p, (u, c, _) in region["people"].items() if c == "civil_servant"]
        view = (
            await client.get(
                "/v1/assessments/quiz/aggregates", params={"category": "civil_servant"}, headers=analyst
            )
        ).json()
        _assert_cell(view["cell"], documents, cs)
        await _check_in_step(client, admin)

    await agree()

    # a corrected key: every changed score moves the aggregates in the same transaction
    single = copy.deepcopy(next(item for item in ITEMS if item["code"] == "T-SC-1"))
    single["key"] = {"correct": "a"}
    etag = (await client.get("/v1/items/T-SC-1", headers=admin)).headers["etag"]
    assert (
        await client.put("/v1/items/T-SC-1", json=single, headers={**admin, "If-Match": etag})
    ).status_code == 200
    started = await client.post(
        "/v1/assessments/quiz/rescorings", json={"reason": "key", "items": {"T-SC-1": 2}}, headers=admin
    )
    url = f"/v1/assessments/quiz/rescorings/{started.json()['id']}"
    assert (await _settled(client, admin, url))["status"] == "previewed"
    await client.post(f"{url}/commit", headers=admin)
    assert (await _settled(client, admin, url))["status"] == "done"
    rescored = await _documents(client, admin, region["attempts"])
    assert rescored != documents
    documents = rescored
    await agree()

    # a person who moves keeps their past result where it was submitted
    moved = await client.put(
        "/v1/people/p0", json={"org_unit_code": "cityB", "category": "civil_servant"}, headers=admin
    )
    assert moved.status_code == 200, moved.text  # an existing person
    await agree()

    # a second attempt counts instead of the first: a person's result is their latest final attempt
    second = await _sit(client, region["people"]["p9"][2], "quiz", random.Random(99))
    documents = {**documents, "p9": (await _documents(client, admin, {"p9": second}))["p9"]}
    await agree()

    # an org unit that moves takes its results along: countyA2 now counts under cityB
    assert (
        await client.post("/v1/org-units/countyA2/move", json={"parent_code": "cityB"}, headers=admin)
    ).status_code == 200
    subtrees_after = {"cityA": {"cityA", "countyA1"}, "cityB": {"cityB", "countyA2"}}
    for unit, units in subtrees_after.items():
        view = (
            await client.get("/v1/assessments/quiz/aggregates", params={"unit": unit}, headers=analyst)
        ).json()
        _assert_cell(view["cell"], documents, _in(region, units))
    await _check_in_step(client, admin)


async def test_drill_down_withholds_small_groups_and_what_would_reveal_them(client, region):
    analyst = region["analyst"]
    drill = (
        await client.get(
            "/v1/assessments/quiz/aggregates/children", params={"unit": "cityA"}, headers=analyst
        )
    ).json()
    parent = drill["parent"]
    cells = {(c["scope"], c["unit"]): c for c in drill["children"]}
    # cityA: 3 placed directly, countyA1 4, countyA2 1. countyA2 is under k; withholding it alone
    # would let a client subtract countyA1 and the direct cell from cityA's total to get it back
    assert not parent["suppressed"] and parent["n"] == 8
    assert cells[("subtree", "countyA2")]["suppressed"]
    withheld = [c for c in drill["children"] if c["suppressed"]]
    shown = [c for c in drill["children"] if not c["suppressed"]]
    assert len(withheld) >= 2
    # the differencing attack: parent minus what is shown leaves a group of at least k people
    assert parent["n"] - sum(c["n"] for c in shown) >= K
    assert all("n" not in c or c["n"] is None for c in withheld) and all(not c["measures"] for c in withheld)
    # each unit's own subtree call gives the same decision as its row in the drill-down
    for c in drill["children"]:
        if c["scope"] == "subtree":
            own = (
                await client.get(
                    "/v1/assessments/quiz/aggregates", params={"unit": c["unit"]}, headers=analyst
                )
            ).json()["cell"]
            assert own["suppressed"] == c["suppressed"]
            if own["suppressed"]:  # and drilling into a withheld unit cannot rebuild it from its parts
                inner = (
                    await client.get(
                        "/v1/assessments/quiz/aggregates/children",
                        params={"unit": c["unit"]},
                        headers=analyst,
                    )
                ).json()
                assert inner["parent"]["suppressed"] and any(
                    x["suppressed"] for x in inner["children"] if x["n"] != 0
                )
    # categories are split the same way: cityB has 3 civil servants and 3 teachers; countyA2's one
    # teacher makes cityA's teachers a group of 1
    teachers = (
        await client.get(
            "/v1/assessments/quiz/aggregates",
            params={"unit": "cityA", "category": "teacher"},
            headers=analyst,
        )
    ).json()["cell"]
    assert teachers["suppressed"]
    others = (
        await client.get(
            "/v1/assessments/quiz/aggregates",
            params={"unit": "cityA", "category": "civil_servant"},
            headers=analyst,
        )
    ).json()["cell"]
    leaders = (
        await client.get(
            "/v1/assessments/quiz/aggregates",
            params={"unit": "cityA", "category": "leading_cadre"},
            headers=analyst,
        )
    ).json()["cell"]
    shown_n = sum(c["n"] for c in (others, leaders) if not c["suppressed"])
    assert parent["n"] - shown_n >= K  # all of cityA minus the shown categories is no small group


async def test_trend_csv_and_errors(client, region):
    analyst = region["analyst"]
    trend = (
        await client.get(
            "/v1/assessments/quiz/aggregates/trend", params={"interval": "week"}, headers=analyst
        )
    ).json()
    assert len(trend["points"]) == 1 and trend["points"][0]["cell"]["n"] == len(PEOPLE)
    monthly = (await client.get("/v1/assessments/quiz/aggregates/trend", headers=analyst)).json()
    assert monthly["interval"] == "month" and monthly["points"][0]["cell"]["n"] == len(PEOPLE)

    exported = await client.get(
        "/v1/assessments/quiz/aggregates/children.csv", params={"unit": "cityA"}, headers=analyst
    )
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["unit"] for r in rows if r["suppressed"] == "true"} >= {"countyA2"}
    assert all(r["n"] == "" and r["mean"] == "" for r in rows if r["suppressed"] == "true")
    overall = next(
        r for r in rows if r["scope"] == "subtree" and r["unit"] == "cityA" and r["measure"] == "overall"
    )
    assert overall["n"] == "8"

    unknown = await client.get("/v1/assessments/quiz/aggregates", params={"unit": "nowhere"}, headers=analyst)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["parameter"] == "unit"
    assert (await client.get("/v1/assessments/nope/aggregates", headers=analyst)).status_code == 404
    both = await client.get(
        "/v1/assessments/quiz/aggregates",
        params={"category": "teacher", "from": "2026-01-01"},
        headers=analyst,
    )
    assert both.status_code == 422 and both.json()["errors"][0]["parameter"] == "category"
    bad = await client.get(
        "/v1/assessments/quiz/aggregates", params={"category": "astronaut"}, headers=analyst
    )
    assert bad.status_code == 400 and "category" in bad.text
    candidate = region["people"]["p0"][2]
    assert (await client.get("/v1/assessments/quiz/aggregates", headers=candidate)).status_code == 403


async def test_training_effect_pairs_the_people_who_took_both(client, region):
    analyst, admin = region["analyst"], region["admin"]
    rng = random.Random(11)
    after = {
        p: await _sit(client, token, "quiz2", rng) for p, (_, _, token) in list(region["people"].items())[:10]
    }
    before_docs = await _documents(client, admin, {p: region["attempts"][p] for p in after})
    after_docs = {}
    for person, attempt in after.items():
        history = (await client.get(f"/v1/assessments/quiz2/attempts/{attempt}/scores", headers=admin)).json()
        after_docs[person] = history[0]["document"]
    effect = (
        await client.get("/v1/assessments/quiz/training-effect", params={"after": "quiz2"}, headers=analyst)
    ).json()
    assert not effect["suppressed"] and effect["n"] == 10
    gains = [after_docs[p]["overall"]["scaled"] - before_docs[p]["overall"]["scaled"] for p in after]
    overall = next(g for g in effect["gains"] if g["measure"] == "overall")
    assert math.isclose(overall["mean_gain"], statistics.mean(gains), abs_tol=1e-3)
    assert math.isclose(overall["sd_gain"], statistics.stdev(gains), abs_tol=1e-3)
    half = 2.262 * statistics.stdev(gains) / math.sqrt(10)  # t(0.975, 9 df)
    assert math.isclose(overall["ci95_low"], statistics.mean(gains) - half, abs_tol=1e-3)
    # countyA2 holds one of them: withheld, and so is countyA1 (cityA minus it would leave that one)
    small = (
        await client.get(
            "/v1/assessments/quiz/training-effect",
            params={"after": "quiz2", "unit": "countyA2"},
            headers=analyst,
        )
    ).json()
    assert (small["suppressed"] and "gains" not in small) or not small["gains"]
    csv_text = (
        await client.get(
            "/v1/assessments/quiz/training-effect.csv", params={"after": "quiz2"}, headers=analyst
        )
    ).text
    assert csv_text.startswith("before,after,unit,category,suppressed,measure")


async def test_training_effect_pairs_are_built_by_a_job_and_kept_in_step_by_submissions(
    client, region, owner, settings
):
    """The first ask registers the pair and answers from the join; its job builds the sums; the same
    answers come from them, and after more people take the second assessment too (the score pipeline
    moving the sums) and a unit moves, they still equal the join's, for the tenant, a unit and a
    category."""
    from uuid import UUID

    from service.api.app import _connect
    from service.jobs.runner import JobRunner

    analyst, rng = region["analyst"], random.Random(12)
    people = list(region["people"].items())
    for _, (_, _, token) in people[:8]:
        await _sit(client, token, "quiz2", rng)
    asks = [{}, {"unit": "cityB"}, {"unit": "cityA"}, {"category": "civil_servant"}]

    async def effects() -> list[dict]:
        out = []
        for params in asks:
            got = await client.get(
                "/v1/assessments/quiz/training-effect", params={"after": "quiz2", **params}, headers=analyst
            )
            assert got.status_code == 200, got.text
            out.append(got.json())
        return out

    async def state() -> str:
        return await owner.fetchval("SELECT state FROM effect_pairs")

    async def as_joined() -> list[dict]:  # the join's answers: the pair marked as not built
        await owner.execute("UPDATE effect_pairs SET state = 'building'")
        try:
            return await effects()
        finally:
            await owner.execute("UPDATE effect_pairs SET state = 'ready'")

    joined = await effects()
    assert joined[0]["n"] == 8 and await state() == "building"
    pool = await _connect(settings)
    try:
        job_id = await owner.fetchval("SELECT id FROM effect_pairs")
        await JobRunner(pool, settings).launch(UUID(region["id"]), job_id)
    finally:
        await pool.close()
    assert await state() == "ready"
    assert await owner.fetchval("SELECT count(*) FROM effect_rollups") > 0
    assert await effects() == joined
    for _, (_, _, token) in people[8:]:
        await _sit(client, token, "quiz2", rng)
    kept = await effects()
    assert kept[0]["n"] == len(people) and kept == await as_joined()
    # a unit that moves takes its pairs along: countyA1 now counts under cityB
    admin = region["admin"]
    moved = await client.post("/v1/org-units/countyA1/move", json={"parent_code": "cityB"}, headers=admin)
    assert moved.status_code == 200, moved.text
    after_move = await effects()
    assert after_move != kept and after_move == await as_joined()


async def test_a_check_finds_drift_and_a_rebuild_repairs_it(client, region, owner_url):
    admin = region["admin"]
    await _check_in_step(client, admin)
    conn = await asyncpg.connect(owner_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", region["id"])
            # trailing zero level counts are no difference (an incremental row is as wide as its widest change)
            await conn.execute("UPDATE rollups SET levels = levels || 0 WHERE measure <> 'overall'")
            await conn.execute(
                "UPDATE rollups SET n = n + 1 WHERE unit_id = '00000000-0000-0000-0000-000000000000' "
                "AND measure = 'overall'"
            )
            # a result lost, and a rollup row that counts nobody's result
            quiz = await conn.fetchval("SELECT id FROM assessments WHERE code = 'quiz'")
            lost = await conn.fetchval(
                "DELETE FROM results WHERE assessment_id = $1 AND person_id = "
                "(SELECT person_id FROM results WHERE assessment_id = $1 LIMIT 1) RETURNING person_id",
                quiz,
            )
            assert lost is not None
            await conn.execute(
                "INSERT INTO rollups (assessment_id, unit_id, measure, category, week, n, total, total_sq, hist, "
                "levels) VALUES ($1, gen_random_uuid(), 'overall', '*', DATE '1970-01-01', 1, 50, 2500, "
                "array_fill(0, ARRAY[100]), '{1}')",
                quiz,
            )
    finally:
        await conn.close()
    started = await client.post(
        "/v1/assessments/quiz/aggregate-jobs", params={"kind": "check"}, headers=admin
    )
    job = await _settled(client, admin, f"/v1/assessments/quiz/aggregate-jobs/{started.json()['id']}")
    assert (
        job["status"] == "done"
        and not job["result"]["in_step"]
        and job["result"]["rollup_rows_differing"] >= 1
    )
    assert job["result"]["results_differing"] == 1
    assert {d["table"] for d in job["result"]["differences"]} == {"results", "rollups"}

    rebuilt = await client.post(
        "/v1/assessments/quiz/aggregate-jobs", params={"kind": "rebuild"}, headers=admin
    )
    job = await _settled(client, admin, f"/v1/assessments/quiz/aggregate-jobs/{rebuilt.json()['id']}")
    assert job["status"] == "done" and job["result"]["results"] == len(PEOPLE), job
    # only what differed is written: the lost result back, the bogus row gone, the changed rows put right
    written = {k: v for k, v in job["result"].items() if k.endswith(("_deleted", "_updated", "_inserted"))}
    assert written["results_inserted"] == 1 and written["results_updated"] == written["results_deleted"] == 0
    assert written["rollup_rows_deleted"] == 1 and written["rollup_rows_updated"] >= 1, written
    await _check_in_step(client, admin)
    again = await client.post(
        "/v1/assessments/quiz/aggregate-jobs", params={"kind": "rebuild"}, headers=admin
    )
    job = await _settled(client, admin, f"/v1/assessments/quiz/aggregate-jobs/{again.json()['id']}")
    assert job["status"] == "done" and job["result"]["rollup_rows"] > 0
    assert not any(
        v for k, v in job["result"].items() if k.endswith(("_deleted", "_updated", "_inserted"))
    ), job
    jobs = (await client.get("/v1/assessments/quiz/aggregate-jobs", headers=admin)).json()["items"]
    assert [j["kind"] for j in jobs][:4] == ["rebuild", "check", "rebuild", "check"]  # newest first
    first = (
        await client.get("/v1/assessments/quiz/aggregate-jobs", params={"limit": 1}, headers=admin)
    ).json()
    rest = (
        await client.get(
            "/v1/assessments/quiz/aggregate-jobs",
            headers=admin,
            params={"limit": 50, "cursor": first["next_cursor"]},
        )
    ).json()
    assert [j["id"] for j in first["items"] + rest["items"]] == [j["id"] for j in jobs] and rest[
        "next_cursor"
    ] is None
    assert (
        await client.post(
            "/v1/assessments/quiz/aggregate-jobs", params={"kind": "rebuild"}, headers=region["analyst"]
        )
    ).status_code == 403


async def test_concurrent_submissions_keep_rollups_exact(client, region):
    """Every submission updates the same tenant and province rows: they queue on those rows (in
    one key order, so never deadlock) and none of their additions is lost."""
    rng = random.Random(5)
    tokens = [token for _, _, token in region["people"].values()]
    attempts = []
    for token in tokens:
        started = await client.post("/v1/me/assessments/quiz2/attempts", json={}, headers=token)
        attempt = started.json()["attempt"]["id"]
        answer = {"revision": 1, "answer": _answer(rng, "T-SC-1")}
        await client.put(f"/v1/me/attempts/{attempt}/answers/T-SC-1", json=answer, headers=token)
        attempts.append((attempt, token))
    submitted = await asyncio.gather(
        *(client.post(f"/v1/me/attempts/{a}/submit", headers=t) for a, t in attempts)
    )
    assert all(r.status_code == 200 for r in submitted)
    view = (await client.get("/v1/assessments/quiz2/aggregates", headers=region["analyst"])).json()
    assert view["cell"]["n"] == len(PEOPLE)
    await _check_in_step(client, region["admin"], "quiz2")


async def test_training_effect_after_an_unknown_assessment_is_404_naming_after(client, service_keys):
    """`after` names an assessment like the path does: unknown (or another tenant's) is a 404 that says
    which parameter was wrong, for the view and its CSV alike."""
    from tests.delivery_setup import delivery_tenant

    admin = (await delivery_tenant(client, service_keys, slug="effect-404"))["admin"]
    for suffix in ("", ".csv"):
        response = await client.get(
            f"/v1/assessments/quiz/training-effect{suffix}", params={"after": "nope"}, headers=admin
        )
        assert response.status_code == 404, response.text
        assert response.json()["errors"] == [{"detail": "no assessment 'nope'", "parameter": "after"}]
        unknown_before = await client.get(
            f"/v1/assessments/nope/training-effect{suffix}", params={"after": "quiz"}, headers=admin
        )
        assert unknown_before.status_code == 404


async def test_training_effect_by_position_equals_the_per_measure_join_on_random_results(region, owner_url):
    """The training effect's paired figures three ways on random results: `paired.reference` (measures
    in columns, one row per person), the per-measure join it falls back to (a row per person and
    measure, matched by name), and the pair's sums kept ahead (`paired.build`, then moved by random
    changes through `paired.results_changed` as the score pipeline does) all agree: people on one side
    only, placeholders, measure lists alike or not (reordered, missing, extra), any unit or category
    filter. Each case is rolled back."""
    from datetime import date
    from uuid import UUID, uuid4

    from service.aggregates import paired
    from service.aggregates.rollups import ROOT, Result
    from service.tenancy.tree import subtree_range

    conn = await asyncpg.connect(owner_url)
    try:
        ids = {r["code"]: r["id"] for r in await conn.fetch("SELECT code, id FROM assessments")}
        units = [(r["id"], r["path"]) for r in await conn.fetch("SELECT id, path FROM org_units")]
        path_of = dict(units)
        lists = [
            ("overall", "AA", "AG", "AK"),
            ("overall", "AG", "AA", "AK"),
            ("overall", "AA"),
            ("AK", "overall", "X"),
        ]
        before, after = ids["quiz"], ids["quiz2"]

        def result_row(rng: random.Random, code: str, person: UUID, mixed: bool) -> tuple:
            measures = rng.choice(lists) if mixed else lists[0]
            placeholder = rng.random() < 0.05
            return (
                ids[code],
                person,
                None if placeholder else uuid4(),
                rng.choice([None, *[u for u, _ in units]]),
                rng.choice(["teacher", "civil_servant"]),
                [] if placeholder else list(measures),
                [] if placeholder else [float(rng.choice([rng.uniform(0, 100), 50])) for _ in measures],
                [] if placeholder else [0] * len(measures),
            )

        def as_result(row: tuple | None) -> Result | None:
            if row is None or row[2] is None:
                return None
            unit = row[3]
            return Result(
                row[2],
                path_of.get(unit),
                row[4],
                date(2026, 1, 5),
                tuple(row[5]),
                tuple(row[6]),
                tuple(row[7]),
            )

        async def agree(seed: int, kept: bool) -> None:
            built = await paired.figures(conn, before, after, [ROOT, *(u for u, _ in units)])
            for unit, path in [(ROOT, None), *units]:
                for category in [None, "teacher"]:
                    low, high = subtree_range(path) if path else (None, None)
                    args = (before, after, low, high, category)
                    fast = await paired.reference(conn, *args)
                    reference = {r["measure"]: r for r in await conn.fetch(paired.PAIRED, *args)}
                    ahead = paired.total(built, unit, category)
                    assert set(fast) == set(reference) == set(ahead), (seed, kept, path, category)
                    for measure, row in reference.items():
                        for got, tolerance in ((fast[measure], 1e-9), (ahead[measure], 1e-7)):
                            assert got.n == row["n"], (seed, measure)
                            for field in ("mean_before", "mean_after", "sd_gain", "sd_before", "sd_after"):
                                x, y = getattr(got, field), row[field]
                                assert (x is None and y is None) or math.isclose(
                                    x, y, rel_tol=tolerance, abs_tol=tolerance
                                ), (seed, kept, measure, field, x, y)

        for seed in range(12):
            rng = random.Random(seed)
            mixed = seed % 3 == 0  # a third of the cases mix measure lists; the rest have one list throughout
            rows: dict[tuple, tuple] = {}
            for _ in range(rng.randint(0, 40)):
                person = uuid4()
                for code in rng.sample(["quiz", "quiz2"], rng.choice([1, 2, 2, 2])):
                    rows[(ids[code], person)] = result_row(rng, code, person, mixed)
            case = conn.transaction()
            await case.start()
            try:
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", region["id"])
                await conn.execute("DELETE FROM results")
                insert = """INSERT INTO results (assessment_id, person_id, attempt_id, org_unit_id, category, measures,
                                                 scaled, level_ranks) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"""
                await conn.executemany(insert, list(rows.values()))
                await conn.execute(
                    "INSERT INTO effect_pairs (before_id, after_id, state) VALUES ($1, $2, 'ready')",
                    before,
                    after,
                )
                await paired.build(conn, before, after)
                await agree(seed, False)
                # changes as the pipeline makes them: new scores, places, categories; results gone and new ones
                people = sorted({p for _, p in rows}, key=str) + [uuid4() for _ in range(3)]
                changes = []
                for _ in range(rng.randint(1, 15)):
                    key = (ids[rng.choice(["quiz", "quiz2"])], rng.choice(people))
                    old = rows.get(key)
                    code = "quiz" if key[0] == before else "quiz2"
                    new = None if rng.random() < 0.2 else result_row(rng, code, key[1], mixed)
                    await conn.execute(
                        "DELETE FROM results WHERE assessment_id = $1 AND person_id = $2", *key
                    )
                    if new is not None:
                        await conn.execute(insert, *new)
                        rows[key] = new
                    else:
                        rows.pop(key, None)
                    changes.append((key[0], key[1], as_result(old), as_result(new)))
                    if rng.random() < 0.5:  # one refresh at a time, or several changes in one
                        await paired.results_changed(conn, changes)
                        changes = []
                await paired.results_changed(conn, changes)
                await agree(seed, True)
            finally:
                await case.rollback()
    finally:
        await conn.close()


async def test_a_rebuild_and_a_concurrent_submission_wait_for_each_other(
    client, region, owner_url, monkeypatch
):
    """Forced both ways: a submission that has moved the rollups but not committed holds a rebuild
    off until it commits; a rebuild that has computed but not committed holds a submission's
    rollup update off until it commits. Either way both count, and the stored figures are in step."""
    from service.aggregates import rebuild, rollups

    admin, rng = region["admin"], random.Random(3)
    tokens = [token for _, _, token in region["people"].values()]
    owner = await asyncpg.connect(owner_url)
    waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"

    async def started(token):
        attempt = (await client.post("/v1/me/assessments/quiz2/attempts", json={}, headers=token)).json()
        answer = {"revision": 1, "answer": _answer(rng, "T-SC-1")}
        await client.put(
            f"/v1/me/attempts/{attempt['attempt']['id']}/answers/T-SC-1", json=answer, headers=token
        )
        return attempt["attempt"]["id"]

    async def rebuilt():
        job = await client.post(
            "/v1/assessments/quiz2/aggregate-jobs", params={"kind": "rebuild"}, headers=admin
        )
        return await _settled(client, admin, f"/v1/assessments/quiz2/aggregate-jobs/{job.json()['id']}")

    async def until_one_waits(task):
        while not task.done() and not await owner.fetchval(waiting):
            await asyncio.sleep(0.01)
        assert not task.done()  # it is waiting on the other's lock

    try:
        # 1. the submission first: it has written its rollup deltas and holds them uncommitted
        held, release = asyncio.Event(), asyncio.Event()
        write_deltas = rollups.write_deltas

        async def deltas_then_hold(conn, deltas):  # type: ignore[no-untyped-def]
            await write_deltas(conn, deltas)
            held.set()
            await release.wait()

        monkeypatch.setattr(rollups, "write_deltas", deltas_then_hold)
        attempt = await started(tokens[0])
        submit = asyncio.create_task(client.post(f"/v1/me/attempts/{attempt}/submit", headers=tokens[0]))
        await asyncio.wait_for(held.wait(), 10)
        job = asyncio.create_task(rebuilt())
        await until_one_waits(job)
        release.set()
        assert (await submit).status_code == 200
        assert (await job)["result"]["results"] == 1
        monkeypatch.setattr(rollups, "write_deltas", write_deltas)
        await _check_in_step(client, admin, "quiz2")

        # 2. the rebuild first: it has computed the rollups and holds them uncommitted
        held, release = asyncio.Event(), asyncio.Event()
        compute = rebuild._rollups

        async def rollups_then_hold(conn, *args):  # type: ignore[no-untyped-def]
            rows = await compute(conn, *args)
            held.set()
            await release.wait()
            return rows

        monkeypatch.setattr(rebuild, "_rollups", rollups_then_hold)
        attempt = await started(tokens[1])
        job = asyncio.create_task(rebuilt())
        await asyncio.wait_for(held.wait(), 10)
        submit = asyncio.create_task(client.post(f"/v1/me/attempts/{attempt}/submit", headers=tokens[1]))
        await until_one_waits(submit)
        release.set()
        assert (await job)["result"]["results"] == 1  # computed before the submission counted
        assert (await submit).status_code == 200
        monkeypatch.setattr(rebuild, "_rollups", compute)
        checked = await _check_in_step(client, admin, "quiz2")
        assert checked["result"]["results_checked"] == 2  # both submissions count
    finally:
        await owner.close()


async def test_both_sides_of_a_pair_changing_at_once_wait_for_each_other(region, owner_url):
    """A person's result on each side of a built pair changes in two transactions at once: the second
    to move the pair's sums waits for the first to commit (a lock on the person), then reads its
    result, so the sums end equal to the join's; without the wait each would have moved them against
    the other's old result."""
    from uuid import UUID

    from service.aggregates import paired
    from service.aggregates.rollups import ROOT, Result

    first, second = await asyncpg.connect(owner_url), await asyncpg.connect(owner_url)
    try:
        for conn in (first, second):
            await conn.execute("SELECT set_config('app.tenant_id', $1, false)", region["id"])
        ids = {r["code"]: r["id"] for r in await first.fetch("SELECT code, id FROM assessments")}
        before, after = ids["quiz"], ids["quiz2"]
        # quiz2 results for everyone who took quiz: their scores plus 3 points; the pair built
        await first.execute(
            """INSERT INTO results (assessment_id, person_id, attempt_id, org_unit_id, category, week, measures,
                                    scaled, level_ranks)
               SELECT $2, person_id, gen_random_uuid(), org_unit_id, category, week, measures,
                      ARRAY(SELECT s + 3 FROM unnest(scaled) s), level_ranks
               FROM results WHERE assessment_id = $1 AND attempt_id IS NOT NULL""",
            before,
            after,
        )
        await first.execute(
            "INSERT INTO effect_pairs (before_id, after_id, state) VALUES ($1, $2, 'ready')", before, after
        )
        await paired.build(first, before, after)
        person = await first.fetchval(
            "SELECT person_id FROM results WHERE assessment_id = $1 ORDER BY person_id LIMIT 1", before
        )

        async def change(conn: asyncpg.Connection, assessment: UUID, by: float) -> tuple:
            row = await conn.fetchrow(
                """SELECT r.attempt_id, o.path, r.category, r.week, r.measures, r.scaled, r.level_ranks
                   FROM results r LEFT JOIN org_units o ON o.id = r.org_unit_id
                   WHERE r.assessment_id = $1 AND r.person_id = $2""",
                assessment,
                person,
            )
            old = Result(
                row["attempt_id"],
                row["path"],
                row["category"],
                row["week"],
                tuple(row["measures"]),
                tuple(row["scaled"]),
                tuple(row["level_ranks"]),
            )
            new = Result(
                old.attempt_id,
                old.path,
                old.category,
                old.week,
                old.measures,
                tuple(s + by for s in old.scaled),
                old.level_ranks,
            )
            await conn.execute(
                "UPDATE results SET scaled = $3 WHERE assessment_id = $1 AND person_id = $2",
                assessment,
                person,
                list(new.scaled),
            )
            return (assessment, person, old, new)

        one, other = first.transaction(), second.transaction()
        await one.start()
        await other.start()
        await paired.results_changed(first, [await change(first, before, -20)])  # holds the person
        waiting = asyncio.create_task(paired.results_changed(second, [await change(second, after, 15)]))
        watcher = await asyncpg.connect(owner_url)
        try:
            assert await blocked_on_a_lock(watcher, waiting)  # waits for the first side to commit
        finally:
            await watcher.close()
        await one.commit()
        await waiting
        await other.commit()
        built = paired.total(await paired.figures(first, before, after, [ROOT]), ROOT, None)
        reference = await paired.reference(first, before, after, None, None, None)
        assert set(built) == set(reference)
        for measure, row in reference.items():
            got = built[measure]
            assert got.n == row.n
            for field in ("mean_before", "mean_after", "sd_gain", "sd_before", "sd_after"):
                x, y = getattr(got, field), getattr(row, field)
                assert (x is None and y is None) or math.isclose(x, y, rel_tol=1e-7, abs_tol=1e-7), (
                    measure,
                    field,
                )
    finally:
        await first.close()
        await second.close()


async def _rollup_units(owner_url, tenant_id, code="quiz"):
    """The codes of the units with per-(category, week) rows ('' for the tenant), and of those with whole rows."""
    conn = await asyncpg.connect(owner_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
            rows = await conn.fetch(
                """SELECT coalesce(u.code, '') AS code, bool_or(r.category <> '*') AS split
                   FROM rollups r JOIN assessments a ON a.id = r.assessment_id AND a.code = $1
                   LEFT JOIN org_units u ON u.id = r.unit_id WHERE r.n <> 0 GROUP BY 1""",
                code,
            )
    finally:
        await conn.close()
    return {r["code"] for r in rows if r["split"]}, {r["code"] for r in rows}


async def test_leaf_units_are_read_from_their_results_and_split_when_they_get_children(
    client, region, owner_url, service_keys
):
    """A unit without children keeps its whole rows only (rollups.py): its category and week cells
    come from its results. The views read the same either way: the answers for a leaf are identical
    before and after it gets a child (and its split rows), and after it loses it again; refresh,
    reshaping and a rebuild keep the rows a check finds in step."""
    admin, analyst = region["admin"], region["analyst"]
    split, counted = await _rollup_units(owner_url, region["id"])
    assert split == {"", "prov", "cityA"} and counted == {"", *(u for u, _ in UNITS)}
    week = (
        await client.get(
            "/v1/assessments/quiz/aggregates/trend", params={"interval": "week"}, headers=analyst
        )
    ).json()["points"][0]["start"]
    views = [
        ("/v1/assessments/quiz/aggregates", {"unit": unit, **extra})
        for unit in ("cityB", "countyA1")
        for extra in ({}, {"category": "teacher"}, {"category": "civil_servant"}, {"from": week, "to": week})
    ] + [
        ("/v1/assessments/quiz/aggregates/trend", {"unit": u, "interval": i})
        for u in ("cityB", "countyA1")
        for i in ("week", "month")
    ]
    views += [
        ("/v1/assessments/quiz/aggregates/children", {"unit": "cityA", **extra})
        for extra in ({}, {"category": "civil_servant"}, {"from": week, "to": week})
    ]

    async def answers():
        out = []
        for url, params in views:
            got = await client.get(url, params=params, headers=analyst)
            assert got.status_code == 200, got.text
            out.append(got.content)
        return out

    compact = await answers()
    # a child under each leaf: the leaves are split (their rows summed from their results), same answers
    await add_units(
        client,
        admin,
        [
            {"code": "townB1", "name": "TownB1", "parent_code": "cityB"},
            {"code": "townA11", "name": "T", "parent_code": "countyA1"},
        ],
    )
    split, _ = await _rollup_units(owner_url, region["id"])
    assert split == {"", "prov", "cityA", "cityB", "countyA1"}
    assert await answers() == compact
    await _check_in_step(client, admin)

    # a result in the new (compact) child: counted in its split parent's cells
    await add_people(
        client, admin, [{"external_id": "pnew", "org_unit_code": "townB1", "category": "teacher"}]
    )
    token = user(service_keys, region["id"], ["candidate"], sub="pnew")
    attempts = {**region["attempts"], "pnew": await _sit(client, token, "quiz", random.Random(3))}
    documents = await _documents(client, admin, attempts)
    people = {**region["people"], "pnew": ("townB1", "teacher", token)}
    view = (
        await client.get("/v1/assessments/quiz/aggregates", params={"unit": "cityB"}, headers=analyst)
    ).json()
    _assert_cell(view["cell"], documents, [p for p, (u, _, _) in people.items() if u in ("cityB", "townB1")])
    split, counted = await _rollup_units(owner_url, region["id"])
    assert "townB1" in counted and "townB1" not in split
    await _check_in_step(client, admin)

    # the empty child deleted: countyA1 is a leaf again, compact, and answers as before
    assert (await client.delete("/v1/org-units/townA11", headers=admin)).status_code == 204
    split, _ = await _rollup_units(owner_url, region["id"])
    assert "countyA1" not in split
    now = await answers()
    unchanged = [*range(4, 8), 10, 11, 12, 13, 14]  # countyA1's subtree and trend, cityA's drill-downs
    assert [now[i] for i in unchanged] == [compact[i] for i in unchanged]
    await _check_in_step(client, admin)

    # townB1 moves under countyA1 (a leaf counting people): countyA1 is split, cityB (no child left) compact
    assert (
        await client.post("/v1/org-units/townB1/move", json={"parent_code": "countyA1"}, headers=admin)
    ).status_code == 200
    split, _ = await _rollup_units(owner_url, region["id"])
    assert "countyA1" in split and "cityB" not in split
    view = (
        await client.get(
            "/v1/assessments/quiz/aggregates",
            params={"unit": "countyA1", "category": "teacher"},
            headers=analyst,
        )
    ).json()
    assert view["cell"]["suppressed"] or view["cell"]["n"] == 1
    await _check_in_step(client, admin)
    rebuilt = await client.post(
        "/v1/assessments/quiz/aggregate-jobs", params={"kind": "rebuild"}, headers=admin
    )
    job = await _settled(client, admin, f"/v1/assessments/quiz/aggregate-jobs/{rebuilt.json()['id']}")
    # cityB has no children left: the rebuild makes it compact (its split rows deleted), nothing else
    written = {k: v for k, v in job["result"].items() if k.endswith(("_deleted", "_updated", "_inserted"))}
    assert written["rollup_rows_inserted"] == written["rollup_rows_updated"] == 0, written
    assert written["results_inserted"] == written["results_updated"] == written["results_deleted"] == 0, (
        written
    )
    await _check_in_step(client, admin)
    assert _in(region, {"cityB"}) and people["pnew"][0] == "townB1"
