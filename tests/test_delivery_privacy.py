"""What a candidate may see: never an item's key, never another candidate's attempt, only the
assessments assigned to them; what a rater may see: the response, never who wrote it; and which
roles reach the candidate and the authoring routes.

The tenant has one item of every type and format (tests.delivery_setup.ITEMS, each with an author
`note` added), a published assessment "quiz" for civil servants under `prov` and for `named` by
name, and "unit-quiz" for everyone under `prov`. Every response a candidate gets along the whole
flow is scanned for key material: field names a key is made of, and the texts only authors and
raters may read.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import msgspec
import pytest

from service.auth.keys import ServiceKeys
from tests.delivery_setup import (
    ANSWERS,
    ITEMS,
    PROVINCE_AND_CITY,
    add_people,
    add_units,
    assessment_body,
    import_items,
    publish_assessment,
    publish_framework,
)
from tests.harness import snapshot
from tests.helpers import make_tenant, user

PROBLEM = "application/problem+json"
CANDIDATES = 8  # c1..c8, civil servants in `city` (under `prov`)

# Author-only texts. Every item gets a note; the open response's rater notes and exemplar come from ITEMS.
NOTED_ITEMS = [
    {**copy.deepcopy(item), "note": f"AUTHOR-NOTE on {item['code']}: only for authors"} for item in ITEMS
]
ASSESSMENT_NOTE = "AUTHOR-NOTE on quiz: only for authors"
ACCOMMODATION_NOTE = "ADMIN-NOTE: c1's medical certificate, only for admins"
OPEN_RESPONSE = next(item for item in ITEMS if item["type"] == "open_response")
SECRET_TEXTS = [
    *(item["note"] for item in NOTED_ITEMS),
    ASSESSMENT_NOTE,
    ACCOMMODATION_NOTE,
    *OPEN_RESPONSE["key"]["rater_notes"].values(),
    *(text for exemplar in OPEN_RESPONSE["key"]["exemplars"] for text in exemplar.values()),
]
ORDERING = next(item for item in ITEMS if item["type"] == "ordering")
AUTHORED_ORDER = [option["key"] for option in ORDERING["options"]]
KEYED_ORDER = ORDERING["key"]["order"]

# Field names a key (or author-only material) is made of. `key` and `order` are allowed in two places
# only: `key` as the identifier (a string) of an option in an `options` list, `order` inside an answer
# the candidate sent (and gets back).
KEY_FIELDS = {
    "key",
    "correct",
    "credit",
    "reverse",
    "rater_notes",
    "exemplars",
    "partial_credit",
    "order",
    "note",
    "loadings",
    "tags",
}


def _leaks(value: Any, path: str = "", in_options: bool = False, in_answer: bool = False) -> list[str]:
    """JSON pointers of key fields in a response body."""
    found: list[str] = []
    if isinstance(value, list):
        for i, member in enumerate(value):
            found += _leaks(member, f"{path}/{i}", in_options, in_answer)
    elif isinstance(value, dict):
        for name, member in value.items():
            here = f"{path}/{name}"
            option_key = name == "key" and in_options and isinstance(member, str)
            answered_order = name == "order" and in_answer
            if name in KEY_FIELDS and not (option_key or answered_order):
                found.append(here)
            found += _leaks(
                member, here, in_options=name == "options", in_answer=in_answer or name == "answer"
            )
    return found


def assert_no_key_material(responses: list[httpx.Response]) -> None:
    assert responses
    for response in responses:
        context = f"{response.request.method} {response.request.url} -> {response.status_code}"
        assert _leaks(response.json()) == [], (context, response.text)
        for secret in SECRET_TEXTS:
            assert secret not in response.text, (context, secret)


def assert_problem(response: httpx.Response, status: int, context: str = "") -> dict[str, Any]:
    assert response.status_code == status, f"{context}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM), context
    return response.json()


def _scrub(problem: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A problem without its request id, with the probed key replaced, for comparing two answers."""
    text = msgspec.json.encode({k: v for k, v in problem.items() if k != "request_id"}).decode()
    for key in keys:
        text = text.replace(key, "<key>")
    return msgspec.json.decode(text)


