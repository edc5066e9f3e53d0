"""`/docs` renders without internet (issue 14, item 9): Swagger UI comes from the service itself."""

from __future__ import annotations

import asyncio
import hashlib
import os

import httpx

from service.api.docs import DOCS_CSP, STATIC_DIR, vendored
from tests.browser import OfflinePage, browser_page, live_service  # noqa: F401  (fixtures)

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def test_vendored_files_match_their_manifest() -> None:
    manifest = vendored()
    assert manifest, "the manifest lists no package"
    for name, entry in manifest.items():
        assert entry["source"] == f"npm:{name}@{entry['version']}"
        assert entry["licence"]
        folder = STATIC_DIR / "vendor" / entry["folder"]
        assert any(f.startswith("LICENSE") for f in entry["files"]), f"{name}: no licence file vendored"
        assert sorted(p.name for p in folder.iterdir()) == sorted(entry["files"]), (
            f"{name}: files differ from the manifest"
        )
        for file, digest in entry["files"].items():
            assert hashlib.sha256((folder / file).read_bytes()).hexdigest() == digest, (
                f"{name}/{file} was changed"
            )


async def test_docs_page_references_only_its_own_origin_and_forbids_inline_script(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == DOCS_CSP
    assert "default-src 'self'" in DOCS_CSP and "unsafe-inline" not in DOCS_CSP
    page = response.text
    assert "http://" not in page and "https://" not in page
    assert "<script>" not in page and "<style" not in page  # every script is a served file
    for src in ("/static/vendor/swagger-ui/swagger-ui-bundle.js?v=", "/static/docs/swagger-init.js?v="):
        assert src in page
        asset = await client.get(
            page.split(src)[0].rsplit('"', 1)[1] + src + page.split(src)[1].split('"')[0]
        )
        assert asset.status_code == 200
        assert "max-age=31536000" in asset.headers["cache-control"]
        assert "immutable" in asset.headers["cache-control"]


async def test_docs_render_every_operation_in_a_browser_cut_off_from_the_internet(
    live_service: str, browser_page: OfflinePage
) -> None:
    async with httpx.AsyncClient() as http:  # not httpx.get: the server runs in this event loop
        document = (await http.get(live_service + "/docs/openapi.json")).json()
    operations = sum(1 for item in document["paths"].values() for method in item if method in METHODS)
    page = browser_page.page
    await page.goto(live_service + "/docs")  # type: ignore[attr-defined]
    try:
        await page.wait_for_selector(".opblock", timeout=30_000)  # type: ignore[attr-defined]
    except Exception:
        browser_page.assert_offline()  # the likelier cause, said first: the page reached for the internet
        raise AssertionError(f"no operation rendered; page errors: {browser_page.console_errors}") from None
    # Swagger UI renders the operations near the viewport: scroll through the page and collect every
    # operation block that appears (ids are "operations-<tag>-<operationId>"), until the end is reached
    # and nothing new turns up
    seen: set[str] = set()
    for _ in range(400):
        ids = await page.eval_on_selector_all(".opblock", "blocks => blocks.map(b => b.id)")  # type: ignore[attr-defined]
        before = len(seen)
        seen.update(ids)
        at_end = await page.evaluate(  # type: ignore[attr-defined]
            "() => window.innerHeight + window.scrollY >= document.body.scrollHeight - 2"
        )
        if at_end and len(seen) == before:
            break
        await page.mouse.wheel(0, 600)  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
    rendered = len(seen)
    assert rendered == operations, (
        f"{rendered} operations rendered of {operations}; page errors: {browser_page.console_errors}"
    )
    assert await page.locator(".info .title").inner_text() != ""  # type: ignore[attr-defined]
    if os.environ.get("DOCS_SCREENSHOT"):
        await page.screenshot(path=os.environ["DOCS_SCREENSHOT"], full_page=False)  # type: ignore[attr-defined]
    browser_page.assert_offline()
    assert not [e for e in browser_page.console_errors if "Content Security Policy" in e], (
        browser_page.console_errors
    )
