"""A start reads what every candidate of an assessment shares once per worker (issue 19): the
assessment's content and forms, and each pinned item version's rendered view. These tests hold
what that must never cost: a stale view after a new item version or assessment, a view shared
between tenants, or more statements than the start needs."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime
from uuid import UUID

import pytest

from service.db.pool import create_pool, tenant_transaction
from service.delivery import attempts, published
from service.delivery.attempts import StartAttempt
from service.items.views import Answer
from service.tenancy import people
from tests.delivery_setup import (
    ITEMS,
    add_people,
    add_units,
    assessment_body,
    candidates,
    import_items,
    publish_assessment,
    publish_framework,
)
from tests.helpers import make_tenant, user

# asyncpg's own statements: it reads the types of a statement's parameters once per connection
_INTROSPECTION = ("typeinfo_tree", "set_config('jit'")


@pytest.fixture
def tenant(delivery):
    published.forget()
    return delivery


def _stem(state: dict, ref: str) -> dict[str, str]:
    return next(item["stem"] for item in state["items"] if item["ref"] == ref)


def _with_stem(ref: str, zh: str, en: str) -> list[dict]:
    items = copy.deepcopy(ITEMS)
    next(item for item in items if item["code"] == ref)["stem"] = {"zh-CN": zh, "en": en}
    return items


async def _start(client, me, code="quiz", lang=None, status=201):
    """Start (201) or, with status=200, continue the candidate's attempt."""
    url = f"/v1/me/assessments/{code}/attempts" + (f"?lang={lang}" if lang else "")
    started = await client.post(url, json={}, headers=me)
    assert started.status_code == status, started.text
    return started.json()


async def test_a_new_item_version_is_never_served_from_the_cache_of_the_old_one(client, tenant):
    first, second, third = tenant["candidates"]
    old = await _start(client, first, "quiz")
    assert _stem(old, "T-SC-1") == {"zh-CN": "单选", "en": "Single"} and published.held_views() > 0

    # T-SC-1's version 1 is locked by the published quiz: an edit makes version 2
    await import_items(client, tenant["admin"], _with_stem("T-SC-1", "新题干", "New stem"))
    await publish_assessment(client, tenant["admin"], assessment_body("quiz2"))

    new = await _start(client, second, "quiz2")
    assert _stem(new, "T-SC-1") == {"zh-CN": "新题干", "en": "New stem"}
    assert _stem(await _start(client, second, "quiz2", lang="en", status=200), "T-SC-1") == {"en": "New stem"}
    # the quiz still pins version 1, for a new candidate and for the one already in it
    assert _stem(await _start(client, third, "quiz"), "T-SC-1") == {"zh-CN": "单选", "en": "Single"}
    resumed = (await client.get(f"/v1/me/attempts/{old['attempt']['id']}?lang=zh-CN", headers=first)).json()
    assert _stem(resumed, "T-SC-1") == {"zh-CN": "单选"}


async def test_a_closed_assessment_refuses_starts_though_its_content_is_cached(client, tenant):
    first, second, _ = tenant["candidates"]
    await _start(client, first)
    admin = tenant["admin"]
    closed = await client.post("/v1/assessments/quiz/close", headers=admin)
    assert closed.status_code == 200, closed.text
    refused = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=second)
    assert refused.status_code == 409, refused.text


async def test_tenants_never_share_a_cached_assessment_or_item_view(client, tenant, service_keys):
    """Two tenants with the same assessment code and item codes, texts differing: each candidate
    sees their own tenant's texts, whichever started first."""
    other = await make_tenant(client, service_keys, "cache-other")
    await add_units(client, other["admin"])
    await add_people(client, other["admin"], candidates(1))
    await publish_framework(client, other["admin"])
    await import_items(client, other["admin"], _with_stem("T-SC-1", "别的租户", "Other tenant"))
    await publish_assessment(client, other["admin"], assessment_body())
    theirs = user(service_keys, other["id"], ["candidate"], "c1")
    mine = tenant["candidates"][0]

    for lang, status in ((None, 201), ("en", 200)):
        assert _stem(await _start(client, mine, lang=lang, status=status), "T-SC-1") != _stem(
            await _start(client, theirs, lang=lang, status=status), "T-SC-1"
        )
    theirs_again = await _start(client, theirs, status=200)
    assert _stem(theirs_again, "T-SC-1") == {"zh-CN": "别的租户", "en": "Other tenant"}
    assert _stem(await _start(client, mine, status=200), "T-SC-1") == {"zh-CN": "单选", "en": "Single"}
    tenants = {key[0] for key in published._VIEWS.entries}
    assert tenants == {UUID(tenant["id"]), UUID(other["id"])}


