"""The score feed: every score version, in the order of the transactions that wrote them.

A client keeps the cursor of its last page and asks again; it gets each new or rescored result
exactly once. The order is (writing transaction id, attempt, version). A page never goes past
the oldest transaction still running (`pg_snapshot_xmin`): a transaction that commits later has
a larger id than anything already handed out, so it lands on a later page instead of behind the
cursor. The price: the feed lags behind the oldest running writer (scoring jobs commit in short
batches for this reason).

A position names the last score handed out (attempt and version), never the transaction id:
transaction ids count every tenant's writes, which are none of a client's business. The score's
row gives the id back (one primary-key lookup, under the tenant's row-level security, so a
position from another tenant is as invalid as a made-up one).

Exports stream the current score of every submitted attempt of an assessment, so memory stays flat
whatever the size: CSV as PostgreSQL's COPY writes it (service/results/score_csv.py), JSON Lines and
XLSX from a server-side cursor. `export_batches` renders them, for the streamed response and for export
jobs' stored files (service/results/exports.py) alike.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.assessments import assessment_facts, id_by_code, stored_by_code
from service.errors import DomainError, FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.results import credentials, score_csv, scores, xlsx
from service.results.counted import result_rows
from service.results.credentials import FeedCredential
from service.rubrics import frameworks
from service.sittings import attempts as sittings
from service.tenancy import org_units, people


class DimensionResult(msgspec.Struct):
    dimension: str
    scaled: float
    level: str


class ScoreRow(msgspec.Struct, omit_defaults=True):
    person: str  # external id
    assessment: str
    attempt_id: UUID
    attempt_number: int
    score_version: int
    status: Literal["final", "provisional"]
    current: bool  # still the attempt's score in force (false: a later version replaced it)
    counted: bool  # the person's result that aggregates count for this assessment
    framework: str
    framework_version: int | None
    overall_scaled: float | None
    overall_level: str | None
    dimensions: list[DimensionResult]
    org_unit: str | None  # where the attempt was submitted
    category: str | None
    submitted_at: datetime | None
    scored_at: datetime
    reason: str
    # Open Badges credentials this score version issued (status as of now; a rescoring that left a
    # level as it was keeps the earlier version's credential): the feed and `latest` fill it, exports do not.
    credentials: list[FeedCredential] = msgspec.field(default_factory=list)


async def _with_credentials(conn: asyncpg.Connection, items: list[ScoreRow]) -> list[ScoreRow]:
    found = await credentials.for_scores(conn, [(row.attempt_id, row.score_version) for row in items])
    for row in items:
        row.credentials = found.get((row.attempt_id, row.score_version), [])
    return items


class FeedPage(msgspec.Struct):
    items: list[ScoreRow]
    next_cursor: str  # always set: ask again with it for what comes next
    has_more: bool


# The score versions (their owner's SQL) with who, where and whether counted: the result that counts is
# the person's row of the results that count (`counted.result_rows`; the aggregates keep them in step).
_ROW = scores.version_rows(
    columns=""",
           p.external_id AS person, a.code AS assessment, t.number AS attempt_number,
           coalesce(r.attempt_id = s.attempt_id AND s.current, false) AS counted,
           u.code AS org_unit, coalesce(t.category, p.category) AS category, t.submitted_at{extra}""",
    joins=f"""CROSS JOIN LATERAL {sittings.attempt_facts("s.tenant_id", "s.attempt_id")} t
    CROSS JOIN LATERAL {people.person_facts("t.tenant_id", "t.person_id")} p
    CROSS JOIN LATERAL {assessment_facts("t.tenant_id", "t.assessment_id")} a
    LEFT JOIN {result_rows()} r ON r.tenant_id = t.tenant_id AND r.assessment_id = t.assessment_id AND r.person_id = t.person_id
    LEFT JOIN LATERAL {org_units.unit_facts("t.tenant_id", "coalesce(t.org_unit_id, p.org_unit_id)")} u ON true""",
)

_POSITION = re.compile(r"^([0-9a-f-]{36}):(\d{1,9})$")
# Positions handed out before they were opaque carried the transaction id first; still accepted,
# so a client holding one resumes where it was.
_OLD_POSITION = re.compile(r"^(\d{1,20}):([0-9a-f-]{36}):(\d{1,9})$")
_START = ("0", UUID(int=0), 0)


class BadFeedCursor(DomainError):
    status, slug, title = 400, "bad-cursor", "Invalid pagination cursor"


def _bad_cursor() -> BadFeedCursor:
    return BadFeedCursor(
        msg("the cursor is not one this feed handed out"),
        [FieldError(msg("not a cursor from the score feed; start again without it"), parameter="cursor")],
    )


async def _decode(conn: asyncpg.Connection, position: str | None) -> tuple[str, UUID, int]:
    """(transaction id, attempt, version) of the last score handed out; the start for none."""
    if not position:
        return _START
    old = _OLD_POSITION.match(position)
    if old is not None:
        try:
            return old.group(1), UUID(old.group(2)), int(old.group(3))
        except ValueError:
            raise _bad_cursor() from None
    match = _POSITION.match(position)
    if match is None:
        raise _bad_cursor()
    try:
        attempt, version = UUID(match.group(1)), int(match.group(2))
    except ValueError:
        raise _bad_cursor() from None
    xid = await scores.feed_xid(conn, attempt, version)
    if xid is None:
        raise _bad_cursor()
    return xid, attempt, version


async def _filters(
    conn: asyncpg.Connection, assessment: str | None, under: str | None, person: str | None
) -> tuple[UUID | None, str | None, str | None, UUID | None]:
    assessment_id = person_id = None
    if assessment is not None:
        assessment_id = await id_by_code(conn, assessment)
        if assessment_id is None:
            raise NotFound(msg("no assessment '{code}'", code=assessment))
    low, high = await org_units.subtree_bounds(conn, under)
    if person is not None:
        person_id = await people.id_by_external_id(conn, person)
        if person_id is None:
            raise NotFound(msg("no person '{external_id}'", external_id=person))
    return assessment_id, low, high, person_id


_WHERE = """($1::uuid IS NULL OR t.assessment_id = $1) AND ($2::text IS NULL OR (u.path >= $2 AND u.path < $3))
            AND ($4::uuid IS NULL OR t.person_id = $4)"""


async def feed(
    conn: asyncpg.Connection,
    *,
    position: str | None,
    limit: int,
    assessment: str | None,
    under: str | None,
    person: str | None,
) -> FeedPage:
    """From `position` (the raw position a previous page ended at; the API wraps it as a cursor)."""
    xid, attempt, version = await _decode(conn, position)
    assessment_id, low, high, person_id = await _filters(conn, assessment, under, person)
    rows = await conn.fetch(
        _ROW.format(extra=", s.feed_xid::text AS feed_xid")
        + f""" WHERE {_WHERE}
                 AND s.feed_xid < pg_snapshot_xmin(pg_current_snapshot())
                 AND (s.feed_xid, s.attempt_id, s.version) > ($5::text::xid8, $6::uuid, $7::int)
               ORDER BY s.feed_xid, s.attempt_id, s.version LIMIT $8""",
        assessment_id,
        low,
        high,
        person_id,
        xid,
        attempt,
        version,
        limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        position = f"{rows[-1]['attempt_id']}:{rows[-1]['score_version']}"
    else:
        position = "" if (xid, attempt, version) == _START else f"{attempt}:{version}"
    items = [
        msgspec.convert({k: v for k, v in dict(row).items() if k != "feed_xid"}, ScoreRow) for row in rows
    ]
    return FeedPage(await _with_credentials(conn, items), position, more)


async def latest(
    conn: asyncpg.Connection, *, person: str | None, assessment: str | None, after: str | None, limit: int
) -> list[ScoreRow]:
    """Per person and assessment, the score in force of the latest submitted attempt."""
    if person is None and assessment is None:
        raise Unprocessable(
            msg("name a person or an assessment"),
            [FieldError(msg("give `person` or `assessment` (or both)"), parameter="person")],
        )
    assessment_id, _, _, person_id = await _filters(conn, assessment, None, person)
    rows = await conn.fetch(
        _ROW.format(extra="")
        + f"""
        JOIN LATERAL {sittings.newest_submitted("t.tenant_id", "t.assessment_id", "t.person_id")} newest
          ON newest.number = t.number
        WHERE s.current AND ($1::uuid IS NULL OR t.assessment_id = $1) AND ($2::uuid IS NULL OR t.person_id = $2)
          AND ($3::text IS NULL OR (p.external_id || E'\\x1f' || a.code) > $3)
        ORDER BY p.external_id || E'\\x1f' || a.code LIMIT $4""",
        assessment_id,
        person_id,
        after,
        limit,
    )
    return await _with_credentials(conn, [msgspec.convert(dict(row), ScoreRow) for row in rows])


EXPORT_COLUMNS = [
    "person",
    "assessment",
    "attempt_id",
    "attempt_number",
    "score_version",
    "status",
    "current",
    "counted",
    "framework",
    "framework_version",
    "overall_scaled",
    "overall_level",
    "org_unit",
    "category",
    "submitted_at",
    "scored_at",
]


async def export_rows(conn: asyncpg.Connection, assessment: str) -> AsyncIterator[ScoreRow]:
    """The current score of every submitted attempt, streamed (needs an open transaction)."""
    assessment_id = await id_by_code(conn, assessment)
    if assessment_id is None:
        raise NotFound(msg("no assessment '{code}'", code=assessment))
    sql = _ROW.format(extra="") + " WHERE s.current AND t.assessment_id = $1 ORDER BY p.external_id, t.number"
    async for row in conn.cursor(sql, assessment_id, prefetch=2000):
        yield msgspec.convert(dict(row), ScoreRow)


def csv_header(dimensions: list[str]) -> bytes:
    """The CSV export's first line (its rows are PostgreSQL's: service/results/score_csv.py)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(
        [*EXPORT_COLUMNS, *(f"{d}_scaled" for d in dimensions), *(f"{d}_level" for d in dimensions)]
    )
    return out.getvalue().encode("utf-8")


