"""Tenant routes for the item bank: write, preview, retire, search, import and export items."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.di import Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from service.api.auth import requires_roles
from service.api.deps import Conn, provide_tenant_conn
from service.api.etags import IfMatch, require_if_match, versioned
from service.api.language import AcceptLanguage, in_language
from service.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    next_cursor,
    schema_name,
)
from service.api.responses import errors
from service.api.uploads import upload_operation, uploaded_file
from service.auth.principal import ANALYST, AUTHOR, RATER, TENANT_ADMIN
from service.i18n import msg, negotiate
from service.items import bank, spreadsheet
from service.items.bank import ImportResult, ItemExport, ItemImport, ItemStatus, ItemSummary, ItemVersion
from service.items.model import Item, ItemType
from service.items.views import RenderedItem, candidate_view, rendered_view
from service.tenancy.fields import CODE_PATTERN, MAX_VERSION, TEXT_PATTERN, Code

read = requires_roles(TENANT_ADMIN, AUTHOR, ANALYST, RATER)
write = requires_roles(TENANT_ADMIN, AUTHOR)

ItemCode = Annotated[str, PathParameter(description="Item code", max_length=64, pattern=CODE_PATTERN)]
Framework = Annotated[
    str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN, description="Framework code")
]
Status = Annotated[ItemStatus | None, QueryParameter(description="active or retired")]


SEARCH_MAX = 200  # characters of `q`


class ItemFilters(msgspec.Struct, forbid_unknown_fields=True):
    """The search's filters with the constraints of its query parameters below, for callers that get
    them as text (the console's filter form); tests/test_console_items.py checks both give the same messages."""

    framework: Code | None = None
    indicator: Code | None = None
    type: ItemType | None = None
    status: ItemStatus | None = None
    q: Annotated[str, msgspec.Meta(min_length=1, max_length=SEARCH_MAX, pattern=TEXT_PATTERN)] | None = None


ItemPage = Annotated[Page[ItemSummary], schema_name("ItemPage")]


class ItemController(Controller):
    path = "/v1/items"
    tags = ["items"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/",
        operation_id="searchItems",
        guards=[read],
        responses=errors(),
        summary="Search items by framework, indicator, type, status and text (latest versions)",
    )
    async def search(
        self,
        conn: Conn,
        framework: Framework = None,
        indicator: Annotated[str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN)] = None,
        type: Annotated[ItemType | None, QueryParameter(description="Item type")] = None,
        status: Status = None,
        q: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=SEARCH_MAX,
                pattern=TEXT_PATTERN,
                description="Text in the code, stem, scenario or options",
            ),
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> ItemPage:
        found = await bank.search_items(
            conn,
            framework=framework,
            indicator=indicator,
            type_=type,
            status=status,
            text=q,
            after=decode_cursor("items", cursor),
            limit=limit,
        )
        return Page(found, next_cursor("items", [i.code for i in found], limit))

    @post(
        "/",
        operation_id="createItem",
        guards=[write],
        responses=errors(409, 422),
        summary="Create an item, checked against its framework's latest published version",
    )
    async def create(self, conn: Conn, data: JSONBody[Item]) -> Response[ItemVersion]:
        return versioned(await bank.create_item(conn, data), 201)

    @post(
        "/import",
        operation_id="importItems",
        guards=[write],
        status_code=200,
        responses=errors(413, 422),
        summary="Create or edit up to 2,000 items: all of them or, with a report of every problem, none; "
        "`framework` places them all under that framework (a sample bank under an adopted template's code)",
    )
    async def import_items(
        self,
        conn: Conn,
        data: JSONBody[ItemImport],
        framework: Annotated[
            str | None,
            QueryParameter(
                max_length=64,
                pattern=CODE_PATTERN,
                description="Place every item under this framework, whatever the file names",
            ),
        ] = None,
    ) -> ImportResult:
        return await bank.import_items(conn, data.items, framework)

    @get(
        "/import/template",
        operation_id="itemImportTemplate",
        guards=[read],
        responses=errors(),
        media_type=spreadsheet.MEDIA_TYPE,
        summary="The XLSX template for importing items: one sheet per item type, instructions in zh-CN and en",
    )
    async def import_template(self) -> Response[bytes]:
        return Response(
            spreadsheet.template(),
            media_type=spreadsheet.MEDIA_TYPE,
            headers={"Content-Disposition": 'attachment; filename="item-import-template.xlsx"'},
        )

    @post(
        "/import/xlsx",
        operation_id="importItemsXlsx",
        guards=[write],
        status_code=200,
        responses=errors(413, 422),
        operation_class=upload_operation("The filled-in item import template (.xlsx)"),
        summary="Import items from the XLSX template: every row or, with every problem named by sheet, row "
        "and column, none; `framework` fills rows that leave theirs empty",
    )
    async def import_xlsx(
        self,
        request: Request,
        conn: Conn,
        framework: Annotated[
            str | None,
            QueryParameter(
                max_length=64,
                pattern=CODE_PATTERN,
                description="Framework of rows whose framework cell is empty",
            ),
        ] = None,
    ) -> ImportResult:
        content, _ = await uploaded_file(request, "file")
        return await spreadsheet.import_workbook(conn, content, framework)

    @get(
        "/export",
        operation_id="exportItems",
        guards=[read],
        responses=errors(),
        summary="Every item's latest version with its key, in the import format",
    )
    async def export_items(
        self, conn: Conn, framework: Framework = None, status: Status = None
    ) -> ItemExport:
        return ItemExport(await bank.export_items(conn, framework=framework, status=status))

    @get(
        "/{code:str}",
        operation_id="getItem",
        guards=[read],
        responses=errors(404),
        summary="An item's latest version in full (with its key); its ETag guards the next edit",
    )
    async def get_item(self, conn: Conn, code: ItemCode) -> Response[ItemVersion]:
        return versioned(await bank.get_item(conn, code))

    @get(
        "/{code:str}/versions/{version:int}",
        operation_id="getItemVersion",
        guards=[read],
        responses=errors(404),
        summary="One version of an item",
    )
    async def get_version(
        self, conn: Conn, code: ItemCode, version: Annotated[int, PathParameter(ge=1, le=MAX_VERSION)]
    ) -> Response[ItemVersion]:
        return versioned(await bank.get_item(conn, code, version))

    @put(
        "/{code:str}",
        operation_id="updateItem",
        guards=[write],
        responses=errors(404, 409, 412, 422, 428),
        summary="Edit an item (If-Match required): in place while no published assessment pins the version, "
        "as a new version after",
    )
    async def update(
        self,
        conn: Conn,
        code: ItemCode,
        data: JSONBody[Item],
        if_match: IfMatch = None,
    ) -> Response[ItemVersion]:
        return versioned(await bank.update_item(conn, code, data, require_if_match(if_match, msg("item"))))

    @get(
        "/{code:str}/preview",
        operation_id="previewItem",
        guards=[read],
        responses=errors(404),
        summary="The item exactly as a candidate sees it (no key), in the language Accept-Language asks for",
    )
    async def preview(
        self,
        conn: Conn,
        code: ItemCode,
        version: Annotated[int | None, QueryParameter(ge=1, le=MAX_VERSION)] = None,
        accept_language: AcceptLanguage = None,
    ) -> Response[RenderedItem]:
        locale = negotiate(accept_language)
        return in_language(
            rendered_view(candidate_view((await bank.get_item(conn, code, version)).content), locale), locale
        )

    @post(
        "/{code:str}/retire",
        operation_id="retireItem",
        guards=[write],
        status_code=200,
        responses=errors(404),
        summary="Retire an item: new assessments cannot use it; published ones keep their pinned version",
    )
    async def retire(self, conn: Conn, code: ItemCode) -> ItemVersion:
        return await bank.set_status(conn, code, "retired")

    @post(
        "/{code:str}/restore",
        operation_id="restoreItem",
        guards=[write],
        status_code=200,
        responses=errors(404),
        summary="Make a retired item active again",
    )
    async def restore(self, conn: Conn, code: ItemCode) -> ItemVersion:
        return await bank.set_status(conn, code, "active")
