"""Keyset pagination with opaque cursors: `?limit=&cursor=`, answered with a `Page` of `items` and
`next_cursor`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Generic, Protocol, TypeVar
from uuid import UUID

import msgspec
from litestar.params import KwargDefinition, QueryParameter

from service.errors import DomainError, FieldError
from service.i18n import msg

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Page size (1-500)")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=512, description="`next_cursor` of the previous page")
]

DEFAULT_LIMIT = 50

T = TypeVar("T")


# One page of a list: its rows, and the cursor of the next page (None after the last). No
# docstring: it would become every page schema's description in the OpenAPI document.
class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None


def schema_name(name: str) -> KwargDefinition:
    """Names the OpenAPI component of a generic struct such as `Page[Tenant]`:
    `Annotated[Page[Tenant], schema_name("TenantPage")]` (Litestar would say `Page_..._Tenant_`)."""
    return KwargDefinition(schema_component_key=name)


class _CursorBody(msgspec.Struct, array_like=True):
    kind: str
    after: str


class BadCursor(DomainError):
    status, slug, title = 400, "bad-cursor", msg("Invalid pagination cursor")


def encode_cursor(kind: str, after: str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(_CursorBody(kind, after))).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> str | None:
    """The last key of the previous page, or None for the first page."""
    if cursor is None:
        return None
    try:
        body = msgspec.json.decode(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), type=_CursorBody
        )
    except (binascii.Error, ValueError, msgspec.MsgspecError):
        body = None
    if body is None or body.kind != kind:
        raise BadCursor(
            msg("the cursor is not one this list handed out"),
            [FieldError(msg("not a cursor from this list; start again without it"), parameter="cursor")],
        )
    return body.after


def next_cursor(kind: str, keys: list[str], limit: int) -> str | None:
    return encode_cursor(kind, keys[-1]) if len(keys) == limit else None


class Dated(Protocol):
    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> UUID: ...


def decode_dated(kind: str, cursor: str | None) -> tuple[datetime, UUID] | None:
    """The (created_at, id) of the last row of the previous page of a list ordered by both."""
    position = decode_cursor(kind, cursor)
    if position is None:
        return None
    created_at, _, row_id = position.partition("|")
    try:
        return datetime.fromisoformat(created_at), UUID(row_id)
    except ValueError:
        raise BadCursor(
            msg("the cursor is not one this list handed out"),
            [FieldError(msg("not a cursor from this list; start again without it"), parameter="cursor")],
        ) from None


def next_dated(kind: str, rows: Sequence[Dated], limit: int) -> str | None:
    """The cursor after a full page of rows ordered by (created_at, id); None after the last page."""
    if len(rows) < limit:
        return None
    return encode_cursor(kind, f"{rows[-1].created_at.isoformat()}|{rows[-1].id}")
