"""A tenant admin in a real browser: imports 500 people from an XLSX with two bad rows (both named, nothing
created), fixes them and imports again; opens the tree and moves a unit; creates a service client and sees
its secret once (a reload shows it no more); creates a webhook and sends a test event. axe checks every
screen. Screenshots go to a temporary directory (printed), or to $CONSOLE_SCREENSHOTS (the README's:
`CONSOLE_SCREENSHOTS=docs/screenshots`)."""

from __future__ import annotations

import re

import pytest

from tests.browser import (  # noqa: F401  (fixtures)
    OfflinePage,
    browser_page,
    live_service,
    readme_shot,
    screenshot_dir,
)
from tests.test_console_admin import _xlsx
from tests.test_console_browser import _axe, demo_seeded, settings  # noqa: F401  (fixtures)


def _people(bad: bool) -> bytes:
    rows: list[list[object]] = [["external_id", "org_unit_code", "category", "display_name", "active"]]
    rows += [[f"br-{n:04}", "P-C1-K2", "civil_servant", f"干部 {n}", "true"] for n in range(500)]
    if bad:
        rows[77][2] = "astronaut"  # sheet row 78
        rows[301][1] = "NO-SUCH-UNIT"  # sheet row 302
    return _xlsx(rows, "人员")


async def test_admin_imports_people_moves_a_unit_and_sets_up_integrations(
    demo_seeded: None,
    live_service: str,
    browser_page: OfflinePage,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    page = browser_page.page
    shots = screenshot_dir(tmp_path_factory, "console-admin-screens")
    files = tmp_path_factory.mktemp("console-admin-files")  # what the admin uploads: never among the shots
    await page.goto(live_service + "/console/login")
    await page.click('[data-testid="demo-sign-in"]')
    await page.wait_for_url("**/console/demo-idp/authorize?**")
    await page.click('[data-testid="persona-admin"]')
    await page.wait_for_url(live_service + "/console")
    assert await page.locator('[data-testid="nav-admin"]').count() == 7

    # 500 people, two bad rows: both named by sheet, row and column; nobody is created.
    await page.click('nav a[href="/console/people"]')
    await page.wait_for_url("**/console/people")
    await _axe(page, "people list")
    await page.click('[data-testid="import-people-link"]')
    bad, good = files / "people-bad.xlsx", files / "people.xlsx"
    bad.write_bytes(_people(bad=True))
    good.write_bytes(_people(bad=False))
    await page.set_input_files("#file", str(bad))
    await page.click('[data-testid="import-people"]')
    await page.wait_for_selector('[data-testid="import-problems"]')
    rows = await page.locator('[data-testid="import-problems"] tbody tr').all_inner_texts()
    assert [re.split(r"\t", r)[:3] for r in rows] == [
        ["人员", "78", "category"],
        ["人员", "302", "org_unit_code"],
    ]
    assert "NO-SUCH-UNIT" in rows[1]
    await readme_shot(page, shots / "console-admin-import-refused.png")
    await _axe(page, "import with problems")
    await page.goto(live_service + "/console/people?under=P-C1-K2")
    assert await page.locator('[data-testid^="person-br-"]').count() == 0

    # Fixed: all 500 go in.
    await page.goto(live_service + "/console/people/-/import")
    await page.set_input_files("#file", str(good))
    await page.click('[data-testid="import-people"]')
    await page.wait_for_selector('[data-testid="import-result"]')
    assert "500" in (await page.text_content('[data-testid="import-result"]') or "")
    await page.goto(live_service + "/console/people?under=P-C1-K2")
    assert await page.locator('[data-testid^="person-br-"]').count() == 50  # the first page
    await page.click('[data-testid="next-page"]')
    await page.wait_for_selector('[data-testid="first-page"]')

    # The tree opens level by level (htmx), then a county moves to the other city.
    await page.click('nav a[href="/console/org-units"]')
    await page.wait_for_url("**/console/org-units")
    await page.click('[data-testid="open-P"]')
    await page.wait_for_selector('[data-testid="unit-P-C1"]')
    await page.click('[data-testid="open-P-C1"]')
    await page.wait_for_selector('[data-testid="unit-P-C1-K2"]')
    assert await page.get_attribute('[data-testid="open-P-C1"]', "aria-expanded") == "true"
    await page.click('[data-testid="open-P-C1"]')  # closes without a request, opens again likewise
    assert not await page.is_visible('[data-testid="unit-P-C1-K2"]')
    assert await page.get_attribute('[data-testid="open-P-C1"]', "aria-expanded") == "false"
    await page.click('[data-testid="open-P-C1"]')
    assert await page.is_visible('[data-testid="unit-P-C1-K2"]')
    await _axe(page, "org tree")
    await page.click('[data-testid="unit-P-C1-K2"] > a')
    await page.wait_for_url("**/console/org-units/P-C1-K2")
    await page.fill("#parent_code", "P-C2")
    await page.click('[data-testid="move-unit"]')
    await page.wait_for_selector('[data-testid="moved"]')
    assert await page.text_content('[data-testid="unit-parent"]') == "P-C2"
    await readme_shot(page, shots / "console-admin-unit-moved.png")
    await _axe(page, "unit page")

    # A service client: its secret on the page the create redirects to, once, and nowhere after.
    await page.click('nav a[href="/console/clients"]')
    await page.wait_for_url("**/console/clients")
    await _axe(page, "clients")
    await page.fill("#client-name", "人事系统")
    await page.check("#scope-people\\:write")
    await page.check("#scope-scores\\:read")
    await page.click('[data-testid="create-client"]')
    await page.wait_for_selector('[data-testid="secret"]')
    secret = await page.text_content('[data-testid="secret"]') or ""
    assert len(secret) >= 40
    await _axe(page, "secret page")
    await page.reload()  # Post/Redirect/Get: a reload asks again for the page, never posts a second client
    await page.wait_for_selector('[data-testid="secret-gone"]')
    assert secret not in await page.content()
    await _axe(page, "secret gone")
    await page.click('[data-testid="secret-done"]')
    await page.wait_for_url("**/console/clients")
    assert await page.locator('[data-testid="client-人事系统"]').count() == 1
    assert secret not in await page.content()

    # A webhook, then a test event in its delivery log.
    await page.click('nav a[href="/console/webhooks"]')
    await page.wait_for_url("**/console/webhooks")
    await page.fill("#webhook-url", "https://hooks.example.com/assess")
    await page.check("#event-score\\.finalized")
    await page.click('[data-testid="create-webhook"]')
    await page.wait_for_selector('[data-testid="secret"]')
    hook_secret = await page.text_content('[data-testid="secret"]') or ""
    await page.click('[data-testid="secret-done"]')
    await page.wait_for_url("**/console/webhooks/*")
    assert hook_secret not in await page.content()
    await page.click('[data-testid="send-test"]')
    await page.wait_for_selector('[data-testid="test-queued"]')
    assert await page.locator('[data-testid="delivery-webhook.test"]').count() == 1
    await readme_shot(page, shots / "console-admin-webhook.png")
    await _axe(page, "webhook page")

    await page.click('nav a[href="/console/tenant"]')
    await page.wait_for_selector('[data-testid="tenant-settings"]')
    await _axe(page, "tenant settings")

    browser_page.assert_offline()
    assert [
        e for e in browser_page.console_errors if "status of 422" not in e and "status of 410" not in e
    ] == [], browser_page.console_errors
