"""Org units: a tenant's tree (province > city > county > township > village, or its own).

Every function runs on a tenant-scoped connection: row-level security supplies the
tenant, and inserts take `tenant_id` from the same setting. Structural changes (create,
move, import, delete) take a per-tenant advisory lock, so two concurrent moves can never
build a cycle.

Import has three modes, each all or nothing with every problem named: `create` (every code
new), `upsert` (new codes created, known ones renamed, re-levelled, moved and reactivated)
and `sync` (an upsert of the whole tree: units not sent are deactivated, never deleted, since
their people and results must stay where they were).

Moves and deletes touch aggregates too; this package does not call them (it sits below them): a
move returns what moved (`Moved`), a delete is checked (`deletable`) then done (`remove`), and the
score pipeline (service/pipeline.py) keeps the rollups in step in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import asyncpg
import msgspec

from service.errors import Conflict, FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.tenancy import tree
from service.tenancy.fields import Code, Level, Name

MAX_IMPORT_UNITS = 20_000
ImportMode = Literal["create", "upsert", "sync"]


class OrgUnitCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name
    level: Level | None = None
    parent_code: Code | None = None


class OrgUnitUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    level: Level | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


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
    active: bool
    created_at: datetime
    updated_at: datetime


class ImportResult(msgspec.Struct):
    mode: ImportMode
    created: int
    updated: int = 0  # renamed, re-levelled, moved or reactivated
    unchanged: int = 0
    deactivated: int = 0  # sync only: units the import no longer holds


_SELECT = """
    SELECT u.id, u.code, u.name, u.level, p.code AS parent_code, u.depth, u.active, u.created_at, u.updated_at
    FROM org_units u LEFT JOIN org_units p ON p.tenant_id = u.tenant_id AND p.id = u.parent_id
"""


async def _lock_tree(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('org_tree:' || current_setting('app.tenant_id')))"
    )


async def _placed(conn: asyncpg.Connection, code: str) -> tree.Placed | None:
    row = await conn.fetchrow("SELECT id, path, depth FROM org_units WHERE code = $1", code)
    return tree.Placed(row["id"], row["path"], row["depth"]) if row else None


async def _parent(conn: asyncpg.Connection, code: str | None, pointer: str) -> tree.Placed | None:
    if code is None:
        return None
    parent = await _placed(conn, code)
    if parent is None:
        raise Unprocessable(
            msg("no org unit '{code}'", code=code),
            [FieldError(msg("no org unit '{code}'", code=code), pointer)],
        )
    return parent


async def get_org_unit(conn: asyncpg.Connection, code: str) -> OrgUnit:
    row = await conn.fetchrow(_SELECT + " WHERE u.code = $1", code)
    if row is None:
        raise NotFound(msg("no org unit '{code}'", code=code))
    return msgspec.convert(dict(row), OrgUnit)


async def names_by_code(conn: asyncpg.Connection) -> dict[str, str]:
    """Every org unit's name by code (for exports that show names beside codes)."""
    return {row["code"]: row["name"] for row in await conn.fetch("SELECT code, name FROM org_units")}


async def code_paths(conn: asyncpg.Connection, unit_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, ...]]:
    """Each unit's codes from its root down to itself (units that no longer exist are left out)."""
    rows = await conn.fetch("SELECT id, path FROM org_units WHERE id = ANY($1::uuid[])", unit_ids)
    ids = {uuid.UUID(part) for row in rows for part in row["path"].strip("/").split("/")}
    code_of = {
        row["id"]: row["code"]
        for row in await conn.fetch("SELECT id, code FROM org_units WHERE id = ANY($1::uuid[])", list(ids))
    }
    return {
        row["id"]: tuple(code_of[uuid.UUID(part)] for part in row["path"].strip("/").split("/"))
        for row in rows
    }


async def subtree_bounds(conn: asyncpg.Connection, code: str | None) -> tuple[str | None, str | None]:
    """Path bounds of the subtree under the unit `code` (None, None: no filter); 404 for an unknown unit."""
    if code is None:
        return None, None
    root = await _placed(conn, code)
    if root is None:
        raise NotFound(msg("no org unit '{code}'", code=code))
    return tree.subtree_range(root.path)


