"""The console in a real browser cut off from everything but loopback: demo sign-in, language, adopt, logout.

One journey per live service (starting one costs seconds): a test that fails names the step.
Screenshots go to a temporary directory (printed), for a person to look at. axe-core (vendored,
served like any other asset) checks each screen for serious or critical accessibility problems.
"""

from __future__ import annotations

import msgspec
import pytest

from service.api.docs import asset_url
from service.config import Settings
from service.db.pool import create_pool
from service.demo import seed_demo
from tests.browser import OfflinePage, browser_page, live_service  # noqa: F401  (fixtures)


@pytest.fixture
def settings(settings: Settings) -> Settings:  # the live service in demo mode
    return msgspec.structs.replace(settings, demo=True)


@pytest.fixture
async def demo_seeded(app_url: str) -> None:
    pool = await create_pool(app_url, min_size=1, max_size=2)
    try:
        await seed_demo(pool)
    finally:
        await pool.close()


async def _axe(page, label: str) -> None:  # type: ignore[no-untyped-def]
    await page.add_script_tag(url=asset_url("vendor/axe-core/axe.min.js"))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{label}: {bad}"


async def test_sign_in_switch_language_adopt_and_sign_out(
    demo_seeded: None, live_service: str, browser_page: OfflinePage, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page = browser_page.page
    shots = tmp_path_factory.mktemp("console-screens")
    print(f"screenshots: {shots}")

    # Sign in through the demo provider: a persona's click lands on the console's home.
    await page.goto(live_service + "/console/")
    assert page.url.endswith("/console/login")
    await _axe(page, "sign-in page")
    await page.click('[data-testid="demo-sign-in"]')
    await page.wait_for_url("**/console/demo-idp/authorize?**")
    await page.screenshot(path=str(shots / "1-demo-provider.png"), full_page=True)
    await page.click('[data-testid="persona-admin"]')
    await page.wait_for_url(live_service + "/console")
    assert await page.text_content('[data-testid="user"]') == "demo-admin"
    assert "示范省" in (await page.text_content('[data-testid="tenant"]') or "")
    await page.screenshot(path=str(shots / "2-home.png"), full_page=True)
    await _axe(page, "home")

    # The language switch: English for this user from now on, then back to Chinese.
    await page.select_option("#lang", "en")
    await page.click('form[action="/console/language"] button')
    await page.wait_for_selector("text=Sign out")
    assert await page.get_attribute("html", "lang") == "en"
    await page.select_option("#lang", "zh-CN")
    await page.click('form[action="/console/language"] button')
    await page.wait_for_selector("text=退出")

    # Adopt a template from the gallery: the framework list shows it.
    await page.click("nav >> text=模板库")
    await page.wait_for_url("**/console/templates")
    await _axe(page, "template gallery")
    card = page.locator('[data-testid="template-teacher-digital-literacy"]')
    await card.locator('input[name="code"]').fill("teachers-browser")
    async with page.expect_request("**/console/templates/adopt") as posted:
        await card.locator('button[type="submit"]').click()
    # htmx sent it, with the CSRF header our script set from the meta tag.
    assert (await posted.value).headers.get("hx-request") == "true"
    assert (await posted.value).headers.get("x-csrf-token")
    await page.wait_for_url("**/console/frameworks")
    assert await page.locator('[data-testid="framework-teachers-browser"]').count() == 1
    await page.screenshot(path=str(shots / "3-frameworks.png"), full_page=True)
    await _axe(page, "framework list")
    # Taken code: the message sits next to the code field.
    await page.click("nav >> text=模板库")
    await page.wait_for_url("**/console/templates")  # loaded, htmx with it: else the form posts natively
    card = page.locator('[data-testid="template-teacher-digital-literacy"]')
    await card.locator('input[name="code"]').fill("teachers-browser")
    await card.locator('button[type="submit"]').click()
    await page.wait_for_selector("#code-teacher-digital-literacy-error")  # the card swapped in place
    assert page.url.endswith("/console/templates")
    await page.screenshot(path=str(shots / "4-adopt-error.png"), full_page=True)

    # The item bank: filtering by type swaps the results in place (htmx) and puts the filter in the URL.
    await page.click("nav >> text=题库")
    await page.wait_for_url("**/console/items")
    await page.select_option("#type", "ordering")
    async with page.expect_request("**/console/items?*type=ordering*") as filtered:
        await page.click('[data-testid="filter"]')
    assert (await filtered.value).headers.get("hx-request") == "true"
    await page.wait_for_url("**/console/items?*type=ordering*")
    # Swapped: no row of another type is left, and ordering items are there.
    await page.wait_for_selector('#item-results tbody tr:not(:has-text("排序题"))', state="detached")
    assert await page.locator('#item-results tbody tr:has-text("排序题")').count() > 0
    await page.screenshot(path=str(shots / "5-items.png"), full_page=True)
    await _axe(page, "item list")

    # Sign out: back at the sign-in page, and the console is closed again.
    await page.click('[data-testid="logout"]')
    await page.wait_for_url("**/console/login")
    await page.goto(live_service + "/console/frameworks")
    assert page.url.endswith("/console/login")

    browser_page.assert_offline()
    # Any CSP violation or script error shows up here; the refused adoption's 422 is the one expected entry.
    assert [e for e in browser_page.console_errors if "status of 422" not in e] == [], (
        browser_page.console_errors
    )
