"""Assessments over HTTP: drafts under ETags, the publish check, publish (pins the framework
version with its hash and every item version; immutable after), close, form previews, pool
draws per attempt, the window, accommodations and the attempts overview."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.delivery_setup import (
    FRAMEWORK,
    ITEMS,
    add_people,
    add_units,
    assessment_body,
    candidates,
    import_items,
    publish_assessment,
    publish_framework,
)
from tests.harness import snapshot
from tests.helpers import all_pages, make_tenant, user

CODES = sorted(item["code"] for item in ITEMS)


def pointers(response: Any) -> list[str]:
    """The sorted pointers of a problem+json response's errors."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return sorted(error.get("pointer", "") for error in response.json()["errors"])


def problem_pointers(report: dict[str, Any]) -> list[str]:
    return sorted(problem["pointer"] for problem in report["problems"])


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
@snapshot
async def tenant(client, service_keys):
    """Units prov > city, candidates c1..c5 in the city, a published cadre framework and the shared
    items; no assessment yet. `admin` and `candidates` headers included."""
    tenant = await make_tenant(client, service_keys, "assessment-region")
    admin = tenant["admin"]
    await add_units(client, admin)
    await add_people(client, admin, candidates(5))
    await publish_framework(client, admin)
    await import_items(client, admin)
    tenant["candidates"] = [user(service_keys, tenant["id"], ["candidate"], sub=f"c{i}") for i in range(1, 6)]
    return tenant


@pytest.fixture
def admin(tenant):
    return tenant["admin"]


async def create(client: Any, admin: dict[str, str], body: dict[str, Any]) -> str:
    """Create a draft; returns its ETag."""
    created = await client.post("/v1/assessments", json=body, headers=admin)
    assert created.status_code == 201, created.text
    return created.headers["etag"]


async def start(client: Any, candidate: dict[str, str], code: str = "quiz") -> Any:
    return await client.post(f"/v1/me/assessments/{code}/attempts", json={}, headers=candidate)


# --- drafts ----------------------------------------------------------------------------------------


