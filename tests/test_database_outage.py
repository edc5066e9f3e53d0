"""The database goes away under a running service and comes back: requests in between get 503
with Retry-After (problem+json, nothing changed), and the service recovers on its own, with no
restart (the pool replaces dead connections)."""

from __future__ import annotations

from urllib.parse import urlparse

import asyncpg
import pytest

from service.db.urls import with_database
from tests.helpers import make_tenant

pytestmark = (
    pytest.mark.slow
)  # fault injection: the database goes away and comes back; deselect locally with -m "not slow"


async def _cut(server_url: str, database: str, allow: bool) -> None:
    admin = await asyncpg.connect(with_database(server_url, "postgres"))
    try:
        await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:  # and drop every session the service holds, as a crash or restart of the server would
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
            )
    finally:
        await admin.close()


async def test_an_outage_gives_503_with_retry_after_and_the_service_recovers_by_itself(
    client, service_keys, server_url, owner_url
):
    tenant = await make_tenant(client, service_keys, "outage-region")
    admin = tenant["admin"]
    assert (await client.get("/v1/org-units", headers=admin)).status_code == 200
    database = urlparse(owner_url).path.lstrip("/")
    await _cut(server_url, database, allow=False)
    try:
        for _ in range(3):  # every pooled connection is dead, and no new one can be made
            down = await client.post("/v1/org-units", json={"code": "lost", "name": "Lost"}, headers=admin)
            assert down.status_code == 503, down.text
            assert down.headers["content-type"] == "application/problem+json"
            assert down.headers["retry-after"] == "2" and down.json()["type"].endswith("database-unavailable")
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
    finally:
        await _cut(server_url, database, allow=True)
    assert (await client.get("/health/ready")).status_code == 200
    listed = await client.get("/v1/org-units", headers=admin)
    assert listed.status_code == 200 and listed.json()["items"] == []  # the refused write left nothing
    assert (
        await client.post("/v1/org-units", json={"code": "back", "name": "Back"}, headers=admin)
    ).status_code == 201
