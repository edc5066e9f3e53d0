"""The score feed: each score version exactly once, in commit order, none lost to a concurrent
commit; the latest result per person; streamed CSV and JSON Lines exports."""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import json
from uuid import UUID

import asyncpg
import pytest

from service.db.pool import _init_connection
from service.results.scores import score_documents, store_documents
from tests.delivery_setup import ITEMS, delivery_tenant
from tests.harness import snapshot

SCORED = [{"code": item["code"]} for item in ITEMS if item["code"] != "T-OR-1"]


async def _sit(client, candidate, choice="c"):
    started = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=candidate)
    attempt = started.json()["attempt"]["id"]
    await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": choice}},
        headers=candidate,
    )
    assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=candidate)).status_code == 200
    return attempt


async def _drain(client, headers, cursor=None, **params):
    """Every row from `cursor` on, page by page; returns (rows, the cursor to keep)."""
    rows = []
    while True:
        page = await client.get(
            "/v1/scores",
            params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=headers,
        )
        assert page.status_code == 200, page.text
        body = page.json()
        rows += body["items"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return rows, cursor


@pytest.fixture
@snapshot
async def sat(client, service_keys):
    tenant = await delivery_tenant(
        client, service_keys, slug="feed-region", people=5, sections=[{"code": "main", "items": SCORED}]
    )
    tenant["attempts"] = [
        await _sit(client, me, choice) for me, choice in zip(tenant["candidates"][:3], "bcc", strict=True)
    ]
    return tenant


async def test_the_feed_gives_each_score_once_and_then_only_what_is_new(client, sat):
    admin = sat["admin"]
    rows, cursor = await _drain(client, admin)
    assert [r["attempt_id"] for r in rows] == sat["attempts"]
    first = rows[0]
    assert (first["person"], first["assessment"], first["score_version"], first["status"]) == (
        "c1",
        "quiz",
        1,
        "final",
    )
    assert (
        first["counted"]
        and first["current"]
        and first["org_unit"] == "city"
        and first["framework_version"] == 1
    )
    assert {d["dimension"] for d in first["dimensions"]} and first["overall_level"]
    again, same = await _drain(client, admin, cursor)
    assert again == [] and same == cursor  # nothing new: the same cursor to keep

    late = await _sit(client, sat["candidates"][3])
    new, cursor = await _drain(client, admin, cursor)
    assert [r["attempt_id"] for r in new] == [late]

    # a corrected key: exactly the changed scores come again, as new versions
    single = copy.deepcopy(next(item for item in ITEMS if item["code"] == "T-SC-1"))
    single["key"] = {"correct": "b"}
    etag = (await client.get("/v1/items/T-SC-1", headers=admin)).headers["etag"]
    await client.put("/v1/items/T-SC-1", json=single, headers={**admin, "If-Match": etag})
    started = await client.post(
        "/v1/assessments/quiz/rescorings", json={"reason": "key", "items": {"T-SC-1": 2}}, headers=admin
    )
    url = f"/v1/assessments/quiz/rescorings/{started.json()['id']}"
    await client.post(f"{url}/commit", headers=admin)
    for _ in range(100):
        if (await client.get(url, headers=admin)).json()["status"] == "done":
            break
        await asyncio.sleep(0.05)
    rescored, cursor = await _drain(client, admin, cursor)
    assert sorted(r["attempt_id"] for r in rescored) == sorted(
        sat["attempts"] + [late]
    )  # b and c both change
    assert all(r["score_version"] == 2 and r["reason"].startswith("rescoring") for r in rescored)
    assert (await _drain(client, admin, cursor))[0] == []

    # filters
    mine, _ = await _drain(client, admin, person="c1")
    assert [(r["person"], r["score_version"]) for r in mine] == [("c1", 1), ("c1", 2)]
    assert len((await _drain(client, admin, under="prov"))[0]) == 8
    assert (await client.get("/v1/scores", params={"person": "nobody"}, headers=admin)).status_code == 404
    bad = await client.get("/v1/scores", params={"cursor": "nonsense"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["errors"][0]["parameter"] == "cursor"


async def test_a_score_committed_while_pages_are_read_is_on_a_later_page(client, sat, app_url):
    """The race: a transaction that started writing a score before others committed, and commits
    after a client read past them. With a plain sequence the client's cursor would already be
    beyond it and the score lost; the feed holds pages at the oldest running writer instead."""
    admin = sat["admin"]
    _, cursor = await _drain(client, admin)
    slow = await asyncpg.connect(app_url)
    await _init_connection(slow)  # the service's jsonb codec
    try:
        transaction = slow.transaction()
        await transaction.start()
        await slow.execute("SELECT set_config('app.tenant_id', $1, true)", sat["id"])
        attempt = UUID(sat["attempts"][0])
        documents = await score_documents(slow, [attempt])
        await store_documents(
            slow, documents, reason="slow writer", scored_by="test"
        )  # written, not committed
        fast = await _sit(client, sat["candidates"][3])  # commits after the slow writer began
        page, held = await _drain(client, admin, cursor)
        assert page == [] and held == cursor  # the fast one waits behind the slow writer
        await transaction.commit()
    finally:
        await slow.close()
    rows, _ = await _drain(client, admin, cursor)
    assert sorted((r["attempt_id"], r["score_version"]) for r in rows) == sorted(
        [(str(attempt), 2), (fast, 1)]
    )


async def test_concurrent_submissions_and_readers_lose_nothing_and_repeat_nothing(client, sat):
    admin = sat["admin"]
    _, cursor = await _drain(client, admin)
    seen: list[tuple[str, int]] = []
    done = asyncio.Event()

    async def reader():
        nonlocal cursor
        while not done.is_set():
            rows, cursor = await _drain(client, admin, cursor)
            seen.extend((r["attempt_id"], r["score_version"]) for r in rows)
            await asyncio.sleep(0)
        rows, cursor = await _drain(client, admin, cursor)
        seen.extend((r["attempt_id"], r["score_version"]) for r in rows)

    reading = asyncio.create_task(reader())
    submitted = await asyncio.gather(*(_sit(client, me) for me in sat["candidates"][3:]))
    done.set()
    await reading
    assert sorted(seen) == sorted((a, 1) for a in submitted)


async def test_latest_and_streamed_exports(client, sat):
    admin = sat["admin"]
    latest = (await client.get("/v1/scores/latest", params={"person": "c2"}, headers=admin)).json()
    assert [(r["person"], r["assessment"], r["attempt_id"]) for r in latest["items"]] == [
        ("c2", "quiz", sat["attempts"][1])
    ]
    assert (await client.get("/v1/scores/latest", headers=admin)).status_code == 422

    exported = await client.get("/v1/assessments/quiz/scores.csv", headers=admin)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["person"] for r in rows] == ["c1", "c2", "c3"] and rows[0]["status"] == "final"
    assert "HMC_scaled" in rows[0] and rows[0]["counted"] == "true"
    lines = (await client.get("/v1/assessments/quiz/scores.jsonl", headers=admin)).text.splitlines()
    assert [json.loads(line)["person"] for line in lines] == ["c1", "c2", "c3"]
    assert (await client.get("/v1/assessments/nope/scores.csv", headers=admin)).status_code == 404
    candidate = sat["candidates"][0]
    assert (await client.get("/v1/scores", headers=candidate)).status_code == 403


def _unwrapped(cursor: str) -> set[str]:
    """What a client sees when it decodes a cursor (base64url of JSON): the parts of its position."""
    import base64

    return set(json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))[1].split(":"))


