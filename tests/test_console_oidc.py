"""Console sign-in against a tenant's own OpenID provider (not the demo one): discovery, code + PKCE, nonce.

The provider is a small fake on loopback (discovery document and token endpoint, keys from
tests/helpers.IdentityProvider); the browser's part (following the redirect, the provider's login
page) is played by reading the authorization URL and calling the callback as the provider would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import uvicorn
from litestar import Litestar, Request, Response, get, post

from service.auth.keys import ServiceKeys
from service.config import Settings
from tests.conftest import serving
from tests.harness import app_for
from tests.helpers import IdentityProvider, make_tenant, operator

CLIENT_ID = "assess-console"


class FakeProvider:
    def __init__(self, idp: IdentityProvider) -> None:
        self.idp, self.base = idp, ""
        self.codes: dict[str, dict[str, str]] = {}  # code -> challenge, nonce, subject, roles
        self.nonce_override: str | None = None

    def app(self) -> Litestar:
        @get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": self.idp.issuer,
                "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token",
            }

        @post("/token")
        async def token(request: Request) -> Response[dict[str, Any]]:
            form = await request.form()
            grant = self.codes.pop(str(form.get("code")), None)
            verifier = str(form.get("code_verifier", ""))
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if grant is None or grant["challenge"] != challenge or form.get("client_id") != CLIENT_ID:
                return Response({"error": "invalid_grant"}, status_code=400)
            id_token = self.idp.token(
                CLIENT_ID,
                sub=grant["subject"],
                roles=grant["roles"].split(),
                nonce=self.nonce_override or grant["nonce"],
            )
            return Response(
                {"id_token": id_token, "token_type": "Bearer", "access_token": "x"}, status_code=200
            )

        return Litestar([discovery, token])


@asynccontextmanager
async def on_loopback(fake: FakeProvider) -> AsyncIterator[FakeProvider]:
    """The fake provider served by uvicorn on a free loopback port (its `base`), in this event loop."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fake.base = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield fake
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    async with on_loopback(FakeProvider(IdentityProvider("https://idp.region.example"))) as fake:
        yield fake


async def _register(http: Any, keys: ServiceKeys, fake: FakeProvider) -> None:
    await make_tenant(http, keys, "region")
    made = await http.post(
        "/v1/tenants/region/issuers",
        headers=operator(keys),
        json={
            "issuer": fake.idp.issuer,
            "audience": CLIENT_ID,
            "jwks": fake.idp.jwks(),
            "roles_claim": "roles",
            "default_roles": [],
            "allowed_roles": ["author", "rater"],
            "discovery_url": f"{fake.base}/.well-known/openid-configuration",
            "console_client_id": CLIENT_ID,
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["console_client_id"] == CLIENT_ID


async def _authorize(http: Any, fake: FakeProvider, subject: str, roles: str) -> tuple[str, dict[str, str]]:
    """The console's redirect to the provider, and the provider's code for it; returns (code, query)."""
    start = await http.get("/console/login", params={"tenant": "region"})
    assert start.status_code == 303, start.text
    location = urlsplit(start.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{fake.base}/authorize"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["code_challenge_method"] == "S256" and query["client_id"] == CLIENT_ID and query["nonce"]
    code = f"code-{len(fake.codes)}-{subject}"
    fake.codes[code] = {
        "challenge": query["code_challenge"],
        "nonce": query["nonce"],
        "subject": subject,
        "roles": roles,
    }
    return code, query


async def test_sign_in_with_the_tenants_provider(
    settings: Settings, service_keys: ServiceKeys, provider: FakeProvider
) -> None:
    async with serving(app_for(settings)) as http:
        await _register(http, service_keys, provider)
        code, query = await _authorize(http, provider, "author-7", "author tenant_admin")
        done = await http.get("/console/callback", params={"code": code, "state": query["state"]})
        assert done.status_code == 303 and done.headers["location"] == "/console", done.text
        home = await http.get("/console/")
        assert home.status_code == 200 and "author-7" in home.text
        assert "author" in home.text and "tenant_admin" not in home.text  # only allowed_roles, as for the API


async def test_state_nonce_and_pkce_are_checked(
    settings: Settings, service_keys: ServiceKeys, provider: FakeProvider
) -> None:
    async with serving(app_for(settings)) as http:
        await _register(http, service_keys, provider)
        code, query = await _authorize(http, provider, "author-7", "author")
        wrong_state = await http.get("/console/callback", params={"code": code, "state": "forged"})
        assert wrong_state.status_code == 400 and "assess_console=" not in wrong_state.headers.get(
            "set-cookie", ""
        )
        # The code was issued for this sign-in's PKCE challenge: another sign-in's verifier cannot redeem it.
        _, other = await _authorize(http, provider, "author-8", "author")  # a new login cookie (new verifier)
        stolen = await http.get("/console/callback", params={"code": code, "state": other["state"]})
        assert stolen.status_code == 400
        # A replayed ID token for another sign-in: its nonce is not this one's.
        code, query = await _authorize(http, provider, "author-7", "author")
        provider.nonce_override = "someone-elses-nonce"
        replayed = await http.get("/console/callback", params={"code": code, "state": query["state"]})
        assert replayed.status_code == 400
        assert (await http.get("/console/")).status_code == 303  # never signed in
        # A candidate-only user is not let into the console.
        provider.nonce_override = None
        code, query = await _authorize(http, provider, "cadre-1", "candidate")
        refused = await http.get("/console/callback", params={"code": code, "state": query["state"]})
        assert refused.status_code == 400


async def test_console_fields_are_both_or_neither_and_the_client_is_the_audience(
    settings: Settings, service_keys: ServiceKeys
) -> None:
    idp = IdentityProvider("https://idp.other.example")
    async with serving(app_for(settings)) as http:
        await make_tenant(http, service_keys, "other")
        base = {"issuer": idp.issuer, "audience": "api", "jwks": idp.jwks()}
        only_one = await http.post(
            "/v1/tenants/other/issuers",
            headers=operator(service_keys),
            json={**base, "discovery_url": "https://idp.other.example/.well-known/x"},
        )
        assert only_one.status_code == 422 and only_one.json()["errors"][0]["pointer"] == "/console_client_id"
        not_audience = await http.post(
            "/v1/tenants/other/issuers",
            headers=operator(service_keys),
            json={**base, "discovery_url": "https://idp.other.example/d", "console_client_id": "console"},
        )
        assert (
            not_audience.status_code == 422
            and not_audience.json()["errors"][0]["pointer"] == "/console_client_id"
        )
        plain_http = await http.post(
            "/v1/tenants/other/issuers",
            headers=operator(service_keys),
            json={**base, "discovery_url": "http://idp.other.example/d", "console_client_id": "api"},
        )
        assert plain_http.status_code == 422 and plain_http.json()["errors"][0]["pointer"] == "/discovery_url"
