"""The CSV score export written by PostgreSQL's COPY: byte for byte what the Python `csv` writer wrote
from the score rows before (quotes, commas, line breaks, leading = + - @, Chinese, floats, timestamps,
missing dimensions, provisional rows), whether streamed or stored by an export job; its line endings;
and a stream abandoned half way leaves its connection usable."""

from __future__ import annotations

import csv
import io
import json
from contextlib import aclosing
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from service.db.pool import tenant_transaction
from service.results import feed, score_csv
from service.results.feed import EXPORT_COLUMNS, ScoreRow
from tests.delivery_setup import delivery_tenant
from tests.harness import snapshot
from tests.test_score_feed import SCORED, _sit


def _python_line(row: ScoreRow, dimensions: list[str]) -> bytes:
    """How a score row was written before the export moved into PostgreSQL (the reference)."""
    by_code = {d.dimension: d for d in row.dimensions}
    values: list[Any] = [getattr(row, column) for column in EXPORT_COLUMNS]
    values += [by_code[d].scaled if d in by_code else None for d in dimensions]
    values += [by_code[d].level if d in by_code else None for d in dimensions]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(
        [
            ""
            if v is None
            else v.isoformat()
            if isinstance(v, datetime)
            else str(v).lower()
            if isinstance(v, bool)
            else v
            for v in values
        ]
    )
    return out.getvalue().encode("utf-8")


async def _python_export(conn: asyncpg.Connection, code: str) -> bytes:
    dimensions = await feed.dimension_codes(conn, code)
    lines = [feed.csv_header(dimensions)]
    lines += [_python_line(row, dimensions) async for row in feed.export_rows(conn, code)]
    return b"".join(lines)


@pytest.fixture
@snapshot
async def sat(client: httpx.AsyncClient, service_keys: Any) -> dict[str, Any]:
    tenant = await delivery_tenant(
        client, service_keys, slug="csv-region", people=5, sections=[{"code": "main", "items": SCORED}]
    )
    tenant["attempts"] = [
        await _sit(client, me, choice) for me, choice in zip(tenant["candidates"], "bccdb", strict=True)
    ]
    return tenant


# Per attempt: the person's external id, the attempt's category, the overall score, and per top-level
# dimension (by position in the document) its score and level, None to leave it out of the document.
TRICKY: list[tuple[str, str | None, float | str | None, list[tuple[Any, str] | None]]] = [
    ('p,"1"', 'cat,"quoted"', 80.0, [(80, 'a,"b"'), None, (0, "")]),
    ("=SUM(A1)", "line\nbreak", 0.30000000000000004, [(1e-05, "=HYPERLINK()"), (72.5, "优秀\r\n")]),
    ("+lead", None, None, [(12345.678901, "+1"), (-0.0, "-1")]),
    ("-minus", "@at", "NaN", [(99.999999, "@x"), (1.5e-7, '"')]),
    ("中文,名", "中文", -0.0, [None, None, None]),
]


async def _make_tricky(owner: asyncpg.Connection, attempts: list[str]) -> None:
    """Store the tricky values past the guards (as the owner, triggers off for this session)."""
    await owner.execute("SET session_replication_role = replica")
    try:
        for attempt, (person, category, overall, dimensions) in zip(attempts, TRICKY, strict=True):
            attempt_id = UUID(attempt)
            await owner.execute(
                "UPDATE people SET external_id = $2 FROM attempts t WHERE t.id = $1 AND people.id = t.person_id",
                attempt_id,
                person,
            )
            await owner.execute("UPDATE attempts SET category = $2 WHERE id = $1", attempt_id, category)
            listed = await owner.fetchval(
                "SELECT document->'dimensions' FROM scores WHERE attempt_id = $1 AND current", attempt_id
            )
            kept = []
            for entry, change in zip(json.loads(listed), dimensions, strict=False):
                if change is not None:
                    kept.append({**entry, "scaled": change[0], "level": change[1]})
            await owner.execute(
                """UPDATE scores SET document = jsonb_set(document, '{dimensions}', $2::text::jsonb),
                          overall_scaled = $3::text::float8, created_at = date_trunc('second', created_at)
                   WHERE attempt_id = $1 AND current""",
                attempt_id,
                json.dumps(kept),
                None if overall is None else str(overall),
            )
        # a provisional row, and a submission time whose microseconds end in zeros
        await owner.execute(
            "UPDATE scores SET status = 'provisional', overall_level = NULL WHERE attempt_id = $1 AND current",
            UUID(attempts[2]),
        )
        await owner.execute(
            "UPDATE attempts SET submitted_at = date_trunc('second', submitted_at) + interval '0.12 s' "
            "WHERE id = $1",
            UUID(attempts[0]),
        )
    finally:
        await owner.execute("RESET session_replication_role")


