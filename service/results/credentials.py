"""Open Badges 3.0 credentials: issuing and revoking when a final score becomes current, and what
candidates, HR systems and verifiers read. The issuer and the settings they are issued under are
service/results/credential_setup.py's.

The score pipeline (service/pipeline.py, `store`) calls `scores_stored` in the transaction that makes
the scores current, for every trigger (submission, deadline, rating, rescoring commit): a credential
is issued, revoked and announced (`credential.issued`, `credential.revoked` through the outbox) with
the score or not at all. Per attempt and subject (a top-level dimension, or the overall result) at
most one credential is active (a partial unique index): a rescoring that leaves the level as it was
keeps it; one that changes the level revokes it and issues one for the new level if that still
reaches the threshold; one below the threshold only revokes.

The public side (`status_list_token`, `verify`, and the setup's `did_web_document`, `public_keys`) runs in a tenant transaction
for the tenant the URL or the token's issuer names: a verifier learns only about the credential it
presents, and an unknown tenant reads as an unknown issuer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from service.assessments import assessments
from service.errors import NotFound
from service.i18n import msg
from service.results import credential_setup, open_badges, scores
from service.results.open_badges import OVERALL, STATUS_LIST_BITS, Award, IssuerProfile
from service.results.vc_jwt import IssuerKey, Presented
from service.rubrics import case, frameworks
from service.rubrics.model import FrameworkContent
from service.scoring.engine import ScoreDocument
from service.webhooks import outbox

STATUS_LIST_SECONDS = 86_400  # a served status list is valid this long: verifiers refetch at least daily

# Derived when read, never stored: a credential past its `valid_until` is expired (a verifier would
# refuse it), a revoked one revoked whatever its date.
CredentialStatus = Literal["active", "revoked", "expired"]
_STATUS = """CASE WHEN c.revoked_at IS NOT NULL THEN 'revoked'
            WHEN c.valid_until IS NOT NULL AND c.valid_until <= now() THEN 'expired'
            ELSE 'active' END AS status"""


class Credential(msgspec.Struct):
    id: UUID
    assessment: str
    attempt_id: UUID
    dimension: str | None  # None: the overall result
    level: str
    score_version: int
    status: CredentialStatus
    issued_at: datetime
    valid_until: datetime | None
    revoked_at: datetime | None
    display: dict[str, dict[str, str]]  # per language: achievement, description, level, framework
    credential: str  # the VC-JWT


Verdict = Literal["valid", "revoked", "expired", "tampered", "unknown"]


class Verification(msgspec.Struct, omit_defaults=True):
    status: Verdict
    issuer: str | None = None
    achievement: str | None = None
    description: str | None = None
    level: str | None = None
    framework: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    revoked_at: datetime | None = None


# ---- issuing and revoking --------------------------------------------------------------------------


def _wanted(document: ScoreDocument, settings: asyncpg.Record, levels: list[str]) -> dict[str, str]:
    """Subject -> level reached, for each subject whose level reaches its threshold."""
    rank = {code: i for i, code in enumerate(levels)}
    reached = {d.dimension: d.level for d in document.dimensions}
    wanted = {
        dimension: reached[dimension]
        for dimension, threshold in settings["dimensions"].items()
        if dimension in reached and rank.get(reached[dimension], -1) >= rank.get(threshold, len(levels))
    }
    overall = settings["overall"]
    level = document.overall.level
    if overall is not None and level is not None and rank.get(level, -1) >= rank.get(overall, len(levels)):
        wanted[OVERALL] = level
    return wanted


def _threshold(settings: asyncpg.Record, subject: str) -> str:
    return str(settings["overall"] if subject == OVERALL else settings["dimensions"][subject])


def _event(row: dict[str, Any], owner: asyncpg.Record, **extra: Any) -> dict[str, Any]:
    return {
        "credential_id": str(row["id"]),
        "assessment": owner["assessment"],
        "person": owner["person"],
        "attempt_id": str(owner["attempt_id"]),
        "dimension": row["subject"] or None,
        "level": row["level"],
        **extra,
    }


async def scores_stored(conn: asyncpg.Connection, documents: dict[UUID, ScoreDocument]) -> None:
    """After these documents became current: issue and revoke the credentials they call for."""
    finals = {attempt: doc for attempt, doc in documents.items() if doc.status == "final"}
    if not finals:
        return
    settings = await credential_setup.enabled_settings(conn)
    if not settings:  # the common case: one indexed read, nothing else
        return
    owners = [
        row for row in await scores.attempt_owners(conn, list(finals)) if row["assessment_id"] in settings
    ]
    signing = await credential_setup.signing(conn)
    if not owners or signing is None:
        return
    issuer, key = signing
    tenant_id = await credential_setup.tenant_id(conn)
    versions = await frameworks.versions_by_hash(
        conn, sorted({finals[o["attempt_id"]].provenance.framework_hash for o in owners})
    )
    active: dict[tuple[UUID, str], asyncpg.Record] = {
        (row["attempt_id"], row["subject"]): row
        for row in await conn.fetch(
            "SELECT id, attempt_id, subject, level FROM credentials WHERE attempt_id = ANY($1::uuid[]) "
            "AND revoked_at IS NULL",
            [o["attempt_id"] for o in owners],
        )
    }
    now = datetime.now(UTC).replace(microsecond=0)
    revoked: list[tuple[asyncpg.Record, asyncpg.Record]] = []
    awards: list[tuple[asyncpg.Record, Award, FrameworkContent]] = []
    for owner in owners:
        document = finals[owner["attempt_id"]]
        version = versions.get(document.provenance.framework_hash)
        if version is None:  # a draft framework version: nothing stable to align to
            continue
        framework = msgspec.convert(version.content, FrameworkContent)
        setting = settings[owner["assessment_id"]]
        wanted = _wanted(document, setting, [level.code for level in framework.levels])
        seed = f"{version.framework_id}:{version.version}"
        subjects = {subject for attempt, subject in active if attempt == owner["attempt_id"]} | set(wanted)
        for subject in sorted(subjects):
            current = active.get((owner["attempt_id"], subject))
            if current is not None and wanted.get(subject) == current["level"]:
                continue
            if current is not None:
                revoked.append((current, owner))
            if subject in wanted:
                valid_days = setting["valid_days"]
                awards.append(
                    (
                        owner,
                        Award(
                            credential_id=uuid.uuid4(),
                            subject=subject,
                            level=wanted[subject],
                            required_level=_threshold(setting, subject),
                            holder=open_badges.holder_id(tenant_id, owner["person_id"]),
                            status_list_url="",
                            status_index=0,
                            valid_from=now,
                            valid_until=now + timedelta(days=valid_days) if valid_days else None,
                            case_seed=seed,
                            case_item=None if subject == OVERALL else case.identifier(seed, "item", subject),
                        ),
                        framework,
                    )
                )
    if revoked:
        await conn.execute(
            "UPDATE credentials SET revoked_at = now(), revoked_reason = 'rescored' WHERE id = ANY($1::uuid[])",
            [row["id"] for row, _ in revoked],
        )
        await outbox.emit(
            conn,
            "credential.revoked",
            [
                _event(dict(row), owner, reason="rescored", revoked_at=now.isoformat())
                for row, owner in revoked
            ],
        )
    if awards:
        await _issue(conn, tenant_id, issuer, key, awards)


async def _issue(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    issuer: IssuerProfile,
    key: IssuerKey,
    awards: list[tuple[asyncpg.Record, Award, FrameworkContent]],
) -> None:
    first = await credential_setup.reserve_status_bits(conn, len(awards))
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for offset, (owner, draft, framework) in enumerate(awards):
        index = first + offset
        award = msgspec.structs.replace(
            draft,
            status_list_url=f"{issuer.url}/credentials/{tenant_id}/status/{index // STATUS_LIST_BITS}",
            status_index=index % STATUS_LIST_BITS,
        )
        token = key.sign(issuer.did, open_badges.credential(framework, issuer, award))
        row = {
            "id": award.credential_id,
            "attempt_id": owner["attempt_id"],
            "assessment_id": owner["assessment_id"],
            "person_id": owner["person_id"],
            "subject": award.subject,
            "level": award.level,
            "score_version": owner["score_version"],
            "status_index": index,
            "token": token,
            "document": {"display": open_badges.display(framework, award.subject, award.level)},
            "issued_at": award.valid_from,
            "valid_until": award.valid_until,
        }
        rows.append(row)
        events.append(
            _event(
                row,
                owner,
                issued_at=award.valid_from.isoformat(),
                valid_until=award.valid_until.isoformat() if award.valid_until else None,
                credential=token,
            )
        )
    columns = list(rows[0])
    await conn.executemany(
        f"INSERT INTO credentials ({', '.join(columns)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})",
        [tuple(row[c] for c in columns) for row in rows],
    )
    await outbox.emit(conn, "credential.issued", events)


# ---- reading ---------------------------------------------------------------------------------------

_CREDENTIAL = f"""SELECT c.id, c.attempt_id, c.assessment_id, NULLIF(c.subject, '') AS dimension, c.level,
       c.score_version, {_STATUS},
       c.issued_at, c.valid_until, c.revoked_at, c.document->'display' AS display, c.token AS credential
    FROM credentials c"""


async def _with_codes(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[Credential]:
    codes = await assessments.codes_by_id(conn, list({row["assessment_id"] for row in rows}))
    return [
        msgspec.convert(
            {
                **{k: v for k, v in dict(row).items() if k != "assessment_id"},
                "assessment": codes[row["assessment_id"]],
            },
            Credential,
        )
        for row in rows
    ]


async def my_credentials(conn: asyncpg.Connection, person_id: UUID) -> list[Credential]:
    """A person's credentials, newest first, revoked ones included (marked)."""
    rows = await conn.fetch(
        _CREDENTIAL + " WHERE c.person_id = $1 ORDER BY c.issued_at DESC, c.id", person_id
    )
    return await _with_codes(conn, rows)


