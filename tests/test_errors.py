import pytest
from tests.helpers import make_tenant, operator
async def test_probe(client, service_keys, owner_url):
    import asyncpg
    c = await asyncpg.connect(owner_url)
    print("COLL", await c.fetchval("select datcollate from pg_database where datname=current_database()"))
    await c.close()
    for m, p in [("GET", "/nope"), ("DELETE", "/v1/people/x"), ("GET", "/v1/org-units")]:
        r = await client.request(m, p, headers={"X-Request-ID": "abc"})
        print(m, p, r.status_code, dict(r.headers), r.text)