async def test_feed_cursors_do_not_carry_the_transaction_counter(client, sat, owner):
    """A cursor names the last score handed out, not the database's transaction id; a tampered or
    foreign cursor is a 400 naming `cursor`; a cursor of the earlier format still resumes."""
    admin = sat["admin"]
    xids = {r["feed_xid"] for r in await owner.fetch("SELECT feed_xid::text FROM scores")}
    first = (await client.get("/v1/scores", params={"limit": 1}, headers=admin)).json()
    cursor = first["next_cursor"]
    assert not _unwrapped(cursor) & xids, _unwrapped(cursor)
    assert first["items"][0]["attempt_id"] in _unwrapped(cursor)
    rest, end = await _drain(client, admin, cursor)
    assert [r["attempt_id"] for r in first["items"] + rest] == sat["attempts"]
    assert not _unwrapped(end) & xids

    import base64

    def wrap(position: str) -> str:
        return base64.urlsafe_b64encode(json.dumps(["scores", position]).encode()).decode().rstrip("=")

    for forged in (
        wrap(f"{UUID(int=7)}:1"),
        wrap("1:2"),
        wrap(f"{sat['attempts'][0]}:99"),
        cursor[:-2] + "xx",
    ):
        bad = await client.get("/v1/scores", params={"cursor": forged}, headers=admin)
        assert bad.status_code == 400, bad.text
        assert bad.json()["errors"][0]["parameter"] == "cursor"
    # a cursor handed out before (transaction id first) resumes where it was
    row = await owner.fetchrow(
        "SELECT feed_xid::text AS xid, attempt_id, version FROM scores WHERE attempt_id = $1",
        UUID(sat["attempts"][0]),
    )
    old, _ = await _drain(client, admin, wrap(f"{row['xid']}:{row['attempt_id']}:{row['version']}"))
    assert [r["attempt_id"] for r in old] == sat["attempts"][1:]
