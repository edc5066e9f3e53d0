"""Tenant routes for images in items: upload (PNG, JPEG, WebP by content), list, and read.

An image is served to the tenant's staff, and to a candidate only when an item on one of their
attempts' forms shows it; to anyone else (another tenant included) it does not exist (404). Its id
is the SHA-256 of its bytes, so the ETag never changes and the answer may be cached for a year
(`private`: it is never for a shared cache).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import PathParameter

from service.api.auth import requires_roles
from service.api.deps import Conn, current_candidate, provide_tenant_conn
from service.api.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, next_cursor
from service.api.responses import errors
from service.api.uploads import upload_operation, uploaded_file
from service.auth.principal import ANALYST, AUTHOR, CANDIDATE, RATER, TENANT_ADMIN
from service.delivery import attempts
from service.errors import NotFound
from service.i18n import msg
from service.items import images
from service.items.images import ImageInfo

STAFF = frozenset({TENANT_ADMIN, AUTHOR, ANALYST, RATER})
read = requires_roles(*STAFF)
view = requires_roles(*STAFF, CANDIDATE)
write = requires_roles(TENANT_ADMIN, AUTHOR)

ImageIdParam = Annotated[
    str, PathParameter(description="The image's id: the SHA-256 of its bytes, hex", pattern=r"^[0-9a-f]{64}$")
]
CACHE_CONTROL = "private, max-age=31536000, immutable"


class ImagePage(msgspec.Struct):
    images: list[ImageInfo]
    next_cursor: str | None


def image_response(request: Request, info: ImageInfo, content: bytes) -> Response[bytes]:
    """The bytes with their sniffed type, a strong ETag (the hash) and a year of private caching."""
    etag = f'"{info.id}"'
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    sent = request.headers.get("if-none-match", "")
    if sent.strip() == "*" or etag in [tag.strip().removeprefix("W/") for tag in sent.split(",")]:
        return Response(b"", status_code=304, headers=headers)
    return Response(content, media_type=info.media_type, headers=headers)


async def readable_image(request: Request, conn: Conn, image_id: str) -> Response[bytes]:
    """The image for the request's user: staff of its tenant; a candidate, only images on their forms."""
    if not request.user.has_any(STAFF):
        person = await current_candidate(request, conn)
        if not await attempts.shows_image(conn, person, image_id):
            raise NotFound(msg("no image '{id}'", id=image_id))
    info, content = await images.image_content(conn, image_id)
    return image_response(request, info, content)


class ImageController(Controller):
    path = "/v1/images"
    tags = ["images"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @post(
        "/",
        operation_id="uploadImage",
        guards=[write],
        status_code=201,
        responses=errors(413, 422),
        operation_class=upload_operation(
            f"A PNG, JPEG or WebP image of at most {images.MAX_IMAGE_BYTES} bytes, recognised by its content "
            "(SVG and anything else is refused)"
        ),
        summary="Upload an image for items' stems and options; the same bytes again give the same image",
    )
    async def upload(self, request: Request, conn: Conn) -> ImageInfo:
        content, name = await uploaded_file(request, "file")
        return await images.store_image(conn, content, name, request.user.subject)

    @get("/", operation_id="listImages", guards=[read], responses=errors(), summary="The tenant's images")
    async def list_images(self, conn: Conn, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> ImagePage:
        found = await images.list_images(conn, after=decode_cursor("images", cursor), limit=limit)
        return ImagePage(found, next_cursor("images", [i.id for i in found], limit))

    @get(
        "/{image_id:str}",
        operation_id="getImage",
        guards=[view],
        responses=errors(404),
        media_type="application/octet-stream",
        summary="An image's bytes (ETag, cacheable for a year); a candidate gets only images on their forms",
    )
    async def get_image(self, request: Request, conn: Conn, image_id: ImageIdParam) -> Response[bytes]:
        return await readable_image(request, conn, image_id)
