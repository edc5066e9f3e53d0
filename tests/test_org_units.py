"""The org-unit tree: create, read, rename, move subtrees, delete, bulk import, list and filter."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from tests.helpers import all_pages, make_tenant

PROBLEM = "application/problem+json"


@pytest.fixture
async def admin(client: httpx.AsyncClient, service_keys: Any) -> dict[str, str]:
    return (await make_tenant(client, service_keys, "tree-region"))["admin"]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys() and problem["status"] == status
    return problem


def pointers(problem: dict[str, Any]) -> list[str]:
    return [e["pointer"] for e in problem.get("errors", [])]


async def create(
    client: httpx.AsyncClient, admin: dict[str, str], code: str, parent: str | None = None, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/org-units",
        json={"code": code, "name": fields.pop("name", f"Unit {code}"), "parent_code": parent, **fields},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def unit(client: httpx.AsyncClient, admin: dict[str, str], code: str) -> dict[str, Any]:
    response = await client.get(f"/v1/org-units/{code}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def list_all(
    client: httpx.AsyncClient, admin: dict[str, str], limit: int = 500, **params: Any
) -> list[dict[str, Any]]:
    """Every page of a list, following next_cursor; checks pages are disjoint and in code order."""
    items = await all_pages(client, "/v1/org-units", admin, limit, **params)
    codes = [u["code"] for u in items]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    return items


async def codes(client: httpx.AsyncClient, admin: dict[str, str], **params: Any) -> list[str]:
    return [u["code"] for u in await list_all(client, admin, **params)]


async def test_create_roots_and_children(client, admin):
    root = await create(client, admin, "P", level="province", name="Province")
    assert root["parent_code"] is None and root["depth"] == 0 and root["level"] == "province"
    assert root["name"] == "Province" and root["created_at"] and root["updated_at"]
    city = await create(client, admin, "P.C1", "P", level="city")
    county = await create(client, admin, "P.C1.K1", "P.C1", level="county")
    other_root = await create(client, admin, "Q")
    assert (city["parent_code"], city["depth"]) == ("P", 1)
    assert (county["parent_code"], county["depth"]) == ("P.C1", 2)
    assert other_root["depth"] == 0 and other_root["level"] is None

    got = await unit(client, admin, "P.C1.K1")
    assert got == county
    assert await codes(client, admin) == ["P", "P.C1", "P.C1.K1", "Q"]


async def test_create_under_unknown_parent_is_422(client, admin):
    response = await client.post(
        "/v1/org-units", json={"code": "X", "name": "x", "parent_code": "NOPE"}, headers=admin
    )
    assert pointers(assert_problem(response, 422)) == ["/parent_code"]
    assert await codes(client, admin) == []


async def test_patch_changes_only_sent_fields(client, admin):
    await create(client, admin, "P", level="province", name="Province")
    before = await create(client, admin, "C", "P", level="city", name="City")

    renamed = await client.patch("/v1/org-units/C", json={"name": "Big City"}, headers=admin)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Big City" and renamed.json()["level"] == "city"
    assert renamed.json()["updated_at"] >= before["updated_at"]

    relevelled = (await client.patch("/v1/org-units/C", json={"level": "prefecture"}, headers=admin)).json()
    assert (relevelled["name"], relevelled["level"]) == ("Big City", "prefecture")

    cleared = (await client.patch("/v1/org-units/C", json={"level": None}, headers=admin)).json()
    assert (cleared["name"], cleared["level"]) == ("Big City", None)

    untouched = await client.patch("/v1/org-units/C", json={}, headers=admin)
    assert untouched.status_code == 200
    after = untouched.json()
    assert (
        after["name"],
        after["level"],
        after["parent_code"],
        after["depth"],
        after["id"],
        after["created_at"],
    ) == ("Big City", None, "P", 1, before["id"], before["created_at"])
    assert (await unit(client, admin, "P"))["name"] == "Province"


async def test_patch_refuses_null_name_and_unknown_unit(client, admin):
    await create(client, admin, "C", name="City")
    problem = assert_problem(await client.patch("/v1/org-units/C", json={"name": None}, headers=admin), 400)
    assert pointers(problem) == ["/name"]
    problem = assert_problem(
        await client.patch("/v1/org-units/C", json={"parent_code": "X"}, headers=admin), 400
    )
    assert pointers(problem) == ["/parent_code"]
    assert_problem(await client.patch("/v1/org-units/NOPE", json={"name": "n"}, headers=admin), 404)
    assert (await unit(client, admin, "C"))["name"] == "City"


async def _small_forest(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    #  A            B
    #  ├── A1       └── B1
    #  │   ├── A11
    #  │   │   └── A111
    #  │   └── A12
    #  └── A2
    for code, parent in [
        ("A", None),
        ("A1", "A"),
        ("A11", "A1"),
        ("A111", "A11"),
        ("A12", "A1"),
        ("A2", "A"),
        ("B", None),
        ("B1", "B"),
    ]:
        await create(client, admin, code, parent)


async def test_move_subtree(client, admin):
    await _small_forest(client, admin)
    assert await codes(client, admin, under="A") == ["A", "A1", "A11", "A111", "A12", "A2"]

    moved = await client.post("/v1/org-units/A1/move", json={"parent_code": "B1"}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["parent_code"], moved.json()["depth"]) == ("B1", 2)
    depths = {u["code"]: (u["parent_code"], u["depth"]) for u in await list_all(client, admin)}
    assert depths == {
        "A": (None, 0),
        "A2": ("A", 1),
        "B": (None, 0),
        "B1": ("B", 1),
        "A1": ("B1", 2),
        "A11": ("A1", 3),
        "A111": ("A11", 4),
        "A12": ("A1", 3),
    }
    assert await codes(client, admin, under="A") == ["A", "A2"]
    assert await codes(client, admin, under="B") == ["A1", "A11", "A111", "A12", "B", "B1"]
    assert await codes(client, admin, under="B1") == ["A1", "A11", "A111", "A12", "B1"]
    assert await codes(client, admin, under="A11") == ["A11", "A111"]
    assert await codes(client, admin, parent="B1") == ["A1"]
    assert await codes(client, admin, parent="A") == ["A2"]

    # and back up, shallower
    back = await client.post("/v1/org-units/A11/move", json={"parent_code": "A"}, headers=admin)
    assert (back.json()["parent_code"], back.json()["depth"]) == ("A", 1)
    assert (await unit(client, admin, "A111"))["depth"] == 2
    assert await codes(client, admin, under="A") == ["A", "A11", "A111", "A2"]
    assert await codes(client, admin, under="A1") == ["A1", "A12"]


async def test_move_whole_root_under_another_tree(client, admin):
    await _small_forest(client, admin)
    response = await client.post("/v1/org-units/A/move", json={"parent_code": "B"}, headers=admin)
    assert response.status_code == 200, response.text
    assert (await unit(client, admin, "A111"))["depth"] == 4
    assert len(await codes(client, admin, under="B")) == 8


async def test_move_to_root(client, admin):
    await _small_forest(client, admin)
    response = await client.post("/v1/org-units/A11/move", json={"parent_code": None}, headers=admin)
    assert response.status_code == 200, response.text
    assert (response.json()["parent_code"], response.json()["depth"]) == (None, 0)
    assert (await unit(client, admin, "A111"))["depth"] == 1
    assert await codes(client, admin, under="A") == ["A", "A1", "A12", "A2"]
    assert await codes(client, admin, under="A11") == ["A11", "A111"]


async def test_move_under_itself_or_descendant_is_422(client, admin):
    await _small_forest(client, admin)
    before = await list_all(client, admin)
    for target in ("A1", "A11", "A111", "A12"):
        response = await client.post("/v1/org-units/A1/move", json={"parent_code": target}, headers=admin)
        assert pointers(assert_problem(response, 422)) == ["/parent_code"], target
    response = await client.post("/v1/org-units/A1/move", json={"parent_code": "NOPE"}, headers=admin)
    assert pointers(assert_problem(response, 422)) == ["/parent_code"]
    assert_problem(
        await client.post("/v1/org-units/NOPE/move", json={"parent_code": "A"}, headers=admin), 404
    )
    assert await list_all(client, admin) == before


async def test_move_to_a_sibling_whose_code_shares_a_prefix(client, admin):
    # A1 and A11 are not ancestor and descendant just because one code prefixes the other
    for code, parent in [("R", None), ("X1", "R"), ("X11", "R")]:
        await create(client, admin, code, parent)
    response = await client.post("/v1/org-units/X1/move", json={"parent_code": "X11"}, headers=admin)
    assert response.status_code == 200, response.text
    response = await client.post("/v1/org-units/X11/move", json={"parent_code": "X1"}, headers=admin)
    assert pointers(assert_problem(response, 422)) == ["/parent_code"]


async def test_delete(client, admin):
    await _small_forest(client, admin)
    assert_problem(await client.delete("/v1/org-units/A11", headers=admin), 409)
    person = await client.put("/v1/people/p1", json={"org_unit_code": "A2"}, headers=admin)
    assert person.status_code == 201, person.text
    assert_problem(await client.delete("/v1/org-units/A2", headers=admin), 409)

    leaf = await client.delete("/v1/org-units/A111", headers=admin)
    assert leaf.status_code == 204 and leaf.content == b""
    assert_problem(await client.get("/v1/org-units/A111", headers=admin), 404)
    assert_problem(await client.delete("/v1/org-units/A111", headers=admin), 404)
    # now A11 is a leaf
    assert (await client.delete("/v1/org-units/A11", headers=admin)).status_code == 204
    assert await codes(client, admin, under="A") == ["A", "A1", "A12", "A2"]
    # once the person moves away, A2 can go
    assert (await client.put("/v1/people/p1", json={"org_unit_code": "B1"}, headers=admin)).status_code == 200
    assert (await client.delete("/v1/org-units/A2", headers=admin)).status_code == 204


def generated_tree(seed: int = 7) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """A 5-level tree of 2,031 units (1 province, 5 cities, 25 counties, 200 townships, 1,800 villages),
    in shuffled order, and the codes of each city's subtree."""
    units: list[dict[str, Any]] = [{"code": "P", "name": "Province", "level": "province"}]
    subtrees: dict[str, set[str]] = {}
    for c in range(1, 6):
        city = f"P-C{c}"
        units.append({"code": city, "name": f"City {c}", "level": "city", "parent_code": "P"})
        subtree = subtrees.setdefault(city, {city})
        for k in range(1, 6):
            county = f"{city}-K{k}"
            units.append({"code": county, "name": f"County {c}.{k}", "level": "county", "parent_code": city})
            subtree.add(county)
            for t in range(1, 9):
                town = f"{county}-T{t}"
                units.append(
                    {"code": town, "name": f"Township {t}", "level": "township", "parent_code": county}
                )
                subtree.add(town)
                for v in range(1, 10):
                    village = f"{town}-V{v}"
                    units.append(
                        {"code": village, "name": f"Village {v}", "level": "village", "parent_code": town}
                    )
                    subtree.add(village)
    random.Random(seed).shuffle(units)  # children often come before their parents
    return units, subtrees


