"""The analysis screens in a real browser: an analyst drills from the province down to a township, sees a
withheld cell shown as withheld, switches to English, downloads a chart (SVG and PNG, drawn by the
vendored ECharts) and its table (CSV with a BOM), and opens the printable unit report, whose print
style sheet hides the console around it. axe-core checks each screen; screenshots go to a temporary
directory (printed), or to $CONSOLE_SCREENSHOTS (the README's: `CONSOLE_SCREENSHOTS=docs/screenshots`)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from service.auth.keys import ServiceKeys
from tests.browser import (  # noqa: F401  (fixtures)
    OfflinePage,
    browser_page,
    live_service,
    readme_shot,
    screenshot_dir,
)
from tests.test_console_analysis import build_region
from tests.test_console_browser import _axe
from tests.test_console_marking_browser import _session

EMPTY_STYLE = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # see test_console_marking_browser


async def test_an_analyst_drills_down_downloads_a_chart_and_prints_the_unit_report(
    live_service: str,
    browser_page: OfflinePage,
    app_url: str,
    service_keys: ServiceKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    shots = screenshot_dir(tmp_path_factory, "analysis-screens")
    downloads = tmp_path_factory.mktemp(
        "analysis-downloads"
    )  # what the analyst downloads: never among the shots
    async with httpx.AsyncClient(base_url=live_service, timeout=60) as client:
        tenant = await build_region(client, service_keys, "analysis-browser")
    session_id = await _session(app_url, tenant["id"], ["analyst"], "analyst-1")
    page = browser_page.page
    await page.context.add_cookies(  # type: ignore[attr-defined]
        [{"name": "assess_console", "value": session_id, "domain": "127.0.0.1", "path": "/console"}]
    )
    await page.goto(live_service + "/console/")  # the session starts in English: switch to zh-CN first
    await page.select_option("#lang", "zh-CN")
    async with page.expect_navigation():  # type: ignore[attr-defined]
        await page.click('header.top button[type="submit"]:not([data-testid="logout"])')
    assert await page.get_attribute("html", "lang") == "zh-CN"

    await page.goto(live_service + "/console/assessments")
    await page.click('[data-testid="analysis-quiz"]')
    await page.wait_for_url("**/console/assessments/quiz/analysis")
    await page.wait_for_selector('#chart-overall[data-drawn="true"] svg')
    await _axe(page, "drill-down, whole tenant")
    for unit in ("prov", "cityA", "countyA1", "townA1"):  # down, one level at a time
        await page.click(f'[data-testid="down-{unit}"]')
        await page.wait_for_url(f"**/analysis?unit={unit}")
    assert await page.get_attribute('[data-testid="crumb-townA1"]', "aria-current") == "page"
    assert (await page.text_content('[data-testid="row-total"] td.num')).strip() == "4"  # type: ignore[union-attr]
    await readme_shot(page, shots / "console-analysis-township.png")

    await page.click('[data-testid="crumb-cityA"]')  # back up by the breadcrumbs
    await page.wait_for_url("**/analysis?unit=cityA")
    withheld = '[data-testid="row-countyA2"] td.num'
    assert "已隐去" in (await page.text_content(withheld) or "")
    await _axe(page, "drill-down, city (zh-CN)")
    await readme_shot(page, shots / "console-analysis-city.png")

    await page.select_option("#lang", "en")
    async with page.expect_navigation():  # type: ignore[attr-defined]
        await page.click('header.top button[type="submit"]:not([data-testid="logout"])')
    assert page.url.endswith("/analysis?unit=cityA")  # the same unit, now in English
    assert await page.get_attribute("html", "lang") == "en"
    assert (await page.text_content(withheld) or "").strip().startswith("withheld")
    assert "0" not in (await page.text_content('[data-testid="row-countyA2"]') or "")
    await page.wait_for_selector('#chart-overall[data-drawn="true"] svg')
    assert await page.get_attribute("#chart-overall", "aria-label")  # ECharts' aria option describes it
    await _axe(page, "drill-down, city (en)")
    await readme_shot(page, shots / "console-analysis-city-en.png")

    async with page.expect_download() as svg_info:
        await page.click('[data-testid="chart-overall-svg"]')
    svg = downloads / "chart.svg"
    await (await svg_info.value).save_as(str(svg))
    assert b"<svg" in svg.read_bytes()[:300]
    async with page.expect_download() as png_info:
        await page.click('[data-testid="chart-overall-png"]')
    png = downloads / "chart.png"
    await (await png_info.value).save_as(str(png))
    assert png.read_bytes().startswith(b"\x89PNG")

    table = '[data-testid="chart-overall-table"]'
    await page.click(f"{table} summary")  # the same numbers, one click away
    assert await page.is_visible(f"{table} table")
    async with page.expect_download() as csv_info:
        await page.click('[data-testid="figure-chart-overall"] [data-testid="table-csv"]')
    csv = downloads / "table.csv"
    await (await csv_info.value).save_as(str(csv))
    lines = csv.read_bytes().decode("utf-8").splitlines()
    assert lines[0].startswith("\ufeffassessment,unit,") and any(",countyA2," in ln for ln in lines)

    await page.click('[data-testid="unit-report"]')
    await page.wait_for_url("**/analysis/report?unit=cityA")
    await page.wait_for_selector('#chart-overall[data-drawn="true"] svg')
    await _axe(page, "unit report")
    await page.emulate_media(media="print")  # type: ignore[attr-defined]
    assert not await page.is_visible("header.top") and not await page.is_visible('[data-testid="print"]')
    assert await page.is_visible('[data-testid="level-shares"]')
    await readme_shot(page, shots / "console-analysis-report-print.png")
    pdf = await page.pdf(format="A4", print_background=True)  # type: ignore[attr-defined]
    (downloads / "unit-report.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")

    # The other screens draw their charts with no script error, and pass axe.
    await page.emulate_media(media="screen")  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=live_service, timeout=60) as client:
        admin = tenant["admin"]
        assert (await client.post("/v1/assessments/quiz/item-statistics", headers=admin)).status_code == 202
        for _ in range(200):
            run = (await client.get("/v1/assessments/quiz/item-statistics", headers=admin)).json()
            if run["status"] != "running":
                break
            await asyncio.sleep(0.05)
    for path, chart in (
        ("trend?interval=week", "chart-trend"),
        ("effect?after=quiz2", "chart-effect"),
        ("items", "chart-items"),
    ):
        await page.goto(f"{live_service}/console/assessments/quiz/analysis/{path}")
        await page.wait_for_selector(f'#{chart}[data-drawn="true"] svg')
        await _axe(page, path)
        await readme_shot(page, shots / f"console-analysis-{chart.removeprefix('chart-')}.png")
    # the items page (the last) lists DIF's groups left out, each with its n and reason (in English here)
    row = " ".join((await page.inner_text('[data-testid="dif-skipped-org_unit-cityA"]')).split())
    assert row == "unit cityA 10 fewer than 100 attempts in the group", row
    assert await page.is_visible('[data-testid="dif-skipped"]')

    browser_page.assert_offline()
    assert [e for e in browser_page.console_errors if EMPTY_STYLE not in e] == []