def _timeless(state: dict[str, Any]) -> dict[str, Any]:
    """An attempt's state without what the clock changes between two reads."""
    state = copy.deepcopy(state)
    for name in ("seconds_left", "server_time"):
        state["attempt"].pop(name)
    return state


class Recorder:
    """Sends requests for the tests and keeps every response, to scan them all afterwards."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.responses: list[httpx.Response] = []

    async def __call__(
        self, method: str, url: str, headers: dict[str, str], json: Any = None
    ) -> httpx.Response:
        response = await self.client.request(
            method, url, headers=headers, **({} if json is None else {"json": json})
        )
        self.responses.append(response)
        return response


@pytest.fixture
@snapshot
async def tenant(client: httpx.AsyncClient, service_keys: ServiceKeys) -> dict[str, Any]:
    """Units prov > city, and `elsewhere` outside prov. c1..c8 (civil servants) and t1 (a teacher) in
    city, x1 (a civil servant) and named (a teacher) in elsewhere. `quiz`: every item, for civil
    servants under prov and for `named`; `unit-quiz`: one item, for everyone under prov."""
    tenant = await make_tenant(client, service_keys, "privacy-region")
    admin = tenant["admin"]
    await add_units(client, admin, [*PROVINCE_AND_CITY, {"code": "elsewhere", "name": "Elsewhere"}])
    rows = [
        *(
            {
                "external_id": f"c{i}",
                "org_unit_code": "city",
                "category": "civil_servant",
                "display_name": f"Candidate Name {i}",
            }
            for i in range(1, CANDIDATES + 1)
        ),
        {"external_id": "t1", "org_unit_code": "city", "category": "teacher"},
        {"external_id": "x1", "org_unit_code": "elsewhere", "category": "civil_servant"},
        {"external_id": "named", "org_unit_code": "elsewhere", "category": "teacher"},
    ]
    await add_people(client, admin, rows)
    await publish_framework(client, admin)
    await import_items(client, admin, NOTED_ITEMS)
    audience = {"org_units": ["prov"], "categories": ["civil_servant"], "people": ["named"]}
    await publish_assessment(
        client, admin, assessment_body(audience=audience, note=ASSESSMENT_NOTE, feedback="immediate")
    )
    unit_quiz = assessment_body(
        "unit-quiz",
        sections=[{"code": "main", "items": [{"code": "T-SC-1"}]}],
        audience={"org_units": ["prov"]},
    )
    await publish_assessment(client, admin, unit_quiz)
    accommodated = await client.put(
        "/v1/assessments/quiz/accommodations/c1",
        json={"extra_time_factor": 2, "note": ACCOMMODATION_NOTE},
        headers=admin,
    )
    assert accommodated.status_code == 200, accommodated.text
    tenant["person"] = {
        sub: user(service_keys, tenant["id"], ["candidate"], sub=sub)
        for sub in [f"c{i}" for i in range(1, CANDIDATES + 1)] + ["t1", "x1", "named"]
    }
    tenant["candidates"] = [tenant["person"][f"c{i}"] for i in range(1, CANDIDATES + 1)]
    tenant["author"] = user(service_keys, tenant["id"], ["author"], sub="c1")  # c1's id, but not a candidate
    return tenant


async def _start(
    client: httpx.AsyncClient, me: dict[str, str], code: str = "quiz", status: int = 201
) -> dict[str, Any]:
    """Start an attempt (201), or continue the running one (pass status=200)."""
    started = await client.post(f"/v1/me/assessments/{code}/attempts", json={}, headers=me)
    assert started.status_code == status, started.text
    return started.json()


# --------------------------------------------------------------------------- keys never reach a candidate


async def test_no_key_material_reaches_a_candidate_anywhere_in_the_flow(
    client: httpx.AsyncClient, tenant: dict[str, Any]
):
    """c1 lists, starts, retries the start, resumes, saves every item type one by one and in a batch,
    sends a stale save, refused saves (422, 404), submits, retries the submit, saves after it (409)
    and reads its report; c2 takes both assessments. None of the answers holds a key field or an
    author-only text."""
    send = Recorder(client)
    me = tenant["candidates"][0]

    listed = await send("GET", "/v1/me/assessments", me)
    assert {a["code"] for a in listed.json()} == {"quiz", "unit-quiz"}
    started = await send("POST", "/v1/me/assessments/quiz/attempts", me, {})
    assert started.status_code == 201, started.text
    state = started.json()
    attempt = state["attempt"]["id"]
    # The scan has material to look at: every item type and every SJT format, options and all.
    assert {i["type"] for i in state["items"]} == {item["type"] for item in ITEMS}
    assert {i["format"] for i in state["items"] if i["type"] == "situational_judgement"} == {
        "best",
        "most_least",
        "rate",
    }
    assert (await send("POST", "/v1/me/assessments/quiz/attempts", me, {})).status_code == 200
    assert (await send("POST", "/v1/me/assessments/quiz/attempts", me, {"number": 1})).status_code == 200
    assert (await send("GET", f"/v1/me/attempts/{attempt}", me)).status_code == 200
    assert (await send("GET", "/v1/me", me)).status_code == 200

    for ref, answer in ANSWERS.items():
        saved = await send(
            "PUT", f"/v1/me/attempts/{attempt}/answers/{ref}", me, {"revision": 1, "answer": answer}
        )
        assert saved.status_code == 200 and saved.json()["applied"], saved.text
    batch = [
        {"item": "T-ORD-1", "revision": 2, "answer": {"order": list(reversed(KEYED_ORDER))}},
        {"item": "T-SJT-ML", "revision": 2, "answer": {"most": "b", "least": "d"}},
        {"item": "T-LK-1", "revision": 2, "answer": {"value": 2}},
        {"item": "T-MC-1", "revision": 2, "answer": {}},  # clears
    ]
    saved = await send("POST", f"/v1/me/attempts/{attempt}/answers", me, {"answers": batch})
    assert saved.status_code == 200 and all(r["applied"] for r in saved.json()["results"]), saved.text
    stale = await send(
        "PUT",
        f"/v1/me/attempts/{attempt}/answers/T-ORD-1",
        me,
        {"revision": 1, "answer": {"order": AUTHORED_ORDER}},
    )
    assert stale.status_code == 200 and not stale.json()["applied"], stale.text
    for ref, answer in (
        ("T-SC-1", {"choice": "z"}),
        ("T-ORD-1", {"order": KEYED_ORDER[:2]}),
        ("T-ORD-1", {"order": [*KEYED_ORDER, "z"]}),
        ("T-LK-1", {"value": 99}),
        ("T-SJT-RATE", {"ratings": {"a": 9}}),
        ("T-SJT-ML", {"most": "a", "least": "a"}),
        ("T-MC-1", {"choices": ["a", "a"]}),
        ("T-OR-1", {"choice": "a"}),
        ("T-OR-1", {"text": "x" * (OPEN_RESPONSE["max_length"] + 1)}),
    ):
        refused = await send(
            "PUT", f"/v1/me/attempts/{attempt}/answers/{ref}", me, {"revision": 9, "answer": answer}
        )
        assert_problem(refused, 422, f"{ref} {answer}")
    refused = await send(
        "POST",
        f"/v1/me/attempts/{attempt}/answers",
        me,
        {
            "answers": [
                {"item": "T-SC-1", "revision": 9, "answer": {"choice": "a"}},
                {"item": "T-ORD-1", "revision": 9, "answer": {"order": ["a"]}},
            ]
        },
    )
    assert_problem(refused, 422)
    assert_problem(
        await send(
            "PUT",
            f"/v1/me/attempts/{attempt}/answers/T-NOWHERE",
            me,
            {"revision": 9, "answer": {"choice": "a"}},
        ),
        404,
    )
    resumed = await send("GET", f"/v1/me/attempts/{attempt}", me)
    assert {a["item"]: a["answer"] for a in resumed.json()["answers"]}["T-ORD-1"] == {
        "order": list(reversed(KEYED_ORDER))
    }

    assert (
        await send("GET", f"/v1/me/attempts/{attempt}/report", me)
    ).status_code == 200  # not submitted yet
    submitted = await send("POST", f"/v1/me/attempts/{attempt}/submit", me)
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted", submitted.text
    report = await send("GET", f"/v1/me/attempts/{attempt}/report", me)  # feedback "immediate": the profile
    assert report.status_code == 200 and report.json()["available"] and report.json()["dimensions"], (
        report.text
    )
    retried = await send("POST", f"/v1/me/attempts/{attempt}/submit", me)
    assert retried.status_code == 200 and retried.json()["submitted_at"] == submitted.json()["submitted_at"]
    late = await send(
        "PUT", f"/v1/me/attempts/{attempt}/answers/T-SC-1", me, {"revision": 10, "answer": {"choice": "c"}}
    )
    assert_problem(late, 409)
    late_batch = await send(
        "POST",
        f"/v1/me/attempts/{attempt}/answers",
        me,
        {"answers": [{"item": "T-SC-1", "revision": 10, "answer": {"choice": "c"}}]},
    )
    assert_problem(late_batch, 409)
    assert_problem(await send("POST", "/v1/me/assessments/quiz/attempts", me, {}), 409)
    assert (await send("GET", f"/v1/me/attempts/{attempt}", me)).status_code == 200
    assert (await send("GET", "/v1/me/assessments", me)).status_code == 200

    # Another candidate's whole way through, with the small assessment too.
    other = tenant["candidates"][1]
    for code in ("quiz", "unit-quiz"):
        state = (await send("POST", f"/v1/me/assessments/{code}/attempts", other, {})).json()
        assert (
            await send("POST", f"/v1/me/attempts/{state['attempt']['id']}/submit", other)
        ).status_code == 200

    assert len(send.responses) >= 35
    assert_no_key_material(send.responses)


async def test_the_authored_order_of_an_ordering_item_is_not_what_every_candidate_sees(
    client: httpx.AsyncClient, tenant: dict[str, Any]
):
    """Ordering items are always shuffled: across 8 attempts the options do not all come in the
    authored order, nor all in the keyed order; every attempt shows every option exactly once."""
    shown = []
    for me in tenant["candidates"]:
        state = await _start(client, me)
        [item] = [i for i in state["items"] if i["ref"] == ORDERING["code"]]
        shown.append([o["key"] for o in item["options"]])
    assert all(sorted(order) == sorted(AUTHORED_ORDER) for order in shown), shown
    assert any(order != AUTHORED_ORDER for order in shown), shown
    assert any(order != KEYED_ORDER for order in shown), shown
    assert len({tuple(order) for order in shown}) > 1, shown
    # A resumed attempt keeps its own order.
    for me, order in zip(tenant["candidates"], shown, strict=True):
        state = await _start(client, me, status=200)
        [item] = [i for i in state["items"] if i["ref"] == ORDERING["code"]]
        assert [o["key"] for o in item["options"]] == order


async def test_author_previews_show_items_without_keys(client: httpx.AsyncClient, tenant: dict[str, Any]):
    send = Recorder(client)
    author = tenant["author"]
    for item in ITEMS:
        for url in (f"/v1/items/{item['code']}/preview", f"/v1/items/{item['code']}/preview?version=1"):
            preview = await send("GET", url, author)
            assert preview.status_code == 200 and preview.json()["ref"] == item["code"], preview.text
            assert preview.json()["stem"] == item["stem"]["en"]  # in the language asked for (en)
    orders = []
    for seed in range(8):
        form = await send("GET", f"/v1/assessments/quiz/preview?seed={seed}", author)
        assert form.status_code == 200, form.text
        views = [i["view"] for i in form.json()["items"]]
        assert {v["type"] for v in views} == {item["type"] for item in ITEMS}
        orders.append([o["key"] for v in views if v["ref"] == ORDERING["code"] for o in v["options"]])
    assert any(order != AUTHORED_ORDER for order in orders), orders
    assert_no_key_material(send.responses)
    # The author's own reads do carry the key and the note: the scan above is not blind.
    full = (await client.get(f"/v1/items/{OPEN_RESPONSE['code']}", headers=author)).json()
    assert _leaks(full) and OPEN_RESPONSE["key"]["rater_notes"]["en"] in str(full)


# --------------------------------------------------------------------------- candidate against candidate


async def test_a_candidate_cannot_touch_another_candidates_attempt(
    client: httpx.AsyncClient, tenant: dict[str, Any], owner_url: str
):
    """c2 aims every attempt route at c1's attempt: each answer is the 404 a random id gets, and
    c1's attempt, answers and revisions are exactly as before (through the API and in the database)."""
    c1, c2 = tenant["candidates"][:2]
    mine = (await _start(client, c1))["attempt"]["id"]
    for ref in ("T-SC-1", "T-OR-1"):
        saved = await client.put(
            f"/v1/me/attempts/{mine}/answers/{ref}", json={"revision": 3, "answer": ANSWERS[ref]}, headers=c1
        )
        assert saved.status_code == 200, saved.text
    theirs = (await _start(client, c2))["attempt"]["id"]  # c2 has a form of its own, with the same items
    before = _timeless((await client.get(f"/v1/me/attempts/{mine}", headers=c1)).json())
    rows = (
        "SELECT * FROM attempts WHERE id = $1",
        "SELECT * FROM responses WHERE attempt_id = $1 ORDER BY item_ref",
    )
    owner = await asyncpg.connect(owner_url)
    try:
        db_before = [[dict(r) for r in await owner.fetch(sql, UUID(mine))] for sql in rows]

        async def probes(attempt: str) -> list[tuple[str, int, dict[str, Any]]]:
            answer = {"revision": 99, "answer": {"choice": "a"}}
            answers = []
            for method, url, body in (
                ("GET", f"/v1/me/attempts/{attempt}", None),
                ("PUT", f"/v1/me/attempts/{attempt}/answers/T-SC-1", answer),
                (
                    "PUT",
                    f"/v1/me/attempts/{attempt}/answers/T-OR-1",
                    {"revision": 99, "answer": {"text": "c2's"}},
                ),
                ("POST", f"/v1/me/attempts/{attempt}/answers", {"answers": [{"item": "T-SC-1", **answer}]}),
                ("POST", f"/v1/me/attempts/{attempt}/submit", None),
                ("GET", f"/v1/me/attempts/{attempt}/report", None),
            ):
                response = await client.request(
                    method, url, headers=c2, **({} if body is None else {"json": body})
                )
                problem = assert_problem(response, 404, f"{method} {url}")
                assert problem["type"] == "urn:assess:problem:not-found"
                answers.append(
                    (
                        f"{method} {url.replace(attempt, '<id>')}",
                        response.status_code,
                        _scrub(problem, attempt),
                    )
                )
            return answers

        assert await probes(mine) == await probes(str(uuid4()))
        after = _timeless((await client.get(f"/v1/me/attempts/{mine}", headers=c1)).json())
        assert after == before and after["attempt"]["status"] == "in_progress"
        assert [[dict(r) for r in await owner.fetch(sql, UUID(mine))] for sql in rows] == db_before

        # Once c1 has submitted, c2 still gets the 404, never c1's 409 "attempt closed".
        assert (await client.post(f"/v1/me/attempts/{mine}/submit", headers=c1)).status_code == 200
        db_submitted = [[dict(r) for r in await owner.fetch(sql, UUID(mine))] for sql in rows]
        assert await probes(mine) == await probes(str(uuid4()))
        assert [[dict(r) for r in await owner.fetch(sql, UUID(mine))] for sql in rows] == db_submitted
    finally:
        await owner.close()
    # c2's own attempt is untouched by all this, and c2 can work on it.
    own = await client.put(
        f"/v1/me/attempts/{theirs}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": "d"}},
        headers=c2,
    )
    assert own.status_code == 200 and own.json()["applied"], own.text
    # c1's list shows c1's attempt only, c2's c2's.
    for me, attempt in ((c1, mine), (c2, theirs)):
        [quiz] = [
            a for a in (await client.get("/v1/me/assessments", headers=me)).json() if a["code"] == "quiz"
        ]
        assert [a["id"] for a in quiz["attempts"]] == [attempt]


