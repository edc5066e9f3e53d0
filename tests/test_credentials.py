"""Open Badges 3.0 credentials end to end: issued when a final score becomes current, verified by an
independent library (openbadgeslib's OB3Verifier: VC-JWT signature over the did:web key the service
publishes, the OB 3.0 credential structure, and the Bitstring Status List the service serves),
revoked and issued anew by a rescoring, in the candidate's list and file, the HR feed, the webhook
outbox and the public verification route, which refuses what is not one of its credentials with a
typed problem."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import httpx
import jsonschema_rs
import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from openbadgeslib.ob3.verifier import OB3VerificationError, OB3Verifier

from service.config import Settings
from service.db.pool import create_pool, tenant_transaction
from service.results import credentials, scores
from service.results.vc_jwt import IssuerKey
from tests.delivery_setup import ITEMS, delivery_tenant
from tests.harness import app_for, serving, snapshot

# 1EdTech's OB 3.0 AchievementCredential schema, vendored with its provenance (tests/fixtures/ob_v3p0/README.md).
OB_SCHEMA = jsonschema_rs.Draft201909Validator(
    json.loads(
        (Path(__file__).parent / "fixtures/ob_v3p0/ob_v3p0_achievementcredential_schema.json").read_text()
    ),
    validate_formats=True,
)

ORIGIN = "https://assess.example.gov.cn"
ISSUER = {"name": {"zh-CN": "某省教育厅", "en": "Provincial Department of Education"}, "url": ORIGIN}
SETTINGS = {"enabled": True, "dimensions": {"AK": "L2"}, "overall": "L1", "valid_days": 365}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Events are queued for the test to read, never sent."""
    return msgspec.structs.replace(settings, webhook_dispatch_seconds=0)


@pytest.fixture
@snapshot
async def badged(client, service_keys):
    """Credentials on for 'quiz' (AK from L2, overall from L1); an HR webhook listens; c1, c2, c3
    answered T-SC-1 (keyed 'c') with b, c, c and submitted."""
    return await _badge_tenant(client, service_keys, "badge-region", ISSUER)


@pytest.fixture
@snapshot
async def ed_badged(client, service_keys):
    """As `badged`, the issuer made with an Ed25519 key (EdDSA)."""
    return await _badge_tenant(client, service_keys, "badge-eddsa", {**ISSUER, "algorithm": "EdDSA"})


async def _badge_tenant(client, service_keys, slug, issuer):
    tenant = await delivery_tenant(client, service_keys, slug=slug, people=3)
    admin = tenant["admin"]
    assert (await client.put("/v1/credential-issuer", json=issuer, headers=admin)).status_code == 200
    put = await client.put("/v1/assessments/quiz/credential-settings", json=SETTINGS, headers=admin)
    assert put.status_code == 200, put.text
    hook = {"url": "https://hr.example.gov.cn/hook", "events": ["credential.issued", "credential.revoked"]}
    assert (await client.post("/v1/webhooks", json=hook, headers=admin)).status_code == 201
    for me, choice in zip(tenant["candidates"], "bcc", strict=True):
        started = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)
        attempt = started.json()["attempt"]["id"]
        answer = {"revision": 1, "answer": {"choice": choice}}
        await client.put(f"/v1/me/attempts/{attempt}/answers/T-SC-1", json=answer, headers=me)
        assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
    return tenant


async def _mine(client: httpx.AsyncClient, me: dict[str, str]) -> list[dict[str, Any]]:
    listed = await client.get("/v1/me/credentials", headers=me)
    assert listed.status_code == 200, listed.text
    return listed.json()