async def list_org_units(
    conn: asyncpg.Connection,
    *,
    under: str | None,
    parent: str | None,
    level: str | None,
    after: str | None,
    limit: int,
    active: bool | None = None,
    roots: bool = False,
) -> list[OrgUnit]:
    """Units ordered by code; `under` keeps a subtree (the unit and all below it), `parent` its children,
    `roots` the units without a parent."""
    low, high = await subtree_bounds(conn, under)
    parent_id = None
    if parent is not None:
        parent_unit = await _placed(conn, parent)
        if parent_unit is None:
            raise NotFound(msg("no org unit '{code}'", code=parent))
        parent_id = parent_unit.id
    rows = await conn.fetch(
        _SELECT
        + """
        WHERE ($1::text IS NULL OR (u.path >= $1 AND u.path < $2))
          AND ($3::uuid IS NULL OR u.parent_id = $3)
          AND ($4::text IS NULL OR u.level = $4)
          AND ($5::text IS NULL OR u.code > $5)
          AND ($7::boolean IS NULL OR u.active = $7)
          AND (NOT $8 OR u.parent_id IS NULL)
        ORDER BY u.code LIMIT $6""",
        low,
        high,
        parent_id,
        level,
        after,
        limit,
        active,
        roots,
    )
    return [msgspec.convert(dict(r), OrgUnit) for r in rows]


async def create_org_unit(conn: asyncpg.Connection, data: OrgUnitCreate) -> OrgUnit:
    await _lock_tree(conn)
    parent = await _parent(conn, data.parent_code, "/parent_code")
    unit_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO org_units (id, code, name, level, parent_id, path, depth) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        unit_id,
        data.code,
        data.name,
        data.level,
        parent.id if parent else None,
        tree.child_path(parent.path if parent else None, unit_id),
        parent.depth + 1 if parent else 0,
    )
    return await get_org_unit(conn, data.code)


async def update_org_unit(conn: asyncpg.Connection, code: str, data: OrgUnitUpdate) -> OrgUnit:
    sent = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    updated = await conn.fetchval(
        """UPDATE org_units SET name = CASE WHEN $2 THEN $3 ELSE name END,
                                level = CASE WHEN $4 THEN $5 ELSE level END,
                                active = CASE WHEN $6 THEN $7 ELSE active END, updated_at = now()
           WHERE code = $1 RETURNING id""",
        code,
        "name" in sent,
        sent.get("name"),
        "level" in sent,
        sent.get("level"),
        "active" in sent,
        sent.get("active"),
    )
    if updated is None:
        raise NotFound(msg("no org unit '{code}'", code=code))
    return await get_org_unit(conn, code)


class Moved(msgspec.Struct, frozen=True):
    """A unit moved with its subtree: its path before and after (aggregates follow it)."""

    unit_id: uuid.UUID
    old_path: str
    new_path: str


async def move_org_unit(conn: asyncpg.Connection, code: str, data: OrgUnitMove) -> tuple[OrgUnit, Moved]:
    await _lock_tree(conn)
    unit = await _placed(conn, code)
    if unit is None:
        raise NotFound(msg("no org unit '{code}'", code=code))
    parent = await _parent(conn, data.parent_code, "/parent_code")
    if parent is not None and tree.is_within(parent.path, unit.path):
        raise Unprocessable(
            msg("a unit cannot move under itself"),
            [
                FieldError(
                    msg(
                        "'{parent_code}' is '{code}' or lies below it",
                        parent_code=data.parent_code,
                        code=code,
                    ),
                    "/parent_code",
                )
            ],
        )
    moved = await _move(conn, unit, parent)
    return await get_org_unit(conn, code), moved


async def _move(conn: asyncpg.Connection, unit: tree.Placed, parent: tree.Placed | None) -> Moved:
    """Rewrite the subtree's paths and depths under the new parent (the caller moves its rollups)."""
    new_path = tree.child_path(parent.path if parent else None, unit.id)
    new_depth = parent.depth + 1 if parent else 0
    low, high = tree.subtree_range(unit.path)
    await conn.execute(
        """UPDATE org_units SET path = $3 || substr(path, length($1) + 1), depth = depth + $4, updated_at = now()
           WHERE path >= $1 AND path < $2""",
        low,
        high,
        new_path,
        new_depth - unit.depth,
    )
    await conn.execute(
        "UPDATE org_units SET parent_id = $2 WHERE id = $1", unit.id, parent.id if parent else None
    )
    return Moved(unit.id, unit.path, new_path)


