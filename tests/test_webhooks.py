"""Webhooks end to end: real PostgreSQL, the app's own dispatcher, a real HTTP receiver on 127.0.0.1.

The receiver is a raw asyncio server that records every request and answers as told: 200, 500
for the next N tries, 500 until told otherwise, or not at all until released (a request in flight).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime as datetime_type
from datetime import timedelta
from typing import Any, Self
from uuid import UUID

import httpx
import msgspec
import pytest

from service import pipeline
from service.auth.keys import ServiceKeys
from service.config import Settings
from service.db.pool import create_pool, tenant_transaction
from service.delivery import attempts
from service.results import scores
from service.tenancy import people
from service.webhooks import dispatcher, outbox, signing
from tests.conftest import serving
from tests.delivery_setup import ITEMS, delivery_tenant
from tests.harness import app_for
from tests.helpers import all_pages, make_tenant, user

EVENTS = ["score.finalized", "score.rescored", "attempt.submitted"]
CLOSED_ITEMS = [{"code": item["code"]} for item in ITEMS if item["type"] != "open_response"]


class Received(msgspec.Struct):
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        return msgspec.json.decode(self.body)


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records what it gets and answers as told."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failures_left = 0  # answer 500 to this many requests first
        self.hang = False  # then do not answer until released
        self.down = False  # then answer 500 until set back (else 200)
        self._released = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._released.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/assess"

    def release(self) -> None:
        self.hang = False
        self._released.set()

    def answered(self, status: int = 200) -> list[Received]:
        return [r for r in self.received if r.status == status]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if self.failures_left > 0:
                self.failures_left -= 1
                status = 500
            elif self.hang:  # recorded with status 0: never answered
                self.received.append(Received(headers, body, 0))
                await self._released.wait()
                return
            else:
                status = 500 if self.down else 200
            self.received.append(Received(headers, body, status))
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    """Loopback receivers allowed; dispatch every 0.1 s; retries within a fraction of a second."""
    return msgspec.structs.replace(
        settings,
        webhook_allow_loopback=True,
        webhook_dispatch_seconds=0.1,
        webhook_retry_base_seconds=0.1,
        webhook_retry_max_seconds=0.3,
    )


@pytest.fixture
async def hooks(hook_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(app_for(hook_settings)) as http:
        yield http


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as server:
        yield server


async def register(
    client: httpx.AsyncClient, admin: dict[str, str], url: str, events: list[str] | None = None
) -> dict[str, Any]:
    created = await client.post("/v1/webhooks", json={"url": url, "events": events or EVENTS}, headers=admin)
    assert created.status_code == 201, created.text
    return created.json()


async def take(client: httpx.AsyncClient, me: dict[str, str], **answers: dict[str, Any]) -> str:
    """Start quiz, answer (T-SC-1 unless told), submit: the attempt id."""
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()["attempt"][
        "id"
    ]
    for item, answer in (answers or {"T-SC-1": {"choice": "c"}}).items():
        saved = await client.put(
            f"/v1/me/attempts/{attempt}/answers/{item}", json={"revision": 1, "answer": answer}, headers=me
        )
        assert saved.status_code == 200, saved.text
    submitted = await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
    assert submitted.status_code == 200, submitted.text
    return attempt


async def log_of(
    client: httpx.AsyncClient, admin: dict[str, str], webhook: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhooks/{webhook['id']}/deliveries", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def verified(secret: str, request: Received) -> dict[str, Any]:
    signing.verify(secret, request.headers, request.body, now=time.time())
    event = request.event
    assert request.headers["webhook-id"] == event["id"]
    assert request.headers["content-type"] == "application/json"
    return event


async def test_submission_sends_signed_attempt_submitted_and_score_finalized(hooks, service_keys, receiver):
    tenant = await delivery_tenant(
        hooks, service_keys, slug="hooked", sections=[{"code": "main", "items": CLOSED_ITEMS}]
    )
    webhook = await register(hooks, tenant["admin"], receiver.url)
    assert webhook["secret"].startswith("whsec_") and webhook["events"] == EVENTS
    attempt = await take(hooks, tenant["candidates"][0])

    await eventually(lambda: len(receiver.received) == 2)
    events = {e["type"]: e for e in (verified(webhook["secret"], r) for r in receiver.received)}
    assert set(events) == {"attempt.submitted", "score.finalized"}
    data = events["score.finalized"]["data"]
    assert data["attempt_id"] == attempt and data["assessment"] == "quiz" and data["person"] == "c1"
    assert data["status"] == "final" and data["score_version"] == 1 and data["attempt_number"] == 1
    assert isinstance(data["overall_scaled"], float) and data["overall_level"]
    assert data["dimensions"] and set(data["dimensions"][0]) == {"dimension", "scaled", "level"}
    assert events["attempt.submitted"]["data"] == data
    assert not {"answers", "items", "responses"} & set(data)  # small: no answers
    assert list(events["score.finalized"]) == ["id", "type", "timestamp", "data"]

    log = await eventually(lambda: _delivered(hooks, tenant["admin"], webhook, 2))
    assert {d["event_type"] for d in log} == {"attempt.submitted", "score.finalized"}
    assert all(d["attempts"] == 1 and d["last_status"] == 200 and d["delivered_at"] for d in log)
    assert all(d["next_attempt_at"] is None and d["last_error"] is None for d in log)


async def _delivered(
    client: httpx.AsyncClient, admin: dict[str, str], webhook: dict[str, Any], count: int
) -> list[dict[str, Any]] | None:
    log = await log_of(client, admin, webhook)
    return log if len(log) == count and all(d["status"] == "delivered" for d in log) else None


async def test_a_receiver_failing_for_a_while_gets_each_event_once_it_recovers(hooks, service_keys, receiver):
    tenant = await delivery_tenant(
        hooks, service_keys, slug="flaky", sections=[{"code": "main", "items": CLOSED_ITEMS}]
    )
    webhook = await register(hooks, tenant["admin"], receiver.url, ["attempt.submitted"])
    receiver.failures_left = 3
    await take(hooks, tenant["candidates"][0])

    [delivery] = await eventually(lambda: _delivered(hooks, tenant["admin"], webhook, 1))
    assert [r.status for r in receiver.received] == [500, 500, 500, 200]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # one event, retried
    assert delivery["attempts"] == 4 and delivery["last_status"] == 200 and delivery["status"] == "delivered"
    await asyncio.sleep(0.5)
    assert len(receiver.answered(200)) == 1  # delivered exactly once after recovery; nothing more is sent
    for request in receiver.received:  # every retry is signed afresh
        verified(webhook["secret"], request)


async def test_a_restart_mid_retry_loses_nothing(hook_settings, service_keys, receiver, owner):
    """The first app fails twice, then stops while its third try is in flight; the app started again on
    the same database (its state as built: tests/harness.py's `app_for`) delivers once the receiver recovers."""
    async with serving(app_for(hook_settings)) as first:
        tenant = await delivery_tenant(
            first, service_keys, slug="restart", sections=[{"code": "main", "items": CLOSED_ITEMS}]
        )
        webhook = await register(first, tenant["admin"], receiver.url, ["attempt.submitted"])
        receiver.failures_left, receiver.hang = 2, True
        await take(first, tenant["candidates"][0])
        await eventually(lambda: len(receiver.received) == 3)  # the third try waits for an answer
    # The first app has shut down: its claim on the delivery in flight was handed back.
    row = await owner.fetchrow(
        "SELECT status, attempts, next_attempt_at <= now() AS due FROM webhook_deliveries"
    )
    assert dict(row) == {"status": "pending", "attempts": 2, "due": True}
    receiver.release()
    async with serving(app_for(hook_settings)) as second:
        [delivery] = await eventually(lambda: _delivered(second, tenant["admin"], webhook, 1))
    assert delivery["attempts"] == 3
    assert [r.status for r in receiver.received] == [500, 500, 0, 200]
    assert len(receiver.answered(200)) == 1


async def test_a_crashed_workers_claim_expires_and_another_worker_sends(
    settings, service_keys, receiver, app_url
):
    """Claimed, never recorded (the worker died): nobody sends it until the lease ends, then one does;
    the dead worker's late record is ignored."""
    quiet = msgspec.structs.replace(settings, webhook_allow_loopback=True, webhook_dispatch_seconds=0)
    pool = await create_pool(app_url, max_size=2)
    try:
        async with serving(app_for(quiet)) as client, dispatcher.new_client() as http:
            tenant = await make_tenant(client, service_keys, "crashy")
            webhook = await register(client, tenant["admin"], receiver.url)
            queued = await client.post(f"/v1/webhooks/{webhook['id']}/test", headers=tenant["admin"])
            assert queued.status_code == 202 and queued.json()["status"] == "pending", queued.text
            policy = dispatcher.RetryPolicy(lease_seconds=0.5)
            async with tenant_transaction(pool, UUID(tenant["id"])) as conn:
                [claimed] = await dispatcher.claim(conn, policy)  # ... and the worker dies here
            assert await dispatcher.dispatch_once(pool, http, policy) == 0  # leased: nobody sends it
            assert receiver.received == []
            await asyncio.sleep(0.6)
            assert await dispatcher.dispatch_once(pool, http, policy) == 1
            [request] = receiver.received
            assert verified(webhook["secret"], request)["type"] == "webhook.test"
            async with tenant_transaction(pool, UUID(tenant["id"])) as conn:  # the dead worker's late outcome
                assert (
                    await dispatcher.record(conn, [claimed], [dispatcher.Outcome(500, "HTTP 500")], policy)
                    == 0
                )
            [delivery] = await log_of(client, tenant["admin"], webhook)
            assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    finally:
        await pool.close()


async def test_retries_stop_24_hours_after_the_event(settings, service_keys, receiver, app_url, owner):
    quiet = msgspec.structs.replace(settings, webhook_allow_loopback=True, webhook_dispatch_seconds=0)
    receiver.down = True
    pool = await create_pool(app_url, max_size=2)
    try:
        async with serving(app_for(quiet)) as client, dispatcher.new_client() as http:
            tenant = await make_tenant(client, service_keys, "patient")
            webhook = await register(client, tenant["admin"], receiver.url)
            policy = dispatcher.RetryPolicy(base_seconds=3600, max_seconds=3600)
            # An event 23 h 59 min old: its retry is not scheduled past the 24 h mark, and a failure there ends it.
            await client.post(f"/v1/webhooks/{webhook['id']}/test", headers=tenant["admin"])
            await owner.execute(
                "UPDATE webhook_events SET created_at = now() - interval '23 hours 59 minutes'"
            )
            assert await dispatcher.dispatch_once(pool, http, policy) == 0
            row = await owner.fetchrow(
                "SELECT d.status, d.attempts, d.next_attempt_at - v.created_at AS age "
                "FROM webhook_deliveries d JOIN webhook_events v ON v.id = d.event_id"
            )
            assert row["status"] == "pending" and row["attempts"] == 1 and row["age"] <= timedelta(hours=24)
            await owner.execute("UPDATE webhook_events SET created_at = created_at - interval '1 minute'")
            await owner.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
            assert await dispatcher.dispatch_once(pool, http, policy) == 0
            [delivery] = await log_of(client, tenant["admin"], webhook)
            assert (
                delivery["status"] == "failed"
                and delivery["attempts"] == 2
                and delivery["last_status"] == 500
            )
            assert delivery["last_error"] == "HTTP 500" and delivery["next_attempt_at"] is None
            assert await dispatcher.due_tenants(pool) == []
    finally:
        await pool.close()


async def test_redeliver_from_the_log(hooks, service_keys, receiver):
    tenant = await make_tenant(hooks, service_keys, "redo")
    admin = tenant["admin"]
    webhook = await register(hooks, admin, receiver.url)
    await hooks.post(f"/v1/webhooks/{webhook['id']}/test", headers=admin)
    [delivery] = await eventually(lambda: _delivered(hooks, admin, webhook, 1))
    again = await hooks.post(
        f"/v1/webhooks/{webhook['id']}/deliveries/{delivery['id']}/redeliver", headers=admin
    )
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "pending" and again.json()["attempts"] == 0
    [redelivered] = await eventually(lambda: _delivered(hooks, admin, webhook, 1))
    assert redelivered["id"] == delivery["id"] and redelivered["attempts"] == 1
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    assert verified(webhook["secret"], second)["data"]["webhook_id"] == webhook["id"]


async def test_scores_finalized_by_rating_and_rescored(hooks, service_keys, receiver, app_url):
    """An open response waits for its rating: the submission announces a provisional score, the rating
    the final one; a final score replaced by another final one is `score.rescored`."""
    tenant = await delivery_tenant(hooks, service_keys, slug="rated")
    webhook = await register(hooks, tenant["admin"], receiver.url)
    attempt = await take(hooks, tenant["candidates"][0], **{"T-OR-1": {"text": "a prompt"}})
    await eventually(lambda: len(receiver.received) == 1)
    [submitted] = [verified(webhook["secret"], r) for r in receiver.received]
    assert submitted["type"] == "attempt.submitted" and submitted["data"]["status"] == "provisional"

    rater = user(service_keys, tenant["id"], ["rater"], sub="r1")
    [task] = (await hooks.get("/v1/rating-tasks", headers=rater)).json()["items"]
    rated = await hooks.post(f"/v1/rating-tasks/{task['id']}/ratings", json={"value": 2}, headers=rater)
    assert rated.status_code == 200, rated.text
    await eventually(lambda: len(receiver.received) == 2)
    finalized = verified(webhook["secret"], receiver.received[1])
    assert finalized["type"] == "score.finalized"
    assert finalized["data"]["status"] == "final" and finalized["data"]["score_version"] == 2

    pool = await create_pool(app_url, max_size=1)
    try:
        async with tenant_transaction(pool, UUID(tenant["id"])) as conn:
            await pipeline.score_attempts(conn, [UUID(attempt)], reason="rescored", scored_by="test")
    finally:
        await pool.close()
    await eventually(lambda: len(receiver.received) == 3)
    rescored = verified(webhook["secret"], receiver.received[2])
    assert rescored["type"] == "score.rescored" and rescored["data"]["score_version"] == 3


async def test_only_subscribed_active_endpoints_get_events_and_none_are_stored_without_them(
    hooks, service_keys, receiver, owner
):
    tenant = await delivery_tenant(
        hooks, service_keys, slug="quiet", sections=[{"code": "main", "items": CLOSED_ITEMS}]
    )
    admin = tenant["admin"]
    await take(hooks, tenant["candidates"][0])
    assert await owner.fetchval("SELECT count(*) FROM webhook_events") == 0  # nobody listens: nothing queued

    scores_only = await register(hooks, admin, receiver.url, ["score.finalized"])
    disabled = await register(hooks, admin, receiver.url + "/off", ["score.finalized", "attempt.submitted"])
    assert (
        await hooks.patch(f"/v1/webhooks/{disabled['id']}", json={"active": False}, headers=admin)
    ).status_code == 200
    await take(hooks, tenant["candidates"][1])
    [delivery] = await eventually(lambda: _delivered(hooks, admin, scores_only, 1))
    assert delivery["event_type"] == "score.finalized"
    assert await log_of(hooks, admin, disabled) == []
    assert [r.event["type"] for r in receiver.received] == ["score.finalized"]


async def test_managing_endpoints(settings, service_keys):
    async with serving(app_for(msgspec.structs.replace(settings, webhook_dispatch_seconds=0))) as client:
        await _manage(client, service_keys)


async def _manage(client: httpx.AsyncClient, service_keys: ServiceKeys) -> None:
    tenant = await make_tenant(client, service_keys, "managed")  # loopback not allowed in this app
    admin, base = tenant["admin"], "/v1/webhooks"
    bad = {
        "http://hr.example/hook": "must use https",
        "ftp://hr.example/hook": "must be an absolute https URL",
        "https://user:pw@hr.example/hook": "must not carry credentials or a fragment",
        "https://127.0.0.1/hook": "loopback addresses are not allowed",
        "https://localhost:8443/hook": "loopback addresses are not allowed",
        "https://10.1.2.3/hook": "private, link-local and reserved addresses are not allowed",
        "https://169.254.169.254/latest": "private, link-local and reserved addresses are not allowed",
        "https://[::1]/hook": "loopback addresses are not allowed",
        "https://hr.example:99999/hook": "must be an absolute https URL",
    }
    for url, detail in bad.items():
        refused = await client.post(base, json={"url": url, "events": EVENTS}, headers=admin)
        assert refused.status_code == 422, (url, refused.text)
        assert refused.json()["errors"] == [{"pointer": "/url", "detail": detail}], url
    unknown = await client.post(
        base, json={"url": "https://hr.example/h", "events": ["score.deleted"]}, headers=admin
    )
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["pointer"] == "/events/0"
    empty = await client.post(base, json={"url": "https://hr.example/h", "events": []}, headers=admin)
    assert empty.status_code == 400
    author = user(service_keys, tenant["id"], ["author"])
    assert (await client.get(base, headers=author)).status_code == 403

    created = await client.post(
        base,
        json={
            "url": "https://hr.example/h",
            "description": "HR",
            "events": ["score.finalized", "score.finalized"],
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    webhook = created.json()
    assert (
        webhook["events"] == ["score.finalized"] and webhook["active"] and webhook["created_by"] == "someone"
    )
    listed = (await client.get(base, headers=admin)).json()["items"]
    assert [w["id"] for w in listed] == [webhook["id"]] and "secret" not in listed[0]
    one = await client.get(f"{base}/{webhook['id']}", headers=admin)
    assert one.status_code == 200 and "secret" not in one.json()

    changed = await client.patch(
        f"{base}/{webhook['id']}", json={"events": EVENTS, "description": None}, headers=admin
    )
    assert (
        changed.status_code == 200
        and changed.json()["events"] == EVENTS
        and changed.json()["description"] is None
    )
    assert changed.json()["url"] == "https://hr.example/h"
    assert (
        await client.patch(f"{base}/{webhook['id']}", json={"url": "http://hr.example/h"}, headers=admin)
    ).status_code == 422
    rotated = await client.post(f"{base}/{webhook['id']}/rotate-secret", headers=admin)
    assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != webhook["secret"]

    # The log pages newest first; disabling fails what is pending; a disabled endpoint takes no redelivery.
    queued = [(await client.post(f"{base}/{webhook['id']}/test", headers=admin)).json() for _ in range(5)]
    pages = [await client.get(f"{base}/{webhook['id']}/deliveries", params={"limit": 2}, headers=admin)]
    while pages[-1].json()["next_cursor"]:
        pages.append(
            await client.get(
                f"{base}/{webhook['id']}/deliveries",
                params={"limit": 2, "cursor": pages[-1].json()["next_cursor"]},
                headers=admin,
            )
        )
    seen = [d["id"] for page in pages for d in page.json()["items"]]
    assert seen == [d["id"] for d in reversed(queued)]
    assert all(d["event_type"] == "webhook.test" for page in pages for d in page.json()["items"])
    bad_cursor = await client.get(
        f"{base}/{webhook['id']}/deliveries", params={"cursor": "nope"}, headers=admin
    )
    assert bad_cursor.status_code == 400 and bad_cursor.json()["errors"][0]["parameter"] == "cursor"

    assert (
        await client.patch(f"{base}/{webhook['id']}", json={"active": False}, headers=admin)
    ).status_code == 200
    log = await log_of(client, admin, webhook)
    assert all(d["status"] == "failed" and d["last_error"] == "endpoint disabled" for d in log)
    refused = await client.post(f"{base}/{webhook['id']}/deliveries/{log[0]['id']}/redeliver", headers=admin)
    assert refused.status_code == 409
    assert (await client.post(f"{base}/{webhook['id']}/test", headers=admin)).status_code == 409

    assert (await client.delete(f"{base}/{webhook['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"{base}/{webhook['id']}", headers=admin)).status_code == 404
    assert (await client.get(f"{base}/{webhook['id']}/deliveries", headers=admin)).status_code == 404


async def test_a_tenant_cannot_see_or_touch_anothers_webhooks(settings, service_keys, owner):
    quiet = msgspec.structs.replace(settings, webhook_dispatch_seconds=0)
    async with serving(app_for(quiet)) as client:
        a = await make_tenant(client, service_keys, "hooks-a")
        b = await make_tenant(client, service_keys, "hooks-b")
        b_hook = await register(client, b["admin"], "https://hr.b.example/hook")
        b_delivery = (await client.post(f"/v1/webhooks/{b_hook['id']}/test", headers=b["admin"])).json()
        a_hook = await register(client, a["admin"], "https://hr.a.example/hook")
        before = [
            dict(r)
            for r in await owner.fetch(
                "SELECT * FROM webhook_endpoints e JOIN webhook_deliveries d ON d.endpoint_id = e.id "
                "WHERE e.tenant_id = $1",
                UUID(b["id"]),
            )
        ]

        h, hook, delivery = a["admin"], b_hook["id"], b_delivery["id"]
        for method, url, body in (
            ("GET", f"/v1/webhooks/{hook}", None),
            ("PATCH", f"/v1/webhooks/{hook}", {"url": "https://evil.example/"}),
            ("POST", f"/v1/webhooks/{hook}/rotate-secret", None),
            ("GET", f"/v1/webhooks/{hook}/deliveries", None),
            ("POST", f"/v1/webhooks/{hook}/deliveries/{delivery}/redeliver", None),
            (
                "POST",
                f"/v1/webhooks/{a_hook['id']}/deliveries/{delivery}/redeliver",
                None,
            ),  # A's hook, B's delivery
            ("POST", f"/v1/webhooks/{hook}/test", None),
            ("DELETE", f"/v1/webhooks/{hook}", None),
        ):
            response = await client.request(method, url, json=body, headers=h)
            assert response.status_code == 404, (method, url, response.text)
            assert "hr.b.example" not in response.text and b["id"] not in response.text
        assert [w["id"] for w in (await client.get("/v1/webhooks", headers=h)).json()["items"]] == [
            a_hook["id"]
        ]
        assert await log_of(client, h, a_hook) == []
        after = [
            dict(r)
            for r in await owner.fetch(
                "SELECT * FROM webhook_endpoints e JOIN webhook_deliveries d ON d.endpoint_id = e.id "
                "WHERE e.tenant_id = $1",
                UUID(b["id"]),
            )
        ]
        assert after == before


async def test_emit_costs_one_query_without_subscribers_and_fans_out_to_each_endpoint(
    settings, service_keys, app_url, owner
):
    quiet = msgspec.structs.replace(settings, webhook_dispatch_seconds=0)
    async with serving(app_for(quiet)) as client:
        tenant = await make_tenant(client, service_keys, "fanout")
        pool = await create_pool(app_url, max_size=1)
        try:
            async with tenant_transaction(pool, UUID(tenant["id"])) as conn:
                assert await outbox.emit(conn, "score.finalized", [{"n": 1}]) == []
            assert await owner.fetchval("SELECT count(*) FROM webhook_events") == 0
            hooks = [
                await register(client, tenant["admin"], f"https://hr{i}.example/h", events)
                for i, events in enumerate([["score.finalized"], EVENTS, ["attempt.submitted"]])
            ]
            async with tenant_transaction(pool, UUID(tenant["id"])) as conn:
                ids = await outbox.emit(conn, "score.finalized", [{"n": 1}, {"n": 2}])
            rows = await owner.fetch(
                "SELECT d.endpoint_id, v.id, v.type, v.payload FROM webhook_deliveries d "
                "JOIN webhook_events v ON v.id = d.event_id"
            )
        finally:
            await pool.close()
    assert len(ids) == 2 and {r["id"] for r in rows} == set(ids)
    payloads = [msgspec.json.decode(r["payload"]) for r in rows]  # jsonb as text on the owner's connection
    assert sorted(
        (str(r["endpoint_id"]), p["data"]["n"]) for r, p in zip(rows, payloads, strict=False)
    ) == sorted((h["id"], n) for h in hooks[:2] for n in (1, 2))
    assert all(
        r["type"] == p["type"] == "score.finalized" and p["id"] == str(r["id"])
        for r, p in zip(rows, payloads, strict=False)
    )


async def test_after_a_rotation_deliveries_carry_both_signatures_for_the_grace_period(
    hooks, service_keys, receiver
):
    tenant = await make_tenant(hooks, service_keys, "rotating")
    admin = tenant["admin"]
    webhook = await register(hooks, admin, receiver.url)
    base = f"/v1/webhooks/{webhook['id']}"
    assert webhook["previous_secret_valid_until"] is None

    # Rotated without a body: the default grace of 24 h; both the old and the new secret verify.
    rotated = (await hooks.post(f"{base}/rotate-secret", headers=admin)).json()
    grace = msgspec.json.decode(
        f'"{rotated["previous_secret_valid_until"]}"', type=datetime_type
    ) - msgspec.json.decode(f'"{rotated["updated_at"]}"', type=datetime_type)
    assert timedelta(hours=23, minutes=59) < grace <= timedelta(hours=24, seconds=1)
    await hooks.post(f"{base}/test", headers=admin)
    [first] = await eventually(lambda: receiver.answered() or None)
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    verified(rotated["secret"], first)
    verified(webhook["secret"], first)

    # Rotated again with no grace: the previous secret (the first rotation's) is replaced and
    # nothing but the newest secret signs.
    again = await hooks.post(f"{base}/rotate-secret", json={"grace_seconds": 0}, headers=admin)
    assert again.status_code == 200 and again.json()["previous_secret_valid_until"] is None
    await hooks.post(f"{base}/test", headers=admin)
    await eventually(lambda: len(receiver.answered()) == 2)
    second = receiver.answered()[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    verified(again.json()["secret"], second)
    for old in (rotated["secret"], webhook["secret"]):
        with pytest.raises(signing.InvalidSignature):
            verified(old, second)

    for body, pointer in (
        ({"grace_seconds": -1}, "/grace_seconds"),
        ({"grace_seconds": 8 * 86400}, "/grace_seconds"),
        ({"grace": 1}, "/grace"),
    ):
        refused = await hooks.post(f"{base}/rotate-secret", json=body, headers=admin)
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["pointer"] == pointer


async def test_events_past_retention_are_deleted_with_their_deliveries_unless_pending(
    settings, service_keys, app_url, owner
):
    quiet = msgspec.structs.replace(settings, webhook_dispatch_seconds=0)
    pool = await create_pool(app_url, max_size=2)
    try:
        async with serving(app_for(quiet)) as client:
            a = await make_tenant(client, service_keys, "retain-a")
            b = await make_tenant(client, service_keys, "retain-b")
            hooks_of = {
                t["id"]: await register(client, t["admin"], "https://hr.example/hook") for t in (a, b)
            }
            for t in (a, b):
                for _ in range(3):
                    await client.post(f"/v1/webhooks/{hooks_of[t['id']]['id']}/test", headers=t["admin"])
            # A's three events are 40 days old, one of them still pending; B's are new.
            await owner.execute(
                "UPDATE webhook_events SET created_at = now() - interval '40 days' WHERE tenant_id = $1",
                UUID(a["id"]),
            )
            await owner.execute(
                """UPDATE webhook_deliveries SET status = 'delivered' WHERE tenant_id = $1 AND id IN (
                       SELECT id FROM webhook_deliveries WHERE tenant_id = $1 ORDER BY id LIMIT 2)""",
                UUID(a["id"]),
            )
            assert await dispatcher.prune(pool, retention_days=30) == 2
            assert await dispatcher.prune(pool, retention_days=30) == 0
            counts = {
                r["tenant_id"]: (r["events"], r["deliveries"])
                for r in await owner.fetch(
                    """SELECT v.tenant_id, count(DISTINCT v.id) AS events, count(d.id) AS deliveries
                   FROM webhook_events v LEFT JOIN webhook_deliveries d ON d.event_id = v.id GROUP BY 1"""
                )
            }
            assert counts == {UUID(a["id"]): (1, 1), UUID(b["id"]): (3, 3)}
            [left] = await log_of(client, a["admin"], hooks_of[a["id"]])
            assert left["status"] == "pending"
    finally:
        await pool.close()


async def test_the_endpoint_list_pages_with_a_cursor(settings, service_keys):
    async with serving(app_for(msgspec.structs.replace(settings, webhook_dispatch_seconds=0))) as client:
        tenant = await make_tenant(client, service_keys, "paged-hooks")
        made = [(await register(client, tenant["admin"], f"https://hr.example/h{i}"))["id"] for i in range(5)]
        assert [w["id"] for w in await all_pages(client, "/v1/webhooks", tenant["admin"], limit=2)] == made
        bad = await client.get("/v1/webhooks", params={"cursor": "bm9wZQ"}, headers=tenant["admin"])
        assert bad.status_code == 400 and bad.json()["errors"][0]["parameter"] == "cursor"


async def test_a_submission_reads_the_attempts_event_data_once(hooks, service_keys, receiver, app_url):
    """Issue 15 item 1: the score pipeline queues `score.finalized` and `attempt.submitted` of one
    submission from one read of the attempt's data (it was read once per event type)."""
    tenant = await delivery_tenant(
        hooks, service_keys, slug="read-once", sections=[{"code": "main", "items": CLOSED_ITEMS}]
    )
    webhook = await register(hooks, tenant["admin"], receiver.url)
    me = tenant["candidates"][0]
    started = await hooks.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)
    attempt = UUID(started.json()["attempt"]["id"])
    queries: list[str] = []
    pool = await create_pool(app_url, max_size=1)
    try:
        async with tenant_transaction(pool, UUID(tenant["id"])) as conn:
            conn.add_query_logger(lambda record: queries.append(record.query))
            person = await people.get_person(conn, "c1")
            summary = await attempts.submit(conn, person, attempt)
            assert summary.status == "submitted" and summary.submitted_by == "candidate"
    finally:
        await pool.close()
    assert queries.count(scores._EVENT_DATA) == 1
    await eventually(lambda: len(receiver.received) == 2)
    types = sorted(verified(webhook["secret"], r)["type"] for r in receiver.received)
    assert types == ["attempt.submitted", "score.finalized"]
