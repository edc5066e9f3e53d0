"""Org units: a tenant's tree (province > city > county > township > village, or its own).

Every function runs on a tenant-scoped connection: row-level security supplies the
tenant, and inserts take `tenant_id` from the same setting. Structural changes (create,
move, import, delete) take a per-tenant advisory lock, so two concurrent moves can never
build a cycle.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import msgspec

from service.aggregates import rollups
from service.errors import Conflict, FieldError, NotFound, Unprocessable
from service.tenancy import tree
from service.tenancy.fields import Code, Level, Name

MAX_IMPORT_UNITS = 20_000


class OrgUnitCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name
    level: Level | None = None
    parent_code: Code | None = None


class OrgUnitUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    level: Level | None | msgspec.UnsetType = msgspec.UNSET


class OrgUnitMove(msgspec.Struct, forbid_unknown_fields=True):
    parent_code: Code | None = msgspec.field(default=None)


class OrgUnitImport(msgspec.Struct, forbid_unknown_fields=True):
    units: list[OrgUnitCreate]


class OrgUnit(msgspec.Struct):
    id: uuid.UUID
    code: str
    name: str
    level: str | None
    parent_code: str | None
    depth: int
    created_at: datetime
    updated_at: datetime


class ImportResult(msgspec.Struct):
    created: int


_SELECT = """
    SELECT u.id, u.code, u.name, u.level, p.code AS parent_code, u.depth, u.created_at, u.updated_at
    FROM org_units u LEFT JOIN org_units p ON p.tenant_id = u.tenant_id AND p.id = u.parent_id
"""


async def _lock_tree(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('org_tree:' || current_setting('app.tenant_id')))")


async def _placed(conn: asyncpg.Connection, code: str) -> tree.Placed | None:
    row = await conn.fetchrow("SELECT id, path, depth FROM org_units WHERE code = $1", code)
    return tree.Placed(row["id"], row["path"], row["depth"]) if row else None


async def _parent(conn: asyncpg.Connection, code: str | None, pointer: str) -> tree.Placed | None:
    if code is None:
        return None
    parent = await _placed(conn, code)
    if parent is None:
        raise Unprocessable(f"no org unit '{code}'", [FieldError(f"no org unit '{code}'", pointer)])
    return parent


async def get_org_unit(conn: asyncpg.Connection, code: str) -> OrgUnit:
    row = await conn.fetchrow(_SELECT + " WHERE u.code = $1", code)
    if row is None:
        raise NotFound(f"no org unit '{code}'")
    return msgspec.convert(dict(row), OrgUnit)


async def names_by_code(conn: asyncpg.Connection) -> dict[str, str]:
    """Every org unit's name by code (for exports that show names beside codes)."""
    return {row["code"]: row["name"] for row in await conn.fetch("SELECT code, name FROM org_units")}


async def subtree_bounds(conn: asyncpg.Connection, code: str | None) -> tuple[str | None, str | None]:
    """Path bounds of the subtree under the unit `code` (None, None: no filter); 404 for an unknown unit."""
    if code is None:
        return None, None
    root = await _placed(conn, code)
    if root is None:
        raise NotFound(f"no org unit '{code}'")
    return tree.subtree_range(root.path)


async def list_org_units(conn: asyncpg.Connection, *, under: str | None, parent: str | None, level: str | None,
                         after: str | None, limit: int) -> list[OrgUnit]:
    """Units ordered by code; `under` keeps a subtree (the unit and all below it), `parent` its children."""
    low, high = await subtree_bounds(conn, under)
    parent_id = None
    if parent is not None:
        parent_unit = await _placed(conn, parent)
        if parent_unit is None:
            raise NotFound(f"no org unit '{parent}'")
        parent_id = parent_unit.id
    rows = await conn.fetch(
        _SELECT + """
        WHERE ($1::text IS NULL OR (u.path >= $1 AND u.path < $2))
          AND ($3::uuid IS NULL OR u.parent_id = $3)
          AND ($4::text IS NULL OR u.level = $4)
          AND ($5::text IS NULL OR u.code > $5)
        ORDER BY u.code LIMIT $6""",
        low, high, parent_id, level, after, limit,
    )
    return [msgspec.convert(dict(r), OrgUnit) for r in rows]


async def create_org_unit(conn: asyncpg.Connection, data: OrgUnitCreate) -> OrgUnit:
    await _lock_tree(conn)
    parent = await _parent(conn, data.parent_code, "/parent_code")
    unit_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO org_units (id, code, name, level, parent_id, path, depth) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        unit_id, data.code, data.name, data.level, parent.id if parent else None,
        tree.child_path(parent.path if parent else None, unit_id), parent.depth + 1 if parent else 0,
    )
    return await get_org_unit(conn, data.code)