Format = Literal["csv", "jsonl"]
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson", "xlsx": xlsx.MEDIA_TYPE}


async def export_batches(
    conn: asyncpg.Connection, assessment: str, fmt: Format, batch_rows: int = 500
) -> AsyncGenerator[tuple[bytes, int], None]:
    """An export's bytes in pieces of whole rows, each with its row count (the header has none). The
    stream and the export jobs both write exactly this, so their files are identical. CSV: written by
    PostgreSQL (score_csv); JSON Lines: one encoded `ScoreRow` a line, `batch_rows` lines a piece.
    Close it (`contextlib.aclosing`) before `conn`'s transaction ends: a CSV export's COPY runs in a
    task of its own until it is closed."""
    dimensions = await dimension_codes(conn, assessment)
    if fmt == "csv":
        yield csv_header(dimensions), 0
        assessment_id = await id_by_code(conn, assessment)
        if assessment_id is None:
            raise NotFound(msg("no assessment '{code}'", code=assessment))
        current = (
            _ROW.format(extra=f", {scores.DIMENSION_LIST} AS dimension_list")
            + " WHERE s.current AND t.assessment_id = $1"
        )
        # closed here, not whenever it is collected: its COPY must stop before the transaction ends
        async with aclosing(score_csv.lines(conn, current, assessment_id, dimensions)) as pieces:
            async for data, count in pieces:
                yield data, count
        return
    chunk: list[bytes] = []
    async for row in export_rows(conn, assessment):
        chunk.append(msgspec.json.encode(row) + b"\n")
        if len(chunk) >= batch_rows:
            yield b"".join(chunk), len(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk), len(chunk)