async def test_draft_create_get_replace_and_delete(client, admin):
    """A draft is created (201, ETag "1"), read, replaced only with the current ETag (428 without,
    412 when stale), listed, and deleted."""
    created = await client.post("/v1/assessments", json=assessment_body("d1"), headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    draft = created.json()
    assert (draft["status"], draft["revision"]) == ("draft", 1)
    assert draft["published_at"] is None and draft["closed_at"] is None
    assert draft["content"]["sections"][0]["items"][0] == {"code": "T-SC-1"}  # no version until publish

    got = await client.get("/v1/assessments/d1", headers=admin)
    assert got.status_code == 200 and got.headers["etag"] == '"1"' and got.json() == draft

    changed = assessment_body("d1", title={"en": "Renamed"}, attempts_allowed=2)
    missing = await client.put("/v1/assessments/d1", json=changed, headers=admin)
    assert missing.status_code == 428
    stale = await client.put("/v1/assessments/d1", json=changed, headers={**admin, "If-Match": '"7"'})
    assert stale.status_code == 412
    replaced = await client.put("/v1/assessments/d1", json=changed, headers={**admin, "If-Match": '"1"'})
    assert replaced.status_code == 200 and replaced.headers["etag"] == '"2"'
    assert replaced.json()["content"]["title"] == {"en": "Renamed"}
    assert replaced.json()["content"]["attempts_allowed"] == 2
    again = await client.put("/v1/assessments/d1", json=changed, headers={**admin, "If-Match": '"1"'})
    assert again.status_code == 412

    renamed = await client.put(
        "/v1/assessments/d1", json=assessment_body("d2"), headers={**admin, "If-Match": "*"}
    )
    assert renamed.status_code == 422 and pointers(renamed) == ["/code"]
    duplicate = await client.post("/v1/assessments", json=assessment_body("d1"), headers=admin)
    assert duplicate.status_code == 409 and pointers(duplicate) == ["/code"]

    await create(client, admin, assessment_body("d0"))
    listed = await all_pages(client, "/v1/assessments", admin, limit=1)
    assert [(a["code"], a["status"], a["framework"], a["framework_version"]) for a in listed] == [
        ("d0", "draft", FRAMEWORK, 1),
        ("d1", "draft", FRAMEWORK, 1),
    ]
    assert await all_pages(client, "/v1/assessments", admin, status="published") == []

    deleted = await client.delete("/v1/assessments/d1", headers=admin)
    assert deleted.status_code == 204, deleted.text
    assert (await client.get("/v1/assessments/d1", headers=admin)).status_code == 404
    assert (await client.delete("/v1/assessments/d1", headers=admin)).status_code == 404
    assert (
        await client.put("/v1/assessments/d1", json=changed, headers={**admin, "If-Match": "*"})
    ).status_code == 404


async def test_analysts_read_assessments_but_do_not_write(client, service_keys, tenant, admin):
    """Analysts read; creating, replacing, publishing and closing need a tenant admin or author."""
    await create(client, admin, assessment_body("d1"))
    analyst = user(service_keys, tenant["id"], ["analyst"])
    assert (await client.get("/v1/assessments/d1", headers=analyst)).status_code == 200
    assert (await client.get("/v1/assessments/d1/check", headers=analyst)).status_code == 200
    writes = [
        await client.post("/v1/assessments", json=assessment_body("d2"), headers=analyst),
        await client.put(
            "/v1/assessments/d1", json=assessment_body("d1"), headers={**analyst, "If-Match": "*"}
        ),
        await client.post("/v1/assessments/d1/publish", headers={**analyst, "If-Match": "*"}),
        await client.post("/v1/assessments/d1/close", headers=analyst),
        await client.delete("/v1/assessments/d1", headers=analyst),
    ]
    assert [w.status_code for w in writes] == [403] * len(writes)
    author = user(service_keys, tenant["id"], ["author"])
    assert (
        await client.post("/v1/assessments", json=assessment_body("d2"), headers=author)
    ).status_code == 201


# --- check and publish -----------------------------------------------------------------------------


async def test_check_names_every_problem(client, admin):
    """The check lists what keeps a draft from being published, each at its pointer, and publish
    refuses with the same list; the draft stays a draft."""
    assert (await client.post("/v1/items/T-LK-1/retire", headers=admin)).status_code == 200
    now = datetime.now(UTC)
    body = assessment_body(
        "bad",
        sections=[
            {
                "code": "fixed",
                "items": [
                    {"code": "T-SC-1"},
                    {"code": "NOPE"},
                    {"code": "T-LK-1"},
                    {"code": "T-MC-1", "version": 9},
                ],
            },
            {"code": "pool", "pool": {"items": [{"code": "T-SC-1"}, {"code": "T-ORD-1"}], "draw": 3}},
        ],
        window={"opens_at": iso(now + timedelta(days=2)), "closes_at": iso(now + timedelta(days=1))},
        audience={"org_units": ["prov", "atlantis"], "people": ["c1", "ghost"]},
    )
    etag = await create(client, admin, body)
    report = await client.post("/v1/assessments/bad/check", headers=admin)
    assert report.status_code == 200, report.text
    # POST, like a framework version's validate; GET is kept (deprecated) and answers the same
    assert (await client.get("/v1/assessments/bad/check", headers=admin)).json() == report.json()
    assert not report.json()["valid"]
    expected = [
        "/audience/org_units/1",
        "/audience/people/1",
        "/sections/0/items/1/code",
        "/sections/0/items/2/code",
        "/sections/0/items/3/code",
        "/sections/1/pool/draw",
        "/sections/1/pool/items/0/code",
        "/window/closes_at",
    ]
    assert problem_pointers(report.json()) == expected
    details = {p["pointer"]: p["detail"] for p in report.json()["problems"]}
    assert "retired" in details["/sections/0/items/2/code"]
    assert "version 9" in details["/sections/0/items/3/code"]

    refused = await client.post("/v1/assessments/bad/publish", headers={**admin, "If-Match": etag})
    assert refused.status_code == 422 and pointers(refused) == expected
    assert (await client.get("/v1/assessments/bad", headers=admin)).json()["status"] == "draft"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"audience": {}}, ["/audience"]),
        ({"audience": {"org_units": [], "categories": [], "people": []}}, ["/audience"]),
        (
            {"window": {"opens_at": "2030-01-01T09:00:00", "closes_at": "2030-02-01T09:00:00+08:00"}},
            ["/window/opens_at"],
        ),
        ({"window": {"closes_at": "2030-02-01T09:00:00"}}, ["/window/closes_at"]),
        (
            {"window": {"opens_at": "2030-02-01T09:00:00+08:00", "closes_at": "2030-02-01T09:00:00+08:00"}},
            ["/window/closes_at"],
        ),
        ({"window": {"closes_at": "2020-01-01T00:00:00Z"}}, ["/window/closes_at"]),
        ({"framework": {"code": FRAMEWORK, "version": 5}}, ["/framework"]),
        (
            {"framework": {"code": "nope", "version": 1}},  # and every item is written for another framework
            ["/framework"] + [f"/sections/0/items/{i}/code" for i in range(8)],
        ),
        ({"sections": []}, ["/sections"]),
        ({"sections": [{"code": "empty"}]}, ["/sections/0"]),
        (
            {
                "sections": [
                    {"code": "a", "items": [{"code": "T-SC-1"}]},
                    {"code": "a", "items": [{"code": "T-LK-1"}]},
                ]
            },
            ["/sections/1/code"],
        ),
    ],
)
async def test_check_single_problems(client, admin, changes: dict[str, Any], expected: list[str]):
    """Each kind of problem alone is reported at its pointer: empty audience, a time without a time
    zone, a window that closes before (or when) it opens or has closed, a framework version that does
    not exist, empty sections, a section with nothing in it, a repeated section code."""
    await create(client, admin, assessment_body("one", **changes))
    report = (await client.post("/v1/assessments/one/check", headers=admin)).json()
    assert problem_pointers(report) == sorted(expected)
    assert report["valid"] is False


