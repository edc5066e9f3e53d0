"""The framework editor in a real browser cut off from everything but loopback.

One journey (a live service costs seconds): adopt the teacher template, rename a dimension in both
languages, move it with the keyboard, change a weight, see the server's message appear next to the
dimensions as you type, fix it, publish; axe-core finds no serious problem on the editor, and a
screenshot of it is saved (the temporary directory is printed).
"""

from __future__ import annotations

import pytest

from service.console.frameworks import dom_id
from tests.browser import OfflinePage, browser_page, live_service  # noqa: F401  (fixtures)
from tests.test_console_browser import _axe, demo_seeded, settings  # noqa: F401  (fixtures)


async def test_adopt_rename_reweight_fix_and_publish(
    demo_seeded: None,
    live_service: str,
    browser_page: OfflinePage,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    page = browser_page.page
    shots = tmp_path_factory.mktemp("framework-editor")
    print(f"screenshots: {shots}")
    page.set_default_timeout(30000)

    await page.goto(live_service + "/console/")
    await page.click('[data-testid="demo-sign-in"]')
    await page.click('[data-testid="persona-admin"]')
    await page.wait_for_url(live_service + "/console")

    # Adopt the teacher template from the gallery; its draft opens in the editor.
    await page.goto(live_service + "/console/templates")
    card = page.locator('[data-testid="template-teacher-digital-literacy"]')
    await card.locator('input[name="code"]').fill("teachers-ed")
    await card.locator('button[type="submit"]').click()
    await page.wait_for_url("**/console/frameworks")
    await page.click('[data-testid="draft-teachers-ed"]')
    await page.wait_for_url("**/console/frameworks/teachers-ed/versions/1")

    # Rename the first dimension in both languages and save (htmx swaps the form in place).
    await page.fill('[name="/dimensions/0/name/zh-CN"]', "数字化意识与态度")
    async with page.expect_response("**/versions/1/check"):  # checked as you type: no problem
        await page.fill('[name="/dimensions/0/name/en"]', "Digital awareness and attitude")
        await page.keyboard.press("Tab")
    async with page.expect_response("**/console/frameworks/teachers-ed/versions/1") as saved:
        await page.click('[data-testid="save"]')
    assert (await saved.value).status == 200
    assert await page.input_value('[name="/dimensions/0/name/en"]') == "Digital awareness and attitude"

    # Keyboard reordering: Enter on "move down" moves the dimension; focus follows it.
    await page.focus('button[value="down /dimensions/0"]')
    async with page.expect_response("**/console/frameworks/teachers-ed/versions/1"):
        await page.keyboard.press("Enter")
    await page.wait_for_function(
        "document.activeElement && document.activeElement.value === 'up /dimensions/1'"
    )
    assert await page.input_value('[name="/dimensions/1/name/en"]') == "Digital awareness and attitude"

    # A weight that breaks the sum: the server's message appears next to the dimensions as you type.
    slot = "#" + dom_id("e", "/dimensions")
    async with page.expect_response("**/versions/1/check") as checked:
        await page.fill('[name="/dimensions/1/weight"]', "0.5")
        await page.keyboard.press("Tab")
    assert (await checked.value).status == 200
    await page.wait_for_function(f"document.querySelector('{slot}').textContent.includes('1.35')")
    assert "1" in (await page.text_content('[data-testid="problem-count"]') or "")
    await page.locator(slot).scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "1-editor-weight-error.png"))
    await _axe(page, "framework editor")

    # Fixed: the message goes away; then save and publish.
    async with page.expect_response("**/versions/1/check"):
        await page.fill('[name="/dimensions/1/weight"]', "0.15")
        await page.keyboard.press("Tab")
    await page.wait_for_function(f"document.querySelector('{slot}').textContent.trim() === ''")
    await page.locator('[data-testid="save"]').scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "2-editor-fixed.png"))
    await page.click('[data-testid="publish"]')
    await page.wait_for_url("**/console/frameworks/teachers-ed")
    row = await page.text_content('[data-testid="version-1"]') or ""
    assert "已发布" in row or "Published" in row, row
    await page.screenshot(path=str(shots / "3-framework-versions.png"), full_page=True)
    await _axe(page, "framework page")

    # The published version, read-only, keeps both names.
    await page.click('[data-testid="open-1"]')
    await page.wait_for_url("**/console/frameworks/teachers-ed/versions/1")
    assert await page.input_value('[name="/dimensions/1/name/zh-CN"]') == "数字化意识与态度"
    assert await page.locator('[data-testid="save"]').count() == 0

    browser_page.assert_offline()
    assert browser_page.console_errors == [], browser_page.console_errors


@pytest.fixture(autouse=True)
def _show_browser_errors(request: pytest.FixtureRequest) -> object:
    """On failure, what the page's console said (htmx logs refused and aborted requests there)."""
    yield None
    page = request.node.funcargs.get("browser_page") if hasattr(request.node, "funcargs") else None
    if page is not None and page.console_errors:
        print("browser console:", page.console_errors)