async def test_bulk_import_of_a_five_level_tree(client, admin):
    units, subtrees = generated_tree()
    assert len(units) == 2031
    response = await client.post("/v1/org-units/import", json={"units": units}, headers=admin)
    assert response.status_code == 201, response.text  # mode "create"
    assert response.json() == {
        "mode": "create",
        "created": 2031,
        "updated": 0,
        "unchanged": 0,
        "deactivated": 0,
    }

    everything = await list_all(client, admin)
    assert len(everything) == 2031
    by_code = {u["code"]: u for u in everything}
    assert by_code["P"]["depth"] == 0 and by_code["P-C3"]["depth"] == 1
    assert (by_code["P-C3-K2-T8-V9"]["depth"], by_code["P-C3-K2-T8-V9"]["parent_code"]) == (4, "P-C3-K2-T8")
    assert all(
        u["depth"] == ["province", "city", "county", "township", "village"].index(u["level"])
        for u in everything
    )

    city = "P-C3"
    paged = await list_all(client, admin, limit=37, under=city)
    assert len(paged) == len(subtrees[city]) == 1 + 5 + 40 + 360
    assert {u["code"] for u in paged} == subtrees[city]
    assert {u["code"] for u in await list_all(client, admin, under="P-C3-K2-T8")} == {
        "P-C3-K2-T8",
        *(f"P-C3-K2-T8-V{v}" for v in range(1, 10)),
    }

    assert await codes(client, admin, parent=city) == [f"{city}-K{k}" for k in range(1, 6)]
    assert await codes(client, admin, level="city") == [f"P-C{c}" for c in range(1, 6)]
    assert len(await codes(client, admin, level="village")) == 1800
    villages = await codes(client, admin, under=city, level="village")
    assert len(villages) == 360 and all(v.startswith(city + "-") for v in villages)
    assert await codes(client, admin, level="hamlet") == []