async def test_check_refuses_a_framework_version_that_is_not_published(client, admin):
    """Pinning a draft framework version is named at /framework/version; a valid draft checks clean."""
    draft = await client.post(f"/v1/frameworks/{FRAMEWORK}/versions", json={}, headers=admin)
    assert draft.status_code == 201 and draft.json()["version"] == 2
    await create(client, admin, assessment_body("v2", framework={"code": FRAMEWORK, "version": 2}))
    report = (await client.post("/v1/assessments/v2/check", headers=admin)).json()
    assert problem_pointers(report) == ["/framework/version"]
    await create(client, admin, assessment_body("v1"))
    clean = await client.post("/v1/assessments/v1/check", headers=admin)
    assert clean.json() == {"valid": True, "problems": []}


async def test_publish_pins_and_freezes(client, admin):
    """Publishing pins the framework's content hash and every item version (fixed and pool), locks
    those versions, and the assessment can no longer be replaced, deleted or published again."""
    body = assessment_body(
        "pin",
        sections=[
            {"code": "fixed", "items": [{"code": "T-SC-1"}, {"code": "T-OR-1"}]},
            {
                "code": "pool",
                "pool": {"items": [{"code": c} for c in CODES if c not in ("T-SC-1", "T-OR-1")], "draw": 2},
            },
        ],
    )
    etag = await create(client, admin, body)
    missing = await client.post("/v1/assessments/pin/publish", headers=admin)
    assert missing.status_code == 428
    stale = await client.post("/v1/assessments/pin/publish", headers={**admin, "If-Match": '"5"'})
    assert stale.status_code == 412

    published = await client.post("/v1/assessments/pin/publish", headers={**admin, "If-Match": etag})
    assert published.status_code == 200, published.text
    assessment = published.json()
    assert assessment["status"] == "published" and assessment["published_at"] is not None
    assert published.headers["etag"] == '"2"'
    framework = (await client.get(f"/v1/frameworks/{FRAMEWORK}/versions/1", headers=admin)).json()
    assert framework["content_hash"].startswith("sha256:")
    assert assessment["content"]["framework"] == {
        "code": FRAMEWORK,
        "version": 1,
        "content_hash": framework["content_hash"],
    }
    sections = assessment["content"]["sections"]
    assert sections[0]["items"] == [{"code": "T-SC-1", "version": 1}, {"code": "T-OR-1", "version": 1}]
    assert [ref["version"] for ref in sections[1]["pool"]["items"]] == [1] * 6
    for code in CODES:
        assert (await client.get(f"/v1/items/{code}", headers=admin)).json()["locked"], code

    headers = {**admin, "If-Match": published.headers["etag"]}
    replaced = await client.put("/v1/assessments/pin", json=body, headers=headers)
    assert replaced.status_code == 409
    assert (await client.put("/v1/assessments/pin", json=body, headers=admin)).status_code == 428
    assert (await client.delete("/v1/assessments/pin", headers=admin)).status_code == 409
    assert (await client.post("/v1/assessments/pin/publish", headers=headers)).status_code == 409
    assert (await client.get("/v1/assessments/pin", headers=admin)).json() == assessment
    listed = await all_pages(client, "/v1/assessments", admin, status="published")
    assert [a["code"] for a in listed] == ["pin"]


