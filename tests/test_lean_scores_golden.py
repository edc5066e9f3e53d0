"""Lean score documents against the whole ones, every reader byte for byte (issue 19, goal 4).

The demo's seven people sit both demo assessments (the cadre and the teacher sample banks) with
seeded random answers, some twice, some of their scores stored again (history), while documents
are stored whole as before lean documents (the old path: `lean.store_forms` keeps each document
whole). Every reader's output is taken: the API's score history, the candidate's report in both
languages (what /take shows), the person report, the score feed and `latest`, the CSV, JSON Lines
and XLSX exports, the console's attempt trace, the webhook events' data, and the documents the
rescoring, calibration and item-statistics reads return. Then the very rows are rewritten in the
lean form, as `store_documents` now stores them, and every output must be the same bytes."""

from __future__ import annotations

import io
import random
import zipfile
from typing import Any
from uuid import UUID

import httpx
import msgspec
import pytest

from service.auth.keys import ServiceKeys
from service.db.pool import create_pool, tenant_transaction
from service.demo import DEMO_ASSESSMENT, DEMO_TEACHER_ASSESSMENT, seed_demo
from service.results import scores
from service.scoring import lean
from service.scoring.engine import ScoreDocument
from tests.helpers import user
from tests.test_console_marking import console_headers

ASSESSMENTS = [DEMO_ASSESSMENT, DEMO_TEACHER_ASSESSMENT]
PEOPLE = [f"demo-000{n}" for n in range(1, 8)]


def _answer(item: dict[str, Any], rng: random.Random, open_blank: bool = False) -> dict[str, Any] | None:
    """A random answer to the item as the candidate sees it; None (left unanswered) one time in six;
    open responses left blank when `open_blank` (a final score without a rating), else mostly."""
    if rng.randrange(6) == 0:
        return None
    keys = [option["key"] for option in item.get("options", [])]
    kind = item["type"]
    if kind == "single_choice":
        return {"choice": rng.choice(keys)}
    if kind == "multiple_choice":
        return {"choices": rng.sample(keys, rng.randint(1, len(keys)))}
    if kind == "situational_judgement":
        if item["format"] == "most_least":
            most, least = rng.sample(keys, 2)
            return {"most": most, "least": least}
        if item["format"] == "rate":
            return {"ratings": {k: rng.randint(1, item.get("rating_points", 4)) for k in keys}}
        return {"choice": rng.choice(keys)}
    if kind == "likert":
        return {"value": rng.randint(1, item.get("scale_points", 5))}
    if kind == "ordering":
        return {"order": rng.sample(keys, len(keys))}
    if open_blank or rng.randrange(3):  # most open responses left blank: a final score without a rating
        return None
    return {"text": rng.choice(["先说明目标，再让模型标出需要核实的内容。", "A short answer."])}


async def _sit(
    client: httpx.AsyncClient, me: dict[str, str], code: str, rng: random.Random, open_blank: bool = False
) -> str | None:
    started = await client.post(f"/v1/me/assessments/{code}/attempts", json={}, headers=me)
    if started.status_code != 201:
        return None  # not in this assessment's audience, or out of attempts
    state = started.json()
    attempt = state["attempt"]["id"]
    for item in state["items"]:
        answer = _answer(item, rng, open_blank)
        if answer is not None:
            saved = await client.put(
                f"/v1/me/attempts/{attempt}/answers/{item['ref']}",
                json={"revision": 1, "answer": answer},
                headers=me,
            )
            assert saved.status_code == 200, saved.text
    submitted = await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
    assert submitted.status_code == 200, submitted.text
    return str(attempt)


async def _readers(
    client: httpx.AsyncClient,
    pool: Any,
    tenant_id: UUID,
    admin: dict[str, str],
    console: dict[str, str],
    candidates: dict[str, dict[str, str]],
    sat: list[tuple[str, str, str]],
) -> dict[str, bytes]:
    """Every reader's output, by a name saying which."""
    out: dict[str, bytes] = {}

    async def get(name: str, url: str, headers: dict[str, str], **params: Any) -> None:
        response = await client.get(url, headers=headers, params=params)
        assert response.status_code == 200, (url, response.text)
        out[name] = response.content
        if url.endswith(".xlsx"):  # every member but the workbook's creation time, which is now
            with zipfile.ZipFile(io.BytesIO(response.content)) as book:
                out[name] = b"".join(
                    info.filename.encode() + book.read(info)
                    for info in book.infolist()
                    if info.filename != "docProps/core.xml"
                )

    for code, person, attempt in sat:
        await get(f"history {attempt}", f"/v1/assessments/{code}/attempts/{attempt}/scores", admin)
        for language in ("zh-CN", "en"):
            await get(
                f"report {attempt} {language}",
                f"/v1/me/attempts/{attempt}/report",
                {**candidates[person], "Accept-Language": language},
            )
        await get(f"trace {attempt}", f"/console/assessments/{code}/attempts/{attempt}", console)
    for code in ASSESSMENTS:
        for person in PEOPLE:
            for language in ("zh-CN", "en"):
                await get(
                    f"person report {code} {person} {language}",
                    f"/v1/assessments/{code}/people/{person}/report",
                    {**admin, "Accept-Language": language},
                )
        for fmt in ("csv", "jsonl", "xlsx"):
            await get(f"export {code}.{fmt}", f"/v1/assessments/{code}/scores.{fmt}", admin)
        await get(f"latest {code}", "/v1/scores/latest", admin, assessment=code, limit=100)
    await get("feed", "/v1/scores", admin, limit=500)

    attempt_ids = [UUID(attempt) for _, _, attempt in sat]
    async with tenant_transaction(pool, tenant_id) as conn:
        out["event rows"] = repr([dict(row) for row in await scores.event_rows(conn, attempt_ids)]).encode()
        current = await scores.current_documents(conn, attempt_ids)
        out["current documents"] = msgspec.json.encode(sorted(current.items(), key=lambda kv: str(kv[0])))
        for code in ASSESSMENTS:
            assessment_id = await conn.fetchval("SELECT id FROM assessments WHERE code = $1", code)
            out[f"final batch {code}"] = msgspec.json.encode(
                await scores.final_current_batch(conn, assessment_id, None, 1000)
            )
            out[f"final scores {code}"] = msgspec.json.encode(
                await scores.final_current_scores(conn, assessment_id, None, 1000)
            )
            out[f"abilities {code}"] = msgspec.json.encode(await scores.current_abilities(conn, attempt_ids))
    return out


