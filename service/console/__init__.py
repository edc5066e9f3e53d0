"""The web console at `/console`: server-rendered pages for tenant admins, authors, raters and analysts.

Pages are Jinja templates with htmx for partial updates; every asset is served by the service
(no CDN), every page carries a strict Content-Security-Policy (service/api/docs.py), and a page
calls the same domain functions, role guards and tenant transaction as the REST API: the console
adds no rules of its own. Sign-in is OIDC (authorization code + PKCE) against the tenant's
identity provider, or the built-in demo provider in demo mode; a sign-in becomes a row in
`console_sessions` and an HttpOnly cookie holding only its random id.

Adding a screen: a handler on `views.Console` (or a new controller in the router of `routes.py`)
with the API's role guard for the same data (`guards=[read]`), `conn: Conn` for the tenant
transaction, a template extending `base.html` rendered through `views.page`, and forms posting
with the `csrf_token` field (htmx adds the header itself). Domain errors map onto fields with
`forms.domain_errors`. A route taking an object key in its path needs a probe in
tests/test_isolation_http.py (console probes sign in with `_console_session`); the CSP test walks
every console GET route by itself. Texts go through `_()` and `python -m service.i18n extract`.
"""