class Resolver:
    """openbadgeslib fetches the DID document and status lists over HTTPS; here they come from the app
    (fetched ahead, since the library's download hook is synchronous)."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}

    async def load(self, client: httpx.AsyncClient, tenant_id: str) -> Resolver:
        for path in (f"/credentials/{tenant_id}/did.json", f"/credentials/{tenant_id}/status/0"):
            fetched = await client.get(path)
            assert fetched.status_code == 200, fetched.text
            self.documents[ORIGIN + path] = fetched.content
        return self

    def __call__(self, url: str) -> bytes:
        return self.documents[url]


def _payload(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _flip(token: str, at: int) -> str:
    """The token with one byte changed (a character of the given part swapped for another)."""
    chars = list(token)
    chars[at] = "A" if chars[at] != "A" else "B"
    return "".join(chars)


def _independent(token: str, resolver: Resolver, did: str | None = None) -> Any:
    """openbadgeslib's verdict, the key resolved from the issuer's did:web (the token's, unless given)."""
    did = did or _payload(token)["iss"]
    return OB3Verifier.for_issuer_did(did, download=resolver).verify(
        token, check_status=True, download=resolver
    )


async def test_credentials_are_issued_per_qualifying_dimension_and_verify_independently(client, badged):
    c1, c2, _ = badged["candidates"]
    assert sorted((c["dimension"], c["level"]) for c in await _mine(client, c1)) == [(None, "L1")]
    mine = await _mine(client, c2)
    assert sorted((c["dimension"] or "", c["level"], c["status"]) for c in mine) == [
        ("", "L1", "active"),
        ("AK", "L2", "active"),
    ]
    resolver = await Resolver().load(client, badged["id"])
    for credential in mine:
        verified = _independent(credential["credential"], resolver)
        assert verified.issuer.id == f"did:web:assess.example.gov.cn:credentials:{badged['id']}"
        payload = _payload(credential["credential"])
        errors = [f"{e.instance_path}: {e.message}" for e in OB_SCHEMA.iter_errors(payload)]
        assert errors == [], errors
        assert payload["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
        assert payload["issuer"]["name"] == "某省教育厅"
        subject = payload["credentialSubject"]
        achievement = subject["achievement"]
        [description] = achievement["resultDescription"]
        assert description["resultType"] == "RubricCriterionLevel"
        assert [lv["level"] for lv in description["rubricCriterionLevel"]] == ["L1", "L2", "L3"]
        [result] = subject["result"]
        reached = next(
            lv for lv in description["rubricCriterionLevel"] if lv["id"] == result["achievedLevel"]
        )
        assert reached["level"] == credential["level"]
        assert payload["validUntil"] > payload["validFrom"]
        # No personal data: the holder is a pseudonymous urn, no external id, no name.
        assert subject["id"].startswith("urn:uuid:") and '"c2"' not in json.dumps(payload)
        # One changed byte, in the payload or in the signature: the independent verifier refuses it.
        header, body, _ = credential["credential"].split(".")
        for at in (len(header) + 1 + len(body) // 2, len(credential["credential"]) - 5):
            with pytest.raises(OB3VerificationError):
                _independent(_flip(credential["credential"], at), resolver, did=payload["iss"])

    ak = next(c for c in mine if c["dimension"] == "AK")
    achievement = _payload(ak["credential"])["credentialSubject"]["achievement"]
    # Aligned to the CASE item the framework version's export carries for the dimension.
    exported = (
        await client.get(
            "/v1/frameworks/cadre-ai-literacy/versions/1/export?format=case", headers=badged["admin"]
        )
    ).json()
    case_item = next(i for i in exported["CFItems"] if i["humanCodingScheme"] == "AK")
    [alignment] = achievement["alignment"]
    assert alignment["targetUrl"] == case_item["uri"] and alignment["targetType"] == "CFItem"

    file = await client.get(f"/v1/me/credentials/{ak['id']}/file", headers=c2)
    assert file.status_code == 200 and file.headers["content-type"].startswith("application/vc+jwt")
    assert "attachment" in file.headers["content-disposition"] and file.text == ak["credential"]
    assert (await client.get(f"/v1/me/credentials/{ak['id']}/file", headers=c1)).status_code == 404


async def _settled(client, admin, url):
    for _ in range(200):
        job = (await client.get(url, headers=admin)).json()
        if job["status"] in ("previewed", "done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job did not finish: {job}")


async def _rescore_with_key_b(client, admin):
    single = copy.deepcopy(next(item for item in ITEMS if item["code"] == "T-SC-1"))
    single["key"] = {"correct": "b"}
    etag = (await client.get("/v1/items/T-SC-1", headers=admin)).headers["etag"]
    assert (
        await client.put("/v1/items/T-SC-1", json=single, headers={**admin, "If-Match": etag})
    ).status_code == 200
    body = {"reason": "T-SC-1 is b", "items": {"T-SC-1": 2}}
    started = await client.post("/v1/assessments/quiz/rescorings", json=body, headers=admin)
    url = f"/v1/assessments/quiz/rescorings/{started.json()['id']}"
    assert (await _settled(client, admin, url))["status"] == "previewed"
    assert (await client.post(f"{url}/commit", headers=admin)).status_code == 202
    assert (await _settled(client, admin, url))["status"] == "done"


async def test_a_rescoring_revokes_below_the_threshold_and_issues_anew(client, badged, owner):
    admin = badged["admin"]
    c1, c2, _ = badged["candidates"]
    before = {c["dimension"]: c for c in await _mine(client, c2)}
    await _rescore_with_key_b(client, admin)

    after = {(c["dimension"], c["status"]): c for c in await _mine(client, c2)}
    assert set(after) == {("AK", "revoked"), (None, "active")}
    assert after[None, "active"]["id"] == before[None]["id"]  # overall still L1: the same credential
    assert sorted((c["dimension"] or "", c["level"], c["status"]) for c in await _mine(client, c1)) == [
        ("", "L1", "active"),
        ("AK", "L2", "active"),
    ]

    resolver = await Resolver().load(client, badged["id"])
    with pytest.raises(OB3VerificationError, match="revocation"):
        _independent(after["AK", "revoked"]["credential"], resolver)
    _independent(after[None, "active"]["credential"], resolver)

    events = await owner.fetch(
        "SELECT type, payload FROM webhook_events WHERE tenant_id = $1::uuid ORDER BY created_at, type",
        badged["id"],
    )
    data = [(e["type"], json.loads(e["payload"])["data"]) for e in events]
    kinds = [(kind, d["person"], d["dimension"] or "overall") for kind, d in data]
    assert sorted(kinds) == sorted(
        [
            ("credential.issued", "c1", "overall"),
            ("credential.issued", "c2", "overall"),
            ("credential.issued", "c2", "AK"),
            ("credential.issued", "c3", "overall"),
            ("credential.issued", "c3", "AK"),
            ("credential.revoked", "c2", "AK"),
            ("credential.revoked", "c3", "AK"),
            ("credential.issued", "c1", "AK"),
        ]
    )

    # HR's feed carries each score version's credentials.
    feed = (await client.get("/v1/scores", headers=admin)).json()["items"]
    issued = {
        (row["person"], row["score_version"]): sorted(
            (c["dimension"] or "", c["status"]) for c in row.get("credentials", [])
        )
        for row in feed
    }
    assert issued["c2", 1] == [("", "active"), ("AK", "revoked")]
    assert issued["c1", 2] == [("AK", "active")]


async def _verify(client, token, language="en"):
    return await client.post(
        "/v1/credentials/verify", json={"credential": token}, headers={"Accept-Language": language}
    )


async def test_the_public_route_says_valid_tampered_revoked_and_refuses_what_is_not_ours(client, badged):
    admin = badged["admin"]
    c2 = badged["candidates"][1]
    ak = next(c for c in await _mine(client, c2) if c["dimension"] == "AK")
    token = ak["credential"]

    valid = await _verify(client, token)
    assert valid.status_code == 200, valid.text
    assert valid.json()["status"] == "valid" and valid.json()["level"]
    assert valid.json()["issuer"] == "Provincial Department of Education"
    zh = (await _verify(client, token, "zh-CN")).json()
    assert zh["issuer"] == "某省教育厅" and zh["achievement"] != valid.json()["achievement"]
    assert set(valid.json()) <= {
        "status",
        "issuer",
        "achievement",
        "description",
        "level",
        "framework",
        "valid_from",
        "valid_until",
    }

    assert (await _verify(client, _flip(token, len(token) - 5))).json()["status"] == "tampered"

    # Not ours: another algorithm, a key the issuer never published, not a JWS at all. Typed 422s.
    payload = _payload(token)
    hs256 = jwt.encode(payload, "s" * 32, algorithm="HS256", headers={"kid": f"{payload['iss']}#key"})
    refused = await _verify(client, hs256)
    assert refused.status_code == 422 and refused.json()["type"].endswith("credential-wrong-algorithm")
    assert refused.json()["errors"][0]["pointer"] == "/credential"
    stranger = generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode(
        payload, stranger, algorithm="RS256", headers={"kid": f"{payload['iss']}#key-foreign"}
    )
    refused = await _verify(client, foreign)
    assert refused.status_code == 422 and refused.json()["type"].endswith("credential-unknown-key")
    garbage = await _verify(client, "not-a-token")
    assert garbage.status_code == 422 and garbage.json()["type"].endswith("credential-rejected")

    await _rescore_with_key_b(client, admin)
    revoked = (await _verify(client, token)).json()
    assert revoked["status"] == "revoked" and revoked["revoked_at"]


async def test_settings_name_the_framework_and_need_an_issuer(client, service_keys, badged):
    tenant = await delivery_tenant(client, service_keys, slug="badge-settings", people=1)
    admin = tenant["admin"]
    # Another tenant's credential and settings are out of reach: the same 404 as a made-up id.
    theirs = (await _mine(client, badged["candidates"][1]))[0]
    mine = tenant["candidates"][0]
    assert await _mine(client, mine) == []
    for credential_id in (theirs["id"], "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"):
        refused = await client.get(f"/v1/me/credentials/{credential_id}/file", headers=mine)
        assert refused.status_code == 404 and theirs["credential"] not in refused.text
    early = await client.put("/v1/assessments/quiz/credential-settings", json=SETTINGS, headers=admin)
    assert early.status_code == 409, early.text
    assert (await client.get("/v1/credential-issuer", headers=admin)).status_code == 404
    issuer = (await client.put("/v1/credential-issuer", json=ISSUER, headers=admin)).json()
    assert issuer["did"] == f"did:web:assess.example.gov.cn:credentials:{tenant['id']}"
    renamed = await client.put(
        "/v1/credential-issuer", json={**ISSUER, "url": "https://other.example.gov.cn"}, headers=admin
    )
    assert renamed.json()["key_id"] == issuer["key_id"]  # renaming keeps the key
    bad = await client.put(
        "/v1/assessments/quiz/credential-settings",
        json={"enabled": True, "dimensions": {"NOPE": "L2", "AK": "L9"}, "overall": "L7"},
        headers=admin,
    )
    assert bad.status_code == 422
    assert sorted(e["pointer"] for e in bad.json()["errors"]) == [
        "/dimensions/AK",
        "/dimensions/NOPE",
        "/overall",
    ]
    assert (
        await client.put(
            "/v1/credential-issuer", json={**ISSUER, "url": "http://plain.example"}, headers=admin
        )
    ).status_code == 400
    candidate = tenant["candidates"][0]
    assert (
        await client.put("/v1/assessments/quiz/credential-settings", json=SETTINGS, headers=candidate)
    ).status_code == 403
    read = await client.get("/v1/assessments/quiz/credential-settings", headers=admin)
    assert read.json()["enabled"] is False

    # Public documents: an unknown tenant is an unknown issuer; a known one shows public keys only.
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await client.get(f"/credentials/{unknown}/did.json")).status_code == 404
    assert (await client.get(f"/credentials/{unknown}/status/0")).status_code == 404
    jwks = (await client.get(f"/credentials/{tenant['id']}/jwks.json")).json()
    [key] = jwks["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and "d" not in key
    assert urlsplit(ORIGIN).hostname not in json.dumps(jwks)


async def test_two_transactions_issuing_at_once_take_distinct_status_bits(client, badged, owner, app_url):
    """The second waits on the issuer's status-bit counter until the first commits (seen waiting in
    pg_stat_activity, not timed), then takes the bits after the first's: no bit is shared."""
    tenant_id = UUID(badged["id"])
    attempts = await owner.fetch(
        "SELECT t.id FROM attempts t JOIN people p ON p.tenant_id = t.tenant_id AND p.id = t.person_id "
        "WHERE t.tenant_id = $1 AND p.external_id IN ('c1', 'c3') ORDER BY p.external_id",
        tenant_id,
    )
    first_attempt, second_attempt = (row["id"] for row in attempts)
    # As if their credentials had never been issued (the owner bypasses row-level security).
    await owner.execute(
        "DELETE FROM credentials WHERE attempt_id = ANY($1::uuid[])", [first_attempt, second_attempt]
    )
    pool = await create_pool(app_url, min_size=2, max_size=2)

    async def issue(conn: asyncpg.Connection, attempt: UUID) -> None:
        await credentials.scores_stored(conn, await scores.current_documents(conn, [attempt]))

    try:
        async with tenant_transaction(pool, tenant_id) as first:
            await issue(first, first_attempt)

            async def second() -> None:
                async with tenant_transaction(pool, tenant_id) as conn:
                    await issue(conn, second_attempt)

            pid = await first.fetchval("SELECT pg_backend_pid()")
            waiting = asyncio.create_task(second())
            while not await owner.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> $1",
                pid,
            ):
                await asyncio.sleep(0.01)
            assert not waiting.done()
        await waiting
    finally:
        await pool.close()
    rows = await owner.fetch(
        "SELECT attempt_id, status_index FROM credentials WHERE tenant_id = $1 AND revoked_at IS NULL",
        tenant_id,
    )
    indices = [row["status_index"] for row in rows]
    assert len(indices) == len(set(indices)) == 5  # c1: overall; c2, c3: overall and AK
    firsts = [r["status_index"] for r in rows if r["attempt_id"] == first_attempt]
    seconds = [r["status_index"] for r in rows if r["attempt_id"] == second_attempt]
    assert max(firsts) < min(seconds)


async def test_verification_is_limited_per_source_address(settings):
    """Past the burst, 429 with Retry-After and the RateLimit headers, before any token is read."""
    limited = msgspec.structs.replace(settings, client_rate_per_second=0.01, client_rate_burst=2)
    async with serving(app_for(limited)) as http:
        answers = [await _verify(http, "not-a-token") for _ in range(3)]
    assert [a.status_code for a in answers] == [422, 422, 429]
    assert int(answers[2].headers["retry-after"]) >= 1 and "ratelimit" in answers[2].headers
    assert answers[2].headers["content-type"].startswith("application/problem+json")


async def test_a_credential_past_its_valid_until_is_expired_here_and_for_openbadgeslib(client, badged, owner):
    """The issuer's own key signs c2's AK credential again with its year moved back to have run out
    yesterday (and the stored row follows, as if it had been issued then): the route says `expired`, with
    the dates, and openbadgeslib refuses it as expired; the untouched overall credential stays valid."""
    c2 = badged["candidates"][1]
    mine = {c["dimension"]: c for c in await _mine(client, c2)}
    payload = _payload(mine["AK"]["credential"])
    row = await owner.fetchrow(
        "SELECT kid, private_pem FROM credential_issuers WHERE tenant_id = $1", UUID(badged["id"])
    )
    key = IssuerKey(row["kid"], row["private_pem"])
    issued = datetime.now(UTC).replace(microsecond=0) - timedelta(days=366)
    until = issued + timedelta(days=365)
    body = {k: v for k, v in payload.items() if k not in ("iss", "jti", "nbf", "iat", "exp", "sub")}
    token = key.sign(
        payload["iss"], {**body, "validFrom": issued.isoformat(), "validUntil": until.isoformat()}
    )
    await owner.execute(
        "UPDATE credentials SET token = $1, issued_at = $2, valid_until = $3 WHERE id = $4",
        token,
        issued,
        until,
        UUID(mine["AK"]["id"]),
    )

    expired = await _verify(client, token)
    assert expired.status_code == 200, expired.text
    verdict = expired.json()
    assert verdict["status"] == "expired" and verdict["level"] and verdict["issuer"]
    assert datetime.fromisoformat(verdict["valid_until"]) == until
    assert (await _verify(client, mine[None]["credential"])).json()["status"] == "valid"
    # The candidate's list and HR's feed say so too (the status is derived when read, never stored).
    now_mine = {c["dimension"]: c["status"] for c in await _mine(client, c2)}
    assert now_mine == {"AK": "expired", **{d: "active" for d in now_mine if d != "AK"}}
    feed = (await client.get("/v1/scores", headers=badged["admin"])).json()["items"]
    statuses = {
        c["id"]: c["status"] for row in feed if row["person"] == "c2" for c in row.get("credentials", [])
    }
    assert statuses[mine["AK"]["id"]] == "expired" and statuses[mine[None]["id"]] == "active"
    resolver = await Resolver().load(client, badged["id"])
    with pytest.raises(OB3VerificationError, match="expired"):
        _independent(token, resolver)
    _independent(mine[None]["credential"], resolver)
    # Expired and tampered: the signature decides first.
    assert (await _verify(client, _flip(token, len(token) - 5))).json()["status"] == "tampered"


async def test_an_eddsa_issuer_signs_with_ed25519_and_verifies_independently(client, ed_badged):
    tenant_id, admin = ed_badged["id"], ed_badged["admin"]
    issuer = (await client.get("/v1/credential-issuer", headers=admin)).json()
    assert issuer["algorithm"] == "EdDSA"
    [key] = (await client.get(f"/credentials/{tenant_id}/jwks.json")).json()["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA") and "d" not in key
    [method] = (await client.get(f"/credentials/{tenant_id}/did.json")).json()["verificationMethod"]
    assert method["publicKeyJwk"]["x"] == key["x"] and "d" not in method["publicKeyJwk"]

    c2 = ed_badged["candidates"][1]
    mine = await _mine(client, c2)
    assert sorted(c["dimension"] or "" for c in mine) == ["", "AK"]
    resolver = await Resolver().load(client, tenant_id)  # the status list is signed EdDSA too
    for credential in mine:
        token = credential["credential"]
        assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
        assert _independent(token, resolver).issuer.id.endswith(f":credentials:{tenant_id}")
        errors = [f"{e.instance_path}: {e.message}" for e in OB_SCHEMA.iter_errors(_payload(token))]
        assert errors == [], errors
        assert (await _verify(client, token)).json()["status"] == "valid"
        assert (await _verify(client, _flip(token, len(token) - 5))).json()["status"] == "tampered"
        with pytest.raises(OB3VerificationError):
            _independent(_flip(token, len(token) - 5), resolver)

    # An RS256 token under the EdDSA issuer's key id: the issuer signs EdDSA only, a typed refusal.
    payload = _payload(mine[0]["credential"])
    rsa = generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(mine[0]["credential"])["kid"]
    confused = await _verify(client, jwt.encode(payload, rsa, algorithm="RS256", headers={"kid": kid}))
    assert confused.status_code == 422 and confused.json()["type"].endswith("credential-wrong-algorithm")

    # The algorithm is chosen once: asking for another is a 409 naming the field; leaving it out keeps it.
    other = await client.put("/v1/credential-issuer", json={**ISSUER, "algorithm": "RS256"}, headers=admin)
    assert other.status_code == 409 and other.json()["errors"][0]["pointer"] == "/algorithm"
    renamed = await client.put("/v1/credential-issuer", json=ISSUER, headers=admin)
    assert renamed.status_code == 200 and renamed.json()["algorithm"] == "EdDSA"
    assert renamed.json()["key_id"] == issuer["key_id"]
