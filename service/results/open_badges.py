"""Open Badges 3.0 documents, pure: the credential a qualifying dimension yields, and the Bitstring
Status List that revokes it. No I/O: service/results/credentials.py reads and stores, this shapes.

One `OpenBadgeCredential` per top-level dimension at or above the assessment's threshold (and one for
the overall result when asked): the `achievement` is aligned to the framework version's CASE item for
the dimension (the identifiers `service.rubrics.case.export_case` gives that version), its
`resultDescription` is a `RubricCriterionLevel` listing the framework's levels in order, and
`result.achievedLevel` names the level reached. The issuer is the tenant's profile, a did:web whose
document the service serves (`credentials/<tenant>/did.json`), so a verifier resolves the key itself.

Languages: an OB 3.0 achievement carries one language (`inLanguage`); it is written in zh-CN (falling
back to English) with the English version as a `related` achievement, and every display text this
module makes is kept per language for the verification route.

Status: W3C Bitstring Status List v1.0 (`BitstringStatusListEntry`, purpose `revocation`), a GZIP'd
bitstring of STATUS_LIST_BITS bits (the specification's minimum, 16 KB, so one credential's bit
says nothing about how many others exist), index 0 the most significant bit of the first byte.
"""

from __future__ import annotations

import base64
import gzip
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from service.rubrics.model import FrameworkContent

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB_SCHEMA = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
STATUS_LIST_BITS = 131_072
OVERALL = ""  # the subject code of the credential for the overall result
LANGUAGES = ("zh-CN", "en")
_NAMESPACE = uuid.UUID("3f0c8a8e-7b1d-4c61-9a54-1d2b6e0f9c47")


class IssuerProfile(msgspec.Struct, frozen=True):
    did: str  # did:web:<host>:credentials:<tenant id>
    url: str  # the origin verifiers reach the service at
    name: dict[str, str]  # zh-CN and en


class Award(msgspec.Struct, frozen=True):
    """What one credential states, before it is signed."""

    credential_id: uuid.UUID
    subject: str  # a top-level dimension's code, or OVERALL
    level: str
    required_level: str
    holder: str  # urn:uuid pseudonym of the person: no name, no e-mail, no external id
    status_list_url: str
    status_index: int
    valid_from: datetime
    valid_until: datetime | None
    case_seed: str  # "<framework id>:<version>", as export_case seeds the version's identifiers
    case_item: str | None  # the CASE CFItem identifier of the dimension (None: overall)


def did_web(url: str, tenant_id: uuid.UUID) -> str:
    """The issuer DID of a tenant whose service answers at `url` (an https origin)."""
    host = url.split("://", 1)[1].rstrip("/").replace(":", "%3A")
    return f"did:web:{host}:credentials:{tenant_id}"


def holder_id(tenant_id: uuid.UUID, person_id: uuid.UUID) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{tenant_id}|person|{person_id}')}"


