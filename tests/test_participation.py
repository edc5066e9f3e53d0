"""Participation of a running sitting over HTTP: counts per unit down a small tree from the tallies the
triggers keep (started, submitted, not started, named people, moves), who has not started (JSON, CSV
with a BOM, XLSX read back with openpyxl), and the role guards."""

from __future__ import annotations

import copy
import io
from typing import Any

import httpx
import openpyxl
import pytest

from service.auth.keys import ServiceKeys
from tests.delivery_setup import ITEMS, assessment_body, publish_assessment, publish_framework
from tests.helpers import make_tenant, user

PROBLEM = "application/problem+json"


async def sitting(client: httpx.AsyncClient, keys: ServiceKeys) -> dict[str, Any]:
    """prov > (north > north-town, south); the audience is north's subtree plus s1 by name.

    north-town: t1 submitted, t2 in progress, t3 not started; north itself: n1 not started, n2 inactive;
    south: s1 (named) submitted, s2 (not in the audience) submitted; nowhere: x1 (named, no unit)."""
    tenant = await make_tenant(client, keys, "sitting-region")
    admin = tenant["admin"]
    for unit in (
        {"code": "prov", "name": "Province"},
        {"code": "north", "name": "North 北", "parent_code": "prov"},
        {"code": "north-town", "name": "North town", "parent_code": "north"},
        {"code": "south", "name": "South", "parent_code": "prov"},
    ):
        assert (await client.post("/v1/org-units", json=unit, headers=admin)).status_code == 201
    people = [
        ("t1", "north-town", "张三"),
        ("t2", "north-town", None),
        ("t3", "north-town", "李四"),
        ("n1", "north", "王五"),
        ("n2", "north", None),
        ("s1", "south", None),
        ("s2", "south", None),
        ("x1", None, "No unit"),
    ]
    rows = [
        {"external_id": e, "org_unit_code": u, "category": "civil_servant", "display_name": n}
        for e, u, n in people
    ]
    bulk = await client.post("/v1/people/bulk", json={"people": rows}, headers=admin)
    assert bulk.status_code == 200, bulk.text
    assert (await client.patch("/v1/people/n2", json={"active": False}, headers=admin)).status_code == 200
    await publish_framework(client, admin)
    imported = await client.post("/v1/items/import", json={"items": copy.deepcopy(ITEMS)}, headers=admin)
    assert imported.status_code == 200, imported.text
    body = assessment_body(audience={"org_units": ["north"], "people": ["s1", "x1"]})
    await publish_assessment(client, admin, body)
    other = assessment_body(code="other", audience={"org_units": ["prov"]})
    await publish_assessment(client, admin, other)

    async def start(who: str, code: str = "quiz") -> str:
        me = user(keys, tenant["id"], ["candidate"], sub=who)
        started = await client.post(f"/v1/me/assessments/{code}/attempts", json={}, headers=me)
        assert started.status_code == 201, started.text
        return started.json()["attempt"]["id"]  # type: ignore[no-any-return]

    async def submit(who: str, attempt: str) -> None:
        me = user(keys, tenant["id"], ["candidate"], sub=who)
        done = await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
        assert done.status_code == 200, done.text

    await submit("t1", await start("t1"))
    await start("t2")
    await submit("s1", await start("s1"))
    await submit("s2", await start("s2", "other"))  # another assessment: not this one's
    return tenant


def _counts(row: dict[str, Any]) -> tuple[int, int, int, int, int]:
    c = row.get("counts", row)
    return c["audience"], c["started"], c["in_progress"], c["submitted"], c["not_started"]


