"""Score export jobs over HTTP: start one, poll it, download its file with byte ranges (so a broken
download resumes, which the streamed export cannot), list and delete them. Same readers as the
stream: tenant admins, analysts, HR clients granted scores:read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.params import HeaderParameter, PathParameter, QueryParameter
from litestar.response import Stream

from service.api.assessments import AssessmentCode
from service.api.deps import Conn, provide_tenant_conn
from service.api.downloads import AcceptLanguage
from service.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_dated,
    next_dated,
    schema_name,
)
from service.api.problems import problem
from service.api.responses import errors
from service.api.runtime import runtime
from service.api.scores import readers
from service.errors import FieldError
from service.i18n import msg, negotiate
from service.results import exports, feed
from service.results.exports import ScoreExport

ExportId = Annotated[UUID, PathParameter(description="Score export id")]
FormatParam = Annotated[
    exports.Format,
    QueryParameter(
        description="csv (default), jsonl (JSON Lines) or xlsx (names in the Accept-Language asked for, above the codes)"
    ),
]
RangeHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Range",
        description="One byte range (`bytes=1000-`, `bytes=0-499`, `bytes=-500`) to resume a download; "
        "206 with Content-Range. Several ranges, or another unit: the whole file",
    ),
]
IfRange = Annotated[
    str | None,
    HeaderParameter(
        name="If-Range",
        description="The ETag of the file the first part came from: a different one gets the whole file",
    ),
]
_LIST = "score-exports"


ScoreExportPage = Annotated[Page[ScoreExport], schema_name("ScoreExportPage")]


class Unsatisfiable(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


_POSITION = re.compile(r"[0-9]{1,19}")


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """RFC 9110 §14: the (first, last) byte of a single `bytes` range, or None to send the whole file."""
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None  # a unit we do not serve is ignored (§14.2)
    if "," in spec:
        return None  # several ranges: the whole file, one 200 (a server may ignore a Range, §14.2)
    first, dash, last = (part.strip() for part in spec.partition("-"))
    if (
        not dash
        or (first and not _POSITION.fullmatch(first))
        or (last and not _POSITION.fullmatch(last))
        or not (first or last)
    ):
        raise Unsatisfiable(
            msg(
                "'{header}' is not a byte range: send bytes=<first>-[<last>] or bytes=-<suffix length>",
                header=header,
            )
        )
    if not first:  # the last N bytes
        if int(last) == 0 or size == 0:
            raise Unsatisfiable(
                msg("'{header}' names no byte of a {size}-byte file", header=header, size=size)
            )
        return max(size - int(last), 0), size - 1
    if last and int(last) < int(first):
        raise Unsatisfiable(msg("'{header}' ends before it starts", header=header))
    if int(first) >= size:
        raise Unsatisfiable(
            msg("'{header}' starts at or after the end of the {size}-byte file", header=header, size=size)
        )
    return int(first), min(int(last), size - 1) if last else size - 1


def _linked(export: ScoreExport) -> ScoreExport:
    export.file = f"/v1/score-exports/{export.id}/file"
    return export


_FILE = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
_HEADERS: dict[str, OpenAPIHeader | Reference] = {
    "Accept-Ranges": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description="bytes"),
    "Content-Length": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.INTEGER), description="Bytes in this response"
    ),
    "ETag": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description="The file's SHA-256, quoted"),
}


@dataclass
class _FileOperation(Operation):
    """The file is CSV or JSON Lines, by the export's format; 206 for a range (Litestar documents one type)."""

    def __post_init__(self) -> None:
        content = {feed.MEDIA_TYPES[f]: OpenAPIMediaType(schema=_FILE) for f in ("csv", "jsonl")}
        responses = self.responses or {}
        responses["200"] = OpenAPIResponse(description="The whole file", content=content, headers=_HEADERS)
        responses["206"] = OpenAPIResponse(
            description="The range asked for",
            content=content,
            headers={
                **_HEADERS,
                "Content-Range": OpenAPIHeader(
                    schema=Schema(type=OpenAPIType.STRING), description="bytes <first>-<last>/<size>"
                ),
            },
        )
        self.responses = responses


