"""A file sent as a multipart form field, read by the handler itself, and its OpenAPI description.

Handlers that take a file declare no `data` parameter (the strict JSON body hook would try to
decode the multipart body as JSON) and document the body with `upload_operation(...)` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Request
from litestar.datastructures import UploadFile
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from service.errors import FieldError, Unprocessable
from service.i18n import msg

MULTIPART = "multipart/form-data"


async def uploaded_file(request: Request, field: str = "file") -> tuple[bytes, str | None]:
    """The bytes and file name of the form field `field`; a 422 naming it when it is missing."""
    content_type, _ = request.content_type
    sent = (await request.form()).get(field) if content_type == MULTIPART else None
    if not isinstance(sent, UploadFile):
        raise Unprocessable(
            msg("send the file as the multipart/form-data field '{field}'", field=field),
            [FieldError(msg("a file is required"), f"/{field}")],
        )
    return await sent.read(), sent.filename or None


def upload_operation(description: str, field: str = "file") -> type[Operation]:
    """An Operation class documenting a multipart body of one file in `field`."""

    @dataclass
    class UploadOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                required=True,
                content={
                    MULTIPART: OpenAPIMediaType(
                        schema=Schema(
                            type=OpenAPIType.OBJECT,
                            required=[field],
                            properties={
                                field: Schema(
                                    type=OpenAPIType.STRING,
                                    format=OpenAPIFormat.BINARY,
                                    description=description,
                                )
                            },
                        )
                    )
                },
            )

    return UploadOperation
