"""The life of a framework over HTTP: adopt, edit under ETags, publish, diff, exchange."""

from __future__ import annotations

import asyncio

import pytest

from service.rubrics.templates import load_templates
from tests.helpers import make_tenant, operator

TEMPLATE = "unesco-ai-competency-teachers"


@pytest.fixture
async def admin(client, service_keys):
    return (await make_tenant(client, service_keys, "rubric-region"))["admin"]


async def _adopt(client, admin, code="ai-teachers", template=TEMPLATE):
    response = await client.post("/v1/frameworks", json={"template": template, "code": code}, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


async def test_adopt_edit_publish_and_immutability(client, admin):
    framework = await _adopt(client, admin)
    assert framework["draft_version"] == 1 and framework["origin"]["template"] == TEMPLATE
    read = await client.get("/v1/frameworks/ai-teachers/versions/1", headers=admin)
    etag = read.headers["etag"]
    patch = [
        {"op": "replace", "path": "/dimensions/0/weight", "value": 0.3},
        {"op": "replace", "path": "/dimensions/1/weight", "value": 0.1},
    ]
    assert (
        await client.patch("/v1/frameworks/ai-teachers/versions/1", json=patch, headers=admin)
    ).status_code == 428
    stale = await client.patch(
        "/v1/frameworks/ai-teachers/versions/1", json=patch, headers={**admin, "If-Match": '"1.999"'}
    )
    assert stale.status_code == 412
    edited = await client.patch(
        "/v1/frameworks/ai-teachers/versions/1", json=patch, headers={**admin, "If-Match": etag}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["content"]["dimensions"][0]["weight"] == 0.3 and edited.headers["etag"] != etag

    broken = [{"op": "replace", "path": "/dimensions/0/weight", "value": 0.9}]
    await client.patch(
        "/v1/frameworks/ai-teachers/versions/1",
        json=broken,
        headers={**admin, "If-Match": edited.headers["etag"]},
    )
    report = (await client.post("/v1/frameworks/ai-teachers/versions/1/validate", headers=admin)).json()
    assert not report["valid"] and report["problems"][0]["pointer"] == "/dimensions"
    current = await client.get("/v1/frameworks/ai-teachers/versions/1", headers=admin)
    refused = await client.post(
        "/v1/frameworks/ai-teachers/versions/1/publish",
        headers={**admin, "If-Match": current.headers["etag"]},
    )
    assert refused.status_code == 422

    fixed = await client.patch(
        "/v1/frameworks/ai-teachers/versions/1",
        json=[{"op": "replace", "path": "/dimensions/0/weight", "value": 0.3}],
        headers={**admin, "If-Match": current.headers["etag"]},
    )
    published = await client.post(
        "/v1/frameworks/ai-teachers/versions/1/publish", headers={**admin, "If-Match": fixed.headers["etag"]}
    )
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published" and published.json()["content_hash"].startswith(
        "sha256:"
    )

    etag = published.headers["etag"]
    for method, url, body in [
        ("PATCH", "/v1/frameworks/ai-teachers/versions/1", broken),
        ("PUT", "/v1/frameworks/ai-teachers/versions/1", current.json()["content"]),
        ("POST", "/v1/frameworks/ai-teachers/versions/1/publish", None),
    ]:
        response = await client.request(method, url, json=body, headers={**admin, "If-Match": etag})
        assert response.status_code == 409, (method, url, response.text)

    draft = await client.post("/v1/frameworks/ai-teachers/versions", json={}, headers=admin)
    assert draft.status_code == 201 and draft.json()["version"] == 2
    assert (
        await client.post("/v1/frameworks/ai-teachers/versions", json={}, headers=admin)
    ).status_code == 409
    removed = [
        {"op": "remove", "path": "/dimensions/4/indicators/2"},
        {"op": "replace", "path": "/dimensions/4/indicators/1/weight", "value": 0.6667},
    ]
    patched = await client.patch(
        "/v1/frameworks/ai-teachers/versions/2",
        json=removed,
        headers={**admin, "If-Match": draft.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    diff = (
        await client.get("/v1/frameworks/ai-teachers/diff", params={"from": 1, "to": 2}, headers=admin)
    ).json()
    assert [e["code"] for e in diff["removed"]] == ["D5.3"]
    assert [c["code"] for c in diff["changed"]] == ["D5.2"] and "weight" in diff["changed"][0]["fields"]
    retired = await client.post("/v1/frameworks/ai-teachers/versions/1/retire", headers=admin)
    assert retired.json()["status"] == "retired"
    assert (await client.get("/v1/frameworks/ai-teachers/versions/1", headers=admin)).status_code == 200


async def test_concurrent_writers_get_one_success_and_one_412(client, admin):
    await _adopt(client, admin)
    etag = (await client.get("/v1/frameworks/ai-teachers/versions/1", headers=admin)).headers["etag"]

    async def write(weight):
        return await client.patch(
            "/v1/frameworks/ai-teachers/versions/1",
            json=[{"op": "replace", "path": "/dimensions/0/weight", "value": weight}],
            headers={**admin, "If-Match": etag},
        )

    statuses = sorted(r.status_code for r in await asyncio.gather(write(0.25), write(0.15)))
    assert statuses == [200, 412]


@pytest.mark.parametrize("template", sorted(load_templates()))
async def test_every_template_publishes_and_round_trips(client, admin, template):
    await _adopt(client, admin, code="fw", template=template)
    etag = (await client.get("/v1/frameworks/fw/versions/1", headers=admin)).headers["etag"]
    published = await client.post("/v1/frameworks/fw/versions/1/publish", headers={**admin, "If-Match": etag})
    assert published.status_code == 200, published.text
    original = published.json()["content"]
    for fmt, route in (("case", "/v1/frameworks/import/case"), ("native", "/v1/frameworks/import/native")):
        exported = await client.get(
            "/v1/frameworks/fw/versions/1/export", params={"format": fmt}, headers=admin
        )
        assert exported.status_code == 200
        params = {"code": f"fw-{fmt}"} if fmt == "case" else None
        body = exported.json() if fmt == "case" else {**exported.json(), "code": "fw-native"}
        imported = await client.post(route, json=body, params=params, headers=admin)
        assert imported.status_code == 201, imported.text
        again = (await client.get(f"/v1/frameworks/fw-{fmt}/versions/1", headers=admin)).json()["content"]
        assert {**again, "code": "fw"} == original
        re_exported = await client.get(
            f"/v1/frameworks/fw-{fmt}/versions/1/export", params={"format": "native"}, headers=admin
        )
        assert {**re_exported.json(), "code": "fw"} == original


async def test_localized_rendering_follows_accept_language(client, admin):
    zh = await client.get(
        f"/v1/rubric-templates/{TEMPLATE}/rendered", headers={**admin, "Accept-Language": "zh"}
    )
    en = await client.get(
        f"/v1/rubric-templates/{TEMPLATE}/rendered", headers={**admin, "Accept-Language": "fr;q=1, en;q=0.5"}
    )
    assert zh.headers["content-language"] == "zh-CN" and en.headers["content-language"] == "en"
    assert isinstance(zh.json()["title"], str) and zh.json()["title"] != en.json()["title"]


async def test_tenants_never_see_each_others_frameworks(client, service_keys, admin):
    await _adopt(client, admin)
    other = (await make_tenant(client, service_keys, "other-region"))["admin"]
    assert (await client.get("/v1/frameworks", headers=other)).json()["items"] == []
    assert (await client.get("/v1/frameworks/ai-teachers", headers=other)).status_code == 404
    assert (await client.get("/v1/rubric-templates", headers=other)).status_code == 200
    assert (await client.get("/v1/frameworks", headers=operator(service_keys))).status_code == 403


async def test_the_database_refuses_to_change_a_published_version(client, admin, app_url):
    import asyncpg

    from service.db.pool import create_pool, tenant_transaction

    framework = await _adopt(client, admin)
    etag = (await client.get("/v1/frameworks/ai-teachers/versions/1", headers=admin)).headers["etag"]
    await client.post("/v1/frameworks/ai-teachers/versions/1/publish", headers={**admin, "If-Match": etag})
    tenant_id = (await client.get("/v1/tenant", headers=admin)).json()["id"]
    pool = await create_pool(app_url, max_size=1)
    try:
        for statement in (
            "UPDATE framework_versions SET content = '{}'::jsonb",
            "UPDATE framework_versions SET status = 'draft', content_hash = NULL",
            "DELETE FROM framework_versions",
        ):
            with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):
                async with tenant_transaction(pool, tenant_id) as conn:
                    await conn.execute(statement)
        async with tenant_transaction(pool, tenant_id) as conn:
            assert (
                await conn.fetchval(
                    "SELECT status FROM framework_versions WHERE framework_id = $1", framework["id"]
                )
                == "published"
            )
    finally:
        await pool.close()


async def test_a_new_draft_needs_no_body(client, admin):
    """POST .../versions with no body at all (or `{}`) copies the latest version; a wrong body is named."""
    await _adopt(client, admin)
    read = await client.get("/v1/frameworks/ai-teachers/versions/1", headers=admin)
    published = await client.post(
        "/v1/frameworks/ai-teachers/versions/1/publish", headers={**admin, "If-Match": read.headers["etag"]}
    )
    assert published.status_code == 200, published.text
    wrong = await client.post("/v1/frameworks/ai-teachers/versions", json={"from": 1}, headers=admin)
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["pointer"] == "/from"
    draft = await client.post("/v1/frameworks/ai-teachers/versions", headers=admin)
    assert draft.status_code == 201, draft.text
    assert draft.json()["version"] == 2 and draft.json()["status"] == "draft"
    again = await client.post("/v1/frameworks/ai-teachers/versions", headers=admin)
    assert again.status_code == 409  # one draft at a time, body or not
