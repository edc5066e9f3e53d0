"""Tenants: the regional departments. Created and suspended by the platform operator."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import msgspec

from service.errors import FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.tenancy.fields import Name, Slug

TenantStatus = Literal["active", "suspended"]


MinGroupSize = Annotated[
    int,
    msgspec.Meta(
        ge=2, le=1000, description="Privacy threshold k: aggregate cells of fewer people are withheld"
    ),
]
TimeZone = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        examples=["Asia/Shanghai"],
        description="IANA time zone that weeks and months are counted in",
    ),
]


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    name: Name
    auto_provision_people: bool = False
    min_group_size: MinGroupSize = 5
    timezone: TimeZone = "Asia/Shanghai"


class TenantUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    status: TenantStatus | msgspec.UnsetType = msgspec.UNSET
    auto_provision_people: bool | msgspec.UnsetType = msgspec.UNSET
    min_group_size: MinGroupSize | msgspec.UnsetType = msgspec.UNSET
    timezone: TimeZone | msgspec.UnsetType = msgspec.UNSET


class Tenant(msgspec.Struct):
    id: UUID
    slug: str
    name: str
    status: TenantStatus
    auto_provision_people: bool
    min_group_size: int
    timezone: str
    created_at: datetime
    updated_at: datetime


_COLUMNS = "id, slug, name, status, auto_provision_people, min_group_size, timezone, created_at, updated_at"


def _check_timezone(name: str | None) -> None:
    if name is None:
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(
            msg("unknown time zone"),
            [FieldError(msg("'{name}' is not an IANA time zone", name=name), "/timezone")],
        ) from None


def _tenant(row: asyncpg.Record | None, slug: str) -> Tenant:
    if row is None:
        raise NotFound(msg("no tenant '{slug}'", slug=slug))
    return msgspec.convert(dict(row), Tenant)


async def create_tenant(conn: asyncpg.Connection, data: TenantCreate) -> Tenant:
    _check_timezone(data.timezone)
    row = await conn.fetchrow(
        f"""INSERT INTO tenants (slug, name, auto_provision_people, min_group_size, timezone)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}""",
        data.slug,
        data.name,
        data.auto_provision_people,
        data.min_group_size,
        data.timezone,
    )
    return _tenant(row, data.slug)


async def get_tenant(conn: asyncpg.Connection, slug: str) -> Tenant:
    return _tenant(await conn.fetchrow(f"SELECT {_COLUMNS} FROM tenants WHERE slug = $1", slug), slug)


async def active_tenant_id(conn: asyncpg.Connection, slug: str) -> UUID | None:
    """The id of the active tenant with this slug, or None (a sign-in page's lookup, before any sign-in)."""
    return await conn.fetchval("SELECT id FROM tenants WHERE slug = $1 AND status = 'active'", slug)


async def get_tenant_by_id(conn: asyncpg.Connection, tenant_id: UUID) -> Tenant:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM tenants WHERE id = $1", tenant_id)
    return _tenant(row, str(tenant_id))


async def list_tenants(
    conn: asyncpg.Connection, *, status: str | None, after: str | None, limit: int
) -> list[Tenant]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM tenants
            WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR slug > $2)
            ORDER BY slug LIMIT $3""",
        status,
        after,
        limit,
    )
    return [msgspec.convert(dict(r), Tenant) for r in rows]


async def update_tenant(conn: asyncpg.Connection, slug: str, data: TenantUpdate) -> Tenant:
    changes = msgspec.structs.asdict(data)
    sent = {k: v for k, v in changes.items() if v is not msgspec.UNSET}
    _check_timezone(sent.get("timezone"))
    row = await conn.fetchrow(
        f"""UPDATE tenants SET
                name = CASE WHEN $2 THEN $3 ELSE name END,
                status = CASE WHEN $4 THEN $5 ELSE status END,
                auto_provision_people = CASE WHEN $6 THEN $7 ELSE auto_provision_people END,
                min_group_size = CASE WHEN $8 THEN $9 ELSE min_group_size END,
                timezone = CASE WHEN $10 THEN $11 ELSE timezone END,
                updated_at = now()
            WHERE slug = $1 RETURNING {_COLUMNS}""",
        slug,
        "name" in sent,
        sent.get("name"),
        "status" in sent,
        sent.get("status"),
        "auto_provision_people" in sent,
        sent.get("auto_provision_people"),
        "min_group_size" in sent,
        sent.get("min_group_size"),
        "timezone" in sent,
        sent.get("timezone"),
    )
    return _tenant(row, slug)


# Lookups other packages make (the sweepers, sign-in, aggregates' privacy floor), so that the SQL on
# `tenants` stays here. `operator` ones run on an operator or auth-lookup connection (every tenant),
# the others on a tenant-scoped one (the tenant in force).


async def tenant_ids(conn: asyncpg.Connection, *, active_only: bool = False) -> list[UUID]:
    """Every tenant's id (operator), or only the active ones'."""
    if active_only:
        return [row["id"] for row in await conn.fetch("SELECT id FROM tenants WHERE status = 'active'")]
    return [row["id"] for row in await conn.fetch("SELECT id FROM tenants")]


async def id_by_slug(conn: asyncpg.Connection, slug: str, *, active_only: bool = False) -> UUID | None:
    """The id of the tenant with this slug (operator or auth lookup), None if unknown (or not active)."""
    if active_only:
        return await conn.fetchval("SELECT id FROM tenants WHERE slug = $1 AND status = 'active'", slug)
    return await conn.fetchval("SELECT id FROM tenants WHERE slug = $1", slug)


async def status_of(conn: asyncpg.Connection, tenant_id: UUID) -> str | None:
    """The tenant's status (auth lookup), None if there is no such tenant."""
    return await conn.fetchval("SELECT status FROM tenants WHERE id = $1", tenant_id)


async def slugs_by_id(conn: asyncpg.Connection, tenant_ids: list[UUID]) -> dict[UUID, str]:
    """The slugs of these tenants, by id (those the connection cannot see are left out)."""
    rows = await conn.fetch("SELECT id, slug FROM tenants WHERE id = ANY($1::uuid[])", tenant_ids)
    return {row["id"]: row["slug"] for row in rows}


async def active_name(conn: asyncpg.Connection, tenant_id: UUID) -> str | None:
    """The tenant's name if it is active; None when suspended or unknown."""
    return await conn.fetchval("SELECT name FROM tenants WHERE id = $1 AND status = 'active'", tenant_id)


async def is_active(conn: asyncpg.Connection) -> bool:
    """Whether the connection's tenant is active (on a tenant-scoped connection, which sees one tenant)."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM tenants WHERE status = 'active')"))


async def min_group_size(conn: asyncpg.Connection) -> int:
    """The tenant in force's smallest group an aggregate may show."""
    return await conn.fetchval(
        "SELECT min_group_size FROM tenants WHERE id = current_setting('app.tenant_id')::uuid"
    )


async def auto_provisions_people(conn: asyncpg.Connection) -> bool:
    """Whether the tenant in force creates a person on their first sign-in."""
    return bool(await conn.fetchval("SELECT auto_provision_people FROM tenants"))


def tenant_facts(tenant: str) -> str:
    """SQL for a LATERAL sub-query of one row, for one-query reads of other owners: the tenant's
    `timezone` (`tenant`: the SQL of its id)."""
    return f"(SELECT o.timezone FROM tenants o WHERE o.id = {tenant})"
