"""Marking in a real browser: two raters mark the same two responses by number key and click, the next
response swapped in without a page load, one disagreement; a third rater adjudicates it; the
agreement page shows the raters' agreement, the pair below the threshold highlighted. axe-core checks
each screen; screenshots go to a temporary directory (printed)."""

from __future__ import annotations

from uuid import UUID

import httpx
import pytest

from service.auth.keys import ServiceKeys
from service.auth.principal import Principal
from service.console import sessions
from service.db.pool import create_pool, tenant_transaction
from tests.browser import OfflinePage, browser_page, live_service  # noqa: F401  (fixtures)
from tests.test_console_browser import _axe
from tests.test_console_marking import marked_sitting


async def _session(app_url: str, tenant_id: str, roles: list[str], subject: str) -> str:
    pool = await create_pool(app_url, min_size=1, max_size=1)
    try:
        principal = Principal("user", subject, frozenset(roles), UUID(tenant_id), "https://idp.example", 0.0)
        async with tenant_transaction(pool, UUID(tenant_id)) as conn:
            return await sessions.create(conn, principal, "en", idle_seconds=3600, max_seconds=7200)
    finally:
        await pool.close()


async def test_two_raters_disagree_once_a_third_adjudicates_and_agreement_shows(
    live_service: str,
    browser_page: OfflinePage,
    app_url: str,
    service_keys: ServiceKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    shots = tmp_path_factory.mktemp("marking-screens")
    print(f"screenshots: {shots}")
    async with httpx.AsyncClient(base_url=live_service, timeout=60) as client:
        tenant = await marked_sitting(client, service_keys, "browser-marking")
    page = browser_page.page
    context = page.context  # type: ignore[attr-defined]

    async def as_user(roles: list[str], subject: str) -> None:
        session_id = await _session(app_url, tenant["id"], roles, subject)
        await context.clear_cookies()
        await context.add_cookies(
            [{"name": "assess_console", "value": session_id, "domain": "127.0.0.1", "path": "/console"}]
        )

    async def mark(values: list[int], subject: str) -> None:
        await as_user(["rater"], subject)
        await page.goto(live_service + "/console/marking")
        await page.wait_for_selector('[data-testid="task"]')
        if subject == "r1":
            await page.screenshot(path=str(shots / "1-marking.png"), full_page=True)
            await _axe(page, "marking")
        await page.evaluate("window.markingLoads = 1")  # survives only if the page is not reloaded
        for n, value in enumerate(values):
            task = await page.get_attribute('[data-testid="task"]', "data-task")
            assert task and "response number" in (await page.text_content('[data-testid="response"]') or "")
            await page.keyboard.press(str(value))  # the number key chooses the level
            assert await page.is_checked(f'[data-testid="level-{value}"] input')
            if n == 0:
                await page.click('[data-testid="save"]')
            else:
                await page.focus(f'[data-testid="level-{value}"] input')
                await page.keyboard.press("Enter")  # the form's own submit
            await page.wait_for_selector('[data-testid="notice"]')
            if n + 1 < len(values):
                await page.wait_for_function(
                    "t => document.querySelector('[data-testid=\"task\"]')?.dataset.task !== t", arg=task
                )
        await page.wait_for_selector('[data-testid="queue-empty"]')
        assert await page.evaluate("window.markingLoads") == 1  # every response came without a reload

    await mark([2, 2], "r1")
    await mark([2, 0], "r2")  # agrees on the first, two points apart on the second

    # The third rater sees only the response the two disagree on, and adjudicates it.
    await as_user(["rater"], "r3")
    await page.goto(live_service + "/console/marking")
    assert "1 response waiting" in (await page.text_content('[data-testid="waiting"]') or "")
    await page.keyboard.press("1")
    await page.click('[data-testid="save"]')
    await page.wait_for_selector('[data-testid="queue-empty"]')

    # The admin's agreement page: two pairs, one exact; kappa below the threshold highlighted.
    await as_user(["tenant_admin"], "admin-1")
    await page.goto(live_service + "/console/assessments")
    await page.click('[data-testid="agreement-quiz"]')
    await page.wait_for_url("**/console/assessments/quiz/agreement")
    overall = await page.locator('[data-testid="agreement-overall"] tbody td').all_text_contents()
    assert overall[:3] == ["2", "50%", "50%"], overall
    for rater in ("r1", "r2"):
        assert await page.get_attribute(f'[data-testid="rater-{rater}"]', "data-low") == "true"
    assert await page.locator('[data-testid="rater-r3"]').count() == 0  # an adjudication is no pair
    await page.screenshot(path=str(shots / "2-agreement.png"), full_page=True)
    await _axe(page, "agreement")
    browser_page.assert_offline()
    # htmx (2.x, vendored) applies an empty inline style once per page on its first swap; CSP blocks it
    # (the hash Chromium names is the empty string's) and nothing depends on it. Anything else fails.
    empty_style = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert [e for e in browser_page.console_errors if empty_style not in e] == []
