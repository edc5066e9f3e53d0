"""Attempts, score traces, rescoring and rating allocation in the console over HTTP (no browser): the
same domain functions and guards as the API, filters, errors next to their fields, and who may do what."""

from __future__ import annotations

import asyncio
import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from service.auth.keys import ServiceKeys
from service.auth.principal import Principal
from service.console import sessions
from service.db.pool import tenant_transaction
from tests.delivery_setup import ITEMS, add_people, add_units, delivery_tenant
from tests.harness import snapshot
from tests.helpers import user
from tests.test_console_marking import console_headers, marked_sitting

LIST = "/console/assessments/quiz/attempts"
RESCORINGS = "/console/assessments/quiz/rescorings"


async def _sit(client: httpx.AsyncClient, me: dict[str, str], choice: str, submit: bool = True) -> str:
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()["attempt"][
        "id"
    ]
    saved = await client.put(
        f"/v1/me/attempts/{attempt}/answers/T-SC-1",
        json={"revision": 1, "answer": {"choice": choice}},
        headers=me,
    )
    assert saved.status_code == 200, saved.text
    if submit:
        assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
    return attempt


@pytest.fixture
@snapshot
async def sat(client: httpx.AsyncClient, service_keys: ServiceKeys) -> dict[str, Any]:
    """c1, c2 (city) submitted T-SC-1 (keyed 'c') answered b and c; c3 (city) is still sitting; t1 (in
    the town, beside the city) submitted c."""
    tenant = await delivery_tenant(client, service_keys, slug="console-attempts", people=3)
    admin = tenant["admin"]
    await add_units(client, admin, [{"code": "town", "name": "Town", "parent_code": "prov"}])
    await add_people(
        client, admin, [{"external_id": "t1", "org_unit_code": "town", "category": "civil_servant"}]
    )
    c1, c2, c3 = tenant["candidates"]
    t1 = user(service_keys, tenant["id"], ["candidate"], sub="t1")
    tenant["attempts"] = {
        "c1": await _sit(client, c1, "b"),
        "c2": await _sit(client, c2, "c"),
        "c3": await _sit(client, c3, "c", submit=False),
        "t1": await _sit(client, t1, "c"),
    }
    return tenant


def _people(page: str) -> list[str]:
    return sorted(re.findall(r'data-testid="attempt-([^"]+)"', page))


