"""Marking in the console over HTTP: a blind queue, ratings stored through the REST routes' domain
functions, correction until used, double marking with adjudication, and the agreement page."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import httpx

from service.auth.keys import ServiceKeys
from service.auth.principal import Principal
from service.console import sessions
from service.db.pool import tenant_transaction
from tests.delivery_setup import delivery_tenant
from tests.helpers import user


async def console_headers(
    client: httpx.AsyncClient, tenant_id: str, roles: list[str], subject: str
) -> dict[str, str]:
    """A console session as a sign-in creates it: its cookie and CSRF header (English pages)."""
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    principal = Principal("user", subject, frozenset(roles), UUID(tenant_id), "https://idp.example", 0.0)
    async with tenant_transaction(pool, UUID(tenant_id)) as conn:
        session_id = await sessions.create(conn, principal, "en", idle_seconds=600, max_seconds=3600)
        csrf = await conn.fetchval(
            "SELECT csrf_token FROM console_sessions WHERE id_hash = $1", sessions.id_hash(session_id)
        )
    return {"Cookie": f"assess_console={session_id}", "X-CSRF-Token": csrf}


async def marked_sitting(client: httpx.AsyncClient, keys: ServiceKeys, slug: str) -> dict[str, Any]:
    """Two candidates' open responses awaiting double marking (adjudication past a gap of 1)."""
    tenant = await delivery_tenant(
        client, keys, slug=slug, people=2, marking={"double": True, "adjudication_gap": 1}
    )
    tenant["attempts"] = []
    for n, me in enumerate(tenant["candidates"], start=1):
        started = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)
        attempt = started.json()["attempt"]["id"]
        saved = await client.put(
            f"/v1/me/attempts/{attempt}/answers/T-OR-1",
            json={"revision": 1, "answer": {"text": f"response number {n}"}},
            headers=me,
        )
        assert saved.status_code == 200, saved.text
        assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
        tenant["attempts"].append(attempt)
    return tenant


def task_of(page: str) -> str:
    found = re.search(r'data-task="([0-9a-f-]{36})"', page)
    assert found, page
    return found.group(1)


async def rate(
    client: httpx.AsyncClient, who: dict[str, str], task: str, value: int | str, **extra: str
) -> httpx.Response:
    return await client.post(
        f"/console/marking/{task}" + ("/correct" if "revision" in extra else ""),
        data={"value": str(value), **extra},
        headers={**who, "HX-Request": "true"},
    )