async def test_publish_pins_the_named_version_or_the_latest(client, admin):
    """A draft may name an item version; otherwise publish pins the latest one."""
    await publish_assessment(
        client, admin, assessment_body("first", sections=[{"code": "s", "items": [{"code": "T-SC-1"}]}])
    )
    edited = copy.deepcopy(next(i for i in ITEMS if i["code"] == "T-SC-1"))
    edited["stem"] = {"en": "Second version"}
    put = await client.put("/v1/items/T-SC-1", json=edited, headers={**admin, "If-Match": "*"})
    assert put.status_code == 200 and put.json()["version"] == 2
    named = await publish_assessment(
        client,
        admin,
        assessment_body("named", sections=[{"code": "s", "items": [{"code": "T-SC-1", "version": 1}]}]),
    )
    latest = await publish_assessment(
        client, admin, assessment_body("latest", sections=[{"code": "s", "items": [{"code": "T-SC-1"}]}])
    )
    assert named["content"]["sections"][0]["items"] == [{"code": "T-SC-1", "version": 1}]
    assert latest["content"]["sections"][0]["items"] == [{"code": "T-SC-1", "version": 2}]
    preview = (await client.get("/v1/assessments/named/preview", params={"seed": 3}, headers=admin)).json()
    assert preview["items"][0]["view"]["stem"] == {"zh-CN": "单选", "en": "Single"}


# --- close -----------------------------------------------------------------------------------------


