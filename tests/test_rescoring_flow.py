"""Rescoring over HTTP: preview, commit, history kept, unchanged rescoring changes nothing."""

from __future__ import annotations

import asyncio
import copy

import pytest

from tests.delivery_setup import ITEMS, delivery_tenant
from tests.harness import snapshot


async def _settled(client, admin, url):
    for _ in range(200):
        job = (await client.get(url, headers=admin)).json()
        if job["status"] in ("previewed", "done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job did not finish: {job}")


async def _rescore(client, admin, body):
    started = await client.post("/v1/assessments/quiz/rescorings", json=body, headers=admin)
    assert started.status_code == 202, started.text
    url = f"/v1/assessments/quiz/rescorings/{started.json()['id']}"
    preview = await _settled(client, admin, url)
    assert preview["status"] == "previewed", preview
    return url, preview


async def _history(client, admin, attempt):
    return (await client.get(f"/v1/assessments/quiz/attempts/{attempt}/scores", headers=admin)).json()


@pytest.fixture
@snapshot
async def sat(client, service_keys):
    """Three candidates answered T-SC-1 (keyed 'c') with b, c, c and submitted; a fourth has not started."""
    tenant = await delivery_tenant(client, service_keys, slug="rescore-region", people=4)
    tenant["attempts"] = []
    for me, choice in zip(tenant["candidates"][:3], "bcc", strict=True):
        attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()[
            "attempt"
        ]["id"]
        await client.put(
            f"/v1/me/attempts/{attempt}/answers/T-SC-1",
            json={"revision": 1, "answer": {"choice": choice}},
            headers=me,
        )
        await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
        tenant["attempts"].append(attempt)
    return tenant


async def test_rescoring_an_unchanged_assessment_changes_nothing(client, sat):
    admin = sat["admin"]
    url, preview = await _rescore(client, admin, {"reason": "routine check"})
    assert preview["summary"]["attempts"] == 3 and preview["summary"]["changed"] == 0
    committed = await client.post(f"{url}/commit", headers=admin)
    assert committed.status_code == 202
    done = await _settled(client, admin, url)
    assert (done["status"], done["processed"], done["changed"]) == ("done", 3, 0)
    for attempt in sat["attempts"]:
        assert [s["version"] for s in await _history(client, admin, attempt)] == [1]

    # The history of rescorings pages newest first.
    _second, _ = await _rescore(client, admin, {"reason": "second look"})
    first_page = (
        await client.get("/v1/assessments/quiz/rescorings", params={"limit": 1}, headers=admin)
    ).json()
    assert [r["reason"] for r in first_page["items"]] == ["second look"] and first_page["next_cursor"]
    rest = (
        await client.get(
            "/v1/assessments/quiz/rescorings", params={"cursor": first_page["next_cursor"]}, headers=admin
        )
    ).json()
    assert [r["reason"] for r in rest["items"]] == ["routine check"] and rest["next_cursor"] is None


async def test_a_corrected_key_is_previewed_then_committed_with_history_kept(client, sat):
    admin = sat["admin"]
    single = copy.deepcopy(next(item for item in ITEMS if item["code"] == "T-SC-1"))
    single["key"] = {"correct": "b"}  # the key was wrong
    etag = (await client.get("/v1/items/T-SC-1", headers=admin)).headers["etag"]
    edited = await client.put("/v1/items/T-SC-1", json=single, headers={**admin, "If-Match": etag})
    assert edited.json()["version"] == 2  # version 1 is pinned by the published assessment

    before = [await _history(client, admin, a) for a in sat["attempts"]]
    url, preview = await _rescore(
        client, admin, {"reason": "T-SC-1 was keyed c; b is right", "items": {"T-SC-1": 2}}
    )
    summary = preview["summary"]
    assert (summary["attempts"], summary["changed"], summary["overall_score_changed"]) == (3, 3, 3)
    assert {d["dimension"]: d["score_changed"] for d in summary["dimensions"]} == {"AK": 3}
    assert [await _history(client, admin, a) for a in sat["attempts"]] == before  # a preview stores nothing

    assert (await client.post(f"{url}/commit", headers=admin)).status_code == 202
    done = await _settled(client, admin, url)
    assert (done["status"], done["changed"], done["committed_by"]) == ("done", 3, "someone")
    assert (await client.post(f"{url}/commit", headers=admin)).status_code == 409

    for attempt, choice in zip(sat["attempts"], "bcc", strict=True):
        history = await _history(client, admin, attempt)
        assert [(s["version"], s["current"]) for s in history] == [(2, True), (1, False)]
        assert (
            history[0]["reason"] == f"rescoring {done['id']}"
            and history[1]["document"] == before[sat["attempts"].index(attempt)][0]["document"]
        )
        item = next(i for i in history[0]["document"]["items"] if i["item"] == "T-SC-1")
        assert item["version"] == 2 and item["earned"] == (1.0 if choice == "b" else 0.0)

    late = sat["candidates"][3]  # submitted after the commit: scored with the corrected key at once
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=late)).json()[
        "attempt"
    ]["id"]
    await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": "b"}},
        headers=late,
    )
    await client.post(f"/v1/me/attempts/{attempt}/submit", headers=late)
    [score] = await _history(client, admin, attempt)
    assert next(i for i in score["document"]["items"] if i["item"] == "T-SC-1")["earned"] == 1.0