async def test_attempts_filter_by_unit_status_and_day_and_a_trace_reads_as_tables(
    client: httpx.AsyncClient, sat: dict[str, Any]
) -> None:
    admin = await console_headers(client, sat["id"], ["tenant_admin"], "admin-1")
    listed = await client.get("/console/assessments", headers=admin)
    assert (
        f'href="{LIST}"' in listed.text
        and 'href="/console/assessments/quiz/rating-allocations"' in listed.text
    )

    everyone = await client.get(LIST, headers=admin)
    assert everyone.status_code == 200, everyone.text
    assert _people(everyone.text) == ["c1", "c2", "c3", "t1"]
    assert _people((await client.get(LIST, params={"unit": "town"}, headers=admin)).text) == ["t1"]
    assert _people((await client.get(LIST, params={"unit": "city"}, headers=admin)).text) == [
        "c1",
        "c2",
        "c3",
    ]
    assert _people((await client.get(LIST, params={"status": "in_progress"}, headers=admin)).text) == ["c3"]
    today = datetime.now(UTC).date()
    days = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    assert _people((await client.get(LIST, params=days, headers=admin)).text) == ["c1", "c2", "t1"]
    later = {"from": (today + timedelta(days=2)).isoformat()}
    shown = await client.get(LIST, params=later, headers=admin)
    assert _people(shown.text) == [] and 'data-testid="no-attempts"' in shown.text
    assert (await client.get(LIST, params={"unit": "NOWHERE"}, headers=admin)).status_code == 422
    assert (await client.get(LIST, params={"to": "2026-02-30"}, headers=admin)).status_code == 422
    blank = {"unit": "", "status": "", "from": "", "to": ""}  # what the form sends untouched
    assert _people((await client.get(LIST, params=blank, headers=admin)).text) == ["c1", "c2", "c3", "t1"]
    assert (await client.get("/console/assessments/nowhere/attempts", headers=admin)).status_code == 404

    # The same filters over the API, through the same domain function.
    api = await client.get("/v1/assessments/quiz/attempts", params={"unit": "town"}, headers=sat["admin"])
    assert [a["external_id"] for a in api.json()["items"]] == ["t1"]
    dated = await client.get(
        "/v1/assessments/quiz/attempts", params={"from": f"{later['from']}T00:00:00Z"}, headers=sat["admin"]
    )
    assert dated.status_code == 200 and dated.json()["items"] == []

    # The trace: the score version, dimension and level names from the framework, every item's credit.
    attempt = sat["attempts"]["c2"]  # answered c, as keyed
    assert f'href="{LIST}/{attempt}"' in everyone.text
    trace = await client.get(f"{LIST}/{attempt}", headers=admin)
    assert trace.status_code == 200, trace.text
    assert 'data-testid="score-1" data-current="true"' in trace.text
    assert 'data-testid="item-1-T-SC-1"' in trace.text and "Weights used" in trace.text
    assert re.search(r'data-testid="item-1-T-SC-1">.*?1\.00 / 1\.00', trace.text, re.DOTALL)
    assert (
        await client.get(f"/console/assessments/quiz/attempts/{sat['attempts']['c3']}", headers=admin)
    ).status_code == 200

    # zh-CN first: the same page for a session in Chinese.
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    principal = Principal(
        "user", "admin-zh", frozenset({"tenant_admin"}), UUID(sat["id"]), "https://idp.example", 0.0
    )
    async with tenant_transaction(pool, UUID(sat["id"])) as conn:
        zh_session = await sessions.create(conn, principal, "zh-CN", idle_seconds=600, max_seconds=3600)
    chinese = await client.get(f"{LIST}/{attempt}", headers={"Cookie": f"assess_console={zh_session}"})
    assert chinese.status_code == 200 and "分数与评分轨迹" in chinese.text and "使用的权重" in chinese.text

    # Raters never see who took what; analysts and authors do.
    rater = await console_headers(client, sat["id"], ["rater"], "r1")
    assert (await client.get(LIST, headers=rater)).status_code == 403
    assert (await client.get(f"{LIST}/{attempt}", headers=rater)).status_code == 403
    analyst = await console_headers(client, sat["id"], ["analyst"], "an-1")
    assert (await client.get(f"{LIST}/{attempt}", headers=analyst)).status_code == 200


async def _settled(client: httpx.AsyncClient, who: dict[str, str], url: str, wanted: str) -> str:
    for _ in range(200):
        shown = await client.get(url, headers={**who, "HX-Request": "true"})
        assert shown.status_code == 200 and "<html" not in shown.text
        if f'data-status="{wanted}"' in shown.text:
            assert "hx-trigger" not in shown.text  # it stops polling once settled
            return (await client.get(url, headers=who)).text
        assert 'hx-trigger="every 1s"' in shown.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"rescoring did not reach {wanted}")


