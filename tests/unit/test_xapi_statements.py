"""The xAPI statements themselves: pure, no I/O (the LRS end to end is tests/test_xapi.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from service.xapi import statements
from service.xapi.statements import Attempt, Scored

HOME = "https://idp.example.gov.cn"
ATTEMPT = Attempt(uuid.UUID("6f1c1c1e-0000-4000-8000-000000000001"), 2, "AI 素养/2026", "ext-007")
AT = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


def test_the_same_fact_gets_the_same_id_and_content_and_another_fact_another_id():
    first = statements.scored(HOME, ATTEMPT, 3, Scored("D1", 61.5, "proficient"), AT)
    assert first == statements.scored(HOME, ATTEMPT, 3, Scored("D1", 61.5, "proficient"), AT)
    ids = {
        first["id"],
        statements.scored(HOME, ATTEMPT, 4, Scored("D1", 61.5, "proficient"), AT)["id"],
        statements.scored(HOME, ATTEMPT, 3, Scored("D2", 61.5, "proficient"), AT)["id"],
        statements.scored(HOME, ATTEMPT, 3, Scored(statements.OVERALL, 61.5, "proficient"), AT)["id"],
        statements.attempted(HOME, ATTEMPT, AT)["id"],
        statements.completed(HOME, ATTEMPT, AT)["id"],
    }
    assert len(ids) == 6 and all(uuid.UUID(i).version == 5 for i in ids)


def test_the_actor_is_the_tenant_account_and_nothing_personal():
    statement = statements.attempted(HOME, ATTEMPT, AT)
    assert statement["actor"] == {"objectType": "Agent", "account": {"homePage": HOME, "name": "ext-007"}}
    assert not {"name", "mbox", "mbox_sha1sum", "openid"} & set(statement["actor"])


def test_a_score_is_scaled_into_0_1_with_its_level_and_its_dimension_under_the_assessment():
    statement = statements.scored(HOME, ATTEMPT, 1, Scored("D/1", 61.5, "proficient"), AT)
    assert statement["result"]["score"] == {"scaled": 0.615, "raw": 61.5, "min": 0, "max": 100}
    assert statement["result"]["extensions"] == {statements.LEVEL: "proficient"}
    assessment = f"{HOME}/xapi/assessments/AI%20%E7%B4%A0%E5%85%BB%2F2026"
    assert statement["object"]["id"] == assessment + "/dimensions/D%2F1"
    assert statement["context"]["contextActivities"] == {
        "parent": [{"objectType": "Activity", "id": assessment}]
    }
    assert statement["context"]["registration"] == str(ATTEMPT.id)
    assert (
        statements.scored(HOME, ATTEMPT, 1, Scored("D", 100.0000001, None), AT)["result"]["score"]["scaled"]
        == 1
    )
    assert "extensions" not in statements.scored(HOME, ATTEMPT, 1, Scored("D", 0.0, None), AT)["result"]


def test_a_void_refers_to_its_target_and_has_an_id_of_its_own():
    target = uuid.UUID(statements.scored(HOME, ATTEMPT, 1, Scored("D1", 50, "basic"), AT)["id"])
    void = statements.voided(HOME, ATTEMPT, target, AT)
    assert void["object"] == {"objectType": "StatementRef", "id": str(target)}
    assert void["verb"]["id"] == "http://adlnet.gov/expapi/verbs/voided"
    assert void["id"] == str(statements.void_id(target)) != str(target)
