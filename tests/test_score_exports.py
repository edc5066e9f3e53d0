"""Score export jobs: the file is the streamed export byte for byte, taken from one snapshot, with
progress while it runs; downloads resume with byte ranges; files expire; a job whose worker died
reads failed and can be started again; only the stream's readers, only in their own tenant."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import msgspec
import pytest
from litestar import Litestar

from service.api.app import create_app
from service.api.score_exports import Unsatisfiable, byte_range
from service.config import Settings
from service.db.pool import tenant_transaction
from service.jobs.runner import JobRunner
from service.results import exports
from tests.conftest import serving
from tests.delivery_setup import delivery_tenant
from tests.harness import snapshot
from tests.helpers import user
from tests.test_score_feed import SCORED, _sit
from tests.test_service_clients import create_client, token_for

PROBLEM = "application/problem+json"
CHUNK = 97  # a prime: chunk boundaries fall inside lines and inside multi-byte characters' neighbours


@pytest.fixture
def served(client: httpx.AsyncClient, small_chunks: None) -> tuple[Litestar, httpx.AsyncClient]:
    """The app (its runtime: pool, jobs) and the client on it."""
    return client._transport.app, client  # type: ignore[attr-defined]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "CHUNK_BYTES", CHUNK)


@pytest.fixture
@snapshot
async def sat(client: httpx.AsyncClient, service_keys: Any) -> dict[str, Any]:
    tenant = await delivery_tenant(
        client, service_keys, slug="export-region", people=6, sections=[{"code": "main", "items": SCORED}]
    )
    tenant["attempts"] = [
        await _sit(client, me, choice) for me, choice in zip(tenant["candidates"][:5], "bccdb", strict=True)
    ]
    return tenant


async def _export(http: httpx.AsyncClient, headers: dict[str, str], fmt: str = "csv") -> dict[str, Any]:
    """Start an export and return it finished (the test client returns after the background job)."""
    started = await http.post("/v1/assessments/quiz/score-exports", params={"format": fmt}, headers=headers)
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["location"] == f"/v1/score-exports/{job['id']}"
    assert job["format"] == fmt and job["file"] == f"/v1/score-exports/{job['id']}/file"
    polled = await http.get(started.headers["location"], headers=headers)
    assert polled.status_code == 200, polled.text
    return polled.json()


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM, response.headers
    return response.json()


async def test_the_file_is_the_stream_byte_for_byte_and_resumes_from_any_byte(served, sat, owner):
    _, http = served
    admin = sat["admin"]
    job = await _export(http, admin)
    streamed = await http.get("/v1/assessments/quiz/scores.csv", headers=admin)
    assert streamed.headers["content-type"] == "text/csv; charset=utf-8"
    stream = streamed.content
    size = len(stream)
    assert size > 4 * CHUNK  # several chunks
    assert (job["status"], job["rows_total"], job["rows_done"], job["bytes"]) == ("done", 5, 5, size)
    assert job["sha256"] == hashlib.sha256(stream).hexdigest()
    assert job["started_at"] <= job["finished_at"] and job["error"] is None
    chunks = await owner.fetch(
        "SELECT seq, length(data) AS n FROM score_export_chunks WHERE export_id = $1 ORDER BY seq",
        UUID(job["id"]),
    )
    assert [c["seq"] for c in chunks] == list(range(-(-size // CHUNK)))
    assert all(c["n"] == CHUNK for c in chunks[:-1]) and sum(c["n"] for c in chunks) == size

    url = job["file"]
    whole = await http.get(url, headers=admin)
    assert whole.status_code == 200 and whole.content == stream
    assert whole.headers["content-length"] == str(size)
    assert whole.headers["content-type"] == "text/csv; charset=utf-8"
    assert whole.headers["accept-ranges"] == "bytes" and "content-range" not in whole.headers
    etag = whole.headers["etag"]
    assert etag == f'"{job["sha256"]}"'
    assert whole.headers["content-disposition"] == 'attachment; filename="quiz-scores.csv"'

    # A download that broke after `cut` bytes resumes there; the halves make the file.
    for cut in (1, CHUNK - 1, CHUNK, CHUNK + 1, size // 2, size - 1):
        first = await http.get(url, headers={**admin, "Range": f"bytes=0-{cut - 1}"})
        rest = await http.get(url, headers={**admin, "Range": f"bytes={cut}-", "If-Range": etag})
        for part, low, high in ((first, 0, cut - 1), (rest, cut, size - 1)):
            assert part.status_code == 206, (cut, part.text)
            assert part.headers["content-range"] == f"bytes {low}-{high}/{size}"
            assert part.headers["content-length"] == str(high - low + 1)
            assert part.content == stream[low : high + 1]
        assert first.content + rest.content == stream
    inner = await http.get(url, headers={**admin, "Range": f"bytes={CHUNK - 3}-{3 * CHUNK + 5}"})
    assert inner.status_code == 206 and inner.content == stream[CHUNK - 3 : 3 * CHUNK + 6]
    beyond = await http.get(url, headers={**admin, "Range": f"bytes=10-{size * 10}"})  # clipped to the end
    assert beyond.status_code == 206 and beyond.headers["content-range"] == f"bytes 10-{size - 1}/{size}"
    # suffix ranges: the last n bytes (all of them when n exceeds the file)
    for n, expected in ((1, stream[-1:]), (CHUNK + 2, stream[-(CHUNK + 2) :]), (size + 50, stream)):
        tail = await http.get(url, headers={**admin, "Range": f"bytes=-{n}"})
        assert tail.status_code == 206 and tail.content == expected, n
        assert tail.headers["content-range"] == f"bytes {size - len(expected)}-{size - 1}/{size}"

    # Ranges that name no byte of the file, or are not ranges at all: 416 naming the Range header.
    for bad in (
        f"bytes={size}-",
        f"bytes={size + 5}-{size + 9}",
        "bytes=-0",
        "bytes=9-3",
        "bytes=x-",
        "bytes=-",
        "bytes=1-2-3",
        "bytes= -",
        "bytes=１-".encode(),
    ):
        refused = _problem(await http.get(url, headers={**admin, "Range": bad}), 416)
        assert refused["type"] == "urn:assess:problem:range-not-satisfiable", bad
        assert [e["parameter"] for e in refused["errors"]] == ["Range"], bad
    refused = await http.get(url, headers={**admin, "Range": f"bytes={size}-"})
    assert refused.headers["content-range"] == f"bytes */{size}"
    # What is not one byte range gets the whole file: another unit, several ranges, a changed file.
    for headers in (
        {"Range": "items=0-3"},
        {"Range": "bytes=0-1,5-6"},
        {"Range": "bytes=5-", "If-Range": '"not-this-file"'},
    ):
        full = await http.get(url, headers={**admin, **headers})
        assert full.status_code == 200 and full.content == stream, headers


async def test_jsonl_files_and_a_listed_deleted_export(served, sat, owner):
    _, http = served
    admin = sat["admin"]
    job = await _export(http, admin, "jsonl")
    stream = (await http.get("/v1/assessments/quiz/scores.jsonl", headers=admin)).content
    got = await http.get(job["file"], headers=admin)
    assert got.status_code == 200 and got.content == stream
    assert got.headers["content-type"] == "application/x-ndjson"
    assert got.headers["content-length"] == str(len(stream)) == str(job["bytes"])
    assert [json.loads(line)["person"] for line in got.text.splitlines()] == ["c1", "c2", "c3", "c4", "c5"]
    middle = await http.get(job["file"], headers={**admin, "Range": "bytes=100-"})
    assert middle.status_code == 206 and middle.content == stream[100:]

    refused = _problem(
        await http.post("/v1/assessments/quiz/score-exports", params={"format": "xls"}, headers=admin), 400
    )
    assert [e["parameter"] for e in refused["errors"]] == ["format"]
    _problem(await http.post("/v1/assessments/nope/score-exports", headers=admin), 404)

    # the list: newest first, page by page
    more = [await _export(http, admin) for _ in range(2)]
    page = await http.get("/v1/score-exports", params={"limit": 2}, headers=admin)
    assert page.status_code == 200, page.text
    assert [e["id"] for e in page.json()["items"]] == [more[1]["id"], more[0]["id"]]
    rest = await http.get(
        "/v1/score-exports", params={"limit": 2, "cursor": page.json()["next_cursor"]}, headers=admin
    )
    assert [e["id"] for e in rest.json()["items"]] == [job["id"]] and rest.json()["next_cursor"] is None
    bad = _problem(await http.get("/v1/score-exports", params={"cursor": "nonsense"}, headers=admin), 400)
    assert [e["parameter"] for e in bad["errors"]] == ["cursor"]

    # deleted: the job and its chunks
    assert (await http.delete(f"/v1/score-exports/{job['id']}", headers=admin)).status_code == 204
    _problem(await http.get(f"/v1/score-exports/{job['id']}", headers=admin), 404)
    _problem(await http.get(job["file"], headers=admin), 404)
    _problem(await http.delete(f"/v1/score-exports/{job['id']}", headers=admin), 404)
    assert (
        await owner.fetchval("SELECT count(*) FROM score_export_chunks WHERE export_id = $1", UUID(job["id"]))
        == 0
    )


async def test_xlsx_files_are_the_spreadsheet_download_in_the_language_asked_for(served, sat):
    """Issue 14 item 11: an XLSX export job stores the same workbook `GET .../scores.xlsx` streams (its
    rows, names and codes; a zip differs in its timestamps), resumable like the others."""
    import io

    import openpyxl

    _, http = served
    admin = {**sat["admin"], "Accept-Language": "en"}
    started = await http.post("/v1/assessments/quiz/score-exports", params={"format": "xlsx"}, headers=admin)
    assert started.status_code == 202, started.text
    job = (await http.get(started.headers["location"], headers=admin)).json()
    assert (job["status"], job["format"], job["language"], job["rows_done"]) == ("done", "xlsx", "en", 5)
    got = await http.get(job["file"], headers=admin)
    assert got.status_code == 200 and got.headers["content-type"] == exports.feed.MEDIA_TYPES["xlsx"]
    assert (
        got.headers["content-length"] == str(job["bytes"])
        and hashlib.sha256(got.content).hexdigest() == job["sha256"]
    )
    assert got.headers["content-disposition"].endswith('-scores.xlsx"')
    middle = await http.get(job["file"], headers={**admin, "Range": "bytes=100-"})
    assert middle.status_code == 206 and middle.content == got.content[100:]

    def cells(body: bytes) -> list[list[object]]:
        sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]

    streamed = await http.get("/v1/assessments/quiz/scores.xlsx", headers=admin)
    job_cells = cells(got.content)
    assert job_cells == cells(streamed.content)
    assert job_cells[0][0] == "Person" and job_cells[1][0] == "person" and len(job_cells) == 2 + 5
    chinese = await http.post(
        "/v1/assessments/quiz/score-exports",
        params={"format": "xlsx"},
        headers={**sat["admin"], "Accept-Language": "zh-CN"},
    )
    done = (await http.get(chinese.headers["location"], headers=admin)).json()
    assert done["language"] == "zh-CN"
    assert cells((await http.get(done["file"], headers=admin)).content)[0][0] == "人员编号"


async def test_progress_is_committed_chunk_by_chunk_from_one_snapshot(served, sat, owner, monkeypatch):
    """Each chunk commits with the job's progress (seen from outside while it runs); a score submitted
    mid-export is not in the file, which is the export as it was when the job started."""
    app, http = served
    admin, tenant_id = sat["admin"], UUID(sat["id"])
    seen: list[tuple[str, int | None, int, int]] = []
    commit = exports._commit

    async def observed(job, seq, chunk, assignments, *values, **done):  # type: ignore[no-untyped-def]
        await commit(job, seq, chunk, assignments, *values, **done)
        row = await owner.fetchrow(
            "SELECT status, rows_total, rows_done, bytes FROM score_exports WHERE id = $1", job.id
        )
        seen.append(tuple(row))  # type: ignore[arg-type]
        if len(seen) == 2:  # a late submission, committed while the export runs
            await _sit(http, sat["candidates"][5], "c")

    monkeypatch.setattr(exports, "_commit", observed)
    pool = app.state.runtime.pool
    async with tenant_transaction(pool, tenant_id) as conn:
        job = await exports.create(conn, "quiz", "csv", "tester", timedelta(hours=1))
    await app.state.runtime.jobs.launch(tenant_id, job.id)

    assert seen[0] == ("running", 5, 0, 0)  # counted in the snapshot before the first row
    running = seen[1:-1]
    assert running and all(s[0] == "running" and s[1] == 5 for s in running)
    assert [s[3] for s in running] == [CHUNK * (i + 1) for i in range(len(running))]
    assert [s[2] for s in running] == sorted(s[2] for s in running)
    done = await http.get(f"/v1/score-exports/{job.id}", headers=admin)
    body = done.json()
    assert seen[-1] == ("done", 5, 5, body["bytes"])
    file = (await http.get(f"/v1/score-exports/{job.id}/file", headers=admin)).text
    assert [line.split(",")[0] for line in file.splitlines()[1:]] == ["c1", "c2", "c3", "c4", "c5"]
    now = (await http.get("/v1/assessments/quiz/scores.csv", headers=admin)).text
    assert [line.split(",")[0] for line in now.splitlines()[1:]] == ["c1", "c2", "c3", "c4", "c5", "c6"]


async def _hung_after_three_chunks(app, tenant_id, fmt, monkeypatch):  # type: ignore[no-untyped-def]
    """An export whose worker stops for good after three chunk commits, then vanishes like a kill -9
    (cancelled: no handler records anything)."""
    commits, stuck = 0, asyncio.Event()
    commit = exports._commit

    async def dies_after_three(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        if commits > 3:
            stuck.set()
            await asyncio.Event().wait()  # the process is gone: nothing after this runs
        await commit(*args, **kwargs)

    monkeypatch.setattr(exports, "_commit", dies_after_three)
    async with tenant_transaction(app.state.runtime.pool, tenant_id) as conn:
        job = await exports.create(conn, "quiz", fmt, "tester", timedelta(hours=1))
    worker = asyncio.create_task(app.state.runtime.jobs.launch(tenant_id, job.id))
    await asyncio.wait_for(stuck.wait(), 10)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    monkeypatch.setattr(exports, "_commit", commit)
    return job


async def test_a_job_whose_worker_died_is_taken_over_or_reads_failed_and_a_new_one_runs(
    served, sat, owner, monkeypatch
):
    app, http = served
    admin, tenant_id, pool = sat["admin"], UUID(sat["id"]), app.state.runtime.pool
    settings = app.state.runtime.settings
    job = await _hung_after_three_chunks(app, tenant_id, "jsonl", monkeypatch)
    url = f"/v1/score-exports/{job.id}"
    polled = (await http.get(url, headers=admin)).json()
    assert (polled["status"], polled["rows_done"], polled["bytes"]) == (
        "running",
        polled["rows_done"],
        2 * CHUNK,
    )
    assert (
        await owner.fetchval("SELECT count(*) FROM score_export_chunks WHERE export_id = $1", job.id)
    ) == 2
    refused = _problem(await http.get(f"{url}/file", headers=admin), 409)
    assert refused["type"] == "urn:assess:problem:export-not-ready"

    # Its lease lapses (nobody renews it): another worker's poll takes it over and renders it again.
    other = JobRunner(pool, settings, owner="other-worker")
    assert await other.poll_once() == 0  # the lease still runs
    await owner.execute(
        "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", job.id
    )
    assert await other.poll_once() == 1
    while other.running or other._spawned:
        await asyncio.sleep(0.01)
    taken = (await http.get(url, headers=admin)).json()
    assert taken["status"] == "done" and taken["rows_done"] == 5
    assert (await http.get(taken["file"], headers=admin)).content == (
        await http.get("/v1/assessments/quiz/scores.jsonl", headers=admin)
    ).content
    assert tuple(await owner.fetchrow("SELECT state, attempts FROM jobs WHERE id = $1", job.id)) == (
        "done",
        2,
    )

    # A job whose last allowed worker died reads failed, loses its chunks, and a new export runs.
    dead = await _hung_after_three_chunks(app, tenant_id, "jsonl", monkeypatch)
    await owner.execute(
        "UPDATE jobs SET lease_expires_at = now() - interval '1 second', attempts = $2 WHERE id = $1",
        dead.id,
        settings.job_max_attempts,
    )
    assert await other.poll_once() == 0
    url = f"/v1/score-exports/{dead.id}"
    polled = (await http.get(url, headers=admin)).json()
    assert polled["status"] == "failed" and "its worker stopped" in polled["error"] and polled["finished_at"]
    assert (
        await owner.fetchval("SELECT count(*) FROM score_export_chunks WHERE export_id = $1", dead.id)
    ) == 0
    assert (
        _problem(await http.get(f"{url}/file", headers=admin), 410)["type"]
        == "urn:assess:problem:export-gone"
    )

    again = await _export(http, admin, "jsonl")
    assert again["status"] == "done" and again["rows_done"] == 5
    assert (await http.get(again["file"], headers=admin)).content == (
        await http.get("/v1/assessments/quiz/scores.jsonl", headers=admin)
    ).content


@pytest.mark.parametrize("how", ["export failed", "lease taken"])
async def test_a_job_declared_dead_while_alive_stops_at_its_next_chunk(served, sat, owner, monkeypatch, how):
    app, _ = served
    tenant_id, pool = UUID(sat["id"]), app.state.runtime.pool
    commits = 0
    commit = exports._commit

    async def declared_dead_midway(job, *rest, **done):  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        if commits == 3:  # a poll elsewhere found it dead (a long GC pause, a slow database)
            if how == "export failed":
                await owner.execute(
                    "UPDATE score_exports SET status = 'failed', error = 'stale' WHERE id = $1", job.id
                )
            else:
                await owner.execute("UPDATE jobs SET lease_owner = 'another-worker' WHERE id = $1", job.id)
        await commit(job, *rest, **done)

    monkeypatch.setattr(exports, "_commit", declared_dead_midway)
    async with tenant_transaction(pool, tenant_id) as conn:
        job = await exports.create(conn, "quiz", "csv", "tester", timedelta(hours=1))
    await app.state.runtime.jobs.launch(tenant_id, job.id)
    assert commits == 3
    row = await owner.fetchrow("SELECT status, error FROM score_exports WHERE id = $1", job.id)
    if how == "export failed":
        assert tuple(row) == ("failed", "stale")
        assert (
            await owner.fetchval("SELECT count(*) FROM score_export_chunks WHERE export_id = $1", job.id)
        ) == 0
    else:  # the new owner's: this worker wrote nothing more (its third commit, the second chunk, was refused)
        assert tuple(row) == ("running", None)
        assert (
            await owner.fetchval("SELECT count(*) FROM score_export_chunks WHERE export_id = $1", job.id)
        ) == 1


async def test_files_expire_and_lose_their_chunks(served, sat, owner):
    app, http = served
    admin = sat["admin"]
    read, unread = await _export(http, admin), await _export(http, admin)
    finished = await owner.fetchval("SELECT finished_at FROM score_exports WHERE id = $1", UUID(read["id"]))
    expires = await owner.fetchval("SELECT expires_at FROM score_exports WHERE id = $1", UUID(read["id"]))
    assert expires - finished == timedelta(hours=24)  # SCORE_EXPORT_RETENTION_HOURS' default
    await owner.execute("UPDATE score_exports SET expires_at = now() - interval '1 second'")

    # on read: the job says expired, the file is gone
    polled = (await http.get(f"/v1/score-exports/{read['id']}", headers=admin)).json()
    assert polled["status"] == "expired"
    assert (
        _problem(await http.get(read["file"], headers=admin), 410)["type"] == "urn:assess:problem:export-gone"
    )
    chunks = "SELECT count(*) FROM score_export_chunks WHERE export_id = $1"
    assert await owner.fetchval(chunks, UUID(read["id"])) == 0
    # by the sweep every worker runs, for a tenant that never reads again
    assert await owner.fetchval(chunks, UUID(unread["id"])) > 0
    await exports.sweep_once(app.state.runtime.pool)
    assert await owner.fetchval(chunks, UUID(unread["id"])) == 0
    assert (
        await owner.fetchval("SELECT status FROM score_exports WHERE id = $1", UUID(unread["id"]))
        == "expired"
    )


async def test_retention_is_a_setting(settings: Settings, owner, service_keys):
    assert Settings.from_env({}).score_export_retention_hours == 24
    assert Settings.from_env({"SCORE_EXPORT_RETENTION_HOURS": "0.5"}).score_export_retention_hours == 0.5
    for wrong in ("0", "-1", "a day"):
        with pytest.raises(SystemExit, match="SCORE_EXPORT_RETENTION_HOURS"):
            Settings.from_env({"SCORE_EXPORT_RETENTION_HOURS": wrong})
    app = create_app(msgspec.structs.replace(settings, score_export_retention_hours=0.5))
    async with serving(app) as http:
        tenant = await delivery_tenant(
            http, service_keys, slug="short-retention", sections=[{"code": "main", "items": SCORED}]
        )
        job = await _export(http, tenant["admin"])
    kept = await owner.fetchval(
        "SELECT expires_at - finished_at FROM score_exports WHERE id = $1", UUID(job["id"])
    )
    assert kept == timedelta(minutes=30)


async def test_who_may_export_and_how_many_at_once(served, sat, service_keys):
    app, http = served
    admin, tenant_id = sat["admin"], UUID(sat["id"])
    job = await _export(http, admin)
    hr = await token_for(http, await create_client(http, admin, ["scores:read"]))
    aggregates_only = await token_for(http, await create_client(http, admin, ["aggregates:read"]))
    analyst = user(service_keys, sat["id"], ["analyst"])
    for reader in (hr, analyst):
        theirs = await _export(http, reader)
        assert (await http.get(theirs["file"], headers=reader)).content == (
            await http.get(job["file"], headers=admin)
        ).content
    refused = [
        await http.post("/v1/assessments/quiz/score-exports", headers=aggregates_only),
        await http.get("/v1/score-exports", headers=aggregates_only),
        await http.get(f"/v1/score-exports/{job['id']}", headers=aggregates_only),
        await http.get(job["file"], headers=aggregates_only),
        await http.delete(f"/v1/score-exports/{job['id']}", headers=aggregates_only),
    ]
    for who in (
        sat["candidates"][0],
        user(service_keys, sat["id"], ["author"]),
        user(service_keys, sat["id"], ["rater"]),
    ):
        refused.append(await http.get(job["file"], headers=who))
        refused.append(await http.post("/v1/assessments/quiz/score-exports", headers=who))
    for response in refused:
        _problem(response, 403)

    # at most MAX_ACTIVE queued or running per tenant
    async with tenant_transaction(app.state.runtime.pool, tenant_id) as conn:
        for _ in range(exports.MAX_ACTIVE):
            await exports.create(conn, "quiz", "csv", "tester", timedelta(hours=1))
    busy = _problem(await http.post("/v1/assessments/quiz/score-exports", headers=admin), 409)
    assert "already queued or running" in busy["detail"]


async def test_another_tenant_sees_none_of_it(served, sat, service_keys):
    _, http = served
    job = await _export(http, sat["admin"])
    other = await delivery_tenant(
        http, service_keys, slug="export-other", sections=[{"code": "main", "items": SCORED}]
    )
    b = other["admin"]
    for method, url in (
        ("GET", f"/v1/score-exports/{job['id']}"),
        ("GET", job["file"]),
        ("DELETE", f"/v1/score-exports/{job['id']}"),
    ):
        assert (
            _problem(await http.request(method, url, headers=b), 404)["type"]
            == "urn:assess:problem:not-found"
        )
    assert (await http.get("/v1/score-exports", headers=b)).json() == {"items": [], "next_cursor": None}
    mine = await _export(http, b)  # its own quiz: its own (empty) export
    assert (mine["rows_total"], mine["bytes"]) == (
        0,
        len((await http.get("/v1/assessments/quiz/scores.csv", headers=b)).content),
    )
    assert (await http.get(job["file"], headers=sat["admin"])).status_code == 200

    # B's quiz has no scores: a JSON Lines file of no bytes, with no byte to range over
    empty = await _export(http, b, "jsonl")
    assert (empty["status"], empty["rows_total"], empty["bytes"]) == ("done", 0, 0)
    got = await http.get(empty["file"], headers=b)
    assert (got.status_code, got.content, got.headers["content-length"]) == (200, b"", "0")
    for bad in ("bytes=0-", "bytes=-1"):
        assert _problem(await http.get(empty["file"], headers={**b, "Range": bad}), 416)


def test_byte_ranges():
    assert byte_range("bytes=0-", 10) == (0, 9)
    assert byte_range("bytes=3-4", 10) == (3, 4)
    assert byte_range("Bytes = 3 - 40", 10) == (3, 9)
    assert byte_range("bytes=-3", 10) == (7, 9)
    assert byte_range("bytes=-30", 10) == (0, 9)
    assert byte_range("bytes=9-9", 10) == (9, 9)
    assert byte_range("items=0-1", 10) is None and byte_range("bytes=0-1,3-4", 10) is None
    assert byte_range("bytes", 10) is None
    for bad in (
        "bytes=10-",
        "bytes=-0",
        "bytes=4-3",
        "bytes=-",
        "bytes=a-b",
        "bytes=0x1-",
        "bytes=0-",
        "bytes=" + "9" * 25 + "-",
    ):
        with pytest.raises(Unsatisfiable):
            byte_range(bad, 10 if bad != "bytes=0-" else 0)