async def test_import_a_branch_under_existing_units(client, admin):
    await create(client, admin, "P")
    response = await client.post(
        "/v1/org-units/import",
        json={
            "units": [
                {"code": "C-K1", "name": "k", "parent_code": "C"},
                {"code": "C", "name": "c", "parent_code": "P"},
            ]
        },
        headers=admin,
    )
    assert response.json() == {"mode": "create", "created": 2, "updated": 0, "unchanged": 0, "deactivated": 0}
    assert (await unit(client, admin, "C-K1"))["depth"] == 2
    assert await codes(client, admin, under="P") == ["C", "C-K1", "P"]


async def _count(client: httpx.AsyncClient, admin: dict[str, str]) -> int:
    return len(await list_all(client, admin))


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [{"code": "N1"}, {"code": "N2"}, {"code": "N3"}, {"code": "N2"}],
            ["/units/3/code"],
            id="duplicate-in-batch",
        ),
        pytest.param(
            [{"code": "N1"}, {"code": "OLD"}, {"code": "N2", "parent_code": "N1"}],
            ["/units/1/code"],
            id="already-exists",
        ),
        pytest.param(
            [
                {"code": "N1"},
                {"code": "N2", "parent_code": "N1"},
                {"code": "N3", "parent_code": "N1"},
                {"code": "N4", "parent_code": "GHOST"},
            ],
            ["/units/3/parent_code"],
            id="unknown-parent",
        ),
        pytest.param(
            [{"code": "N0"}, {"code": "A", "parent_code": "B"}, {"code": "B", "parent_code": "A"}],
            ["/units/1/parent_code", "/units/2/parent_code"],
            id="two-cycle",
        ),
        pytest.param(
            [{"code": "S", "parent_code": "S"}, {"code": "N1", "parent_code": "OLD"}],
            ["/units/0/parent_code"],
            id="self-parent",
        ),
        pytest.param(
            [
                {"code": "N1", "parent_code": "OLD"},
                {"code": "X", "parent_code": "Z"},
                {"code": "Y", "parent_code": "X"},
                {"code": "Z", "parent_code": "Y"},
            ],
            ["/units/1/parent_code", "/units/2/parent_code", "/units/3/parent_code"],
            id="three-cycle",
        ),
        pytest.param(
            [
                {"code": "N1"},
                {"code": "N1"},
                {"code": "OLD"},
                {"code": "N2", "parent_code": "GHOST"},
                {"code": "N3", "parent_code": "N1"},
            ],
            ["/units/1/code", "/units/2/code", "/units/3/parent_code"],
            id="several-kinds",
        ),
    ],
)
async def test_import_errors_reject_the_whole_batch(client, admin, rows, expected):
    await create(client, admin, "OLD")
    before = await _count(client, admin)
    units = [{"name": f"name of {r['code']}", **r} for r in rows]
    response = await client.post("/v1/org-units/import", json={"units": units}, headers=admin)
    problem = assert_problem(response, 422)
    assert sorted(pointers(problem)) == sorted(expected)
    assert all(e["detail"] for e in problem["errors"])
    assert await _count(client, admin) == before