async def my_credential(conn: asyncpg.Connection, person_id: UUID, credential_id: UUID) -> Credential:
    rows = await conn.fetch(_CREDENTIAL + " WHERE c.person_id = $1 AND c.id = $2", person_id, credential_id)
    if not rows:
        raise NotFound(msg("no credential {id} of yours", id=str(credential_id)))
    return (await _with_codes(conn, rows))[0]


class FeedCredential(msgspec.Struct):
    id: UUID
    dimension: str | None
    level: str
    status: CredentialStatus
    issued_at: datetime
    valid_until: datetime | None
    revoked_at: datetime | None
    credential: str


async def for_scores(
    conn: asyncpg.Connection, keys: list[tuple[UUID, int]]
) -> dict[tuple[UUID, int], list[FeedCredential]]:
    """The credentials each (attempt, score version) issued: the score feed carries them."""
    if not keys:
        return {}
    rows = await conn.fetch(
        f"""SELECT c.attempt_id, c.score_version, c.id, NULLIF(c.subject, '') AS dimension, c.level,
                  {_STATUS},
                  c.issued_at, c.valid_until, c.revoked_at, c.token AS credential
           FROM credentials c JOIN unnest($1::uuid[], $2::int[]) AS k(attempt_id, version)
                ON k.attempt_id = c.attempt_id AND k.version = c.score_version
           ORDER BY c.subject""",
        [attempt for attempt, _ in keys],
        [version for _, version in keys],
    )
    found: dict[tuple[UUID, int], list[FeedCredential]] = {}
    for row in rows:
        item = msgspec.convert(
            {k: v for k, v in dict(row).items() if k not in ("attempt_id", "score_version")}, FeedCredential
        )
        found.setdefault((row["attempt_id"], row["score_version"]), []).append(item)
    return found


