"""A tenant's frameworks and their versions: adopt, edit drafts under ETags, publish, retire.

Runs on a tenant-scoped connection (row-level security supplies the tenant). Drafts carry a
`revision`; every write names the revision it read, and an UPDATE guarded by it makes two
concurrent writers end with exactly one success and one 412.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from service.errors import (
    Conflict,
    FieldError,
    NotFound,
    PreconditionFailed,
    Unprocessable,
    etag_matches,
    msgspec_field_error,
)
from service.i18n import msg
from service.rubrics import case
from service.rubrics.jsonpatch import PatchOperation, apply_patch
from service.rubrics.model import Code, FrameworkContent, Localized
from service.rubrics.templates import content_hash, get_template
from service.rubrics.validation import validate

VersionStatus = Literal["draft", "published", "retired"]


class Adopt(msgspec.Struct, forbid_unknown_fields=True):
    template: Code
    template_version: str | None = None
    code: Code | None = None
    title: Localized | None = None


class Origin(msgspec.Struct, omit_defaults=True):
    kind: Literal["template", "case", "native"]
    template: str | None = None
    template_version: str | None = None
    content_hash: str | None = None


class VersionSummary(msgspec.Struct):
    version: int
    status: VersionStatus
    revision: int
    content_hash: str | None
    based_on: int | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    retired_at: datetime | None


class Framework(msgspec.Struct):
    id: UUID
    code: str
    title: Localized
    origin: Origin | None
    draft_version: int | None
    latest_published: int | None
    versions: list[VersionSummary]
    created_at: datetime


class FrameworkVersion(msgspec.Struct):
    framework: str
    version: int
    status: VersionStatus
    revision: int
    content_hash: str | None
    content: FrameworkContent

    @property
    def etag(self) -> str:
        return f'"{self.version}.{self.revision}"'


class ValidationReport(msgspec.Struct):
    valid: bool
    problems: list[FieldError]


_VERSION_COLUMNS = (
    "version, status, revision, content_hash, based_on, created_at, updated_at, published_at, retired_at"
)


async def _framework_id(conn: asyncpg.Connection, code: str) -> UUID:
    framework_id = await conn.fetchval("SELECT id FROM frameworks WHERE code = $1", code)
    if framework_id is None:
        raise NotFound(msg("no framework '{code}'", code=code))
    return framework_id


async def create_framework(conn: asyncpg.Connection, content: FrameworkContent, origin: Origin) -> Framework:
    framework_id = await conn.fetchval(
        "INSERT INTO frameworks (code, origin) VALUES ($1, $2) RETURNING id",
        content.code,
        msgspec.to_builtins(origin),
    )
    await conn.execute(
        "INSERT INTO framework_versions (framework_id, version, content) VALUES ($1, 1, $2)",
        framework_id,
        msgspec.to_builtins(content),
    )
    return await get_framework(conn, content.code)


async def adopt_template(conn: asyncpg.Connection, data: Adopt) -> Framework:
    template = get_template(data.template, data.template_version)
    content = msgspec.structs.replace(
        template.content, code=data.code or template.code, title=data.title or template.content.title
    )
    origin = Origin("template", template.code, template.version, template.content_hash)
    return await create_framework(conn, content, origin)


_FRAMEWORKS = """
    SELECT f.id, f.code, f.origin, f.created_at,
           (SELECT v.content->'title' FROM framework_versions v
            WHERE v.tenant_id = f.tenant_id AND v.framework_id = f.id ORDER BY v.version DESC LIMIT 1) AS title
    FROM frameworks f
