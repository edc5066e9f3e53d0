"""Delivery under retries, races, deadlines and extra time: what attempts.py's module docstring
promises (one attempt per start, revision-guarded saves, submit once, deadline submission),
checked over HTTP against the real database, with the table owner standing in for the clock."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.db.pool import create_pool, single_statement, tenant_transaction
from service.sittings import attempts as sittings
from service.tenancy.people import person_for_sign_in
from tests.delivery_setup import ANSWERS, assessment_body, delivery_tenant, publish_assessment
from tests.harness import snapshot
from tests.helpers import stored_json

START = "/v1/me/assessments/{code}/attempts"
REFS = sorted(ANSWERS)
_ORDERS = list(itertools.permutations("abcd"))
_PAIRS = list(itertools.permutations("abcd", 2))


async def start(client, me, body: dict[str, Any] | None = None, code: str = "quiz"):
    return await client.post(START.format(code=code), json={} if body is None else body, headers=me)


async def save(client, me, attempt: str, ref: str, revision: int, answer: dict[str, Any]):
    return await client.put(
        f"/v1/me/attempts/{attempt}/answers/{ref}", json={"revision": revision, "answer": answer}, headers=me
    )


async def resume(client, me, attempt: str) -> dict[str, Any]:
    got = await client.get(f"/v1/me/attempts/{attempt}", headers=me)
    assert got.status_code == 200, got.text
    return got.json()


def stored(state: dict[str, Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    return {a["item"]: (a["revision"], a["answer"]) for a in state["answers"]}


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def owner_sql(owner_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(owner_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def answer_for(ref: str, revision: int) -> dict[str, Any]:
    """A valid answer to item `ref` that depends only on (ref, revision); every 7th is a clearing `{}`."""
    if revision % 7 == 6:
        return {}
    r = revision
    return {
        "T-SC-1": {"choice": "abcd"[r % 4]},
        "T-MC-1": {"choices": [k for i, k in enumerate("abcde") if ((r % 31) + 1) >> i & 1]},
        "T-SJT-BEST": {"choice": "dcba"[r % 4]},
        "T-SJT-ML": dict(zip(("most", "least"), _PAIRS[r % len(_PAIRS)], strict=False)),
        "T-SJT-RATE": {"ratings": {k: (r + i) % 4 + 1 for i, k in enumerate("abcd")}},
        "T-LK-1": {"value": r % 5 + 1},
        "T-ORD-1": {"order": list(_ORDERS[r % len(_ORDERS)])},
        "T-OR-1": {"text": f"提示词 revision {r}"},
    }[ref]


@pytest.fixture
@snapshot
async def tenant(client, service_keys):
    return await delivery_tenant(client, service_keys, people=6)


@pytest.mark.parametrize(
    "bodies", [[{}] * 8, [{"number": 1}] * 8, [{}, {"number": 1}] * 4], ids=["plain", "numbered", "mixed"]
)
async def test_concurrent_and_retried_starts_make_one_attempt(client, tenant, owner_url, bodies):
    """Eight starts at once (and a retry after) create exactly one attempt: one 201, the rest 200,
    all with the same id and item order; a start naming a number that is not next is a 409 on /number."""
    me = tenant["candidates"][0]
    responses = await asyncio.gather(*(start(client, me, body) for body in bodies))
    assert sorted(r.status_code for r in responses) == [200] * (len(bodies) - 1) + [201], [
        r.text for r in responses
    ]
    states = [r.json() for r in responses] + [(await start(client, me)).json()]
    assert len({s["attempt"]["id"] for s in states}) == 1
    assert len({tuple(i["ref"] for i in s["items"]) for s in states}) == 1
    assert {s["attempt"]["number"] for s in states} == {1}
    listed = await client.get("/v1/assessments/quiz/attempts", headers=tenant["admin"])
    assert [a["id"] for a in listed.json()["items"]] == [states[0]["attempt"]["id"]]
    assert (await owner_sql(owner_url, "SELECT count(*) AS n FROM attempts"))[0]["n"] == 1

    other = tenant["candidates"][1]
    skipped = await start(client, other, {"number": 3})
    assert skipped.status_code == 409, skipped.text
    assert [e["pointer"] for e in skipped.json()["errors"]] == ["/number"]
    assert (await owner_sql(owner_url, "SELECT count(*) AS n FROM attempts"))[0]["n"] == 1


async def test_concurrent_duplicate_and_out_of_order_saves(client, tenant, owner_url):
    """Ten identical saves at once store one row (one of them applied); revisions 1..20 sent at once
    in random order leave revision 20 with its answer, and no reply reports an older revision as stored."""
    me = tenant["candidates"][0]
    attempt = (await start(client, me)).json()["attempt"]["id"]
    twins = await asyncio.gather(
        *(save(client, me, attempt, "T-SC-1", 1, {"choice": "a"}) for _ in range(10))
    )
    assert {r.status_code for r in twins} == {200}
    assert sum(r.json()["applied"] for r in twins) == 1
    assert {(r.json()["revision"], r.json()["saved_at"]) for r in twins} == {(1, twins[0].json()["saved_at"])}
    rows = await owner_sql(owner_url, "SELECT revision, answer FROM responses WHERE item_ref = 'T-SC-1'")
    assert [r["revision"] for r in rows] == [1]

    def draft(n: int) -> dict[str, str]:
        return {"text": f"draft {n}"}

    revisions = random.Random(7).sample(range(1, 21), 20)
    replies = await asyncio.gather(*(save(client, me, attempt, "T-OR-1", n, draft(n)) for n in revisions))
    for sent, reply in zip(revisions, replies, strict=False):
        body = reply.json()
        assert reply.status_code == 200 and body["revision"] >= sent, body
        assert body["answer"] == draft(body["revision"])
        if body["applied"]:
            assert body["revision"] == sent
    assert stored(await resume(client, me, attempt))["T-OR-1"] == (20, draft(20))
    rows = await owner_sql(owner_url, "SELECT count(*) AS n FROM responses WHERE item_ref = 'T-OR-1'")
    assert rows[0]["n"] == 1


# One example: groups of saves, each sent as sequential PUTs, concurrent PUTs or one batch, maybe twice.
SAVES = st.lists(st.tuples(st.sampled_from(REFS), st.integers(0, 9)), min_size=1, max_size=6)
PLANS = st.lists(
    st.tuples(st.sampled_from(["put", "gather", "batch"]), SAVES, st.booleans()), min_size=1, max_size=6
)


@pytest.fixture
async def crowd(client, service_keys):
    """20 candidates, each good for one fresh attempt per published copy of the quiz."""
    tenant = await delivery_tenant(client, service_keys, slug="crowd-region", people=20)
    return {**tenant, "counter": itertools.count()}


async def fresh_attempt(client, crowd) -> tuple[dict[str, str], str]:
    n = next(crowd["counter"])
    people = crowd["candidates"]
    me, round_ = people[n % len(people)], n // len(people)
    code = "quiz" if round_ == 0 else f"quiz-{round_}"
    if round_ and n % len(people) == 0:  # everyone has used this one: publish another copy
        await publish_assessment(client, crowd["admin"], assessment_body(code))
    started = await start(client, me, code=code)
    assert started.status_code == 201, started.text
    return me, started.json()["attempt"]["id"]


@settings(
    max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=PLANS)
async def test_the_highest_revision_wins_whatever_the_arrival_order(client, crowd, plan):
    """Property: however saves are ordered, duplicated, batched or raced, the resumed attempt holds,
    per item, the answer of its highest revision, and every reply is consistent with that rule."""
    me, attempt = await fresh_attempt(client, crowd)
    replies: list[tuple[str, int, dict[str, Any]]] = []
    for mode, saves, twice in plan:
        for _ in range(2 if twice else 1):
            if mode == "batch":
                body = {
                    "answers": [
                        {"item": ref, "revision": n, "answer": answer_for(ref, n)} for ref, n in saves
                    ]
                }
                got = await client.post(f"/v1/me/attempts/{attempt}/answers", json=body, headers=me)
                assert got.status_code == 200, got.text
                results = got.json()["results"]
            else:
                calls = [save(client, me, attempt, ref, n, answer_for(ref, n)) for ref, n in saves]
                got = await asyncio.gather(*calls) if mode == "gather" else [await c for c in calls]
                assert {r.status_code for r in got} == {200}, [r.text for r in got]
                results = [r.json() for r in got]
            replies += [(ref, n, result) for (ref, n), result in zip(saves, results, strict=False)]
    expected: dict[str, int] = {}
    for ref, n, result in replies:
        expected[ref] = max(expected.get(ref, -1), n)
        assert result["item"] == ref and result["revision"] >= n
        assert result["answer"] == answer_for(ref, result["revision"])
        if result["applied"]:
            assert result["revision"] == n
    state = await resume(client, me, attempt)
    assert stored(state) == {ref: (n, answer_for(ref, n)) for ref, n in expected.items()}
    assert state["attempt"]["answered"] == sum(answer_for(ref, n) != {} for ref, n in expected.items())


async def test_concurrent_submits_submit_once(client, tenant, owner_url):
    """Five submits at once: one submission; every reply names the same submitted_at and submitter."""
    me = tenant["candidates"][0]
    attempt = (await start(client, me)).json()["attempt"]["id"]
    replies = await asyncio.gather(
        *(client.post(f"/v1/me/attempts/{attempt}/submit", headers=me) for _ in range(5))
    )
    assert {r.status_code for r in replies} == {200}
    assert {(r.json()["status"], r.json()["submitted_by"], r.json()["submitted_at"]) for r in replies} == {
        ("submitted", "candidate", replies[0].json()["submitted_at"])
    }
    [row] = await owner_sql(owner_url, "SELECT status, submitted_at FROM attempts")
    assert row["status"] == "submitted" and row["submitted_at"] == ts(replies[0].json()["submitted_at"])


async def test_saves_racing_a_submit_are_kept_or_refused_never_lost(client, tenant):
    """Saves sent together with a submit: each is either acknowledged and then in the submitted
    attempt, or refused with 409 attempt-closed; nothing acknowledged goes missing."""
    outcomes = set()
    for me in tenant["candidates"]:
        attempt = (await start(client, me)).json()["attempt"]["id"]
        calls = [save(client, me, attempt, ref, 1, answer_for(ref, 1)) for ref in REFS]
        calls.insert(len(calls) // 2, client.post(f"/v1/me/attempts/{attempt}/submit", headers=me))
        replies = await asyncio.gather(*calls)
        submit = replies.pop(len(calls) // 2)
        assert submit.status_code == 200 and submit.json()["status"] == "submitted", submit.text
        state = await resume(client, me, attempt)
        assert state["attempt"]["status"] == "submitted"
        for ref, reply in zip(REFS, replies, strict=False):
            if reply.status_code == 200:
                assert stored(state)[ref] == (1, answer_for(ref, 1))
            else:
                assert reply.status_code == 409 and reply.json()["type"].endswith("attempt-closed"), (
                    reply.text
                )
                assert ref not in stored(state)
            outcomes.add(reply.status_code)
    assert 200 in outcomes  # the race is real: some saves landed (409s depend on scheduling)


async def waits_for_a_lock(owner: asyncpg.Connection, task: asyncio.Task[Any]) -> None:
    """Until another session waits for a lock (or `task` ran through, which the caller then refutes)."""
    while not task.done() and not await owner.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
        await asyncio.sleep(0.01)


async def save_in_transaction(conn: asyncpg.Connection, tenant_id: str, attempt: str, revision: int) -> None:
    """`save_answer` as a save sends it (T-SC-1 at this revision), in a transaction the caller holds
    open: stored, not committed."""
    row = await conn.fetchrow(
        sittings.SAVE_ANSWER,
        UUID(tenant_id),
        "c1",
        UUID(attempt),
        "T-SC-1",
        answer_for("T-SC-1", revision),
        revision,
        False,
    )
    assert row["person_known"] and row["attempt_open"] and row["applied"]


@pytest.mark.parametrize("by", ["candidate", "deadline"])
async def test_a_submission_waits_for_a_save_in_flight_and_scores_its_answer(
    client, tenant, owner, owner_url, app_url, by
):
    """Forced interleaving (migration 0031): a save has stored its answer and not committed; the
    candidate's submit (or the deadline's, run by a resume) waits for it, then scores the answer.
    The candidate's case saves a first answer; the deadline's changes a stored one, since a first
    answer's foreign key check holds the attempt row (FOR KEY SHARE), which the deadline's sweep
    (FOR UPDATE SKIP LOCKED) leaves for its next call, as it always did."""
    me = tenant["candidates"][0]
    attempt = (await start(client, me)).json()["attempt"]["id"]
    revision = 1
    if by == "deadline":
        assert (await save(client, me, attempt, "T-SC-1", 1, answer_for("T-SC-1", 1))).status_code == 200
        revision = 2
    pool = await create_pool(app_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await save_in_transaction(conn, tenant["id"], attempt, revision)
            if by == "deadline":  # past deadline and grace now; the save read it in time
                await overdue(owner_url, attempt)
                submitting = client.get(f"/v1/me/attempts/{attempt}", headers=me)
            else:
                submitting = client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
            submission = asyncio.create_task(submitting)
            await asyncio.wait_for(waits_for_a_lock(owner, submission), 10)
            assert not submission.done()  # the submission waits for the save
        reply = await submission
    finally:
        await pool.close()
    assert reply.status_code == 200, reply.text
    state = await resume(client, me, attempt)
    assert (state["attempt"]["status"], state["attempt"]["submitted_by"]) == ("submitted", by)
    assert stored(state) == {"T-SC-1": (revision, answer_for("T-SC-1", revision))}
    document = await stored_json(owner, attempt)
    assert "T-SC-1" not in document["omitted"] and len(document["omitted"]) == len(REFS) - 1


async def test_a_save_behind_a_submission_waits_and_is_refused(client, tenant, owner, app_url):
    """Forced interleaving (migration 0031): a submission has marked the attempt submitted and not
    committed; a save of it waits for the submission, then finds the attempt closed and stores nothing."""
    me = tenant["candidates"][0]
    attempt = (await start(client, me)).json()["attempt"]["id"]
    pool = await create_pool(app_url, min_size=2, max_size=2)
    try:
        async with tenant_transaction(pool, UUID(tenant["id"])) as conn:
            person = await person_for_sign_in(conn, "c1")
            assert await sittings.mark_submitted(conn, person.id, UUID(attempt)) == "candidate"
            save = asyncio.create_task(
                single_statement(
                    pool,
                    sittings.SAVE_ANSWER,
                    UUID(tenant["id"]),
                    "c1",
                    UUID(attempt),
                    "T-SC-1",
                    answer_for("T-SC-1", 1),
                    1,
                    False,
                )
            )
            await asyncio.wait_for(waits_for_a_lock(owner, save), 10)
            assert not save.done()  # the save waits for the submission
        row = await save
    finally:
        await pool.close()
    assert row["person_known"] and not row["attempt_open"] and not row["applied"]
    assert await owner.fetchval("SELECT count(*) FROM responses WHERE attempt_id = $1", UUID(attempt)) == 0


async def overdue(owner_url: str, attempt: str, by: str = "5 minutes") -> None:
    await owner_sql(
        owner_url, f"UPDATE attempts SET deadline = now() - interval '{by}' WHERE id = $1", UUID(attempt)
    )


async def test_the_deadline_closes_the_attempt_and_keeps_its_answers(client, tenant, owner_url):
    """Past deadline + grace: resume shows it submitted by the deadline with the saved answers, a save
    is a 409 that changes nothing, and listing my assessments submits too; within grace a save lands."""
    me, lister, late = tenant["candidates"][:3]
    attempt = (await start(client, me)).json()["attempt"]["id"]
    assert (await save(client, me, attempt, "T-SC-1", 1, {"choice": "c"})).status_code == 200
    await overdue(owner_url, attempt)
    state = await resume(client, me, attempt)
    assert (state["attempt"]["status"], state["attempt"]["submitted_by"]) == ("submitted", "deadline")
    assert state["attempt"]["seconds_left"] == 0
    assert stored(state) == {"T-SC-1": (1, {"choice": "c"})}
    refused = await save(client, me, attempt, "T-SC-1", 2, {"choice": "a"})
    assert refused.status_code == 409 and refused.json()["type"].endswith("attempt-closed"), refused.text
    assert stored(await resume(client, me, attempt)) == {"T-SC-1": (1, {"choice": "c"})}

    listed_attempt = (await start(client, lister)).json()["attempt"]["id"]
    await overdue(owner_url, listed_attempt)
    [quiz] = (await client.get("/v1/me/assessments", headers=lister)).json()
    assert [(a["id"], a["status"]) for a in quiz["attempts"]] == [(listed_attempt, "submitted")]
    [row] = await owner_sql(
        owner_url, "SELECT status, submitted_by FROM attempts WHERE id = $1", UUID(listed_attempt)
    )
    assert (row["status"], row["submitted_by"]) == ("submitted", "deadline")

    in_grace = (await start(client, late)).json()["attempt"]["id"]
    await overdue(owner_url, in_grace, by="10 seconds")
    landed = await save(client, late, in_grace, "T-LK-1", 1, {"value": 2})
    assert landed.status_code == 200 and landed.json()["applied"], landed.text
    state = await resume(client, late, in_grace)
    assert state["attempt"]["status"] == "in_progress" and stored(state)["T-LK-1"] == (1, {"value": 2})


async def test_a_start_submits_an_overdue_attempt_before_it_answers(client, tenant, owner_url):
    """A start reads the person's attempts and whether one is overdue in one statement (issue 19: the
    surge's starts skip the deadline UPDATE); within grace the attempt comes back in progress, past it
    the start submits it by the deadline first and then refuses a second attempt (one allowed)."""
    me = tenant["candidates"][0]
    attempt = (await start(client, me)).json()["attempt"]["id"]
    await overdue(owner_url, attempt, by="10 seconds")
    again = await start(client, me)
    assert again.status_code == 200 and again.json()["attempt"]["id"] == attempt
    assert again.json()["attempt"]["status"] == "in_progress"
    await overdue(owner_url, attempt)
    refused = await start(client, me)
    assert refused.status_code == 409 and "all 1 attempt" in refused.json()["detail"], refused.text
    [row] = await owner_sql(
        owner_url, "SELECT status, submitted_by FROM attempts WHERE id = $1", UUID(attempt)
    )
    assert (row["status"], row["submitted_by"]) == ("submitted", "deadline")
    numbered = await start(client, me, {"number": 1})
    assert numbered.status_code == 200 and numbered.json()["attempt"]["status"] == "submitted"


async def test_a_save_refused_at_the_deadline_leaves_the_attempt_submitted(client, tenant, owner_url):
    """The 409 says the attempt 'was submitted by the server at its deadline at T': the database
    agrees afterwards: the refusal commits the deadline submission it reports."""
    me = tenant["candidates"][0]
    attempt = (await start(client, me)).json()["attempt"]["id"]
    await overdue(owner_url, attempt)
    refused = await save(client, me, attempt, "T-SC-1", 1, {"choice": "a"})
    assert refused.status_code == 409 and "by the server at its deadline" in refused.json()["detail"]
    [row] = await owner_sql(owner_url, "SELECT status, submitted_by FROM attempts")
    assert (row["status"], row["submitted_by"]) == ("submitted", "deadline")


def near(value: str, expected: datetime) -> bool:
    return abs(ts(value) - expected) <= timedelta(seconds=1)


async def test_extra_time_moves_the_deadline(client, tenant):
    """Factor 1.5 on a running 30-minute attempt: deadline = started_at + 45 min and more time left;
    a factor granted before start (2) applies at start."""
    admin, (me, later) = tenant["admin"], tenant["candidates"][:2]
    before = (await start(client, me)).json()["attempt"]
    granted = await client.put(
        "/v1/assessments/quiz/accommodations/c1", json={"extra_time_factor": 1.5}, headers=admin
    )
    assert granted.status_code == 200, granted.text
    after = (await resume(client, me, before["id"]))["attempt"]
    expected = ts(after["started_at"]) + timedelta(minutes=45)
    assert near(after["deadline"], expected) and near(granted.json()["running_attempt_deadline"], expected)
    assert after["extra_time_factor"] == 1.5 and after["seconds_left"] > before["seconds_left"] + 14 * 60

    assert (
        await client.put(
            "/v1/assessments/quiz/accommodations/c2", json={"extra_time_factor": 2}, headers=admin
        )
    ).status_code == 200
    started = (await start(client, later)).json()["attempt"]
    assert near(started["deadline"], ts(started["started_at"]) + timedelta(minutes=60))
    assert started["extra_time_factor"] == 2 and started["seconds_left"] > 59 * 60


async def test_extra_time_granted_before_start_applies_at_start(client, tenant, owner_url):
    """An accommodation on record when the attempt starts (written by the owner, as an HR import
    would) sets deadline = started_at + 30 min x 2 and the factor on the attempt."""
    await owner_sql(
        owner_url,
        """
        INSERT INTO accommodations (tenant_id, assessment_id, person_id, extra_time_factor)
        SELECT a.tenant_id, a.id, p.id, 2 FROM assessments a JOIN people p ON p.tenant_id = a.tenant_id
        WHERE a.tenant_id = $1 AND a.code = 'quiz' AND p.external_id = 'c2'""",
        UUID(tenant["id"]),
    )
    started = (await start(client, tenant["candidates"][1])).json()["attempt"]
    assert near(started["deadline"], ts(started["started_at"]) + timedelta(minutes=60))
    assert started["extra_time_factor"] == 2 and started["seconds_left"] > 59 * 60
    plain = (await start(client, tenant["candidates"][0])).json()["attempt"]
    assert near(plain["deadline"], ts(plain["started_at"]) + timedelta(minutes=30))
    [mine] = (await client.get("/v1/me/assessments", headers=tenant["candidates"][1])).json()
    assert mine["extra_time_factor"] == 2


async def test_extra_time_factor_outside_one_to_four_is_refused(client, tenant):
    """Factors below 1 or above 4 are a 400 naming /extra_time_factor."""
    for factor in (0.5, 0, -1, 4.01, 10):
        bad = await client.put(
            "/v1/assessments/quiz/accommodations/c3",
            json={"extra_time_factor": factor},
            headers=tenant["admin"],
        )
        assert bad.status_code == 400, bad.text
        assert [e["pointer"] for e in bad.json()["errors"]] == ["/extra_time_factor"]


async def test_submitted_attempts_are_never_resurrected(client, service_keys):
    """After submit: with one attempt allowed a new start is a 409 and `{"number": 1}` returns the
    submitted attempt unchanged; with two allowed the next start is a new attempt number 2."""
    once = await delivery_tenant(client, service_keys, slug="once-region", people=1)
    me = once["candidates"][0]
    first = (await start(client, me)).json()["attempt"]
    done = (await client.post(f"/v1/me/attempts/{first['id']}/submit", headers=me)).json()
    assert (await start(client, me)).status_code == 409
    again = await start(client, me, {"number": 1})
    assert again.status_code == 200 and again.json()["attempt"]["status"] == "submitted"
    assert again.json()["attempt"]["submitted_at"] == done["submitted_at"]
    assert (await save(client, me, first["id"], "T-SC-1", 1, {"choice": "a"})).status_code == 409


async def test_a_second_attempt_starts_fresh_after_submit(client, service_keys):
    """attempts_allowed=2: after submitting attempt 1, concurrent starts create exactly attempt 2 (201
    once), with no answers; attempt 1 stays submitted with its answer."""
    twice = await delivery_tenant(client, service_keys, slug="twice-region", people=1, attempts_allowed=2)
    me = twice["candidates"][0]
    first = (await start(client, me)).json()["attempt"]["id"]
    await save(client, me, first, "T-SC-1", 1, {"choice": "d"})
    await client.post(f"/v1/me/attempts/{first}/submit", headers=me)
    replies = await asyncio.gather(*(start(client, me) for _ in range(4)), start(client, me, {"number": 2}))
    assert sorted(r.status_code for r in replies) == [200, 200, 200, 200, 201], [r.text for r in replies]
    assert {(r.json()["attempt"]["number"], r.json()["attempt"]["status"]) for r in replies} == {
        (2, "in_progress")
    }
    second = replies[0].json()
    assert second["attempt"]["id"] != first and second["answers"] == []
    listed = (await client.get("/v1/assessments/quiz/attempts", headers=twice["admin"])).json()["items"]
    assert {(a["number"], a["status"]) for a in listed} == {(1, "submitted"), (2, "in_progress")}
    state = await resume(client, me, first)
    assert state["attempt"]["status"] == "submitted" and stored(state) == {"T-SC-1": (1, {"choice": "d"})}
    assert (await start(client, me, {"number": 3})).status_code == 409


async def test_a_numbered_start_never_answers_with_another_attempt(client, service_keys):
    """attempts_allowed=2, attempt 1 running: asking for attempt 2 must not hand back attempt 1."""
    twice = await delivery_tenant(client, service_keys, slug="number-region", people=1, attempts_allowed=2)
    me = twice["candidates"][0]
    assert (await start(client, me)).status_code == 201
    asked = await start(client, me, {"number": 2})
    assert asked.status_code == 409 or asked.json()["attempt"]["number"] == 2, asked.text
