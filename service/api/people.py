"""Tenant routes for people, and the candidate's own record."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.di import Provide
from litestar.params import Body, JSONBody, PathParameter, QueryParameter

from service.api.auth import requires, requires_roles
from service.api.deps import Conn, current_candidate, provide_tenant_conn
from service.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    next_cursor,
    schema_name,
)
from service.api.responses import also, errors
from service.auth.principal import ANALYST, AUTHOR, CANDIDATE, HR_CLIENT, PEOPLE_WRITE, TENANT_ADMIN
from service.tenancy import people
from service.tenancy.fields import CODE_PATTERN, EXTERNAL_ID_PATTERN, Category
from service.tenancy.people import BulkResult, PeopleBulkUpsert, Person, PersonPatch, PersonUpsert

ExternalIdPath = Annotated[
    str,
    PathParameter(
        description="The person's id in the tenant's HR system",
        min_length=1,
        max_length=128,
        pattern=EXTERNAL_ID_PATTERN,
    ),
]

# A service client reads back the people it provisions: people:write covers both.
read = requires(TENANT_ADMIN, AUTHOR, ANALYST, HR_CLIENT, client_scope=PEOPLE_WRITE)
write = requires(TENANT_ADMIN, HR_CLIENT, client_scope=PEOPLE_WRITE)

# RFC 7396's media type; application/json (or none) is taken as the same merge patch.
MergePatch = Annotated[
    PersonPatch,
    Body(
        media_type="application/merge-patch+json",
        description="Only the fields sent change; null removes org_unit_code or display_name",
    ),
]


PersonPage = Annotated[Page[Person], schema_name("PersonPage")]


class PeopleController(Controller):
    path = "/v1/people"
    tags = ["people"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/",
        operation_id="listPeople",
        guards=[read],
        responses=errors(404),
        summary="List people, filtered by org subtree, category, active",
    )
    async def list_people(
        self,
        conn: Conn,
        under: Annotated[str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN)] = None,
        category: Annotated[Category | None, QueryParameter()] = None,
        active: Annotated[bool | None, QueryParameter()] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> PersonPage:
        items = await people.list_people(
            conn,
            under=under,
            category=category,
            active=active,
            after=decode_cursor("people", cursor),
            limit=limit,
        )
        return Page(items, next_cursor("people", [p.external_id for p in items], limit))

    @get(
        "/{external_id:str}",
        operation_id="getPerson",
        guards=[read],
        responses=errors(404),
        summary="Read a person",
    )
    async def get_person(self, conn: Conn, external_id: ExternalIdPath) -> Person:
        return await people.get_person(conn, external_id)

    @put(
        "/{external_id:str}",
        operation_id="upsertPerson",
        guards=[write],
        responses={**errors(422), **also(201, Person, "Created")},
        summary="Create or replace a person by external id (201 created, 200 replaced): a full replacement, "
        "fields left out take their defaults (use PATCH to change some fields)",
    )
    async def upsert_person(
        self, conn: Conn, external_id: ExternalIdPath, data: JSONBody[PersonUpsert]
    ) -> Response[Person]:
        person, created = await people.upsert_person(conn, external_id, data)
        return Response(person, status_code=201 if created else 200)

    @patch(
        "/{external_id:str}",
        operation_id="patchPerson",
        guards=[write],
        responses=errors(404, 422),
        summary="Change some of a person's fields (JSON merge patch, RFC 7396): move, rename, deactivate",
    )
    async def patch_person(self, conn: Conn, external_id: ExternalIdPath, data: MergePatch) -> Person:
        return await people.patch_person(conn, external_id, data)

    @post(
        "/bulk",
        operation_id="bulkUpsertPeople",
        guards=[write],
        status_code=200,
        responses=errors(413, 422),
        summary="Upsert up to 10,000 people by external id: every row or none",
    )
    async def bulk_upsert(self, conn: Conn, data: JSONBody[PeopleBulkUpsert]) -> BulkResult:
        return await people.bulk_upsert_people(conn, data)


class MeController(Controller):
    path = "/v1/me"
    tags = ["candidate"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/",
        operation_id="getMe",
        guards=[requires_roles(CANDIDATE)],
        responses=errors(),
        summary="The signed-in candidate's own record",
    )
    async def get_me(self, request: Request, conn: Conn) -> Person:
        return await current_candidate(request, conn)