async def test_candidates_outside_the_audience_neither_see_nor_start_it(
    client: httpx.AsyncClient, tenant: dict[str, Any]
):
    """quiz is for civil servants under prov, and for `named` by name; unit-quiz for everyone under prov.
    x1 (a civil servant outside prov) gets neither, t1 (a teacher under prov) only unit-quiz, named
    (a teacher outside prov) quiz only."""
    person = tenant["person"]
    expected = {"c1": {"quiz", "unit-quiz"}, "t1": {"unit-quiz"}, "x1": set(), "named": {"quiz"}}
    for who, offered in expected.items():
        listed = await client.get("/v1/me/assessments", headers=person[who])
        assert listed.status_code == 200, listed.text
        assert {a["code"] for a in listed.json()} == offered, who
        for code in ("quiz", "unit-quiz"):
            response = await client.post(f"/v1/me/assessments/{code}/attempts", json={}, headers=person[who])
            if code in offered:
                assert response.status_code == 201, (who, code, response.text)
            else:
                # Exactly the answer for an assessment that does not exist.
                problem = assert_problem(response, 404, f"{who} {code}")
                missing = await client.post(
                    "/v1/me/assessments/nowhere/attempts", json={}, headers=person[who]
                )
                assert _scrub(problem, code) == _scrub(assert_problem(missing, 404), "nowhere"), (who, code)
                numbered = await client.post(
                    f"/v1/me/assessments/{code}/attempts", json={"number": 1}, headers=person[who]
                )
                assert_problem(numbered, 404, f"{who} {code} numbered")