def _urn(seed: str, kind: str, code: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{seed}|{kind}|{code}')}"


def pick(text: dict[str, str] | None, language: str) -> str:
    """The text in `language`, else zh-CN, else English, else any."""
    if not text:
        return ""
    return text.get(language) or text.get("zh-CN") or text.get("en") or next(iter(text.values()))


def pick_display(display: dict[str, dict[str, str]], language: str) -> dict[str, str]:
    """The display texts (see `display`) in `language`, else zh-CN, else English."""
    return display.get(language) or display.get("zh-CN") or display["en"]


def _subject_texts(framework: FrameworkContent, subject: str) -> tuple[dict[str, str], dict[str, str] | None]:
    if subject == OVERALL:
        return dict(framework.title), dict(framework.description) if framework.description else None
    dimension = next(d for d in framework.dimensions if d.code == subject)
    return dict(dimension.name), dict(dimension.description) if dimension.description else None


def display(framework: FrameworkContent, subject: str, level: str) -> dict[str, dict[str, str]]:
    """Per language: the achievement's name, description, the level's label and the framework title."""
    name, description = _subject_texts(framework, subject)
    level_label = next(dict(lv.label) for lv in framework.levels if lv.code == level)
    return {
        language: {
            "achievement": pick(name, language),
            "description": pick(description, language) or pick(name, language),
            "level": pick(level_label, language),
            "framework": pick(dict(framework.title), language),
        }
        for language in LANGUAGES
    }


def _achievement(framework: FrameworkContent, award: Award, language: str) -> dict[str, Any]:
    texts = display(framework, award.subject, award.level)[language]
    seed = award.case_seed
    code = award.subject or "overall"
    result_description = {
        "id": _urn(seed, "result-description", code),
        "type": ["ResultDescription"],
        "name": pick({"zh-CN": "熟练水平", "en": "Proficiency level"}, language),
        "resultType": "RubricCriterionLevel",
        "requiredLevel": _urn(seed, "level", award.required_level),
        "rubricCriterionLevel": [
            {
                "id": _urn(seed, "level", level.code),
                "type": ["RubricCriterionLevel"],
                "name": pick(dict(level.label), language),
                "level": level.code,
                **({"description": pick(dict(level.description), language)} if level.description else {}),
            }
            for level in framework.levels
        ],
    }
    achievement: dict[str, Any] = {
        "id": _urn(seed, f"achievement-{language}", code),
        "type": ["Achievement"],
        "achievementType": "Competency",
        "name": texts["achievement"],
        "description": texts["description"],
        "criteria": {
            "narrative": pick(
                {
                    "zh-CN": f"在《{texts['framework']}》的测评中，该维度达到「{texts['level']}」或以上水平。",
                    "en": f"Reached {texts['level']} or above on this dimension in an assessment "
                    f"against {texts['framework']}.",
                },
                language,
            )
        },
        "humanCode": code,
        "inLanguage": language,
        "resultDescription": [result_description],
    }
    if award.case_item is not None:
        achievement["alignment"] = [
            {
                "type": ["Alignment"],
                "targetName": texts["achievement"],
                "targetUrl": f"urn:uuid:{award.case_item}",
                "targetType": "CFItem",
                "targetCode": award.subject,
                "targetFramework": texts["framework"],
            }
        ]
    return achievement


def credential(framework: FrameworkContent, issuer: IssuerProfile, award: Award) -> dict[str, Any]:
    """The unsigned OpenBadgeCredential (the VC-JWT payload adds the registered claims to it)."""
    achievement = _achievement(framework, award, "zh-CN")
    english = _achievement(framework, award, "en")
    achievement["related"] = [
        {"id": english["id"], "type": ["Related"], "inLanguage": "en", "version": "en"},
    ]
    code = award.subject or "overall"
    body: dict[str, Any] = {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": f"urn:uuid:{award.credential_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": achievement["name"],
        "issuer": {
            "id": issuer.did,
            "type": ["Profile"],
            "name": pick(issuer.name, "zh-CN"),
            "url": issuer.url,
            "description": pick(issuer.name, "en"),
        },
        "validFrom": award.valid_from.isoformat(),
        "credentialSubject": {
            "id": award.holder,
            "type": ["AchievementSubject"],
            "achievement": achievement,
            "result": [
                {
                    "type": ["Result"],
                    "resultDescription": achievement["resultDescription"][0]["id"],
                    "achievedLevel": _urn(award.case_seed, "level", award.level),
                }
            ],
        },
        "credentialStatus": {
            "id": f"{award.status_list_url}#{award.status_index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(award.status_index),
            "statusListCredential": award.status_list_url,
        },
        "credentialSchema": [{"id": OB_SCHEMA, "type": "1EdTechJsonSchemaValidator2019"}],
        "evidence": [{"id": _urn(award.case_seed, "evidence", code), "type": ["Evidence"]}],
    }
    if award.valid_until is not None:
        body["validUntil"] = award.valid_until.isoformat()
    return body


def encode_status_list(revoked: Iterable[int], bits: int = STATUS_LIST_BITS) -> str:
    """The `encodedList`: multibase base64url (prefix `u`, no padding) of the GZIP'd bitstring."""
    bitstring = bytearray(bits // 8)
    for index in revoked:
        bitstring[index // 8] |= 0x80 >> (index % 8)
    compressed = gzip.compress(bytes(bitstring), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode()


def status_list_credential(
    issuer: IssuerProfile, url: str, revoked: Iterable[int], valid_from: datetime, valid_until: datetime
) -> dict[str, Any]:
    """The BitstringStatusListCredential (unsigned) for the revocation bits of one list."""
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer.did,
        "validFrom": valid_from.isoformat(),
        "validUntil": valid_until.isoformat(),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_status_list(revoked),
        },
    }
