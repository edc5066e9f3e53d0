"""xAPI 1.0.3 statements about attempts and scores: pure, no I/O.

Who: an `account` of the tenant (homePage = the tenant's issuer, name = the person's external id),
never a name or an e-mail. What: ADL's verbs `attempted` (an attempt started), `completed` (it was
submitted), `scored` (a final score: one statement for the overall result and one per top-level
dimension, `result.score.scaled` in [0, 1], the level as a result extension), `voided` (a rescoring
replaced a final score: its `scored` statements are voided, the new ones follow).

Every id is a UUID v5 over what the statement is about (attempt, verb, score version, dimension), so the same fact always gets the same id, and the statement is built once and stored: a redelivery is
recognised by the LRS (xAPI 1.0.3 §2.2: same id, same statement → accepted, not stored twice).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote
from uuid import UUID

import msgspec

Verb = Literal["attempted", "completed", "scored", "voided"]
VERSION = "1.0.3"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:assess:xapi:statements")
VERBS: dict[str, tuple[str, str]] = {  # id, zh-CN display; the en-US display is the verb itself
    "attempted": ("http://adlnet.gov/expapi/verbs/attempted", "开始作答"),
    "completed": ("http://adlnet.gov/expapi/verbs/completed", "完成"),
    "scored": ("http://adlnet.gov/expapi/verbs/scored", "得分"),
    "voided": ("http://adlnet.gov/expapi/verbs/voided", "作废"),
}
ASSESSMENT_TYPE = "http://adlnet.gov/expapi/activities/assessment"
OBJECTIVE_TYPE = "http://adlnet.gov/expapi/activities/objective"
EXTENSION = "urn:assess:xapi:extension:"  # our extensions' IRIs
LEVEL = EXTENSION + "level"
ATTEMPT_NUMBER = EXTENSION + "attempt-number"
SCORE_VERSION = EXTENSION + "score-version"
OVERALL = ""  # the dimension key of the overall result


class Attempt(msgspec.Struct, frozen=True):
    """What every statement about an attempt names."""

    id: UUID
    number: int
    assessment: str  # the assessment's code
    person: str  # the person's external id


class Scored(msgspec.Struct, frozen=True):
    dimension: str  # OVERALL or a top-level dimension's code
    scaled: float  # 0..100, as the scoring engine reports it
    level: str | None


def statement_id(attempt_id: UUID, verb: str, score_version: int = 0, dimension: str = OVERALL) -> UUID:
    """Attempt ids are unique across tenants, so they alone place the statement."""
    return uuid.uuid5(NAMESPACE, f"{attempt_id}/{verb}/{score_version}/{dimension}")


def void_id(target: UUID) -> UUID:
    return uuid.uuid5(NAMESPACE, f"voided/{target}")


def actor(home_page: str, person: str) -> dict[str, Any]:
    return {"objectType": "Agent", "account": {"homePage": home_page, "name": person}}


def _verb(verb: str) -> dict[str, Any]:
    iri, zh = VERBS[verb]
    return {"id": iri, "display": {"zh-CN": zh, "en-US": verb}}


def activity_id(home_page: str, assessment: str, dimension: str = OVERALL) -> str:
    base = f"{home_page.rstrip('/')}/xapi/assessments/{_segment(assessment)}"
    return base if dimension == OVERALL else f"{base}/dimensions/{_segment(dimension)}"


def _segment(code: str) -> str:
    return quote(code, safe="")


def _activity(home_page: str, assessment: str, dimension: str = OVERALL) -> dict[str, Any]:
    name = assessment if dimension == OVERALL else f"{assessment} / {dimension}"
    return {
        "objectType": "Activity",
        "id": activity_id(home_page, assessment, dimension),
        "definition": {
            "type": ASSESSMENT_TYPE if dimension == OVERALL else OBJECTIVE_TYPE,
            "name": {"zh-CN": name, "en-US": name},
        },
    }


def _context(
    home_page: str, attempt: Attempt, dimension: str = OVERALL, score_version: int | None = None
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "registration": str(attempt.id),
        "extensions": {ATTEMPT_NUMBER: attempt.number}
        | ({SCORE_VERSION: score_version} if score_version is not None else {}),
    }
    if dimension != OVERALL:
        context["contextActivities"] = {
            "parent": [{"objectType": "Activity", "id": activity_id(home_page, attempt.assessment)}]
        }
    return context


def _statement(
    statement: UUID, home_page: str, attempt: Attempt, verb: str, at: datetime, rest: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": str(statement),
        "actor": actor(home_page, attempt.person),
        "verb": _verb(verb),
        **rest,
        "timestamp": at.isoformat(),
        "version": VERSION,
    }


def attempted(home_page: str, attempt: Attempt, at: datetime) -> dict[str, Any]:
    return _statement(
        statement_id(attempt.id, "attempted"),
        home_page,
        attempt,
        "attempted",
        at,
        {"object": _activity(home_page, attempt.assessment), "context": _context(home_page, attempt)},
    )


def completed(home_page: str, attempt: Attempt, at: datetime) -> dict[str, Any]:
    return _statement(
        statement_id(attempt.id, "completed"),
        home_page,
        attempt,
        "completed",
        at,
        {
            "object": _activity(home_page, attempt.assessment),
            "result": {"completion": True},
            "context": _context(home_page, attempt),
        },
    )


def scored(
    home_page: str, attempt: Attempt, score_version: int, score: Scored, at: datetime
) -> dict[str, Any]:
    scaled = min(max(score.scaled, 0.0), 100.0)
    result: dict[str, Any] = {
        "score": {"scaled": round(scaled / 100, 6), "raw": round(scaled, 4), "min": 0, "max": 100},
        "completion": True,
    }
    if score.level is not None:
        result["extensions"] = {LEVEL: score.level}
    return _statement(
        statement_id(attempt.id, "scored", score_version, score.dimension),
        home_page,
        attempt,
        "scored",
        at,
        {
            "object": _activity(home_page, attempt.assessment, score.dimension),
            "result": result,
            "context": _context(home_page, attempt, score.dimension, score_version),
        },
    )


def voided(home_page: str, attempt: Attempt, target: UUID, at: datetime) -> dict[str, Any]:
    """Voids the statement `target` (xAPI 1.0.3 §2.5: object is a StatementRef)."""
    return _statement(
        void_id(target),
        home_page,
        attempt,
        "voided",
        at,
        {
            "object": {"objectType": "StatementRef", "id": str(target)},
            "context": _context(home_page, attempt),
        },
    )
