"""Every error is RFC 9457 problem+json that names the field at fault, and none is a 500."""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from service.api.app import create_app
from tests.conftest import serving
from tests.helpers import make_tenant, operator

PROBLEM = "application/problem+json"


def assert_problem(
    response: httpx.Response, status: int, *, pointer: str | None = None, parameter: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys(), problem
    assert problem["status"] == status
    assert problem["type"].startswith("urn:assess:problem:")
    assert problem["title"] and problem["detail"]
    if pointer is not None or parameter is not None:
        assert problem.get("errors"), f"no errors[] naming the field: {problem}"
    if pointer is not None:
        assert problem["errors"][0]["pointer"] == pointer, problem
    if parameter is not None:
        assert problem["errors"][0]["parameter"] == parameter, problem
    return problem


@pytest.fixture
async def tenant(client: httpx.AsyncClient, service_keys: Any) -> dict[str, Any]:
    return await make_tenant(client, service_keys, "errors-region")


async def test_malformed_or_empty_json_is_400(client, tenant):
    headers = {**tenant["admin"], "Content-Type": "application/json"}
    for path in ("/v1/org-units", "/v1/org-units/import", "/v1/people/bulk"):
        for content in (b"{bad", b"", b"{", b"\xff\xfe"):
            response = await client.post(path, content=content, headers=headers)
            problem = assert_problem(response, 400, pointer="")
            assert problem["type"] == "urn:assess:problem:malformed-json"
        # well-formed JSON of the wrong shape is a validation problem at the root
        for content in (b"[1, 2]", b"null", b'"text"'):
            response = await client.post(path, content=content, headers=headers)
            assert assert_problem(response, 400, pointer="")["type"] == "urn:assess:problem:validation"
    assert (await client.get("/v1/org-units", headers=tenant["admin"])).json()["items"] == []


async def test_wrong_type_names_the_field(client, tenant):
    response = await client.post("/v1/org-units", json={"code": "X", "name": 5}, headers=tenant["admin"])
    problem = assert_problem(response, 400, pointer="/name")
    assert problem["type"] == "urn:assess:problem:validation"
    assert "/name" in problem["detail"]


async def test_wrong_type_nested_pointer(client, tenant):
    units = [{"code": f"U{i}", "name": f"Unit {i}"} for i in range(4)]
    units[2]["name"] = 7
    response = await client.post("/v1/org-units/import", json={"units": units}, headers=tenant["admin"])
    assert_problem(response, 400, pointer="/units/2/name")
    assert (await client.get("/v1/org-units", headers=tenant["admin"])).json()["items"] == []


async def test_scalars_are_not_coerced(client, tenant, service_keys):
    for value in ("true", 1, "1", None):
        response = await client.put("/v1/people/x", json={"active": value}, headers=tenant["admin"])
        assert_problem(response, 400, pointer="/active")
    response = await client.put("/v1/people/x", json={"display_name": 12}, headers=tenant["admin"])
    assert_problem(response, 400, pointer="/display_name")
    response = await client.post(
        "/v1/tenants",
        json={"slug": "abc", "name": "A", "auto_provision_people": "yes"},
        headers=operator(service_keys),
    )
    assert_problem(response, 400, pointer="/auto_provision_people")
    assert (await client.get("/v1/people/x", headers=tenant["admin"])).status_code == 404


async def test_unknown_field_is_refused(client, tenant):
    response = await client.post(
        "/v1/org-units", json={"code": "X", "name": "n", "tenant_id": tenant["id"]}, headers=tenant["admin"]
    )
    problem = assert_problem(response, 400, pointer="/tenant_id")
    assert "tenant_id" in problem["errors"][0]["detail"]
    assert (await client.get("/v1/org-units/X", headers=tenant["admin"])).status_code == 404


async def test_unknown_field_on_patch_is_refused(client, tenant):
    created = await client.post("/v1/org-units", json={"code": "X", "name": "n"}, headers=tenant["admin"])
    assert created.status_code == 201
    response = await client.patch(
        "/v1/org-units/X",
        json={"id": "00000000-0000-0000-0000-000000000000", "name": "changed"},
        headers=tenant["admin"],
    )
    assert_problem(response, 400, pointer="/id")
    after = (await client.get("/v1/org-units/X", headers=tenant["admin"])).json()
    assert after["id"] == created.json()["id"] and after["name"] == "n"


async def test_unknown_field_nested(client, tenant):
    response = await client.post(
        "/v1/people/bulk",
        json={"people": [{"external_id": "a"}, {"external_id": "b", "tenant_id": tenant["id"]}]},
        headers=tenant["admin"],
    )
    assert_problem(response, 400, pointer="/people/1/tenant_id")


async def test_unknown_field_on_tenant_create(client, service_keys):
    response = await client.post(
        "/v1/tenants",
        json={"slug": "abc", "name": "A", "status": "suspended"},
        headers=operator(service_keys),
    )
    assert_problem(response, 400, pointer="/status")


async def test_missing_required_field(client, tenant):
    for path, payload, pointer in [
        ("/v1/org-units", {"name": "n"}, "/code"),
        ("/v1/org-units", {"code": "X"}, "/name"),
        ("/v1/org-units/import", {}, "/units"),
        ("/v1/org-units/import", {"units": [{"code": "A", "name": "a"}, {"code": "B"}]}, "/units/1/name"),
        ("/v1/people/bulk", {"people": [{"category": "teacher"}]}, "/people/0/external_id"),
    ]:
        response = await client.post(path, json=payload, headers=tenant["admin"])
        problem = assert_problem(response, 400, pointer=pointer)
        assert "missing required field" in problem["errors"][0]["detail"]


async def test_pattern_and_length_violations(client, tenant):
    for payload, pointer in [
        ({"code": "has space", "name": "n"}, "/code"),
        ({"code": "", "name": "n"}, "/code"),
        ({"code": "-leading-dash", "name": "n"}, "/code"),
        ({"code": "C" * 65, "name": "n"}, "/code"),
        ({"code": "X", "name": "n" * 201}, "/name"),
        ({"code": "X", "name": ""}, "/name"),
        ({"code": "X", "name": "n", "level": "l" * 41}, "/level"),
        ({"code": "X", "name": "n", "parent_code": "no such"}, "/parent_code"),
    ]:
        response = await client.post("/v1/org-units", json=payload, headers=tenant["admin"])
        assert_problem(response, 400, pointer=pointer)
    assert (await client.get("/v1/org-units", headers=tenant["admin"])).json()["items"] == []
    # the limits themselves are allowed
    response = await client.post(
        "/v1/org-units",
        json={"code": "C" * 64, "name": "n" * 200, "level": "l" * 40},
        headers=tenant["admin"],
    )
    assert response.status_code == 201, response.text


async def test_people_field_violations(client, tenant):
    admin = tenant["admin"]
    assert_problem(
        await client.put("/v1/people/x", json={"display_name": "d" * 201}, headers=admin),
        400,
        pointer="/display_name",
    )
    assert_problem(
        await client.put("/v1/people/x", json={"category": "astronaut"}, headers=admin),
        400,
        pointer="/category",
    )
    assert_problem(
        await client.put("/v1/people/x", json={"org_unit_code": "a b"}, headers=admin),
        400,
        pointer="/org_unit_code",
    )


async def test_tenant_slug_violation(client, service_keys):
    response = await client.post(
        "/v1/tenants", json={"slug": "Not A Slug", "name": "n"}, headers=operator(service_keys)
    )
    assert_problem(response, 400, pointer="/slug")


async def test_oversized_body_is_413(client, tenant):
    payload = b'{"code": "X", "name": "' + b"n" * 2_000_001 + b'"}'
    response = await client.post(
        "/v1/org-units", content=payload, headers={**tenant["admin"], "Content-Type": "application/json"}
    )
    problem = assert_problem(response, 413)
    assert problem["type"] == "urn:assess:problem:body-too-large"
    assert (await client.get("/v1/org-units/X", headers=tenant["admin"])).status_code == 404


async def test_oversized_streamed_body_without_length_is_413(client, tenant):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"units": ['
        for _ in range(30):
            yield b'{"code": "A", "name": "' + b"n" * 100_000 + b'"},'
        yield b'{"code": "B", "name": "b"}]}'

    response = await client.post(
        "/v1/org-units/import",
        content=chunks(),
        headers={**tenant["admin"], "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_body_just_under_the_limit_is_accepted(client, tenant):
    units = [{"code": f"U{i:05d}", "name": "n" * 150} for i in range(10_000)]
    response = await client.post("/v1/org-units/import", json={"units": units}, headers=tenant["admin"])
    assert len(response.request.content) < 2_000_000
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 10_000


async def test_bad_cursor(client, tenant):
    for cursor in ("garbage", "!!!", "ü", "W10", '["org-units"]', "x" * 513, ""):
        response = await client.get("/v1/org-units", params={"cursor": cursor}, headers=tenant["admin"])
        assert_problem(response, 400, parameter="cursor")


async def test_cursor_from_another_list_is_refused(client, tenant):
    admin = tenant["admin"]
    for pid in ("a", "b"):
        assert (await client.put(f"/v1/people/{pid}", json={}, headers=admin)).status_code == 201
    page = (await client.get("/v1/people", params={"limit": 1}, headers=admin)).json()
    assert page["next_cursor"]
    response = await client.get("/v1/org-units", params={"cursor": page["next_cursor"]}, headers=admin)
    problem = assert_problem(response, 400, parameter="cursor")
    assert problem["type"] == "urn:assess:problem:bad-cursor"
    # ...while on its own list it works
    assert (
        await client.get("/v1/people", params={"cursor": page["next_cursor"]}, headers=admin)
    ).status_code == 200


async def test_bad_limit(client, tenant, service_keys):
    for path, headers in [
        ("/v1/org-units", tenant["admin"]),
        ("/v1/people", tenant["admin"]),
        ("/v1/tenants", operator(service_keys)),
    ]:
        for limit in ("0", "501", "abc", "-1", "1.5", ""):
            response = await client.get(path, params={"limit": limit}, headers=headers)
            assert_problem(response, 400, parameter="limit")
        for limit in ("1", "500"):
            assert (await client.get(path, params={"limit": limit}, headers=headers)).status_code == 200


async def test_bad_query_parameters(client, tenant):
    for path, params, parameter in [
        ("/v1/people", {"active": "maybe"}, "active"),
        ("/v1/people", {"category": "astronaut"}, "category"),
        ("/v1/people", {"under": "u" * 65}, "under"),
        ("/v1/org-units", {"parent": "p" * 65}, "parent"),
    ]:
        response = await client.get(path, params=params, headers=tenant["admin"])
        assert_problem(response, 400, parameter=parameter)


async def test_unknown_route_is_404(client, tenant):
    assert_problem(await client.get("/v1/no-such-thing", headers=tenant["admin"]), 404)
    assert_problem(await client.get("/nope"), 404)


async def test_wrong_method_is_405(client, tenant):
    response = await client.delete("/v1/people/x", headers=tenant["admin"])
    assert_problem(response, 405)
    assert "PUT" in response.headers["allow"]
    assert_problem(await client.put("/v1/org-units", json={}, headers=tenant["admin"]), 405)


async def test_unknown_org_unit_is_404(client, tenant):
    assert_problem(await client.get("/v1/org-units/NOPE", headers=tenant["admin"]), 404)
    assert_problem(await client.get("/v1/org-units", params={"under": "NOPE"}, headers=tenant["admin"]), 404)


async def test_duplicate_org_unit_code_is_409(client, tenant):
    first = await client.post("/v1/org-units", json={"code": "X", "name": "one"}, headers=tenant["admin"])
    assert first.status_code == 201
    response = await client.post("/v1/org-units", json={"code": "X", "name": "two"}, headers=tenant["admin"])
    problem = assert_problem(response, 409, pointer="/code")
    assert "SQL" not in problem["detail"] and "constraint" not in problem["detail"]
    assert (await client.get("/v1/org-units/X", headers=tenant["admin"])).json()["name"] == "one"


async def test_same_org_unit_code_in_two_tenants_is_fine(client, service_keys, tenant):
    other = await make_tenant(client, service_keys, "other-region")
    for headers in (tenant["admin"], other["admin"]):
        response = await client.post("/v1/org-units", json={"code": "X", "name": "n"}, headers=headers)
        assert response.status_code == 201, response.text


async def test_duplicate_tenant_slug_is_409(client, service_keys):
    await make_tenant(client, service_keys, "twice")
    response = await client.post(
        "/v1/tenants", json={"slug": "twice", "name": "Again"}, headers=operator(service_keys)
    )
    assert_problem(response, 409, pointer="/slug")


async def test_request_id_header_matches_problem(client, tenant):
    response = await client.post("/v1/org-units", json={"code": "X", "name": 5}, headers=tenant["admin"])
    problem = assert_problem(response, 400)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert problem["request_id"] == response.headers["x-request-id"]
    again = await client.post("/v1/org-units", json={"code": "X", "name": 5}, headers=tenant["admin"])
    assert again.headers["x-request-id"] != response.headers["x-request-id"]


async def test_client_request_id_is_echoed(client, tenant):
    response = await client.get(
        "/v1/org-units", params={"limit": 0}, headers={**tenant["admin"], "X-Request-ID": "client-req.42_x"}
    )
    problem = assert_problem(response, 400, parameter="limit")
    assert response.headers["x-request-id"] == "client-req.42_x" == problem["request_id"]
    ok = await client.get("/v1/org-units", headers={**tenant["admin"], "X-Request-ID": "ok-1"})
    assert ok.status_code == 200 and ok.headers["x-request-id"] == "ok-1"
    unauthorized = await client.get("/v1/org-units", headers={"X-Request-ID": "anon-1"})
    assert assert_problem(unauthorized, 401)["request_id"] == "anon-1"


async def test_unsafe_client_request_id_is_replaced(client, tenant):
    for unsafe in ("has space", "x" * 65, 'a"b', "<script>"):
        response = await client.get(
            "/v1/org-units", params={"limit": 0}, headers={**tenant["admin"], "X-Request-ID": unsafe}
        )
        problem = assert_problem(response, 400)
        assert response.headers["x-request-id"] != unsafe
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
        assert problem["request_id"] == response.headers["x-request-id"]


async def test_routing_errors_carry_request_id(client, tenant):
    for method, path, status in [("GET", "/v1/no-such-thing", 404), ("DELETE", "/v1/people/x", 405)]:
        response = await client.request(
            method, path, headers={**tenant["admin"], "X-Request-ID": "route-err-1"}
        )
        problem = assert_problem(response, status)
        assert response.headers.get("x-request-id") == "route-err-1"
        assert problem.get("request_id") == "route-err-1"


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """What exists now is left out of garbage collection (gc.freeze) until the test ends: a collection
    walks only what the test made since (each took 0.24 s over the whole heap, 25 of them per test)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def test_strict_decoding_holds_for_every_app_in_the_process(settings, service_keys, frozen_heap):
    """Each app is freed (collected) before the next is built, so the next one's objects can take its
    ids: decoders keyed by handler id once gave routes the wrong body type (body.py)."""
    admin: dict[str, str] | None = None
    wrong: list[tuple[int, str, int]] = []
    for i in range(25):
        app = create_app(settings)
        async with serving(app) as http:
            if admin is None:
                admin = (await make_tenant(http, service_keys, "reloaded"))["admin"]
            calls = [
                ("GET /v1/org-units", await http.get("/v1/org-units", headers=admin), 200),
                ("GET /v1/people", await http.get("/v1/people", headers=admin), 200),
                ("GET /v1/tenants", await http.get("/v1/tenants", headers=operator(service_keys)), 200),
                (
                    "POST /v1/org-units",
                    await http.post("/v1/org-units", json={"code": f"U{i}", "name": "n"}, headers=admin),
                    201,
                ),
                (
                    "PATCH /v1/org-units",
                    await http.patch(f"/v1/org-units/U{i}", json={"level": None}, headers=admin),
                    200,
                ),
                (
                    "POST move",
                    await http.post(f"/v1/org-units/U{i}/move", json={"parent_code": None}, headers=admin),
                    200,
                ),
                (
                    "PUT /v1/people strict",
                    await http.put(f"/v1/people/p{i}", json={"active": "true"}, headers=admin),
                    400,
                ),
                (
                    "POST bulk strict",
                    await http.post(
                        "/v1/people/bulk",
                        json={"people": [{"external_id": f"b{i}", "active": "false"}]},
                        headers=admin,
                    ),
                    400,
                ),
                (
                    "POST import",
                    await http.post(
                        "/v1/org-units/import",
                        json={"units": [{"code": f"I{i}", "name": "n"}]},
                        headers=admin,
                    ),
                    201,
                ),
            ]
            wrong += [(i, name, r.status_code) for name, r, want in calls if r.status_code != want]
        del app, http, calls
        gc.collect()
    assert wrong == []


async def test_invalid_utf8_in_a_string_is_400_not_500(client, tenant):
    response = await client.post(
        "/v1/org-units",
        content=b'{"code": "X", "name": "a\xffb"}',
        headers={**tenant["admin"], "Content-Type": "application/json"},
    )
    assert response.status_code != 500, response.text
    assert_problem(response, 400, pointer="")


async def test_nul_character_in_body_names_the_field(client, tenant):
    response = await client.post(
        "/v1/org-units", json={"code": "X", "name": "a\u0000b"}, headers=tenant["admin"]
    )
    assert_problem(response, 400, pointer="/name")


async def test_nul_character_in_query_names_the_parameter(client, tenant):
    response = await client.get("/v1/org-units", params={"level": "a\u0000b"}, headers=tenant["admin"])
    assert_problem(response, 400, parameter="level")


async def test_a_bad_enum_value_lists_the_allowed_ones(client, tenant):
    """In a body (nested too), a query parameter, and a tagged union's `type`: the 400 says what is allowed."""
    admin = tenant["admin"]
    categories = (
        "'civil_servant', 'leading_cadre', 'other', 'professional_technical', 'teacher', 'unspecified'"
    )
    body = assert_problem(
        await client.put("/v1/people/p1", json={"category": "cadre"}, headers=admin), 400, pointer="/category"
    )
    assert body["errors"][0]["detail"] == f"Invalid enum value 'cadre'; allowed: {categories}"
    nested = assert_problem(
        await client.post(
            "/v1/people/bulk", json={"people": [{"external_id": "p1", "category": "cadre"}]}, headers=admin
        ),
        400,
        pointer="/people/0/category",
    )
    assert nested["errors"][0]["detail"].endswith(f"allowed: {categories}")
    query = assert_problem(
        await client.get("/v1/assessments", params={"status": "open"}, headers=admin), 400, parameter="status"
    )
    assert (
        query["errors"][0]["detail"] == "Invalid enum value 'open'; allowed: 'closed', 'draft', 'published'"
    )
    tagged = assert_problem(
        await client.post(
            "/v1/items/import", json={"items": [{"type": "essay", "code": "x"}]}, headers=admin
        ),
        400,
        pointer="/items/0/type",
    )
    assert "allowed: " in tagged["errors"][0]["detail"] and "'single_choice'" in tagged["errors"][0]["detail"]
