"""The candidate client at /take, over plain HTTP (no browser): its files, headers, strings and size,
and the demo provider's public-client sign-in (code + PKCE) that gives it a candidate token.

The browser journeys are in tests/test_take_browser.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx

from service.auth.keys import ServiceKeys
from service.config import Settings
from service.console.take import TAKE_DIR, app_files
from tests import test_console_oidc as console_oidc
from tests.conftest import serving
from tests.console_helpers import demo_console, hidden_fields
from tests.harness import app_for

BASE = "http://assess.test"
provider = console_oidc.provider  # the fixture: a tenant's own OpenID provider on loopback


def test_every_string_has_both_languages() -> None:
    strings = json.loads((TAKE_DIR / "strings.json").read_text())
    missing = [k for k, v in strings.items() if set(v) != {"zh-CN", "en"} or not all(v.values())]
    assert missing == []
    # Every key the scripts use exists (t("key") / t("key", ...)).
    used = set()
    for script in TAKE_DIR.glob("*.js"):
        used |= set(re.findall(r'\bt\("([a-z][\w.]*)"', script.read_text()))
    used |= set(re.findall(r'"(signin\.[\w.]+)"', (TAKE_DIR / "app.js").read_text()))
    assert used - set(strings) == set()


def test_service_worker_keeps_every_file_of_the_app() -> None:
    listed = re.search(r"const FILES = \[(.*?)\];", (TAKE_DIR / "sw.js").read_text(), re.DOTALL)
    assert listed is not None
    files = set(re.findall(r'"([^"]+)"', listed.group(1)))
    assert files == {"/take/"} | {f"/take/{name}" for name in app_files() if name != "sw.js"}


def test_no_authored_text_goes_in_as_html() -> None:
    """Item texts are set with textContent only: no script of the app writes HTML."""
    for script in TAKE_DIR.glob("*.js"):
        text = script.read_text()
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ):
            assert sink not in text, f"{script.name} uses {sink}"


async def test_shell_and_files_are_same_origin_under_a_strict_policy(client: httpx.AsyncClient) -> None:
    shell = await client.get("/take/")
    assert shell.status_code == 200
    csp = shell.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and shell.headers["x-frame-options"] == "DENY"
    assert "<script>" not in shell.text and "style=" not in shell.text
    referenced = re.findall(r'(?:src|href)="([^"]+)"', shell.text)
    assert referenced[:4] == ["/take/manifest.webmanifest", "/take/icon.svg", "/take/app.css", "/take/app.js"]
    # every module of the app is fetched at once, not one import round trip after another
    assert sorted(referenced[4:]) == sorted(
        f"/take/{name}" for name in app_files() if name.endswith(".js") and name not in ("app.js", "sw.js")
    )
    # Outside demo mode no provider is configured for the demo tenant: the page says sign-in is not set up.
    assert 'data-authorize=""' in shell.text
    assert (await client.get("/take", follow_redirects=False)).headers["location"] == "/take/"
    script = await client.get("/take/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "no-cache"
    again = await client.get("/take/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert (await client.get("/take/nothing.js")).status_code == 404
    assert (await client.get("/take/../console/take.py")).status_code == 404
    # The demo provider's token endpoint does not exist outside demo mode.
    assert (await client.post("/console/demo-idp/token", data={"grant_type": "x"})).status_code == 404


async def test_app_scripts_and_styles_are_under_100_kb_compressed(client: httpx.AsyncClient) -> None:
    total = 0
    for name in app_files():
        if name.endswith((".js", ".css", ".json", ".webmanifest")):
            response = await client.get(f"/take/{name}", headers={"Accept-Encoding": "br, gzip"})
            assert response.status_code == 200
            size = len(response.content)
            if size >= 1024:
                assert response.headers.get("content-encoding") == "br", name
            total += response.num_bytes_downloaded
    print(f"/take scripts, styles and strings: {total} bytes on the wire")
    assert total < 100 * 1024


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def test_demo_provider_signs_a_candidate_in_to_take_with_pkce(settings: Settings) -> None:
    async with demo_console(settings) as http:
        shell = await http.get("/take/")
        assert (
            'data-client="assess-take"' in shell.text and 'data-token="/console/demo-idp/token"' in shell.text
        )
        verifier, challenge = _pkce()
        params = {
            "response_type": "code",
            "client_id": "assess-take",
            "redirect_uri": f"{BASE}/take/",
            "state": "s1",
            "nonce": "n1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        page = await http.get("/console/demo-idp/authorize", params=params)
        assert page.status_code == 200 and 'data-testid="persona-demo-0001"' in page.text
        assert (
            "persona-admin" not in page.text
        )  # staff personas are the console's, not the candidate client's
        # Another redirect path, or the console's client id with /take, is refused.
        for bad in ({"redirect_uri": f"{BASE}/take/x"}, {"client_id": "assess-console"}):
            assert (
                await http.get("/console/demo-idp/authorize", params={**params, **bad})
            ).status_code == 400
        fields = hidden_fields(page.text, "demo-0001")
        chosen = await http.post("/console/demo-idp/authorize", data=fields)
        location = urlsplit(chosen.headers["location"])
        assert location.path == "/take/"
        code = parse_qs(location.query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{BASE}/take/",
            "client_id": "assess-take",
        }
        wrong = await http.post("/console/demo-idp/token", data={**form, "code_verifier": "x" * 43})
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        elsewhere = await http.post(
            "/console/demo-idp/token",
            data={**form, "code_verifier": verifier, "redirect_uri": f"{BASE}/console/callback"},
        )
        assert elsewhere.status_code == 400
        issued = await http.post("/console/demo-idp/token", data={**form, "code_verifier": verifier})
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert body["token_type"] == "Bearer" and issued.headers["cache-control"] == "no-store"
        assert "set-cookie" not in issued.headers
        mine = await http.get(
            "/v1/me/assessments", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert mine.status_code == 200 and mine.json()
        # The console's code is not redeemable here, nor the other way round.
        console_page = await http.get(
            "/console/demo-idp/authorize",
            params={**params, "client_id": "assess-console", "redirect_uri": f"{BASE}/console/callback"},
        )
        console_code = await http.post(
            "/console/demo-idp/authorize", data=hidden_fields(console_page.text, "admin")
        )
        code2 = parse_qs(urlsplit(console_code.headers["location"]).query)["code"][0]
        refused = await http.post(
            "/console/demo-idp/token",
            data={
                **form,
                "code": code2,
                "code_verifier": verifier,
                "redirect_uri": f"{BASE}/console/callback",
            },
        )
        assert refused.status_code == 400


async def test_take_routes_exist_without_demo_mode_but_sign_in_does_not(settings: Settings) -> None:
    app = app_for(settings)
    assert any(route.path.startswith("/take") for route in app.routes)
    assert not [route.path for route in app.routes if "demo-idp" in route.path]
    async with serving(app) as http:
        assert (await http.get("/take/", params={"tenant": "demo-province"})).status_code == 200


async def test_a_tenants_own_provider_is_the_sign_in_of_its_candidates(
    settings: Settings, service_keys: ServiceKeys, provider: console_oidc.FakeProvider
) -> None:
    async with serving(app_for(settings)) as http:
        await console_oidc._register(http, service_keys, provider)
        shell = await http.get("/take/", params={"tenant": "region"})
        assert f'data-authorize="{provider.base}/authorize"' in shell.text
        assert f'data-token="{provider.base}/token"' in shell.text
        assert f'data-client="{console_oidc.CLIENT_ID}"' in shell.text
        # The page may call that token endpoint (and nothing else of another origin); its files get no such grant.
        assert f"connect-src 'self' {provider.base};" in shell.headers["content-security-policy"]
        script = await http.get("/take/app.js")
        assert "connect-src 'self';" in script.headers["content-security-policy"]
        unknown = await http.get("/take/", params={"tenant": "nowhere"})
        assert 'data-authorize=""' in unknown.text
        assert "connect-src 'self';" in unknown.headers["content-security-policy"]
