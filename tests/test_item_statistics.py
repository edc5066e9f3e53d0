"""Item statistics: the streaming accumulators against direct formulas, and the job over HTTP."""

from __future__ import annotations

import asyncio
import random

import pytest

from service.scoring.statistics import _Dimension, _Moments, cronbach_alpha, pearson
from tests.delivery_setup import delivery_tenant


def _direct_alpha(rows):
    k = len(rows[0])

    def var(values):
        m = sum(values) / len(values)
        return sum((v - m) ** 2 for v in values) / (len(values) - 1)

    return k / (k - 1) * (1 - sum(var([r[j] for r in rows]) for j in range(k)) / var([sum(r) for r in rows]))


def test_alpha_and_alpha_if_deleted_match_the_textbook_formula():
    rng = random.Random(7)
    rows, dimension = [], _Dimension()
    for _ in range(150):
        ability = rng.random()
        row = [min(1.0, max(0.0, ability + rng.gauss(0, 0.25))) for _ in range(4)]
        rows.append(row)
        dimension.add({f"i{j}": v for j, v in enumerate(row)})
    reliability = dimension.reliability("D")
    assert reliability.alpha == pytest.approx(_direct_alpha(rows)) == pytest.approx(cronbach_alpha(rows))
    for j, deleted in enumerate(reliability.alpha_if_deleted):
        assert deleted.alpha == pytest.approx(_direct_alpha([[v for i, v in enumerate(r) if i != j] for r in rows]))


def test_pearson_and_degenerate_cases():
    # deviations x: -.5 .5 -.5 .5, y: -.3 .4 -.4 .3; sxy = .7, sxx = 1, syy = .5: r = .7 / sqrt(.5)
    assert pearson([0, 1, 0, 1], [0.2, 0.9, 0.1, 0.8]) == pytest.approx(0.7 / 0.5 ** 0.5)
    assert pearson([1, 1, 1], [0.1, 0.5, 0.9]) is None  # no variance in the item
    assert cronbach_alpha([[1, 1], [1, 1]]) is None
    m = _Moments()
    m.add(1.0, 2.0)
    assert m.correlation() is None


async def test_the_statistics_job_over_http(client, service_keys):
    """High scorers get T-SC-1 wrong, low scorers right: it is flagged with negative discrimination."""
    tenant = await delivery_tenant(client, service_keys, slug="stats-region", people=4)
    strong = {"T-MC-1": {"choices": ["a", "d"]}, "T-SJT-BEST": {"choice": "d"}, "T-LK-1": {"value": 1},
              "T-ORD-1": {"order": ["b", "d", "a", "c"]}}
    weak = {"T-MC-1": {"choices": ["b", "c"]}, "T-LK-1": {"value": 5}}
    plans = [({"T-SC-1": {"choice": "b"}} | strong), ({"T-SC-1": {"choice": "a"}} | strong),
             ({"T-SC-1": {"choice": "c"}} | weak), {"T-SC-1": {"choice": "c"}}]
    for me, plan in zip(tenant["candidates"], plans, strict=True):
        attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()["attempt"]["id"]
        await client.post(f"/v1/me/attempts/{attempt}/answers", headers=me, json={"answers": [
            {"item": ref, "revision": 1, "answer": answer} for ref, answer in plan.items()]})
        await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)

    admin = tenant["admin"]
    assert (await client.get("/v1/assessments/quiz/item-statistics", headers=admin)).status_code == 404
    started = await client.post("/v1/assessments/quiz/item-statistics", headers=admin)
    assert started.status_code == 202 and started.json()["total"] == 4
    for _ in range(100):
        run = (await client.get("/v1/assessments/quiz/item-statistics", headers=admin)).json()
        if run["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "done" and run["processed"] == 4
    items = {item["item"]: item for item in run["result"]["items"]}
    single = items["T-SC-1"]
    assert (single["n"], single["facility"], single["omission_rate"]) == (4, 0.5, 0.0)
    assert single["option_shares"] == {"a": 0.25, "b": 0.25, "c": 0.5}
    assert single["discrimination"] < 0 and single["flagged"]
    assert items["T-ORD-1"]["omission_rate"] == 0.5 and not items["T-ORD-1"]["flagged"]
    assert items["T-OR-1"]["omission_rate"] == 1.0 and items["T-OR-1"]["discrimination"] is None
    dimensions = {d["dimension"]: d for d in run["result"]["dimensions"]}
    assert set(dimensions) == {"AK", "HMC", "ES"} and dimensions["HMC"]["attempts"] == 4
