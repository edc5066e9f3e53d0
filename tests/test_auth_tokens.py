"""Bearer tokens: what proves an identity (200), what proves nothing (401), what lacks the role (403).

Every refusal is an RFC 9457 problem; every 401 says how to authenticate (WWW-Authenticate).
The attacks build tokens by hand where PyJWT would refuse to (alg "none", HMAC with a PEM).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm

from service.api.app import create_app
from service.auth.keys import ServiceKeys, ensure_keys_file, rotate_keys
from service.config import Settings
from tests.conftest import serving
from tests.harness import app_for
from tests.helpers import AUDIENCE, ISSUER, IdentityProvider, bearer, make_tenant, operator, user

TENANT_ROUTE = "/v1/org-units"  # tenant_admin, author, analyst or hr_client
CANDIDATE_ROUTE = "/v1/me"  # candidate


# --- small builders ---------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def service_claims(
    tenant_id: UUID | str | None, roles: list[str] | None = None, **overrides: Any
) -> dict[str, Any]:
    """The claims `issue_token` writes for a tenant user; `overrides` replace claims, or drop them (None)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "someone",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "kind": "user",
        "roles": roles or ["tenant_admin"],
    }
    if tenant_id is not None:
        claims["tenant"] = str(tenant_id)
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign_as_service(
    keys: ServiceKeys, claims: dict[str, Any], *, private_key: Any = None, kid: str | None = None
) -> str:
    """An EdDSA access token: by default exactly as the service signs, else with another key and/or kid."""
    real = keys.keys[-1]
    return jwt.encode(
        claims,
        private_key or real.private_key,
        algorithm="EdDSA",
        headers={"kid": kid or real.kid, "typ": "at+jwt"},
    )


def hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def public_pem(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


async def get_with(client: httpx.AsyncClient, path: str, token: str) -> httpx.Response:
    return await client.get(path, headers=bearer(token))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:assess:problem:")
    if status == 401:
        assert response.headers["www-authenticate"].startswith('Bearer realm="assess"')
    return body


def assert_invalid_token(response: httpx.Response) -> dict[str, Any]:
    """401 for a token that was sent but proves nothing (RFC 6750: error="invalid_token")."""
    body = assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    return body


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
async def tenant(client, service_keys) -> dict[str, Any]:
    return await make_tenant(client, service_keys, "region-a")


async def register_issuer(
    client: httpx.AsyncClient, keys: ServiceKeys, slug: str, body: dict[str, Any]
) -> None:
    response = await client.post(f"/v1/tenants/{slug}/issuers", json=body, headers=operator(keys))
    assert response.status_code == 201, response.text


class IdpTenant:
    """Tenant A trusting its own identity provider, with one provisioned person."""

    def __init__(self, tenant: dict[str, Any], idp: IdentityProvider, audience: str, person: str) -> None:
        self.tenant, self.idp, self.audience, self.person = tenant, idp, audience, person

    def token(self, sub: str | None = None, **claims: Any) -> str:
        return self.idp.token(self.audience, sub or self.person, **claims)


@pytest.fixture
async def idp_tenant(client, service_keys, tenant) -> IdpTenant:
    return await make_idp_tenant(client, service_keys, tenant)


async def make_idp_tenant(
    client: httpx.AsyncClient, service_keys: ServiceKeys, tenant: dict[str, Any]
) -> IdpTenant:
    idp = IdentityProvider("https://login.region-a.example")
    audience = "assess-region-a"
    await register_issuer(
        client, service_keys, tenant["slug"], {"issuer": idp.issuer, "audience": audience, "jwks": idp.jwks()}
    )
    put = await client.put("/v1/people/cadre-1", json={"display_name": "Cadre One"}, headers=tenant["admin"])
    assert put.status_code == 201, put.text
    return IdpTenant(tenant, idp, audience, "cadre-1")


# --- 1. no usable Authorization header --------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Basic xyz", "Bearer ", "Bearer    "])
async def test_missing_or_non_bearer_authorization_is_401(client, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    body = assert_problem(await client.get(TENANT_ROUTE, headers=headers), 401)
    assert "Bearer" in body["detail"]


async def test_garbage_bearer_token_is_401(client):
    assert_invalid_token(await get_with(client, TENANT_ROUTE, "abc.def"))


async def test_control_a_properly_signed_service_token_is_accepted(client, service_keys, tenant):
    token = sign_as_service(service_keys, service_claims(tenant["id"]))
    response = await get_with(client, TENANT_ROUTE, token)
    assert response.status_code == 200, response.text


# --- 2. attacks on service-signed tokens ------------------------------------------------------------


async def test_alg_none_is_401(client, service_keys, tenant):
    header = {"alg": "none", "typ": "at+jwt", "kid": service_keys.keys[-1].kid}
    unsigned = f"{b64url_json(header)}.{b64url_json(service_claims(tenant['id']))}."
    assert_invalid_token(await get_with(client, TENANT_ROUTE, unsigned))


@pytest.mark.parametrize("secret_form", ["raw-public-key", "public-key-pem"])
async def test_hs256_signed_with_the_service_public_key_is_401(client, service_keys, tenant, secret_form):
    public = service_keys.keys[-1].public_key
    if secret_form == "raw-public-key":
        secret = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        secret = public_pem(service_keys.keys[-1].private_key).encode()
    header = {"alg": "HS256", "typ": "at+jwt", "kid": service_keys.keys[-1].kid}
    token = hs256_by_hand(header, service_claims(tenant["id"]), secret)
    assert_invalid_token(await get_with(client, TENANT_ROUTE, token))


async def test_expired_beyond_leeway_is_401(client, service_keys, tenant):
    now = int(time.time())
    claims = service_claims(tenant["id"], iat=now - 3600, nbf=now - 3600, exp=now - 60)
    body = assert_invalid_token(await get_with(client, TENANT_ROUTE, sign_as_service(service_keys, claims)))
    assert "expired" in body["detail"]


async def test_expired_within_leeway_is_still_accepted(client, service_keys, tenant):
    now = int(time.time())
    claims = service_claims(tenant["id"], iat=now - 600, nbf=now - 600, exp=now - 2)
    response = await get_with(client, TENANT_ROUTE, sign_as_service(service_keys, claims))
    assert response.status_code == 200, response.text


async def test_not_yet_valid_is_401(client, service_keys, tenant):
    claims = service_claims(tenant["id"], nbf=int(time.time()) + 3600)
    body = assert_invalid_token(await get_with(client, TENANT_ROUTE, sign_as_service(service_keys, claims)))
    assert "not yet valid" in body["detail"]


async def test_wrong_issuer_is_401(client, service_keys, tenant):
    claims = service_claims(tenant["id"], iss="someone-else")
    assert_invalid_token(await get_with(client, TENANT_ROUTE, sign_as_service(service_keys, claims)))


async def test_wrong_audience_is_401(client, service_keys, tenant):
    claims = service_claims(tenant["id"], aud="another-api")
    body = assert_invalid_token(await get_with(client, TENANT_ROUTE, sign_as_service(service_keys, claims)))
    assert "audience" in body["detail"]


async def test_fresh_key_with_unknown_kid_is_401(client, service_keys, tenant):
    token = sign_as_service(
        service_keys,
        service_claims(tenant["id"]),
        private_key=ed25519.Ed25519PrivateKey.generate(),
        kid="not-a-service-kid",
    )
    assert "not-a-service-kid" not in service_keys.by_kid
    assert_invalid_token(await get_with(client, TENANT_ROUTE, token))


async def test_real_kid_signed_with_another_key_is_401(client, service_keys, tenant):
    token = sign_as_service(
        service_keys, service_claims(tenant["id"]), private_key=ed25519.Ed25519PrivateKey.generate()
    )
    assert jwt.get_unverified_header(token)["kid"] == service_keys.keys[-1].kid
    assert_invalid_token(await get_with(client, TENANT_ROUTE, token))


async def test_tampered_payload_is_401(client, service_keys, tenant):
    token = sign_as_service(service_keys, service_claims(tenant["id"], roles=["candidate"]))
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["roles"] = ["tenant_admin", "operator"]
    tampered = f"{header}.{b64url_json(claims)}.{signature}"
    assert tampered != token
    assert_invalid_token(await get_with(client, TENANT_ROUTE, tampered))
    assert_invalid_token(await get_with(client, "/v1/tenants", tampered))


async def test_missing_exp_is_401(client, service_keys, tenant):
    claims = service_claims(tenant["id"], exp=None)
    assert "exp" not in claims
    assert_invalid_token(await get_with(client, TENANT_ROUTE, sign_as_service(service_keys, claims)))


async def test_token_for_a_tenant_that_does_not_exist_is_401(client, service_keys, tenant):
    response = await client.get(TENANT_ROUTE, headers=user(service_keys, uuid4(), ["tenant_admin"]))
    body = assert_invalid_token(response)
    assert "tenant" in body["detail"]


async def test_valid_token_without_the_role_is_403_not_401(client, service_keys, tenant):
    response = await client.get(TENANT_ROUTE, headers=user(service_keys, tenant["id"], ["candidate"]))
    body = assert_problem(response, 403)
    assert body["type"] == "urn:assess:problem:forbidden"
    assert "www-authenticate" not in response.headers


# --- 3. tokens from a tenant's own identity provider ------------------------------------------------


async def test_idp_token_of_a_provisioned_person_reaches_me(client, idp_tenant):
    response = await get_with(client, CANDIDATE_ROUTE, idp_tenant.token())
    assert response.status_code == 200, response.text
    assert response.json()["external_id"] == "cadre-1"


async def test_idp_token_naming_another_tenant_is_401(client, service_keys, idp_tenant):
    other = await make_tenant(client, service_keys, "region-b")
    body = assert_invalid_token(await get_with(client, CANDIDATE_ROUTE, idp_tenant.token(tenant=other["id"])))
    assert "another tenant" in body["detail"]


@pytest.mark.parametrize("b_issuer", ["same-issuer-string", "own-issuer-string"])
async def test_idp_token_aimed_at_another_tenants_audience_is_401(client, service_keys, idp_tenant, b_issuer):
    other = await make_tenant(client, service_keys, "region-b")
    b_idp = IdentityProvider(
        idp_tenant.idp.issuer if b_issuer == "same-issuer-string" else "https://login.region-b.example"
    )
    await register_issuer(
        client,
        service_keys,
        other["slug"],
        {"issuer": b_idp.issuer, "audience": "assess-region-b", "jwks": b_idp.jwks()},
    )
    put = await client.put("/v1/people/cadre-1", json={}, headers=other["admin"])
    assert put.status_code == 201, put.text
    # B's own provider gets in, so the registration works and the 401 below is about A's token.
    assert (await get_with(client, CANDIDATE_ROUTE, b_idp.token("assess-region-b"))).status_code == 200

    token = idp_tenant.idp.token("assess-region-b", "cadre-1")
    assert_invalid_token(await get_with(client, CANDIDATE_ROUTE, token))


async def test_idp_token_signed_by_an_unregistered_key_is_401(client, idp_tenant):
    impostor = IdentityProvider(idp_tenant.idp.issuer, kid=idp_tenant.idp.kid)
    token = impostor.token(idp_tenant.audience, idp_tenant.person)
    assert_invalid_token(await get_with(client, CANDIDATE_ROUTE, token))


async def test_unprovisioned_person_is_403_until_the_tenant_auto_provisions(client, service_keys, idp_tenant):
    token = idp_tenant.token(sub="newcomer-7")
    body = assert_problem(await get_with(client, CANDIDATE_ROUTE, token), 403)
    assert "not provisioned" in body["detail"]
    assert body["type"] == "urn:assess:problem:person-not-provisioned"

    patched = await client.patch(
        f"/v1/tenants/{idp_tenant.tenant['slug']}",
        json={"auto_provision_people": True},
        headers=operator(service_keys),
    )
    assert patched.status_code == 200, patched.text
    response = await get_with(client, CANDIDATE_ROUTE, token)
    assert response.status_code == 200, response.text
    assert response.json()["external_id"] == "newcomer-7"


async def test_suspended_tenant_refuses_valid_tokens_with_403(client, service_keys, idp_tenant):
    slug, tenant_id = idp_tenant.tenant["slug"], idp_tenant.tenant["id"]
    patched = await client.patch(
        f"/v1/tenants/{slug}", json={"status": "suspended"}, headers=operator(service_keys)
    )
    assert patched.status_code == 200, patched.text

    for path, headers in [
        (CANDIDATE_ROUTE, bearer(idp_tenant.token())),
        (TENANT_ROUTE, user(service_keys, tenant_id, ["tenant_admin"])),
    ]:
        body = assert_problem(await client.get(path, headers=headers), 403)
        assert body["type"] == "urn:assess:problem:tenant-suspended", path


async def post_issuer(client, service_keys, tenant, route: str, body: dict[str, Any]) -> httpx.Response:
    """Register through the operator route (the only one: tenant admins may only list their issuers)."""
    return await client.post(
        f"/v1/tenants/{tenant['slug']}/issuers", json=body, headers=operator(service_keys)
    )


@pytest.mark.parametrize("route", ["operator"])
async def test_registering_a_jwks_with_a_private_key_is_422(client, service_keys, tenant, route):
    idp = IdentityProvider("https://login.region-a.example")
    private_jwk = {**json.loads(ECAlgorithm.to_jwk(idp.private_key)), "kid": idp.kid, "alg": "ES256"}
    assert "d" in private_jwk
    response = await post_issuer(
        client,
        service_keys,
        tenant,
        route,
        {"issuer": idp.issuer, "audience": "assess-region-a", "jwks": {"keys": [private_jwk]}},
    )
    body = assert_problem(response, 422)
    assert "/jwks/keys/0/d" in [e.get("pointer") for e in body["errors"]]


@pytest.mark.parametrize("route", ["operator"])
async def test_registering_a_symmetric_oct_key_is_422(client, service_keys, tenant, route):
    oct_key = {"kty": "oct", "k": b64url(b"a shared secret of thirty-two b."), "kid": "shared"}
    response = await post_issuer(
        client,
        service_keys,
        tenant,
        route,
        {
            "issuer": "https://login.region-a.example",
            "audience": "assess-region-a",
            "jwks": {"keys": [oct_key]},
        },
    )
    body = assert_problem(response, 422)
    assert any(e.get("pointer", "").startswith("/jwks/keys") for e in body["errors"]), body


# --- 4. PEM-registered issuers ----------------------------------------------------------------------

PEM_KEY_KINDS = {
    "ed25519": (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
    "ec-p256": (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
    "rsa-2048": (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
}


@pytest.mark.parametrize("kind", list(PEM_KEY_KINDS))
async def test_pem_registered_issuer_accepts_its_tokens_and_only_those(client, service_keys, tenant, kind):
    generate, algorithm = PEM_KEY_KINDS[kind]
    private_key = generate()
    issuer, audience = "https://pem.region-a.example", "assess-region-a-pem"
    await register_issuer(
        client,
        service_keys,
        tenant["slug"],
        {"issuer": issuer, "audience": audience, "pem_keys": [{"pem": public_pem(private_key), "kid": "k1"}]},
    )
    put = await client.put("/v1/people/pem-person", json={}, headers=tenant["admin"])
    assert put.status_code == 201, put.text

    def token(key: Any) -> str:
        now = int(time.time())
        return jwt.encode(
            {"iss": issuer, "aud": audience, "sub": "pem-person", "iat": now, "exp": now + 300},
            key,
            algorithm=algorithm,
            headers={"kid": "k1"},
        )

    response = await get_with(client, CANDIDATE_ROUTE, token(private_key))
    assert response.status_code == 200, response.text
    assert response.json()["external_id"] == "pem-person"

    assert_invalid_token(await get_with(client, CANDIDATE_ROUTE, token(generate())))


# --- 5. the service's published keys ----------------------------------------------------------------


async def test_jwks_publishes_public_keys_that_verify_service_tokens(client, service_keys, tenant):
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    document = response.json()
    assert {k["kid"] for k in document["keys"]} == set(service_keys.by_kid)
    for key in document["keys"]:
        assert not {"d", "p", "q", "k"} & set(key), key
        assert key["kty"] == "OKP" and key["alg"] == "EdDSA" and key["use"] == "sig"

    token = sign_as_service(service_keys, service_claims(tenant["id"]))
    signing_key = jwt.PyJWKSet.from_dict(document)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, signing_key.key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["tenant"] == tenant["id"]

    forged = sign_as_service(
        service_keys, service_claims(tenant["id"]), private_key=ed25519.Ed25519PrivateKey.generate()
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, signing_key.key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)


def test_loaded_keys_follow_the_file_at_most_once_per_reload_interval(tmp_path):
    from service.auth.keys import ServiceKeys, ensure_keys_file, rotate_keys

    path = tmp_path / "keys.json"
    ensure_keys_file(path)
    keys = ServiceKeys.load(path, reload_seconds=5)
    first = keys.keys[-1].kid
    checked = keys._checked
    new = rotate_keys(path)
    assert keys.find(new) is None  # looked at less than 5 s ago: no read
    assert not keys.refresh(checked + 1)
    assert (
        keys.refresh(checked + 6) and keys.by_kid[new] and keys.keys[-1].kid == new and first in keys.by_kid
    )
    assert not keys.refresh(checked + 12)  # unchanged file: nothing re-read
    path.write_text("{not json")
    assert not keys.refresh(checked + 18) and keys.keys[-1].kid == new  # a broken file keeps the loaded keys


# --- the verified-token cache: the signature once per worker, everything else on every request -------


@pytest.fixture
async def cached(owner_url, keys_file) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose auth caches hold (AUTH_CACHE_SECONDS=60, as deployed; the tests' default is 0)."""
    settings = Settings.from_env(
        {"DATABASE_URL": owner_url, "SERVICE_KEYS_FILE": str(keys_file), "AUTH_CACHE_SECONDS": "60"}
    )
    async with serving(app_for(settings)) as http:
        yield http


@pytest.fixture
async def cached_idp(cached, service_keys) -> IdpTenant:
    tenant = await make_tenant(cached, service_keys, "region-cached")
    return await make_idp_tenant(cached, service_keys, tenant)


async def test_a_cached_token_is_refused_once_its_tenant_is_suspended(cached, service_keys, cached_idp):
    slug, tenant_id = cached_idp.tenant["slug"], cached_idp.tenant["id"]
    idp_token = bearer(cached_idp.token())
    admin = user(service_keys, tenant_id, ["tenant_admin"])
    for _ in range(2):  # verified, then from the cache
        assert (await cached.get(CANDIDATE_ROUTE, headers=idp_token)).status_code == 200
        assert (await cached.get(TENANT_ROUTE, headers=admin)).status_code == 200
    patched = await cached.patch(
        f"/v1/tenants/{slug}", json={"status": "suspended"}, headers=operator(service_keys)
    )
    assert patched.status_code == 200, patched.text
    for path, headers in [(CANDIDATE_ROUTE, idp_token), (TENANT_ROUTE, admin)]:
        body = assert_problem(await cached.get(path, headers=headers), 403)
        assert body["type"] == "urn:assess:problem:tenant-suspended", path


async def test_a_cached_token_of_a_deactivated_person_is_refused(cached, cached_idp):
    token = cached_idp.token()
    for _ in range(2):
        assert (await get_with(cached, CANDIDATE_ROUTE, token)).status_code == 200
    patched = await cached.patch(
        f"/v1/people/{cached_idp.person}", json={"active": False}, headers=cached_idp.tenant["admin"]
    )
    assert patched.status_code == 200, patched.text
    assert_problem(await get_with(cached, CANDIDATE_ROUTE, token), 403)


async def test_a_cached_idp_token_is_refused_once_its_issuer_is_no_longer_trusted(
    cached, service_keys, cached_idp
):
    token = cached_idp.token()
    for _ in range(2):
        assert (await get_with(cached, CANDIDATE_ROUTE, token)).status_code == 200
    slug = cached_idp.tenant["slug"]
    listed = await cached.get(f"/v1/tenants/{slug}/issuers", headers=operator(service_keys))
    (issuer,) = listed.json() if isinstance(listed.json(), list) else listed.json()["items"]
    deleted = await cached.delete(
        f"/v1/tenants/{slug}/issuers/{issuer['id']}", headers=operator(service_keys)
    )
    assert deleted.status_code == 204, deleted.text
    assert_invalid_token(await get_with(cached, CANDIDATE_ROUTE, token))


async def test_a_token_signature_is_verified_once_and_the_cache_ends_at_exp(cached, service_keys):
    tenant = await make_tenant(cached, service_keys, "region-cached")
    verifier = cached._transport.app.state.runtime.verifier  # type: ignore[attr-defined]
    verified = verifier._verify
    calls = 0

    async def counted(token: str):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return await verified(token)

    verifier._verify = counted
    claims = service_claims(tenant["id"], exp=int(time.time()) + 2)
    token = sign_as_service(service_keys, claims)
    for _ in range(3):
        assert (await get_with(cached, TENANT_ROUTE, token)).status_code == 200
    assert calls == 1
    await asyncio.sleep(2.2)  # past exp: verified again (the leeway is the verifier's, never the cache's)
    assert (await get_with(cached, TENANT_ROUTE, token)).status_code == 200
    assert calls == 2


async def test_a_cached_token_is_refused_once_its_signing_key_is_retired(owner_url, tmp_path):
    keys_file = tmp_path / "signing-keys.json"
    ensure_keys_file(keys_file)
    settings = Settings.from_env(
        {
            "DATABASE_URL": owner_url,
            "SERVICE_KEYS_FILE": str(keys_file),
            "SERVICE_KEYS_RELOAD_SECONDS": "0",
            "AUTH_CACHE_SECONDS": "60",
        }
    )
    async with serving(create_app(settings)) as http:
        keys = ServiceKeys.load(keys_file)
        tenant = await make_tenant(http, keys, "region-rotating")
        for _ in range(2):
            assert (await http.get(TENANT_ROUTE, headers=tenant["admin"])).status_code == 200
        rotate_keys(keys_file, keep=2)  # the old key still verifies
        assert (await http.get("/.well-known/jwks.json")).status_code == 200  # the worker reads the file
        assert (await http.get(TENANT_ROUTE, headers=tenant["admin"])).status_code == 200
        rotate_keys(keys_file, keep=1)  # now it is retired
        assert (await http.get("/.well-known/jwks.json")).status_code == 200
        assert (
            "unknown key id"
            in assert_invalid_token(await http.get(TENANT_ROUTE, headers=tenant["admin"]))["detail"]
        )
