"""People: upsert by external id, bulk upsert, filtered keyset lists, roles, and the candidate's /v1/me."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from typing import Any

import httpx
import pytest

from tests.conftest import serving
from tests.harness import app_for, snapshot
from tests.helpers import all_pages, make_tenant, user

PROBLEM = "application/problem+json"
CATEGORIES = ["leading_cadre", "civil_servant", "teacher", "professional_technical", "other", "unspecified"]


@pytest.fixture
@snapshot
async def tenant(client: httpx.AsyncClient, service_keys: Any) -> dict[str, Any]:
    tenant = await make_tenant(client, service_keys, "people-region")
    admin = tenant["admin"]
    #  P ── C1 ── K1
    #    └─ C2
    for code, parent in [("P", None), ("C1", "P"), ("K1", "C1"), ("C2", "P")]:
        response = await client.post(
            "/v1/org-units", json={"code": code, "name": code, "parent_code": parent}, headers=admin
        )
        assert response.status_code == 201, response.text
    return tenant


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys() and problem["status"] == status
    return problem


def pointers(problem: dict[str, Any]) -> list[str]:
    return [e["pointer"] for e in problem.get("errors", [])]


async def list_all(
    client: httpx.AsyncClient, headers: dict[str, str], limit: int = 500, **params: Any
) -> list[dict[str, Any]]:
    return await all_pages(client, "/v1/people", headers, limit, **params)


async def ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    return [p["external_id"] for p in await list_all(client, headers, **params)]


async def test_put_creates_then_replaces(client, tenant):
    admin = tenant["admin"]
    created = await client.put(
        "/v1/people/T-001",
        json={"org_unit_code": "K1", "category": "teacher", "display_name": "Li Wei"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    person = created.json()
    assert {k: person[k] for k in ("external_id", "org_unit_code", "category", "display_name", "active")} == {
        "external_id": "T-001",
        "org_unit_code": "K1",
        "category": "teacher",
        "display_name": "Li Wei",
        "active": True,
    }

    got = await client.get("/v1/people/T-001", headers=admin)
    assert got.status_code == 200 and got.json() == person

    replaced = await client.put(
        "/v1/people/T-001", json={"org_unit_code": "C2", "active": False}, headers=admin
    )
    assert replaced.status_code == 200, replaced.text
    after = replaced.json()
    # a replacement: fields not sent go back to their defaults
    assert (after["id"], after["created_at"]) == (person["id"], person["created_at"])
    assert (after["org_unit_code"], after["category"], after["display_name"], after["active"]) == (
        "C2",
        "unspecified",
        None,
        False,
    )
    assert after["updated_at"] >= person["updated_at"]
    assert (await client.get("/v1/people/T-001", headers=admin)).json() == after

    minimal = await client.put("/v1/people/someone@example.org", json={}, headers=admin)
    assert minimal.status_code == 201
    assert (minimal.json()["org_unit_code"], minimal.json()["category"], minimal.json()["active"]) == (
        None,
        "unspecified",
        True,
    )


async def test_get_unknown_person_is_404(client, tenant):
    assert_problem(await client.get("/v1/people/nobody", headers=tenant["admin"]), 404)


async def test_invalid_external_id_in_path_is_400(client, tenant):
    admin = tenant["admin"]
    for bad in ("a%20b", "-dash-first", "x" * 129, "%C3%BC"):
        problem = assert_problem(await client.put(f"/v1/people/{bad}", json={}, headers=admin), 400)
        assert problem["errors"][0]["parameter"] == "external_id", problem
        problem = assert_problem(await client.get(f"/v1/people/{bad}", headers=admin), 400)
        assert problem["errors"][0]["parameter"] == "external_id", problem
    assert (await client.put(f"/v1/people/{'x' * 128}", json={}, headers=admin)).status_code == 201
    assert await ids(client, admin) == ["x" * 128]


async def test_unknown_org_unit_is_422(client, tenant):
    admin = tenant["admin"]
    response = await client.put("/v1/people/p1", json={"org_unit_code": "GHOST"}, headers=admin)
    assert pointers(assert_problem(response, 422)) == ["/org_unit_code"]
    assert_problem(await client.get("/v1/people/p1", headers=admin), 404)
    # nor does a replacement pointing at an unknown unit change anything
    assert (await client.put("/v1/people/p1", json={"org_unit_code": "C1"}, headers=admin)).status_code == 201
    assert_problem(
        await client.put("/v1/people/p1", json={"org_unit_code": "GHOST", "active": False}, headers=admin),
        422,
    )
    person = (await client.get("/v1/people/p1", headers=admin)).json()
    assert (person["org_unit_code"], person["active"]) == ("C1", True)


def bulk_rows(n: int, *, version: int) -> list[dict[str, Any]]:
    units = ["P", "C1", "K1", "C2", None]
    return [
        {
            "external_id": f"p{i:05d}",
            "org_unit_code": units[(i + version) % 5],
            "category": CATEGORIES[(i + version) % 6],
            "display_name": f"Person {i} v{version}",
            "active": (i + version) % 7 != 0,
        }
        for i in range(n)
    ]


async def test_bulk_upsert_5000(client, tenant):
    admin = tenant["admin"]
    first = await client.post("/v1/people/bulk", json={"people": bulk_rows(5000, version=0)}, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json() == {"created": 5000, "updated": 0}

    changed = bulk_rows(5000, version=1)
    second = await client.post("/v1/people/bulk", json={"people": changed}, headers=admin)
    assert second.status_code == 200, second.text
    assert second.json() == {"created": 0, "updated": 5000}

    everyone = await list_all(client, admin)
    assert len(everyone) == 5000
    want = {r["external_id"]: r for r in changed}
    for person in everyone:
        row = want[person["external_id"]]
        assert (person["org_unit_code"], person["category"], person["display_name"], person["active"]) == (
            row["org_unit_code"],
            row["category"],
            row["display_name"],
            row["active"],
        )

    mixed = bulk_rows(5002, version=2)[4998:]
    third = await client.post("/v1/people/bulk", json={"people": mixed}, headers=admin)
    assert third.json() == {"created": 2, "updated": 2}


async def test_bulk_with_bad_rows_writes_nothing(client, tenant):
    admin = tenant["admin"]
    assert (
        await client.put("/v1/people/p00001", json={"display_name": "before"}, headers=admin)
    ).status_code == 201
    rows = bulk_rows(50, version=0)
    rows[7]["org_unit_code"] = "GHOST"
    rows[31]["external_id"] = rows[4]["external_id"]
    response = await client.post("/v1/people/bulk", json={"people": rows}, headers=admin)
    problem = assert_problem(response, 422)
    assert sorted(pointers(problem)) == ["/people/31/external_id", "/people/7/org_unit_code"]
    assert await ids(client, admin) == ["p00001"]
    assert (await client.get("/v1/people/p00001", headers=admin)).json()["display_name"] == "before"


async def test_bulk_limits(client, tenant):
    admin = tenant["admin"]
    assert pointers(
        assert_problem(await client.post("/v1/people/bulk", json={"people": []}, headers=admin), 422)
    ) == ["/people"]
    too_many = [{"external_id": f"e{i}"} for i in range(10_001)]
    assert pointers(
        assert_problem(await client.post("/v1/people/bulk", json={"people": too_many}, headers=admin), 422)
    ) == ["/people"]
    bad_id = [{"external_id": "ok"}, {"external_id": "not ok"}]
    problem = assert_problem(
        await client.post("/v1/people/bulk", json={"people": bad_id}, headers=admin), 400
    )
    assert pointers(problem) == ["/people/1/external_id"]
    assert await ids(client, admin) == []


async def test_list_filters(client, tenant):
    admin = tenant["admin"]
    people = [
        ("a-province", "P", "leading_cadre", True),
        ("b-city1", "C1", "civil_servant", True),
        ("c-county1", "K1", "teacher", True),
        ("d-county1-off", "K1", "teacher", False),
        ("e-city2", "C2", "teacher", True),
        ("f-nowhere", None, "other", False),
    ]
    rows = [{"external_id": e, "org_unit_code": u, "category": c, "active": a} for e, u, c, a in people]
    assert (await client.post("/v1/people/bulk", json={"people": rows}, headers=admin)).json()["created"] == 6

    assert await ids(client, admin) == [p[0] for p in people]
    assert await ids(client, admin, under="P") == [
        "a-province",
        "b-city1",
        "c-county1",
        "d-county1-off",
        "e-city2",
    ]
    assert await ids(client, admin, under="C1") == ["b-city1", "c-county1", "d-county1-off"]
    assert await ids(client, admin, under="K1") == ["c-county1", "d-county1-off"]
    assert await ids(client, admin, under="C2") == ["e-city2"]
    assert await ids(client, admin, category="teacher") == ["c-county1", "d-county1-off", "e-city2"]
    assert await ids(client, admin, category="professional_technical") == []
    assert await ids(client, admin, active="false") == ["d-county1-off", "f-nowhere"]
    assert await ids(client, admin, active="true") == ["a-province", "b-city1", "c-county1", "e-city2"]
    assert await ids(client, admin, under="C1", category="teacher", active="false") == ["d-county1-off"]
    assert_problem(await client.get("/v1/people", params={"under": "GHOST"}, headers=admin), 404)

    # after a move of C1 under C2, ?under=C2 follows the tree
    moved = await client.post("/v1/org-units/C1/move", json={"parent_code": "C2"}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert await ids(client, admin, under="C2") == ["b-city1", "c-county1", "d-county1-off", "e-city2"]


async def test_keyset_pagination_returns_everyone_once_in_order(client, tenant):
    admin = tenant["admin"]
    rows = bulk_rows(1234, version=0)
    rows += [{"external_id": e} for e in ("A.1", "Z:9", "a@b", "a-b", "a_b", "a.b", "0", "9z")]
    assert (await client.post("/v1/people/bulk", json={"people": rows}, headers=admin)).status_code == 200
    expected = sorted(r["external_id"] for r in rows)

    pages = 0
    seen: list[str] = []
    cursor = None
    while True:
        response = await client.get(
            "/v1/people", params={"limit": 97, **({"cursor": cursor} if cursor else {})}, headers=admin
        )
        page = response.json()
        seen += [p["external_id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == len(expected) // 97 + 1

    # a filtered list pages the same way
    want = sorted(r["external_id"] for r in rows if r.get("org_unit_code") in ("C1", "K1"))
    assert await ids(client, admin, limit=13, under="C1") == want

    # when the total is an exact multiple of the page size, the last full page still hands out a cursor,
    # and the page after it is empty and ends the list
    assert len(expected) == 3 * 414
    got: list[str] = []
    cursor = None
    for _ in range(3):
        page = (
            await client.get(
                "/v1/people", params={"limit": 414, **({"cursor": cursor} if cursor else {})}, headers=admin
            )
        ).json()
        assert len(page["items"]) == 414 and page["next_cursor"]
        got += [p["external_id"] for p in page["items"]]
        cursor = page["next_cursor"]
    assert got == expected
    last = (await client.get("/v1/people", params={"limit": 414, "cursor": cursor}, headers=admin)).json()
    assert last == {"items": [], "next_cursor": None}


async def test_roles(client, service_keys, tenant):
    tid = tenant["id"]
    assert (await client.put("/v1/people/p1", json={}, headers=tenant["admin"])).status_code == 201
    candidate = user(service_keys, tid, ["candidate"], sub="p1")
    analyst = user(service_keys, tid, ["analyst"])
    author = user(service_keys, tid, ["author"])
    rater = user(service_keys, tid, ["rater"])
    hr = user(service_keys, tid, ["hr_client"])

    for headers in (candidate, rater):
        assert_problem(await client.get("/v1/people", headers=headers), 403)
        assert_problem(await client.get("/v1/people/p1", headers=headers), 403)
        assert_problem(await client.put("/v1/people/p1", json={}, headers=headers), 403)

    for headers in (analyst, author):
        assert (await client.get("/v1/people", headers=headers)).status_code == 200
        assert (await client.get("/v1/people/p1", headers=headers)).status_code == 200
        assert_problem(await client.put("/v1/people/p2", json={}, headers=headers), 403)
        assert_problem(
            await client.post("/v1/people/bulk", json={"people": [{"external_id": "p3"}]}, headers=headers),
            403,
        )
        assert_problem(
            await client.post("/v1/org-units", json={"code": "X", "name": "x"}, headers=headers), 403
        )

    assert (await client.put("/v1/people/p2", json={}, headers=hr)).status_code == 201
    assert await ids(client, tenant["admin"]) == ["p1", "p2"]
    assert_problem(await client.get("/v1/people"), 401)


async def test_me(client, service_keys, tenant):
    admin, tid = tenant["admin"], tenant["id"]
    assert (
        await client.put(
            "/v1/people/cadre-1", json={"org_unit_code": "K1", "category": "leading_cadre"}, headers=admin
        )
    ).status_code == 201
    me = await client.get("/v1/me", headers=user(service_keys, tid, ["candidate"], sub="cadre-1"))
    assert me.status_code == 200, me.text
    assert (me.json()["external_id"], me.json()["org_unit_code"], me.json()["category"]) == (
        "cadre-1",
        "K1",
        "leading_cadre",
    )

    assert (await client.put("/v1/people/cadre-1", json={"active": False}, headers=admin)).status_code == 200
    assert_problem(
        await client.get("/v1/me", headers=user(service_keys, tid, ["candidate"], sub="cadre-1")), 403
    )

    assert_problem(
        await client.get("/v1/me", headers=user(service_keys, tid, ["candidate"], sub="stranger")), 403
    )
    assert_problem(await client.get("/v1/people/stranger", headers=admin), 404)  # not provisioned by asking

    assert_problem(await client.get("/v1/me", headers=admin), 403)  # not a candidate


async def test_me_auto_provisions_when_the_tenant_allows(client, service_keys):
    tenant = await make_tenant(client, service_keys, "open-region", auto_provision_people=True)
    me = await client.get("/v1/me", headers=user(service_keys, tenant["id"], ["candidate"], sub="newcomer"))
    assert me.status_code == 200, me.text
    assert (me.json()["external_id"], me.json()["active"]) == ("newcomer", True)
    assert await ids(client, tenant["admin"]) == ["newcomer"]


async def test_people_are_isolated_between_tenants(client, service_keys, tenant):
    assert (await client.put("/v1/people/p1", json={}, headers=tenant["admin"])).status_code == 201
    other = await make_tenant(client, service_keys, "other-region")
    assert await ids(client, other["admin"]) == []
    assert_problem(await client.get("/v1/people/p1", headers=other["admin"]), 404)
    assert_problem(
        await client.get("/v1/me", headers=user(service_keys, other["id"], ["candidate"], sub="p1")), 403
    )
    # the same external id in another tenant is another person
    assert (await client.put("/v1/people/p1", json={}, headers=other["admin"])).status_code == 201


async def test_every_person_who_can_sign_in_can_be_deactivated(client, service_keys):
    tenant = await make_tenant(client, service_keys, "open-region", auto_provision_people=True)
    candidate = user(service_keys, tenant["id"], ["candidate"], sub="has space")
    me = await client.get("/v1/me", headers=candidate)
    if me.status_code == 200:
        external_id = me.json()["external_id"]
        response = await client.put(
            f"/v1/people/{external_id}", json={"active": False}, headers=tenant["admin"]
        )
        assert response.status_code == 200, response.text
        assert_problem(await client.get("/v1/me", headers=candidate), 403)
    else:
        assert_problem(me, 403)


class _KeepRecords(logging.Handler):
    """Holds on to log records, as error trackers and log buffers do."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_refused_sign_ins_do_not_exhaust_the_pool(settings, service_keys):
    app = app_for(settings)
    errors_log = logging.getLogger("assess.errors")
    keep = _KeepRecords()
    errors_log.addHandler(keep)
    errors_log.propagate = False
    async with serving(app) as http:
        pool = app.state.runtime.pool
        try:
            tenant = await make_tenant(http, service_keys, "open-region", auto_provision_people=True)
            # a subject longer than external_id allows: the provisioning INSERT fails inside the dependency
            candidate = user(service_keys, tenant["id"], ["candidate"], sub="s" * 200)
            for _ in range(settings.pool_max + 2):
                refused = await asyncio.wait_for(http.get("/v1/me", headers=candidate), 2)
                assert refused.status_code == 403, refused.text  # person-not-provisioned
            listed = await asyncio.wait_for(http.get("/v1/people", headers=tenant["admin"]), 2)
            assert listed.status_code == 200
        finally:
            # let the leaked generators be finalised so the pool can close
            errors_log.removeHandler(keep)
            errors_log.propagate = True
            keep.records.clear()
            # a released connection is reset asynchronously: wait (bounded) until every one is back; a leaked
            # connection never comes back, so the bound only decides how long a failure takes to show
            for _ in range(200):
                gc.collect()
                if pool.get_idle_size() == pool.get_size():
                    break
                await asyncio.sleep(0.05)
            assert pool.get_idle_size() == pool.get_size()