async def test_import_reports_cycles_along_with_other_errors(client, admin):
    units = [
        {"code": "N1", "name": "n"},
        {"code": "N1", "name": "n"},
        {"code": "A", "name": "a", "parent_code": "B"},
        {"code": "B", "name": "b", "parent_code": "A"},
    ]
    problem = assert_problem(
        await client.post("/v1/org-units/import", json={"units": units}, headers=admin), 422
    )
    assert sorted(pointers(problem)) == ["/units/1/code", "/units/2/parent_code", "/units/3/parent_code"]


async def test_empty_import_is_422(client, admin):
    problem = assert_problem(
        await client.post("/v1/org-units/import", json={"units": []}, headers=admin), 422
    )
    assert pointers(problem) == ["/units"]


async def test_list_filters_by_parent_and_level(client, admin):
    await create(client, admin, "P", level="province")
    for c in ("C1", "C2"):
        await create(client, admin, c, "P", level="city")
        for k in ("K1", "K2", "K3"):
            await create(client, admin, f"{c}.{k}", c, level="county")
    assert await codes(client, admin, parent="P") == ["C1", "C2"]
    assert await codes(client, admin, parent="C2") == ["C2.K1", "C2.K2", "C2.K3"]
    assert await codes(client, admin, parent="C2.K1") == []
    assert await codes(client, admin, level="county") == [
        f"{c}.{k}" for c in ("C1", "C2") for k in ("K1", "K2", "K3")
    ]
    assert await codes(client, admin, level="county", parent="C1") == ["C1.K1", "C1.K2", "C1.K3"]
    assert await codes(client, admin, level="province") == ["P"]
    assert_problem(await client.get("/v1/org-units", params={"parent": "NOPE"}, headers=admin), 404)

    first = (await client.get("/v1/org-units", params={"level": "county", "limit": 4}, headers=admin)).json()
    assert [u["code"] for u in first["items"]] == ["C1.K1", "C1.K2", "C1.K3", "C2.K1"] and first[
        "next_cursor"
    ]
    second = (
        await client.get(
            "/v1/org-units",
            params={"level": "county", "limit": 4, "cursor": first["next_cursor"]},
            headers=admin,
        )
    ).json()
    assert [u["code"] for u in second["items"]] == ["C2.K2", "C2.K3"] and second["next_cursor"] is None


