"""The candidate client at /take through an assessment with fixed sections around an adaptive one, in
a real phone-sized Chromium cut off from every host but loopback: the adaptive section is announced
(no going back, its length honest), shown one item at a time, each confirmed answer saved by the same
save call whose answer brings the next item; a reload and a second phone land on the current item; a
save whose answer is lost after the server handled it is retried and gets the same next item, with no
second answer in the database; offline, a confirmed answer stays queued (a reload too) and the page
asks for the network; back online the section goes on; the fixed section after it and the submission
work as for fixed forms. axe-core checks the new screens.

The calibration is made directly from known 2PL parameters, as in tests/test_adaptive_delivery.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from service.api.docs import asset_url
from service.auth.issue import issue_token
from service.auth.keys import ServiceKeys
from service.config import Settings
from service.demo import DEMO_CANDIDATE
from tests import browser
from tests.delivery_setup import FRAMEWORK, ITEMS, _l, publish_assessment
from tests.helpers import stored_json
from tests.test_adaptive_delivery import POOL, _item, _result
from tests.test_console_browser import _axe
from tests.test_take_browser import (  # noqa: F401  (fixtures)
    LOCAL,
    Phone,
    _set_offline,
    _stored,
    demo_tenant,
    phones,
    settings,
)

live_service = browser.live_service  # the fixture
FIXED_BEFORE = ["T-SC-1", "T-MC-1"]
FIXED_AFTER = ["T-LK-1"]
MAX_ITEMS = 4


def _token(settings: Settings, tenant_id: UUID, subject: str, roles: list[str]) -> str:
    return issue_token(
        ServiceKeys.load(settings.keys_file),
        issuer=settings.service_issuer,
        audience=settings.service_audience,
        kind="user",
        subject=subject,
        roles=roles,
        tenant_id=tenant_id,
    )


async def _publish_cat(
    base: str, settings: Settings, tenant_id: UUID, owner_url: str, **overrides: Any
) -> None:
    """Two fixed items, the adaptive section over the 12-item pool (2 to 4 items), one fixed item."""
    admin = {
        "Authorization": f"Bearer {_token(settings, tenant_id, 'demo-admin', ['tenant_admin', 'author'])}"
    }
    fixed = [item for item in ITEMS if item["code"] in FIXED_BEFORE + FIXED_AFTER]
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        imported = await http.post(
            "/v1/items/import", json={"items": fixed + [_item(c) for c in POOL]}, headers=admin
        )
        assert imported.status_code == 200, imported.text
        source = {
            "code": "source",
            "title": _l("来源", "Source"),
            "framework": {"code": FRAMEWORK, "version": 1},
            "sections": [{"code": "main", "items": [{"code": code} for code in POOL]}],
            "audience": {"org_units": ["P"]},
        }
        assert (await http.post("/v1/assessments", json=source, headers=admin)).status_code == 201
        conn = await asyncpg.connect(owner_url)
        try:
            calibration = await conn.fetchval(
                "INSERT INTO calibrations (tenant_id, assessment_id, requested_by, status, state, result, "
                "finished_at, published_at, published_by) SELECT $1, id, 'test', 'done', 'published', "
                "$2::jsonb, now(), now(), 'test' FROM assessments WHERE tenant_id = $1 AND code = 'source' "
                "RETURNING id",
                tenant_id,
                json.dumps(_result(list(POOL))),
            )
        finally:
            await conn.close()
        body = {
            "code": "take-cat",
            "title": _l("自适应测评", "Adaptive assessment"),
            "framework": {"code": FRAMEWORK, "version": 1},
            "sections": [
                {"code": "before", "items": [{"code": code} for code in FIXED_BEFORE]},
                {
                    "code": "cat",
                    "adaptive": {
                        "items": [{"code": code} for code in POOL],
                        "calibration": str(calibration),
                        "dimension": "AK",
                        "min_items": 2,
                        "max_items": MAX_ITEMS,
                        "target_se": 0.05,  # unreachable with 4 items: the section stops at max_items
                        "randomesque": 2,
                        "blueprint": {"AK.1": 0.5, "AK.3": 0.5},
                    },
                },
                {"code": "after", "items": [{"code": code} for code in FIXED_AFTER]},
            ],
            "audience": {"org_units": ["P"]},
            "time_limit_minutes": 30,
            **overrides,
        }
        await publish_assessment(http, admin, body)


async def _open(page: Any, base: str, token: str) -> None:
    """Signed in as the demo provider would leave it (a token in this tab), then start or continue."""
    await page.goto(base + "/take/")
    await page.evaluate(
        "t => sessionStorage.setItem('take.token', JSON.stringify({token: t, expires: Date.now() + 3e6}))",
        token,
    )
    await page.reload()
    card = await page.text_content('[data-code="take-cat"]') or ""
    assert f"最多 {len(FIXED_BEFORE) + MAX_ITEMS + len(FIXED_AFTER)} 题" in card, card
    await page.tap('[data-testid="start-take-cat"]')


async def _shown(page: Any) -> tuple[int, str]:
    """The adaptive item on screen: its number k in the section and its ref."""
    k = await page.get_attribute('[data-testid="adaptive-progress"]', "data-k")
    ref = await page.get_attribute("fieldset.item", "data-ref")
    return int(k or 0), ref or ""


async def _wait_for_k(page: Any, k: int) -> str:
    await page.wait_for_selector(f'[data-testid="adaptive-progress"][data-k="{k}"]', timeout=30_000)
    await page.wait_for_selector("fieldset.item:not([disabled])", timeout=30_000)
    return (await _shown(page))[1]


async def _axe_loaded(page: Any, label: str) -> None:
    """`_axe` on a page that has axe already (offline, it cannot be fetched)."""
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{label}: {bad}"


async def _rows(owner_url: str, attempt_id: str) -> list[tuple[str, int]]:
    conn = await asyncpg.connect(owner_url)
    try:
        return [
            (r["item_ref"], r["revision"])
            for r in await conn.fetch(
                "SELECT item_ref, revision FROM responses WHERE attempt_id = $1 ORDER BY saved_at",
                UUID(attempt_id),
            )
        ]
    finally:
        await conn.close()


async def test_an_adaptive_section_in_the_client(
    demo_tenant: UUID,
    live_service: str,
    settings: Settings,
    owner_url: str,
    phones: Phone,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    shots = tmp_path_factory.mktemp("take-adaptive-screens")
    print(f"screenshots: {shots}")
    await _publish_cat(live_service, settings, demo_tenant, owner_url)
    token = _token(settings, demo_tenant, DEMO_CANDIDATE, ["candidate"])
    context, phone = await phones()
    page = phone.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.type), asyncio.ensure_future(d.accept())))
    await _open(page, live_service, token)

    # The fixed section first: counted as a part of its own (the adaptive part's length is not known).
    await page.wait_for_selector("fieldset.item")
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    attempt_id = await page.evaluate("sessionStorage.getItem('take.attempt')")
    assert "共 2 题" in (await page.text_content("h1") or "")
    for _ in FIXED_BEFORE:
        await page.locator("fieldset.item .option").nth(2).tap()
        await page.tap('[data-testid="next"]')

    # Before the adaptive section: what is different about it, in the candidate's language.
    await page.wait_for_selector('[data-testid="adaptive-begin"]')
    assert "不能返回" in (await page.text_content('[data-testid="adaptive-noback"]') or "")
    assert f"最多 {MAX_ITEMS} 题" in (await page.text_content("main") or "")
    await page.screenshot(path=str(shots / "1-adaptive-intro.png"), full_page=True)
    await _axe(page, "adaptive intro")
    await page.tap("#lang")  # and in English
    await page.wait_for_selector('[data-testid="adaptive-begin"]:text("Begin this part")')
    assert "cannot go back" in (await page.text_content('[data-testid="adaptive-noback"]') or "")
    assert f"after {MAX_ITEMS} questions at most" in (await page.text_content("main") or "")
    await page.tap("#lang")
    await page.wait_for_selector('[data-testid="adaptive-begin"]:text("开始本部分")')
    await page.tap('[data-testid="adaptive-begin"]')

    # One item at a time, no way back; the answer is confirmed, then the server's next item shows.
    first = await _wait_for_k(page, 1)
    assert await page.locator('[data-testid="prev"]').count() == 0
    assert "不能返回" in (await page.text_content("main") or "")
    assert await page.is_disabled('[data-testid="adaptive-confirm"]')
    await _axe(page, "adaptive item")
    await page.locator("fieldset.item .option").nth(2).tap()
    await page.tap('[data-testid="adaptive-confirm"]')
    second = await _wait_for_k(page, 2)
    assert second != first
    await page.screenshot(path=str(shots / "2-adaptive-item.png"), full_page=True)

    # A reload lands on the same item; so does a second phone.
    await page.reload()
    assert await _wait_for_k(page, 2) == second
    context2, phone2 = await phones()
    await _open(phone2.page, live_service, token)
    assert await _wait_for_k(phone2.page, 2) == second
    assert await phone2.page.evaluate("sessionStorage.getItem('take.attempt')") == attempt_id
    phone2.assert_offline()
    await context2.close()

    # The save's answer is lost after the server handled it: the retry gets the same next item.
    lost: list[dict[str, Any]] = []

    async def lose_once(route: Any) -> None:
        if lost or route.request.method != "POST":
            await route.fallback()
            return
        response = await route.fetch()
        lost.append(await response.json())
        await route.abort("connectionreset")

    await context.route("**/v1/me/attempts/*/answers", lose_once)
    await page.locator("fieldset.item .option").nth(0).tap()
    await page.tap('[data-testid="adaptive-confirm"]')
    third = await _wait_for_k(page, 3)
    await context.unroute("**/v1/me/attempts/*/answers", lose_once)
    [handled] = lost[0]["results"]
    assert handled["item"] == second and handled["applied"]
    assert handled["next_item"]["ref"] == third  # the one the retry brought
    rows = await _rows(owner_url, attempt_id)
    assert [ref for ref, _ in rows].count(second) == 1 and dict(rows)[second] == 1

    # Offline: the confirmed answer is kept on the device (a reload too) and the page asks for the network.
    await page.add_script_tag(url=asset_url("vendor/axe-core/axe.min.js"))  # axe for the offline screen
    await _set_offline(context, True)
    await page.locator("fieldset.item .option").nth(2).tap()
    await page.tap('[data-testid="adaptive-confirm"]')
    await page.wait_for_selector('[data-testid="adaptive-wait"][data-state="offline"]')
    assert "恢复网络" in (await page.text_content('[data-testid="adaptive-wait"]') or "")
    await page.screenshot(path=str(shots / "3-adaptive-offline.png"), full_page=True)
    await _axe_loaded(page, "adaptive, offline")
    reloaded = await page.reload()
    assert "beforeunload" in dialogs
    assert reloaded is not None and reloaded.from_service_worker
    await page.wait_for_selector('[data-testid="adaptive-wait"][data-state="offline"]')
    assert (await _shown(page))[1] == third
    queued = (await page.evaluate(LOCAL))["queue"]
    assert [(e["item"], e["revision"]) for e in queued] == [(third, 1)]
    assert third not in dict(await _rows(owner_url, attempt_id))

    # Online again: the queued answer is saved and the section goes on.
    await _set_offline(context, False)
    fourth = await _wait_for_k(page, 4)
    assert (await _stored(owner_url, attempt_id))[third][1] == 1
    await page.locator("fieldset.item .option").nth(1).tap()
    await page.tap('[data-testid="adaptive-confirm"]')

    # The section ends at its maximum length; the fixed section after it; submit as for fixed forms.
    await page.wait_for_selector(f'[data-testid="adaptive-done"][data-given="{MAX_ITEMS}"]')
    await _axe(page, "adaptive part complete")
    await page.tap('[data-testid="next"]')
    await page.wait_for_selector(f'fieldset.item[data-ref="{FIXED_AFTER[0]}"]')
    await page.locator("fieldset.item .point").nth(3).tap()
    await page.tap('[data-testid="prev"]')  # back out of the fixed section: the adaptive part is complete
    await page.wait_for_selector('[data-testid="adaptive-done"]')
    await page.tap('[data-testid="next"]')
    await page.tap('[data-testid="finish"]')
    await page.wait_for_selector('[data-testid="confirm-submit"]')
    assert await page.locator('[data-testid="unanswered"]').count() == 0
    await page.tap('[data-testid="confirm-submit"]')
    await page.wait_for_selector('[data-testid="submitted-by"][data-by="candidate"]')
    answered = len(FIXED_BEFORE) + MAX_ITEMS + len(FIXED_AFTER)
    assert await page.get_attribute('[data-testid="counted"]', "data-count") == str(answered)
    rows = await _rows(owner_url, attempt_id)
    assert len(rows) == answered and len({ref for ref, _ in rows}) == answered
    adaptive_refs = [first, second, third, fourth]
    assert all(dict(rows)[ref] == 1 for ref in adaptive_refs)  # each confirmed once, never replaced
    conn = await asyncpg.connect(owner_url)
    try:
        document = await stored_json(conn, attempt_id)
    finally:
        await conn.close()
    scored = {item["item"] for item in document["items"]}
    assert scored == set(FIXED_BEFORE + FIXED_AFTER + adaptive_refs)
    phone.assert_offline()
    assert not [e for e in phone.console_errors if "Failed to load resource" not in e], phone.console_errors


async def _begin(page: Any) -> str:
    """Answer the fixed items before the adaptive section and begin it; the first adaptive item's ref."""
    await page.wait_for_selector("fieldset.item")
    for _ in FIXED_BEFORE:
        await page.locator("fieldset.item .option").nth(2).tap()
        await page.tap('[data-testid="next"]')
    await page.tap('[data-testid="adaptive-begin"]')
    return await _wait_for_k(page, 1)


