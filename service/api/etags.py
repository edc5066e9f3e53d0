"""Optimistic concurrency over HTTP: writes need `If-Match`, versioned reads send `ETag`."""

from __future__ import annotations

from typing import Annotated, Protocol, TypeVar

from litestar import Response
from litestar.params import HeaderParameter

from service.errors import PreconditionRequired
from service.i18n import msg

IfMatch = Annotated[str | None, HeaderParameter(name="If-Match", description="The ETag last read (required)")]


class Versioned(Protocol):
    @property
    def etag(self) -> str: ...


V = TypeVar("V", bound=Versioned)


def versioned(value: V, status_code: int = 200) -> Response[V]:
    return Response(value, status_code=status_code, headers={"ETag": value.etag})


def require_if_match(if_match: str | None, what: str) -> str:
    """428 when a write does not say which version it read."""
    if not if_match:
        raise PreconditionRequired(
            msg("send If-Match with the ETag of the {what} you read (GET it first)", what=what)
        )
    return if_match