async def test_a_rescoring_names_what_it_cannot_use(client, sat):
    admin = sat["admin"]
    missing = await client.post(
        "/v1/assessments/quiz/rescorings",
        headers=admin,
        json={"reason": "x", "items": {"T-SC-1": 9, "NOT-THERE": 1}},
    )
    assert missing.status_code == 422
    assert {e["pointer"] for e in missing.json()["errors"]} == {"/items/T-SC-1", "/items/NOT-THERE"}
    changed = copy.deepcopy(next(item for item in ITEMS if item["code"] == "T-SC-1"))
    changed["options"] = changed["options"][:3]  # options candidates never saw cannot be rescored
    etag = (await client.get("/v1/items/T-SC-1", headers=admin)).headers["etag"]
    await client.put("/v1/items/T-SC-1", json=changed, headers={**admin, "If-Match": etag})
    refused = await client.post(
        "/v1/assessments/quiz/rescorings", headers=admin, json={"reason": "x", "items": {"T-SC-1": 2}}
    )
    assert refused.status_code == 422 and "options" in refused.json()["errors"][0]["detail"]
    wrong_framework = await client.post(
        "/v1/assessments/quiz/rescorings", headers=admin, json={"reason": "x", "framework_version": 7}
    )
    assert (
        wrong_framework.status_code == 422
        and wrong_framework.json()["errors"][0]["pointer"] == "/framework_version"
    )


async def _new_version(client, admin, **changes):
    item = {**copy.deepcopy(next(item for item in ITEMS if item["code"] == "T-SC-1")), **changes}
    etag = (await client.get("/v1/items/T-SC-1", headers=admin)).headers["etag"]
    edited = await client.put("/v1/items/T-SC-1", json=item, headers={**admin, "If-Match": etag})
    assert edited.json()["version"] == 2


async def test_a_submission_racing_a_rescoring_commit_is_scored_with_the_new_key(
    client, sat, owner, monkeypatch
):
    """Issue 14 item 1, the interleaving stepped by hand: a submission has read the pins in force (the
    old key) and not committed yet when the rescoring is committed. Before the pins lock, the commit's
    batches ran without seeing that attempt, and it kept the old key for ever."""
    from service.results import scores

    admin = sat["admin"]
    await _new_version(client, admin, key={"correct": "b"})
    url, _ = await _rescore(
        client, admin, {"reason": "T-SC-1 was keyed c; b is right", "items": {"T-SC-1": 2}}
    )
    late = sat["candidates"][3]
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=late)).json()[
        "attempt"
    ]["id"]
    await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": "b"}},
        headers=late,
    )

    read, release = asyncio.Event(), asyncio.Event()

    async def held_after_reading_the_pins(assessments):  # type: ignore[no-untyped-def]
        if not read.is_set():
            read.set()
            await release.wait()

    monkeypatch.setattr(scores, "after_pins_read", held_after_reading_the_pins)
    submit = asyncio.create_task(client.post(f"/v1/me/attempts/{attempt}/submit", headers=late))
    await asyncio.wait_for(read.wait(), 10)  # the submission read the old pins and has not committed
    commit = asyncio.create_task(client.post(f"{url}/commit", headers=admin))
    waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    while not commit.done() and not await owner.fetchval(
        waiting
    ):  # it waits for the submission, or ran through
        await asyncio.sleep(0.01)
    release.set()
    assert (await submit).status_code == 200
    assert (await commit).status_code == 202
    done = await _settled(client, admin, url)
    assert (done["status"], done["total"], done["processed"], done["changed"]) == ("done", 4, 4, 4)

    [current, *_] = await _history(client, admin, attempt)
    item = next(i for i in current["document"]["items"] if i["item"] == "T-SC-1")
    assert (current["current"], item["version"], item["earned"]) == (True, 2, 1.0)


