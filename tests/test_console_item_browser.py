"""Writing items in a real browser: upload an image, author a single-choice item showing it and a Likert
item (a weight error seen and fixed), watching the live preview in both languages, then import ten more
from the XLSX template the page hands out. axe-core checks each screen; screenshots go to a temporary
directory (printed)."""

from __future__ import annotations

import asyncio
import struct
import zlib

import pytest

from service.demo import DEMO_FRAMEWORK
from tests.browser import OfflinePage, browser_page, live_service  # noqa: F401  (fixtures)
from tests.test_console_browser import _axe, demo_seeded, settings  # noqa: F401  (fixtures)
from tests.test_item_spreadsheet import ROWS, filled


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


async def test_author_two_items_with_an_image_and_import_ten(
    demo_seeded: None,
    live_service: str,
    browser_page: OfflinePage,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    page = browser_page.page
    shots = tmp_path_factory.mktemp("console-item-screens")
    print(f"screenshots: {shots}")
    await page.goto(live_service + "/console/login?lang=en")
    await page.click('[data-testid="demo-sign-in"]')
    await page.wait_for_url("**/console/demo-idp/authorize?**")
    await page.click('[data-testid="persona-author"]')
    await page.wait_for_url(live_service + "/console")
    await page.select_option("#lang", "en")
    await page.click('form[action="/console/language"] button')
    await page.wait_for_selector("text=Sign out")

    # An image, uploaded on the images page.
    png = shots / "screenshot-of-an-answer.png"
    png.write_bytes(tiny_png())
    await page.click("nav >> text=Images")
    await page.wait_for_url("**/console/images")
    await page.set_input_files("#file", str(png))
    await page.click('[data-testid="upload-image"]')
    await page.wait_for_selector('[data-testid="stored-image"]')
    await until(page, "[...document.querySelectorAll('.thumbs img')].every(i => i.naturalWidth > 0)")
    await page.screenshot(path=str(shots / "1-images.png"), full_page=True)
    await _axe(page, "images")

    # A single-choice item with the image on its stem; the preview follows the typing.
    await page.click("nav >> text=Item bank")
    await page.click('[data-testid="new-item"]')
    await page.wait_for_url("**/console/items/new")
    await page.select_option("#framework", DEMO_FRAMEWORK)
    await page.check('[data-testid="type-single_choice"]')
    await page.click('[data-testid="start-item"]')
    await page.wait_for_selector("#f-code")
    await _axe(page, "empty single-choice form")
    await page.fill("#f-code", "BR-SC-1")
    await page.fill("#f-stem-zh-CN", "这张截图里的回答有什么问题？")
    await page.fill("#f-stem-en", "What is wrong with the answer in this screenshot?")
    await page.select_option("#f-image", index=1)
    await page.select_option("#f-loadings-0-indicator", "AK.1")
    await page.fill("#f-loadings-0-weight", "1")
    for i, (zh, en) in enumerate(
        (("编造了来源", "It invents a source"), ("没有问题", "Nothing"), ("太短", "Too short"))
    ):
        await page.fill(f"#f-options-{i}-key", "abc"[i])
        await page.fill(f"#f-options-{i}-text-zh-CN", zh)
        await page.fill(f"#f-options-{i}-text-en", en)
    await page.check("#f-key-correct-0")
    await page.wait_for_selector('[data-testid="preview-en"] >> text=It invents a source')
    await page.wait_for_selector('[data-testid="preview-zh-CN"] >> text=编造了来源')
    await until(page, "document.querySelector('#preview img')?.naturalWidth > 0")
    await page.screenshot(path=str(shots / "2-single-choice-form.png"), full_page=True)
    await _axe(page, "single-choice form with preview")
    await page.click('[data-testid="save-item"]')
    await page.wait_for_url("**/console/items/BR-SC-1")
    await until(page, "document.querySelector('.preview img')?.naturalWidth > 0")
    await page.screenshot(path=str(shots / "3-item-page.png"), full_page=True)
    await _axe(page, "item page")

    # A Likert item, reverse keyed: a weight that does not sum to 1 is refused next to the loadings.
    await page.goto(live_service + f"/console/items/new?type=likert&framework={DEMO_FRAMEWORK}")
    await page.fill("#f-code", "BR-LK-1")
    await page.fill("#f-stem-zh-CN", "我很少核对AI给出的数字。")
    await page.select_option("#f-loadings-0-indicator", "HMC.3")
    await page.fill("#f-loadings-0-weight", "0.5")
    await page.check("#f-key-reverse")
    await page.wait_for_selector('[data-testid="preview-problems"] >> text=not 1')
    await page.click('[data-testid="save-item"]')
    await page.wait_for_selector('[data-testid="error-loadings"]')
    await page.screenshot(path=str(shots / "4-likert-error.png"), full_page=True)
    await _axe(page, "form with an error")
    await page.fill("#f-loadings-0-weight", "1")
    await page.click('[data-testid="save-item"]')
    await page.wait_for_url("**/console/items/BR-LK-1")
    assert await page.locator('[data-testid="preview-zh-CN"] input[type="radio"]').count() == 5

    # Ten more from the template the import page hands out.
    await page.goto(live_service + "/console/items/import")
    async with page.expect_download() as downloading:
        await page.click('[data-testid="download-template"]')
    assert (await downloading.value).suggested_filename == "item-import-template.xlsx"
    template = await (await page.request.get(live_service + "/console/items/import/template")).body()
    workbook = shots / "items.xlsx"
    workbook.write_bytes(filled(template, ROWS))
    await page.select_option("#framework", DEMO_FRAMEWORK)
    await page.set_input_files("#file", str(workbook))
    await page.click('[data-testid="import-items"]')
    await page.wait_for_selector('[data-testid="import-result"]')
    assert "10 new" in (await page.text_content('[data-testid="import-result"]') or "")
    await page.screenshot(path=str(shots / "5-import.png"), full_page=True)
    await _axe(page, "import page")
    await page.goto(live_service + "/console/items?q=X-")
    assert await page.locator('#item-results tr[data-testid^="item-X-"]').count() == 10

    browser_page.assert_offline()
    assert [e for e in browser_page.console_errors if "status of 422" not in e] == [], (
        browser_page.console_errors
    )
