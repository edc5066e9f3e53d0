"""Images in items: upload, read and list a tenant's images (owner of the `item_images` table).

An image is what its bytes say it is, never what its name or the client's Content-Type claim:
PNG, JPEG and WebP are recognised by their magic numbers and everything else is refused (SVG in
particular: it is XML that may carry script, and would need sanitising). Images are keyed by the
SHA-256 of their bytes, per tenant, so an upload is idempotent and the key is a strong ETag that
never changes (served `immutable`). Rows are never updated. Runs on a tenant-scoped connection:
row-level security keeps every other tenant's images out of sight (a 404, as for any unknown id).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

import asyncpg
import msgspec

from service.errors import FieldError, NotFound, Unprocessable
from service.i18n import msg

MediaType = Literal["image/png", "image/jpeg", "image/webp"]
MAX_IMAGE_BYTES = 1_500_000  # a screenshot of an AI answer fits; under MAX_BODY_BYTES (default 5 MB)
MAX_NAME = 255


class ImageInfo(msgspec.Struct):
    id: str  # SHA-256 of the bytes, hex: what items name in `image`
    media_type: MediaType
    size: int
    name: str | None
    created_at: datetime


def sniff(data: bytes) -> MediaType | None:
    """The image type by content (magic numbers); None for anything else, SVG included."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def checked_upload(data: bytes, field: str = "file") -> MediaType:
    """The upload's media type, or a 422 naming `field` (too large, empty, or not a PNG, JPEG or WebP)."""
    if not data:
        raise Unprocessable(msg("the image is empty"), [FieldError(msg("the file is empty"), f"/{field}")])
    if len(data) > MAX_IMAGE_BYTES:
        raise Unprocessable(
            msg("the image is too large"),
            [FieldError(msg("at most {limit} bytes per image", limit=MAX_IMAGE_BYTES), f"/{field}")],
        )
    media_type = sniff(data)
    if media_type is None:
        raise Unprocessable(
            msg("the file is not an image this service accepts"),
            [
                FieldError(
                    msg("the file's content is not a PNG, JPEG or WebP image (SVG is not accepted)"),
                    f"/{field}",
                )
            ],
        )
    return media_type


_COLUMNS = "id, media_type, size, name, created_at"


async def store_image(conn: asyncpg.Connection, data: bytes, name: str | None, created_by: str) -> ImageInfo:
    """Store an upload (checked first); the same bytes again return the image already stored."""
    media_type = checked_upload(data)
    image_id = hashlib.sha256(data).hexdigest()
    await conn.execute(
        """INSERT INTO item_images (id, media_type, size, name, content, created_by)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, id) DO NOTHING""",
        image_id,
        media_type,
        len(data),
        (name or "")[:MAX_NAME] or None,
        data,
        created_by,
    )
    return await image_info(conn, image_id)


async def image_info(conn: asyncpg.Connection, image_id: str) -> ImageInfo:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM item_images WHERE id = $1", image_id)
    if row is None:
        raise NotFound(msg("no image '{id}'", id=image_id))
    return msgspec.convert(dict(row), ImageInfo)


async def image_content(conn: asyncpg.Connection, image_id: str) -> tuple[ImageInfo, bytes]:
    row = await conn.fetchrow(f"SELECT {_COLUMNS}, content FROM item_images WHERE id = $1", image_id)
    if row is None:
        raise NotFound(msg("no image '{id}'", id=image_id))
    values = dict(row)
    content: bytes = values.pop("content")
    return msgspec.convert(values, ImageInfo), content


async def list_images(conn: asyncpg.Connection, *, after: str | None, limit: int) -> list[ImageInfo]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM item_images WHERE ($1::text IS NULL OR id > $1)
            ORDER BY id LIMIT $2""",
        after,
        limit,
    )
    return [msgspec.convert(dict(row), ImageInfo) for row in rows]


async def missing_images(conn: asyncpg.Connection, image_ids: list[str]) -> set[str]:
    """Those of `image_ids` the tenant has no image for."""
    if not image_ids:
        return set()
    found = await conn.fetch("SELECT id FROM item_images WHERE id = ANY($1::text[])", image_ids)
    return set(image_ids) - {row["id"] for row in found}