async def test_blind_marking_correction_double_marking_and_adjudication(
    client: httpx.AsyncClient, service_keys: ServiceKeys
):
    tenant = await marked_sitting(client, service_keys, "console-marking")
    tid = tenant["id"]
    r1, r2, r3 = [await console_headers(client, tid, ["rater"], f"r{n}") for n in (1, 2, 3)]
    admin = await console_headers(client, tid, ["tenant_admin"], "admin-1")

    first = await client.get("/console/marking", headers=r1)
    assert first.status_code == 200, first.text
    page = first.text
    # The response, the item, its indicators' descriptors, the rater notes and the exemplars...
    assert "response number " in page and "Write a prompt" in page and "Look for context and format" in page
    assert "An exemplar" in page and 'class="descriptors"' in page and 'name="value" value="3"' in page
    assert "2 responses waiting" in page and "/console/marking" in page
    # ...and nothing of the candidate, the attempt or a time.
    for attempt in tenant["attempts"]:
        assert attempt not in page
    assert not re.search(r"\b(c1|c2)\b", page) and not re.search(r"\d{4}-\d{2}-\d{2}", page)
    a = task_of(page)
    mine = user(service_keys, tid, ["rater"], sub="r1")

    # No level chosen: the message sits next to the levels, nothing is stored.
    missing = await client.post(
        f"/console/marking/{a}", data={"value": ""}, headers={**r1, "HX-Request": "true"}
    )
    assert missing.status_code == 422 and 'id="value-error" role="alert">choose a level' in missing.text
    assert (await client.get(f"/v1/rating-tasks/{a}/ratings/mine", headers=mine)).status_code == 404
    too_high = await rate(client, r1, a, 4)  # the scale's top is 3: the domain's message, by the levels
    assert too_high.status_code == 422 and 'id="value-error" role="alert">at most 3' in too_high.text
    too_long = await rate(client, r1, a, 1, comment="x" * 4001)
    assert too_long.status_code == 422 and 'id="comment-error" role="alert">' in too_long.text
    assert 'id="comment-error" role="alert"></p>' not in too_long.text

    saved = await rate(client, r1, a, 2)
    assert saved.status_code == 200 and "Rating saved." in saved.text and "<html" not in saved.text
    b = task_of(saved.text)  # the next response, swapped in
    assert b != a and "1 response waiting" in saved.text and f"/console/marking/{a}" in saved.text
    stored = (await client.get(f"/v1/rating-tasks/{a}/ratings/mine", headers=mine)).json()
    assert (stored["value"], stored["revision"], stored["correctable"]) == (2, 1, True)

    # Correct it while unused: the task's page holds my rating and its revision.
    again = await client.get(f"/console/marking/{a}", headers=r1)
    assert (
        'name="revision" value="1"' in again.text and f'action="/console/marking/{a}/correct"' in again.text
    )
    stale = await rate(client, r1, a, 1, revision="7")
    assert stale.status_code == 422 and "read it again" in stale.text
    corrected = await rate(client, r1, a, 1, revision="1")
    assert corrected.status_code == 200 and "Rating corrected." in corrected.text
    stored = (await client.get(f"/v1/rating-tasks/{a}/ratings/mine", headers=mine)).json()
    assert (stored["value"], stored["revision"], [h["value"] for h in stored["history"]]) == (1, 2, [2])
    assert (await rate(client, r1, b, 2)).status_code == 200
    done = await client.get("/console/marking", headers=r1)
    assert 'data-testid="queue-empty"' in done.text

    # r2 disagrees on a by two points, agrees on b: b is agreed (r1's rating is used), a waits for a third.
    first_r2 = task_of((await client.get("/console/marking", headers=r2)).text)
    values = {a: 3, b: 2}
    after = await rate(client, r2, first_r2, values[first_r2])
    second_r2 = task_of(after.text)
    assert (await rate(client, r2, second_r2, values[second_r2])).status_code == 200
    final = await client.get(f"/console/marking/{b}", headers=r1)
    assert 'data-testid="final"' in final.text and "rate-form" not in final.text
    used = await rate(client, r1, b, 3, revision="1")
    assert used.status_code == 422 and "has been used" in used.text

    queue = await client.get("/console/marking", headers=r3)
    assert task_of(queue.text) == a and "1 response waiting" in queue.text
    assert (await rate(client, r3, a, 3)).status_code == 200
    agreed = await client.get(
        f"/v1/me/attempts/{tenant['attempts'][0]}/report", headers=tenant["candidates"][0]
    )
    other = await client.get(
        f"/v1/me/attempts/{tenant['attempts'][1]}/report", headers=tenant["candidates"][1]
    )
    assert {agreed.json()["status"], other.json()["status"]} == {"final"}

    # Agreement: the first two ratings of each response; r1 and r2 agree on one of two.
    shown = await client.get("/console/assessments/quiz/agreement", headers=admin)
    assert shown.status_code == 200, shown.text
    row = re.search(r'<tr data-testid="rater-r1"[^>]*>.*?</tr>', shown.text, re.DOTALL)
    assert row and 'data-low="true"' in row.group(0) and "<td>2</td><td>50%</td><td>50%</td>" in row.group(0)
    lenient = await client.get("/console/assessments/quiz/agreement?threshold=-1", headers=admin)
    assert 'data-low="true"' not in lenient.text

    # Roles: raters see no agreement nor participation; an admin has no marking queue.
    for path in ("/console/assessments/quiz/agreement", "/console/assessments/quiz/participation"):
        assert (await client.get(path, headers=r1)).status_code == 403
    assert (await client.get("/console/marking", headers=admin)).status_code == 403
