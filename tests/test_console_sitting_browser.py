"""Participation in a real browser during a simulated sitting: candidates driven over the API while the
page polls (htmx, every 5 s) and its counts change in place; down the tree by a click and back by the
breadcrumbs; the not-started list downloaded as XLSX and read back with openpyxl. axe-core checks the
screen; screenshots go to a temporary directory (printed).

The page's clock is Playwright's (`page.clock`): once a change is committed, the test moves the page's
time on by the poll interval, so the poll that must show it fires then instead of up to 5 s later.
The page's behaviour does not depend on real elapsed time (htmx arms a timer of POLL_SECONDS and asks
the server when it fires), and the request still goes to the live service after the commit."""

from __future__ import annotations

from uuid import UUID

import httpx
import openpyxl
import pytest

from service.auth.keys import ServiceKeys
from service.console.participation import POLL_SECONDS
from tests.browser import OfflinePage, browser_page, live_service  # noqa: F401  (fixtures)
from tests.helpers import user
from tests.test_console_browser import _axe
from tests.test_console_marking_browser import _session
from tests.test_participation import sitting

EMPTY_STYLE = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # see test_console_marking_browser


async def test_counts_change_during_a_sitting_and_the_not_started_list_downloads(
    live_service: str,
    browser_page: OfflinePage,
    app_url: str,
    service_keys: ServiceKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    shots = tmp_path_factory.mktemp("sitting-screens")
    print(f"screenshots: {shots}")
    async with httpx.AsyncClient(base_url=live_service, timeout=60) as client:
        tenant = await sitting(client, service_keys)
    page = browser_page.page
    await page.clock.install()  # flows with real time until the test moves it on
    session_id = await _session(app_url, tenant["id"], ["tenant_admin"], "admin-1")
    await page.context.add_cookies(  # type: ignore[attr-defined]
        [{"name": "assess_console", "value": session_id, "domain": "127.0.0.1", "path": "/console"}]
    )

    await page.goto(live_service + "/console/assessments")
    await page.click('[data-testid="participation-quiz"]')
    await page.wait_for_url("**/console/assessments/quiz/participation")
    await page.click('[data-testid="unit-prov"] a')  # down a level
    await page.wait_for_url("**/participation?unit=prov")
    await page.click('[data-testid="unit-north"] a')
    await page.wait_for_url("**/participation?unit=north")
    town = '[data-testid="unit-north-town"] [data-col="{}"]'
    assert await page.text_content(town.format("started")) == "2"
    assert await page.text_content(town.format("not_started")) == "1"
    await page.screenshot(path=str(shots / "1-north.png"), full_page=True)
    await _axe(page, "participation")

    # t3 starts, then submits, over the API: the polled table follows without a reload.
    await page.evaluate("window.sittingLoads = 1")
    t3 = user(service_keys, UUID(tenant["id"]), ["candidate"], sub="t3")
    async with httpx.AsyncClient(base_url=live_service, timeout=60) as client:
        started = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=t3)
        assert started.status_code == 201, started.text
        await page.clock.fast_forward(POLL_SECONDS * 1000)  # the next poll is due now
        await page.wait_for_function(
            '() => document.querySelector(\'[data-testid="unit-north-town"] [data-col="not_started"]\')'
            "?.textContent === '0'",
            timeout=20_000,
        )
        assert await page.text_content(town.format("started")) == "3"
        attempt = started.json()["attempt"]["id"]
        assert (await client.post(f"/v1/me/attempts/{attempt}/submit", headers=t3)).status_code == 200
        await page.clock.fast_forward(POLL_SECONDS * 1000)
        await page.wait_for_function(
            '() => document.querySelector(\'[data-testid="unit-north-town"] [data-col="submitted"]\')'
            "?.textContent === '2'",
            timeout=20_000,
        )
    assert await page.evaluate("window.sittingLoads") == 1

    # Who has not started in north, as XLSX: n1 only (n2 is inactive, t3 has started now).
    async with page.expect_download() as download_info:
        await page.click('[data-testid="not-started-xlsx"]')
    download = await download_info.value
    path = shots / "not-started.xlsx"
    await download.save_as(str(path))
    rows = list(openpyxl.load_workbook(path, read_only=True).active.iter_rows(values_only=True))
    assert rows[1] == ("external_id", "name", "unit", "unit_name")
    assert rows[2:] == [("n1", "王五", "north", "North 北")]

    await page.click('[data-testid="crumb-prov"]')  # back up by the breadcrumbs
    await page.wait_for_url("**/participation?unit=prov")
    await page.screenshot(path=str(shots / "2-prov.png"), full_page=True)
    browser_page.assert_offline()
    assert [e for e in browser_page.console_errors if EMPTY_STYLE not in e] == []