async def test_every_reader_gives_the_same_bytes_from_lean_documents_as_from_whole_ones(
    client: httpx.AsyncClient,
    app_url: str,
    owner: Any,
    service_keys: ServiceKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the old path: every document stored whole
    monkeypatch.setattr(lean, "store_forms", lambda documents, indexes: list(documents))
    pool = await create_pool(app_url, max_size=2)
    try:
        tenant_id = await seed_demo(pool)
        admin = user(service_keys, tenant_id, ["tenant_admin"])
        candidates = {p: user(service_keys, tenant_id, ["candidate"], sub=p) for p in PEOPLE}
        rng = random.Random(19)
        sat: list[tuple[str, str, str]] = []
        for round_ in range(2):
            for person in PEOPLE:
                for code in ASSESSMENTS:
                    if round_ == 1 and person not in PEOPLE[:4]:
                        continue
                    # the first person's first sitting leaves every open response blank: at least one final
                    # document whatever the (per-attempt) item order does to the random answers
                    blank = round_ == 0 and person == PEOPLE[0]
                    attempt = await _sit(client, candidates[person], code, rng, blank)
                    if attempt is not None:
                        sat.append((code, person, attempt))
        assert len({code for code, _, _ in sat}) == 2 and len(sat) >= 10
        # history: some attempts scored again
        async with tenant_transaction(pool, tenant_id) as conn:
            again = [UUID(attempt) for _, _, attempt in sat[::3]]
            await scores.store_documents(
                conn, await scores.score_documents(conn, again), reason="golden", scored_by="test"
            )
        console = await console_headers(client, str(tenant_id), ["tenant_admin"], "admin")

        whole = await _readers(client, pool, tenant_id, admin, console, candidates, sat)
        size_whole = await owner.fetchval("SELECT avg(pg_column_size(document)) FROM scores")
        statuses = await owner.fetch("SELECT DISTINCT status FROM scores")
        assert {row["status"] for row in statuses} == {"final", "provisional"}

        # the same rows, lean, as store_documents now stores them
        monkeypatch.undo()
        rows = await owner.fetch(
            "SELECT tenant_id, attempt_id, version, document::text AS document FROM scores"
        )
        documents = [msgspec.json.decode(row["document"], type=ScoreDocument) for row in rows]
        async with tenant_transaction(pool, tenant_id) as conn:
            forms = lean.store_forms(
                documents,
                await scores.framework_indexes(conn, {d.provenance.framework_hash for d in documents}),
            )
        assert all(isinstance(form, lean.LeanDocument) for form in forms)
        async with owner.transaction():
            await owner.execute("ALTER TABLE scores DISABLE TRIGGER score_guard")
            await owner.executemany(
                "UPDATE scores SET document = $4::text::jsonb WHERE tenant_id = $1 AND attempt_id = $2 AND version = $3",
                [
                    (row["tenant_id"], row["attempt_id"], row["version"], msgspec.json.encode(form).decode())
                    for row, form in zip(rows, forms, strict=True)
                ],
            )
            await owner.execute("ALTER TABLE scores ENABLE TRIGGER score_guard")
        assert await owner.fetchval("SELECT bool_and(document ? 'lean') FROM scores")
        size_lean = await owner.fetchval("SELECT avg(pg_column_size(document)) FROM scores")
        scores._indexes.clear()  # read from a cold cache, as a fresh process would

        lean_out = await _readers(client, pool, tenant_id, admin, console, candidates, sat)
        assert lean_out.keys() == whole.keys()
        for name in whole:
            assert lean_out[name] == whole[name], name
        assert size_lean < size_whole / 2, (size_lean, size_whole)
    finally:
        await pool.close()


async def test_a_submission_stores_a_lean_document_that_reads_as_the_engines(
    client: httpx.AsyncClient, app_url: str, owner: Any, service_keys: ServiceKeys
) -> None:
    pool = await create_pool(app_url, max_size=2)
    try:
        tenant_id = await seed_demo(pool)
        me = user(service_keys, tenant_id, ["candidate"], sub=PEOPLE[1])
        attempt = await _sit(client, me, DEMO_ASSESSMENT, random.Random(4))
        assert attempt is not None
        assert await owner.fetchval(
            "SELECT document ? 'lean' FROM scores WHERE attempt_id = $1", UUID(attempt)
        )
        async with tenant_transaction(pool, tenant_id) as conn:
            engine = (await scores.score_documents(conn, [UUID(attempt)]))[UUID(attempt)]
            stored = (await scores.current_documents(conn, [UUID(attempt)]))[UUID(attempt)]
        # equal, but for the order of object keys, which jsonb sets for whole documents as for lean ones
        assert msgspec.to_builtins(stored) == msgspec.to_builtins(engine)
    finally:
        await pool.close()