# --------------------------------------------------------------------------- roles


async def test_candidates_cannot_reach_authoring_and_authors_cannot_take_assessments(
    client: httpx.AsyncClient, tenant: dict[str, Any]
):
    c1, author, admin = tenant["candidates"][0], tenant["author"], tenant["admin"]
    attempt = (await _start(client, c1))["attempt"]["id"]
    item = NOTED_ITEMS[0]
    for method, url, body in (
        ("GET", "/v1/items", None),
        ("GET", "/v1/items?q=Single", None),
        ("GET", "/v1/items/export", None),
        ("GET", "/v1/items/T-SC-1", None),
        ("GET", "/v1/items/T-SC-1/versions/1", None),
        ("GET", "/v1/items/T-SC-1/preview", None),
        ("POST", "/v1/items", {**item, "code": "T-NEW"}),
        ("PUT", "/v1/items/T-SC-1", item),
        ("POST", "/v1/items/import", {"items": [item]}),
        ("POST", "/v1/items/T-SC-1/retire", None),
        ("GET", "/v1/assessments", None),
        ("GET", "/v1/assessments/quiz", None),
        ("GET", "/v1/assessments/quiz/check", None),
        ("POST", "/v1/assessments/quiz/check", None),
        ("GET", "/v1/assessments/quiz/preview?seed=1", None),
        ("GET", "/v1/assessments/quiz/attempts", None),
        ("GET", "/v1/assessments/quiz/accommodations", None),
        ("PUT", "/v1/assessments/quiz/accommodations/c1", {"extra_time_factor": 4}),
        ("POST", "/v1/assessments", assessment_body("mine")),
        ("POST", "/v1/assessments/quiz/close", None),
        ("GET", "/v1/people", None),
    ):
        response = await client.request(method, url, headers=c1, **({} if body is None else {"json": body}))
        assert_problem(response, 403, f"candidate {method} {url}")

    # The author's token even names c1, and the admin's has every staff role but candidate.
    for who, headers in (("author", author), ("admin", admin)):
        for method, url, body in (
            ("GET", "/v1/me/assessments", None),
            ("GET", "/v1/me", None),
            ("POST", "/v1/me/assessments/quiz/attempts", {}),
            ("GET", f"/v1/me/attempts/{attempt}", None),
            ("PUT", f"/v1/me/attempts/{attempt}/answers/T-SC-1", {"revision": 99, "answer": {"choice": "a"}}),
            (
                "POST",
                f"/v1/me/attempts/{attempt}/answers",
                {"answers": [{"item": "T-SC-1", "revision": 99, "answer": {"choice": "a"}}]},
            ),
            ("POST", f"/v1/me/attempts/{attempt}/submit", None),
            ("GET", f"/v1/me/attempts/{attempt}/report", None),
        ):
            response = await client.request(
                method, url, headers=headers, **({} if body is None else {"json": body})
            )
            assert_problem(response, 403, f"{who} {method} {url}")
    state = (await client.get(f"/v1/me/attempts/{attempt}", headers=c1)).json()
    assert state["attempt"]["status"] == "in_progress" and state["answers"] == []


