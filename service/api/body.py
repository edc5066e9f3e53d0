"""Strict request bodies: `"5"` is not an int, unknown fields are refused.

Litestar converts bodies in msgspec's lax mode. This hook decodes each body strictly into
the handler's `data` type first, so the first bad field becomes a 400 problem with a
JSON pointer. What passes strict decoding always passes Litestar's own, lax, conversion.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.types import Empty

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}  # keyed by the body type, never by handler identity


def _decoder_for(body_type: Any) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(body_type)
    if decoder is None:
        decoder = _decoders[body_type] = msgspec.json.Decoder(body_type, strict=True)
    return decoder


async def decode_strictly(request: Request) -> None:
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is not None:
        body = await request.body()
        if not body and data.default is not Empty:  # an optional body, omitted
            return
        try:
            _decoder_for(data.annotation).decode(body)
        except UnicodeDecodeError:
            raise msgspec.DecodeError("JSON is malformed: a string holds invalid UTF-8") from None
