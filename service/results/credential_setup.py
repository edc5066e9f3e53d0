"""A tenant's Open Badges issuer and an assessment's credential settings: the set-up that
service/results/credentials.py issues under.

The issuer is the tenant's profile (the department's name in zh-CN and English, and the https origin
verifiers reach the service at, which its did:web names) with its signing key, made on the first
set-up (RSA for RS256 unless EdDSA, Ed25519, is asked for then; the algorithm never changes after, since
the credentials already issued verify under that key) and kept here like webhook secrets, under
row-level security. The settings say, per
assessment, which top-level dimensions (and whether the overall result) earn a credential from which
level, and for how many days. The status-bit counter of the issuer row hands each credential its bit
in the tenant's revocation list: an UPDATE ... RETURNING, so transactions issuing at once queue on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec

from service.assessments import assessments
from service.errors import Conflict, FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.results import open_badges
from service.results.open_badges import IssuerProfile
from service.results.vc_jwt import ALGORITHM, Algorithm, IssuerKey, did_document
from service.rubrics import frameworks
from service.rubrics.model import Code, FrameworkContent, Text

HttpsOrigin = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
        max_length=200,
        description="The https origin verifiers reach this service at (no path): the issuer's did:web "
        "names it, e.g. https://assess.example.gov.cn",
    ),
]


class IssuerName(msgspec.Struct, forbid_unknown_fields=True, rename={"zh_cn": "zh-CN"}):
    zh_cn: Text
    en: Text


SigningAlgorithm = Annotated[
    Algorithm,
    msgspec.Meta(
        description="The signing algorithm, chosen when the issuer is made: RS256 (the default, which every "
        "Open Badges 3.0 verifier accepts) or EdDSA (Ed25519). Fixed afterwards; omit it to keep it."
    ),
]


class IssuerSet(msgspec.Struct, forbid_unknown_fields=True):
    """The tenant's issuer profile: the department's name in zh-CN and English, and the public origin."""

    name: IssuerName
    url: HttpsOrigin
    algorithm: SigningAlgorithm | None = None


class CredentialIssuer(msgspec.Struct):
    did: str
    name: dict[str, str]
    url: str
    key_id: str
    algorithm: str
    created_at: datetime
    updated_at: datetime


class CredentialSettingsSet(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool
    dimensions: dict[Code, Code] = msgspec.field(default_factory=dict)
    overall: Code | None = None
    valid_days: Annotated[int, msgspec.Meta(ge=1, le=36500)] | None = None


class CredentialSettings(msgspec.Struct):
    assessment: str
    enabled: bool
    dimensions: dict[str, str]  # top-level dimension code -> the lowest level that earns a credential
    overall: str | None  # the lowest overall level that earns one (None: no overall credential)
    valid_days: int | None  # None: the credentials do not expire
    updated_at: datetime | None
    updated_by: str | None


# ---- the issuer ------------------------------------------------------------------------------------

_RETURNING = "name, url, kid, public_jwk->>'alg' AS alg, created_at, updated_at"


async def tenant_id(conn: asyncpg.Connection) -> UUID:
    return UUID(await conn.fetchval("SELECT current_setting('app.tenant_id')"))


def _issuer(row: asyncpg.Record, tenant_id: UUID) -> CredentialIssuer:
    return CredentialIssuer(
        open_badges.did_web(row["url"], tenant_id),
        row["name"],
        row["url"],
        row["kid"],
        row["alg"],
        row["created_at"],
        row["updated_at"],
    )


async def set_issuer(conn: asyncpg.Connection, data: IssuerSet) -> CredentialIssuer:
    """Create the tenant's issuer (with a new key for `algorithm`, RS256 unless asked) or change its name
    and origin (the key stays; another algorithm is refused). A changed origin changes the DID:
    credentials issued before name the old one."""
    current = await conn.fetchval("SELECT public_jwk->>'alg' FROM credential_issuers")
    if current is not None:
        if data.algorithm is not None and data.algorithm != current:
            raise Conflict(
                msg(
                    "this issuer signs with {algorithm}: the algorithm is chosen when it is made",
                    algorithm=current,
                ),
                [FieldError(msg("fixed when the issuer was made"), "/algorithm")],
            )
        row = await conn.fetchrow(
            f"""UPDATE credential_issuers SET name = $1, url = $2, updated_at = now() RETURNING {_RETURNING}""",
            msgspec.to_builtins(data.name),
            data.url,
        )
        return _issuer(row, await tenant_id(conn))
    key = IssuerKey.generate(
        data.algorithm or ALGORITHM
    )  # a second request at once keeps the first one's key
    key_jwk = key.public_jwk()
    row = await conn.fetchrow(
        f"""INSERT INTO credential_issuers (name, url, kid, private_pem, public_jwk) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id) DO UPDATE SET name = excluded.name, url = excluded.url, updated_at = now()
           RETURNING {_RETURNING}""",
        msgspec.to_builtins(data.name),
        data.url,
        key.kid,
        key.private_pem,
        key_jwk,
    )
    return _issuer(row, await tenant_id(conn))


async def get_issuer(conn: asyncpg.Connection) -> CredentialIssuer:
    row = await conn.fetchrow(f"SELECT {_RETURNING} FROM credential_issuers")
    if row is None:
        raise NotFound(msg("this tenant has no credential issuer yet"))
    return _issuer(row, await tenant_id(conn))


async def signing(conn: asyncpg.Connection) -> tuple[IssuerProfile, IssuerKey] | None:
    row = await conn.fetchrow("SELECT name, url, kid, private_pem FROM credential_issuers")
    if row is None:
        return None
    did = open_badges.did_web(row["url"], await tenant_id(conn))
    return IssuerProfile(did, row["url"], row["name"]), IssuerKey(row["kid"], row["private_pem"])


# ---- settings --------------------------------------------------------------------------------------


async def framework_of(conn: asyncpg.Connection, code: str) -> tuple[UUID, FrameworkContent]:
    """The assessment's id and the content of the framework version it pins (its levels and top-level
    dimensions are what the settings name)."""
    assessment = await assessments.get_assessment(conn, code)
    pin = assessment.content.framework
    record = await frameworks.version_record(conn, pin.code, pin.version)
    if record is None:
        raise NotFound(msg("no framework '{code}' version {version}", code=pin.code, version=pin.version))
    return assessment.id, msgspec.convert(record.content, FrameworkContent)


async def get_settings(conn: asyncpg.Connection, code: str) -> CredentialSettings:
    assessment_id = await assessments.assessment_id(conn, code)
    row = await conn.fetchrow(
        "SELECT enabled, dimensions, overall, valid_days, updated_at, updated_by FROM credential_settings "
        "WHERE assessment_id = $1",
        assessment_id,
    )
    if row is None:
        return CredentialSettings(code, False, {}, None, None, None, None)
    return CredentialSettings(code, **dict(row))


async def set_settings(
    conn: asyncpg.Connection, code: str, data: CredentialSettingsSet, updated_by: str
) -> CredentialSettings:
    """Switch credentials on or off for an assessment; thresholds are the framework's level codes and
    its top-level dimensions. Applies to scores that become current from now on."""
    assessment_id, framework = await framework_of(conn, code)
    levels = {level.code for level in framework.levels}
    dimensions = {dimension.code for dimension in framework.dimensions}
    problems = [
        FieldError(msg("not a top-level dimension of the assessment's framework"), f"/dimensions/{dimension}")
        for dimension in data.dimensions
        if dimension not in dimensions
    ] + [
        FieldError(msg("'{level}' is not a level of the framework", level=level), f"/dimensions/{dimension}")
        for dimension, level in data.dimensions.items()
        if level not in levels
    ]
    if data.overall is not None and data.overall not in levels:
        problems.append(
            FieldError(msg("'{level}' is not a level of the framework", level=data.overall), "/overall")
        )
    if data.enabled and not data.dimensions and data.overall is None:
        problems.append(FieldError(msg("name at least one dimension or the overall result"), "/dimensions"))
    if problems:
        raise Unprocessable(msg("the credential settings do not fit the assessment's framework"), problems)
    if data.enabled and not await conn.fetchval("SELECT 1 FROM credential_issuers"):
        raise Conflict(msg("set up the tenant's credential issuer first (PUT /v1/credential-issuer)"))
    row = await conn.fetchrow(
        """INSERT INTO credential_settings (assessment_id, enabled, dimensions, overall, valid_days, updated_by)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, assessment_id) DO UPDATE SET enabled = excluded.enabled,
               dimensions = excluded.dimensions, overall = excluded.overall, valid_days = excluded.valid_days,
               updated_by = excluded.updated_by, updated_at = now()
           RETURNING enabled, dimensions, overall, valid_days, updated_at, updated_by""",
        assessment_id,
        data.enabled,
        data.dimensions,
        data.overall,
        data.valid_days,
        updated_by,
    )
    return CredentialSettings(code, **dict(row))


async def public_keys(conn: asyncpg.Connection) -> tuple[str, list[dict[str, Any]]]:
    """(the issuer's DID, its public JWKs); 404 for a tenant without an issuer (or no such tenant)."""
    row = await conn.fetchrow("SELECT url, public_jwk FROM credential_issuers")
    if row is None:
        raise NotFound(msg("no such credential issuer"))
    return open_badges.did_web(row["url"], await tenant_id(conn)), [row["public_jwk"]]


async def did_web_document(conn: asyncpg.Connection) -> dict[str, Any]:
    did, jwks = await public_keys(conn)
    return did_document(did, jwks)


async def enabled_settings(conn: asyncpg.Connection) -> dict[UUID, asyncpg.Record]:
    """The settings of the assessments that have credentials on, by assessment id (`dimensions`,
    `overall`, `valid_days`): one indexed read, which is all a tenant without credentials pays."""
    rows = await conn.fetch(
        "SELECT assessment_id, dimensions, overall, valid_days FROM credential_settings WHERE enabled"
    )
    return {row["assessment_id"]: row for row in rows}


async def reserve_status_bits(conn: asyncpg.Connection, count: int) -> int:
    """The first of `count` consecutive status-list bits, never handed out before (the issuer row is
    locked until the caller's transaction ends)."""
    first: int = await conn.fetchval(
        "UPDATE credential_issuers SET next_index = next_index + $1 RETURNING next_index - $1", count
    )
    return first