async def test_the_csv_is_what_the_python_writer_wrote_on_tricky_values(client, sat, owner):
    await _make_tricky(owner, sat["attempts"])
    app = client._transport.app
    async with tenant_transaction(app.state.runtime.pool, UUID(sat["id"])) as conn:
        expected = await _python_export(conn, "quiz")
    streamed = await client.get("/v1/assessments/quiz/scores.csv", headers=sat["admin"])
    assert streamed.status_code == 200, streamed.text
    assert streamed.content == expected
    for encoding in ("gzip", "br", "identity"):  # compressed when asked, the same bytes once decoded
        got = await client.get(
            "/v1/assessments/quiz/scores.csv", headers={**sat["admin"], "Accept-Encoding": encoding}
        )
        assert got.headers.get("content-encoding", "identity") == encoding and got.content == expected

    # the values did reach the file: the tricky ones, quoted where Python quotes
    rows = list(csv.DictReader(io.StringIO(streamed.content.decode(), newline="")))
    assert sorted(r["person"] for r in rows) == sorted(t[0] for t in TRICKY)
    assert b'"p,""1"""' in expected and b'"line\nbreak"' in expected and "优秀".encode() in expected
    by_person = {r["person"]: r for r in rows}
    assert by_person["+lead"]["status"] == "provisional" and by_person["+lead"]["overall_scaled"] == ""
    assert by_person["-minus"]["overall_scaled"] == "nan" and by_person["中文,名"]["overall_scaled"] == "-0.0"
    assert by_person['p,"1"']["submitted_at"].endswith(".120000+00:00")
    assert "." not in by_person['p,"1"']["scored_at"]  # whole seconds: no fraction, as isoformat()

    # an export job stores the same bytes
    started = await client.post("/v1/assessments/quiz/score-exports", headers=sat["admin"])
    job = (await client.get(started.headers["location"], headers=sat["admin"])).json()
    assert job["status"] == "done" and job["rows_done"] == len(TRICKY), job
    stored = await client.get(job["file"], headers=sat["admin"])
    assert stored.content == expected


def test_rows_end_in_crlf_and_line_breaks_inside_quotes_stay() -> None:
    copied = b'a,"x\ny",b\nc,"say ""hi""\n",d\ne,,f\n'
    assert score_csv.crlf(copied) == (b'a,"x\ny",b\r\nc,"say ""hi""\n",d\r\ne,,f\r\n', 3)
    assert score_csv.crlf(b"1,2\n3,4\n") == (b"1,2\r\n3,4\r\n", 2)
    assert score_csv.crlf(b"") == (b"", 0)


_MANY = """SELECT 'p' || g AS person, 'quiz' AS assessment, $1::uuid AS attempt_id, g AS attempt_number,
                  1 AS score_version, 'final' AS status, true AS current, true AS counted, 'f' AS framework,
                  1 AS framework_version, g / 3.0::float8 AS overall_scaled, 'L' AS overall_level, 'u' AS org_unit,
                  'c' AS category, now() AS submitted_at, now() AS scored_at, '[]'::jsonb AS dimension_list
           FROM generate_series(1, 200000) g"""


async def test_a_stream_closed_half_way_leaves_its_connection_usable(app_url):
    conn = await asyncpg.connect(app_url)
    try:
        async with conn.transaction():
            async with aclosing(score_csv.lines(conn, _MANY, uuid4(), [])) as pieces:
                data, rows = await anext(pieces)
                assert rows > 0 and data.endswith(b"\r\n") and len(data) >= score_csv.CHUNK_BYTES
            # closed: the COPY ran to its end, its rows dropped; the connection answers, same transaction
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()
