"""The web console at `/console`: server-rendered pages for tenant admins, authors, raters and analysts.

Pages are Jinja templates with htmx for partial updates; every asset is served by the service
(no CDN), every page carries a strict Content-Security-Policy (service/api/docs.py), and a page
calls the same domain functions, role guards and tenant transaction as the REST API: the console
adds no rules of its own. Sign-in is OIDC (authorization code + PKCE) against the tenant's
identity provider, or the built-in demo provider in demo mode; a sign-in becomes a row in
`console_sessions` and an HttpOnly cookie holding only its random id.
"""