async def test_a_submission_does_not_wait_for_an_open_rescoring_batch(client, sat, owner, monkeypatch):
    """Issue 19 goal 4, the interleaving stepped by hand: a commit's batch has stored its documents (and
    its progress, its webhook rows...) and is held before its rollups move, its transaction open. A
    candidate of the same assessment submits meanwhile: nothing the batch holds makes the submission
    wait (no lock request of the database is left waiting while it runs, and it completes while the
    batch is held). Then the batch commits: every score current once, the aggregates in step with a
    recount (nothing lost or doubled). Before, a batch moved the rollups (the tenant's row, every
    ancestor's) right after storing and held them to its commit, and submissions queued behind it."""
    from service import pipeline
    from tests.test_aggregates_flow import _check_in_step

    admin = sat["admin"]
    await _new_version(client, admin, key={"correct": "b"})
    url, _ = await _rescore(
        client, admin, {"reason": "T-SC-1 was keyed c; b is right", "items": {"T-SC-1": 2}}
    )
    late = sat["candidates"][3]
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=late)).json()[
        "attempt"
    ]["id"]
    await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": "b"}},
        headers=late,
    )
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_the_batch(ids, scored_by):  # type: ignore[no-untyped-def]
        if scored_by.startswith("rescoring:") and not held.is_set():
            held.set()
            await release.wait()

    monkeypatch.setattr(pipeline, "before_rollups", hold_the_batch)
    commit = asyncio.create_task(client.post(f"{url}/commit", headers=admin))  # its job runs in this loop
    await asyncio.wait_for(held.wait(), 30)  # the batch's transaction is open, its documents stored
    writing = await owner.fetch(
        """SELECT l.relation::regclass::text AS relation FROM pg_locks l JOIN pg_stat_activity a USING (pid)
           WHERE a.datname = current_database() AND l.locktype = 'relation'
             AND l.relation IN ('rollups'::regclass, 'results'::regclass) AND l.mode = 'RowExclusiveLock'"""
    )
    assert writing == []  # it has written neither rollups nor results yet
    submit = asyncio.create_task(client.post(f"/v1/me/attempts/{attempt}/submit", headers=late))
    # any lock request left waiting, but the job's own heartbeat (it renews the lease on the job's row,
    # which the batch holds: `Job.fence`)
    waiting = """SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                 WHERE NOT l.granted AND a.query NOT LIKE 'UPDATE jobs SET lease_expires_at%'"""
    for _ in range(3000):
        if submit.done():
            break
        assert await owner.fetchval(waiting) == 0, "the submission waits for the rescoring batch"
        await asyncio.sleep(0.01)
    assert (await asyncio.wait_for(submit, 1)).status_code == 200
    assert not release.is_set()  # it completed while the batch was held
    release.set()
    assert (await commit).status_code == 202
    done = await _settled(client, admin, url)
    assert (done["status"], done["total"], done["processed"]) == ("done", 3, 3)

    currents = await owner.fetch(
        "SELECT attempt_id, count(*) AS n FROM scores WHERE current GROUP BY attempt_id ORDER BY attempt_id"
    )
    assert sorted(str(r["attempt_id"]) for r in currents) == sorted([*sat["attempts"], attempt])
    assert {r["n"] for r in currents} == {1}
    [current, *_] = await _history(client, admin, attempt)
    item = next(i for i in current["document"]["items"] if i["item"] == "T-SC-1")
    assert (item["version"], item["earned"]) == (2, 1.0)  # the submission scored with the new key
    await _check_in_step(client, admin)  # results and rollups as a recount has them


