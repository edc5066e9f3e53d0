"""A tenant's assessments: drafts under ETags, publish (pins framework and item versions), close,
and per-person accommodations. Runs on a tenant-scoped connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.forms import FormItem
from service.assessments.model import AssessmentContent, ExtraTimeFactor, item_refs
from service.assessments.validation import CalibrationCover, Resolved, validate_assessment
from service.errors import Conflict, FieldError, NotFound, PreconditionFailed, Unprocessable, etag_matches
from service.i18n import msg
from service.items import bank
from service.items.kinds import kind_of
from service.items.model import Item, option_keys
from service.rubrics import frameworks
from service.rubrics.model import FrameworkContent
from service.tenancy import org_units
from service.tenancy import people as persons
from service.tenancy.fields import TEXT_PATTERN, ExternalId

AssessmentStatus = Literal["draft", "published", "closed"]
# Reads the calibrations adaptive sections pin (service.results.calibrations.covers: that package is
# above this one, so the API and the console pass it in). Without it an adaptive section cannot publish.
CalibrationLookup = Callable[[asyncpg.Connection, list[UUID]], Awaitable[dict[UUID, CalibrationCover]]]


class Assessment(msgspec.Struct):
    id: UUID
    code: str
    status: AssessmentStatus
    revision: int
    content: AssessmentContent
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    closed_at: datetime | None

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


class AssessmentSummary(msgspec.Struct):
    code: str
    status: AssessmentStatus
    title: dict[str, str]
    framework: str
    framework_version: int
    opens_at: datetime | None
    closes_at: datetime | None
    updated_at: datetime


class PublishReport(msgspec.Struct):
    valid: bool
    problems: list[FieldError]


class AccommodationSet(msgspec.Struct, forbid_unknown_fields=True):
    extra_time_factor: ExtraTimeFactor
    # at most what the column holds (2000)
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=TEXT_PATTERN)] | None = None


class Accommodation(msgspec.Struct):
    external_id: ExternalId
    extra_time_factor: float
    note: str | None
    updated_at: datetime
    running_attempt_deadline: datetime | None = None


_SELECT = """SELECT id, code, status, revision, content, created_at, updated_at, published_at, closed_at
             FROM assessments"""


def _assessment(row: asyncpg.Record) -> Assessment:
    values = dict(row)
    values["content"] = msgspec.convert(values["content"], AssessmentContent)
    return Assessment(**values)


async def get_assessment(conn: asyncpg.Connection, code: str, *, for_update: bool = False) -> Assessment:
    row = await conn.fetchrow(_SELECT + " WHERE code = $1" + (" FOR UPDATE" if for_update else ""), code)
    if row is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    return _assessment(row)


async def assessment_id(conn: asyncpg.Connection, code: str) -> UUID:
    """The id of the assessment with this code (404 if none): for modules that keep rows per assessment."""
    found: UUID | None = await conn.fetchval("SELECT id FROM assessments WHERE code = $1", code)
    if found is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    return found


async def create_assessment(conn: asyncpg.Connection, content: AssessmentContent) -> Assessment:
    await conn.execute(
        "INSERT INTO assessments (code, content) VALUES ($1, $2)", content.code, msgspec.to_builtins(content)
    )
    return await get_assessment(conn, content.code)


def _check_draft(current: Assessment, if_match: str | None) -> None:
    if current.status != "draft":
        raise Conflict(
            msg(
                "assessment '{code}' is {status} and can no longer change; copy it into a new draft instead",
                code=current.code,
                status=current.status,
            )
        )
    if if_match is not None and not etag_matches(if_match, current.etag):
        raise PreconditionFailed(
            msg(
                "assessment '{code}' is now at ETag {etag}; read it again",
                code=current.code,
                etag=current.etag,
            )
        )


async def replace_draft(
    conn: asyncpg.Connection, code: str, content: AssessmentContent, if_match: str
) -> Assessment:
    current = await get_assessment(conn, code, for_update=True)
    _check_draft(current, if_match)
    if content.code != code:
        raise Unprocessable(
            msg("an assessment's code cannot change"),
            [FieldError(msg("must stay '{value}'", value=code), "/code")],
        )
    await conn.execute(
        "UPDATE assessments SET content = $2, revision = revision + 1, updated_at = now() WHERE id = $1",
        current.id,
        msgspec.to_builtins(content),
    )
    return await get_assessment(conn, code)


async def delete_draft(conn: asyncpg.Connection, code: str) -> None:
    current = await get_assessment(conn, code, for_update=True)
    _check_draft(current, None)
    await conn.execute("DELETE FROM assessments WHERE id = $1", current.id)


async def list_assessments(
    conn: asyncpg.Connection, *, status: str | None, after: str | None, limit: int
) -> list[AssessmentSummary]:
    rows = await conn.fetch(
        """SELECT code, status, content->'title' AS title, content->'framework'->>'code' AS framework,
                  (content->'framework'->>'version')::int AS framework_version,
                  (content->'window'->>'opens_at')::timestamptz AS opens_at,
                  (content->'window'->>'closes_at')::timestamptz AS closes_at, updated_at
           FROM assessments WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR code > $2)
           ORDER BY code LIMIT $3""",
        status,
        after,
        limit,
    )
    return [msgspec.convert(dict(row), AssessmentSummary) for row in rows]


async def _framework_version(
    conn: asyncpg.Connection, code: str, version: int
) -> tuple[FrameworkContent | None, str | None, str | None]:
    found = await frameworks.version_record(conn, code, version)
    if found is None:
        return None, None, None
    return msgspec.convert(found.content, FrameworkContent), found.status, found.content_hash


async def _resolve(
    conn: asyncpg.Connection, content: AssessmentContent, calibrations: CalibrationLookup | None = None
) -> tuple[Resolved, dict[str, bank.ItemVersion], str | None]:
    framework, status, digest = await _framework_version(
        conn, content.framework.code, content.framework.version
    )
    versions = await bank.pinned_versions(conn, {ref.code: ref.version for _, ref in item_refs(content)})
    units = await org_units.existing_codes(conn, content.audience.org_units)
    people = await persons.existing_external_ids(conn, content.audience.people)
    pinned = [s.adaptive.calibration for s in content.sections if s.adaptive is not None]
    found = Resolved(
        framework,
        status,
        {code: (v.version, v.status, v.content) for code, v in versions.items()},
        units,
        people,
        await calibrations(conn, pinned) if pinned and calibrations is not None else {},
    )
    return found, versions, digest


async def check(
    conn: asyncpg.Connection, code: str, *, calibrations: CalibrationLookup | None = None
) -> PublishReport:
    current = await get_assessment(conn, code)
    found, _, _ = await _resolve(conn, current.content, calibrations)
    problems = validate_assessment(current.content, found, datetime.now(UTC))
    return PublishReport(valid=not problems, problems=problems)


def form_item(item: Item, version: int) -> FormItem:
    primary = max(item.loadings, key=lambda loading: loading.weight).indicator
    kind = kind_of(item)
    return FormItem(
        item.code, version, primary, tuple(option_keys(item)), kind.shuffle(item), kind.avoid_order(item)
    )


async def draft_forms(conn: asyncpg.Connection, content: AssessmentContent) -> dict[str, FormItem]:
    """A draft's items at the versions it names, or their latest: what publishing now would pin.
    For previews; 422 naming every reference to an item (or version) that does not exist."""
    refs = item_refs(content)
    versions = await bank.pinned_versions(conn, {ref.code: ref.version for _, ref in refs})
    missing = [
        FieldError(
            msg("no item '{code}' with version {version}", code=ref.code, version=ref.version)
            if ref.version
            else msg("no item '{code}'", code=ref.code),
            f"{pointer}/code",
        )
        for pointer, ref in refs
        if ref.code not in versions
    ]
    if missing:
        raise Unprocessable(msg("the draft names items that do not exist, so no form can be drawn"), missing)
    return {code: form_item(v.content, v.version) for code, v in versions.items()}


async def publish(
    conn: asyncpg.Connection, code: str, if_match: str, *, calibrations: CalibrationLookup | None = None
) -> Assessment:
    """Validate, pin the framework version (with its hash) and every item version, lock those versions."""
    current = await get_assessment(conn, code, for_update=True)
    _check_draft(current, if_match)
    found, versions, digest = await _resolve(conn, current.content, calibrations)
    problems = validate_assessment(current.content, found, datetime.now(UTC))
    if problems:
        raise Unprocessable(
            msg(
                "assessment '{code}' has {count} problem(s); it stays a draft", code=code, count=len(problems)
            ),
            problems,
        )
    content = current.content
    pinned = msgspec.structs.replace(
        content,
        framework=msgspec.structs.replace(content.framework, content_hash=digest),
        sections=[
            msgspec.structs.replace(
                section,
                items=[
                    msgspec.structs.replace(ref, version=versions[ref.code].version) for ref in section.items
                ],
                pool=None
                if section.pool is None
                else msgspec.structs.replace(
                    section.pool,
                    items=[
                        msgspec.structs.replace(ref, version=versions[ref.code].version)
                        for ref in section.pool.items
                    ],
                ),
                adaptive=None
                if section.adaptive is None
                else msgspec.structs.replace(
                    section.adaptive,
                    items=[
                        msgspec.structs.replace(ref, version=versions[ref.code].version)
                        for ref in section.adaptive.items
                    ],
                    pretest=None
                    if section.adaptive.pretest is None
                    else msgspec.structs.replace(
                        section.adaptive.pretest,
                        items=[
                            msgspec.structs.replace(ref, version=versions[ref.code].version)
                            for ref in section.adaptive.pretest.items
                        ],
                    ),
                ),
            )
            for section in content.sections
        ],
    )
    forms = {c: msgspec.to_builtins(form_item(v.content, v.version)) for c, v in versions.items()}
    await bank.lock_versions(conn, list(versions.values()))
    await conn.execute(
        """UPDATE assessments SET status = 'published', content = $2, forms = $3, published_at = now(),
                  updated_at = now(), revision = revision + 1 WHERE id = $1""",
        current.id,
        msgspec.to_builtins(pinned),
        forms,
    )
    return await get_assessment(conn, code)


async def close(conn: asyncpg.Connection, code: str) -> Assessment:
    """No new attempts start; running attempts run to their deadlines."""
    current = await get_assessment(conn, code, for_update=True)
    if current.status == "draft":
        raise Conflict(msg("assessment '{code}' is a draft: delete it instead of closing it", code=code))
    if current.status == "published":
        await conn.execute(
            "UPDATE assessments SET status = 'closed', closed_at = now(), updated_at = now() WHERE id = $1",
            current.id,
        )
    return await get_assessment(conn, code)


async def store_accommodation(
    conn: asyncpg.Connection, code: str, external_id: str, data: AccommodationSet
) -> tuple[Accommodation, UUID, UUID, Decimal]:
    """Set a person's extra-time factor: the accommodation (without a deadline), the assessment's and the
    person's ids and the factor, for delivery to move a running attempt's deadline at once
    (service/delivery/attempts.py, `set_accommodation`)."""
    assessment_id = await conn.fetchval("SELECT id FROM assessments WHERE code = $1", code)
    if assessment_id is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    person_id = await persons.id_by_external_id(conn, external_id)
    if person_id is None:
        raise NotFound(msg("no person '{external_id}'", external_id=external_id))
    factor = Decimal(str(round(data.extra_time_factor, 2)))
    row = await conn.fetchrow(
        """INSERT INTO accommodations (assessment_id, person_id, extra_time_factor, note) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, assessment_id, person_id) DO UPDATE
             SET extra_time_factor = excluded.extra_time_factor, note = excluded.note, updated_at = now()
           RETURNING extra_time_factor, note, updated_at""",
        assessment_id,
        person_id,
        factor,
        data.note,
    )
    return (
        Accommodation(external_id, float(row["extra_time_factor"]), row["note"], row["updated_at"]),
        assessment_id,
        person_id,
        factor,
    )


async def list_accommodations(
    conn: asyncpg.Connection, code: str, *, after: str | None, limit: int
) -> list[Accommodation]:
    assessment_id = await conn.fetchval("SELECT id FROM assessments WHERE code = $1", code)
    if assessment_id is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    # Granted one person at a time: an assessment's accommodations are few, read whole, and paged
    # in the order of their people's external ids (the owner of people's).
    granted = {
        r["person_id"]: r
        for r in await conn.fetch(
            "SELECT person_id, extra_time_factor, note, updated_at FROM accommodations WHERE assessment_id = $1",
            assessment_id,
        )
    }
    if not granted:
        return []
    page = await persons.external_ids_page(conn, list(granted), after=after, limit=limit)
    return [
        Accommodation(
            external_id,
            float(granted[person_id]["extra_time_factor"]),
            granted[person_id]["note"],
            granted[person_id]["updated_at"],
        )
        for person_id, external_id in page
    ]


# Reads other packages make of assessments (delivery, results, aggregates, the demo), so the SQL on
# `assessments` stays here.


def assessment_facts(tenant: str, assessment: str) -> str:
    """SQL for a LATERAL sub-query of one row: what a candidate's reads of an attempt need of its
    assessment (`tenant`, `assessment`: the SQL of the tenant's and the assessment's ids): `code`,
    `title`, `instructions`, `adaptive` (whether a section is adaptive), the whole `content` and
    `closed_at`. A sub-query so simple that the planner joins it as it would the table: one read
    stays one query."""
    return f"""(SELECT o.code, o.content->'title' AS title, o.content->'instructions' AS instructions,
                jsonb_path_exists(o.content, '$.sections[*].adaptive') AS adaptive, o.content, o.closed_at
         FROM assessments o WHERE o.tenant_id = {tenant} AND o.id = {assessment})"""


def id_of_code(code: str) -> str:
    """SQL of the id of the assessment with this code (`code`: its SQL, usually a parameter)."""
    return f"(SELECT o.id FROM assessments o WHERE o.code = {code})"


async def id_by_code(conn: asyncpg.Connection, code: str) -> UUID | None:
    """The assessment's id, None if there is no assessment with this code."""
    return await conn.fetchval("SELECT id FROM assessments WHERE code = $1", code)


