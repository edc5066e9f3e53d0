"""Sign-in: `/console/login` sends the browser to the tenant's identity provider, `/console/callback`
turns its answer into a console session (service/console/oidc.py holds the protocol's checks).

Both are reachable without a session. A sign-in always creates a new session id (no fixation)
and ends the one the browser already had.
"""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Redirect, Template

from service.api.runtime import runtime
from service.auth.verify import InvalidToken, TenantSuspended
from service.console import demo_idp, oidc, sessions
from service.console.views import public_page
from service.console.web import COOKIE, cleared_cookie, origin, request_locale, session_cookie
from service.console.web import cookie as web_cookie
from service.db.pool import auth_lookup_transaction, tenant_transaction
from service.i18n import msg, render
from service.tenancy import tenants


class ConsoleSignIn(Controller):
    """Sign-in and its callback: reachable without a session."""

    path = "/console"
    opt = {"exclude_from_auth": True, "console_public": True}
    include_in_schema = False

    @get("/login")
    async def login(self, request: Request) -> Template | Redirect:
        state = runtime(request)
        slug = request.query_params.get("tenant")
        demo = state.settings.demo
        if not slug:
            return public_page(request, "login.html", demo=demo, error=None)
        async with auth_lookup_transaction(state.pool) as conn:
            tenant_id = await tenants.id_by_slug(conn, slug, active_only=True)
        provider = None
        try:
            if tenant_id is not None and demo and slug == demo_idp.DEMO_SLUG:
                provider = demo_idp.provider()
            elif tenant_id is not None:
                provider = await oidc.tenant_provider(state.pool, tenant_id)
        except oidc.SignInFailed as exc:
            return public_page(
                request,
                "login.html",
                status_code=502,
                demo=demo,
                error=render(exc.args[0], request_locale(request)),
            )
        if provider is None:
            return public_page(
                request,
                "login.html",
                status_code=404,
                demo=demo,
                error=render(msg("no console sign-in is set up for this tenant"), request_locale(request)),
            )
        assert tenant_id is not None  # a provider is found only for a known tenant
        redirect_uri = f"{origin(request)}/console/callback"
        pending, login_state = oidc.start(state.keys, tenant_id, redirect_uri, request_locale(request))
        response = Redirect(oidc.authorization_url(provider, pending), status_code=303)
        response.set_cookie(web_cookie(request, oidc.LOGIN_COOKIE, login_state, oidc.LOGIN_SECONDS))
        return response

    @get("/callback")
    async def callback(self, request: Request) -> Template | Redirect:
        state = runtime(request)
        try:
            pending = oidc.read_pending(
                state.keys, request.cookies.get(oidc.LOGIN_COOKIE), request.query_params.get("state")
            )
            code = request.query_params.get("code")
            if not code:
                raise oidc.SignInFailed(msg("the identity provider sent no code"))
            if state.settings.demo and pending.tenant_id == await demo_idp.demo_tenant(state.pool):
                id_token = await demo_idp.exchange(request, code, pending)
            else:
                provider = await oidc.tenant_provider(state.pool, pending.tenant_id)
                if provider is None:
                    raise oidc.SignInFailed(msg("no console sign-in is set up for this tenant"))
                id_token = await oidc.exchange(provider, code, pending)
            try:  # the same verification as an API bearer token
                principal = await state.verifier.verify(id_token)
            except (InvalidToken, TenantSuspended) as exc:
                reason = exc.args[0] if exc.args else type(exc).__name__
                raise oidc.SignInFailed(msg("the ID token was refused: {reason}", reason=reason)) from None
            oidc.check_nonce(id_token, pending)
            if principal.kind != "user" or principal.tenant_id != pending.tenant_id:
                raise oidc.SignInFailed(msg("the ID token is for another tenant"))
            if not principal.has_any(frozenset({"tenant_admin", "author", "rater", "analyst"})):
                raise oidc.SignInFailed(msg("the console is for admins, authors, raters and analysts"))
        except oidc.SignInFailed as exc:
            return public_page(
                request,
                "login.html",
                status_code=400,
                demo=state.settings.demo,
                error=render(exc.args[0], request_locale(request)),
            )
        settings = state.settings
        async with tenant_transaction(state.pool, principal.tenant_id) as conn:
            # A new id at every sign-in (no session fixation); a session the browser already had ends.
            old = request.cookies.get(COOKIE)
            if old:
                await sessions.delete(conn, sessions.id_hash(old))
            session_id = await sessions.create(
                conn,
                principal,
                pending.locale,
                idle_seconds=settings.console_idle_seconds,
                max_seconds=settings.console_max_seconds,
            )
        response = Redirect("/console", status_code=303)
        response.set_cookie(session_cookie(request, session_id, int(settings.console_max_seconds)))
        response.set_cookie(cleared_cookie(request, oidc.LOGIN_COOKIE))
        return response