async def deletable(conn: asyncpg.Connection, code: str) -> tree.Placed:
    """The unit, locked for deletion, if it has no child units; the caller checks people
    (`people.leave_unit`) and results next, then calls `remove`."""
    await _lock_tree(conn)
    unit = await _placed(conn, code)
    if unit is None:
        raise NotFound(msg("no org unit '{code}'", code=code))
    if await conn.fetchval("SELECT 1 FROM org_units WHERE parent_id = $1 LIMIT 1", unit.id):
        raise Conflict(msg("org unit '{code}' has child units: move or delete them first", code=code))
    return unit


async def remove(conn: asyncpg.Connection, unit: tree.Placed) -> None:
    await conn.execute("DELETE FROM org_units WHERE id = $1", unit.id)


async def import_org_units(
    conn: asyncpg.Connection, data: OrgUnitImport, mode: ImportMode = "create"
) -> tuple[ImportResult, list[Moved]]:
    """Apply a tree (or a branch) in one transaction, or nothing; see the module's docstring for the modes.
    Also returns the moves made, in order."""
    if not data.units:
        raise Unprocessable(
            msg("nothing to import"), [FieldError(msg("must hold at least one unit"), "/units")]
        )
    if len(data.units) > MAX_IMPORT_UNITS:
        raise Unprocessable(
            msg("too many units"),
            [FieldError(msg("at most {limit} per import", limit=MAX_IMPORT_UNITS), "/units")],
        )
    await _lock_tree(conn)
    units = data.units
    rows = [tree.ImportRow(u.code, u.parent_code) for u in units]
    if mode == "create":
        existing = await _stored(
            conn, list({u.code for u in units} | {u.parent_code for u in units if u.parent_code})
        )
        planned, errors = tree.plan_import(rows, {c: e.placed for c, e in existing.items()})
        if errors:
            raise Unprocessable(
                msg("{count} unit(s) cannot be imported; nothing was imported", count=len(errors)), errors
            )
        await _insert(conn, units, planned)
        return ImportResult(mode, created=len(planned)), []

    stored = await _stored(conn, None)
    sent: dict[str, int] = {}
    errors = []
    for i, unit in enumerate(units):
        if unit.code in sent:
            errors.append(
                FieldError(
                    msg(
                        "code '{code}' appears twice in this import (first at /units/{first})",
                        code=unit.code,
                        first=sent[unit.code],
                    ),
                    f"/units/{i}/code",
                )
            )
        sent.setdefault(unit.code, i)
    new_index = [i for code, i in sent.items() if code not in stored]
    planned, new_errors = tree.plan_import(
        [rows[i] for i in new_index], {c: e.placed for c, e in stored.items()}
    )
    errors += [_renumbered(e, new_index) for e in new_errors]  # pointers into the whole import
    for i, unit in enumerate(units):
        parent = unit.parent_code
        if parent is None:
            continue
        if mode == "sync" and parent not in sent:
            errors.append(
                FieldError(
                    msg("a sync holds the whole tree, but parent '{code}' is not in it", code=parent),
                    f"/units/{i}/parent_code",
                )
            )
        elif unit.code in stored and parent not in stored and parent not in sent:
            errors.append(
                FieldError(
                    msg("no org unit '{code}' here or in this import", code=parent), f"/units/{i}/parent_code"
                )
            )
    stored_parents = {c: e.parent_code for c, e in stored.items()}
    errors += [
        FieldError(msg("parent_code forms a cycle with the stored tree"), f"/units/{i}/parent_code")
        for i in tree.final_cycles(rows, stored_parents)
        if units[i].code in stored
    ]
    if errors:
        errors.sort(key=lambda e: _row_of(e.pointer))
        raise Unprocessable(
            msg("{count} problem(s) in this {mode}; nothing was changed", count=len(errors), mode=mode),
            errors,
        )

    renumbered = [msgspec.structs.replace(p, index=new_index[p.index]) for p in planned]
    await _insert(conn, units, renumbered)
    depths = tree.final_depths(rows, stored_parents)
    changed = 0
    moves = []
    for unit in sorted((u for u in units if u.code in stored), key=lambda u: depths[u.code]):
        before = stored[unit.code]
        if unit.parent_code != before.parent_code:
            placed = await _placed(conn, unit.code)
            above = await _placed(conn, unit.parent_code) if unit.parent_code else None
            assert placed is not None and (above is None or not tree.is_within(above.path, placed.path))
            moves.append(await _move(conn, placed, above))
        if (unit.name, unit.level, unit.parent_code, True) != (
            before.name,
            before.level,
            before.parent_code,
            before.active,
        ):
            changed += 1
    await conn.execute(
        """UPDATE org_units u SET name = r.name, level = r.level, active = true, updated_at = now()
           FROM unnest($1::text[], $2::text[], $3::text[]) AS r(code, name, level)
           WHERE u.code = r.code AND (u.name, u.level, u.active) IS DISTINCT FROM (r.name, r.level, true)""",
        [u.code for u in units if u.code in stored],
        [u.name for u in units if u.code in stored],
        [u.level for u in units if u.code in stored],
    )
    deactivated = 0
    if mode == "sync":
        deactivated = len(
            await conn.fetch(
                "UPDATE org_units SET active = false, updated_at = now() WHERE active AND code <> ALL($1::text[]) "
                "RETURNING id",
                [u.code for u in units],
            )
        )
    kept = len(units) - len(planned)
    return ImportResult(
        mode, created=len(planned), updated=changed, unchanged=kept - changed, deactivated=deactivated
    ), moves


