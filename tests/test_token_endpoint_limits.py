"""POST /oauth/token under pressure: every error is RFC 6749 JSON (a standard OAuth client raises on
429 and keeps its token), and wrong secrets sprayed by others never lock a client with the right
secret out, while failed authentications are limited per source address and in total."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from service.api.app import create_app
from service.auth.limits import address_key
from service.config import Settings
from service.db.pool import tenant_transaction
from tests.conftest import running
from tests.helpers import make_tenant

BASE = "http://assess.test"


def _settings(owner_url: str, keys_file: Any, **env: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": owner_url, "SERVICE_KEYS_FILE": str(keys_file), **env})


@asynccontextmanager
async def _app(settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings)
    async with running(app):
        yield app


def _http(app: Any, address: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url=BASE)


async def _hr_client(app: Any, keys: Any, slug: str) -> dict[str, Any]:
    async with _http(app) as http:
        tenant = await make_tenant(http, keys, slug)
        made = await http.post(
            "/v1/clients", json={"name": "HR", "scopes": ["scores:read"]}, headers=tenant["admin"]
        )
        assert made.status_code == 201, made.text
        return made.json()


async def _token(app: Any, address: str, client_id: str, secret: str) -> httpx.Response:
    async with _http(app, address) as http:
        return await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )


async def test_a_standard_oauth_client_raises_on_429_and_keeps_its_working_token(
    owner_url, keys_file, service_keys
):
    with warnings.catch_warnings():  # authlib 1.9 announces its httpx2 move on import
        warnings.simplefilter("ignore")
        from authlib.integrations.base_client.errors import OAuthError
        from authlib.integrations.httpx_client import AsyncOAuth2Client

    async with _app(
        _settings(owner_url, keys_file, TOKEN_RATE_PER_SECOND="0.01", TOKEN_RATE_BURST="1")
    ) as app:
        made = await _hr_client(app, service_keys, "authlib-region")
        oauth = AsyncOAuth2Client(
            made["id"],
            made["client_secret"],
            token_endpoint_auth_method="client_secret_basic",
            transport=httpx.ASGITransport(app=app),
            base_url=BASE,
        )
        async with oauth:
            first = await oauth.fetch_token(BASE + "/oauth/token", grant_type="client_credentials")
            assert first["token_type"] == "Bearer" and first["access_token"]
            with pytest.raises(OAuthError) as refused:
                await oauth.fetch_token(BASE + "/oauth/token", grant_type="client_credentials")
            assert refused.value.error == "slow_down" and "per second" in refused.value.description
            assert oauth.token["access_token"] == first["access_token"]  # the working token is kept
            assert (await oauth.get("/v1/scores")).status_code == 200


async def test_every_error_of_the_token_endpoint_has_rfc6749_members(owner_url, keys_file):
    async with _app(_settings(owner_url, keys_file, MAX_BODY_BYTES="100")) as app, _http(app) as http:
        too_large = await http.post(
            "/oauth/token",
            content=b"grant_type=client_credentials&" + b"x" * 200,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert too_large.status_code == 413
        assert too_large.headers["content-type"].startswith("application/json")
        assert too_large.json()["error"] == "invalid_request" and too_large.json()["error_description"]
        await app.state.runtime.pool.close()  # the database is gone for this worker
        unavailable = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(str(uuid.uuid4()), "secret")
        )
        assert unavailable.status_code == 503 and unavailable.headers["retry-after"]
        assert unavailable.headers["content-type"].startswith("application/json")
        assert unavailable.json()["error"] == "temporarily_unavailable", unavailable.text


async def test_wrong_secrets_from_one_address_are_limited_and_never_lock_the_real_client_out(
    owner_url, keys_file, service_keys
):
    settings = _settings(
        owner_url,
        keys_file,
        AUTH_FAILURE_RATE_PER_ADDRESS="0.001",
        AUTH_FAILURE_BURST_PER_ADDRESS="3",
        TOKEN_RATE_BURST="100",
    )
    async with _app(settings) as app:
        made = await _hr_client(app, service_keys, "sprayed-region")
        statuses = [(await _token(app, "203.0.113.7", made["id"], "wrong")).status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        refused = await _token(app, "203.0.113.7", made["id"], "wrong")
        assert refused.json()["error"] == "slow_down" and int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-policy"].startswith('"failures-address";q=3')
        # the real client, elsewhere, goes on (its correct secret never counted as a failure)
        for _ in range(5):
            assert (await _token(app, "198.51.100.1", made["id"], made["client_secret"])).status_code == 200
        # made-up client ids from the limited address get 429 too, before any lookup
        assert (await _token(app, "203.0.113.7", str(uuid.uuid4()), "x")).status_code == 429


async def test_failures_in_total_are_limited_but_a_correct_secret_from_a_clean_address_still_works(
    owner_url, keys_file, service_keys
):
    settings = _settings(
        owner_url,
        keys_file,
        AUTH_FAILURE_RATE_TOTAL="0.001",
        AUTH_FAILURE_BURST_TOTAL="4",
        AUTH_FAILURE_BURST_PER_ADDRESS="100",
        TOKEN_RATE_BURST="100",
    )
    async with _app(settings) as app:
        made = await _hr_client(app, service_keys, "spray-total-region")
        # a spray of made-up client ids from many addresses: once the total is spent, an address that
        # has failed is refused before the lookup; each new address still gets its one check
        first = [(await _token(app, f"192.0.2.{i}", str(uuid.uuid4()), "x")).status_code for i in range(6)]
        assert first == [401] * 6
        again = [(await _token(app, f"192.0.2.{i}", str(uuid.uuid4()), "x")).status_code for i in range(6)]
        assert again == [429] * 6
        assert (
            (await _token(app, "192.0.2.1", str(uuid.uuid4()), "x"))
            .headers["ratelimit-policy"]
            .startswith('"failures-total";q=4')
        )
        # the real client from an address without failures is checked and served
        assert (await _token(app, "198.51.100.1", made["id"], made["client_secret"])).status_code == 200
        # so is a correct secret sent from an address that never failed, while the spray goes on
        assert (await _token(app, "198.51.100.2", made["id"], made["client_secret"])).status_code == 200


async def test_a_trusted_proxy_forwards_the_source_address(owner_url, keys_file, service_keys):
    settings = _settings(
        owner_url,
        keys_file,
        AUTH_FAILURE_RATE_PER_ADDRESS="0.001",
        AUTH_FAILURE_BURST_PER_ADDRESS="1",
        TRUSTED_PROXIES="10.0.0.5",
    )
    async with _app(settings) as app:
        made = await _hr_client(app, service_keys, "proxied-region")

        async def via(peer: str, forwarded: str, secret: str) -> int:
            async with _http(app, peer) as http:
                return (
                    await http.post(
                        "/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(made["id"], secret),
                        headers={"X-Forwarded-For": forwarded},
                    )
                ).status_code

        assert await via("10.0.0.5", "203.0.113.9", "wrong") == 401
        assert await via("10.0.0.5", "203.0.113.9", "wrong") == 429  # that address is limited...
        assert await via("10.0.0.5", "198.51.100.3", made["client_secret"]) == 200  # ...not the proxy
        # an untrusted peer's X-Forwarded-For is ignored: it is limited by its own address
        assert await via("10.0.0.6", "198.51.100.4", "wrong") == 401
        assert await via("10.0.0.6", "198.51.100.5", "wrong") == 429


def test_ipv6_addresses_count_by_their_64():
    assert (
        address_key("2001:db8:1:2:aaaa::1")
        == address_key("2001:db8:1:2:bbbb::2")
        == "address:2001:db8:1:2::/64"
    )
    assert address_key("::ffff:192.0.2.1") == "address:192.0.2.1" == address_key("192.0.2.1")


async def test_limiter_rows_are_out_of_reach_of_every_other_transaction(
    owner_url, app_url, keys_file, service_keys, owner
):
    async with _app(_settings(owner_url, keys_file)) as app:
        made = await _hr_client(app, service_keys, "limiter-rls")
        await _token(app, "203.0.113.1", made["id"], "wrong")
    assert await owner.fetchval("SELECT count(*) FROM auth_rate_buckets") >= 2
    pool = await asyncpg.create_pool(app_url, min_size=1, max_size=1)
    try:
        async with tenant_transaction(pool, uuid.uuid4()) as conn:
            assert await conn.fetchval("SELECT count(*) FROM auth_rate_buckets") == 0
            assert await conn.execute("DELETE FROM auth_rate_buckets") == "DELETE 0"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO auth_rate_buckets (key, rate, burst, tokens, granted) "
                    "VALUES ('address:1.2.3.4', 1, 1, 1, true)"
                )
    finally:
        await pool.close()


async def test_concurrent_requests_cannot_share_one_free_failure(app_url):
    """Each request reserves its failure in the same statement that checks the bucket: however the
    requests interleave, no more pass than the bucket holds (a peek-then-count limiter let every
    request in flight through on one free token: 1,253 failures where 820 were due, bench 2026-12-06)."""
    from service.auth.limits import Limit, TokenEndpointLimits

    pool = await asyncpg.create_pool(app_url, min_size=4, max_size=4)
    try:
        limits = TokenEndpointLimits(
            pool,
            issued=Limit("token", 1, 10),
            per_address=Limit("failures-address", 0.0001, 3),
            total=Limit("failures-total", 0.0001, 100),
        )
        admitted = await asyncio.gather(*[limits.admit("203.0.113.50") for _ in range(12)])
        assert sum(a.refused is None for a in admitted) == 3
        # a refused request gave back what it reserved: the total holds exactly the 3 admitted failures
        again = await limits.admit("198.51.100.50")
        assert again.refused is None
        await limits.succeeded(again)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.rate_limits', 'on', true)")
            total = await conn.fetchval("SELECT tokens FROM auth_rate_buckets WHERE key = 'failures'")
        assert 96.9 < total <= 97.01
    finally:
        await pool.close()
