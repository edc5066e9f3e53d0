"""The console's whole authoring journey in one real browser, cut off from everything but loopback.

A new tenant's admin signs in through the region's OpenID provider (a loopback fake from
tests/test_console_oidc.py whose authorization page approves at once, as a provider does for a user
already signed in there: the real flow, not the demo provider), adopts the teacher-digital-literacy
template, renames a dimension in both languages, changes a weight and sees the server's message
next to the weights as they type, fixes it, reorders on a dimension's page with the keyboard,
publishes; uploads an image and authors one item of every type (the single-choice one showing the
image, with its text alternative), imports ten more from the XLSX template the console hands out;
composes an assessment with a pool, checks it, previews a drawn form, publishes it, and signs out.
axe-core finds no serious problem on any page on the way. One live service for all of it (starting
one costs seconds). Screenshots of each main screen go to a temporary directory (printed), or to
$CONSOLE_SCREENSHOTS (the README's are made with
`CONSOLE_SCREENSHOTS=docs/screenshots ./dev test -n 0 tests/test_console_journey_browser.py`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from litestar import Litestar, Request, get
from litestar.response import Redirect

from service.auth.keys import ServiceKeys
from service.console.framework_form import dom_id
from tests.browser import OfflinePage, browser_page, live_service, readme_shot  # noqa: F401  (fixtures)
from tests.helpers import IdentityProvider, make_tenant, operator, user
from tests.test_console_browser import _axe
from tests.test_console_oidc import CLIENT_ID, FakeProvider, on_loopback
from tests.test_item_spreadsheet import ROWS, filled

FRAMEWORK = "teachers"
# The spreadsheet test's rows are written for the cadre framework; these are the teacher template's.
INDICATORS = {"AK.1": "1.1.1", "AK.2": "1.1.2", "HMC.3": "3.1.1", "HMC.2": "3.1.2", "ES.1": "4.1.1"}


class SignedInProvider(FakeProvider):
    """The fake provider with an authorization page: the user is already signed in there as `subject`."""

    subject, roles = "admin-zhang", "tenant_admin author"

    def app(self) -> Litestar:
        base = super().app()

        @get("/authorize")
        async def authorize(request: Request) -> Redirect:
            query = request.query_params
            assert query.get("client_id") == CLIENT_ID and query.get("code_challenge_method") == "S256"
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "challenge": query["code_challenge"],
                "nonce": query["nonce"],
                "subject": self.subject,
                "roles": self.roles,
            }
            return Redirect(f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}")

        base.register(authorize)
        return base


@pytest.fixture
async def signed_in_provider() -> AsyncIterator[FakeProvider]:
    """As tests/test_console_oidc.py's `provider` fixture, with the authorization page."""
    async with on_loopback(SignedInProvider(IdentityProvider("https://idp.region.example"))) as fake:
        yield fake


async def _new_tenant(base_url: str, keys: ServiceKeys, fake: FakeProvider) -> None:
    """A new tenant `region` trusting the fake provider for the console, with a small org tree and
    people (what the operator and the HR feed bring; no framework, no item)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        tenant = await make_tenant(http, keys, "region")
        made = await http.post(
            "/v1/tenants/region/issuers",
            headers=operator(keys),
            json={
                "issuer": fake.idp.issuer,
                "audience": CLIENT_ID,
                "jwks": fake.idp.jwks(),
                "roles_claim": "roles",
                "default_roles": [],
                "allowed_roles": ["tenant_admin", "author", "rater"],
                "discovery_url": f"{fake.base}/.well-known/openid-configuration",
                "console_client_id": CLIENT_ID,
            },
        )
        assert made.status_code == 201, made.text
        admin = user(keys, tenant["id"], ["tenant_admin"])
        for unit in (
            {"code": "GZ", "name": "贵州省", "level": "province"},
            {"code": "GZ-GY", "name": "贵阳市", "level": "city", "parent_code": "GZ"},
            {"code": "GZ-ZY", "name": "遵义市", "level": "city", "parent_code": "GZ"},
        ):
            assert (await http.post("/v1/org-units", json=unit, headers=admin)).status_code == 201
        rows = [
            {"external_id": f"t-{i:03d}", "org_unit_code": ("GZ-GY", "GZ-ZY")[i % 2], "category": "teacher"}
            for i in range(12)
        ]
        assert (await http.post("/v1/people/bulk", json={"people": rows}, headers=admin)).status_code == 200


def tiny_png(width: int = 48, height: int = 24) -> bytes:
    """A real PNG (red), so the browser has something to draw."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def until(page, expression: str, seconds: float = 10) -> None:  # type: ignore[no-untyped-def]
    """Poll `expression` until it is true. (Playwright's wait_for_function evaluates its predicate with
    eval, which the console's CSP refuses; `evaluate` is not eval.)"""
    for _ in range(int(seconds * 10)):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never true: {expression}")


