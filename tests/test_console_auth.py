"""Console sign-in and sessions without a browser: demo OIDC flow, cookie flags, fixation, logout, CSRF, CSP."""

from __future__ import annotations

import re
from urllib.parse import quote

import asyncpg
import httpx

from service.config import Settings
from tests.conftest import serving
from tests.console_helpers import csrf_of, demo_console, sign_in
from tests.harness import app_for


async def test_demo_sign_in_sets_a_strict_session_cookie_and_lands_on_home(settings: Settings) -> None:
    async with demo_console(settings) as http:
        del http.headers["Accept-Language"]  # a browser that states no preference
        callback = await sign_in(http, "admin")
        cookie = next(
            v
            for k, v in callback.headers.multi_items()
            if k == "set-cookie" and v.startswith("assess_console=")
        )
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert (
            {"httponly", "path"} <= flags
            and "samesite=lax" in cookie.lower()
            and "path=/console" in cookie.lower()
        )
        assert "secure" not in flags  # plain http here; https requests get Secure (next test)
        home = await http.get("/console/")
        assert home.status_code == 200
        assert "demo-admin" in home.text and "示范省委组织部" in home.text
        assert 'lang="zh-CN"' in home.text and "退出" in home.text  # zh-CN by default


async def test_secure_cookie_over_https(settings: Settings) -> None:
    async with demo_console(settings) as http:
        http.base_url = httpx.URL("https://assess.test")
        callback = await sign_in(http)
        cookie = next(
            v
            for k, v in callback.headers.multi_items()
            if k == "set-cookie" and v.startswith("assess_console=")
        )
        assert "secure" in cookie.lower()