"""


async def _with_versions(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[Framework]:
    """Frameworks with their version summaries: two queries, however many frameworks."""
    versions: dict[UUID, list[VersionSummary]] = {row["id"]: [] for row in rows}
    for v in await conn.fetch(
        f"SELECT framework_id, {_VERSION_COLUMNS} FROM framework_versions "
        "WHERE framework_id = ANY($1::uuid[]) ORDER BY framework_id, version",
        list(versions),
    ):
        versions[v["framework_id"]].append(
            msgspec.convert({k: v[k] for k in v.keys() if k != "framework_id"}, VersionSummary)  # noqa: SIM118  # a Record iterates its values
        )
    frameworks = []
    for row in rows:
        own = versions[row["id"]]
        published = [v.version for v in own if v.status != "draft"]
        frameworks.append(
            Framework(
                id=row["id"],
                code=row["code"],
                title=row["title"],
                origin=msgspec.convert(row["origin"], Origin | None),
                draft_version=next((v.version for v in own if v.status == "draft"), None),
                latest_published=published[-1] if published else None,
                versions=own,
                created_at=row["created_at"],
            )
        )
    return frameworks


async def list_frameworks(conn: asyncpg.Connection, *, after: str | None, limit: int) -> list[Framework]:
    rows = await conn.fetch(
        _FRAMEWORKS + " WHERE ($1::text IS NULL OR f.code > $1) ORDER BY f.code LIMIT $2", after, limit
    )
    return await _with_versions(conn, rows)


async def get_framework(conn: asyncpg.Connection, code: str) -> Framework:
    row = await conn.fetchrow(_FRAMEWORKS + " WHERE f.code = $1", code)
    if row is None:
        raise NotFound(msg("no framework '{code}'", code=code))
    return (await _with_versions(conn, [row]))[0]


async def get_version(
    conn: asyncpg.Connection, code: str, version: int, *, for_update: bool = False
) -> FrameworkVersion:
    row = await conn.fetchrow(
        "SELECT v.version, v.status, v.revision, v.content_hash, v.content FROM framework_versions v "
        "JOIN frameworks f ON f.tenant_id = v.tenant_id AND f.id = v.framework_id "
        "WHERE f.code = $1 AND v.version = $2" + (" FOR UPDATE OF v" if for_update else ""),
        code,
        version,
    )
    if row is None:
        raise NotFound(msg("framework '{code}' has no version {version}", code=code, version=version))
    return FrameworkVersion(
        framework=code,
        version=row["version"],
        status=row["status"],
        revision=row["revision"],
        content_hash=row["content_hash"],
        content=msgspec.convert(row["content"], FrameworkContent),
    )


def _check_writable(current: FrameworkVersion, if_match: str) -> None:
    """409 for a version that is no longer a draft; 412 when the caller's ETag is stale."""
    if current.status != "draft":
        raise Conflict(
            msg(
                "version {version} is {status} and can no longer change; start a new draft from "
                "it (POST .../versions)",
                version=current.version,
                status=current.status,
            )
        )
    if not etag_matches(if_match, current.etag):
        raise PreconditionFailed(
            msg(
                "version {version} is now at ETag {etag}; read it again, reapply your change and retry",
                version=current.version,
                etag=current.etag,
            )
        )


async def _store_draft(
    conn: asyncpg.Connection, current: FrameworkVersion, content: FrameworkContent
) -> FrameworkVersion:
    if content.code != current.framework:
        raise Unprocessable(
            msg("the framework code cannot change in a draft"),
            [FieldError(msg("must stay '{value}'", value=current.framework), "/code")],
        )
    revision = await conn.fetchval(
        """UPDATE framework_versions v SET content = $4, revision = revision + 1, updated_at = now()
           FROM frameworks f
           WHERE f.tenant_id = v.tenant_id AND f.id = v.framework_id AND f.code = $1 AND v.version = $2
             AND v.status = 'draft' AND v.revision = $3
           RETURNING v.revision""",
        current.framework,
        current.version,
        current.revision,
        msgspec.to_builtins(content),
    )
    if revision is None:  # someone else wrote first
        raise PreconditionFailed(
            msg("version {version} changed while you were writing; read it again", version=current.version)
        )
    return msgspec.structs.replace(current, revision=revision, content=content)


async def replace_draft(
    conn: asyncpg.Connection, code: str, version: int, content: FrameworkContent, if_match: str
) -> FrameworkVersion:
    current = await get_version(conn, code, version, for_update=True)
    _check_writable(current, if_match)
    return await _store_draft(conn, current, content)


async def patch_draft(
    conn: asyncpg.Connection, code: str, version: int, operations: list[PatchOperation], if_match: str
) -> FrameworkVersion:
    current = await get_version(conn, code, version, for_update=True)
    _check_writable(current, if_match)
    patched = apply_patch(msgspec.to_builtins(current.content), operations)
    try:
        content = msgspec.convert(patched, FrameworkContent, strict=True)
    except msgspec.ValidationError as exc:
        error = msgspec_field_error(str(exc))
        raise Unprocessable(
            msg("after the patch the framework would not be well-formed: {detail}", detail=error.detail),
            [error],
        ) from None
    return await _store_draft(conn, current, content)