class _Stored(msgspec.Struct, frozen=True):
    placed: tree.Placed
    parent_code: str | None
    name: str
    level: str | None
    active: bool


async def _stored(conn: asyncpg.Connection, codes: list[str] | None) -> dict[str, _Stored]:
    """The named units (None: the whole tree) as an import compares them."""
    rows = await conn.fetch(
        """SELECT u.code, u.id, u.path, u.depth, p.code AS parent_code, u.name, u.level, u.active
           FROM org_units u LEFT JOIN org_units p ON p.tenant_id = u.tenant_id AND p.id = u.parent_id
           WHERE $1::text[] IS NULL OR u.code = ANY($1::text[])""",
        codes,
    )
    return {
        r["code"]: _Stored(
            tree.Placed(r["id"], r["path"], r["depth"]), r["parent_code"], r["name"], r["level"], r["active"]
        )
        for r in rows
    }


async def _insert(
    conn: asyncpg.Connection, units: list[OrgUnitCreate], planned: list[tree.PlannedUnit]
) -> None:
    if not planned:
        return
    await conn.execute(
        """INSERT INTO org_units (id, code, name, level, parent_id, path, depth)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::smallint[])""",
        [p.id for p in planned],
        [units[p.index].code for p in planned],
        [units[p.index].name for p in planned],
        [units[p.index].level for p in planned],
        [p.parent_id for p in planned],
        [p.path for p in planned],
        [p.depth for p in planned],
    )


def _row_of(pointer: str | None) -> int:
    parts = (pointer or "").split("/")
    return int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else -1


def _renumbered(error: FieldError, index: list[int]) -> FieldError:
    """An error about the new rows alone, its pointer moved to the row's place in the whole import."""
    row = _row_of(error.pointer)
    if row < 0 or error.pointer is None:
        return error
    return msgspec.structs.replace(error, pointer=f"/units/{index[row]}/{error.pointer.split('/', 3)[3]}")


def unit_facts(tenant: str, unit: str) -> str:
    """SQL for a LATERAL sub-query of at most one row: the unit's `id`, `code`, `name` and `path`
    (`unit`: the SQL of its id); LEFT JOIN LATERAL ... ON true keeps the rows of no unit. As simple as
    the table: the planner joins it as it would the table."""
    return f"(SELECT o.id, o.code, o.name, o.path FROM org_units o WHERE o.tenant_id = {tenant} AND o.id = {unit})"


