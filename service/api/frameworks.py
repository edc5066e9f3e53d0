"""Tenant routes for rubric templates and frameworks: adopt, edit drafts (ETags), publish, exchange."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.di import Provide
from litestar.openapi.spec import Operation, RequestBody
from litestar.params import Body, HeaderParameter, JSONBody, PathParameter, QueryParameter

from service.api.auth import requires_roles
from service.api.deps import Conn, provide_tenant_conn
from service.api.etags import IfMatch, require_if_match, versioned
from service.api.language import report_in_language
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
from service.auth.principal import ANALYST, AUTHOR, RATER, TENANT_ADMIN
from service.i18n import msg, negotiate
from service.rubrics import frameworks, localize, templates
from service.rubrics.diff import VersionDiff, diff_versions
from service.rubrics.frameworks import Adopt, Framework, FrameworkVersion, Origin, ValidationReport
from service.rubrics.jsonpatch import PatchOperation
from service.rubrics.model import FrameworkContent
from service.tenancy.fields import CODE_PATTERN, MAX_VERSION

read = requires_roles(TENANT_ADMIN, AUTHOR, ANALYST, RATER)
write = requires_roles(TENANT_ADMIN, AUTHOR)

CodePath = Annotated[
    str, PathParameter(description="Framework or template code", max_length=64, pattern=CODE_PATTERN)
]
VersionPath = Annotated[int, PathParameter(ge=1, le=MAX_VERSION, description="Version number")]
AcceptLanguage = Annotated[str | None, HeaderParameter(name="Accept-Language", max_length=200)]
TemplateVersion = Annotated[str | None, QueryParameter(max_length=32, description="Default: the latest")]


class TemplateDocument(msgspec.Struct):
    code: str
    version: str
    content_hash: str
    content: FrameworkContent


FrameworkPage = Annotated[Page[Framework], schema_name("FrameworkPage")]


@dataclass
class OptionalBodyOperation(Operation):
    """Litestar documents every request body as required; this operation's may be left out."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


class NewDraft(msgspec.Struct, forbid_unknown_fields=True):
    from_version: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)] | None = None


def _require(if_match: str | None) -> str:
    return require_if_match(if_match, msg("version"))


def _rendered(document: Any, accept_language: str | None) -> Response[dict[str, Any]]:
    wanted = localize.preferences(accept_language)
    return Response(
        localize.render(document, wanted),
        headers={"Content-Language": localize.content_language(document, wanted), "Vary": "Accept-Language"},
    )


class TemplateController(Controller):
    path = "/v1/rubric-templates"
    tags = ["rubrics"]
    guards = [read]

    @get("/", operation_id="listRubricTemplates", responses=errors(), summary="Shipped framework templates")
    async def list_templates(self) -> list[templates.TemplateSummary]:
        return templates.list_templates()

    @get(
        "/{code:str}",
        operation_id="getRubricTemplate",
        responses=errors(404),
        summary="A template version in full, every language",
    )
    async def get_template(self, code: CodePath, version: TemplateVersion = None) -> TemplateDocument:
        template = templates.get_template(code, version)
        return TemplateDocument(template.code, template.version, template.content_hash, template.content)

    @get(
        "/{code:str}/rendered",
        operation_id="renderRubricTemplate",
        responses=errors(404),
        summary="A template in the language Accept-Language asks for (fallback zh-CN, then en)",
    )
    async def render_template(
        self, code: CodePath, version: TemplateVersion = None, accept_language: AcceptLanguage = None
    ) -> Response[dict[str, Any]]:
        return _rendered(msgspec.to_builtins(templates.get_template(code, version).content), accept_language)


