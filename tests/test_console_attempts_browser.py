"""Attempts, traces, rescoring and rating allocation in a real browser: an admin filters the attempts by
unit and status, opens a trace, previews a rescoring after a key fix (the page polls until the preview
lists who changes), commits it and watches it finish, then allocates rating tasks to a rater. axe-core
checks each screen; screenshots go to a temporary directory (printed)."""

from __future__ import annotations

import copy

import httpx
import pytest

from service.auth.keys import ServiceKeys
from tests.browser import OfflinePage, browser_page, live_service  # noqa: F401  (fixtures)
from tests.delivery_setup import ITEMS, delivery_tenant
from tests.test_console_browser import _axe
from tests.test_console_marking_browser import _session


async def _sitting(client: httpx.AsyncClient, keys: ServiceKeys) -> dict[str, str]:
    """c1 and c2 answered T-SC-1 (keyed c) with b and c and an open response, and submitted; the key is
    then corrected to b in a version 2 of the item."""
    tenant = await delivery_tenant(client, keys, slug="browser-attempts", people=2)
    for me, choice in zip(tenant["candidates"], "bc", strict=True):
        attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()[
            "attempt"
        ]["id"]
        for item, answer in (("T-SC-1", {"choice": choice}), ("T-OR-1", {"text": "an answer"})):
            saved = await client.put(
                f"/v1/me/attempts/{attempt}/answers/{item}",
                json={"revision": 1, "answer": answer},
                headers=me,
            )
            assert saved.status_code == 200, saved.text
        assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
    admin = tenant["admin"]
    single = copy.deepcopy(next(item for item in ITEMS if item["code"] == "T-SC-1"))
    single["key"] = {"correct": "b"}
    etag = (await client.get("/v1/items/T-SC-1", headers=admin)).headers["etag"]
    fixed = await client.put("/v1/items/T-SC-1", json=single, headers={**admin, "If-Match": etag})
    assert fixed.status_code == 200, fixed.text
    return tenant


async def test_admin_filters_attempts_reads_a_trace_rescores_and_allocates(
    live_service: str,
    browser_page: OfflinePage,
    app_url: str,
    service_keys: ServiceKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    shots = tmp_path_factory.mktemp("attempt-screens")
    print(f"screenshots: {shots}")
    async with httpx.AsyncClient(base_url=live_service, timeout=60) as client:
        tenant = await _sitting(client, service_keys)
    page = browser_page.page
    session_id = await _session(app_url, tenant["id"], ["tenant_admin"], "admin-1")
    await page.context.add_cookies(  # type: ignore[attr-defined]
        [{"name": "assess_console", "value": session_id, "domain": "127.0.0.1", "path": "/console"}]
    )

    # Attempts, filtered by unit and status.
    await page.goto(live_service + "/console/assessments")
    await page.click('[data-testid="attempts-quiz"]')
    await page.wait_for_url("**/console/assessments/quiz/attempts")
    await page.fill("#unit", "city")
    await page.select_option("#status", "submitted")
    await page.click('[data-testid="filter"]')
    await page.wait_for_url(lambda url: "unit=city" in url and "status=submitted" in url)
    assert await page.locator('[data-testid^="attempt-c"]').count() == 2
    await page.screenshot(path=str(shots / "1-attempts.png"), full_page=True)
    await _axe(page, "attempts")

    # c2's trace: T-SC-1 answered as keyed, one point of one.
    await page.click('[data-testid="trace-c2"]')
    await page.wait_for_selector('[data-testid="score-1"][data-current="true"]')
    credit = await page.text_content('[data-testid="item-1-T-SC-1"]') or ""
    assert "1.00 / 1.00" in credit, credit
    await page.screenshot(path=str(shots / "2-trace.png"), full_page=True)
    await _axe(page, "trace")

    # A rescoring with the corrected key: the preview polls until it lists who changes.
    await page.goto(live_service + "/console/assessments/quiz/rescorings")
    await page.select_option('[data-testid="version-T-SC-1"]', "2")
    await page.fill("#reason", "T-SC-1 is keyed b")
    await _axe(page, "rescoring form")
    await page.click('[data-testid="preview"]')
    await page.wait_for_selector('[data-testid="rescoring-state"][data-status="previewed"]', timeout=30000)
    assert await page.locator('[data-testid^="affected-"]').count() == 2
    assert "2 of 2 attempts change" in (await page.text_content('[data-testid="summary"]') or "")
    await page.screenshot(path=str(shots / "3-preview.png"), full_page=True)
    await _axe(page, "rescoring preview")
    await page.click('[data-testid="commit"]')
    await page.wait_for_selector('[data-testid="rescoring-state"][data-status="done"]', timeout=30000)
    assert "2 of 2 attempts" in (await page.text_content('[data-testid="progress"]') or "")
    await page.screenshot(path=str(shots / "4-done.png"), full_page=True)
    await _axe(page, "rescoring done")

    # Rating allocation: both open responses to r1.
    await page.goto(live_service + "/console/assessments")
    await page.click('[data-testid="allocations-quiz"]')
    await page.wait_for_url("**/console/assessments/quiz/rating-allocations")
    await page.fill("#rater", "r1")
    await page.click('[data-testid="allocate"]')
    await page.wait_for_selector('[data-testid="notice"]')
    assert await page.text_content('[data-testid="rater-r1"] [data-col="pending"]') == "2"
    await page.screenshot(path=str(shots / "5-allocation.png"), full_page=True)
    await _axe(page, "rating allocation")
    browser_page.assert_offline()
    empty_style = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # htmx's first swap: see marking
    assert [e for e in browser_page.console_errors if empty_style not in e] == []