async def test_a_new_session_id_at_every_sign_in_and_the_old_one_ends(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        first = http.cookies.get("assess_console")
        await sign_in(http, "author")
        second = http.cookies.get("assess_console")
        assert first and second and first != second
        # A fixed (planted or old) id is worthless after the sign-in.
        http.cookies.clear()
        http.cookies.set("assess_console", first, domain="assess.test", path="/console")
        assert (await http.get("/console/")).status_code == 303


async def test_logout_ends_the_session_everywhere(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        session_id = http.cookies.get("assess_console")
        home = await http.get("/console/")
        out = await http.post("/console/logout", data={"csrf_token": csrf_of(home.text)})
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        # Another device holding the same cookie is signed out too: the row is gone.
        http.cookies.set("assess_console", session_id, domain="assess.test", path="/console")
        again = await http.get("/console/")
        assert again.status_code == 303 and again.headers["location"] == "/console/login"


async def test_writes_without_the_csrf_token_are_refused(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        token = csrf_of((await http.get("/console/")).text)
        # A cross-site form post: the browser sends the cookie (say, an old browser without SameSite), no token.
        forged = await http.post(
            "/console/templates/adopt",
            data={"template": "cadre-ai-literacy", "code": "x1"},
            headers={"Origin": "https://evil.example"},
        )
        assert forged.status_code == 403
        no_token = await http.post(
            "/console/templates/adopt", data={"template": "cadre-ai-literacy", "code": "x1"}
        )
        assert no_token.status_code == 403
        wrong = await http.post("/console/logout", data={"csrf_token": token[:-2] + "xx"})
        assert wrong.status_code == 403
        by_header = await http.post("/console/language", data={"lang": "en"}, headers={"X-CSRF-Token": token})
        assert by_header.status_code == 303
        assert 'lang="en"' in (await http.get("/console/")).text


async def test_every_console_page_carries_the_strict_policy(settings: Settings) -> None:
    """Walks the app's console routes, so a screen added later is checked without editing this test."""
    async with demo_console(settings) as http:
        login = await http.get("/console/login")
        await sign_in(http)
        app = http._transport.app  # type: ignore[attr-defined]
        paths = sorted(
            {
                r.path
                for r in app.routes
                if r.path.startswith("/console") and "{" not in r.path and "GET" in getattr(r, "methods", ())
            }
        )
        assert {"/console", "/console/frameworks", "/console/items", "/console/templates"} <= set(paths)
        pages = [login] + [await http.get(p) for p in paths]
        pages.append(await http.post("/console/logout"))  # a refused write: the error page too
        pages.append(await http.get("/console/no-such-page"))
        for response in pages:
            csp = response.headers["content-security-policy"]
            assert (
                "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
            )
            assert response.headers["x-frame-options"] == "DENY"
            # same-origin everywhere; a page showing a secret once sends none at all (stricter still)
            assert response.headers["referrer-policy"] in {"same-origin", "no-referrer"}
            # Forms lead to this origin only; the sign-in page's may redirect to an https identity provider.
            at_login = response.url.path == "/console/login"
            expected = "form-action 'self' https:;" if at_login else "form-action 'self';"
            assert expected in csp
            assert "<script>" not in response.text and " style=" not in response.text


async def test_demo_provider_is_absent_outside_demo_mode(settings: Settings) -> None:
    assert not settings.demo
    app = app_for(settings)
    assert not [r.path for r in app.routes if "demo-idp" in r.path]
    async with serving(app) as http:
        assert (await http.get("/console/demo-idp/authorize")).status_code == 404
        login = await http.get("/console/login", params={"tenant": "demo-province"})
        assert login.status_code == 404  # no provider set up for it: nothing to sign in with


async def test_unsigned_in_pages_redirect_to_sign_in(settings: Settings) -> None:
    async with demo_console(settings) as http:
        for path in ("/console/", "/console/frameworks", "/console/templates"):
            response = await http.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/console/login"


async def test_an_idle_or_old_session_is_over(settings: Settings, owner: asyncpg.Connection) -> None:
    from service.console.sessions import id_hash

    async with demo_console(settings) as http:
        await sign_in(http)
        hashed = id_hash(http.cookies["assess_console"])
        assert (await http.get("/console/")).status_code == 200
        for column in ("idle_expires_at", "absolute_expires_at"):
            await owner.execute(
                f"UPDATE console_sessions SET {column} = now() - interval '1 second' WHERE id_hash = $1",
                hashed,
            )
            assert (await http.get("/console/")).status_code == 303, column
            await owner.execute(
                "UPDATE console_sessions SET idle_expires_at = now() + interval '1 hour', "
                "absolute_expires_at = now() + interval '1 hour' WHERE id_hash = $1",
                hashed,
            )
            assert (await http.get("/console/")).status_code == 200


async def test_behind_a_tls_proxy_the_public_url_decides(settings: Settings) -> None:
    """CONSOLE_PUBLIC_URL: the redirect URI names it, cookies are Secure, and its Origin is the same origin."""
    import msgspec

    async with demo_console(
        msgspec.structs.replace(settings, console_public_url="https://assess.test")
    ) as http:
        start = await http.get("/console/login", params={"tenant": "demo-province"})
        assert "redirect_uri=https%3A%2F%2Fassess.test%2Fconsole%2Fcallback" in start.headers["location"]
        assert "secure" in start.headers["set-cookie"].lower()


async def test_the_language_chosen_before_sign_in_is_the_sessions(settings: Settings) -> None:
    async with demo_console(settings) as http:
        del http.headers["Accept-Language"]
        login = await http.get("/console/login", params={"lang": "en"})
        assert 'lang="en"' in login.text and "/console/login?tenant=demo-province&amp;lang=en" in login.text
        start = await http.get("/console/login", params={"tenant": "demo-province", "lang": "en"})
        authorize = await http.get(start.headers["location"])
        from tests.console_helpers import hidden_fields

        chosen = await http.post("/console/demo-idp/authorize", data=hidden_fields(authorize.text, "author"))
        await http.get(chosen.headers["location"])
        home = await http.get("/console/")
        assert 'lang="en"' in home.text and "Sign out" in home.text


async def test_demo_provider_redirects_only_to_the_consoles_own_callback(settings: Settings) -> None:
    from urllib.parse import parse_qs, urlsplit

    async with demo_console(settings) as http:
        start = await http.get("/console/login", params={"tenant": "demo-province"})
        query = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
        for evil in ("https://evil.example/console/callback", "http://assess.test/elsewhere"):
            page = await http.get("/console/demo-idp/authorize", params={**query, "redirect_uri": evil})
            assert page.status_code == 400
            chosen = await http.post(
                "/console/demo-idp/authorize", data={**query, "redirect_uri": evil, "persona": "admin"}
            )
            assert chosen.status_code == 303 and chosen.headers["location"] == "/console/login"
        plain = await http.get(
            "/console/demo-idp/authorize", params={**query, "code_challenge_method": "plain"}
        )
        assert plain.status_code == 400  # PKCE S256 only


async def test_malformed_keys_in_console_paths_get_the_consoles_error_page(settings: Settings) -> None:
    """Walks the console's keyed routes with a malformed key in each place (a code with a space, a
    version that is not a number, a task id that is not a UUID): a 400 or 404 page of the console in
    the user's language, never the API's problem+json; so does a page that does not exist (a path no
    route matches is answered before the session is read: the page has the console's header, no menu)."""
    malformed = {"str": "bad code!", "int": "x", "uuid": "not-a-uuid", "path": "x"}
    fine = {"int": "1", "uuid": "00000000-0000-0000-0000-000000000000"}  # other keys: "c"
    # A code its rule refuses is the handler's 400; a number or UUID that is not one matches no route: 404.
    refused = {"str": 400, "int": 404, "uuid": 404}
    async with demo_console(settings) as http:
        await sign_in(http)
        app = http._transport.app  # type: ignore[attr-defined]
        tried = 0
        for route in app.routes:
            if not route.path.startswith("/console/") or "{" not in route.path:
                continue
            for method in sorted(set(getattr(route, "methods", ())) & {"GET", "POST"}):
                url = route.path
                for name, kind in re.findall(r"{(\w+):(\w+)}", route.path):
                    url = url.replace(f"{{{name}:{kind}}}", "1" if kind == "int" else "fine-code", 1)
                for name, kind in re.findall(r"{(\w+):(\w+)}", route.path):
                    bad = route.path
                    for other, other_kind in re.findall(r"{(\w+):(\w+)}", route.path):
                        value = malformed[kind] if other == name else fine.get(other_kind, "c")
                        bad = bad.replace(f"{{{other}:{other_kind}}}", quote(value), 1)
                    token = csrf_of((await http.get("/console/")).text)
                    response = await http.request(method, bad, headers={"X-CSRF-Token": token})
                    context = f"{method} {bad}"
                    assert response.status_code == refused[kind], (context, response.status_code)
                    assert response.headers["content-type"].startswith("text/html"), context
                    assert 'href="/console/"' in response.text, context  # the console's error page
                    tried += 1
        assert tried > 30, tried
        # A key the route takes but its rule refuses: 400 naming it, in the signed-in layout.
        bad = await http.get("/console/frameworks/bad%20code!/versions/1")
        assert bad.status_code == 400 and "code" in bad.text and 'data-testid="logout"' in bad.text
        missing = await http.get("/console/no-such-page")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
        wrong = await http.delete("/console/frameworks")
        assert wrong.status_code == 405 and wrong.headers["content-type"].startswith("text/html")
        assert (await http.get("/v1/no-such-route")).headers["content-type"] == "application/problem+json"