# ---- the public side -------------------------------------------------------------------------------


async def status_list_token(conn: asyncpg.Connection, list_number: int) -> str:
    """The signed BitstringStatusListCredential of one list (VC-JWT), valid for a day."""
    signing = await credential_setup.signing(conn)
    if signing is None:
        raise NotFound(msg("no such credential issuer"))
    issuer, key = signing
    tenant_id = await credential_setup.tenant_id(conn)
    revoked = await conn.fetch(
        "SELECT status_index FROM credentials WHERE revoked_at IS NOT NULL AND status_index >= $1 AND status_index < $2",
        list_number * STATUS_LIST_BITS,
        (list_number + 1) * STATUS_LIST_BITS,
    )
    now = datetime.now(UTC).replace(microsecond=0)
    url = f"{issuer.url}/credentials/{tenant_id}/status/{list_number}"
    body = open_badges.status_list_credential(
        issuer,
        url,
        [row["status_index"] % STATUS_LIST_BITS for row in revoked],
        now,
        now + timedelta(seconds=STATUS_LIST_SECONDS),
    )
    return key.sign(issuer.did, body)


async def verify(conn: asyncpg.Connection, presented: Presented, language: str) -> Verification:
    """Check a presented credential against its issuer (the tenant `conn` is scoped to): tampered if its
    signature fails, else revoked, expired or valid, with the achievement in `language`."""
    signing = await credential_setup.signing(conn)
    issuer, key = signing if signing is not None else (None, None)
    if not presented.check(issuer.did if issuer else None, key):
        return Verification("tampered")
    assert issuer is not None
    jti = presented.payload.get("jti")
    try:
        credential_id = UUID(str(jti).removeprefix("urn:uuid:"))
    except ValueError:
        return Verification("unknown")
    row = await conn.fetchrow(
        "SELECT issued_at, valid_until, revoked_at, token, document->'display' AS display FROM credentials "
        "WHERE id = $1",
        credential_id,
    )
    if row is None or row["token"] != presented.token:
        return Verification("unknown")
    texts = open_badges.pick_display(row["display"], language)
    now = datetime.now(UTC)
    verdict: Verdict = (
        "revoked"
        if row["revoked_at"] is not None
        else "expired"
        if row["valid_until"] is not None and row["valid_until"] <= now
        else "valid"
    )
    return Verification(
        verdict,
        issuer=open_badges.pick(issuer.name, language),
        achievement=texts["achievement"],
        description=texts["description"],
        level=texts["level"],
        framework=texts["framework"],
        valid_from=row["issued_at"],
        valid_until=row["valid_until"],
        revoked_at=row["revoked_at"],
    )
