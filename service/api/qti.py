"""Tenant routes for QTI item exchange: the bank or one assessment's items out as a QTI 3.0 package, and
QTI 3.0 or 2.x packages in as new items of a framework (`service/items/qti/exchange.py`)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import QueryParameter

from service.api.assessments import AssessmentCode
from service.api.deps import Conn, provide_tenant_conn
from service.api.items import Framework, Status, read, write
from service.api.responses import errors
from service.api.uploads import upload_operation, uploaded_file
from service.assessments import assessments
from service.assessments.model import item_refs
from service.items import bank
from service.items.qti import exchange
from service.items.qti.exchange import QtiImportResult
from service.tenancy.fields import CODE_PATTERN


def _zip(content: bytes, name: str) -> Response[bytes]:
    return Response(
        content,
        media_type=exchange.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class QtiController(Controller):
    path = "/v1"
    tags = ["items"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/items/export/qti",
        operation_id="exportItemsQti",
        guards=[read],
        responses=errors(),
        media_type=exchange.MEDIA_TYPE,
        summary="Every item's latest version as a QTI 3.0 content package (zip): standard QTI where it can "
        "say it, the exact item document in our extension in the manifest",
    )
    async def export_bank(
        self, conn: Conn, framework: Framework = None, status: Status = None
    ) -> Response[bytes]:
        content = await exchange.export_bank(conn, framework=framework, status=status)
        return _zip(content, f"items-{framework or 'bank'}-qti3.zip")

    @get(
        "/assessments/{code:str}/items/qti",
        operation_id="exportAssessmentItemsQti",
        guards=[read],
        responses=errors(404),
        media_type=exchange.MEDIA_TYPE,
        summary="The items an assessment uses (the pinned versions once published) as a QTI 3.0 content package",
    )
    async def export_assessment(self, conn: Conn, code: AssessmentCode) -> Response[bytes]:
        refs = {
            ref.code: ref.version
            for _, ref in item_refs((await assessments.get_assessment(conn, code)).content)
        }
        versions = await bank.pinned_versions(conn, refs)
        items = [versions[item].content for item in refs if item in versions]
        return _zip(await exchange.export_package(conn, items, f"MANIFEST-{code}"), f"{code}-items-qti3.zip")

    @post(
        "/items/import/qti",
        operation_id="importItemsQti",
        guards=[write],
        status_code=200,
        responses=errors(413, 422),
        operation_class=upload_operation("A QTI 3.0, 2.2 or 2.1 content package (.zip with imsmanifest.xml)"),
        summary="Create items of a framework from a QTI package: all of them or, with every unsupported "
        "construct and problem named per item (`/items/{n}`), none; `partial=true` creates those that can be",
    )
    async def import_package(
        self,
        request: Request,
        conn: Conn,
        framework: Annotated[
            str, QueryParameter(max_length=64, pattern=CODE_PATTERN, description="Framework of the new items")
        ],
        indicator: Annotated[
            str | None,
            QueryParameter(
                max_length=64,
                pattern=CODE_PATTERN,
                description="Indicator measured by items without our extension (from other tools)",
            ),
        ] = None,
        language: Annotated[
            str,
            QueryParameter(
                max_length=35,
                pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
                description="Language of items that name none (xml:lang)",
            ),
        ] = "zh-CN",
        partial: Annotated[
            bool, QueryParameter(description="Create the items that can be imported and report the others")
        ] = False,
    ) -> QtiImportResult:
        content, _ = await uploaded_file(request, "file")
        return await exchange.import_package(
            conn,
            content,
            framework=framework,
            indicator=indicator,
            language=language,
            partial=partial,
            created_by=request.user.subject,
        )
