from __future__ import annotations

from tests.helpers import make_tenant


async def test_ready_and_admin_lists_units(client, service_keys):
    assert (await client.get("/health/ready")).status_code == 200
    tenant = await make_tenant(client, service_keys, "smoke-region")
    created = await client.post(
        "/v1/org-units", json={"code": "P", "name": "Province", "level": "province"}, headers=tenant["admin"]
    )
    assert created.status_code == 201, created.text
    listed = await client.get("/v1/org-units", headers=tenant["admin"])
    assert [u["code"] for u in listed.json()["items"]] == ["P"]