async def test_participation_per_unit_down_the_tree(client: httpx.AsyncClient, service_keys: ServiceKeys):
    tenant = await sitting(client, service_keys)
    admin = tenant["admin"]

    top = await client.get("/v1/assessments/quiz/participation", headers=admin)
    assert top.status_code == 200, top.text
    top = top.json()
    assert top["unit"] is None and top["path"] == []
    # prov: t1, t2, t3, n1 (north) and s1 (named); x1 has no unit.
    assert [(r["unit"], _counts(r)) for r in top["rows"]] == [
        ("prov", (5, 3, 1, 2, 2)),
        (None, (1, 0, 0, 0, 1)),
    ]
    assert top["rows"][0]["has_children"] is True and _counts(top["total"]) == (6, 3, 1, 2, 3)

    prov = (await client.get("/v1/assessments/quiz/participation?unit=prov", headers=admin)).json()
    assert prov["unit"] == {"code": "prov", "name": "Province"}
    assert [(r["unit"], _counts(r)) for r in prov["rows"]] == [
        ("north", (4, 2, 1, 1, 2)),
        ("south", (1, 1, 0, 1, 0)),  # s1 by name; s2 is not in the audience
    ]
    north = (await client.get("/v1/assessments/quiz/participation?unit=north", headers=admin)).json()
    assert [u["code"] for u in north["path"]] == ["prov", "north"]
    assert [(r["unit"], r["has_children"], _counts(r)) for r in north["rows"]] == [
        ("north-town", False, (3, 2, 1, 1, 1)),
        (None, False, (1, 0, 0, 0, 1)),  # n1, directly in north (n2 is inactive)
    ]

    # A move carries a person's participation along: t1 (submitted) to north itself, and n2 back.
    assert (
        await client.patch("/v1/people/t1", json={"org_unit_code": "north"}, headers=admin)
    ).status_code == 200
    assert (await client.patch("/v1/people/n2", json={"active": True}, headers=admin)).status_code == 200
    north = (await client.get("/v1/assessments/quiz/participation?unit=north", headers=admin)).json()
    assert [(r["unit"], _counts(r)) for r in north["rows"]] == [
        ("north-town", (2, 1, 1, 0, 1)),
        (None, (3, 1, 0, 1, 2)),
    ]
    # Out of the audience: t1 moved south is no longer counted anywhere (the audience is north's subtree).
    await client.patch("/v1/people/t1", json={"org_unit_code": "south"}, headers=admin)
    prov = (await client.get("/v1/assessments/quiz/participation?unit=prov", headers=admin)).json()
    assert [(r["unit"], _counts(r)) for r in prov["rows"]] == [
        ("north", (4, 1, 1, 0, 3)),
        ("south", (1, 1, 0, 1, 0)),
    ]

    # Who has not started in north: names and external ids, by unit then id.
    listed = await client.get("/v1/assessments/quiz/participation/not-started?unit=north", headers=admin)
    assert listed.status_code == 200, listed.text
    assert [(p["external_id"], p["name"], p["unit"]) for p in listed.json()["items"]] == [
        ("n1", "王五", "north"),
        ("n2", None, "north"),
        ("t3", "李四", "north-town"),
    ]
    csv = await client.get(
        "/v1/assessments/quiz/participation/not-started.csv?unit=north&bom=true", headers=admin
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith("\ufeff".encode())
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "external_id,name,unit,unit_name" and lines[1] == "n1,王五,north,North 北"
    xlsx = await client.get(
        "/v1/assessments/quiz/participation/not-started.xlsx?unit=north",
        headers={**admin, "Accept-Language": "en"},
    )
    assert xlsx.status_code == 200, xlsx.text
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["External id", "Name", "Org unit code", "Org unit"]
    assert rows[1] == ["external_id", "name", "unit", "unit_name"]
    assert rows[2:] == [
        ["n1", "王五", "north", "North 北"],
        ["n2", None, "north", "North 北"],
        ["t3", "李四", "north-town", "North town"],
    ]
    everyone = (await client.get("/v1/assessments/quiz/participation/not-started", headers=admin)).json()
    assert [p["external_id"] for p in everyone["items"]] == ["x1", "n1", "n2", "t3"]


async def test_participation_guards_and_problems(client: httpx.AsyncClient, service_keys: ServiceKeys):
    tenant = await sitting(client, service_keys)
    author = user(service_keys, tenant["id"], ["author"], sub="author-1")
    analyst = user(service_keys, tenant["id"], ["analyst"], sub="analyst-1")
    rater = user(service_keys, tenant["id"], ["rater"], sub="rater-1")
    for who in (author, analyst):
        assert (await client.get("/v1/assessments/quiz/participation", headers=who)).status_code == 200
        for suffix in ("", ".csv", ".xlsx"):
            refused = await client.get(f"/v1/assessments/quiz/participation/not-started{suffix}", headers=who)
            assert refused.status_code == 403 and refused.headers["content-type"].startswith(PROBLEM)
    seen = await client.get("/v1/assessments/quiz/participation", headers=rater)
    assert seen.status_code == 403 and seen.headers["content-type"].startswith(PROBLEM)

    missing = await client.get("/v1/assessments/nowhere/participation", headers=tenant["admin"])
    assert missing.status_code == 404 and missing.json()["type"] == "urn:assess:problem:not-found"
    bad_unit = await client.get("/v1/assessments/quiz/participation?unit=nowhere", headers=tenant["admin"])
    assert bad_unit.status_code == 422 and bad_unit.headers["content-type"].startswith(PROBLEM)
    assert [e.get("parameter") for e in bad_unit.json()["errors"]] == ["unit"]
    malformed = await client.get("/v1/assessments/quiz/participation?unit=a%20b", headers=tenant["admin"])
    assert malformed.status_code == 400 and malformed.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize("audience", [{"categories": ["teacher"]}, {"org_units": ["gone"]}])
async def test_category_audience_and_a_unit_the_tree_lacks(
    client: httpx.AsyncClient, service_keys: ServiceKeys, audience: dict[str, Any]
):
    """A category-only audience reaches everyone of that category (no unit too); a listed unit the tree
    does not have reaches nobody, as for a candidate."""
    tenant = await make_tenant(client, service_keys, "category-region")
    admin = tenant["admin"]
    assert (
        await client.post("/v1/org-units", json={"code": "root", "name": "Root"}, headers=admin)
    ).status_code == 201
    rows = [
        {"external_id": "a", "org_unit_code": "root", "category": "teacher"},
        {"external_id": "b", "org_unit_code": "root", "category": "civil_servant"},
        {"external_id": "c", "category": "teacher"},
    ]
    assert (await client.post("/v1/people/bulk", json={"people": rows}, headers=admin)).status_code == 200
    await publish_framework(client, admin)
    assert (
        await client.post("/v1/items/import", json={"items": copy.deepcopy(ITEMS)}, headers=admin)
    ).status_code == 200
    created = await client.post("/v1/assessments", json=assessment_body(audience=audience), headers=admin)
    assert created.status_code == 201, created.text  # a draft: participation answers all the same
    found = (await client.get("/v1/assessments/quiz/participation", headers=admin)).json()
    if "categories" in audience:
        assert [(r["unit"], r["counts"]["audience"]) for r in found["rows"]] == [("root", 1), (None, 1)]
    else:
        assert found["total"]["audience"] == 0