async def _submit_open_responses(
    client: httpx.AsyncClient, tenant: dict[str, Any], service_keys: ServiceKeys
) -> tuple[dict[str, str], dict[str, str], list[dict[str, Any]]]:
    """c1 and c2 answer the open response and submit; the rater's headers, {candidate: attempt id}
    and the rater's queue (one task per response)."""
    attempts = {}
    for n, me in enumerate(tenant["candidates"][:2], start=1):
        attempt = (await _start(client, me))["attempt"]["id"]
        answer = {"revision": 1, "answer": {"text": f"c{n}'s own prompt for the county notice"}}
        saved = await client.put(f"/v1/me/attempts/{attempt}/answers/T-OR-1", json=answer, headers=me)
        assert saved.status_code == 200, saved.text
        assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
        attempts[f"c{n}"] = attempt
    rater = user(service_keys, tenant["id"], ["rater"], sub="rater-1")
    queue = await client.get("/v1/rating-tasks", params={"assessment": "quiz"}, headers=rater)
    assert queue.status_code == 200, queue.text
    tasks = queue.json()["items"]
    assert sorted(t["response"] for t in tasks) == [
        "c1's own prompt for the county notice",
        "c2's own prompt for the county notice",
    ]
    return rater, attempts, tasks


async def test_a_rating_task_never_names_who_wrote_the_response(
    client: httpx.AsyncClient, tenant: dict[str, Any], service_keys: ServiceKeys
):
    """A rating task holds the response, the item and the rubric; never the candidate (id, name) or
    the attempt. A rater cannot take assessments, nor read people."""
    rater, attempts, tasks = await _submit_open_responses(client, tenant, service_keys)
    responses = [await client.get("/v1/rating-tasks", params={"assessment": "quiz"}, headers=rater)]
    for task in tasks:
        one = await client.get(f"/v1/rating-tasks/{task['id']}", headers=rater)
        assert one.status_code == 200 and one.json()["item"] == "T-OR-1", one.text
        responses.append(one)
    for response in responses:
        for secret in (*attempts.values(), "Candidate Name", '"c1"', '"c2"'):
            assert secret not in response.text, (secret, response.text)
        names = set(re.findall(r'"([a-z_]+)":', response.text))
        assert not names & {"external_id", "person", "person_id", "attempt", "attempt_id", "display_name"}, (
            names
        )
    for url in ("/v1/me/assessments", f"/v1/me/attempts/{attempts['c1']}", "/v1/people", "/v1/people/c1"):
        assert_problem(await client.get(url, headers=rater), 403, url)


async def test_a_rater_cannot_find_out_whose_response_a_task_is(
    client: httpx.AsyncClient, tenant: dict[str, Any], service_keys: ServiceKeys
):
    """Blind marking: who took the assessment, when and how they scored is closed to raters, and a task
    carries no timestamp to line up with a submission."""
    rater, _, tasks = await _submit_open_responses(client, tenant, service_keys)
    for url in (
        "/v1/assessments/quiz/attempts",
        "/v1/assessments/quiz/item-statistics",
        "/v1/assessments/quiz/item-statistics.csv",
        "/v1/assessments/quiz/item-statistics.xlsx",
        "/v1/assessments/quiz/rater-agreement",
        "/v1/assessments/quiz/rescorings",
    ):
        assert_problem(await client.get(url, headers=rater), 403, url)
    assert all("created_at" not in task and "submitted_at" not in task for task in tasks)
