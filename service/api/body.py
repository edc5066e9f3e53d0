"""Strict request bodies: `"5"` is not an int, unknown fields are refused.

Litestar converts bodies in msgspec's lax mode. This hook decodes each body strictly into
the handler's `data` type first, so the first bad field becomes a 400 problem with a
JSON pointer. What passes strict decoding always passes Litestar's own, lax, conversion.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

_decoders: dict[int, msgspec.json.Decoder[Any] | None] = {}


def _decoder_for(request: Request) -> msgspec.json.Decoder[Any] | None:
    handler = request.route_handler
    key = id(handler)
    if key not in _decoders:
        data = handler.parsed_fn_signature.parameters.get("data")
        _decoders[key] = msgspec.json.Decoder(data.annotation, strict=True) if data is not None else None
    return _decoders[key]


async def decode_strictly(request: Request) -> None:
    decoder = _decoder_for(request)
    if decoder is not None:
        decoder.decode(await request.body())
