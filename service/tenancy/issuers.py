"""Identity providers a tenant trusts to sign its people's tokens.

Keys arrive as an inline JWKS, a JWKS URL, or PEM public keys; PEM keys are turned into
JWKs here, so verification reads one format. Private key material is refused.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from service.errors import FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.tenancy import tenants
from service.tenancy.fields import TEXT_PATTERN, TenantRole

ASYMMETRIC_ALGORITHMS = frozenset(
    {"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)


def usable_keys(jwks: dict[str, Any]) -> list[jwt.PyJWK]:
    """Public asymmetric keys only: an `oct` (shared secret) key is never accepted."""
    keys = []
    for entry in jwks.get("keys", []):
        if not isinstance(entry, dict) or entry.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        if any(private in entry for private in ("d", "p", "q")):
            continue
        try:
            keys.append(jwt.PyJWK(entry))
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    return keys


Text = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=TEXT_PATTERN)]
Claim = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=TEXT_PATTERN)]


class PemKey(msgspec.Struct, forbid_unknown_fields=True):
    pem: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000, pattern=TEXT_PATTERN)]
    kid: Text | None = None
    alg: str | None = None


class IssuerCreate(msgspec.Struct, forbid_unknown_fields=True):
    issuer: Text
    audience: Text
    jwks: dict[str, Any] | None = None
    jwks_url: Text | None = None
    pem_keys: list[PemKey] | None = None
    subject_claim: Claim = "sub"
    roles_claim: Claim | None = None
    default_roles: list[TenantRole] = msgspec.field(default_factory=lambda: ["candidate"])
    allowed_roles: list[TenantRole] = msgspec.field(default_factory=lambda: ["candidate"])
    # Web console sign-in (service/console/oidc.py): the provider's OpenID discovery document and the
    # client id the console signs in as. Both or neither; the client id must be this registration's
    # audience, since the console's ID tokens are verified against it like any bearer token.
    discovery_url: Text | None = None
    console_client_id: Text | None = None


class Issuer(msgspec.Struct):
    id: UUID
    issuer: str
    audience: str
    jwks: dict[str, Any] | None
    jwks_url: str | None
    subject_claim: str
    roles_claim: str | None
    default_roles: list[str]
    allowed_roles: list[str]
    created_at: datetime
    discovery_url: str | None = None
    console_client_id: str | None = None


_COLUMNS = (
    "id, issuer, audience, jwks, jwks_url, subject_claim, roles_claim, default_roles, allowed_roles, "
    "created_at, discovery_url, console_client_id"
)


class IssuerRegistration(msgspec.Struct, frozen=True):
    """A registration as token verification reads it (service/auth/verify.py): the tenant's `Issuer`
    (the one issuer struct) and the tenant it signs for."""

    tenant_id: UUID
    tenant_slug: str
    registered: Issuer


_REGISTRATIONS = f"""
    SELECT i.tenant_id, {", ".join(f"i.{c.strip()}" for c in _COLUMNS.split(","))}
    FROM trusted_issuers i WHERE i.issuer = $1
"""


async def registrations(conn: asyncpg.Connection, issuer: str) -> list[IssuerRegistration]:
    """Every tenant's registration of this issuer (an auth-lookup connection: before the tenant is known)."""
    fields = Issuer.__struct_fields__
    rows = await conn.fetch(_REGISTRATIONS, issuer)
    slugs = await tenants.slugs_by_id(conn, list({row["tenant_id"] for row in rows})) if rows else {}
    return [
        IssuerRegistration(
            row["tenant_id"], slugs[row["tenant_id"]], msgspec.convert({f: row[f] for f in fields}, Issuer)
        )
        for row in rows
        if row["tenant_id"] in slugs
    ]


def _https_url(url: str, pointer: str) -> None:
    try:
        parts = urlsplit(url)
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts, loopback = urlsplit(""), False
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise Unprocessable(msg("the URL must use https"), [FieldError(msg("must be an https URL"), pointer)])


def _check_console(data: IssuerCreate) -> None:
    given = [name for name in ("discovery_url", "console_client_id") if getattr(data, name) is not None]
    if len(given) == 1:
        missing = ({"discovery_url", "console_client_id"} - set(given)).pop()
        raise Unprocessable(
            msg("console sign-in needs both discovery_url and console_client_id"),
            [FieldError(msg("required with {other}", other=given[0]), f"/{missing}")],
        )
    if data.discovery_url is not None:
        _https_url(data.discovery_url, "/discovery_url")
        if data.console_client_id != data.audience:
            raise Unprocessable(
                msg("the console client id must be the registration's audience"),
                [FieldError(msg("must equal audience"), "/console_client_id")],
            )