async def validate_version(conn: asyncpg.Connection, code: str, version: int) -> ValidationReport:
    problems = validate((await get_version(conn, code, version)).content)
    return ValidationReport(valid=not problems, problems=problems)


async def publish(conn: asyncpg.Connection, code: str, version: int, if_match: str) -> FrameworkVersion:
    current = await get_version(conn, code, version, for_update=True)
    _check_writable(current, if_match)
    problems = validate(current.content)
    if problems:
        raise Unprocessable(
            msg(
                "version {version} has {count} problem(s); it stays a draft",
                version=version,
                count=len(problems),
            ),
            problems,
        )
    digest = content_hash(current.content)
    await conn.execute(
        """UPDATE framework_versions v SET status = 'published', content_hash = $3, published_at = now(),
                  updated_at = now()
           FROM frameworks f WHERE f.tenant_id = v.tenant_id AND f.id = v.framework_id AND f.code = $1
             AND v.version = $2""",
        code,
        version,
        digest,
    )
    return msgspec.structs.replace(current, status="published", content_hash=digest)


async def start_draft(conn: asyncpg.Connection, code: str, from_version: int | None) -> FrameworkVersion:
    framework_id = await _framework_id(conn, code)
    await conn.execute("SELECT 1 FROM frameworks WHERE id = $1 FOR UPDATE", framework_id)
    draft = await conn.fetchval(
        "SELECT version FROM framework_versions WHERE framework_id = $1 AND status = 'draft'", framework_id
    )
    if draft is not None:
        raise Conflict(msg("version {draft} is already a draft: edit it, or publish it first", draft=draft))
    if from_version is None:
        from_version = await conn.fetchval(
            "SELECT max(version) FROM framework_versions WHERE framework_id = $1", framework_id
        )
    source = await get_version(conn, code, from_version)
    next_version = await conn.fetchval(
        "SELECT max(version) + 1 FROM framework_versions WHERE framework_id = $1", framework_id
    )
    await conn.execute(
        "INSERT INTO framework_versions (framework_id, version, content, based_on) VALUES ($1, $2, $3, $4)",
        framework_id,
        next_version,
        msgspec.to_builtins(source.content),
        from_version,
    )
    return await get_version(conn, code, next_version)


async def retire(conn: asyncpg.Connection, code: str, version: int) -> FrameworkVersion:
    current = await get_version(conn, code, version, for_update=True)
    if current.status == "draft":
        raise Conflict(
            msg("version {version} is a draft: only published versions are retired", version=version)
        )
    if current.status == "published":
        await conn.execute(
            """UPDATE framework_versions v SET status = 'retired', retired_at = now(), updated_at = now()
               FROM frameworks f WHERE f.tenant_id = v.tenant_id AND f.id = v.framework_id AND f.code = $1
                 AND v.version = $2""",
            code,
            version,
        )
    return msgspec.structs.replace(current, status="retired")


def export_native(version: FrameworkVersion) -> dict[str, Any]:
    return msgspec.to_builtins(version.content)


# Reads other packages make of framework versions (scoring, assessments, items, aggregates, feeds), so
# the SQL on `frameworks` and `framework_versions` stays here. The content comes as stored (JSON).


class VersionRecord(msgspec.Struct, frozen=True):
    content: dict[str, Any]
    status: VersionStatus
    content_hash: str


def version_of_hash(content_hash: str) -> str:
    """SQL of the number of the framework version with this content hash (`content_hash`: its SQL),
    the highest if several have it; for one-query reads of other owners (the score feed)."""
    return (
        f"(SELECT o.version FROM framework_versions o WHERE o.content_hash = {content_hash} "
        "ORDER BY o.version DESC LIMIT 1)"
    )


async def version_records(
    conn: asyncpg.Connection, wanted: list[tuple[str, int]]
) -> dict[tuple[str, int], VersionRecord]:
    """The versions asked for, by (framework code, version); those that do not exist are left out."""
    if not wanted:
        return {}
    rows = await conn.fetch(
        """SELECT f.code, v.version, v.content, v.status, v.content_hash FROM framework_versions v
               JOIN frameworks f ON f.tenant_id = v.tenant_id AND f.id = v.framework_id
               JOIN unnest($1::text[], $2::int[]) AS w(code, version) ON w.code = f.code AND w.version = v.version""",
        [code for code, _ in wanted],
        [version for _, version in wanted],
    )
    return {
        (row["code"], row["version"]): VersionRecord(row["content"], row["status"], row["content_hash"])
        for row in rows
    }