async def test_the_deadline_in_an_adaptive_section_submits_what_the_server_has(
    demo_tenant: UUID, live_service: str, settings: Settings, owner_url: str, phones: Phone
) -> None:
    """As for fixed forms: the server submits at the deadline; an answer confirmed offline that never
    reached it is named as not counted."""
    await _publish_cat(live_service, settings, demo_tenant, owner_url, grace_seconds=0)
    context, phone = await phones()
    page = phone.page
    page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await _open(page, live_service, _token(settings, demo_tenant, DEMO_CANDIDATE, ["candidate"]))
    first = await _begin(page)
    # the service worker in place before the network goes (a request it lets through while it is
    # still attaching can miss Chromium's offline emulation and the route guard)
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    attempt_id = await page.evaluate("sessionStorage.getItem('take.attempt')")
    conn = await asyncpg.connect(owner_url)
    try:  # the deadline moves to 12 s from now; the next save's answer carries the new time left
        await conn.execute(
            "UPDATE attempts SET deadline = now() + interval '12 seconds' WHERE id = $1", UUID(attempt_id)
        )
    finally:
        await conn.close()
    await page.locator("fieldset.item .option").nth(2).tap()
    await page.tap('[data-testid="adaptive-confirm"]')
    second = await _wait_for_k(page, 2)
    await _set_offline(context, True)
    await page.locator("fieldset.item .option").nth(2).tap()
    await page.tap('[data-testid="adaptive-confirm"]')
    await page.wait_for_selector('[data-testid="adaptive-wait"][data-state="offline"]')
    await page.wait_for_selector("h1:text('时间到')", timeout=30_000)
    held = await _stored(owner_url, attempt_id)
    assert set(held) == {*FIXED_BEFORE, first}, held  # nothing reached the server meanwhile
    await _set_offline(context, False)
    await page.wait_for_selector('[data-testid="submitted-by"][data-by="deadline"]', timeout=30_000)
    counted = len(FIXED_BEFORE) + 1
    stored = await _stored(owner_url, attempt_id)
    assert await page.get_attribute('[data-testid="counted"]', "data-count") == str(counted), stored
    assert await page.locator('[data-testid="lost"] li').count() == 1  # the answer confirmed offline
    stored = await _stored(owner_url, attempt_id)
    assert set(stored) == {*FIXED_BEFORE, first} and second not in stored
    conn = await asyncpg.connect(owner_url)
    try:
        submitted_by = await conn.fetchval(
            "SELECT submitted_by FROM attempts WHERE id = $1", UUID(attempt_id)
        )
        document = await stored_json(conn, attempt_id)
    finally:
        await conn.close()
    assert submitted_by == "deadline"
    scored = {item["item"] for item in document["items"]}
    # the fixed form whole (its unanswered item at no credit), of the adaptive section the answered item only
    assert scored == {*FIXED_BEFORE, *FIXED_AFTER, first}
    phone.assert_offline()