def _pem_to_jwk(key: PemKey, index: int) -> dict[str, Any]:
    pointer = f"/pem_keys/{index}/pem"
    try:
        public = serialization.load_pem_public_key(key.pem.encode())
    except ValueError:
        raise Unprocessable(
            msg("a PEM key is not a public key"), [FieldError(msg("not a PEM public key"), pointer)]
        ) from None
    if isinstance(public, rsa.RSAPublicKey):
        jwk, alg = json.loads(RSAAlgorithm.to_jwk(public)), key.alg or "RS256"
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = json.loads(ECAlgorithm.to_jwk(public))
        alg = key.alg or {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(jwk.get("crv"), "")
    elif isinstance(public, ed25519.Ed25519PublicKey):
        jwk, alg = json.loads(OKPAlgorithm.to_jwk(public)), key.alg or "EdDSA"
    else:
        raise Unprocessable(
            msg("unsupported key type"), [FieldError(msg("use an RSA, EC or Ed25519 key"), pointer)]
        )
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise Unprocessable(
            msg("algorithm not allowed"),
            [FieldError(msg("'{alg}' is not an allowed algorithm", alg=alg), f"/pem_keys/{index}/alg")],
        )
    if key.kid:
        jwk["kid"] = key.kid
    return {**jwk, "alg": alg, "use": "sig"}


def _validate_jwks(jwks: dict[str, Any]) -> None:
    entries = jwks.get("keys")
    if not isinstance(entries, list) or not entries:
        raise Unprocessable(
            msg("the JWKS holds no keys"), [FieldError(msg("must be a non-empty list"), "/jwks/keys")]
        )
    errors = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            errors.append(FieldError(msg("must be an object"), f"/jwks/keys/{i}"))
            continue
        for private in ("d", "p", "q", "k"):
            if private in entry:
                errors.append(
                    FieldError(
                        msg("private or symmetric key material is refused"), f"/jwks/keys/{i}/{private}"
                    )
                )
        if entry.get("alg") is not None and entry.get("alg") not in ASYMMETRIC_ALGORITHMS:
            errors.append(
                FieldError(
                    msg("'{alg}' is not an allowed algorithm", alg=entry.get("alg")), f"/jwks/keys/{i}/alg"
                )
            )
        if len(entries) > 1 and not entry.get("kid"):
            errors.append(
                FieldError(msg("every key needs a kid when there are several"), f"/jwks/keys/{i}/kid")
            )
    if not errors and len(usable_keys(jwks)) != len(entries):
        errors.append(FieldError(msg("some keys are not valid public RSA, EC or OKP keys"), "/jwks/keys"))
    if errors:
        raise Unprocessable(msg("the JWKS is not acceptable"), errors)


def normalise(data: IssuerCreate) -> tuple[dict[str, Any] | None, str | None]:
    """Check the key source and return (jwks, jwks_url) to store."""
    given = [name for name in ("jwks", "jwks_url", "pem_keys") if getattr(data, name) is not None]
    if len(given) != 1:
        raise Unprocessable(
            msg("give exactly one of jwks, jwks_url, pem_keys"),
            [FieldError(msg("exactly one key source is required"), f"/{n}") for n in given or ["jwks"]],
        )
    if not set(data.default_roles) <= set(data.allowed_roles):
        raise Unprocessable(
            msg("default roles must be allowed roles"),
            [FieldError(msg("every default role must also be in allowed_roles"), "/default_roles")],
        )
    if data.jwks_url is not None:
        url = urlsplit(data.jwks_url)
        loopback = url.hostname in ("localhost", "127.0.0.1", "::1")
        if url.scheme != "https" and not (url.scheme == "http" and loopback):
            raise Unprocessable(
                msg("the JWKS URL must use https"), [FieldError(msg("must be an https URL"), "/jwks_url")]
            )
        return None, data.jwks_url
    if data.pem_keys is not None:
        if not data.pem_keys:
            raise Unprocessable(msg("no PEM keys given"), [FieldError(msg("must not be empty"), "/pem_keys")])
        jwks = {"keys": [_pem_to_jwk(k, i) for i, k in enumerate(data.pem_keys)]}
    else:
        assert data.jwks is not None
        jwks = data.jwks
    _validate_jwks(jwks)
    return jwks, None


async def register_issuer(conn: asyncpg.Connection, tenant_id: UUID, data: IssuerCreate) -> Issuer:
    jwks, jwks_url = normalise(data)
    _check_console(data)
    row = await conn.fetchrow(
        f"""INSERT INTO trusted_issuers (tenant_id, issuer, audience, jwks, jwks_url, subject_claim, roles_claim,
                                         default_roles, allowed_roles, discovery_url, console_client_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {_COLUMNS}""",
        tenant_id,
        data.issuer,
        data.audience,
        jwks,
        jwks_url,
        data.subject_claim,
        data.roles_claim,
        list(data.default_roles),
        list(data.allowed_roles),
        data.discovery_url,
        data.console_client_id,
    )
    return msgspec.convert(dict(row), Issuer)


async def list_issuers(conn: asyncpg.Connection, tenant_id: UUID) -> list[Issuer]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM trusted_issuers WHERE tenant_id = $1 ORDER BY created_at, id", tenant_id
    )
    return [msgspec.convert(dict(r), Issuer) for r in rows]


async def delete_issuer(conn: asyncpg.Connection, tenant_id: UUID, issuer_id: UUID) -> None:
    deleted = await conn.fetchval(
        "DELETE FROM trusted_issuers WHERE tenant_id = $1 AND id = $2 RETURNING id", tenant_id, issuer_id
    )
    if deleted is None:
        raise NotFound(msg("no issuer {issuer_id}", issuer_id=issuer_id))


async def console_sign_in(conn: asyncpg.Connection, tenant_id: UUID) -> asyncpg.Record | None:
    """The tenant's first registration set up for console sign-in (`discovery_url`, `console_client_id`),
    read on an auth-lookup connection; None when none is."""
    return await conn.fetchrow(
        "SELECT discovery_url, console_client_id FROM trusted_issuers WHERE tenant_id = $1 "
        "AND discovery_url IS NOT NULL AND console_client_id IS NOT NULL ORDER BY created_at LIMIT 1",
        tenant_id,
    )
