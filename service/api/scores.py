"""Scores for HR systems and analysts: the feed with a cursor, the latest per person, streamed exports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import QueryParameter
from litestar.response import Stream

from service.api.assessments import AssessmentCode
from service.api.auth import requires
from service.api.deps import Conn, provide_tenant_conn
from service.api.downloads import BOM, CSV, XLSX, AcceptLanguage, Bom, xlsx_response
from service.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    encode_cursor,
    next_cursor,
    schema_name,
)
from service.api.responses import errors
from service.api.runtime import runtime
from service.auth.principal import ANALYST, HR_CLIENT, SCORES_READ, TENANT_ADMIN
from service.db.pool import tenant_transaction
from service.results import feed, score_workbook
from service.results.feed import FeedPage, ScoreRow
from service.results.labels import language
from service.tenancy.fields import CODE_PATTERN, EXTERNAL_ID_PATTERN

readers = requires(TENANT_ADMIN, ANALYST, HR_CLIENT, client_scope=SCORES_READ)

AssessmentFilter = Annotated[
    str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN, description="Only this assessment")
]
Under = Annotated[
    str | None,
    QueryParameter(
        max_length=64, pattern=CODE_PATTERN, description="Only attempts submitted in this org unit's subtree"
    ),
]
PersonFilter = Annotated[
    str | None,
    QueryParameter(max_length=128, pattern=EXTERNAL_ID_PATTERN, description="Only this person (external id)"),
]


LatestPage = Annotated[Page[ScoreRow], schema_name("LatestPage")]


async def _stream(request: Request, code: str, fmt: feed.Format, prefix: bytes = b"") -> AsyncIterator[bytes]:
    """Rows streamed in a transaction of their own: the request's has ended by now."""
    if prefix:
        yield prefix
    async with (
        tenant_transaction(runtime(request).pool, request.user.tenant_id) as conn,
        aclosing(feed.export_batches(conn, code, fmt)) as batches,
    ):
        async for data, _ in batches:
            yield data


async def _workbook(request: Request, code: str, lang: str) -> AsyncIterator[bytes]:
    """The export as XLSX, from the same server-side cursor as the CSV (see service/results/xlsx.py)."""
    async with tenant_transaction(runtime(request).pool, request.user.tenant_id) as conn:
        async for chunk in score_workbook.chunks(conn, code, lang):
            yield chunk


class ScoreController(Controller):
    path = "/v1"
    tags = ["scores"]
    guards = [readers]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/scores",
        operation_id="scoreFeed",
        responses=errors(404, 422),
        summary="Every new and rescored score, in commit order: keep `next_cursor` and ask again for what "
        "came since (each score version exactly once, none skipped by concurrent commits)",
    )
    async def score_feed(
        self,
        conn: Conn,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        assessment: AssessmentFilter = None,
        under: Under = None,
        person: PersonFilter = None,
    ) -> FeedPage:
        page = await feed.feed(
            conn,
            position=decode_cursor("scores", cursor),
            limit=limit,
            assessment=assessment,
            under=under,
            person=person,
        )
        page.next_cursor = encode_cursor("scores", page.next_cursor)
        return page

    @get(
        "/scores/latest",
        operation_id="latestScores",
        responses=errors(404, 422),
        summary="Per person and assessment, the score in force of their latest submitted attempt",
    )
    async def latest(
        self,
        conn: Conn,
        person: PersonFilter = None,
        assessment: AssessmentFilter = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> LatestPage:
        rows = await feed.latest(
            conn,
            person=person,
            assessment=assessment,
            after=decode_cursor("latest-scores", cursor),
            limit=limit,
        )
        keys = [f"{row.person}\x1f{row.assessment}" for row in rows]
        return Page(rows, next_cursor("latest-scores", keys, limit))

    @get(
        "/assessments/{code:str}/scores.csv",
        operation_id="exportScoresCsv",
        media_type="text/csv; charset=utf-8",
        responses=errors(404),
        summary="The current score of every submitted attempt as CSV, streamed "
        "(chunked; memory stays flat whatever the size)",
    )
    async def export_csv(
        self, request: Request, conn: Conn, code: AssessmentCode, bom: Bom = False
    ) -> Stream:
        await feed.dimension_codes(conn, code)  # 404 before the stream starts
        # Content-Type as a header: Litestar appends a second charset to a text/ media type that has one
        return Stream(
            _stream(request, code, "csv", BOM if bom else b""),
            media_type=CSV,
            headers={"content-type": CSV, "Content-Disposition": f'attachment; filename="{code}-scores.csv"'},
        )

    @get(
        "/assessments/{code:str}/scores.xlsx",
        operation_id="exportScoresXlsx",
        media_type=XLSX,
        responses=errors(404),
        summary="The same export as an Excel workbook: unit and dimension names in the "
        "Accept-Language beside the codes (written with flat memory, then streamed)",
    )
    async def export_xlsx(
        self, request: Request, conn: Conn, code: AssessmentCode, accept_language: AcceptLanguage = None
    ) -> Stream:
        await feed.dimension_codes(conn, code)  # 404 before the stream starts
        lang = language(accept_language)
        return xlsx_response(_workbook(request, code, lang), f"{code}-scores", lang)

    @get(
        "/assessments/{code:str}/scores.jsonl",
        operation_id="exportScoresJsonl",
        media_type="application/x-ndjson",
        responses=errors(404),
        summary="The same export as JSON Lines: one score row per line",
    )
    async def export_jsonl(self, request: Request, conn: Conn, code: AssessmentCode) -> Stream:
        await feed.dimension_codes(conn, code)
        return Stream(
            _stream(request, code, "jsonl"),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{code}-scores.jsonl"'},
        )
