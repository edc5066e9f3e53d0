"""A tenant admin in a real browser sets up credentials and the learning record store: the issuer profile
(a refused origin named next to its field, then saved with EdDSA), an assessment's credential settings
reached from the assessment list, and the LRS settings with a connection test that names the LRS's
answer. axe checks every screen, the refusals included."""

from __future__ import annotations

import msgspec
import pytest

from service.config import Settings
from service.demo import DEMO_ASSESSMENT
from tests.browser import OfflinePage, browser_page, live_service  # noqa: F401  (fixtures)
from tests.test_console_browser import _axe, demo_seeded  # noqa: F401  (fixtures)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The live service in demo mode; an LRS on loopback allowed (the test points it at the service)."""
    return msgspec.structs.replace(settings, demo=True, webhook_allow_loopback=True)


async def test_admin_sets_up_the_issuer_credentials_and_the_lrs(
    demo_seeded: None,
    live_service: str,
    browser_page: OfflinePage,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    page = browser_page.page
    shots = tmp_path_factory.mktemp("console-interop-screens")
    print(f"screenshots: {shots}")
    await page.goto(live_service + "/console/login")
    await page.click('[data-testid="demo-sign-in"]')
    await page.wait_for_url("**/console/demo-idp/authorize?**")
    await page.click('[data-testid="persona-admin"]')
    await page.wait_for_url(live_service + "/console")

    # The issuer: an http origin is refused next to its field; then saved, with an Ed25519 key.
    await page.click('nav a[href="/console/credential-issuer"]')
    await page.wait_for_selector('[data-testid="no-issuer"]')
    await _axe(page, "issuer, none yet")
    await page.fill("#name_zh", "示范省教育厅")
    await page.fill("#name_en", "Demo Provincial Department of Education")
    await page.fill("#issuer-url", "http://assess.example.gov.cn")
    await page.click('[data-testid="save-issuer"]')
    await page.wait_for_selector('[data-testid="error-url"]')
    assert await page.get_attribute("#issuer-url", "aria-invalid") == "true"
    assert await page.input_value("#name_zh") == "示范省教育厅"
    await _axe(page, "issuer refused")
    await page.fill("#issuer-url", "https://assess.example.gov.cn")
    await page.select_option("#algorithm", "EdDSA")
    await page.click('[data-testid="save-issuer"]')
    await page.wait_for_selector('[data-testid="issuer-saved"]')
    assert await page.text_content('[data-testid="issuer-algorithm"]') == "EdDSA"
    assert (await page.text_content('[data-testid="issuer-did"]') or "").startswith(
        "did:web:assess.example.gov.cn:credentials:"
    )
    assert await page.locator("#algorithm").count() == 0  # chosen once
    await page.screenshot(path=str(shots / "1-issuer.png"), full_page=True)
    await _axe(page, "issuer saved")

    # An assessment's settings, from the list: switched on with no dimension is refused, then saved.
    await page.click('nav a[href="/console/assessments"]')
    await page.click(f'[data-testid="credentials-{DEMO_ASSESSMENT}"]')
    await page.wait_for_url(f"**/console/assessments/{DEMO_ASSESSMENT}/credentials")
    await _axe(page, "credential settings")
    await page.check("#enabled")
    await page.click('[data-testid="save-settings"]')
    await page.wait_for_selector('[data-testid="error-dimensions"]')
    await _axe(page, "credential settings refused")
    first = page.locator('select[id^="dim-"]').first
    await first.select_option(index=2)
    chosen = await first.input_value()
    await page.select_option("#overall", index=1)
    await page.fill("#valid_days", "730")
    await page.click('[data-testid="save-settings"]')
    await page.wait_for_selector('[data-testid="settings-saved"]')
    assert await first.input_value() == chosen and await page.is_checked("#enabled")
    assert await page.input_value("#valid_days") == "730"
    await page.screenshot(path=str(shots / "2-settings.png"), full_page=True)
    await _axe(page, "credential settings saved")

    # The LRS: saved, then the connection test names the LRS's answer (here the service's own 404).
    await page.click('nav a[href="/console/lrs"]')
    await page.wait_for_selector('[data-testid="no-lrs"]')
    await _axe(page, "LRS, none yet")
    await page.fill("#lrs-url", live_service + "/no-lrs-here/xAPI/")
    await page.fill("#lrs-key", "assess")
    await page.fill("#lrs-secret", "s3cret-lrs")
    await page.fill("#lrs-home_page", "ftp://idp.example.gov.cn")
    await page.click('[data-testid="save-lrs"]')
    await page.wait_for_selector('[data-testid="error-home_page"]')
    assert await page.input_value("#lrs-secret") == ""  # never written back
    await _axe(page, "LRS refused")
    await page.fill("#lrs-secret", "s3cret-lrs")
    await page.fill("#lrs-home_page", "https://idp.example.gov.cn")
    await page.click('[data-testid="save-lrs"]')
    await page.wait_for_selector('[data-testid="lrs-saved"]')
    assert "s3cret-lrs" not in await page.content()
    await page.click('[data-testid="test-lrs"]')
    await page.wait_for_selector('[data-testid="lrs-test-failed"]')
    assert "HTTP 404" in (await page.text_content('[data-testid="lrs-test-failed"]') or "")
    assert await page.locator('[data-testid="statement-log"]').count() == 1
    await page.screenshot(path=str(shots / "3-lrs.png"), full_page=True)
    await _axe(page, "LRS tested")

    browser_page.assert_offline()
    assert [e for e in browser_page.console_errors if "status of 422" not in e] == [], (
        browser_page.console_errors
    )