async def test_close_stops_new_starts(client, tenant, admin):
    """Closing a published assessment is 200 and idempotent; a draft cannot be closed (409). After
    closing, a candidate without an attempt is not offered it, and a start is refused with 409."""
    etag = await create(client, admin, assessment_body("quiz"))
    assert (await client.post("/v1/assessments/quiz/close", headers=admin)).status_code == 409
    assert (await client.post("/v1/assessments/nope/close", headers=admin)).status_code == 404
    published = await client.post("/v1/assessments/quiz/publish", headers={**admin, "If-Match": etag})
    assert published.status_code == 200

    closed = await client.post("/v1/assessments/quiz/close", headers=admin)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"] is not None
    again = await client.post("/v1/assessments/quiz/close", headers=admin)
    assert again.status_code == 200 and again.json() == closed.json()
    assert [a["code"] for a in await all_pages(client, "/v1/assessments", admin, status="closed")] == ["quiz"]

    me = tenant["candidates"][0]
    assert (await client.get("/v1/me/assessments", headers=me)).json() == []
    refused = await start(client, me)
    assert refused.status_code == 409 and "closed" in refused.json()["detail"]
    numbered = await client.post("/v1/me/assessments/quiz/attempts", json={"number": 1}, headers=me)
    assert numbered.status_code == 409
    attempts = await all_pages(client, "/v1/assessments/quiz/attempts", admin)
    assert attempts == []
    assert (await client.delete("/v1/assessments/quiz", headers=admin)).status_code == 409
    republished = await client.post("/v1/assessments/quiz/publish", headers={**admin, "If-Match": "*"})
    assert republished.status_code == 409


async def test_running_attempts_run_on_after_close(client, tenant, admin):
    """README: closed means no *new* attempts while running ones run to their deadline. An attempt
    started before the close stays listed, a retried start continues it (200), and it can still be
    answered and submitted; after that nothing new starts."""
    await publish_assessment(client, admin, assessment_body("quiz", attempts_allowed=2))
    me = tenant["candidates"][0]
    started = await start(client, me)
    assert started.status_code == 201
    attempt = started.json()["attempt"]["id"]
    assert (await client.post("/v1/assessments/quiz/close", headers=admin)).status_code == 200

    [listed] = (await client.get("/v1/me/assessments", headers=me)).json()
    assert listed["code"] == "quiz" and listed["attempts"][0]["status"] == "in_progress"
    resumed = await start(client, me)
    assert resumed.status_code == 200 and resumed.json()["attempt"]["id"] == attempt
    saved = await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": "a"}},
        headers=me,
    )
    assert saved.status_code == 200 and saved.json()["applied"]
    submitted = await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"

    assert (await client.get("/v1/me/assessments", headers=me)).json() == []
    second = await start(client, me)
    assert second.status_code == 409, second.text  # a second attempt is allowed, but not after close


# --- forms -----------------------------------------------------------------------------------------


