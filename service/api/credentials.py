"""Open Badges 3.0 credential routes: the tenant's issuer, an assessment's settings, a candidate's
credentials, and the public side verifiers use (DID document, JWKS, status list, verification).

The public routes need no token. Those under /credentials/{tenant} answer for the tenant the path
names (its issuer's did:web resolves there); the verification route reads the tenant from the
token's issuer. Each runs in that tenant's transaction, so nothing of another tenant is in reach; an
unknown tenant is an unknown issuer. Verification is limited per source address (the same rate
and burst as a service client's).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.di import Provide
from litestar.params import HeaderParameter, JSONBody, PathParameter

from service.api.assessments import AssessmentCode
from service.api.auth import PUBLIC, requires_roles
from service.api.deps import Conn, current_candidate, provide_tenant_conn
from service.api.language import in_language
from service.api.oauth import source_address
from service.api.openapi_schema import PublicOperation
from service.api.ratelimit import public_limiter_of, throttle
from service.api.responses import errors
from service.api.runtime import runtime
from service.auth.principal import ANALYST, AUTHOR, CANDIDATE, TENANT_ADMIN
from service.db.pool import tenant_transaction
from service.i18n import msg, negotiate
from service.results import credential_setup, credentials
from service.results.credential_setup import (
    CredentialIssuer,
    CredentialSettings,
    CredentialSettingsSet,
    IssuerSet,
)
from service.results.credentials import Credential, Verification
from service.results.vc_jwt import Presented

admin = requires_roles(TENANT_ADMIN)
read = requires_roles(TENANT_ADMIN, AUTHOR, ANALYST)
candidate = requires_roles(CANDIDATE)

VC_JWT = "application/vc+jwt"
DID_JSON = "application/did+json"
TenantId = Annotated[UUID, PathParameter(description="The issuing tenant's id (its did:web names it)")]
CredentialId = Annotated[UUID, PathParameter(description="Credential id")]
ListNumber = Annotated[int, PathParameter(ge=0, le=16383, description="Status list number")]
VerifyLanguage = Annotated[
    str | None,
    HeaderParameter(
        name="Accept-Language",
        max_length=200,
        description="zh-CN (the default) or en: the achievement's language",
    ),
]


class IssuerController(Controller):
    path = "/v1/credential-issuer"
    tags = ["credentials"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "",
        operation_id="getCredentialIssuer",
        guards=[read],
        responses=errors(404),
        summary="The tenant's credential issuer profile",
    )
    async def get_issuer(self, conn: Conn) -> CredentialIssuer:
        return await credential_setup.get_issuer(conn)

    @put(
        "",
        operation_id="setCredentialIssuer",
        guards=[admin],
        responses=errors(400, 409),
        summary="Set the tenant's credential issuer: its name in zh-CN and English and the public origin "
        "(the first call makes its signing key: RSA for RS256, or Ed25519 for EdDSA if asked)",
    )
    async def set_issuer(self, conn: Conn, data: JSONBody[IssuerSet]) -> CredentialIssuer:
        return await credential_setup.set_issuer(conn, data)


class CredentialSettingsController(Controller):
    path = "/v1/assessments/{code:str}/credential-settings"
    tags = ["credentials"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "",
        operation_id="getCredentialSettings",
        guards=[read],
        responses=errors(404),
        summary="An assessment's credential settings",
    )
    async def get_settings(self, conn: Conn, code: AssessmentCode) -> CredentialSettings:
        return await credential_setup.get_settings(conn, code)

    @put(
        "",
        operation_id="setCredentialSettings",
        guards=[admin],
        responses=errors(400, 404, 409, 422),
        summary="Switch Open Badges credentials on or off: the lowest level per top-level dimension (and "
        "optionally overall) that earns one, and how many days they are valid",
    )
    async def set_settings(
        self, request: Request, conn: Conn, code: AssessmentCode, data: JSONBody[CredentialSettingsSet]
    ) -> CredentialSettings:
        return await credential_setup.set_settings(conn, code, data, request.user.subject)


class MyCredentialController(Controller):
    path = "/v1/me/credentials"
    tags = ["candidate"]
    guards = [candidate]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "",
        operation_id="listMyCredentials",
        responses=errors(403),
        summary="My Open Badges credentials, newest first (revoked ones marked)",
    )
    async def list_mine(self, request: Request, conn: Conn) -> list[Credential]:
        person = await current_candidate(request, conn)
        return await credentials.my_credentials(conn, person.id)

    @get(
        "/{credential_id:uuid}/file",
        operation_id="downloadMyCredential",
        responses=errors(403, 404),
        media_type=VC_JWT,
        summary="One of my credentials as a file: the VC-JWT (application/vc+jwt) a wallet or verifier accepts",
    )
    async def download(self, request: Request, conn: Conn, credential_id: CredentialId) -> Response[str]:
        person = await current_candidate(request, conn)
        found = await credentials.my_credential(conn, person.id, credential_id)
        return Response(
            found.credential,
            media_type=VC_JWT,
            headers={"Content-Disposition": f'attachment; filename="credential-{found.id}.jwt"'},
        )


def _public(request: Request, tenant_id: UUID) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """A read-only transaction of the tenant the path names (an unknown one sees nothing: a 404)."""
    return tenant_transaction(runtime(request).pool, tenant_id, readonly=True)


@get(
    "/credentials/{tenant_id:uuid}/did.json",
    operation_id="credentialIssuerDid",
    media_type=DID_JSON,
    opt=PUBLIC,
    security=[],
    operation_class=PublicOperation,
    tags=["credentials"],
    responses=errors(404),
    summary="The issuer's did:web document (its credential signing keys)",
)
async def did_document(request: Request, tenant_id: TenantId) -> Response[dict[str, Any]]:
    async with _public(request, tenant_id) as conn:
        document = await credential_setup.did_web_document(conn)
    return Response(
        document, media_type="application/did+json", headers={"Cache-Control": "public, max-age=300"}
    )


@get(
    "/credentials/{tenant_id:uuid}/jwks.json",
    operation_id="credentialIssuerJwks",
    opt=PUBLIC,
    security=[],
    operation_class=PublicOperation,
    tags=["credentials"],
    responses=errors(404),
    summary="The issuer's credential signing keys as a JWKS",
)
async def issuer_jwks(request: Request, tenant_id: TenantId) -> Response[dict[str, Any]]:
    async with _public(request, tenant_id) as conn:
        _, keys = await credential_setup.public_keys(conn)
    return Response({"keys": keys}, headers={"Cache-Control": "public, max-age=300"})


@get(
    "/credentials/{tenant_id:uuid}/status/{list_number:int}",
    operation_id="credentialStatusList",
    opt=PUBLIC,
    security=[],
    operation_class=PublicOperation,
    tags=["credentials"],
    media_type=VC_JWT,
    responses=errors(400, 404),
    summary="A Bitstring Status List credential (revocation), signed as a VC-JWT, valid for a day",
)
async def status_list(request: Request, tenant_id: TenantId, list_number: ListNumber) -> Response[str]:
    async with _public(request, tenant_id) as conn:
        token = await credentials.status_list_token(conn, list_number)
    return Response(token, media_type=VC_JWT, headers={"Cache-Control": "public, max-age=60"})


class VerifyRequest(msgspec.Struct, forbid_unknown_fields=True):
    credential: Annotated[str, msgspec.Meta(min_length=1, max_length=65536, description="The VC-JWT")]


@post(
    "/v1/credentials/verify",
    operation_id="verifyCredential",
    opt=PUBLIC,
    security=[],
    operation_class=PublicOperation,
    tags=["credentials"],
    status_code=200,
    responses=errors(400, 422, 429),
    summary="Verify a credential: valid, revoked, expired or tampered, with the achievement in the asked "
    "language and nothing else about its holder",
    description="No token needed. A token that is not one of this service's credentials (not a JWS, an "
    "algorithm other than the one its issuer signs with, RS256 or EdDSA, an issuer or key this service "
    "never published) is a 422 whose type "
    "says which (`credential-rejected`, `credential-wrong-algorithm`, `credential-unknown-key`). "
    "Limited per source address (429 with Retry-After).",
)
async def verify(
    request: Request, data: JSONBody[VerifyRequest], accept_language: VerifyLanguage = None
) -> Response[Verification]:
    state = runtime(request)
    headers = throttle(
        public_limiter_of(request.app),
        source_address(request, state.settings.trusted_proxies),
        msg("credential verification"),
    )
    language = negotiate(accept_language)
    presented = Presented(data.credential)
    async with tenant_transaction(state.pool, presented.tenant_id, readonly=True) as conn:
        verdict = await credentials.verify(conn, presented, language)
    response = in_language(verdict, language)
    response.headers.update(headers)
    return response


public_routes = [did_document, issuer_jwks, status_list, verify]