def _teacher_rows() -> dict[str, list[dict[str, Any]]]:
    """The spreadsheet test's ten rows, on the teacher template's indicators."""

    def moved(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for old, new in INDICATORS.items():
            value = value.replace(old, new)
        return value

    return {sheet: [{k: moved(v) for k, v in row.items()} for row in rows] for sheet, rows in ROWS.items()}


async def _options(page, texts: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    for i, (zh, en) in enumerate(texts):
        await page.fill(f"#f-options-{i}-key", "abcd"[i])
        await page.fill(f"#f-options-{i}-text-zh-CN", zh)
        await page.fill(f"#f-options-{i}-text-en", en)


async def _author(
    page, base: str, kind: str, code: str, stem: tuple[str, str], indicator: str, fill, shots: Path
) -> None:  # type: ignore[no-untyped-def]
    """One item through its form: the common fields, then the type's own (`fill`), saved; the item's
    page shows the candidate's preview in both languages."""
    await page.goto(f"{base}/console/items/new?type={kind}&framework={FRAMEWORK}")
    await page.wait_for_selector("#f-code")
    await page.fill("#f-code", code)
    await page.fill("#f-stem-zh-CN", stem[0])
    await page.fill("#f-stem-en", stem[1])
    await page.select_option("#f-loadings-0-indicator", indicator)
    await page.fill("#f-loadings-0-weight", "1")
    await fill()
    await page.wait_for_selector(f'[data-testid="preview-en"] >> text={stem[1]}')
    await page.screenshot(path=str(shots / f"console-item-{kind}.png"), full_page=True)
    await _axe(page, f"{kind} form")
    await page.click('[data-testid="save-item"]')
    await page.wait_for_url(f"**/console/items/{code}")
    assert await page.locator('[data-testid="preview-zh-CN"]').count() == 1
    await _axe(page, f"{kind} item page")


async def test_a_new_admin_adopts_edits_publishes_authors_imports_and_publishes_an_assessment(
    live_service: str,
    browser_page: OfflinePage,
    signed_in_provider: FakeProvider,
    service_keys: ServiceKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    wanted = os.environ.get("CONSOLE_SCREENSHOTS")
    shots = Path(wanted) if wanted else tmp_path_factory.mktemp("console-journey")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {shots}")
    await _new_tenant(live_service, service_keys, signed_in_provider)
    page = browser_page.page
    page.set_default_timeout(30000)

    # Sign in through the region's provider: discovery, code + PKCE, back on the console's home.
    await page.goto(live_service + "/console/login?tenant=region&lang=zh-CN")
    await page.wait_for_url(live_service + "/console")
    assert await page.text_content('[data-testid="user"]') == "admin-zhang"
    await _axe(page, "home")

    # Adopt the teacher template from the gallery; its draft opens in the editor's overview.
    await page.click('nav a[href="/console/templates"]')
    await page.wait_for_url("**/console/templates")
    await _axe(page, "template gallery")
    card = page.locator('[data-testid="template-teacher-digital-literacy"]')
    await card.locator('input[name="code"]').fill(FRAMEWORK)
    await card.locator('button[type="submit"]').click()
    await page.wait_for_url("**/console/frameworks")
    await _axe(page, "framework list")
    await page.click(f'[data-testid="draft-{FRAMEWORK}"]')
    editor = f"**/console/frameworks/{FRAMEWORK}/versions/1"
    await page.wait_for_url(editor)
    await _axe(page, "framework overview")

    # Rename the first dimension in both languages and save (htmx swaps the form in place).
    await page.fill('[name="/dimensions/0/name/zh-CN"]', "数字化意识与态度")
    async with page.expect_response("**/versions/1/check"):  # checked as you type
        await page.fill('[name="/dimensions/0/name/en"]', "Digital awareness and attitude")
        await page.keyboard.press("Tab")
    async with page.expect_response(editor) as saved:
        await page.click('[data-testid="save"]')
    assert (await saved.value).status == 200
    assert await page.input_value('[name="/dimensions/0/name/en"]') == "Digital awareness and attitude"

    # A weight that breaks the sum: the server's message appears next to the weights as they type.
    slot = "#" + dom_id("e", "/dimensions")
    async with page.expect_response("**/versions/1/check"):
        await page.fill('[name="/dimensions/1/weight"]', "0.5")
        await page.keyboard.press("Tab")
    await until(page, f"document.querySelector('{slot}').textContent.includes('1.3')")
    assert "1" in (await page.text_content('[data-testid="problem-count"]') or "")
    await page.locator(slot).scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "console-framework-weight-error.png"))
    await _axe(page, "framework overview with a problem")
    # Fixed: the message goes away; saved.
    async with page.expect_response("**/versions/1/check"):
        await page.fill('[name="/dimensions/1/weight"]', "0.2")
        await page.keyboard.press("Tab")
    await until(page, f"document.querySelector('{slot}').textContent.trim() === ''")
    async with page.expect_response(editor):
        await page.click('[data-testid="save"]')

    # One dimension's page: its sub-dimensions, indicators and descriptors; keyboard reordering there.
    await page.click('[data-testid="edit-dimension-0"]')
    await page.wait_for_url(f"**/console/frameworks/{FRAMEWORK}/versions/1/dimensions/0")
    first = await page.input_value('[name="/dimensions/0/children/0/code"]')
    await page.focus('button[value="down /dimensions/0/children/0"]')
    async with page.expect_response("**/versions/1/dimensions/0"):
        await page.keyboard.press("Enter")
    await until(
        page, "document.activeElement && document.activeElement.value === 'up /dimensions/0/children/1'"
    )
    assert await page.input_value('[name="/dimensions/0/children/1/code"]') == first
    await page.screenshot(path=str(shots / "console-framework-dimension.png"))
    await _axe(page, "framework dimension page")

    # Publish from the overview.
    await page.click('[data-testid="overview"]')
    await page.wait_for_url(editor)
    await page.click('[data-testid="publish"]')
    await page.wait_for_url(f"**/console/frameworks/{FRAMEWORK}")
    row = await page.text_content('[data-testid="version-1"]') or ""
    assert "已发布" in row, row
    await _axe(page, "framework page")
    # The published version, read-only, keeps both names.
    await page.click('[data-testid="open-1"]')
    await page.wait_for_url(editor)
    assert await page.input_value('[name="/dimensions/0/name/en"]') == "Digital awareness and attitude"
    assert await page.locator('[data-testid="save"]').count() == 0
    await _axe(page, "published version")
    await page.select_option("#lang", "en")  # the rest in English, as this admin prefers
    await page.click('form[action="/console/language"] button')
    await page.wait_for_selector("text=Sign out")

    # An image, uploaded on the images page.
    files = tmp_path_factory.mktemp(
        "console-journey-files"
    )  # what the user uploads: never in $CONSOLE_SCREENSHOTS
    png = files / "screenshot-of-an-answer.png"
    png.write_bytes(tiny_png())
    await page.click('nav a[href="/console/images"]')
    await page.wait_for_url("**/console/images")
    await page.set_input_files("#file", str(png))
    await page.click('[data-testid="upload-image"]')
    await page.wait_for_selector('[data-testid="stored-image"]')
    await _axe(page, "images")

    # One item of every type; the single-choice one shows the image, with its text alternative.
    async def single_choice() -> None:
        await page.select_option("#f-image", index=1)
        await page.fill("#f-image_alt-zh-CN", "一段AI回答的截图，其中引用了不存在的文件")
        await page.fill(
            "#f-image_alt-en", "A screenshot of an AI answer citing a document that does not exist"
        )
        await _options(
            page, [("编造了来源", "It invents a source"), ("没有问题", "Nothing"), ("太短", "Too short")]
        )
        await page.check("#f-key-correct-0")
        await until(page, "document.querySelector('#preview img')?.naturalWidth > 0")
        alt = await page.get_attribute("#preview [lang=en] img.item-image", "alt")
        assert alt == "A screenshot of an AI answer citing a document that does not exist"

    async def multiple_choice() -> None:
        await _options(
            page, [("核对来源", "Check sources"), ("照抄", "Copy it"), ("问同事", "Ask a colleague")]
        )
        await page.check("#f-key-correct-0")
        await page.check("#f-key-correct-2")
        await page.select_option("#f-key-partial_credit", "per_option")

    async def situational_judgement() -> None:
        await _options(page, [("先核实再用", "Verify, then use"), ("直接用", "Use as is")])
        await page.click('button[value="add_option"]')  # the form again, with a credit column per indicator
        await page.wait_for_selector("#f-key-options-0-credit-3-1-1")
        await page.fill("#f-key-options-0-credit-3-1-1", "1")
        await page.fill("#f-key-options-1-credit-3-1-1", "0")

    async def likert() -> None:
        # A weight that does not sum to 1: refused on saving, next to the loadings; then fixed.
        await page.fill("#f-loadings-0-weight", "0.5")
        await page.wait_for_selector('[data-testid="preview-problems"] >> text=not 1')
        await page.click('[data-testid="save-item"]')
        await page.wait_for_selector('[data-testid="error-loadings"]')
        await page.screenshot(path=str(shots / "console-item-error.png"), full_page=True)
        await _axe(page, "item form with an error")
        await page.fill("#f-loadings-0-weight", "1")
        await page.check("#f-key-reverse")
        for n, (zh, en) in enumerate(
            (
                ("非常不同意", "Strongly disagree"),
                ("不同意", "Disagree"),
                ("中立", "Neutral"),
                ("同意", "Agree"),
                ("非常同意", "Strongly agree"),
            )
        ):
            await page.fill(f"#f-scale_labels-{n}-zh-CN", zh)
            await page.fill(f"#f-scale_labels-{n}-en", en)
        await page.wait_for_selector('[data-testid="preview-en"] >> text=Strongly agree')

    async def ordering() -> None:
        await _options(page, [("提问", "Ask"), ("核对", "Check"), ("使用", "Use")])

    async def open_response() -> None:
        await page.select_option("#f-task", "critique_output")
        await page.fill("#f-key-rater_notes-zh-CN", "看是否指出事实错误")
        await page.fill("#f-key-rater_notes-en", "Look for the factual errors named")

    for kind, fill, indicator in (
        ("single_choice", single_choice, "1.1.1"),
        ("multiple_choice", multiple_choice, "1.1.2"),
        ("situational_judgement", situational_judgement, "3.1.1"),
        ("likert", likert, "3.1.2"),
        ("ordering", ordering, "3.1.1"),
        ("open_response", open_response, "4.1.1"),
    ):
        code = "T-" + kind.upper().replace("_", "-")
        await _author(
            page, live_service, kind, code, (f"{kind} 题干", f"Stem of {kind}"), indicator, fill, shots
        )

    # Ten more from the template the import page hands out.
    await page.goto(live_service + "/console/items/import")
    async with page.expect_download() as downloading:
        await page.click('[data-testid="download-template"]')
    assert (await downloading.value).suggested_filename == "item-import-template.xlsx"
    template = await (await page.request.get(live_service + "/console/items/import/template")).body()
    workbook = files / "items.xlsx"
    workbook.write_bytes(filled(template, _teacher_rows()))
    await page.select_option("#framework", FRAMEWORK)
    await page.set_input_files("#file", str(workbook))
    await page.click('[data-testid="import-items"]')
    await page.wait_for_selector('[data-testid="import-result"]')
    assert "10 new" in (await page.text_content('[data-testid="import-result"]') or "")
    await _axe(page, "import page")
    await page.goto(live_service + "/console/items")
    assert await page.locator('#item-results tr[data-testid^="item-"]').count() == 16
    await page.screenshot(path=str(shots / "console-items.png"), full_page=True)
    await _axe(page, "item list")

    # An assessment: a fixed item and a pool drawing 3 of 6, for one city's teachers.
    await page.click('nav a[href="/console/assessments"]')
    await page.wait_for_url("**/console/assessments")
    await _axe(page, "assessment list")
    await page.click('[data-testid="new-assessment"]')
    await page.wait_for_url("**/console/assessments/-/new")
    await page.fill("#code", "gz-teachers-2026")
    await page.fill("#title_zh", "贵州省教师数字素养测评")
    await page.fill("#title_en", "Guizhou teachers' digital literacy")
    await page.select_option("#framework", FRAMEWORK)
    await page.fill("#framework_version", "1")
    await page.fill("#time_limit_minutes", "40")
    # The fixed item found with the item finder (htmx), added by its button (assessments.js).
    await page.click("#item-finder summary")
    await page.fill("#item_q", "T-SINGLE")
    await page.press("#item_q", "Enter")  # searches (assessments.js), does not submit the composer
    await page.wait_for_selector('[data-testid="found-T-SINGLE-CHOICE"]')
    await page.select_option("#finder-target", "s0_items")
    await page.click('[data-testid="found-T-SINGLE-CHOICE"] button')
    assert await page.input_value("#s0_items") == "T-SINGLE-CHOICE"
    await page.fill("#s0_pool_items", "X-SC-1\nX-SC-2\nX-MC-1\nX-MC-2\nX-SJ-1\nX-OR-1")
    await page.fill("#s0_pool_draw", "3")
    await page.click("#unit-tree summary")
    await page.wait_for_selector('[data-testid="unit-GZ"]')
    await page.click('[data-testid="unit-GZ"] button:has-text("Open")')
    await page.wait_for_selector('[data-testid="unit-GZ-GY"]')
    await page.click('[data-testid="unit-GZ-GY"] button:has-text("Add")')
    await page.wait_for_selector('[data-testid="audience-count"][data-count="6"]')
    await page.check("#cat-civil_servant")  # the unit's people are teachers: nobody is left
    await page.wait_for_selector('[data-testid="audience-count"][data-count="0"]')
    await page.uncheck("#cat-civil_servant")
    await page.wait_for_selector('[data-testid="audience-count"][data-count="6"]')
    # One more person by name, from another unit's people.
    await page.click('[data-testid="unit-GZ-ZY"] button:has-text("People")')
    await page.wait_for_selector('[data-testid="person-t-001"]')
    await page.click('[data-testid="person-t-001"] button')
    await page.wait_for_selector('[data-testid="audience-count"][data-count="7"]')
    await _axe(page, "composer")
    await page.locator("#sections").screenshot(path=str(shots / "console-assessment-sections.png"))
    await page.locator("#audience").screenshot(path=str(shots / "console-assessment-audience.png"))
    await page.click('[data-testid="check"]')
    await page.wait_for_selector('[data-testid="check-ok"]')
    await _axe(page, "checked assessment")

    # A drawn form before publishing, as a candidate would get it.
    await page.click('[data-testid="preview"]')
    await page.wait_for_selector('[data-testid="draft-preview"]')
    assert await page.locator('li[data-testid^="previewed-"]').count() == 4
    await _axe(page, "preview")
    await page.screenshot(
        path=str(shots / "console-assessment-preview.png"),
        clip={"x": 0, "y": 0, "width": 1280, "height": 640},
    )
    await page.go_back()

    # Publish: the summary, its status and audience.
    await page.wait_for_selector('[data-testid="publish"]')
    await page.click('[data-testid="publish"]')
    await page.wait_for_selector('[data-testid="status"]:has-text("Published")')
    assert await page.get_attribute('[data-testid="audience-count"]', "data-count") == "7"
    await _axe(page, "published assessment")
    await readme_shot(page, shots / "console-assessment-published.png")

    # Sign out: back at the sign-in page, the console closed.
    await page.click('[data-testid="logout"]')
    await page.wait_for_url("**/console/login")
    await _axe(page, "sign-in page")
    await page.goto(live_service + "/console/assessments")
    assert page.url.endswith("/console/login")
    browser_page.assert_offline()
    # Any CSP violation or script error shows up here; the refused item's 422 is the one expected entry.
    assert [e for e in browser_page.console_errors if "status of 422" not in e] == [], (
        browser_page.console_errors
    )


@pytest.fixture(autouse=True)
def _show_browser_errors(request: pytest.FixtureRequest) -> object:
    """On failure, what the page's console said (htmx logs refused and aborted requests there)."""
    yield None
    page = request.node.funcargs.get("browser_page") if hasattr(request.node, "funcargs") else None
    if page is not None and page.console_errors:
        print("browser console:", page.console_errors)