class ScoreExportController(Controller):
    path = "/v1"
    tags = ["scores"]
    guards = [readers]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @post(
        "/assessments/{code:str}/score-exports",
        operation_id="startScoreExport",
        status_code=202,
        responses=errors(404, 409),
        summary="Export the current score of every submitted attempt to a file, as a job: poll it, then "
        "download the file (resumable with Range; kept SCORE_EXPORT_RETENTION_HOURS)",
    )
    async def start(
        self,
        request: Request,
        conn: Conn,
        code: AssessmentCode,
        format: FormatParam = "csv",
        accept_language: AcceptLanguage = None,
    ) -> Response[ScoreExport]:
        retention = timedelta(hours=runtime(request).settings.score_export_retention_hours)
        export = await exports.create(
            conn, code, format, request.user.subject, retention, language=negotiate(accept_language)
        )
        return Response(
            _linked(export),
            status_code=202,
            headers={"Location": f"/v1/score-exports/{export.id}"},
            background=BackgroundTask(runtime(request).jobs.launch, request.user.tenant_id, export.id),
        )

    @get(
        "/score-exports",
        operation_id="listScoreExports",
        responses=errors(),
        summary="The tenant's score exports, newest first",
    )
    async def list_exports(
        self, conn: Conn, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> ScoreExportPage:
        items = await exports.list_exports(conn, after=decode_dated(_LIST, cursor), limit=limit)
        return Page([_linked(e) for e in items], next_dated(_LIST, items, limit))

    @get(
        "/score-exports/{export_id:uuid}",
        operation_id="getScoreExport",
        responses=errors(404),
        summary="A score export: its status and progress (a job whose worker died reads `failed`)",
    )
    async def get_export(self, conn: Conn, export_id: ExportId) -> ScoreExport:
        return _linked(await exports.get(conn, export_id))

    @get(
        "/score-exports/{export_id:uuid}/file",
        operation_id="downloadScoreExport",
        responses=errors(404, 409, 410, 416),
        operation_class=_FileOperation,
        summary="The finished file (exact Content-Length); `Range: bytes=<n>-` resumes a broken download (206)",
    )
    async def download(
        self,
        request: Request,
        conn: Conn,
        export_id: ExportId,
        range_header: RangeHeader = None,
        if_range: IfRange = None,
    ) -> Response[Any]:
        found = await exports.downloadable(conn, export_id)
        export, size = found.export, found.export.bytes
        etag = f'"{export.sha256}"'
        # (Content-Type set here: Litestar appends a second charset to a text/ media type that has one)
        headers = {
            "content-type": feed.MEDIA_TYPES[export.format],
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'attachment; filename="{export.assessment}-scores.{export.format}"',
        }
        chosen = None
        if range_header is not None and (if_range is None or if_range.strip() == etag):
            try:
                chosen = byte_range(range_header, size)
            except Unsatisfiable as refused:
                return problem(
                    request,
                    416,
                    refused.detail,
                    slug="range-not-satisfiable",
                    title=msg("Range not satisfiable"),
                    headers={"Content-Range": f"bytes */{size}"},
                    errors=[FieldError(refused.detail, parameter="Range")],
                )
        first, last = chosen or (0, size - 1)
        if chosen is not None:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        headers["Content-Length"] = str(last - first + 1)
        body = (
            exports.read(
                runtime(request).pool,
                request.user.tenant_id,
                export.id,
                found.chunk_bytes,
                first,
                last,
            )
            if size
            else _nothing()
        )
        return Stream(
            body,
            status_code=206 if chosen else 200,
            media_type=feed.MEDIA_TYPES[export.format],
            headers=headers,
        )

    @delete(
        "/score-exports/{export_id:uuid}",
        operation_id="deleteScoreExport",
        responses=errors(404),
        summary="Delete an export and its file (a running one stops)",
    )
    async def delete_export(self, conn: Conn, export_id: ExportId) -> None:
        await exports.delete(conn, export_id)


async def _nothing():
    return
    yield b""
