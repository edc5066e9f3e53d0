"""A real headless browser on the real service, cut off from everything but loopback.

Screens (the docs UI now, the console later) are tested as a person sees them: the service runs
as an HTTP server on 127.0.0.1 (uvicorn in the test's own event loop, so the app owns its pool),
Debian's `chromium` is driven by Playwright, and every request to any other host is aborted and
recorded, so a page that still reaches for a CDN fails its test instead of passing on a machine
that happens to be online.

Use from a test module:

    from tests.browser import browser_page, live_service  # noqa: F401  (fixtures)

    async def test_x(live_service: str, browser_page: OfflinePage) -> None:
        await browser_page.page.goto(live_service + "/docs")
        ...
        browser_page.assert_offline()

Chromium missing is a failure, not a skip: a skipped browser test looks green in CI.

One Chromium per test process (`chromium`, started on first use and kept for the session: starting
Playwright's driver and the browser took 3 s quiet, 15 s on the loaded 2-core machine, per test);
every test gets browser contexts of its own, closed after it. A context is a fresh profile (cookies,
storage, cache, service workers), so no test sees another's pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from service.config import Settings
from tests.harness import app_for

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


def chromium_path() -> str:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if path is None:
        pytest.fail(
            f"no chromium at {CHROMIUM} nor on PATH: install it with `apt-get install chromium` "
            "(.ci/run does this when it is missing), or point CHROMIUM= at one",
            pytrace=False,
        )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def live_service(settings: Settings) -> AsyncIterator[str]:
    """The service (lifespan, database and all) as an HTTP server on loopback; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app_for(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # start-up failed: raise its error
            pytest.fail("the service stopped while starting")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class OfflinePage:
    page: object  # playwright.async_api.Page
    blocked: list[str] = field(default_factory=list)  # URLs the page tried to fetch from other hosts
    console_errors: list[str] = field(default_factory=list)

    def assert_offline(self) -> None:
        assert not self.blocked, f"the page reached for hosts other than loopback: {self.blocked}"


class Chromium:
    """The test process's Chromium (see the module's docstring; the session fixture `chromium` in
    tests/conftest.py), launched again if it went away."""

    def __init__(self) -> None:
        self._playwright: Any = None
        self._browser: Any = None

    async def browser(self) -> Any:
        """The running browser (playwright.async_api.Browser)."""
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        from playwright.async_api import async_playwright

        executable = chromium_path()
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        self._browser = await self._playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox"]
        )
        return self._browser

    async def new_context(self, **options: Any) -> Any:
        return await (await self.browser()).new_context(**options)

    async def stop(self) -> None:
        try:
            if self._browser is not None and self._browser.is_connected():
                await self._browser.close()
        finally:
            if self._playwright is not None:
                await self._playwright.stop()
            self._browser = self._playwright = None


async def close_context(context: Any) -> None:
    """Close a test's context (a no-op when the test closed it, or the browser went away)."""
    from playwright.async_api import Error

    with contextlib.suppress(Error):
        await context.close()


@pytest.fixture
async def browser_page(chromium: Chromium) -> AsyncIterator[OfflinePage]:
    """A fresh Chromium page (in a context of its own) whose non-loopback requests are aborted and recorded."""
    from playwright.async_api import Route

    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        offline = OfflinePage(page)

        async def guard(route: Route) -> None:
            url = route.request.url
            host = urlsplit(url).hostname or ""
            if urlsplit(url).scheme in ("data", "blob") or host in LOOPBACK:
                await route.continue_()
            else:
                offline.blocked.append(url)
                await route.abort("blockedbyclient")

        await context.route("**/*", guard)
        page.on("console", lambda m: offline.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: offline.console_errors.append(str(e)))
        yield offline
    finally:
        await close_context(context)


README_SHOT = {"x": 0, "y": 0, "width": 1280, "height": 800}  # the README's screenshots: a window's top


def screenshot_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """Where a browser test's screenshots go: $CONSOLE_SCREENSHOTS when set (the README's are made with
    `CONSOLE_SCREENSHOTS=docs/screenshots`), else a fresh temporary directory. Nothing else goes there."""
    wanted = os.environ.get("CONSOLE_SCREENSHOTS")
    shots = Path(wanted) if wanted else tmp_path_factory.mktemp(name)
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {shots}")
    return shots


async def readme_shot(page: Any, path: Path) -> None:
    """The page's top 1280x800, as a reader's window shows it (a full page would be too tall and too big)."""
    await page.screenshot(path=str(path), clip=README_SHOT)