class FrameworkController(Controller):
    path = "/v1/frameworks"
    tags = ["rubrics"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/",
        operation_id="listFrameworks",
        guards=[read],
        responses=errors(),
        summary="This tenant's frameworks",
    )
    async def list_frameworks(
        self, conn: Conn, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> FrameworkPage:
        items = await frameworks.list_frameworks(conn, after=decode_cursor("frameworks", cursor), limit=limit)
        return Page(items, next_cursor("frameworks", [f.code for f in items], limit))

    @post(
        "/",
        operation_id="adoptRubricTemplate",
        guards=[write],
        responses=errors(404, 409),
        summary="Adopt a template: a new framework whose version 1 is a draft copy of it",
    )
    async def adopt(self, conn: Conn, data: JSONBody[Adopt]) -> Framework:
        return await frameworks.adopt_template(conn, data)

    @post(
        "/import/native",
        operation_id="importFrameworkNative",
        guards=[write],
        responses=errors(409, 413),
        summary="Import a framework from our native JSON as a new draft",
    )
    async def import_native(self, conn: Conn, data: JSONBody[FrameworkContent]) -> Framework:
        return await frameworks.create_framework(conn, data, Origin("native"))

    @post(
        "/import/case",
        operation_id="importFrameworkCase",
        guards=[write],
        responses=errors(409, 413, 422),
        summary="Import a CASE 1.1 CFPackage as a new draft; nothing is created if it has problems",
    )
    async def import_case(
        self,
        conn: Conn,
        data: JSONBody[dict[str, Any]],
        code: Annotated[str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN)] = None,
    ) -> Framework:
        return await frameworks.import_case(conn, data, code)

    @get(
        "/{code:str}",
        operation_id="getFramework",
        guards=[read],
        responses=errors(404),
        summary="A framework and its versions",
    )
    async def get_framework(self, conn: Conn, code: CodePath) -> Framework:
        return await frameworks.get_framework(conn, code)

    @post(
        "/{code:str}/versions",
        operation_id="startFrameworkDraft",
        guards=[write],
        responses=errors(404, 409),
        operation_class=OptionalBodyOperation,
        summary="Start a new draft from a version (default: the latest); the body is optional",
    )
    async def start_draft(
        self,
        conn: Conn,
        code: CodePath,
        data: Annotated[
            NewDraft | None,
            Body(description='Optional: `{"from_version": n}`; no body (or `{}`) copies the latest'),
        ] = None,
    ) -> Response[FrameworkVersion]:
        return versioned(await frameworks.start_draft(conn, code, data.from_version if data else None), 201)

    @get(
        "/{code:str}/versions/{version:int}",
        operation_id="getFrameworkVersion",
        guards=[read],
        responses=errors(404),
        summary="A version in full; its ETag guards the next write",
    )
    async def get_version(
        self, conn: Conn, code: CodePath, version: VersionPath
    ) -> Response[FrameworkVersion]:
        return versioned(await frameworks.get_version(conn, code, version))

    @get(
        "/{code:str}/versions/{version:int}/rendered",
        operation_id="renderFrameworkVersion",
        guards=[read],
        responses=errors(404),
        summary="A version in the language Accept-Language asks for",
    )
    async def render_version(
        self, conn: Conn, code: CodePath, version: VersionPath, accept_language: AcceptLanguage = None
    ) -> Response[dict[str, Any]]:
        found = await frameworks.get_version(conn, code, version)
        return _rendered(msgspec.to_builtins(found.content), accept_language)

    @put(
        "/{code:str}/versions/{version:int}",
        operation_id="replaceFrameworkDraft",
        guards=[write],
        responses=errors(404, 409, 412, 422, 428),
        summary="Replace a draft's content (If-Match required)",
    )
    async def replace_draft(
        self,
        conn: Conn,
        code: CodePath,
        version: VersionPath,
        data: JSONBody[FrameworkContent],
        if_match: IfMatch = None,
    ) -> Response[FrameworkVersion]:
        return versioned(await frameworks.replace_draft(conn, code, version, data, _require(if_match)))

    @patch(
        "/{code:str}/versions/{version:int}",
        operation_id="patchFrameworkDraft",
        guards=[write],
        responses=errors(404, 409, 412, 422, 428),
        summary="Edit a draft with JSON Patch (RFC 6902): add, remove, move, reweight (If-Match required)",
    )
    async def patch_draft(
        self,
        conn: Conn,
        code: CodePath,
        version: VersionPath,
        data: JSONBody[list[PatchOperation]],
        if_match: IfMatch = None,
    ) -> Response[FrameworkVersion]:
        return versioned(await frameworks.patch_draft(conn, code, version, data, _require(if_match)))

    @post(
        "/{code:str}/versions/{version:int}/validate",
        operation_id="validateFrameworkVersion",
        guards=[read],
        status_code=200,
        responses=errors(404),
        summary="Every problem with a version, each with a JSON pointer (in the language Accept-Language "
        "asks for)",
    )
    async def validate(
        self, conn: Conn, code: CodePath, version: VersionPath, accept_language: AcceptLanguage = None
    ) -> Response[ValidationReport]:
        report = await frameworks.validate_version(conn, code, version)
        return report_in_language(report, negotiate(accept_language))

    @post(
        "/{code:str}/versions/{version:int}/publish",
        operation_id="publishFrameworkVersion",
        guards=[write],
        status_code=200,
        responses=errors(404, 409, 412, 422, 428),
        summary="Publish a valid draft: it becomes immutable and gets a content hash (If-Match required)",
    )
    async def publish(
        self, conn: Conn, code: CodePath, version: VersionPath, if_match: IfMatch = None
    ) -> Response[FrameworkVersion]:
        return versioned(await frameworks.publish(conn, code, version, _require(if_match)))

    @post(
        "/{code:str}/versions/{version:int}/retire",
        operation_id="retireFrameworkVersion",
        guards=[write],
        status_code=200,
        responses=errors(404, 409),
        summary="Retire a published version: no new use, existing assessments keep working",
    )
    async def retire(self, conn: Conn, code: CodePath, version: VersionPath) -> Response[FrameworkVersion]:
        return versioned(await frameworks.retire(conn, code, version))

    @get(
        "/{code:str}/diff",
        operation_id="diffFrameworkVersions",
        guards=[read],
        responses=errors(404),
        summary="What was added, removed and changed between two versions",
    )
    async def diff(
        self,
        conn: Conn,
        code: CodePath,
        from_version: Annotated[int, QueryParameter(name="from", ge=1, le=MAX_VERSION)],
        to_version: Annotated[int, QueryParameter(name="to", ge=1, le=MAX_VERSION)],
    ) -> VersionDiff:
        old = await frameworks.get_version(conn, code, from_version)
        new = await frameworks.get_version(conn, code, to_version)
        return diff_versions(old.content, new.content)

    @get(
        "/{code:str}/versions/{version:int}/export",
        operation_id="exportFrameworkVersion",
        guards=[read],
        responses=errors(404),
        summary="A version as CASE 1.1 JSON (CFPackage) or our native JSON",
    )
    async def export(
        self,
        request: Request,
        conn: Conn,
        code: CodePath,
        version: VersionPath,
        format: Annotated[Literal["case", "native"], QueryParameter()] = "case",
    ) -> dict[str, Any]:
        if format == "native":
            return frameworks.export_native(await frameworks.get_version(conn, code, version))
        return await frameworks.export_case(conn, code, version, creator=str(request.user.tenant_id))