async def test_a_key_fix_is_previewed_with_who_changes_then_committed_from_the_console(
    client: httpx.AsyncClient, sat: dict[str, Any]
) -> None:
    api_admin = sat["admin"]
    single = copy.deepcopy(next(item for item in ITEMS if item["code"] == "T-SC-1"))
    single["key"] = {"correct": "b"}  # the key was wrong
    etag = (await client.get("/v1/items/T-SC-1", headers=api_admin)).headers["etag"]
    assert (
        await client.put("/v1/items/T-SC-1", json=single, headers={**api_admin, "If-Match": etag})
    ).status_code == 200

    admin = await console_headers(client, sat["id"], ["tenant_admin"], "admin-1")
    form = await client.get(RESCORINGS, headers=admin)
    assert (
        form.status_code == 200
        and 'name="item:T-SC-1"' in form.text
        and '<option value="2">2</option>' in form.text
    )

    # Problems come back next to their fields; nothing is started.
    empty = await client.post(RESCORINGS, data={"reason": "", "item:T-SC-1": "2"}, headers=admin)
    assert empty.status_code == 422 and re.search(r'id="reason-error" role="alert">[^<]+<', empty.text)
    wrong = await client.post(RESCORINGS, data={"reason": "fix", "item:T-SC-1": "9"}, headers=admin)
    assert wrong.status_code == 422 and re.search(
        r'id="items-error" role="alert">[^<]*has no version 9', wrong.text
    )
    assert 'data-testid="no-rescorings"' in wrong.text

    analyst = await console_headers(client, sat["id"], ["analyst"], "an-1")
    assert (await client.post(RESCORINGS, data={"reason": "x"}, headers=analyst)).status_code == 403

    started = await client.post(
        RESCORINGS, data={"reason": "T-SC-1 is keyed b", "item:T-SC-1": "2"}, headers=admin
    )
    assert started.status_code == 303, started.text
    url = started.headers["location"]
    preview = await _settled(client, admin, url, "previewed")
    assert "3 of 3 attempts change" in preview
    assert re.search(r'data-testid="dimension-AK">.*?>3<', preview, re.DOTALL)
    assert sorted(re.findall(r'data-testid="affected-([^"]+)"', preview)) == [
        "c1",
        "c2",
        "t1",
    ]  # b is right: c1 gains, c2 and t1 lose
    assert 'data-testid="commit"' in preview
    assert 'data-testid="commit"' not in (await client.get(url, headers=analyst)).text
    assert (await client.post(f"{url}/commit", headers=analyst)).status_code == 403

    committed = await client.post(f"{url}/commit", headers=admin)
    assert committed.status_code == 303 and committed.headers["location"] == url
    done = await _settled(client, admin, url, "done")
    assert 'data-testid="done"' in done and 'data-testid="affected"' not in done
    again = await client.post(f"{url}/commit", headers=admin)
    assert again.status_code == 409 and "can be committed" in again.text

    trace = await client.get(f"{LIST}/{sat['attempts']['c1']}", headers=admin)
    assert 'data-testid="score-2" data-current="true"' in trace.text and 'data-testid="score-1"' in trace.text
    rescoring_id = url.rsplit("/", 1)[1]
    assert f'data-testid="reason-2">rescoring {rescoring_id}<' in trace.text


async def test_admins_allocate_rating_tasks_and_see_progress_per_rater(
    client: httpx.AsyncClient, service_keys: ServiceKeys
) -> None:
    tenant = await marked_sitting(client, service_keys, "console-allocations")
    page = "/console/assessments/quiz/rating-allocations"
    admin = await console_headers(client, tenant["id"], ["tenant_admin"], "admin-1")
    shown = await client.get(page, headers=admin)
    assert shown.status_code == 200 and 'data-testid="no-raters"' in shown.text
    assert 'data-testid="item-T-OR-1"' in shown.text

    bad = await client.post(page, data={"rater": "r1", "org_unit": "NOWHERE", "limit": "1"}, headers=admin)
    assert bad.status_code == 422 and re.search(r'id="org_unit-error" role="alert">[^<]+<', bad.text)
    none = await client.post(page, data={"rater": "", "limit": "1"}, headers=admin)
    assert none.status_code == 422 and re.search(r'id="rater-error" role="alert">[^<]+<', none.text)

    done = await client.post(page, data={"rater": "r1", "org_unit": "city", "limit": "1"}, headers=admin)
    assert done.status_code == 200 and "1 task(s) allocated to r1." in done.text
    row = re.search(r'data-testid="rater-r1">(.*?)</tr>', done.text, re.DOTALL)
    assert row and 'data-col="allocated">1<' in row.group(1) and 'data-col="pending">1<' in row.group(1)
    # The same progress over the API.
    api = (await client.get("/v1/assessments/quiz/rating-progress", headers=tenant["admin"])).json()
    assert api["raters"] == [{"rater": "r1", "allocated": 1, "done": 0, "pending": 1}]

    released = await client.post(f"{page}/release", data={"rater": "r1"}, headers=admin)
    assert released.status_code == 200 and "1 allocation(s) of r1 released." in released.text

    for role in ("author", "analyst", "rater"):
        other = await console_headers(client, tenant["id"], [role], f"{role}-1")
        assert (await client.get(page, headers=other)).status_code == 403, role
        assert (await client.post(page, data={"rater": "r1"}, headers=other)).status_code == 403, role