async def version_record(conn: asyncpg.Connection, code: str, version: int) -> VersionRecord | None:
    return (await version_records(conn, [(code, version)])).get((code, version))


async def latest_published(conn: asyncpg.Connection, code: str) -> dict[str, Any] | None:
    """The content of the framework's latest published version (None: none published)."""
    return await conn.fetchval(
        """SELECT v.content FROM framework_versions v
           JOIN frameworks f ON f.tenant_id = v.tenant_id AND f.id = v.framework_id
           WHERE f.code = $1 AND v.status = 'published' ORDER BY v.version DESC LIMIT 1""",
        code,
    )


def level_ranks() -> str:
    """SQL of a query: each level of every stored version, as its version's content `hash`, its
    `code` and its `rank` (0 for the lowest), each once; for one-query reads of other owners (the
    aggregates' rebuild)."""
    return """SELECT DISTINCT o.content_hash AS hash, x.l->>'code' AS code, (x.n - 1)::smallint AS rank
                FROM framework_versions o CROSS JOIN jsonb_array_elements(o.content->'levels') WITH ORDINALITY AS x(l, n)"""


async def level_codes_by_hash(conn: asyncpg.Connection, hashes: list[str]) -> dict[str, list[str]]:
    """The level codes (lowest first) of the versions with these content hashes."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (content_hash) content_hash,
                  ARRAY(SELECT l->>'code' FROM jsonb_array_elements(content->'levels') l) AS codes
           FROM framework_versions WHERE content_hash = ANY($1::text[])""",
        hashes,
    )
    return {row["content_hash"]: row["codes"] for row in rows}


class HashedVersion(msgspec.Struct, frozen=True):
    framework_id: UUID
    code: str
    version: int
    content: dict[str, Any]


async def versions_by_hash(conn: asyncpg.Connection, hashes: list[str]) -> dict[str, HashedVersion]:
    """The published version each content hash (a score's `provenance.framework_hash`) names, the
    earliest if several hold the same content: what credentials align to (its CASE identifiers)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (v.content_hash) v.content_hash, f.id AS framework_id, f.code, v.version, v.content
           FROM framework_versions v JOIN frameworks f ON f.tenant_id = v.tenant_id AND f.id = v.framework_id
           WHERE v.content_hash = ANY($1::text[]) ORDER BY v.content_hash, v.version""",
        hashes,
    )
    return {
        row["content_hash"]: HashedVersion(row["framework_id"], row["code"], row["version"], row["content"])
        for row in rows
    }


async def contents_by_hash(conn: asyncpg.Connection, hashes: list[str]) -> dict[str, dict[str, Any]]:
    """The content of the versions with these content hashes (what a score document's provenance names)."""
    return {digest: version.content for digest, version in (await versions_by_hash(conn, hashes)).items()}


async def exists(conn: asyncpg.Connection, code: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM frameworks WHERE code = $1", code))


async def import_case(conn: asyncpg.Connection, package: Any, code: str | None = None) -> Framework:
    """A new framework (version 1, a draft) from a CASE 1.1 CFPackage; 422 naming every problem, nothing created."""
    return await create_framework(conn, case.import_case(package, code=code), Origin("case"))


async def export_case(conn: asyncpg.Connection, code: str, version: int, *, creator: str) -> dict[str, Any]:
    """A version as a CASE 1.1 CFPackage: identifiers stable per framework and version, the adoption
    status following the version's (draft, published, retired)."""
    found = await get_version(conn, code, version)
    framework = await get_framework(conn, code)
    summary = next(v for v in framework.versions if v.version == version)
    changed = (summary.published_at or summary.updated_at).isoformat()
    return case.export_case(
        found.content,
        seed=f"{framework.id}:{version}",
        last_change=changed,
        creator=creator,
        version=str(version),
        adoption_status={"draft": "Draft", "published": "Adopted"}.get(found.status, "Deprecated"),
    )
