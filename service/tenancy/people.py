"""People: a tenant's cadres and teachers, keyed by their HR system's id.

Only what assessment needs is kept: the external id, the org unit, the category and an
optional display name.

`PUT` replaces the whole record (a field left out takes its default), so the HR system's
full rows stay the source of truth; `PATCH` is a JSON merge patch (RFC 7396): only the fields
sent change, `null` removes an optional one; the patch is one UPDATE of those columns alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import msgspec

from service.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from service.i18n import msg
from service.tenancy import tenants
from service.tenancy.fields import EXTERNAL_ID, Category, Code, ExternalId, Name
from service.tenancy.org_units import ids_by_code, subtree_bounds, subtree_ids, unit_facts

MAX_BULK_PEOPLE = 10_000


class PersonUpsert(msgspec.Struct, forbid_unknown_fields=True):
    org_unit_code: Code | None = None
    category: Category = "unspecified"
    display_name: Name | None = None
    active: bool = True


class PersonPatch(msgspec.Struct, forbid_unknown_fields=True):
    """A JSON merge patch: a field left out keeps its value; null removes the unit or the display name.

    Category and active may not be null (they always have a value); the types admit null only so
    that the refusal can name the field."""

    org_unit_code: Code | msgspec.UnsetType | None = msgspec.UNSET
    category: Category | msgspec.UnsetType | None = msgspec.UNSET
    display_name: Name | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType | None = msgspec.UNSET


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


_SELECT = f"""
    SELECT p.id, p.external_id, u.code AS org_unit_code, p.category, p.display_name, p.active,
           p.created_at, p.updated_at
    FROM people p LEFT JOIN LATERAL {unit_facts("p.tenant_id", "p.org_unit_id")} u ON true
"""

_UPSERT = """
    INSERT INTO people (external_id, org_unit_id, category, display_name, active)
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::boolean[])
    ON CONFLICT (tenant_id, external_id) DO UPDATE SET
        org_unit_id = excluded.org_unit_id, category = excluded.category,
        display_name = excluded.display_name, active = excluded.active, updated_at = now()
    RETURNING (xmax = 0) AS created
"""


_LOCK_EXISTING = """
    SELECT 1 FROM people WHERE external_id = ANY($1::text[]) ORDER BY tenant_id, id FOR NO KEY UPDATE
