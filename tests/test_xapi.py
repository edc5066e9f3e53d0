"""xAPI statements to a real LRS on loopback (Ralph), from the outbox, over a real PostgreSQL.

The app runs without its background dispatchers; each test sends what is due with the xAPI
dispatcher's own `dispatch_once`, so what was sent when is decided by the test, not by timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
import pytest

from service import pipeline
from service.config import Settings
from service.db.pool import create_pool, tenant_transaction
from service.webhooks.dispatcher import RetryPolicy
from service.xapi import dispatcher, statements
from tests.conftest import serving
from tests.delivery_setup import ITEMS, delivery_tenant
from tests.harness import app_for
from tests.helpers import all_pages, make_tenant, stored_json, user
from tests.lrs import Ralph, ralph, ralph_env  # noqa: F401  (fixtures)

CLOSED_ITEMS = [{"code": item["code"]} for item in ITEMS if item["type"] != "open_response"]
HOME = "https://idp.example.gov.cn"
NOW = RetryPolicy(base_seconds=0, max_seconds=0)  # a failed statement is due again at once
LATER = RetryPolicy(base_seconds=3600, max_seconds=3600)  # ... or in up to an hour


@pytest.fixture
async def lrs_app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    quiet = msgspec.structs.replace(settings, webhook_allow_loopback=True, webhook_dispatch_seconds=0)
    async with serving(app_for(quiet)) as http:
        yield http


@pytest.fixture
async def pool(app_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(app_url, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def send_due(pool: asyncpg.Pool, policy: RetryPolicy = NOW) -> int:
    async with dispatcher.new_client() as http:
        return await dispatcher.dispatch_once(pool, http, policy)


async def set_lrs(
    client: httpx.AsyncClient, admin: dict[str, str], lrs: Ralph, **overrides: Any
) -> dict[str, Any]:
    body = {"url": lrs.xapi_url, "key": lrs.key, "secret": lrs.secret, "home_page": HOME} | overrides
    response = await client.put("/v1/lrs", json=body, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def take(client: httpx.AsyncClient, me: dict[str, str]) -> str:
    started = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)
    attempt: str = started.json()["attempt"]["id"]
    saved = await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": "c"}},
        headers=me,
    )
    assert saved.status_code == 200, saved.text
    submitted = await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
    assert submitted.status_code == 200, submitted.text
    return attempt


async def log_of(client: httpx.AsyncClient, admin: dict[str, str]) -> list[dict[str, Any]]:
    return await all_pages(client, "/v1/lrs/statements", admin)


def by_verb(found: list[dict[str, Any]], verb: str) -> list[dict[str, Any]]:
    return [s for s in found if s["verb"]["id"] == statements.VERBS[verb][0]]


async def test_an_attempt_reaches_the_lrs_as_valid_statements_and_a_redelivery_adds_nothing(
    lrs_app, service_keys, ralph, ralph_env, pool, owner
):
    tenant = await delivery_tenant(
        lrs_app, service_keys, slug="xapi", sections=[{"code": "main", "items": CLOSED_ITEMS}]
    )
    admin = tenant["admin"]
    settings = await set_lrs(lrs_app, admin, ralph)
    assert settings["url"] == ralph.xapi_url and "secret" not in settings
    tested = await lrs_app.post("/v1/lrs/test", headers=admin)
    assert tested.json() == {"ok": True, "status": 200, "error": None}

    attempt = await take(lrs_app, tenant["candidates"][0])
    log = await log_of(lrs_app, admin)
    assert {d["status"] for d in log} == {"pending"}
    sent = await send_due(pool)
    assert sent == len(log), [
        (d["verb"], d["last_status"], d["last_error"]) for d in await log_of(lrs_app, admin)
    ]

    stored = {s["id"]: s for s in ralph.statements(registration=attempt)}
    log = await log_of(lrs_app, admin)
    assert stored.keys() == {d["id"] for d in log}
    assert all(d["status"] == "delivered" and d["last_status"] == 204 and d["attempts"] == 1 for d in log)
    ours = [d["statement"] for d in log]
    assert ralph_env.validate(ours) == []
    assert ralph_env.validate(list(stored.values())) == []

    # attempted, completed, scored: overall and one per top-level dimension
    [attempted], [completed] = by_verb(ours, "attempted"), by_verb(ours, "completed")
    scored = by_verb(ours, "scored")
    document = await score_document(owner, attempt)
    top = set(document["overall"]["weights_used"])
    assert len(scored) == 1 + len(top) and top
    for statement in ours:
        assert statement["actor"] == {"objectType": "Agent", "account": {"homePage": HOME, "name": "c1"}}
        assert statement["context"]["registration"] == attempt
        assert statement["version"] == "1.0.3"
    assert completed["result"] == {"completion": True}
    assert attempted["object"]["id"] == completed["object"]["id"] == f"{HOME}/xapi/assessments/quiz"
    for statement in scored:
        score = statement["result"]["score"]
        assert 0 <= score["scaled"] <= 1 and score["raw"] == pytest.approx(score["scaled"] * 100)
        assert statement["result"]["extensions"][statements.LEVEL]
    [overall] = [s for s in scored if s["object"]["id"] == attempted["object"]["id"]]
    assert overall["result"]["score"]["scaled"] == pytest.approx(
        document["overall"]["scaled"] / 100, abs=1e-6
    )
    assert overall["result"]["extensions"][statements.LEVEL] == document["overall"]["level"]
    for statement in stored.values():  # what the LRS keeps: ours, plus its own `stored` and `authority`
        mine = next(s for s in ours if s["id"] == statement["id"])
        assert {k: v for k, v in statement.items() if k not in ("stored", "authority")} == mine

    # a redelivery of every statement: the LRS recognises the ids and keeps one of each
    for delivery in log:
        redone = await lrs_app.post(f"/v1/lrs/statements/{delivery['id']}/redeliver", headers=admin)
        assert redone.status_code == 200 and redone.json()["status"] == "pending", redone.text
    assert await send_due(pool) == len(log)
    again = ralph.statements(registration=attempt)
    assert sorted(s["id"] for s in again) == sorted(stored)
    assert all(d["status"] == "delivered" for d in await log_of(lrs_app, admin))


async def score_document(owner: asyncpg.Connection, attempt: str) -> dict[str, Any]:
    return await stored_json(owner, attempt)


async def test_a_rescoring_voids_the_scored_statements_it_replaces(
    lrs_app, service_keys, ralph, ralph_env, pool
):
    tenant = await delivery_tenant(
        lrs_app, service_keys, slug="xapi-rescore", sections=[{"code": "main", "items": CLOSED_ITEMS}]
    )
    admin = tenant["admin"]
    await set_lrs(lrs_app, admin, ralph)
    attempt = await take(lrs_app, tenant["candidates"][1])
    await send_due(pool)
    first = by_verb([d["statement"] for d in await log_of(lrs_app, admin)], "scored")

    async with tenant_transaction(pool, UUID(tenant["id"])) as conn:
        await pipeline.score_attempts(conn, [UUID(attempt)], reason="rescored", scored_by="test")
    log = await log_of(lrs_app, admin)
    pending = [d["statement"] for d in log if d["status"] == "pending"]
    voided = by_verb(pending, "voided")
    assert sorted(v["object"]["id"] for v in voided) == sorted(s["id"] for s in first)
    assert all(v["object"]["objectType"] == "StatementRef" for v in voided)
    rescored = by_verb(pending, "scored")
    assert len(rescored) == len(first)
    assert all(s["context"]["extensions"][statements.SCORE_VERSION] == 2 for s in rescored)
    assert ralph_env.validate(pending) == []
    assert await send_due(pool) == len(pending)

    held = {s["id"] for s in ralph.statements(registration=attempt)}
    assert {s["id"] for s in rescored} <= held
    assert {s["id"] for s in voided} <= held


async def test_an_lrs_refusing_or_down_keeps_every_statement_until_it_accepts(
    lrs_app, service_keys, ralph, pool, owner
):
    """Wrong credentials (401), nobody listening (connection refused), an LRS in maintenance (503):
    each try is logged with its typed error and retried; once the settings are right, every
    statement arrives once."""
    tenant = await delivery_tenant(
        lrs_app, service_keys, slug="xapi-down", sections=[{"code": "main", "items": CLOSED_ITEMS}]
    )
    admin = tenant["admin"]
    await set_lrs(lrs_app, admin, ralph, secret="not-the-secret")
    tested = (await lrs_app.post("/v1/lrs/test", headers=admin)).json()
    assert tested == {"ok": False, "status": 401, "error": "HTTP 401"}
    attempt = await take(lrs_app, tenant["candidates"][2])
    count = len(await log_of(lrs_app, admin))

    assert await send_due(pool, LATER) == 0
    log = await log_of(lrs_app, admin)
    assert len(log) == count and all(
        d["status"] == "pending" and d["attempts"] == 1 and d["last_status"] == 401 for d in log
    )
    assert all(d["last_error"].startswith("HTTP 401") for d in log)

    dead = f"http://127.0.0.1:{_closed_port()}/xAPI/"
    await set_lrs(lrs_app, admin, ralph, url=dead)
    assert (await lrs_app.post("/v1/lrs/test", headers=admin)).json()["ok"] is False
    await owner.execute("UPDATE lrs_statements SET next_attempt_at = now()")  # the retry is due
    assert await send_due(pool, LATER) == 0
    log = await log_of(lrs_app, admin)
    assert all(
        d["attempts"] == 2 and d["last_status"] is None and "ConnectError" in d["last_error"] for d in log
    )

    async with _answering(503, b'{"detail": "maintenance"}') as unavailable:
        await set_lrs(lrs_app, admin, ralph, url=unavailable)
        await owner.execute("UPDATE lrs_statements SET next_attempt_at = now()")
        assert await send_due(pool, LATER) == 0
    log = await log_of(lrs_app, admin)
    assert all(d["attempts"] == 3 and d["last_status"] == 503 and d["status"] == "pending" for d in log)
    assert all(d["last_error"] == 'HTTP 503: {"detail": "maintenance"}' for d in log)
    assert ralph.statements(registration=attempt) == []

    await set_lrs(lrs_app, admin, ralph)
    await owner.execute("UPDATE lrs_statements SET next_attempt_at = now()")
    assert await send_due(pool) == count
    log = await log_of(lrs_app, admin)
    assert all(d["status"] == "delivered" and d["attempts"] == 4 and d["last_error"] is None for d in log)
    assert len(ralph.statements(registration=attempt)) == count


@contextlib.asynccontextmanager
async def _answering(status: int, body: bytes) -> AsyncIterator[str]:
    """An LRS stand-in on loopback that answers every request with `status` and `body`."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        writer.write(head.encode() + b"connection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/xAPI/"
    finally:
        server.close()
        await server.wait_closed()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: connecting is refused