async def contents_as_text(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, str]:
    """The content of these assessments as JSON text, by id (decoded by the caller into its own type)."""
    rows = await conn.fetch(
        "SELECT id, content::text AS content FROM assessments WHERE id = ANY($1::uuid[])", ids
    )
    return {row["id"]: row["content"] for row in rows}


async def codes_by_id(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, str]:
    """The codes of these assessments, by id (those that do not exist are left out)."""
    rows = await conn.fetch("SELECT id, code FROM assessments WHERE id = ANY($1::uuid[])", ids)
    return {row["id"]: row["code"] for row in rows}


async def stored_by_code(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    """The assessment's id, status and content (as stored: JSON), None if there is no such assessment."""
    return await conn.fetchrow("SELECT id, status, content FROM assessments WHERE code = $1", code)


async def content_and_forms(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    """The assessment's status, content and forms (NULL for a draft) as stored, None if there is none."""
    return await conn.fetchrow("SELECT status, content, forms FROM assessments WHERE code = $1", code)


async def delivered(
    conn: asyncpg.Connection, code: str | None = None, known: dict[UUID, int] | None = None
) -> list[asyncpg.Record]:
    """Published and closed assessments (or the one with this code), by code: tenant_id, id, code, status,
    revision, content and forms as stored, for delivery to decide whose audience includes a person.
    `known` maps ids to the revision the caller already holds: those rows come without content and forms
    (NULL), which every change of either replaces with a new revision."""
    known = known or {}
    return await conn.fetch(
        """SELECT a.tenant_id, a.id, a.code, a.status, a.revision,
                  CASE WHEN k.id IS NULL THEN a.content END AS content,
                  CASE WHEN k.id IS NULL THEN a.forms END AS forms
           FROM assessments a LEFT JOIN unnest($2::uuid[], $3::int[]) AS k(id, revision)
                ON k.id = a.id AND k.revision = a.revision
           WHERE a.status IN ('published', 'closed') AND ($1::text IS NULL OR a.code = $1) ORDER BY a.code""",
        code,
        list(known),
        list(known.values()),
    )


async def extra_time_factors(conn: asyncpg.Connection, person_id: UUID) -> dict[UUID, float]:
    """The person's extra-time factor per assessment that grants one."""
    rows = await conn.fetch(
        "SELECT assessment_id, extra_time_factor FROM accommodations WHERE person_id = $1", person_id
    )
    return {row["assessment_id"]: float(row["extra_time_factor"]) for row in rows}


async def extra_time_factor(conn: asyncpg.Connection, assessment_id: UUID, person_id: UUID) -> Decimal | None:
    """The person's extra-time factor in this assessment, exactly as stored (None: no accommodation)."""
    return await conn.fetchval(
        "SELECT extra_time_factor FROM accommodations WHERE assessment_id = $1 AND person_id = $2",
        assessment_id,
        person_id,
    )