def xlsx_columns(dimensions: list[str]) -> list[str]:
    """An XLSX export's column codes: the CSV's, with the org unit's name beside its code."""
    columns = [*EXPORT_COLUMNS, *(f"{d}_scaled" for d in dimensions), *(f"{d}_level" for d in dimensions)]
    columns.insert(columns.index("org_unit") + 1, "org_unit_name")
    return columns


def xlsx_row(row: ScoreRow, dimensions: list[str], unit_names: dict[str, str]) -> list[Any]:
    """One XLSX row, typed (numbers, booleans) rather than text."""
    by_code = {d.dimension: d for d in row.dimensions}
    values: list[Any] = []
    for column in EXPORT_COLUMNS:
        values.append(getattr(row, column))
        if column == "org_unit":
            values.append(unit_names.get(row.org_unit) if row.org_unit else None)
    values += [by_code[d].scaled if d in by_code else None for d in dimensions]
    values += [by_code[d].level if d in by_code else None for d in dimensions]
    return values


async def framework_names(
    conn: asyncpg.Connection, assessment: str
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """The assessment's framework's top-level dimension names and level labels (localized), by code."""
    row = await stored_by_code(conn, assessment)
    ref = row["content"]["framework"] if row is not None else None
    framework = (
        await frameworks.version_record(conn, ref["code"], ref["version"]) if ref is not None else None
    )
    if framework is None:
        raise NotFound(msg("no assessment '{code}'", code=assessment))
    content = framework.content
    return (
        {d["code"]: d.get("name") for d in content.get("dimensions", [])},
        {level["code"]: level.get("label") for level in content.get("levels", [])},
    )


async def dimension_codes(conn: asyncpg.Connection, assessment: str) -> list[str]:
    """The top-level dimensions of the assessment's framework version (the CSV's columns), in order."""
    dimensions, _ = await framework_names(conn, assessment)
    return list(dimensions)
