"""People: a tenant's cadres and teachers, keyed by their HR system's id.

Only what assessment needs is kept: the external id, the org unit, the category and an
optional display name.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import msgspec

from service.errors import FieldError, Forbidden, NotFound, Unprocessable
from service.i18n import msg
from service.tenancy.org_units import subtree_bounds
from service.tenancy.fields import EXTERNAL_ID, Category, Code, ExternalId, Name

MAX_BULK_PEOPLE = 10_000


class PersonUpsert(msgspec.Struct, forbid_unknown_fields=True):
    org_unit_code: Code | None = None
    category: Category = "unspecified"
    display_name: Name | None = None
    active: bool = True


class PersonBulkRow(PersonUpsert, forbid_unknown_fields=True, kw_only=True):
    external_id: ExternalId


class PeopleBulkUpsert(msgspec.Struct, forbid_unknown_fields=True):
    people: list[PersonBulkRow]


class NotProvisioned(Forbidden):
    slug, title = "person-not-provisioned", msg("This person is not provisioned in this tenant")


class Deactivated(Forbidden):
    slug, title = "person-deactivated", msg("This person is deactivated")


class Person(msgspec.Struct):
    id: uuid.UUID
    external_id: str
    org_unit_code: str | None
    category: str
    display_name: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class BulkResult(msgspec.Struct):
    created: int
    updated: int


_SELECT = """
    SELECT p.id, p.external_id, u.code AS org_unit_code, p.category, p.display_name, p.active,
           p.created_at, p.updated_at
    FROM people p LEFT JOIN org_units u ON u.tenant_id = p.tenant_id AND u.id = p.org_unit_id
"""

_UPSERT = """
    INSERT INTO people (external_id, org_unit_id, category, display_name, active)
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::boolean[])
    ON CONFLICT (tenant_id, external_id) DO UPDATE SET
        org_unit_id = excluded.org_unit_id, category = excluded.category,
        display_name = excluded.display_name, active = excluded.active, updated_at = now()
    RETURNING (xmax = 0) AS created
"""


async def get_person(conn: asyncpg.Connection, external_id: str) -> Person:
    row = await conn.fetchrow(_SELECT + " WHERE p.external_id = $1", external_id)
    if row is None:
        raise NotFound(msg("no person '{external_id}'", external_id=external_id))
    return msgspec.convert(dict(row), Person)


async def list_people(conn: asyncpg.Connection, *, under: str | None, category: str | None,
                      active: bool | None, after: str | None, limit: int) -> list[Person]:
    low, high = await subtree_bounds(conn, under)
    rows = await conn.fetch(
        _SELECT + """
        WHERE ($1::text IS NULL OR (u.path >= $1 AND u.path < $2))
          AND ($3::text IS NULL OR p.category = $3)
          AND ($4::boolean IS NULL OR p.active = $4)
          AND ($5::text IS NULL OR p.external_id > $5)
        ORDER BY p.external_id LIMIT $6""",
        low, high, category, active, after, limit,
    )
    return [msgspec.convert(dict(r), Person) for r in rows]


async def _unit_ids(conn: asyncpg.Connection, codes: set[str]) -> dict[str, uuid.UUID]:
    rows = await conn.fetch("SELECT code, id FROM org_units WHERE code = ANY($1::text[])", list(codes))
    return {r["code"]: r["id"] for r in rows}


async def upsert_person(conn: asyncpg.Connection, external_id: str, data: PersonUpsert) -> tuple[Person, bool]:
    """Create or replace one person. Returns the person and whether it was created."""
    units = await _unit_ids(conn, {data.org_unit_code} if data.org_unit_code else set())
    if data.org_unit_code and data.org_unit_code not in units:
        raise Unprocessable(msg("no org unit '{code}'", code=data.org_unit_code),
                            [FieldError(msg("no org unit '{code}'",
                                            code=data.org_unit_code), "/org_unit_code")])
    created = await conn.fetchval(
        _UPSERT, [external_id], [units.get(data.org_unit_code or "")], [data.category], [data.display_name],
        [data.active],
    )
    return await get_person(conn, external_id), bool(created)


async def bulk_upsert_people(conn: asyncpg.Connection, data: PeopleBulkUpsert) -> BulkResult:
    """Upsert thousands of people in one statement; any bad row rejects the whole batch."""
    rows = data.people
    if not rows:
        raise Unprocessable(msg("nothing to upsert"), [FieldError(msg("must hold at least one person"),
                                                                  "/people")])
    if len(rows) > MAX_BULK_PEOPLE:
        raise Unprocessable(msg("too many people"), [FieldError(msg("at most {limit} per request",
                                                                    limit=MAX_BULK_PEOPLE), "/people")])
    units = await _unit_ids(conn, {r.org_unit_code for r in rows if r.org_unit_code})
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.external_id in seen:
            errors.append(FieldError(msg("'{external_id}' appears twice (first at /people/{first})",
                                         external_id=row.external_id, first=seen[row.external_id]),
                                     f"/people/{i}/external_id"))
        else:
            seen[row.external_id] = i
        if row.org_unit_code and row.org_unit_code not in units:
            errors.append(FieldError(msg("no org unit '{code}'", code=row.org_unit_code),
                                     f"/people/{i}/org_unit_code"))
    if errors:
        raise Unprocessable(msg("{count} row(s) rejected; nothing was written", count=len(errors)), errors)
    created = await conn.fetch(
        _UPSERT, [r.external_id for r in rows], [units.get(r.org_unit_code or "") for r in rows],
        [r.category for r in rows], [r.display_name for r in rows], [r.active for r in rows],
    )
    new = sum(1 for r in created if r["created"])
    return BulkResult(created=new, updated=len(rows) - new)


async def person_for_sign_in(conn: asyncpg.Connection, external_id: str) -> Person:
    """The candidate behind a token: provisioned and active, or created now if the tenant allows it.

    One query on the path every candidate request takes; the tenant's setting is read only
    for a person not seen before."""
    if len(external_id) > 128 or not EXTERNAL_ID.match(external_id):
        # Such a person could sign in but never be addressed by /v1/people/{external_id}.
        raise NotProvisioned(msg("the token's subject is not a valid external id (letters, digits, . _ : @ "
                                 "-; at most 128)"))
    row = await conn.fetchrow(_SELECT + " WHERE p.external_id = $1", external_id)
    if row is None:
        if not await conn.fetchval("SELECT auto_provision_people FROM tenants"):
            raise NotProvisioned(msg("person '{external_id}' is not provisioned in this tenant",
                                     external_id=external_id))
        await conn.execute("INSERT INTO people (external_id) VALUES ($1) ON CONFLICT DO NOTHING", external_id)
        return await get_person(conn, external_id)
    person = msgspec.convert(dict(row), Person)
    if not person.active:
        raise Deactivated(msg("person '{external_id}' is deactivated", external_id=external_id))
    return person
