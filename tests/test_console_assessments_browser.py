"""The composer on a draft with an adaptive section, in a real browser cut off from everything but
loopback: the adaptive section shows read-only with its settings (pretest too) and a pointer to the
API, the item finder does not offer it as a target, and saving after an edit elsewhere leaves it
exactly as stored (PostgreSQL's own text of it, before and after). axe-core checks the screen.
"""

from __future__ import annotations

from uuid import UUID

import msgspec
import pytest

from service.assessments import assessments
from service.assessments.model import AssessmentContent
from service.db.pool import create_pool, tenant_transaction
from tests.browser import OfflinePage, browser_page, live_service  # noqa: F401  (fixtures)
from tests.test_console_assessments import _adaptive_draft
from tests.test_console_browser import _axe, demo_seeded, settings  # noqa: F401  (fixtures)
from tests.test_console_frameworks import _demo_id
from tests.test_console_marking_browser import _session

SECTIONS = (
    "SELECT array_agg(s::text ORDER BY n) FROM assessments, jsonb_array_elements(content->'sections')"
    " WITH ORDINALITY AS t(s, n) WHERE code = $1"
)


async def _draft(app_url: str) -> tuple[UUID, list[str]]:
    """The adaptive draft stored in the demo tenant; its tenant id and its sections as stored."""
    pool = await create_pool(app_url, min_size=1, max_size=1)
    try:
        tenant_id = await _demo_id(pool)
        async with tenant_transaction(pool, tenant_id) as conn:
            await assessments.create_assessment(
                conn, msgspec.convert(_adaptive_draft("cat-draft"), AssessmentContent)
            )
            return tenant_id, list(await conn.fetchval(SECTIONS, "cat-draft"))
    finally:
        await pool.close()


async def _stored(app_url: str, tenant_id: UUID) -> tuple[list[str], str]:
    pool = await create_pool(app_url, min_size=1, max_size=1)
    try:
        async with tenant_transaction(pool, tenant_id) as conn:
            sections = list(await conn.fetchval(SECTIONS, "cat-draft"))
            title = await conn.fetchval(
                "SELECT content->'title'->>'en' FROM assessments WHERE code = 'cat-draft'"
            )
            return sections, title
    finally:
        await pool.close()


async def test_the_composer_shows_an_adaptive_section_and_keeps_it_on_save(
    demo_seeded: None,
    live_service: str,
    browser_page: OfflinePage,
    app_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    shots = tmp_path_factory.mktemp("composer-adaptive")
    print(f"screenshots: {shots}")
    tenant_id, before = await _draft(app_url)
    page = browser_page.page
    session_id = await _session(app_url, str(tenant_id), ["tenant_admin", "author"], "demo-admin")
    await page.context.add_cookies(  # type: ignore[attr-defined]
        [{"name": "assess_console", "value": session_id, "domain": "127.0.0.1", "path": "/console"}]
    )

    await page.goto(live_service + "/console/assessments/cat-draft")
    adaptive = page.locator('[data-testid="adaptive-cat"]')
    await adaptive.wait_for()
    shown = await adaptive.inner_text()
    assert "0b6f8a52-7d1e-4c59-9a57-3c1f3d0e2a11" in shown and "2 to 4" in shown and "0.35" in shown
    assert "AK.1 0.25" in shown
    assert await page.text_content('[data-testid="pretest-cat"]') == (
        "2 items per attempt: CAL-AA-003, CAL-AA-004@1"
    )
    note = page.locator('[data-testid="adaptive-note-1"]')
    assert "PUT /v1/assessments/cat-draft" in (await note.inner_text())
    assert await note.locator("a").get_attribute("href") == "/docs"
    # No editable input for it, and the item finder does not offer it as a target.
    assert await page.locator('[name="s1_items"], [name="s1_pool_items"], [name="s1_code"]').count() == 0
    targets = await page.locator("#finder-target option").evaluate_all("os => os.map(o => o.value)")
    assert targets == ["s0_items", "s0_pool_items", "s2_items", "s2_pool_items"]
    await page.screenshot(path=str(shots / "composer-adaptive.png"), full_page=True)
    await _axe(page, "composer with an adaptive section")

    # An edit elsewhere, saved: the adaptive section (and every other) is as stored, byte for byte.
    await page.fill("#title_en", "Adaptive draft, renamed")
    await page.click('[data-testid="save"]')
    await page.wait_for_url("**/console/assessments/cat-draft?saved=1")
    await page.locator('[data-testid="saved"]').wait_for()
    await page.locator('[data-testid="adaptive-cat"]').wait_for()
    after, title = await _stored(app_url, tenant_id)
    assert title == "Adaptive draft, renamed"
    assert after == before
    browser_page.assert_offline()
    assert browser_page.console_errors == []