async def update_org_unit(conn: asyncpg.Connection, code: str, data: OrgUnitUpdate) -> OrgUnit:
    sent = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    updated = await conn.fetchval(
        """UPDATE org_units SET name = CASE WHEN $2 THEN $3 ELSE name END,
                                level = CASE WHEN $4 THEN $5 ELSE level END, updated_at = now()
           WHERE code = $1 RETURNING id""",
        code, "name" in sent, sent.get("name"), "level" in sent, sent.get("level"),
    )
    if updated is None:
        raise NotFound(f"no org unit '{code}'")
    return await get_org_unit(conn, code)


async def move_org_unit(conn: asyncpg.Connection, code: str, data: OrgUnitMove) -> OrgUnit:
    await _lock_tree(conn)
    unit = await _placed(conn, code)
    if unit is None:
        raise NotFound(f"no org unit '{code}'")
    parent = await _parent(conn, data.parent_code, "/parent_code")
    if parent is not None and tree.is_within(parent.path, unit.path):
        raise Unprocessable("a unit cannot move under itself",
                            [FieldError(f"'{data.parent_code}' is '{code}' or lies below it", "/parent_code")])
    new_path = tree.child_path(parent.path if parent else None, unit.id)
    new_depth = parent.depth + 1 if parent else 0
    low, high = tree.subtree_range(unit.path)
    await conn.execute(
        """UPDATE org_units SET path = $3 || substr(path, length($1) + 1), depth = depth + $4, updated_at = now()
           WHERE path >= $1 AND path < $2""",
        low, high, new_path, new_depth - unit.depth,
    )
    await conn.execute("UPDATE org_units SET parent_id = $2 WHERE id = $1", unit.id, parent.id if parent else None)
    await rollups.move_unit(conn, unit.id, unit.path, new_path)
    return await get_org_unit(conn, code)


async def delete_org_unit(conn: asyncpg.Connection, code: str) -> None:
    await _lock_tree(conn)
    unit = await _placed(conn, code)
    if unit is None:
        raise NotFound(f"no org unit '{code}'")
    if await conn.fetchval("SELECT 1 FROM org_units WHERE parent_id = $1 LIMIT 1", unit.id):
        raise Conflict(f"org unit '{code}' has child units: move or delete them first")
    if await conn.fetchval("SELECT 1 FROM people WHERE org_unit_id = $1 LIMIT 1", unit.id):
        raise Conflict(f"org unit '{code}' has people: move them first")
    if await rollups.has_results(conn, unit.id):
        raise Conflict(f"org unit '{code}' has assessment results counted in it: they stay where they were "
                       "submitted, so the unit must stay too")
    await rollups.forget_unit(conn, unit.id)
    await conn.execute("DELETE FROM org_units WHERE id = $1", unit.id)


async def import_org_units(conn: asyncpg.Connection, data: OrgUnitImport) -> ImportResult:
    """Insert a whole tree (or a branch under existing units) in one statement, or nothing."""
    if not data.units:
        raise Unprocessable("nothing to import", [FieldError("must hold at least one unit", "/units")])
    if len(data.units) > MAX_IMPORT_UNITS:
        raise Unprocessable("too many units", [FieldError(f"at most {MAX_IMPORT_UNITS} per import", "/units")])
    await _lock_tree(conn)
    codes = list({u.code for u in data.units} | {u.parent_code for u in data.units if u.parent_code})
    existing = {
        r["code"]: tree.Placed(r["id"], r["path"], r["depth"])
        for r in await conn.fetch("SELECT code, id, path, depth FROM org_units WHERE code = ANY($1::text[])", codes)
    }
    planned, errors = tree.plan_import([tree.ImportRow(u.code, u.parent_code) for u in data.units], existing)
    if errors:
        raise Unprocessable(f"{len(errors)} unit(s) cannot be imported; nothing was imported", errors)
    units = data.units
    await conn.execute(
        """INSERT INTO org_units (id, code, name, level, parent_id, path, depth)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::smallint[])""",
        [p.id for p in planned], [units[p.index].code for p in planned], [units[p.index].name for p in planned],
        [units[p.index].level for p in planned], [p.parent_id for p in planned], [p.path for p in planned],
        [p.depth for p in planned],
    )
    return ImportResult(created=len(planned))