def in_subtree(tenant: str, unit: str, low: str, high: str) -> str:
    """SQL: true when the unit (`unit`: the SQL of its id) lies in the subtree whose path bounds
    (`subtree_bounds`) are the SQL `low` and `high`; for one-query reads of other owners."""
    return (
        f"EXISTS (SELECT 1 FROM org_units o WHERE o.tenant_id = {tenant} AND o.id = {unit} "
        f"AND o.path >= {low} AND o.path < {high})"
    )


def subtree_ids(codes: str) -> str:
    """SQL of the ids of every unit in the subtrees of the units with these codes (`codes`: the SQL
    of a text array), each once."""
    return f"""SELECT o.id FROM org_units a
                 JOIN org_units o ON o.tenant_id = a.tenant_id AND starts_with(o.path, a.path)
                 WHERE a.code = ANY({codes})"""


async def ids_by_code(conn: asyncpg.Connection, codes: set[str]) -> dict[str, uuid.UUID]:
    """The ids of the units with these codes, by code (unknown codes are left out)."""
    rows = await conn.fetch("SELECT code, id FROM org_units WHERE code = ANY($1::text[])", list(codes))
    return {r["code"]: r["id"] for r in rows}


async def paths_of(conn: asyncpg.Connection, codes: list[str]) -> list[str]:
    """The paths of the units with these codes (unknown codes are left out)."""
    return [
        r["path"] for r in await conn.fetch("SELECT path FROM org_units WHERE code = ANY($1::text[])", codes)
    ]


