"""The CSV score export, written by PostgreSQL: `COPY (...) TO STDOUT WITH (FORMAT csv)` streamed.

Why in the database. Rendering each row in Python (a record decoded, converted to a struct, written
by the csv module, then compressed) cost ~53 µs a row, 2.6x what PostgreSQL took to run the same
SELECT and write it as CSV itself (bench/README.md, "Score export at 1.06 of COPY"). Here PostgreSQL
turns every value into the text Python wrote, quotes it with its own CSV writer, and the service
only passes the bytes on; the rows never become Python objects.

Byte for byte what the Python writer (`csv.writer`, minimal quoting, CRLF) wrote before:
- quoting: both quote a field holding a comma, a double quote, CR or LF, and double the quotes
  inside; PostgreSQL also quotes an empty string (to tell it from NULL), so empty strings are sent
  as NULL, which both write as nothing;
- values: booleans `true`/`false`, timestamps as `datetime.isoformat()` of the UTC time
  (microseconds only when not zero), numbers of the score documents as Python's `repr` of the
  float (`80.0`, `72.5`, `1e-05`, `nan`): PostgreSQL's shortest round-trip output, which has the
  same digits, with `.0` added to whole numbers; it writes whole numbers from 1e15 up as `1e+15`
  where Python writes `1000000000000000.0`, far beyond any score;
- rows end in CRLF: COPY ends them in LF, which `crlf` turns into CRLF outside quoted fields.

The header is Python's (`feed.csv_header`): it is one line of codes, not worth a round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from uuid import UUID

import asyncpg

CHUNK_BYTES = 1 << 16  # what is passed on at once (at least): compressed as one piece


def _text(value: str) -> str:
    return f"nullif({value}, '')"


def _float(value: str) -> str:
    """A float8 as Python's repr writes it."""
    return f"""CASE WHEN {value} = 'NaN' THEN 'nan' WHEN {value} = 'Infinity' THEN 'inf'
                    WHEN {value} = '-Infinity' THEN '-inf'
                    WHEN {value} = floor({value}) AND abs({value}) < 1e15 THEN {value}::text || '.0'
                    ELSE {value}::text END"""


def _timestamp(value: str) -> str:
    """A timestamptz as `datetime.isoformat()` writes the UTC datetime asyncpg returns."""
    utc = f"({value} AT TIME ZONE 'UTC')"
    return f"""CASE WHEN date_trunc('second', {value}) = {value}
                    THEN to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
                    ELSE to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') END"""


def select(rows: str, dimensions: int) -> str:
    """The export's SELECT, one text or NULL per CSV column, over `rows` (the score rows as the feed
    selects them, `feed.EXPORT_COLUMNS` and `dimension_list`, with their WHERE; $1 is taken) ordered as
    the export is; `dimensions` top-level dimension codes are $2, $3, ...

    Each dimension is looked up by code in one pass over the list, reading only the three fields (a
    document lists a dimension once; were one listed twice, its largest score would be taken)."""
    codes = [f"${i + 2}" for i in range(dimensions)]
    columns = [
        _text("r.person"),
        _text("r.assessment"),
        "r.attempt_id",
        "r.attempt_number",
        "r.score_version",
        _text("r.status"),
        "r.current::text",
        "r.counted::text",
        _text("r.framework"),
        "r.framework_version",
        _float("r.overall_scaled"),
        _text("r.overall_level"),
        _text("r.org_unit"),
        _text("r.category"),
        _timestamp("r.submitted_at"),
        _timestamp("r.scored_at"),
        *(_float(f"x.scaled_{i}") for i in range(dimensions)),
        *(_text(f"x.level_{i}") for i in range(dimensions)),
    ]
    lookups = ", ".join(
        f"max(e.scaled) FILTER (WHERE e.dimension = {code}) AS scaled_{i}, "
        f"max(e.level) FILTER (WHERE e.dimension = {code}) AS level_{i}"
        for i, code in enumerate(codes)
    )
    by_code = (
        f"""CROSS JOIN LATERAL (
              SELECT {lookups}
              FROM jsonb_to_recordset(r.dimension_list) AS e(dimension text, scaled float8, level text)) x"""
        if dimensions
        else ""
    )
    return f"""SELECT {", ".join(columns)}
               FROM ({rows}) r
               {by_code}
               ORDER BY r.person, r.attempt_number"""


def crlf(data: bytes) -> tuple[bytes, int]:
    """COPY's rows (whole ones) with CRLF for the LF ending each, and how many there are. A LF inside
    a quoted field is data: every row holds an even number of quotes, so the LFs that end rows are
    the ones after an even number of quotes."""
    if b'"' not in data:
        return data.replace(b"\n", b"\r\n"), data.count(b"\n")
    parts = data.split(b'"')
    rows = 0
    for i in range(0, len(parts), 2):
        rows += parts[i].count(b"\n")
        parts[i] = parts[i].replace(b"\n", b"\r\n")
    return b'"'.join(parts), rows


async def lines(
    conn: asyncpg.Connection, rows: str, assessment_id: UUID, dimensions: list[str]
) -> AsyncGenerator[tuple[bytes, int], None]:
    """The export's lines after the header, in pieces of whole rows (at least CHUNK_BYTES but the
    last), each with its row count. Streamed: COPY waits while a piece is passed on, so memory stays
    flat; it runs in the caller's transaction (its tenant, its snapshot).

    Close it (`contextlib.aclosing`) before the transaction ends. Closed half way, it lets the COPY run
    to its end and drops the rest: asyncpg cannot stop a COPY half way and leave the connection usable
    (its cancel is taken as done at the next piece, and the next statement finds the COPY still under
    way, which aborts the connection), so an abandoned export costs the database the whole query. A
    request cancelled while it waits (a client gone) is cut short instead, and the pool rolls back or
    replaces the connection on release, as it did for the server-side cursor."""
    pieces: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=2)
    abandoned = False

    async def sink(data: bytes) -> None:
        if not abandoned:
            await pieces.put(data)

    async def copy() -> None:
        await conn.copy_from_query(
            select(rows, len(dimensions)), assessment_id, *dimensions, output=sink, format="csv"
        )
        if not abandoned:
            await pieces.put(None)

    task = asyncio.create_task(copy())
    getting: asyncio.Future[bytes | None] | None = None
    try:
        pending: list[bytes] = []
        size = count = 0
        while True:
            # the task's end (an error, or the COPY done without its last piece: none) as well as a piece
            getting = asyncio.ensure_future(pieces.get())
            await asyncio.wait([getting, task], return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                task.result()  # raises the COPY's error
                continue  # (the task ended after putting the end mark: the next get takes it)
            data = getting.result()
            if data is None:
                break
            data, n = crlf(data)
            pending.append(data)
            size, count = size + len(data), count + n
            if size >= CHUNK_BYTES:
                yield b"".join(pending), count
                pending, size, count = [], 0, 0
        if pending:
            yield b"".join(pending), count
        await task
    finally:
        if getting is not None and not getting.done():  # cancelled while waiting for a piece
            getting.cancel()
        if not task.done():
            abandoned = True
            while not pieces.empty():  # a sink waiting for room gets it, and drops what follows
                pieces.get_nowait()
            with contextlib.suppress(asyncpg.PostgresError):
                await task
