"""Service clients (HR systems): secrets shown once, the client credentials grant (RFC 6749 §4.4),
scopes enforced on routes, rotation with a grace period, revocation that takes effect at once,
and a client that sees only its own tenant."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import jwt
import pytest

from service.api.app import create_app
from service.auth.issue import issue_token
from service.auth.keys import ServiceKeys
from service.config import Settings
from tests.conftest import serving
from tests.harness import app_for
from tests.helpers import AUDIENCE, ISSUER, all_pages, bearer, make_tenant, operator, user

PROBLEM = "application/problem+json"
ALL_SCOPES = ["people:write", "org-units:write", "scores:read", "aggregates:read", "webhooks:manage"]


# --- helpers ----------------------------------------------------------------------------------------


async def create_client(
    client: httpx.AsyncClient, admin: dict[str, str], scopes: list[str], name: str = "HR system"
) -> dict[str, Any]:
    response = await client.post("/v1/clients", json={"name": name, "scopes": scopes}, headers=admin)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


async def request_token(
    client: httpx.AsyncClient, client_id: str, secret: str, *, basic: bool = True, **form: str
) -> httpx.Response:
    body = {"grant_type": "client_credentials", **form}
    if basic:
        return await client.post("/oauth/token", data=body, auth=(client_id, secret))
    return await client.post("/oauth/token", data={**body, "client_id": client_id, "client_secret": secret})


async def token_for(client: httpx.AsyncClient, made: dict[str, Any], **form: str) -> dict[str, str]:
    response = await request_token(client, made["id"], made["client_secret"], **form)
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


def assert_oauth_error(response: httpx.Response, error: str) -> dict[str, Any]:
    """RFC 6749 §5.2: JSON with `error` (and our `error_description`), 401 + WWW-Authenticate for invalid_client."""
    status = 401 if error == "invalid_client" else 400
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error and body["error_description"], body
    if error == "invalid_client":
        assert response.headers["www-authenticate"].startswith("Basic")
    return body


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    return response.json()


def bulk(*external_ids: str) -> dict[str, Any]:
    return {"people": [{"external_id": e, "category": "teacher"} for e in external_ids]}


@pytest.fixture
async def tenant(client: httpx.AsyncClient, service_keys: ServiceKeys) -> dict[str, Any]:
    return await make_tenant(client, service_keys, "hr-region")


# --- managing clients -------------------------------------------------------------------------------


async def test_the_secret_is_shown_once_and_stored_as_its_sha256(client, tenant, owner_url):
    admin = tenant["admin"]
    made = await create_client(client, admin, ["scores:read", "people:write", "people:write"], name="SAP HR")
    assert made["scopes"] == ["people:write", "scores:read"]  # de-duplicated, in the canonical order
    assert made["status"] == "active" and made["created_by"] == "someone"
    assert made["rotated_at"] is None and made["revoked_at"] is None and made["last_token_at"] is None
    assert len(made["client_secret"]) >= 43  # token_urlsafe(32): 256 bits

    listed = await client.get("/v1/clients", headers=admin)
    assert listed.status_code == 200
    [entry] = listed.json()["items"]
    assert listed.json()["next_cursor"] is None
    read = await client.get(f"/v1/clients/{made['id']}", headers=admin)
    assert read.status_code == 200
    for shown in (entry, read.json()):
        assert "client_secret" not in shown and made["client_secret"] not in str(shown)
        assert shown == {k: v for k, v in made.items() if k != "client_secret"}

    conn = await asyncpg.connect(owner_url)
    try:
        stored = await conn.fetchrow("SELECT * FROM service_clients WHERE id = $1", made["id"])
    finally:
        await conn.close()
    assert stored["secret_hash"] == hashlib.sha256(made["client_secret"].encode()).hexdigest()
    assert made["client_secret"] not in str(dict(stored))


async def test_creating_a_client_is_validated_and_for_tenant_admins_only(client, service_keys, tenant):
    admin = tenant["admin"]
    for body, pointer in (
        ({"name": "x", "scopes": ["people:read"]}, "/scopes/0"),
        ({"name": "x", "scopes": []}, "/scopes"),
        ({"name": "", "scopes": ["scores:read"]}, "/name"),
        ({"name": "x", "scopes": ["scores:read"], "secret": "mine"}, "/secret"),
    ):
        problem = assert_problem(await client.post("/v1/clients", json=body, headers=admin), 400)
        assert [e["pointer"] for e in problem["errors"]] == [pointer], problem
    analyst = user(service_keys, tenant["id"], ["analyst"])
    hr_user = user(service_keys, tenant["id"], ["hr_client"])
    for headers in (analyst, hr_user, operator(service_keys)):
        assert_problem(
            await client.post("/v1/clients", json={"name": "x", "scopes": ["scores:read"]}, headers=headers),
            403,
        )
        assert_problem(await client.get("/v1/clients", headers=headers), 403)
    # A client cannot manage clients, whatever its scopes.
    made = await create_client(client, admin, ALL_SCOPES)
    token = await token_for(client, made)
    assert_problem(await client.get("/v1/clients", headers=token), 403)
    assert_problem(await client.post(f"/v1/clients/{made['id']}/rotate", json={}, headers=token), 403)
    assert_problem(await client.get("/v1/tenant", headers=token), 403)
    assert_problem(await client.get(f"/v1/clients/{uuid4()}", headers=admin), 404)


# --- the token endpoint -----------------------------------------------------------------------------


async def test_token_by_basic_or_body_is_a_short_lived_jwt_verifiable_with_the_jwks(
    client, tenant, owner_url
):
    made = await create_client(client, tenant["admin"], ["people:write", "scores:read"])
    jwks = (await client.get("/.well-known/jwks.json")).json()
    for basic in (True, False):
        response = await request_token(client, made["id"], made["client_secret"], basic=basic)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        issued = response.json()
        assert issued["token_type"] == "Bearer" and issued["expires_in"] == 300
        assert issued["scope"] == "people:write scores:read"
        token = issued["access_token"]
        header = jwt.get_unverified_header(token)
        [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
        claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
        assert claims["kind"] == "client" and claims["roles"] == ["hr_client"]
        assert claims["sub"] == claims["client_id"] == made["id"] and claims["tenant"] == tenant["id"]
        assert claims["scope"] == "people:write scores:read"
        assert claims["exp"] - claims["iat"] == 300 and claims["jti"]
    read = (await client.get(f"/v1/clients/{made['id']}", headers=tenant["admin"])).json()
    assert read["last_token_at"] is not None

    # A subset of the client's scopes, on request.
    narrow = await request_token(client, made["id"], made["client_secret"], scope="scores:read")
    assert narrow.status_code == 200 and narrow.json()["scope"] == "scores:read"


async def test_client_token_lifetime_follows_the_setting(owner_url, keys_file, service_keys):
    settings = Settings.from_env(
        {
            "DATABASE_URL": owner_url,
            "SERVICE_KEYS_FILE": str(keys_file),
            "AUTH_CACHE_SECONDS": "0",
            "CLIENT_TOKEN_SECONDS": "42",
        }
    )
    async with serving(create_app(settings)) as client:
        tenant = await make_tenant(client, service_keys, "short-lived")
        made = await create_client(client, tenant["admin"], ["scores:read"])
        issued = (await request_token(client, made["id"], made["client_secret"])).json()
        assert issued["expires_in"] == 42
        claims = jwt.decode(issued["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 42


async def test_malformed_token_requests_get_rfc6749_errors(client, tenant):
    made = await create_client(client, tenant["admin"], ["people:write"])
    cid, secret = made["id"], made["client_secret"]
    basic = {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}

    async def form(
        body: str,
        headers: dict[str, str] | None = None,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> httpx.Response:
        return await client.post(
            "/oauth/token", content=body.encode(), headers={"content-type": content_type, **(headers or {})}
        )

    assert_oauth_error(await form("", basic), "invalid_request")  # no grant_type
    assert_oauth_error(await form("grant_type=", basic), "invalid_request")  # empty counts as omitted
    assert_oauth_error(
        await form("grant_type=password&username=u&password=p", basic), "unsupported_grant_type"
    )
    assert_oauth_error(await form("grant_type=authorization_code&code=x", basic), "unsupported_grant_type")
    assert_oauth_error(
        await form(f"grant_type=client_credentials&client_id={cid}&client_secret={secret}", basic),
        "invalid_request",
    )  # both authentication methods
    assert_oauth_error(await form(f"grant_type=client_credentials&client_id={cid}", basic), "invalid_request")
    assert_oauth_error(
        await form("grant_type=client_credentials&grant_type=client_credentials", basic), "invalid_request"
    )  # a repeated parameter
    assert_oauth_error(
        await form('{"grant_type": "client_credentials"}', basic, "application/json"), "invalid_request"
    )
    assert_oauth_error(
        await form("grant_type=client_credentials&scope=people:write%20people:read", basic), "invalid_scope"
    )  # no such scope
    assert_oauth_error(
        await form("grant_type=client_credentials&scope=scores:read", basic), "invalid_scope"
    )  # not granted to this client
    assert_oauth_error(await form("grant_type=client_credentials&scope=%20", basic), "invalid_scope")
    assert_oauth_error(await form(f"grant_type=client_credentials&client_secret={secret}"), "invalid_request")

    # Client authentication that fails: 401 invalid_client with WWW-Authenticate.
    assert_oauth_error(await form("grant_type=client_credentials"), "invalid_client")  # none at all
    assert_oauth_error(await form(f"grant_type=client_credentials&client_id={cid}"), "invalid_client")
    assert_oauth_error(await request_token(client, cid, secret + "x"), "invalid_client")
    assert_oauth_error(await request_token(client, cid, secret[:-1], basic=False), "invalid_client")
    assert_oauth_error(await request_token(client, str(uuid4()), secret), "invalid_client")
    assert_oauth_error(await request_token(client, "not-a-uuid", secret), "invalid_client")
    assert_oauth_error(
        await form("grant_type=client_credentials", {"Authorization": "Basic %%%"}), "invalid_client"
    )
    assert_oauth_error(
        await form(
            "grant_type=client_credentials",
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        ),
        "invalid_client",
    )
    assert_oauth_error(
        await form("grant_type=client_credentials", {"Authorization": "Bearer abc"}), "invalid_client"
    )

    # Parameters this grant does not use are ignored (RFC 6749 §3.2); the right secret still works.
    ok = await form("grant_type=client_credentials&audience=x", basic)
    assert ok.status_code == 200, ok.text


async def test_a_suspended_tenants_client_gets_no_token(client, service_keys, tenant):
    made = await create_client(client, tenant["admin"], ["people:write"])
    headers = await token_for(client, made)
    suspended = await client.patch(
        f"/v1/tenants/{tenant['slug']}", json={"status": "suspended"}, headers=operator(service_keys)
    )
    assert suspended.status_code == 200, suspended.text
    assert_oauth_error(await request_token(client, made["id"], made["client_secret"]), "invalid_client")
    assert_problem(await client.get("/v1/people", headers=headers), 403)


# --- scopes on routes -------------------------------------------------------------------------------


async def test_scopes_decide_what_a_client_may_do(client, tenant):
    admin = tenant["admin"]
    assert (
        await client.post("/v1/org-units", json={"code": "P", "name": "P"}, headers=admin)
    ).status_code == 201
    writer = await token_for(client, await create_client(client, admin, ["people:write"]))
    reader = await token_for(client, await create_client(client, admin, ["scores:read"]))
    units = await token_for(client, await create_client(client, admin, ["org-units:write"]))
    analyst = await token_for(client, await create_client(client, admin, ["aggregates:read"]))

    # people:write provisions people (and reads them back); nothing else does.
    done = await client.post("/v1/people/bulk", json=bulk("E1", "E2"), headers=writer)
    assert done.status_code == 200 and done.json() == {"created": 2, "updated": 0}, done.text
    assert (await client.put("/v1/people/E3", json={"org_unit_code": "P"}, headers=writer)).status_code == 201
    assert (await client.get("/v1/people/E1", headers=writer)).status_code == 200
    for headers in (reader, units, analyst):
        problem = assert_problem(await client.post("/v1/people/bulk", json=bulk("E9"), headers=headers), 403)
        assert "people:write" in problem["detail"]
        assert_problem(await client.put("/v1/people/E9", json={}, headers=headers), 403)
        assert_problem(await client.get("/v1/people", headers=headers), 403)

    # org-units:write changes the tree; every data scope reads it.
    made = await client.post(
        "/v1/org-units", json={"code": "C", "name": "C", "parent_code": "P"}, headers=units
    )
    assert made.status_code == 201, made.text
    for headers in (writer, reader, units, analyst):
        assert (await client.get("/v1/org-units/C", headers=headers)).status_code == 200
    for headers in (writer, reader, analyst):
        assert_problem(
            await client.post("/v1/org-units", json={"code": "D", "name": "D"}, headers=headers), 403
        )
        assert_problem(await client.patch("/v1/org-units/C", json={"name": "x"}, headers=headers), 403)

    # scores:read reads the score feed; aggregates:read the aggregates (a 404 for an assessment nobody has
    # means the guard let it through); neither opens the other.
    assert (await client.get("/v1/scores", headers=reader)).status_code == 200
    assert_problem(await client.get("/v1/scores", headers=analyst), 403)
    assert_problem(await client.get("/v1/scores", headers=writer), 403)
    assert_problem(await client.get("/v1/assessments/NOPE/aggregates", headers=analyst), 404)
    assert_problem(await client.get("/v1/assessments/NOPE/aggregates", headers=reader), 403)
    assert_problem(await client.post("/v1/assessments/NOPE/aggregate-jobs", headers=analyst), 403)

    # Routes that name no scope are closed to clients, even to one granted everything.
    everything = await token_for(client, await create_client(client, admin, ALL_SCOPES))
    for path in (
        "/v1/frameworks",
        "/v1/items",
        "/v1/assessments",
        "/v1/me",
        "/v1/rating-tasks",
        "/v1/tenant",
    ):
        assert_problem(await client.get(path, headers=everything), 403)

    # A token asked for with fewer scopes carries only those.
    narrow = await token_for(
        client, await create_client(client, admin, ["people:write", "scores:read"]), scope="scores:read"
    )
    assert_problem(await client.post("/v1/people/bulk", json=bulk("E9"), headers=narrow), 403)


async def test_forged_client_tokens_are_refused(client, service_keys, tenant):
    made = await create_client(client, tenant["admin"], ["people:write"])

    def forged(subject: str, roles: list[str], scope: str | None) -> dict[str, str]:
        extra = {} if scope is None else {"scope": scope}
        return bearer(
            issue_token(
                service_keys,
                issuer=ISSUER,
                audience=AUDIENCE,
                kind="client",
                subject=subject,
                roles=roles,
                tenant_id=tenant["id"],
                extra_claims=extra,
            )
        )

    assert (
        await client.get("/v1/people", headers=forged(made["id"], ["hr_client"], "people:write"))
    ).status_code == 200  # the shape the token endpoint issues
    for headers in (
        forged(str(uuid4()), ["hr_client"], "people:write"),  # no such client
        forged("not-a-uuid", ["hr_client"], "people:write"),
        forged(made["id"], ["tenant_admin"], "people:write"),  # a client has no other role
        forged(made["id"], ["hr_client"], None),
        forged(made["id"], ["hr_client"], ""),
        forged(made["id"], ["hr_client"], "people:write root"),
    ):
        assert_problem(await client.get("/v1/people", headers=headers), 401)
    # A client's token naming another tenant than the client's.
    other = await make_tenant(client, service_keys, "other-region")
    wrong_tenant = bearer(
        issue_token(
            service_keys,
            issuer=ISSUER,
            audience=AUDIENCE,
            kind="client",
            subject=made["id"],
            roles=["hr_client"],
            tenant_id=other["id"],
            extra_claims={"scope": "people:write"},
        )
    )
    assert_problem(await client.get("/v1/people", headers=wrong_tenant), 401)


# --- rotation and revocation ------------------------------------------------------------------------


async def test_rotation_keeps_the_old_secret_for_the_grace_period_only(client, tenant):
    admin = tenant["admin"]
    made = await create_client(client, admin, ["people:write"])
    first = made["client_secret"]

    rotated = await client.post(f"/v1/clients/{made['id']}/rotate", json={}, headers=admin)
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    second = rotated.json()["client_secret"]
    assert second != first and rotated.json()["rotated_at"] is not None
    grace_ends = rotated.json()["previous_secret_valid_until"]
    assert grace_ends is not None
    # Both work during the (default, 24 h) grace period.
    for secret in (first, second):
        assert (await request_token(client, made["id"], secret)).status_code == 200

    # Rotating again with no grace: only the newest secret works, at once; the first one's grace ended too.
    again = await client.post(f"/v1/clients/{made['id']}/rotate", json={"grace_seconds": 0}, headers=admin)
    assert again.status_code == 200, again.text
    third = again.json()["client_secret"]
    assert again.json()["previous_secret_valid_until"] is None
    for secret in (first, second):
        assert_oauth_error(await request_token(client, made["id"], secret), "invalid_client")
        assert_oauth_error(await request_token(client, made["id"], secret, basic=False), "invalid_client")
    assert (await request_token(client, made["id"], third)).status_code == 200

    for body in (
        {"grace_seconds": -1},
        {"grace_seconds": 7 * 86400 + 1},
        {"grace_seconds": "60"},
        {"grace": 5},
    ):
        assert_problem(await client.post(f"/v1/clients/{made['id']}/rotate", json=body, headers=admin), 400)
    week = await client.post(
        f"/v1/clients/{made['id']}/rotate", json={"grace_seconds": 7 * 86400}, headers=admin
    )
    assert week.status_code == 200
    assert_problem(await client.post(f"/v1/clients/{uuid4()}/rotate", json={}, headers=admin), 404)


async def test_revocation_takes_effect_at_once(client, tenant):
    admin = tenant["admin"]
    made = await create_client(client, admin, ["people:write"])
    kept = await create_client(client, admin, ["people:write"], name="another")
    headers, other = await token_for(client, made), await token_for(client, kept)
    assert (await client.get("/v1/people", headers=headers)).status_code == 200

    revoked = await client.post(f"/v1/clients/{made['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_at"]
    assert_oauth_error(await request_token(client, made["id"], made["client_secret"]), "invalid_client")
    problem = assert_problem(await client.get("/v1/people", headers=headers), 401)  # its outstanding token
    assert "revoked" in problem["detail"]
    assert (await client.get("/v1/people", headers=other)).status_code == 200  # other clients carry on

    again = await client.post(f"/v1/clients/{made['id']}/revoke", headers=admin)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert_problem(await client.post(f"/v1/clients/{made['id']}/rotate", json={}, headers=admin), 409)
    assert_oauth_error(await request_token(client, made["id"], made["client_secret"]), "invalid_client")
    assert_problem(await client.post(f"/v1/clients/{uuid4()}/revoke", headers=admin), 404)


async def test_revocation_clears_the_verification_cache_of_the_worker_that_revoked(
    owner_url, keys_file, service_keys
):
    """With verified tokens cached (AUTH_CACHE_SECONDS=60), the revoking worker still refuses at once."""
    settings = Settings.from_env(
        {"DATABASE_URL": owner_url, "SERVICE_KEYS_FILE": str(keys_file), "AUTH_CACHE_SECONDS": "60"}
    )
    async with serving(app_for(settings)) as client:
        tenant = await make_tenant(client, service_keys, "cached-region")
        made = await create_client(client, tenant["admin"], ["people:write"])
        kept = await create_client(client, tenant["admin"], ["people:write"], name="kept")
        headers, other = await token_for(client, made), await token_for(client, kept)
        for _ in range(2):  # verified once, then served from the cache
            assert (await client.get("/v1/people", headers=headers)).status_code == 200
            assert (await client.get("/v1/people", headers=other)).status_code == 200
        assert (
            await client.post(f"/v1/clients/{made['id']}/revoke", headers=tenant["admin"])
        ).status_code == 200
        assert_problem(await client.get("/v1/people", headers=headers), 401)
        assert (await client.get("/v1/people", headers=other)).status_code == 200


# --- tenants ----------------------------------------------------------------------------------------


async def test_a_client_sees_only_its_own_tenant(client, service_keys, tenant):
    other = await make_tenant(client, service_keys, "b-region")
    assert (
        await client.post("/v1/people/bulk", json=bulk("b-1", "b-2"), headers=other["admin"])
    ).status_code == 200
    assert (
        await client.post("/v1/org-units", json={"code": "B-ROOT", "name": "B"}, headers=other["admin"])
    ).status_code == 201
    a_client = await create_client(client, tenant["admin"], ALL_SCOPES)
    b_client = await create_client(client, other["admin"], ["people:write"])
    a_token = await token_for(client, a_client)

    listed = await client.get("/v1/people", headers=a_token)
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert_problem(await client.get("/v1/people/b-1", headers=a_token), 404)
    assert_problem(await client.get("/v1/org-units/B-ROOT", headers=a_token), 404)
    assert (await client.get("/v1/org-units", headers=a_token)).json()["items"] == []
    # Writing "b-1" through A's client creates A's own b-1; B's stays as it was.
    assert (
        await client.put("/v1/people/b-1", json={"category": "other"}, headers=a_token)
    ).status_code == 201
    assert (await client.get("/v1/people/b-1", headers=other["admin"])).json()["category"] == "teacher"

    # A's admin cannot see, rotate or revoke B's client: the same 404 as an id nobody has.
    a_admin = tenant["admin"]
    assert [c["id"] for c in (await client.get("/v1/clients", headers=a_admin)).json()["items"]] == [
        a_client["id"]
    ]
    for method, path, body in (("GET", "", None), ("POST", "/rotate", {}), ("POST", "/revoke", None)):
        answers = []
        for client_id in (b_client["id"], str(uuid4())):
            response = await client.request(
                method,
                f"/v1/clients/{client_id}{path}",
                headers=a_admin,
                **({"json": body} if body is not None else {}),
            )
            problem = assert_problem(response, 404)
            answers.append(problem["detail"].replace(client_id, "<id>"))
        assert answers[0] == answers[1]
    # B's client is untouched: its secret still works and it is not revoked.
    assert (await request_token(client, b_client["id"], b_client["client_secret"])).status_code == 200
    assert (await client.get(f"/v1/clients/{b_client['id']}", headers=other["admin"])).json()[
        "status"
    ] == "active"
    # A client's secret is no good as another client's.
    assert_oauth_error(
        await request_token(client, b_client["id"], a_client["client_secret"]), "invalid_client"
    )


async def test_a_client_over_its_rate_limit_gets_429_with_retry_after(owner_url, keys_file, service_keys):
    settings = Settings.from_env(
        {
            "DATABASE_URL": owner_url,
            "SERVICE_KEYS_FILE": str(keys_file),
            "CLIENT_RATE_PER_SECOND": "0.5",
            "CLIENT_RATE_BURST": "3",
        }
    )
    async with serving(create_app(settings)) as client:
        tenant = await make_tenant(client, service_keys, "throttled")
        made = await create_client(client, tenant["admin"], ["scores:read"])
        headers = await token_for(client, made)
        answers = [await client.get("/v1/scores", headers=headers) for _ in range(4)]
        assert [a.status_code for a in answers] == [
            200,
            200,
            200,
            429,
        ]  # a burst of 3, then half a request per second
        # IETF draft RateLimit headers: quota 3 per 6 s window, what is left, seconds until all is back
        assert [a.headers["ratelimit-policy"] for a in answers] == ['"client";q=3;w=6'] * 4
        assert [a.headers["ratelimit"].split(";t=")[0] for a in answers] == [
            '"client";r=2',
            '"client";r=1',
            '"client";r=0',
            '"client";r=0',
        ]
        refused = await client.get("/v1/scores", headers=headers)
        problem = assert_problem(refused, 429)
        assert refused.headers["retry-after"] in ("1", "2") and "0.5 requests per second" in problem["detail"]
        assert (
            "ratelimit" not in (await client.get("/v1/scores", headers=tenant["admin"])).headers
        )  # people: none
        # people are not limited: the tenant admin goes on
        assert all(
            [(await client.get("/v1/scores", headers=tenant["admin"])).status_code == 200 for _ in range(5)]
        )


async def test_the_client_list_pages_with_a_cursor(client, tenant):
    made = [
        (await create_client(client, tenant["admin"], ["scores:read"], name=f"HR {i}"))["id"]
        for i in range(5)
    ]
    assert [c["id"] for c in await all_pages(client, "/v1/clients", tenant["admin"], limit=2)] == made
    for params in ({"cursor": "bm9wZQ"}, {"limit": 0}, {"limit": 501}):
        problem = assert_problem(await client.get("/v1/clients", params=params, headers=tenant["admin"]), 400)
        assert problem["errors"][0]["parameter"] in params


async def test_tokens_issued_are_limited_per_client_and_only_correct_secrets_count(
    owner_url, keys_file, service_keys
):
    settings = Settings.from_env(
        {
            "DATABASE_URL": owner_url,
            "SERVICE_KEYS_FILE": str(keys_file),
            "TOKEN_RATE_PER_SECOND": "0.5",
            "TOKEN_RATE_BURST": "2",
        }
    )
    async with serving(create_app(settings)) as client:
        tenant = await make_tenant(client, service_keys, "token-throttled")
        first = await create_client(client, tenant["admin"], ["scores:read"])
        second = await create_client(client, tenant["admin"], ["scores:read"])
        answers = [await request_token(client, first["id"], first["client_secret"]) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[0].headers["ratelimit-policy"] == '"token";q=2;w=4'
        assert answers[0].headers["ratelimit"].startswith('"token";r=1;t=')
        refused = await request_token(client, first["id"], first["client_secret"])
        assert refused.status_code == 429 and refused.headers["content-type"].startswith("application/json")
        assert (
            refused.json()["error"] == "slow_down" and "0.5 per second" in refused.json()["error_description"]
        )
        assert refused.headers["retry-after"] in ("1", "2") and refused.headers["ratelimit"].startswith(
            '"token";r=0'
        )
        # Wrong secrets do not take from the client's bucket: a stranger cannot use it up.
        for _ in range(5):
            assert (await request_token(client, second["id"], "wrong")).status_code == 401
        assert (await request_token(client, second["id"], second["client_secret"])).status_code == 200
        assert (await request_token(client, second["id"], second["client_secret"])).status_code == 200
        assert (await request_token(client, second["id"], second["client_secret"])).status_code == 429