async def test_settings_are_checked_kept_per_tenant_and_admin_only(lrs_app, service_keys, ralph, owner):
    tenant = await make_tenant(lrs_app, service_keys, "xapi-settings")
    admin = tenant["admin"]
    assert (await lrs_app.get("/v1/lrs", headers=admin)).status_code == 404
    assert (await lrs_app.post("/v1/lrs/test", headers=admin)).status_code == 404
    assert (await lrs_app.get("/v1/lrs/statements", headers=admin)).status_code == 404
    body = {"url": ralph.xapi_url, "key": "k", "secret": "s", "home_page": HOME}
    for bad, pointer in (({"url": "ftp://lrs.example/"}, "/url"), ({"home_page": "not a url"}, "/home_page")):
        refused = await lrs_app.put("/v1/lrs", json=body | bad, headers=admin | {"accept-language": "zh-CN"})
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        assert [e["pointer"] for e in refused.json()["errors"]] == [pointer], refused.text
    missing = await lrs_app.put("/v1/lrs", json={"url": ralph.xapi_url}, headers=admin)
    assert missing.status_code == 400 and missing.headers["content-type"] == "application/problem+json"
    assert (await lrs_app.get("/v1/lrs", headers=admin)).status_code == 404  # nothing stored

    await set_lrs(lrs_app, admin, ralph)
    read = (await lrs_app.get("/v1/lrs", headers=admin)).json()
    assert read["key"] == ralph.key and read["home_page"] == HOME and "secret" not in read
    other = await make_tenant(lrs_app, service_keys, "xapi-other")
    assert (await lrs_app.get("/v1/lrs", headers=other["admin"])).status_code == 404
    candidate = user(service_keys, tenant["id"], ["candidate"], sub="c1")
    assert (await lrs_app.get("/v1/lrs", headers=candidate)).status_code == 403
    assert (await lrs_app.delete("/v1/lrs", headers=admin)).status_code == 204
    assert (await lrs_app.get("/v1/lrs", headers=admin)).status_code == 404
    assert await owner.fetchval("SELECT count(*) FROM lrs_endpoints") == 0