async def test_a_start_runs_six_statements_once_the_form_is_cached(client, tenant, app_url):
    """Issue 19: a start ran 12 statements (besides the transaction and the person), reading every
    pinned item version's document and the assessment's content each time. Now: the assessment
    (without its content, already held), the person's units, their attempts with whether any is
    overdue (the deadline UPDATE only when one is), the accommodation, the insert returning the summary, and whether the tenant has an LRS (the xAPI
    `attempted` statement; none here); a resume: overdue attempts, the attempt with
    its form and title, the answers."""
    await _start(client, tenant["candidates"][0])  # fills the cache
    log: list[list[str]] = [[]]  # the start's statements, then the resume's
    pool = await create_pool(app_url, max_size=1)
    try:
        async with tenant_transaction(pool, UUID(tenant["id"])) as conn:
            person = await people.get_person(conn, "c2")
            conn.add_query_logger(lambda record: log[-1].append(record.query))
            state, created = await attempts.start(
                conn, UUID(tenant["id"]), person, "quiz", StartAttempt(), datetime.now(UTC)
            )
            assert created and len(state.items) == len(ITEMS)
            await asyncio.sleep(0)  # loggers are called soon after the statement, not in it
            log.append([])
            resumed = await attempts.resume(conn, person, state.attempt.id, "en")
            assert resumed.attempt.id == state.attempt.id and resumed.title == {"en": "Quiz"}
            await asyncio.sleep(0)  # loggers are called soon after the statement, not in it
            log.append([])
    finally:
        await pool.close()
    start, resume = ([q for q in part if not any(m in q for m in _INTROSPECTION)] for part in log[:2])
    assert len(start) == 6, start
    assert not [q for q in start if q.lstrip().startswith("UPDATE")], start
    assert len(resume) == 3, resume
    queries = start + resume
    assert not [q for q in queries if "item_versions" in q]


async def test_a_save_is_one_statement_once_its_rules_are_held_and_refusals_still_answer(
    client, tenant, app_url
):
    """Issue 19: once a worker holds an attempt's answer rules, a save is one call of `save_answer`
    in autocommit (it was BEGIN, context, person, upsert, COMMIT); what it cannot answer (a person
    deactivated meanwhile, an attempt submitted) goes the full way and is refused as before."""
    me = tenant["candidates"][0]
    attempt = (await _start(client, me))["attempt"]["id"]
    assert attempts.cached_rules(UUID(attempt)) is not None  # the start holds them
    attempts.forget_cached_forms()
    url = f"/v1/me/attempts/{attempt}/answers/T-SC-1"
    first = await client.put(url, json={"revision": 1, "answer": {"choice": "a"}}, headers=me)
    assert first.status_code == 200 and first.json()["applied"]  # the full way: the rules are now held
    attempts.forget_cached_forms()
    assert (await client.get(f"/v1/me/attempts/{attempt}", headers=me)).status_code == 200
    assert attempts.cached_rules(UUID(attempt)) is not None  # a resume holds them too

    pool = await create_pool(app_url, max_size=1)
    log: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: log.append(record.query))
        tenant_id = UUID(tenant["id"])
        saved = await attempts.save_at_once(
            pool, tenant_id, "c1", UUID(attempt), "T-SC-1", attempts.SaveAnswer(2, Answer(choice="b"))
        )
        stale = await attempts.save_at_once(
            pool, tenant_id, "c1", UUID(attempt), "T-SC-1", attempts.SaveAnswer(1, Answer(choice="c"))
        )
        unknown = await attempts.save_at_once(
            pool, tenant_id, "c2", UUID(attempt), "T-SC-1", attempts.SaveAnswer(3, Answer(choice="c"))
        )
        await asyncio.sleep(0)
    finally:
        await pool.close()
    assert saved is not None and saved.applied and saved.revision == 2 and saved.answer == Answer(choice="b")
    assert (
        stale is not None and not stale.applied and stale.revision == 2 and stale.answer == Answer(choice="b")
    )
    assert unknown is None  # another person's token: not held, nothing written
    assert [q for q in log if not any(m in q for m in _INTROSPECTION)] == [attempts._SAVE] * 2

    deactivated = await client.put(
        "/v1/people/c1",
        json={"org_unit_code": "city", "category": "civil_servant", "active": False},
        headers=tenant["admin"],
    )
    assert deactivated.status_code == 200, deactivated.text
    refused = await client.put(url, json={"revision": 3, "answer": {"choice": "c"}}, headers=me)
    assert refused.status_code == 403, refused.text
    back = await client.put(
        "/v1/people/c1",
        json={"org_unit_code": "city", "category": "civil_servant", "active": True},
        headers=tenant["admin"],
    )
    assert back.status_code == 200, back.text
    assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
    late = await client.put(url, json={"revision": 4, "answer": {"choice": "c"}}, headers=me)
    assert late.status_code == 409 and late.json()["type"].endswith("attempt-closed")
    resumed = (await client.get(f"/v1/me/attempts/{attempt}", headers=me)).json()
    assert resumed["answers"][0]["answer"] == {"choice": "b"} and resumed["answers"][0]["revision"] == 2