async def test_search_by_code_or_name_is_the_consoles_paged_nearest_the_root_first(client, admin):
    await create(client, admin, "HB", name="湖北省")
    await create(client, admin, "WH", "HB", name="武汉市")
    await create(client, admin, "WH-1", "WH", name="江岸区 100%")
    await create(client, admin, "XY", "HB", name="襄阳市")
    await create(client, admin, "OTHER", name="Beijing")
    found = await all_pages(client, "/v1/org-units", admin, 1, q="wh")
    assert [u["code"] for u in found] == ["WH", "WH-1"]  # by depth, then code, one per page
    assert [u["code"] for u in await all_pages(client, "/v1/org-units", admin, 2, q="市")] == ["WH", "XY"]
    assert [u["code"] for u in await all_pages(client, "/v1/org-units", admin, 50, q="0%")] == ["WH-1"]
    assert await all_pages(client, "/v1/org-units", admin, 50, q="_") == []  # no wildcard
    # a list cursor is not a search cursor, and a search covers the whole tree
    listed = (await client.get("/v1/org-units", params={"limit": 1}, headers=admin)).json()
    refused = await client.get(
        "/v1/org-units", params={"q": "w", "cursor": listed["next_cursor"]}, headers=admin
    )
    assert [e["parameter"] for e in assert_problem(refused, 400)["errors"]] == ["cursor"]
    both = await client.get("/v1/org-units", params={"q": "w", "parent": "HB"}, headers=admin)
    assert [e["parameter"] for e in assert_problem(both, 422)["errors"]] == ["q"]
    assert_problem(await client.get("/v1/org-units", params={"q": ""}, headers=admin), 400)


async def test_tenants_do_not_see_each_others_units(client, service_keys, admin):
    await create(client, admin, "MINE")
    other = (await make_tenant(client, service_keys, "other-region"))["admin"]
    assert await codes(client, other) == []
    assert_problem(await client.get("/v1/org-units/MINE", headers=other), 404)
    assert_problem(await client.delete("/v1/org-units/MINE", headers=other), 404)
    response = await client.post(
        "/v1/org-units", json={"code": "X", "name": "x", "parent_code": "MINE"}, headers=other
    )
    assert pointers(assert_problem(response, 422)) == ["/parent_code"]


def import_units(*rows: tuple[str, str | None] | tuple[str, str | None, str]) -> dict[str, Any]:
    return {
        "units": [
            {"code": r[0], "parent_code": r[1], "name": r[2] if len(r) > 2 else f"Unit {r[0]}"} for r in rows
        ]
    }