async def test_preview_replays_a_seed(client, admin):
    """A draft previews with its items' current versions, marked as a draft, and the same form once
    published. Published: the same seed gives the same form, seeds differ, every form holds every
    fixed item once, and no preview carries key material."""
    etag = await create(client, admin, assessment_body("quiz"))
    draft = await client.get("/v1/assessments/quiz/preview", params={"seed": 42}, headers=admin)
    assert draft.status_code == 200, draft.text
    assert draft.json()["draft"] is True and draft.json()["seed"] == 42
    assert sorted(i["view"]["ref"] for i in draft.json()["items"]) == CODES
    published = await client.post("/v1/assessments/quiz/publish", headers={**admin, "If-Match": etag})
    assert published.status_code == 200
    pinned = (await client.get("/v1/assessments/quiz/preview", params={"seed": 42}, headers=admin)).json()
    assert pinned["draft"] is False and pinned["items"] == draft.json()["items"]

    first = await client.get("/v1/assessments/quiz/preview", params={"seed": 42}, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["seed"] == 42
    replay = await client.get("/v1/assessments/quiz/preview", params={"seed": 42}, headers=admin)
    assert replay.json() == first.json()
    assert sorted(i["view"]["ref"] for i in first.json()["items"]) == CODES
    assert all(i["section"] == "main" and i["version"] == 1 for i in first.json()["items"])

    forms = set()
    for seed in range(1, 11):
        form = (await client.get("/v1/assessments/quiz/preview", params={"seed": seed}, headers=admin)).json()
        forms.add(
            str([(i["view"]["ref"], [o["key"] for o in i["view"].get("options", [])]) for i in form["items"]])
        )
        for secret in ('"correct"', '"credit"', '"rater_notes"', '"reverse"', '"loadings"'):
            assert secret not in str(form).replace("'", '"'), secret
    assert len(forms) > 1
    unseeded = await client.get("/v1/assessments/quiz/preview", headers=admin)
    assert unseeded.status_code == 200 and isinstance(unseeded.json()["seed"], int)
    assert (await client.get("/v1/assessments/nope/preview", headers=admin)).status_code == 404
    # a draft naming an item (or a version) that does not exist cannot be drawn: every such reference is named
    await create(
        client,
        admin,
        assessment_body(
            "broken",
            sections=[
                {
                    "code": "main",
                    "items": [{"code": "T-SC-1"}, {"code": "NOPE"}, {"code": "T-MC-1", "version": 9}],
                }
            ],
        ),
    )
    broken = await client.get("/v1/assessments/broken/preview", headers=admin)
    assert broken.status_code == 422 and pointers(broken) == [
        "/sections/0/items/1/code",
        "/sections/0/items/2/code",
    ]
    negative = await client.get("/v1/assessments/quiz/preview", params={"seed": -1}, headers=admin)
    assert negative.status_code == 400


async def test_a_pool_draws_n_items_per_attempt(client, tenant, admin):
    """Each candidate's attempt holds the fixed item plus exactly `draw` distinct pool items; the
    candidate is told the form's length; the attempts overview lists every attempt."""
    pool = [c for c in CODES if c != "T-OR-1"]
    await publish_assessment(
        client,
        admin,
        assessment_body(
            "quiz",
            sections=[
                {"code": "fixed", "items": [{"code": "T-OR-1"}]},
                {
                    "code": "drawn",
                    "pool": {"items": [{"code": c} for c in pool], "draw": 3},
                    "shuffle_items": True,
                },
            ],
        ),
    )
    listed = (await client.get("/v1/me/assessments", headers=tenant["candidates"][0])).json()
    assert listed[0]["item_count"] == 4

    drawn_sets = set()
    for me in tenant["candidates"]:
        started = await start(client, me)
        assert started.status_code == 201, started.text
        state = started.json()
        refs = [item["ref"] for item in state["items"]]
        assert state["sections"] == ["fixed", "drawn"] and refs[0] == "T-OR-1"
        drawn = refs[1:]
        assert len(drawn) == 3 and len(set(drawn)) == 3 and set(drawn) <= set(pool)
        assert state["attempt"]["item_count"] == 4
        drawn_sets.add(frozenset(drawn))

    attempts = await all_pages(client, "/v1/assessments/quiz/attempts", admin, limit=2)
    assert sorted(a["external_id"] for a in attempts) == ["c1", "c2", "c3", "c4", "c5"]
    assert all(a["status"] == "in_progress" and a["item_count"] == 4 and a["answered"] == 0 for a in attempts)
    assert await all_pages(client, "/v1/assessments/quiz/attempts", admin, status="submitted") == []
    assert (await client.get("/v1/assessments/nope/attempts", headers=admin)).status_code == 404


async def test_a_window_not_yet_open(client, tenant, admin):
    """Before the window opens the assessment is listed as upcoming (with its opening time) and a
    start is 409; a window already open (opened in the past, closes in the future) is offered."""
    now = datetime.now(UTC)
    await publish_assessment(
        client,
        admin,
        assessment_body(
            "later",
            window={"opens_at": iso(now + timedelta(days=1)), "closes_at": iso(now + timedelta(days=2))},
        ),
    )
    await publish_assessment(
        client,
        admin,
        assessment_body(
            "now",
            window={"opens_at": iso(now - timedelta(hours=1)), "closes_at": iso(now + timedelta(days=2))},
        ),
    )
    me = tenant["candidates"][0]
    listed = {a["code"]: a for a in (await client.get("/v1/me/assessments", headers=me)).json()}
    # Listed so the candidate knows when it opens, but it cannot be started yet.
    assert {code: (a["upcoming"], a["can_start"]) for code, a in listed.items()} == {
        "now": (False, True),
        "later": (True, False),
    }
    assert listed["later"]["window"]["opens_at"]
    refused = await start(client, me, "later")
    assert refused.status_code == 409 and "not open yet" in refused.json()["detail"]
    assert (await start(client, me, "now")).status_code == 201


# --- accommodations --------------------------------------------------------------------------------


async def test_accommodations(client, service_keys, tenant, admin):
    """A tenant admin grants extra time (listed, replaced on a second PUT); a running attempt's
    deadline moves at once; unknown people and assessments are 404; authors may not grant."""
    await publish_assessment(client, admin, assessment_body("quiz"))
    assert (await client.get("/v1/assessments/quiz/accommodations", headers=admin)).json() == {
        "items": [],
        "next_cursor": None,
    }

    granted = await client.put(
        "/v1/assessments/quiz/accommodations/c1",
        json={"extra_time_factor": 1.5, "note": "screen reader"},
        headers=admin,
    )
    assert granted.status_code == 200, granted.text
    assert (granted.json()["external_id"], granted.json()["extra_time_factor"], granted.json()["note"]) == (
        "c1",
        1.5,
        "screen reader",
    )
    assert granted.json()["running_attempt_deadline"] is None

    me = tenant["candidates"][1]
    state = (await start(client, me)).json()["attempt"]
    moved = await client.put(
        "/v1/assessments/quiz/accommodations/c2", json={"extra_time_factor": 2}, headers=admin
    )
    assert moved.status_code == 200, moved.text
    started_at = datetime.fromisoformat(state["started_at"])
    deadline = datetime.fromisoformat(moved.json()["running_attempt_deadline"])
    assert abs((deadline - started_at) - timedelta(minutes=60)) < timedelta(seconds=1)
    resumed = (await client.get(f"/v1/me/attempts/{state['id']}", headers=me)).json()["attempt"]
    assert datetime.fromisoformat(resumed["deadline"]) == deadline and resumed["extra_time_factor"] == 2.0

    replaced = await client.put(
        "/v1/assessments/quiz/accommodations/c1", json={"extra_time_factor": 1.25}, headers=admin
    )
    assert replaced.json()["extra_time_factor"] == 1.25 and replaced.json()["note"] is None
    listed = await all_pages(client, "/v1/assessments/quiz/accommodations", admin, limit=1)
    assert [(a["external_id"], a["extra_time_factor"]) for a in listed] == [("c1", 1.25), ("c2", 2.0)]
    mine = (await client.get("/v1/me/assessments", headers=tenant["candidates"][0])).json()
    assert mine[0]["extra_time_factor"] == 1.25

    ghost = await client.put(
        "/v1/assessments/quiz/accommodations/ghost", json={"extra_time_factor": 1.5}, headers=admin
    )
    assert ghost.status_code == 404
    nope = await client.put(
        "/v1/assessments/nope/accommodations/c1", json={"extra_time_factor": 1.5}, headers=admin
    )
    assert nope.status_code == 404
    assert (await client.get("/v1/assessments/nope/accommodations", headers=admin)).status_code == 404
    too_much = await client.put(
        "/v1/assessments/quiz/accommodations/c1", json={"extra_time_factor": 5}, headers=admin
    )
    assert too_much.status_code == 400 and pointers(too_much) == ["/extra_time_factor"]
    author = user(service_keys, tenant["id"], ["author"])
    forbidden = await client.put(
        "/v1/assessments/quiz/accommodations/c1", json={"extra_time_factor": 3}, headers=author
    )
    assert forbidden.status_code == 403
    assert (await client.get("/v1/assessments/quiz/accommodations", headers=author)).status_code == 200
