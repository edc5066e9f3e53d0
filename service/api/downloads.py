"""File downloads (CSV, XLSX): one content type each, a `bom` switch for Excel, names in the asked language."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Literal

from litestar import Request, Response
from litestar.openapi.spec import OpenAPIMediaType, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Stream

from service.results import xlsx

CSV = "text/csv; charset=utf-8"
BOM = "\ufeff".encode()  # UTF-8 byte order mark: Excel then decodes the CSV as UTF-8
XLSX = xlsx.MEDIA_TYPE

Bom = Annotated[
    bool,
    QueryParameter(
        description="Start the file with a UTF-8 byte order mark (U+FEFF), so Excel opens Chinese text correctly"
    ),
]
AcceptLanguage = Annotated[
    str | None,
    HeaderParameter(
        name="Accept-Language",
        max_length=200,
        description="Language of the column, unit and dimension names: zh-CN (default) or en",
    ),
]


JSON = "application/json"
Format = Annotated[
    Literal["json", "xlsx"],
    QueryParameter(
        description="json (default), or xlsx: the same as the .xlsx path; an Accept of the XLSX media type does too"
    ),
]


def wants_xlsx(request: Request, format: str) -> bool:
    """`?format=xlsx`, or an Accept header that prefers XLSX to JSON."""
    return format == "xlsx" or request.accept.best_match([JSON, XLSX], default=JSON) == XLSX


@dataclass
class JsonOrXlsxOperation(Operation):
    """A view whose 200 is JSON or, when asked (`format=xlsx`, Accept), the same figures as XLSX."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if ok is not None and not isinstance(ok, dict) and hasattr(ok, "content"):
            ok.content = {
                **(ok.content or {}),
                XLSX: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)),
            }


def csv_response(body: bytes, name: str) -> Response[bytes]:
    # The Content-Type as a header: given as media_type, Litestar appends a second charset to it.
    return Response(
        body,
        media_type=CSV,
        headers={"content-type": CSV, "Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def xlsx_response(chunks: AsyncIterator[bytes], name: str, language: str) -> Stream:
    return Stream(
        chunks,
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.xlsx"',
            "Content-Language": language,
            "Vary": "Accept-Language",
        },
    )
