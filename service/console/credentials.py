"""Open Badges credentials in the console: the tenant's issuer profile and an assessment's settings.

The signing algorithm (RS256, or EdDSA with an Ed25519 key) is offered until the issuer is made; after,
it is shown, and the form leaves it out, so the domain keeps it.

Every action is the API's function behind the API's guard (service/api/credentials.py, tenant admins):
`credential_setup.set_issuer` as PUT /v1/credential-issuer, `credential_setup.set_settings` as PUT
/v1/assessments/{code}/credential-settings. The forms are reshaped into the API's bodies and converted
with the same structs, so a refusal is the API's, its messages next to the fields they name.
"""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from service.api.credentials import admin
from service.api.deps import Conn, provide_tenant_conn
from service.console.forms import domain_errors, errors_by_field
from service.console.views import form, page
from service.console.web import session_of
from service.errors import DomainError, NotFound, msgspec_field_error
from service.results import credential_setup
from service.results.credential_setup import CredentialSettingsSet, IssuerSet
from service.tenancy.fields import CODE_PATTERN

Code = Annotated[str, PathParameter(max_length=64, pattern=CODE_PATTERN)]
ISSUER_FIELDS = ("name", "url", "algorithm")
SETTINGS_FIELDS = ("enabled", "dimensions", "overall", "valid_days")


class IssuerScreen(Controller):
    """The tenant's credential issuer: its names, its public origin, its DID and signing key id."""

    path = "/console/credential-issuer"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    guards = [admin]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    async def _show(
        self,
        request: Request,
        conn: asyncpg.Connection,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, list[str]] | None = None,
        status: int = 200,
    ) -> Template:
        try:
            issuer = await credential_setup.get_issuer(conn)
        except NotFound:
            issuer = None
        if values is None:
            values = {
                "name_zh": issuer.name.get("zh-CN", "") if issuer else "",
                "name_en": issuer.name.get("en", "") if issuer else "",
                "url": issuer.url if issuer else "",
                "algorithm": "RS256",
            }
        return await page(
            request,
            conn,
            "credential_issuer.html",
            status_code=status,
            issuer=issuer,
            tenant_id=session_of(request).tenant_id,
            values=values,
            errors=errors or {},
            notice=request.query_params.get("done"),
        )

    @get("/")
    async def issuer(self, request: Request, conn: Conn) -> Template:
        return await self._show(request, conn)

    @post("/")
    async def set_issuer(self, request: Request, conn: Conn) -> Template | Redirect:
        """`credential_setup.set_issuer` (PUT /v1/credential-issuer): the first save makes the RSA key."""
        data = await form(request)
        values = {name: data.get(name, "").strip() for name in ("name_zh", "name_en", "url", "algorithm")}
        body = {
            "name": {"zh-CN": values["name_zh"], "en": values["name_en"]},
            "url": values["url"],
            "algorithm": values["algorithm"] or None,  # offered until the issuer is made, fixed after
        }
        locale = session_of(request).locale
        try:
            wanted = msgspec.convert(body, IssuerSet)
            async with conn.transaction():
                await credential_setup.set_issuer(conn, wanted)
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors = errors_by_field([problem], problem.detail, ISSUER_FIELDS, locale)
        except DomainError as exc:
            errors = domain_errors(exc, ISSUER_FIELDS, locale)
        else:
            return Redirect("/console/credential-issuer?done=saved", status_code=303)
        return await self._show(request, conn, values=values, errors=errors, status=422)


def _settings_body(data: dict[str, str], dimensions: list[str]) -> dict[str, Any]:
    """The form as PUT /v1/assessments/{code}/credential-settings takes it: a level chosen per dimension
    (`dim-<code>`, empty for none), the overall level, and the days (a number, or the text to refuse)."""
    days = data.get("valid_days", "").strip()
    return {
        "enabled": data.get("enabled") == "on",
        "dimensions": {d: data[f"dim-{d}"] for d in dimensions if data.get(f"dim-{d}")},
        "overall": data.get("overall") or None,
        "valid_days": (int(days) if days.isdigit() else days) if days else None,
    }


class CredentialSettingsScreen(Controller):
    """An assessment's credential settings (linked from the assessment page and list, for admins)."""

    path = "/console/assessments"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    guards = [admin]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    async def _show(
        self,
        request: Request,
        conn: asyncpg.Connection,
        code: str,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, list[str]] | None = None,
        status: int = 200,
    ) -> Template:
        current = await credential_setup.get_settings(conn, code)
        _, framework = await credential_setup.framework_of(conn, code)
        has_issuer = True
        try:
            await credential_setup.get_issuer(conn)
        except NotFound:
            has_issuer = False
        if values is None:
            values = {
                "enabled": current.enabled,
                "dimensions": current.dimensions,
                "overall": current.overall or "",
                "valid_days": "" if current.valid_days is None else str(current.valid_days),
            }
        return await page(
            request,
            conn,
            "credential_settings.html",
            status_code=status,
            code=code,
            current=current,
            framework=framework,
            has_issuer=has_issuer,
            values=values,
            errors=errors or {},
            notice=request.query_params.get("done"),
        )

    @get("/{code:str}/credentials")
    async def settings(self, request: Request, conn: Conn, code: Code) -> Template:
        return await self._show(request, conn, code)

    @post("/{code:str}/credentials")
    async def set_settings(self, request: Request, conn: Conn, code: Code) -> Template | Redirect:
        """`credential_setup.set_settings` (PUT /v1/assessments/{code}/credential-settings)."""
        _, framework = await credential_setup.framework_of(conn, code)  # 404 first, whatever the form holds
        body = _settings_body(await form(request), [d.code for d in framework.dimensions])
        locale = session_of(request).locale
        try:
            wanted = msgspec.convert(body, CredentialSettingsSet)
            async with conn.transaction():
                await credential_setup.set_settings(conn, code, wanted, request.user.subject)
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors = errors_by_field([problem], problem.detail, SETTINGS_FIELDS, locale)
        except DomainError as exc:
            errors = domain_errors(exc, SETTINGS_FIELDS, locale)
        else:
            return Redirect(f"/console/assessments/{code}/credentials?done=saved", status_code=303)
        values = {**body, "overall": body["overall"] or "", "valid_days": str(body["valid_days"] or "")}
        return await self._show(request, conn, code, values=values, errors=errors, status=422)


# The credential screens this module adds, for the console's router.
CREDENTIALS: list[type] = [IssuerScreen, CredentialSettingsScreen]