"""


async def get_person(conn: asyncpg.Connection, external_id: str) -> Person:
    row = await conn.fetchrow(_SELECT + " WHERE p.external_id = $1", external_id)
    if row is None:
        raise NotFound(msg("no person '{external_id}'", external_id=external_id))
    return msgspec.convert(dict(row), Person)


async def list_people(
    conn: asyncpg.Connection,
    *,
    under: str | None,
    category: str | None,
    active: bool | None,
    after: str | None,
    limit: int,
) -> list[Person]:
    low, high = await subtree_bounds(conn, under)
    rows = await conn.fetch(
        _SELECT
        + """
        WHERE ($1::text IS NULL OR (u.path >= $1 AND u.path < $2))
          AND ($3::text IS NULL OR p.category = $3)
          AND ($4::boolean IS NULL OR p.active = $4)
          AND ($5::text IS NULL OR p.external_id > $5)
        ORDER BY p.external_id LIMIT $6""",
        low,
        high,
        category,
        active,
        after,
        limit,
    )
    return [msgspec.convert(dict(r), Person) for r in rows]


async def count_audience(
    conn: asyncpg.Connection, *, org_units: list[str], categories: list[str], people: list[str]
) -> int:
    """How many active people an assessment's audience reaches: the rule of
    `service.assessments.audience.includes` (named people always; else the unit subtrees and the
    categories that are given must both match) as one count, so a picker can show it as it changes.
    Inactive people are left out: they cannot sign in to take it. Unknown codes reach nobody."""
    return int(
        await conn.fetchval(
            f"""WITH units AS (  -- every unit in the listed subtrees, once: a hashed set, not a probe per person
                 {subtree_ids("$1::text[]")})
               SELECT count(*) FROM people p
               WHERE p.active AND (
                 p.external_id = ANY($3::text[])
                 OR ((cardinality($1::text[]) > 0 OR cardinality($2::text[]) > 0)
                     AND (cardinality($1::text[]) = 0 OR p.org_unit_id IN (SELECT id FROM units))
                     AND (cardinality($2::text[]) = 0 OR p.category = ANY($2::text[]))))""",
            org_units,
            categories,
            people,
        )
    )


async def _unit_ids(conn: asyncpg.Connection, codes: set[str]) -> dict[str, uuid.UUID]:
    return await ids_by_code(conn, codes)


async def upsert_person(
    conn: asyncpg.Connection, external_id: str, data: PersonUpsert
) -> tuple[Person, bool]:
    """Create or replace one person. Returns the person and whether it was created."""
    units = await _unit_ids(conn, {data.org_unit_code} if data.org_unit_code else set())
    if data.org_unit_code and data.org_unit_code not in units:
        raise Unprocessable(
            msg("no org unit '{code}'", code=data.org_unit_code),
            [FieldError(msg("no org unit '{code}'", code=data.org_unit_code), "/org_unit_code")],
        )
    created = await conn.fetchval(
        _UPSERT,
        [external_id],
        [units.get(data.org_unit_code or "")],
        [data.category],
        [data.display_name],
        [data.active],
    )
    return await get_person(conn, external_id), bool(created)


async def patch_person(conn: asyncpg.Connection, external_id: str, data: PersonPatch) -> Person:
    """Change only the fields sent (RFC 7396); 404 for a person not yet created (PUT creates)."""
    sent = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    nulled = [
        FieldError(
            msg("'{field}' is required and cannot be removed (null); send a value or leave it out", field=k),
            f"/{k}",
        )
        for k in ("category", "active")
        if k in sent and sent[k] is None
    ]
    if nulled:
        raise Unprocessable(msg("a required field cannot be null"), nulled)
    unit_id = None
    code = sent.get("org_unit_code")
    if code is not None:
        unit_id = (await _unit_ids(conn, {code})).get(code)
        if unit_id is None:
            raise Unprocessable(
                msg("no org unit '{code}'", code=code),
                [FieldError(msg("no org unit '{code}'", code=code), "/org_unit_code")],
            )
    updated = await conn.fetchval(
        """UPDATE people SET org_unit_id = CASE WHEN $2 THEN $3 ELSE org_unit_id END,
                             category = CASE WHEN $4 THEN $5 ELSE category END,
                             display_name = CASE WHEN $6 THEN $7 ELSE display_name END,
                             active = CASE WHEN $8 THEN $9 ELSE active END, updated_at = now()
           WHERE external_id = $1 RETURNING id""",
        external_id,
        "org_unit_code" in sent,
        unit_id,
        "category" in sent,
        sent.get("category"),
        "display_name" in sent,
        sent.get("display_name"),
        "active" in sent,
        sent.get("active"),
    )
    if updated is None:
        raise NotFound(msg("no person '{external_id}' (PUT creates one)", external_id=external_id))
    return await get_person(conn, external_id)


async def bulk_upsert_people(conn: asyncpg.Connection, data: PeopleBulkUpsert) -> BulkResult:
    """Upsert thousands of people in one statement; any bad row rejects the whole batch."""
    rows = data.people
    if not rows:
        raise Unprocessable(
            msg("nothing to upsert"), [FieldError(msg("must hold at least one person"), "/people")]
        )
    if len(rows) > MAX_BULK_PEOPLE:
        raise Unprocessable(
            msg("too many people"),
            [FieldError(msg("at most {limit} per request", limit=MAX_BULK_PEOPLE), "/people")],
        )
    units = await _unit_ids(conn, {r.org_unit_code for r in rows if r.org_unit_code})
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.external_id in seen:
            errors.append(
                FieldError(
                    msg(
                        "'{external_id}' appears twice (first at /people/{first})",
                        external_id=row.external_id,
                        first=seen[row.external_id],
                    ),
                    f"/people/{i}/external_id",
                )
            )
        else:
            seen[row.external_id] = i
        if row.org_unit_code and row.org_unit_code not in units:
            errors.append(
                FieldError(msg("no org unit '{code}'", code=row.org_unit_code), f"/people/{i}/org_unit_code")
            )
    if errors:
        raise Unprocessable(msg("{count} row(s) rejected; nothing was written", count=len(errors)), errors)
    # Lock order: the people already there, in key order and in the upsert's own mode, before the upsert
    # (which would lock them in the request's order), as the tally triggers read people (FOR SHARE, key
    # order: 0030, 0032). Else a bulk upsert holding a later person while it waits for an earlier one, held
    # by a deadline sweep's trigger waiting for that later person, is a deadlock (PostgreSQL aborts one: a
    # 500 or a failed sweep). New people are inserted in external-id order, so two bulk upserts of the same
    # new ids wait, not deadlock.
    await conn.execute(_LOCK_EXISTING, [r.external_id for r in rows])
    rows = sorted(rows, key=lambda r: r.external_id)
    created = await conn.fetch(
        _UPSERT,
        [r.external_id for r in rows],
        [units.get(r.org_unit_code or "") for r in rows],
        [r.category for r in rows],
        [r.display_name for r in rows],
        [r.active for r in rows],
    )
    new = sum(1 for r in created if r["created"])
    return BulkResult(created=new, updated=len(rows) - new)


async def person_for_sign_in(conn: asyncpg.Connection, external_id: str) -> Person:
    """The candidate behind a token: provisioned and active, or created now if the tenant allows it.

    One query on the path every candidate request takes; the tenant's setting is read only
    for a person not seen before."""
    if len(external_id) > 128 or not EXTERNAL_ID.match(external_id):
        # Such a person could sign in but never be addressed by /v1/people/{external_id}.
        raise NotProvisioned(
            msg("the token's subject is not a valid external id (letters, digits, . _ : @ -; at most 128)")
        )
    row = await conn.fetchrow(_SELECT + " WHERE p.external_id = $1", external_id)
    if row is None:
        if not await tenants.auto_provisions_people(conn):
            raise NotProvisioned(
                msg("person '{external_id}' is not provisioned in this tenant", external_id=external_id)
            )
        await conn.execute("INSERT INTO people (external_id) VALUES ($1) ON CONFLICT DO NOTHING", external_id)
        return await get_person(conn, external_id)
    person = msgspec.convert(dict(row), Person)
    if not person.active:
        raise Deactivated(msg("person '{external_id}' is deactivated", external_id=external_id))
    return person


async def leave_unit(conn: asyncpg.Connection, unit_id: uuid.UUID, code: str) -> None:
    """409 if anyone is in the unit (it is about to be deleted: `org_units.deletable`)."""
    if await conn.fetchval("SELECT 1 FROM people WHERE org_unit_id = $1 LIMIT 1", unit_id):
        raise Conflict(msg("org unit '{code}' has people: move them first", code=code))


def person_facts(tenant: str, person: str) -> str:
    """SQL for a LATERAL sub-query of one row, for one-query reads whose main table is another
    owner's: the person's `external_id`, `org_unit_id`, `category` (`tenant`, `person`: the SQL of
    the tenant's and the person's ids)."""
    return f"""(SELECT o.external_id, o.org_unit_id, o.category FROM people o
         WHERE o.tenant_id = {tenant} AND o.id = {person})"""


def active_people() -> str:
    """SQL of a sub-query over the tenant's active people, for one-query reads that count or list them
    with other owners' rows: `tenant_id`, `id`, `external_id`, `display_name`, `org_unit_id`,
    `category` (the planner flattens it: the plan is that of the table itself)."""
    return """(SELECT o.tenant_id, o.id, o.external_id, o.display_name, o.org_unit_id, o.category
         FROM people o WHERE o.active)"""


def unit_of(tenant: str, person: str) -> str:
    """SQL of the person's org unit id (NULL: in no unit)."""
    return f"(SELECT o.org_unit_id FROM people o WHERE o.tenant_id = {tenant} AND o.id = {person})"


async def external_ids_page(
    conn: asyncpg.Connection, person_ids: list[uuid.UUID], *, after: str | None, limit: int
) -> list[tuple[uuid.UUID, str]]:
    """Of these people, (id, external id) of the page after `after` in external id order."""
    rows = await conn.fetch(
        "SELECT id, external_id FROM people WHERE id = ANY($1::uuid[]) AND ($2::text IS NULL OR external_id > $2) "
        "ORDER BY external_id LIMIT $3",
        person_ids,
        after,
        limit,
    )
    return [(row["id"], row["external_id"]) for row in rows]


async def existing_external_ids(conn: asyncpg.Connection, external_ids: list[str]) -> set[str]:
    """Which of these HR ids name a person."""
    rows = await conn.fetch(
        "SELECT external_id FROM people WHERE external_id = ANY($1::text[])", external_ids
    )
    return {row["external_id"] for row in rows}


async def id_by_external_id(conn: asyncpg.Connection, external_id: str) -> uuid.UUID | None:
    return await conn.fetchval("SELECT id FROM people WHERE external_id = $1", external_id)
