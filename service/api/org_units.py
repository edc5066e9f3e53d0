"""Tenant routes for the org-unit tree."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from service import pipeline
from service.api.auth import requires
from service.api.deps import Conn, provide_tenant_conn
from service.api.pagination import (
    DEFAULT_LIMIT,
    BadCursor,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    next_cursor,
    schema_name,
)
from service.api.responses import also, errors
from service.auth.principal import (
    AGGREGATES_READ,
    ANALYST,
    AUTHOR,
    HR_CLIENT,
    ORG_UNITS_WRITE,
    PEOPLE_WRITE,
    SCORES_READ,
    TENANT_ADMIN,
)
from service.errors import FieldError, Unprocessable
from service.i18n import msg
from service.tenancy import org_units
from service.tenancy.fields import CODE_PATTERN, TEXT_PATTERN
from service.tenancy.org_units import (
    ImportMode,
    ImportResult,
    OrgUnit,
    OrgUnitCreate,
    OrgUnitImport,
    OrgUnitMove,
    OrgUnitUpdate,
)

UnitCode = Annotated[str, PathParameter(description="Org unit code", max_length=64, pattern=CODE_PATTERN)]
OptionalCode = Annotated[str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN)]
OptionalLevel = Annotated[str | None, QueryParameter(max_length=40, pattern=TEXT_PATTERN)]
Search = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=200,
        pattern=TEXT_PATTERN,
        description="Units whose code or name contains this text (any case), nearest the root first, "
        "as the console's search; not with under, parent, level or active",
    ),
]
_SEARCH = "org-units-search"  # a search's own cursor kind: its pages run by (depth, code), the list's by code

# The tree is what every client scope refers to (people's units, scores and aggregates per unit),
# so any of those scopes reads it; only org-units:write changes it.
read = requires(
    TENANT_ADMIN,
    AUTHOR,
    ANALYST,
    HR_CLIENT,
    client_scope=(ORG_UNITS_WRITE, PEOPLE_WRITE, SCORES_READ, AGGREGATES_READ),
)
write = requires(TENANT_ADMIN, HR_CLIENT, client_scope=ORG_UNITS_WRITE)


OrgUnitPage = Annotated[Page[OrgUnit], schema_name("OrgUnitPage")]


def _search_after(cursor: str | None) -> tuple[int, str] | None:
    """A search cursor's last (depth, code)."""
    after = decode_cursor(_SEARCH, cursor)
    if after is None:
        return None
    depth, _, code = after.partition(":")
    if not depth.isdigit() or not code:
        raise BadCursor(
            msg("the cursor is not one this list handed out"),
            [FieldError(msg("not a cursor from this list; start again without it"), parameter="cursor")],
        )
    return int(depth), code


class OrgUnitController(Controller):
    path = "/v1/org-units"
    tags = ["org units"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/",
        operation_id="listOrgUnits",
        guards=[read],
        responses=errors(400, 404, 422),
        summary="List org units, optionally a subtree, children of one unit, one level, active or not; "
        "or search them by code or name (q)",
    )
    async def list_org_units(
        self,
        conn: Conn,
        under: OptionalCode = None,
        parent: OptionalCode = None,
        level: OptionalLevel = None,
        active: Annotated[
            bool | None, QueryParameter(description="true: units in use; false: units a sync deactivated")
        ] = None,
        q: Search = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> OrgUnitPage:
        if q is not None:
            if (under, parent, level, active) != (None, None, None, None):
                raise Unprocessable(
                    msg("a search covers the whole tree"),
                    [FieldError(msg("leave out under, parent, level and active with q"), parameter="q")],
                )
            found = await org_units.search_org_units(conn, q, limit, _search_after(cursor))
            return Page(found, next_cursor(_SEARCH, [f"{u.depth}:{u.code}" for u in found], limit))
        items = await org_units.list_org_units(
            conn,
            under=under,
            parent=parent,
            level=level,
            active=active,
            after=decode_cursor("org-units", cursor),
            limit=limit,
        )
        return Page(items, next_cursor("org-units", [u.code for u in items], limit))

    @post(
        "/",
        operation_id="createOrgUnit",
        guards=[write],
        responses=errors(409, 422),
        summary="Create an org unit (a root, or under parent_code)",
    )
    async def create_org_unit(self, conn: Conn, data: JSONBody[OrgUnitCreate]) -> OrgUnit:
        return await pipeline.create_org_unit(conn, data)

    @post(
        "/import",
        operation_id="importOrgUnits",
        guards=[write],
        responses={**errors(413, 422), **also(200, ImportResult, "Upserted or synced")},
        summary="Import a tree in one request, every unit or none: create (new codes only), upsert (create or "
        "update by code, moves included) or sync (upsert the whole tree; units not sent are deactivated)",
    )
    async def import_org_units(
        self,
        conn: Conn,
        data: JSONBody[OrgUnitImport],
        mode: Annotated[
            ImportMode,
            QueryParameter(
                description="create (default): every code must be new; upsert: known codes are "
                "renamed, re-levelled, moved and reactivated; sync: an upsert of the "
                "whole tree that deactivates (never deletes) the units it lacks"
            ),
        ] = "create",
    ) -> Response[ImportResult]:
        result = await pipeline.import_org_units(conn, data, mode)
        return Response(result, status_code=201 if mode == "create" else 200)

    @get(
        "/{code:str}",
        operation_id="getOrgUnit",
        guards=[read],
        responses=errors(404),
        summary="Read an org unit",
    )
    async def get_org_unit(self, conn: Conn, code: UnitCode) -> OrgUnit:
        return await org_units.get_org_unit(conn, code)

    @patch(
        "/{code:str}",
        operation_id="updateOrgUnit",
        guards=[write],
        responses=errors(404),
        summary="Rename an org unit, change its level, or (de)activate it",
    )
    async def update_org_unit(self, conn: Conn, code: UnitCode, data: JSONBody[OrgUnitUpdate]) -> OrgUnit:
        return await org_units.update_org_unit(conn, code, data)

    @post(
        "/{code:str}/move",
        operation_id="moveOrgUnit",
        guards=[write],
        responses=errors(404, 422),
        status_code=200,
        summary="Move a unit and its whole subtree under another parent (null: make it a root)",
    )
    async def move_org_unit(self, conn: Conn, code: UnitCode, data: JSONBody[OrgUnitMove]) -> OrgUnit:
        return await pipeline.move_org_unit(conn, code, data)

    @delete(
        "/{code:str}",
        operation_id="deleteOrgUnit",
        guards=[write],
        responses=errors(404, 409),
        summary="Delete an org unit that has no children and no people",
    )
    async def delete_org_unit(self, conn: Conn, code: UnitCode) -> None:
        await pipeline.delete_org_unit(conn, code)