MERGE_PATCH = "application/merge-patch+json"


async def test_patch_changes_only_the_fields_sent(client, tenant):
    """PATCH is a JSON merge patch (RFC 7396): moving someone keeps their category and name,
    deactivating keeps their unit; null removes the unit or the display name; PUT still replaces."""
    admin = tenant["admin"]
    created = await client.put(
        "/v1/people/T-9",
        json={"org_unit_code": "K1", "category": "teacher", "display_name": "Li Wei"},
        headers=admin,
    )
    assert created.status_code == 201, created.text

    async def patch(body: Any, content_type: str = MERGE_PATCH) -> httpx.Response:
        return await client.patch(
            "/v1/people/T-9", content=json.dumps(body), headers={**admin, "Content-Type": content_type}
        )

    def fields(person: dict[str, Any]) -> tuple[Any, ...]:
        return person["org_unit_code"], person["category"], person["display_name"], person["active"]

    moved = await patch({"org_unit_code": "C2"})
    assert moved.status_code == 200, moved.text
    assert fields(moved.json()) == ("C2", "teacher", "Li Wei", True)
    assert moved.json()["id"] == created.json()["id"]
    deactivated = await patch({"active": False}, "application/json")
    assert fields(deactivated.json()) == ("C2", "teacher", "Li Wei", False)
    assert fields((await patch({})).json()) == ("C2", "teacher", "Li Wei", False)
    cleared = await patch({"display_name": None, "org_unit_code": None, "category": "other"})
    assert fields(cleared.json()) == (None, "other", None, False)
    assert fields((await client.get("/v1/people/T-9", headers=admin)).json()) == (None, "other", None, False)

    # required fields cannot be removed; every such field is named and nothing changes
    refused = assert_problem(await patch({"category": None, "active": None, "display_name": "X"}), 422)
    assert sorted(pointers(refused)) == ["/active", "/category"]
    assert pointers(assert_problem(await patch({"org_unit_code": "GHOST"}), 422)) == ["/org_unit_code"]
    assert pointers(assert_problem(await patch({"category": "bogus"}), 400)) == ["/category"]
    assert pointers(assert_problem(await patch({"external_id": "other"}), 400)) == ["/external_id"]
    assert fields((await client.get("/v1/people/T-9", headers=admin)).json()) == (None, "other", None, False)

    # a patch does not create (PUT does)
    missing = await client.patch("/v1/people/nobody", json={"active": False}, headers=admin)
    assert_problem(missing, 404)
    assert_problem(await client.get("/v1/people/nobody", headers=admin), 404)

    # PUT stays a full replacement: what is left out takes its default
    replaced = await client.put("/v1/people/T-9", json={"org_unit_code": "K1"}, headers=admin)
    assert fields(replaced.json()) == ("K1", "unspecified", None, True)


async def test_patch_needs_write_rights(client, service_keys, tenant):
    await client.put("/v1/people/T-10", json={}, headers=tenant["admin"])
    author = user(service_keys, tenant["id"], ["author"])
    assert_problem(await client.patch("/v1/people/T-10", json={"active": False}, headers=author), 403)