async def unit_by_code(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    """The unit's id, code, name, path and depth; None for no such unit."""
    return await conn.fetchrow("SELECT id, code, name, path, depth FROM org_units WHERE code = $1", code)


async def children(conn: asyncpg.Connection, parent_id: uuid.UUID | None) -> list[asyncpg.Record]:
    """The units right below this one (the top units for None), by code: id, code, name and whether
    they have children."""
    return await conn.fetch(
        """SELECT c.id, c.code, c.name,
                  EXISTS (SELECT 1 FROM org_units g WHERE g.tenant_id = c.tenant_id AND g.parent_id = c.id)
                      AS has_children
           FROM org_units c WHERE """
        + ("c.parent_id IS NULL AND $1::uuid IS NULL" if parent_id is None else "c.parent_id = $1")
        + " ORDER BY c.code",
        parent_id,
    )


async def has_units(conn: asyncpg.Connection) -> bool:
    """Whether the tenant in force has any org unit yet."""
    return bool(await conn.fetchval("SELECT 1 FROM org_units LIMIT 1"))


async def with_ancestors(conn: asyncpg.Connection, code: str | None) -> set[str]:
    """The codes of the unit and of every unit above it (none for no unit)."""
    if code is None:
        return set()
    rows = await conn.fetch(
        """SELECT a.code FROM org_units u JOIN org_units a ON a.tenant_id = u.tenant_id AND starts_with(u.path, a.path)
           WHERE u.code = $1""",
        code,
    )
    return {row["code"] for row in rows}


class UnitName(msgspec.Struct, frozen=True):
    code: str
    name: str


async def ancestry(conn: asyncpg.Connection, code: str) -> list[UnitName]:
    """The unit and every unit above it, from the top down (breadcrumbs); empty for no such unit.
    Read by the ids its path names (the primary key), not by comparing every unit's path."""
    path = await conn.fetchval("SELECT path FROM org_units WHERE code = $1", code)
    if path is None:
        return []
    ids = [uuid.UUID(part) for part in path.strip("/").split("/")]
    rows = await conn.fetch("SELECT code, name FROM org_units WHERE id = ANY($1::uuid[]) ORDER BY depth", ids)
    return [UnitName(row["code"], row["name"]) for row in rows]


async def existing_codes(conn: asyncpg.Connection, codes: list[str]) -> set[str]:
    """Which of these codes name a unit."""
    rows = await conn.fetch("SELECT code FROM org_units WHERE code = ANY($1::text[])", codes)
    return {row["code"] for row in rows}


async def search_org_units(
    conn: asyncpg.Connection, text: str, limit: int, after: tuple[int, str] | None = None
) -> list[OrgUnit]:
    """Units whose code or name contains `text` (any case), nearest the root first: the console's search
    and GET /v1/org-units?q=. `after` is the last (depth, code) of the previous page."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    depth, code = after if after is not None else (None, None)
    rows = await conn.fetch(
        _SELECT
        + """ WHERE (u.code ILIKE $1 OR u.name ILIKE $1)
          AND ($3::int IS NULL OR (u.depth, u.code) > ($3, $4::text))
        ORDER BY u.depth, u.code LIMIT $2""",
        pattern,
        limit,
        depth,
        code,
    )
    return [msgspec.convert(dict(r), OrgUnit) for r in rows]


async def child_counts(conn: asyncpg.Connection, codes: list[str]) -> dict[str, int]:
    """How many child units each of these units has (0 for a leaf), so a tree shows what can open."""
    rows = await conn.fetch(
        """SELECT u.code, count(c.id) AS children FROM org_units u
           LEFT JOIN org_units c ON c.tenant_id = u.tenant_id AND c.parent_id = u.id
           WHERE u.code = ANY($1::text[]) GROUP BY u.code""",
        codes,
    )
    return {row["code"]: row["children"] for row in rows}


# Reads of the aggregates (service/aggregates/: the rollups kept per unit and subtree), in the way of
# `unit_facts`: the table's alias inside is `o`, which callers do not use.


def has_child(parent: str, other_than: str | None = None) -> str:
    """SQL: true when the unit (`parent`: the SQL of its id) has a child unit (other than the unit
    whose id is the SQL `other_than`)."""
    other = "" if other_than is None else f" AND o.id <> {other_than}"
    return f"EXISTS (SELECT 1 FROM org_units o WHERE o.parent_id = {parent}{other})"


def unit_row(unit: str) -> str:
    """SQL for a sub-query of at most one row: the unit's `id`, `parent_id` and `path` (`unit`: the
    SQL of its id), in any tenant the statement sees."""
    return f"(SELECT o.id, o.parent_id, o.path FROM org_units o WHERE o.id = {unit})"


def units_with_codes(codes: str) -> str:
    """SQL for a sub-query of the `id` and `parent_id` of the units with these codes (`codes`: the
    SQL of a text array)."""
    return f"(SELECT o.id, o.parent_id FROM org_units o WHERE o.code = ANY({codes}))"


def units_in_range(low: str, high: str) -> str:
    """SQL for a LATERAL sub-query: the `id` of each unit whose path lies in [`low`, `high`) (a
    subtree's bounds, `subtree_range`), read by path on its own (OFFSET 0: never pulled up)."""
    return f"""(SELECT o.id FROM org_units o
                        WHERE o.path >= {low} COLLATE "C" AND o.path < {high} COLLATE "C" OFFSET 0)"""


def unit_paths() -> str:
    """SQL for a sub-query of every unit's `id` and `path`."""
    return "(SELECT o.id, o.path FROM org_units o)"


async def path_by_id(conn: asyncpg.Connection, unit_id: uuid.UUID) -> str | None:
    """The unit's path (None: no such unit)."""
    return await conn.fetchval("SELECT path FROM org_units WHERE id = $1", unit_id)


async def has_children(conn: asyncpg.Connection, unit_id: uuid.UUID) -> bool:
    """Whether the unit has child units."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM org_units WHERE parent_id = $1)", unit_id))


async def children_of_any(
    conn: asyncpg.Connection, parent_ids: list[uuid.UUID], root: uuid.UUID
) -> list[asyncpg.Record]:
    """The `id`, `code`, `name`, `path` and `parent_id` of the children of these units, where `root`
    among them stands for the tenant (its children: the top units, `parent_id` given as `root`)."""
    return await conn.fetch(
        """SELECT id, code, name, path, coalesce(parent_id, $2) AS parent_id FROM org_units
           WHERE parent_id = ANY($1::uuid[]) OR (parent_id IS NULL AND $2 = ANY($1::uuid[]))""",
        parent_ids,
        root,
    )