async def test_upsert_creates_renames_and_moves_in_one_request(client, admin):
    """Upsert: new codes are created, known ones renamed and moved (a parent and its child may even
    swap places), units not named stay as they were, and people keep their unit."""
    #  P ── A ── B ── K        →   P ── B ── A ── K     (A and B swap; K follows A)
    #    └─ X                          └─ X (renamed)     N new under A; Y untouched
    for code, parent in [("P", None), ("A", "P"), ("B", "A"), ("K", "B"), ("X", "P"), ("Y", "P")]:
        await create(client, admin, code, parent)
    assert (await client.put("/v1/people/k-1", json={"org_unit_code": "K"}, headers=admin)).status_code == 201
    body = import_units(("A", "B"), ("K", "A"), ("N", "A"), ("B", "P"), ("X", "P", "X renamed"), ("P", None))
    response = await client.post("/v1/org-units/import", params={"mode": "upsert"}, json=body, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"mode": "upsert", "created": 1, "updated": 4, "unchanged": 1, "deactivated": 0}
    assert (await unit(client, admin, "B"))["parent_code"] == "P"
    assert (await unit(client, admin, "A"))["parent_code"] == "B"
    assert (await unit(client, admin, "K"))["parent_code"] == "A"
    assert (await unit(client, admin, "K"))["depth"] == 3
    assert (await unit(client, admin, "X"))["name"] == "X renamed"
    assert await codes(client, admin, under="B") == ["A", "B", "K", "N"]
    assert await codes(client, admin, under="A") == ["A", "K", "N"]
    assert all(u["active"] for u in await list_all(client, admin))
    people = (await client.get("/v1/people", params={"under": "A"}, headers=admin)).json()["items"]
    assert [p["external_id"] for p in people] == ["k-1"]

    again = await client.post("/v1/org-units/import", params={"mode": "upsert"}, json=body, headers=admin)
    assert again.json() == {"mode": "upsert", "created": 0, "updated": 0, "unchanged": 6, "deactivated": 0}
    # create, the default, still refuses known codes
    refused = await client.post("/v1/org-units/import", json=body, headers=admin)
    assert len(pointers(assert_problem(refused, 422))) == 6


async def test_sync_deactivates_what_it_does_not_hold_and_reactivates_what_it_does(client, admin):
    """Sync is an upsert of the whole tree: units left out are deactivated (kept with their people),
    units sent again are active again."""
    for code, parent in [("P", None), ("C1", "P"), ("K1", "C1"), ("C2", "P")]:
        await create(client, admin, code, parent)
    assert (
        await client.put("/v1/people/k-1", json={"org_unit_code": "K1"}, headers=admin)
    ).status_code == 201
    synced = await client.post(
        "/v1/org-units/import",
        params={"mode": "sync"},
        json=import_units(("P", None), ("C2", "P"), ("C3", "P")),
        headers=admin,
    )
    assert synced.status_code == 200, synced.text
    assert synced.json() == {"mode": "sync", "created": 1, "updated": 0, "unchanged": 2, "deactivated": 2}
    active = {u["code"]: u["active"] for u in await list_all(client, admin)}
    assert active == {"P": True, "C1": False, "K1": False, "C2": True, "C3": True}
    assert await codes(client, admin, active="false") == ["C1", "K1"]
    assert await codes(client, admin, active="true", under="P") == ["C2", "C3", "P"]
    assert (await client.get("/v1/people/k-1", headers=admin)).json()["org_unit_code"] == "K1"

    back = await client.post(
        "/v1/org-units/import",
        params={"mode": "sync"},
        json=import_units(("P", None), ("C1", "P"), ("C2", "P"), ("C3", "P")),
        headers=admin,
    )
    assert back.json() == {"mode": "sync", "created": 0, "updated": 1, "unchanged": 3, "deactivated": 0}
    active = {u["code"]: u["active"] for u in await list_all(client, admin)}
    assert active == {"P": True, "C1": True, "K1": False, "C2": True, "C3": True}
    # PATCH (de)activates one unit
    patched = await client.patch("/v1/org-units/K1", json={"active": True}, headers=admin)
    assert patched.status_code == 200 and patched.json()["active"] is True


async def test_upsert_and_sync_name_every_problem_and_change_nothing(client, admin):
    for code, parent in [("P", None), ("A", "P"), ("B", "A")]:
        await create(client, admin, code, parent)
    before = await list_all(client, admin)
    # A under B while B stays under A: a cycle through the stored tree; GHOST unknown; N twice
    body = import_units(("A", "B"), ("N", "GHOST"), ("N", "P"), ("Z", "P", "new"))
    problem = assert_problem(
        await client.post("/v1/org-units/import", params={"mode": "upsert"}, json=body, headers=admin), 422
    )
    assert pointers(problem) == ["/units/0/parent_code", "/units/1/parent_code", "/units/2/code"]
    # a sync holds the whole tree: a parent it lacks is named even when it is stored
    problem = assert_problem(
        await client.post(
            "/v1/org-units/import",
            params={"mode": "sync"},
            json=import_units(("A", "P"), ("Z", None)),
            headers=admin,
        ),
        422,
    )
    assert pointers(problem) == ["/units/0/parent_code"]
    assert await list_all(client, admin) == before
    bad_mode = await client.post("/v1/org-units/import", params={"mode": "merge"}, json=body, headers=admin)
    assert assert_problem(bad_mode, 400)["errors"][0]["parameter"] == "mode"
