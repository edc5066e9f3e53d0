"""Files in the console's item bank: images (upload, list, serve) and the spreadsheet import.

Each page calls what the API calls: `images.store_image` (POST /v1/images), `readable_image`'s rules
through `images.image_content` (GET /v1/images/{id}, here for the tenant's staff only),
`spreadsheet.template` and `spreadsheet.import_workbook` (GET /v1/items/import/template, POST
/v1/items/import/xlsx). An import's problems are shown as a table of sheet, row, column and message.
"""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter
from litestar.response import Template

from service.api.deps import Conn, provide_tenant_conn
from service.api.images import image_response
from service.api.items import read, write
from service.console.forms import FORM, domain_errors
from service.console.item_forms import ItemAuthoring
from service.console.views import page, write_allowed
from service.console.web import session_of
from service.errors import DomainError, FieldError
from service.i18n import msg, render
from service.items import images, spreadsheet
from service.rubrics import frameworks


async def uploaded(request: Request) -> tuple[dict[str, str], bytes | None, str | None]:
    """The form's text fields, and the bytes and name of its `file` (None when no file was chosen)."""
    data = await request.form()
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    sent = data.get("file")
    if isinstance(sent, UploadFile) and sent.filename:
        return fields, await sent.read(), sent.filename
    return fields, None, None


def no_file(locale: str) -> dict[str, list[str]]:
    return {"file": [render(msg("a file is required"), locale)]}


class ItemFiles(Controller):
    """Images and the spreadsheet import."""

    path = "/console"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/images", guards=[read])
    async def image_list(self, request: Request, conn: Conn) -> Template:
        return await self._images(request, conn, {}, None)

    async def _images(
        self,
        request: Request,
        conn: asyncpg.Connection,
        errors: dict[str, list[str]],
        stored: Any,
        status: int = 200,
    ) -> Template:
        return await page(
            request,
            conn,
            "item_images.html",
            status_code=status,
            images=await images.list_images(conn, after=None, limit=500),
            errors=errors,
            stored=stored,
            can_write=write_allowed(request),
            limit=images.MAX_IMAGE_BYTES,
        )

    @post("/images", guards=[write])
    async def upload_image(self, request: Request, conn: Conn) -> Template:
        locale = session_of(request).locale
        _, content, name = await uploaded(request)
        if content is None:
            return await self._images(request, conn, no_file(locale), None, 422)
        try:
            async with conn.transaction():
                stored = await images.store_image(conn, content, name, session_of(request).subject)
        except DomainError as exc:
            return await self._images(request, conn, domain_errors(exc, ("file",), locale), None, 422)
        return await self._images(request, conn, {}, stored)

    @get("/images/{image_id:str}", guards=[read])
    async def image(
        self,
        request: Request,
        conn: Conn,
        image_id: Annotated[str, PathParameter(pattern=r"^[0-9a-f]{64}$")],
    ) -> Response[bytes]:
        try:
            info, content = await images.image_content(conn, image_id)
        except DomainError as exc:
            raise NotFoundException() from exc
        return image_response(request, info, content)

    @get("/items/import", guards=[write])
    async def import_page(self, request: Request, conn: Conn) -> Template:
        return await self._import(request, conn, {}, [], None)

    async def _import(
        self,
        request: Request,
        conn: asyncpg.Connection,
        errors: dict[str, list[str]],
        problems: list[FieldError],
        result: spreadsheet.ImportResult | None,
        chosen: str = "",
        status: int = 200,
    ) -> Template:
        locale = session_of(request).locale
        published = [
            f.code
            for f in await frameworks.list_frameworks(conn, after=None, limit=200)
            if f.latest_published
        ]
        return await page(
            request,
            conn,
            "item_import.html",
            status_code=status,
            errors=errors,
            problems=[(p.sheet, p.row, p.column, render(p.detail, locale)) for p in problems],
            result=result,
            frameworks=published,
            chosen=chosen,
        )

    @get("/items/import/template", guards=[write])
    async def template(self) -> Response[bytes]:
        return Response(
            spreadsheet.template(),
            media_type=spreadsheet.MEDIA_TYPE,
            headers={"Content-Disposition": 'attachment; filename="item-import-template.xlsx"'},
        )

    @post("/items/import", guards=[write])
    async def import_workbook(self, request: Request, conn: Conn) -> Template:
        locale = session_of(request).locale
        fields, content, _ = await uploaded(request)
        chosen = fields.get("framework", "").strip()
        if content is None:
            return await self._import(request, conn, no_file(locale), [], None, chosen, 422)
        try:
            async with conn.transaction():  # all rows or none
                result = await spreadsheet.import_workbook(conn, content, chosen or None)
        except DomainError as exc:
            cells = [e for e in exc.errors if e.sheet]
            errors = (
                domain_errors(exc, ("file", "framework"), locale)
                if not cells
                else {FORM: [render(exc.message, locale)]}
            )
            return await self._import(request, conn, errors, cells, None, chosen, 422)
        return await self._import(request, conn, {}, [], result, chosen)


# The item screens this module and item_forms add, for the console's router.
ITEM_AUTHORING: list[type] = [ItemFiles, ItemAuthoring]