async def test_without_an_lrs_nothing_is_queued(lrs_app, service_keys, owner):
    tenant = await delivery_tenant(
        lrs_app, service_keys, slug="xapi-none", sections=[{"code": "main", "items": CLOSED_ITEMS}]
    )
    await take(lrs_app, tenant["candidates"][0])
    assert await owner.fetchval("SELECT count(*) FROM lrs_statements") == 0


async def test_a_provisional_score_sends_nothing_until_its_rating_makes_it_final(
    lrs_app, service_keys, ralph
):
    tenant = await delivery_tenant(lrs_app, service_keys, slug="xapi-rated")
    admin = tenant["admin"]
    await set_lrs(lrs_app, admin, ralph)
    me = tenant["candidates"][0]
    attempt = (await lrs_app.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()["attempt"][
        "id"
    ]
    answer = {"revision": 1, "answer": {"text": "a prompt"}}
    assert (
        await lrs_app.put(f"/v1/me/attempts/{attempt}/answers/T-OR-1", json=answer, headers=me)
    ).status_code == 200
    assert (await lrs_app.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
    assert sorted(d["verb"] for d in await log_of(lrs_app, admin)) == ["attempted", "completed"]

    rater = user(service_keys, tenant["id"], ["rater"], sub="r1")
    [task] = (await lrs_app.get("/v1/rating-tasks", headers=rater)).json()["items"]
    rated = await lrs_app.post(f"/v1/rating-tasks/{task['id']}/ratings", json={"value": 2}, headers=rater)
    assert rated.status_code == 200, rated.text
    scored = [d for d in await log_of(lrs_app, admin) if d["verb"] == "scored"]
    assert scored and {d["score_version"] for d in scored} == {2}
    assert not [d for d in await log_of(lrs_app, admin) if d["verb"] == "voided"]  # nothing scored before


async def test_statements_past_retention_are_deleted_unless_pending(lrs_app, service_keys, pool, owner):
    """What is pruned is the log of statements sent or given up on; a pending one stays whatever its
    age, and another tenant's recent statements are untouched."""
    queued: dict[UUID, int] = {}
    for slug in ("xapi-old", "xapi-new"):
        tenant = await delivery_tenant(
            lrs_app, service_keys, slug=slug, sections=[{"code": "main", "items": CLOSED_ITEMS}]
        )
        dead = f"http://127.0.0.1:{_closed_port()}/xAPI/"
        body = {"url": dead, "key": "k", "secret": "s", "home_page": HOME}
        assert (await lrs_app.put("/v1/lrs", json=body, headers=tenant["admin"])).status_code == 200
        await take(lrs_app, tenant["candidates"][0])
        queued[UUID(tenant["id"])] = len(await log_of(lrs_app, tenant["admin"]))
    old, new = queued
    assert queued[old] >= 3
    await owner.execute("UPDATE lrs_statements SET status = 'delivered'")
    await owner.execute(
        """UPDATE lrs_statements SET created_at = now() - interval '40 days',
                  status = CASE WHEN id = (SELECT min(id::text)::uuid FROM lrs_statements WHERE tenant_id = $1)
                                THEN 'pending' ELSE 'failed' END
           WHERE tenant_id = $1""",
        old,
    )
    assert await dispatcher.prune(pool, retention_days=30) == queued[old] - 1
    assert await dispatcher.prune(pool, retention_days=30) == 0
    left = {
        r["tenant_id"]: (r["n"], r["statuses"])
        for r in await owner.fetch(
            "SELECT tenant_id, count(*) AS n, array_agg(DISTINCT status) AS statuses FROM lrs_statements GROUP BY 1"
        )
    }
    assert left == {old: (1, ["pending"]), new: (queued[new], ["delivered"])}