async def test_a_rescoring_that_moves_no_credit_still_names_the_versions_it_applied(client, sat):
    admin = sat["admin"]
    await _new_version(client, admin, stem={"zh-CN": "单选（修订）", "en": "Single (revised)"})
    url, preview = await _rescore(client, admin, {"reason": "stem reworded", "items": {"T-SC-1": 2}})
    assert preview["summary"]["changed"] == 0
    assert (await client.post(f"{url}/commit", headers=admin)).status_code == 202
    done = await _settled(client, admin, url)
    assert (done["status"], done["total"], done["processed"], done["changed"]) == ("done", 3, 3, 0)
    for attempt in sat["attempts"]:
        history = await _history(client, admin, attempt)
        assert [(s["version"], s["current"]) for s in history] == [(2, True), (1, False)]
        assert history[0]["document"]["provenance"]["item_versions"]["T-SC-1"] == 2
        assert history[0]["document"]["overall"] == history[1]["document"]["overall"]


class _Undo(Exception):
    """Rolls a look-ahead transaction back."""


async def test_a_batch_copied_through_staging_stores_the_rows_one_statement_stores(
    client, sat, app_url, monkeypatch
):
    """A rescoring's batch COPYs its documents into a staging table (`scores.COPY_FROM` documents and
    more); a submission's few go in one statement. Both leave the same rows: scores (history kept),
    results and rollups; two staged batches in one transaction too."""
    from uuid import UUID

    from service import pipeline
    from service.db.pool import create_pool, tenant_transaction
    from service.results import scores

    tenant, ids = UUID(sat["id"]), [UUID(a) for a in sat["attempts"]]
    pool = await create_pool(app_url, min_size=1, max_size=1)

    async def stored_with(copy_from: int, split: bool) -> list[list[tuple]]:
        monkeypatch.setattr(scores, "COPY_FROM", copy_from)
        found: list[list[tuple]] = []
        with pytest.raises(_Undo):
            async with tenant_transaction(pool, tenant) as conn:
                documents = await scores.score_documents(conn, ids, scores.ScoringPins(items={"T-SC-1": 1}))
                parts = [dict(list(documents.items())[:1]), dict(list(documents.items())[1:])]
                for part in parts if split else [documents]:
                    await pipeline.store(conn, part, reason="same rows", scored_by="test")
                for query in (
                    """SELECT attempt_id, version, status, current, overall_scaled, overall_level, document::text,
                              reason, scored_by FROM scores ORDER BY attempt_id, version""",
                    "SELECT * FROM results ORDER BY assessment_id, person_id",
                    "SELECT * FROM rollups ORDER BY assessment_id, unit_id, measure, category, week",
                ):
                    found.append([tuple(row) for row in await conn.fetch(query)])
                raise _Undo
        return found

    try:
        one_statement = await stored_with(10**6, split=False)
        staged = await stored_with(1, split=True)
        staged_once = await stored_with(1, split=False)
    finally:
        await pool.close()
    assert [len(rows) for rows in one_statement] == [6, 3, len(one_statement[2])]
    assert [r[1:4] for r in one_statement[0]][:2] == [(1, "final", False), (2, "final", True)]
    assert staged == one_statement and staged_once == one_statement


async def test_a_score_row_stays_as_it_was_scored(client, sat, owner):
    """The history guard (migrations 0004, 0025): a stored score's document, status, version and attempt
    never change, and a row no longer current never becomes current again; making it not current is the
    one change allowed (what every new score does to the one before)."""
    from uuid import UUID

    import asyncpg

    attempt = UUID(sat["attempts"][0])
    refused = asyncpg.exceptions.ObjectNotInPrerequisiteStateError
    for change in (
        'document = document || \'{"status": "provisional"}\'',
        "status = 'provisional'",
        "version = version + 1",
        f"attempt_id = '{sat['attempts'][1]}'",
    ):
        with pytest.raises(refused, match="is history and cannot change"):
            await owner.execute(f"UPDATE scores SET {change} WHERE attempt_id = $1", attempt)
    await owner.execute("UPDATE scores SET document = document WHERE attempt_id = $1", attempt)  # unchanged
    async with owner.transaction():
        await owner.execute("UPDATE scores SET current = false WHERE attempt_id = $1", attempt)
        with pytest.raises(refused, match="is history and cannot change"):
            async with owner.transaction():
                await owner.execute("UPDATE scores SET current = true WHERE attempt_id = $1", attempt)
        await owner.execute("UPDATE scores SET current = true WHERE false")
    assert await owner.fetchval("SELECT current FROM scores WHERE attempt_id = $1", attempt) is False
