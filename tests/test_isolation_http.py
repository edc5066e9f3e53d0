"""Adversarial tenant isolation through the HTTP API.

Two tenants, A and B, each with an org tree, people and an identity provider, and some keys
(`HQ`, `shared-1`) that exist in both. A's admin then aims every route that names an object at
B's objects. Each answer must be the same 404 (or 422 for a foreign reference in a body) that a
key which exists nowhere would get, and afterwards B, seen through its own token and directly
in the database, must be exactly as before.

The probes are data (`CROSS_TENANT_PROBES`, `OWN_KEY_PROBES`), and
`test_every_object_route_has_an_isolation_probe` walks the app's routes: a new route with a path
parameter, a new query parameter or a new body field that names an object fails the suite until
a probe here covers it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler

from service.api.app import create_app
from service.auth.keys import ServiceKeys
from service.config import Settings
from tests.helpers import IdentityProvider, make_tenant, operator, user

PROBLEM = "application/problem+json"


# --------------------------------------------------------------------------- the probes


@dataclass(frozen=True)
class Probe:
    """A's admin sends `method url body`; `route` is the app's template it exercises.

    `covers` says what the probe stands for: "path", "query:<name>" or "body:<json pointer>"
    (list items written as `*`). `url` and `body` may hold `{b_issuer}`-style placeholders.
    """

    method: str
    route: str
    url: str
    status: int
    covers: str
    body: Any = None
    pointer: str | None = None  # for a 422: the field its errors[] must name


# A's admin reaching for B's objects, or pointing A's objects at B's: always refused.
CROSS_TENANT_PROBES: list[Probe] = [
    Probe("GET", "/v1/org-units/{code:str}", "/v1/org-units/B-CITY", 404, "path"),
    Probe(
        "PATCH",
        "/v1/org-units/{code:str}",
        "/v1/org-units/B-CITY",
        404,
        "path",
        {"name": "pwned by A", "level": "pwned"},
    ),
    Probe("DELETE", "/v1/org-units/{code:str}", "/v1/org-units/B-LEAF", 404, "path"),
    Probe(
        "POST",
        "/v1/org-units/{code:str}/move",
        "/v1/org-units/B-CITY/move",
        404,
        "path",
        {"parent_code": None},
    ),
    Probe(
        "POST",
        "/v1/org-units/{code:str}/move",
        "/v1/org-units/B-LEAF/move",
        404,
        "path",
        {"parent_code": "A-ROOT"},
    ),
    Probe(
        "POST",
        "/v1/org-units/{code:str}/move",
        "/v1/org-units/B-LEAF/move",
        404,
        "path",
        {"parent_code": "B-ROOT"},
    ),
    Probe("GET", "/v1/people/{external_id:str}", "/v1/people/b-1", 404, "path"),
    Probe("GET", "/v1/org-units", "/v1/org-units?under=B-ROOT", 404, "query:under"),
    Probe("GET", "/v1/org-units", "/v1/org-units?parent=B-ROOT", 404, "query:parent"),
    Probe("GET", "/v1/org-units", "/v1/org-units?under=B-CITY&parent=B-CITY", 404, "query:under"),
    Probe("GET", "/v1/people", "/v1/people?under=B-ROOT", 404, "query:under"),
    Probe("GET", "/v1/people", "/v1/people?under=B-LEAF", 404, "query:under"),
    Probe(
        "POST",
        "/v1/org-units",
        "/v1/org-units",
        422,
        "body:/parent_code",
        {"code": "A-NEW", "name": "new", "parent_code": "B-ROOT"},
        pointer="/parent_code",
    ),
    Probe(
        "POST",
        "/v1/org-units/{code:str}/move",
        "/v1/org-units/A-CITY/move",
        422,
        "body:/parent_code",
        {"parent_code": "B-ROOT"},
        pointer="/parent_code",
    ),
    Probe(
        "POST",
        "/v1/org-units/{code:str}/move",
        "/v1/org-units/HQ/move",
        422,
        "body:/parent_code",
        {"parent_code": "B-LEAF"},
        pointer="/parent_code",
    ),
    Probe(
        "POST",
        "/v1/org-units/import",
        "/v1/org-units/import",
        422,
        "body:/units/*/parent_code",
        {
            "units": [
                {"code": "A-NEW", "name": "new", "parent_code": "A-ROOT"},
                {"code": "A-NEW-2", "name": "new", "parent_code": "B-CITY"},
            ]
        },
        pointer="/units/1/parent_code",
    ),
    Probe(
        "PUT",
        "/v1/people/{external_id:str}",
        "/v1/people/a-new",
        422,
        "body:/org_unit_code",
        {"org_unit_code": "B-CITY"},
        pointer="/org_unit_code",
    ),
    Probe(
        "PUT",
        "/v1/people/{external_id:str}",
        "/v1/people/a-1",
        422,
        "body:/org_unit_code",
        {"org_unit_code": "B-ROOT", "display_name": "moved to B"},
        pointer="/org_unit_code",
    ),
    Probe(
        "POST",
        "/v1/people/bulk",
        "/v1/people/bulk",
        422,
        "body:/people/*/org_unit_code",
        {
            "people": [
                {"external_id": "a-new", "org_unit_code": "A-CITY"},
                {"external_id": "a-1", "org_unit_code": "B-CITY"},
            ]
        },
        pointer="/people/1/org_unit_code",
    ),
]

# A's admin using B's keys as keys of its own: allowed, creates A's own objects, never touches B's.
OWN_KEY_PROBES: list[Probe] = [
    Probe(
        "PUT",
        "/v1/people/{external_id:str}",
        "/v1/people/b-2",
        201,
        "path",
        {"display_name": "A's own b-2", "category": "teacher"},
    ),
    Probe(
        "POST",
        "/v1/org-units",
        "/v1/org-units",
        201,
        "body:/code",
        {"code": "B-ROOT", "name": "A's own B-ROOT"},
    ),
    Probe(
        "POST",
        "/v1/org-units/import",
        "/v1/org-units/import",
        201,
        "body:/units/*/code",
        {
            "units": [
                {"code": "B-CITY", "name": "A's own B-CITY", "parent_code": "B-ROOT"},
                {"code": "B-LEAF", "name": "A's own B-LEAF", "parent_code": "B-CITY"},
            ]
        },
    ),
    Probe(
        "POST",
        "/v1/people/bulk",
        "/v1/people/bulk",
        200,
        "body:/people/*/external_id",
        {"people": [{"external_id": "b-1", "org_unit_code": "B-CITY", "display_name": "A's own b-1"}]},
    ),
]

# Query parameters that filter by a value, not by naming an object: nothing to reach across.
NON_REFERENCE_QUERY_PARAMS = {"limit", "cursor", "level", "category", "active"}


def _exempt(path: str) -> bool:
    """Routes that are cross-tenant by design (the operator's /v1/tenants...) or documentation."""
    return path == "/v1/tenants" or path.startswith(("/v1/tenants/", "/docs"))


_REFERENCE_FIELD = re.compile(r"(^|_)(code|id)$")
_RESERVED_KWARGS = {
    "data",
    "request",
    "socket",
    "headers",
    "cookies",
    "query",
    "state",
    "scope",
    "body",
    "self",
}


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    a: dict[str, Any]
    b: dict[str, Any]
    idp_a: IdentityProvider
    idp_b: IdentityProvider
    b_issuer: str
    a_issuer: str

    @property
    def placeholders(self) -> dict[str, str]:
        return {"b_issuer": self.b_issuer, "a_issuer": self.a_issuer}


async def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _build_tenant(
    client: httpx.AsyncClient, keys: ServiceKeys, slug: str, prefix: str, idp: IdentityProvider
) -> tuple[dict[str, Any], str]:
    tenant = await make_tenant(client, keys, slug)
    h = tenant["admin"]
    p = prefix.lower()
    for code, parent, level in (
        (f"{prefix}-ROOT", None, "province"),
        (f"{prefix}-CITY", f"{prefix}-ROOT", "city"),
        (f"{prefix}-LEAF", f"{prefix}-CITY", "county"),
        ("HQ", None, None),
    ):
        body = {"code": code, "name": f"{prefix} {code}", "level": level, "parent_code": parent}
        created = await _created(await client.post("/v1/org-units", json=body, headers=h))
        assert created["code"] == code and created["parent_code"] == parent
    for external_id, unit in ((f"{p}-1", f"{prefix}-ROOT"), (f"{p}-2", f"{prefix}-CITY"), ("shared-1", "HQ")):
        body = {"org_unit_code": unit, "display_name": f"{prefix} {external_id}", "category": "civil_servant"}
        response = await client.put(f"/v1/people/{external_id}", json=body, headers=h)
        assert response.status_code == 201, response.text
    issuer = await _created(
        await client.post(
            f"/v1/tenants/{slug}/issuers",
            headers=operator(keys),
            json={"issuer": idp.issuer, "audience": f"{p}-app", "jwks": idp.jwks()},
        )
    )
    return tenant, issuer["id"]


@pytest.fixture
async def world(client: httpx.AsyncClient, service_keys: ServiceKeys) -> World:
    idp_a, idp_b = IdentityProvider("https://idp.a.example"), IdentityProvider("https://idp.b.example")
    a, a_issuer = await _build_tenant(client, service_keys, "iso-a", "A", idp_a)
    b, b_issuer = await _build_tenant(client, service_keys, "iso-b", "B", idp_b)
    return World(a, b, idp_a, idp_b, b_issuer, a_issuer)


@pytest.fixture
async def owner(owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The same database the app uses, as its (superuser) owner: the ground truth, past row-level security."""
    conn = await asyncpg.connect(owner_url)
    try:
        yield conn
    finally:
        await conn.close()


async def _db_view(
    owner: asyncpg.Connection, tenant_id: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """All rows (or one tenant's) of every table, every column, including paths and updated_at."""
    where = "" if tenant_id is None else " WHERE tenant_id = $1"
    args = () if tenant_id is None else (UUID(tenant_id),)
    view = {
        table: [dict(r) for r in await owner.fetch(f"SELECT * FROM {table}{where} ORDER BY id", *args)]
        for table in ("org_units", "people", "trusted_issuers")
    }
    tenants_where = "" if tenant_id is None else " WHERE id = $1"
    view["tenants"] = [
        dict(r) for r in await owner.fetch(f"SELECT * FROM tenants{tenants_where} ORDER BY id", *args)
    ]
    return view


async def _api_view(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """What a tenant's admin sees of its own tenant, read through the API."""
    view: dict[str, Any] = {}
    for name, url in (
        ("units", "/v1/org-units?limit=500"),
        ("people", "/v1/people?limit=500"),
        ("issuers", "/v1/issuers"),
        ("tenant", "/v1/tenant"),
    ):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        view[name] = response.json()
    for unit in view["units"]["items"]:
        view[f"unit:{unit['code']}"] = (
            await client.get(f"/v1/org-units/{unit['code']}", headers=headers)
        ).json()
    for person in view["people"]["items"]:
        view[f"person:{person['external_id']}"] = (
            await client.get(f"/v1/people/{person['external_id']}", headers=headers)
        ).json()
    return view


def _fill(value: Any, placeholders: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**placeholders)
    if isinstance(value, list):
        return [_fill(v, placeholders) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, placeholders) for k, v in value.items()}
    return value


async def _send(
    client: httpx.AsyncClient, probe: Probe, headers: dict[str, str], placeholders: dict[str, str]
) -> httpx.Response:
    kwargs: dict[str, Any] = {"headers": headers}
    if probe.body is not None:
        kwargs["json"] = _fill(probe.body, placeholders)
    return await client.request(probe.method, _fill(probe.url, placeholders), **kwargs)


def assert_problem(response: httpx.Response, status: int, context: str = "") -> dict[str, Any]:
    assert response.status_code == status, f"{context}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM), context
    body = response.json()
    assert body["status"] == status, context
    assert body["type"].startswith("urn:assess:problem:"), context
    return body


def _scrub(problem: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A problem without its request id, with the probed key replaced, for comparing two answers."""
    text = msgspec.json.encode({k: v for k, v in problem.items() if k != "request_id"}).decode()
    for key in keys:
        text = text.replace(key, "<key>")
    return msgspec.json.decode(text)


# --------------------------------------------------------------------------- cross-tenant reach


async def test_a_cannot_reach_or_reference_any_of_bs_objects(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    b_api_before = await _api_view(client, world.b["admin"])
    b_db_before = await _db_view(owner, world.b["id"])
    all_db_before = await _db_view(owner)

    for probe in CROSS_TENANT_PROBES:
        context = f"{probe.method} {probe.url} {probe.body}"
        response = await _send(client, probe, world.a["admin"], world.placeholders)
        body = assert_problem(response, probe.status, context)
        if probe.status == 404:
            assert body["type"] == "urn:assess:problem:not-found", context
        if probe.pointer is not None:
            assert probe.pointer in [e.get("pointer") for e in body.get("errors", [])], context
        # Nothing about B leaks into the answer: neither its id, slug nor its names.
        for secret in (world.b["id"], world.b["slug"], "B B-", "B b-"):
            assert secret not in response.text, (context, secret)

    # Every refused request left the whole database, not only B's part, as it was.
    assert await _db_view(owner) == all_db_before
    assert await _db_view(owner, world.b["id"]) == b_db_before
    assert await _api_view(client, world.b["admin"]) == b_api_before


async def test_a_404_for_bs_key_is_indistinguishable_from_a_missing_key(
    client: httpx.AsyncClient, world: World
):
    """Existence of B's objects must not be observable: B's key and a key nobody has get the same answer."""
    h = world.a["admin"]
    pairs = [
        ("GET", "/v1/org-units/{}", "B-CITY", "NOWHERE-1", None),
        ("PATCH", "/v1/org-units/{}", "B-CITY", "NOWHERE-1", {"name": "x"}),
        ("DELETE", "/v1/org-units/{}", "B-LEAF", "NOWHERE-1", None),
        ("DELETE", "/v1/org-units/{}", "B-ROOT", "NOWHERE-1", None),  # B-ROOT has children and people in B
        ("POST", "/v1/org-units/{}/move", "B-CITY", "NOWHERE-1", {"parent_code": None}),
        ("GET", "/v1/people/{}", "b-1", "nowhere-1", None),
        ("GET", "/v1/org-units?under={}", "B-ROOT", "NOWHERE-1", None),
        ("GET", "/v1/org-units?parent={}", "B-ROOT", "NOWHERE-1", None),
        ("GET", "/v1/people?under={}", "B-ROOT", "NOWHERE-1", None),
        ("POST", "/v1/org-units", "B-ROOT", "NOWHERE-1", "parent"),
    ]
    for method, template, b_key, missing_key, body in pairs:
        answers = []
        for key in (b_key, missing_key):
            if body == "parent":
                response = await client.post(
                    "/v1/org-units", headers=h, json={"code": "A-X", "name": "x", "parent_code": key}
                )
            else:
                response = await client.request(
                    method, template.format(key), headers=h, **({"json": body} if body is not None else {})
                )
            answers.append((response.status_code, _scrub(response.json(), key)))
        assert answers[0] == answers[1], (method, template, answers)


async def test_own_keys_equal_to_bs_keys_create_new_objects_in_a_only(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    b_api_before = await _api_view(client, world.b["admin"])
    b_db_before = await _db_view(owner, world.b["id"])
    a_people_before = {
        p["external_id"] for p in (await _api_view(client, world.a["admin"]))["people"]["items"]
    }

    for probe in OWN_KEY_PROBES:
        response = await _send(client, probe, world.a["admin"], world.placeholders)
        assert response.status_code == probe.status, f"{probe.method} {probe.url}: {response.text}"

    # The PUT created a new person in A (a new id), it did not adopt or replace B's b-2.
    b_people = {p["external_id"]: p for p in b_api_before["people"]["items"]}
    a_b2 = (await client.get("/v1/people/b-2", headers=world.a["admin"])).json()
    assert a_b2["display_name"] == "A's own b-2" and a_b2["category"] == "teacher"
    assert a_b2["id"] != b_people["b-2"]["id"]
    a_b1 = (await client.get("/v1/people/b-1", headers=world.a["admin"])).json()
    assert a_b1["id"] != b_people["b-1"]["id"] and a_b1["org_unit_code"] == "B-CITY"
    a_people_after = {
        p["external_id"] for p in (await _api_view(client, world.a["admin"]))["people"]["items"]
    }
    assert a_people_after == a_people_before | {"b-1", "b-2"}

    # A's "B-*" units are A's own tree: ids differ from B's, and A's subtree listing shows A's only.
    b_units = {u["code"]: u for u in b_api_before["units"]["items"]}
    a_units = (await client.get("/v1/org-units?under=B-ROOT", headers=world.a["admin"])).json()["items"]
    assert {u["code"] for u in a_units} == {"B-ROOT", "B-CITY", "B-LEAF"}
    assert not {u["id"] for u in a_units} & {u["id"] for u in b_units.values()}
    a_listed = (await client.get("/v1/people?under=B-ROOT", headers=world.a["admin"])).json()["items"]
    assert [p["external_id"] for p in a_listed] == ["b-1"] and a_listed[0]["id"] == a_b1["id"]

    # In the database: the new rows belong to A, and each person's unit is a unit of A.
    rows = await owner.fetch(
        "SELECT p.tenant_id, u.tenant_id AS unit_tenant "
        "FROM people p JOIN org_units u ON u.id = p.org_unit_id "
        "WHERE p.external_id IN ('b-1', 'b-2') AND p.tenant_id = $1",
        UUID(world.a["id"]),
    )
    assert {(str(r["tenant_id"]), str(r["unit_tenant"])) for r in rows} == {(world.a["id"], world.a["id"])}
    # B is untouched.
    assert await _db_view(owner, world.b["id"]) == b_db_before
    assert await _api_view(client, world.b["admin"]) == b_api_before


async def test_keys_that_exist_in_both_tenants_resolve_to_the_callers(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """`HQ` and `shared-1` exist in A and B: everything A does with them lands on A's."""
    a, b = world.a["admin"], world.b["admin"]
    b_api_before = await _api_view(client, b)
    b_db_before = await _db_view(owner, world.b["id"])
    b_hq = b_api_before["unit:HQ"]

    a_hq = (await client.get("/v1/org-units/HQ", headers=a)).json()
    assert a_hq["id"] != b_hq["id"] and a_hq["name"] == "A HQ"
    patched = await client.patch("/v1/org-units/HQ", json={"name": "A renamed HQ"}, headers=a)
    assert patched.status_code == 200 and patched.json()["id"] == a_hq["id"]
    moved = await client.post("/v1/org-units/HQ/move", json={"parent_code": "A-ROOT"}, headers=a)
    assert moved.status_code == 200 and moved.json()["parent_code"] == "A-ROOT"
    replaced = await client.put(
        "/v1/people/shared-1", json={"org_unit_code": "HQ", "display_name": "A renamed"}, headers=a
    )
    assert replaced.status_code == 200, replaced.text  # replaced A's own, did not create
    under = (await client.get("/v1/people?under=A-ROOT", headers=a)).json()["items"]
    assert "shared-1" in {p["external_id"] for p in under}
    assert_problem(await client.delete("/v1/org-units/HQ", headers=a), 409)  # A's HQ still has A's shared-1
    assert (
        await client.put("/v1/people/shared-1", json={"org_unit_code": "A-ROOT"}, headers=a)
    ).status_code == 200
    assert (await client.delete("/v1/org-units/HQ", headers=a)).status_code == 204
    assert_problem(await client.get("/v1/org-units/HQ", headers=a), 404)

    # B's HQ and shared-1 are exactly as they were.
    assert await _db_view(owner, world.b["id"]) == b_db_before
    assert await _api_view(client, b) == b_api_before


async def test_lists_show_only_the_callers_tenant(client: httpx.AsyncClient, world: World):
    for me, other in ((world.a, world.b), (world.b, world.a)):
        view = await _api_view(client, me["admin"])
        prefix, other_prefix = me["slug"][-1].upper(), other["slug"][-1].upper()
        assert {u["code"] for u in view["units"]["items"]} == {
            f"{prefix}-ROOT",
            f"{prefix}-CITY",
            f"{prefix}-LEAF",
            "HQ",
        }
        assert all(u["name"].startswith(f"{prefix} ") for u in view["units"]["items"])
        assert {p["external_id"] for p in view["people"]["items"]} == {
            f"{prefix.lower()}-1",
            f"{prefix.lower()}-2",
            "shared-1",
        }
        assert all(p["display_name"].startswith(f"{prefix} ") for p in view["people"]["items"])
        assert [i["issuer"] for i in view["issuers"]] == [f"https://idp.{prefix.lower()}.example"]
        assert view["tenant"]["id"] == me["id"]
        # Value filters never widen the list to the other tenant.
        for url in (
            "/v1/org-units?level=city",
            "/v1/org-units?level=province",
            "/v1/people?category=civil_servant",
            "/v1/people?active=true",
            "/v1/org-units?limit=1",
            "/v1/people?limit=1",
        ):
            items = (await client.get(url, headers=me["admin"])).json()["items"]
            assert items and all(
                not str(i.get("name", i.get("display_name", ""))).startswith(f"{other_prefix} ")
                for i in items
            ), url


async def test_pagination_cursor_from_b_reveals_nothing_to_a(client: httpx.AsyncClient, world: World):
    """A cursor is only a position: B's cursor handed to A pages through A's rows, never B's."""
    first = (await client.get("/v1/people?limit=1", headers=world.b["admin"])).json()
    cursor = first["next_cursor"]
    assert cursor
    seen: list[str] = []
    while cursor:
        page = (
            await client.get("/v1/people", params={"limit": 1, "cursor": cursor}, headers=world.a["admin"])
        ).json()
        seen += [p["display_name"] for p in page["items"]]
        cursor = page["next_cursor"]
    assert seen and all(name.startswith("A ") for name in seen)


async def test_concurrent_requests_of_two_tenants_never_see_each_others_rows(
    client: httpx.AsyncClient, world: World
):
    """Interleaved requests share the pool's few connections; each must see its own tenant only."""

    async def read(tenant: dict[str, Any], url: str) -> tuple[str, list[dict[str, Any]]]:
        response = await client.get(url, headers=tenant["admin"])
        assert response.status_code == 200, response.text
        return tenant["slug"], response.json()["items"]

    jobs = [
        read(t, url)
        for _ in range(15)
        for t in (world.a, world.b)
        for url in ("/v1/people?limit=500", "/v1/org-units?limit=500")
    ]
    for slug, items in await asyncio.gather(*jobs):
        prefix = slug[-1].upper()
        names = [i.get("display_name") or i.get("name") for i in items]
        assert names and all(n.startswith(f"{prefix} ") for n in names), (slug, names)


async def test_public_metrics_and_access_log_carry_no_tenant_keys(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
):
    """/metrics needs no token: its labels, like the access log, must be route templates, never B's keys."""
    secrets = ("B-SECRET-UNIT", "b-secret-person")
    with caplog.at_level(logging.INFO, logger="assess.access"):
        b = world.b["admin"]
        assert (
            await client.post("/v1/org-units", json={"code": secrets[0], "name": "x"}, headers=b)
        ).status_code == 201
        assert (await client.get(f"/v1/org-units/{secrets[0]}", headers=b)).status_code == 200
        assert (await client.put(f"/v1/people/{secrets[1]}", json={}, headers=b)).status_code == 201
        assert (await client.get(f"/v1/people?under={secrets[0]}", headers=b)).status_code == 200
        assert (await client.get(f"/v1/org-units/{secrets[0]}", headers=world.a["admin"])).status_code == 404
    access = [r.getMessage() for r in caplog.records if r.name == "assess.access"]
    assert len(access) >= 5
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "/v1/org-units/{code:str}" in metrics.text or "/v1/org-units/{code}" in metrics.text
    for secret in (*secrets, world.b_issuer):
        assert secret not in metrics.text, secret
        assert not [line for line in access if secret in line], secret


# --------------------------------------------------------------------------- tokens and roles


async def test_operator_token_is_refused_on_every_tenant_route(
    client: httpx.AsyncClient, world: World, service_keys: ServiceKeys, settings: Settings
):
    """The operator manages tenants; it never reads or writes a tenant's data."""
    checked = 0
    for method, path, handler in _routes(create_app(settings)):
        if _exempt(path) or handler.opt.get("exclude_from_auth"):
            continue
        url = (
            path.replace("{code:str}", "B-CITY")
            .replace("{external_id:str}", "b-1")
            .replace("{issuer_id:uuid}", world.b_issuer)
        )
        assert "{" not in url, f"add a sample value for {path}"
        body = {} if method in ("POST", "PUT", "PATCH") else None
        response = await client.request(
            method, url, headers=operator(service_keys), **({"json": body} if body is not None else {})
        )
        assert_problem(response, 403, f"{method} {url}")
        checked += 1
    assert checked >= 14
    assert_problem(await client.get("/v1/org-units?under=B-ROOT", headers=operator(service_keys)), 403)
    assert_problem(await client.get("/v1/people?under=B-ROOT", headers=operator(service_keys)), 403)


async def test_tenant_admin_token_is_refused_on_operator_routes(
    client: httpx.AsyncClient, world: World, settings: Settings
):
    checked = 0
    for method, path, _ in _routes(create_app(settings)):
        if not (path == "/v1/tenants" or path.startswith("/v1/tenants/")):
            continue
        url = path.replace("{slug:str}", world.b["slug"]).replace("{issuer_id:uuid}", world.b_issuer)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        response = await client.request(
            method, url, headers=world.a["admin"], **({"json": body} if body is not None else {})
        )
        assert_problem(response, 403, f"{method} {url}")
        checked += 1
    assert checked >= 6


async def test_service_token_for_an_unknown_tenant_is_refused(
    client: httpx.AsyncClient, world: World, service_keys: ServiceKeys
):
    forged = user(service_keys, "00000000-0000-4000-8000-000000000001", ["tenant_admin"])
    assert_problem(await client.get("/v1/org-units", headers=forged), 401)


async def test_identity_provider_tokens_map_to_their_own_tenant_only(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection, service_keys: ServiceKeys
):
    b_db_before = await _db_view(owner, world.b["id"])
    b_shared_response = await client.get("/v1/people/shared-1", headers=world.b["admin"])
    assert b_shared_response.status_code == 200, b_shared_response.text
    b_shared = b_shared_response.json()

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # B's IdP signs in B's shared-1: it is B's record, not A's namesake.
    me = await client.get("/v1/me", headers=bearer(world.idp_b.token("b-app", sub="shared-1")))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == b_shared["id"]
    # A's person is not provisioned in B: B's IdP cannot sign in as them.
    assert_problem(await client.get("/v1/me", headers=bearer(world.idp_b.token("b-app", sub="a-1"))), 403)
    # A B token naming A as its tenant (by id or slug) is refused outright.
    for tenant in (world.a["id"], world.a["slug"]):
        token = world.idp_b.token("b-app", sub="shared-1", tenant=tenant)
        assert_problem(await client.get("/v1/me", headers=bearer(token)), 401)
    # B's IdP cannot mint tokens for A's audience, nor A's IdP for B's, nor either under the other's name.
    assert_problem(
        await client.get("/v1/me", headers=bearer(world.idp_b.token("a-app", sub="shared-1"))), 401
    )
    assert_problem(
        await client.get("/v1/me", headers=bearer(world.idp_a.token("b-app", sub="shared-1"))), 401
    )
    impostor = IdentityProvider(world.idp_b.issuer, kid=world.idp_b.kid)  # same iss and kid, other key
    assert_problem(await client.get("/v1/me", headers=bearer(impostor.token("b-app", sub="shared-1"))), 401)

    # A trusts its own key under B's issuer name (a different audience): that can only ever reach A.
    attacker = IdentityProvider(world.idp_b.issuer, kid="attacker")
    registered = await client.post(
        f"/v1/tenants/{world.a['slug']}/issuers",
        headers=operator(service_keys),
        json={
            "issuer": world.idp_b.issuer,
            "audience": "a-hijack",
            "jwks": attacker.jwks(),
            "default_roles": ["tenant_admin"],
            "allowed_roles": ["tenant_admin"],
        },
    )
    assert registered.status_code == 201, registered.text
    mine = await client.get("/v1/tenant", headers=bearer(attacker.token("a-hijack", sub="x")))
    assert mine.status_code == 200 and mine.json()["id"] == world.a["id"]
    for audience in ("b-app", ["b-app", "a-hijack"]):
        token = attacker.token(audience, sub="shared-1")  # type: ignore[arg-type]
        assert_problem(await client.get("/v1/me", headers=bearer(token)), 401)
        assert_problem(await client.get("/v1/tenant", headers=bearer(token)), 401)
    # B's real tokens still reach B, and only B.
    me_again = await client.get("/v1/me", headers=bearer(world.idp_b.token("b-app", sub="shared-1")))
    assert me_again.status_code == 200 and me_again.json()["id"] == b_shared["id"]
    assert await _db_view(owner, world.b["id"]) == b_db_before


async def test_tenant_admins_cannot_register_or_remove_issuers(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """Only the operator binds an (issuer, audience) to a tenant.

    If tenant admins could, A could register B's identity provider (B's issuer, audience
    and public keys) before B does, and B's tokens would sign in to A.
    """
    b_db_before = await _db_view(owner, world.b["id"])
    body = {"issuer": world.idp_b.issuer, "audience": "b-app", "jwks": world.idp_b.jwks()}
    assert_problem(await client.post("/v1/issuers", headers=world.a["admin"], json=body), 405)
    assert_problem(await client.delete(f"/v1/issuers/{world.b_issuer}", headers=world.a["admin"]), 404)
    assert [i["audience"] for i in (await client.get("/v1/issuers", headers=world.a["admin"])).json()] == [
        "a-app"
    ]
    assert await _db_view(owner, world.b["id"]) == b_db_before


# --------------------------------------------------------------------------- route coverage


def _routes(app: Litestar) -> Iterator[tuple[str, str, BaseRouteHandler]]:
    """(method, path template, handler) of every route; non-HTTP routes come with method '*'."""
    for route in app.routes:
        for handler in route.route_handlers:
            methods = handler.http_methods if isinstance(handler, HTTPRouteHandler) else {"*"}
            for method in sorted(set(methods) - {"OPTIONS", "HEAD"}):
                yield method, route.path, handler


def _query_params(route_path: str, handler: BaseRouteHandler) -> set[str]:
    path_params = set(re.findall(r"{(\w+):", route_path))
    signature = handler.parsed_fn_signature.parameters
    return set(signature) - set(handler.resolve_dependencies()) - path_params - _RESERVED_KWARGS


def _reference_fields(info: msgspec.inspect.Type, pointer: str = "") -> Iterator[str]:
    """JSON pointers (list items as `*`) of every body field whose name says it names an object."""
    if isinstance(info, msgspec.inspect.Metadata):
        yield from _reference_fields(info.type, pointer)
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            yield from _reference_fields(member, pointer)
    elif isinstance(
        info,
        (
            msgspec.inspect.ListType,
            msgspec.inspect.SetType,
            msgspec.inspect.FrozenSetType,
            msgspec.inspect.VarTupleType,
        ),
    ):
        yield from _reference_fields(info.item_type, pointer + "/*")
    elif isinstance(
        info, (msgspec.inspect.StructType, msgspec.inspect.DataclassType, msgspec.inspect.TypedDictType)
    ):
        for f in info.fields:
            here = f"{pointer}/{f.encode_name}"
            if _REFERENCE_FIELD.search(f.name):
                yield here
            yield from _reference_fields(f.type, here)


def _body_fields(handler: BaseRouteHandler) -> set[str]:
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return set()
    return set(_reference_fields(msgspec.inspect.type_info(data.annotation)))


async def test_every_object_route_has_an_isolation_probe(settings: Settings):
    app = create_app(settings)
    probes = CROSS_TENANT_PROBES + OWN_KEY_PROBES
    covered = {(p.method, p.route, p.covers) for p in probes}
    routes = list(_routes(app))
    known = {(m, path) for m, path, _ in routes}
    # Every probe names a real route (no stale entries that cover nothing).
    assert {(p.method, p.route) for p in probes} <= known

    missing: list[str] = []
    checked_paths = 0
    for method, path, handler in routes:
        if _exempt(path):
            continue
        if "{" in path:
            checked_paths += 1
            if (method, path, "path") not in covered:
                missing.append(f"{method} {path}: no cross-tenant probe on its path parameter")
        for name in sorted(_query_params(path, handler) - NON_REFERENCE_QUERY_PARAMS):
            if (method, path, f"query:{name}") not in covered:
                missing.append(
                    f"{method} {path}?{name}=: no probe (or list it in NON_REFERENCE_QUERY_PARAMS)"
                )
        for pointer in sorted(_body_fields(handler)):
            if (method, path, f"body:{pointer}") not in covered:
                missing.append(f"{method} {path} body {pointer}: no probe with another tenant's key")
    assert missing == [], "routes without a tenant-isolation test:\n" + "\n".join(missing)
    assert checked_paths >= 6  # the walk saw the object routes (guards against a silently empty walk)


def test_route_walk_recognises_the_known_object_routes(settings: Settings):
    """The walker itself: it finds (at least) today's object routes, query references and body references."""
    app = create_app(settings)
    walked = {(m, p) for m, p, _ in _routes(app) if "{" in p and not _exempt(p)}
    assert walked >= {
        ("GET", "/v1/org-units/{code:str}"),
        ("PATCH", "/v1/org-units/{code:str}"),
        ("DELETE", "/v1/org-units/{code:str}"),
        ("POST", "/v1/org-units/{code:str}/move"),
        ("GET", "/v1/people/{external_id:str}"),
        ("PUT", "/v1/people/{external_id:str}"),
    }
    queries = {
        (m, p, q)
        for m, p, h in _routes(app)
        if not _exempt(p)
        for q in _query_params(p, h) - NON_REFERENCE_QUERY_PARAMS
    }
    assert queries >= {
        ("GET", "/v1/org-units", "under"),
        ("GET", "/v1/org-units", "parent"),
        ("GET", "/v1/people", "under"),
    }
    bodies = {(m, p, f) for m, p, h in _routes(app) if not _exempt(p) for f in _body_fields(h)}
    assert bodies >= {
        ("POST", "/v1/org-units", "/code"),
        ("POST", "/v1/org-units", "/parent_code"),
        ("POST", "/v1/org-units/import", "/units/*/code"),
        ("POST", "/v1/org-units/import", "/units/*/parent_code"),
        ("POST", "/v1/org-units/{code:str}/move", "/parent_code"),
        ("PUT", "/v1/people/{external_id:str}", "/org_unit_code"),
        ("POST", "/v1/people/bulk", "/people/*/org_unit_code"),
        ("POST", "/v1/people/bulk", "/people/*/external_id"),
    }
