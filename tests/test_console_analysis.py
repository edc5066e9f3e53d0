"""The console's analysis screens over HTTP: the drill-down (the API's figures, withheld cells shown as
withheld, never as zero), its filters' errors next to the fields, the trend, the training effect, item
statistics with flagged items, the printable unit and individual reports, CSV (with a BOM) and XLSX
tables, and who may see what (a rater sees no analysis)."""

from __future__ import annotations

import asyncio
import csv as csvlib
import html
import io
import json
import random
import re
from typing import Any
from uuid import UUID

import httpx
import openpyxl
import pytest

from service.auth.keys import ServiceKeys
from service.auth.principal import Principal
from service.console import sessions
from service.db.pool import tenant_transaction
from tests.delivery_setup import (
    add_people,
    add_units,
    assessment_body,
    import_items,
    publish_assessment,
    publish_framework,
)
from tests.harness import snapshot
from tests.helpers import make_tenant, user
from tests.test_aggregates_flow import SCORED, _sit

K = 3
# prov > cityA (> countyA1 (> townA1, townA2), countyA2), cityB. cityA's own 2 people and countyA2's
# one are under k: both withheld, together 3 (nothing can be worked out by subtraction).
UNITS = [
    ("prov", "省 Province", None),
    ("cityA", "甲市 City A", "prov"),
    ("cityB", "乙市 City B", "prov"),
    ("countyA1", "一县 County A1", "cityA"),
    ("countyA2", "二县 County A2", "cityA"),
    ("townA1", "东镇 Town A1", "countyA1"),
    ("townA2", "西镇 Town A2", "countyA1"),
]
PLACED = ["cityA"] * 2 + ["countyA2"] + ["townA1"] * 4 + ["townA2"] * 3 + ["cityB"] * 4
PAGE = "/console/assessments/quiz/analysis"


async def build_region(client: httpx.AsyncClient, keys: ServiceKeys, slug: str) -> dict[str, Any]:
    """The tenant above: everyone sits `quiz`, then `quiz2` (the training effect's after)."""
    tenant = await make_tenant(client, keys, slug, min_group_size=K)
    admin = tenant["admin"]
    await add_units(
        client,
        admin,
        [{"code": c, "name": n, **({"parent_code": p} if p else {})} for c, n, p in UNITS],
    )
    await add_people(
        client,
        admin,
        [
            {
                "external_id": f"p{i}",
                "org_unit_code": unit,
                "category": "civil_servant",
                "display_name": f"人{i}",
            }
            for i, unit in enumerate(PLACED)
        ],
    )
    await publish_framework(client, admin)
    await import_items(client, admin)
    sections = [{"code": "main", "items": [{"code": i["code"]} for i in SCORED]}]
    await publish_assessment(client, admin, assessment_body("quiz", sections=sections))
    await publish_assessment(client, admin, assessment_body("quiz2", sections=sections))
    rng = random.Random(17)
    for code in ("quiz", "quiz2"):
        for i in range(len(PLACED)):
            await _sit(client, user(keys, tenant["id"], ["candidate"], sub=f"p{i}"), code, rng)
    return tenant


@pytest.fixture
@snapshot
async def region(client: httpx.AsyncClient, service_keys: ServiceKeys) -> dict[str, Any]:
    return await build_region(client, service_keys, "analysis-region")


async def console_session(pool: Any, tenant_id: str, roles: list[str], locale: str = "zh-CN") -> str:
    principal = Principal("user", "analyst-1", frozenset(roles), UUID(tenant_id), "https://idp.example", 0.0)
    async with tenant_transaction(pool, UUID(tenant_id)) as conn:
        return await sessions.create(conn, principal, locale, idle_seconds=3600, max_seconds=7200)


async def _as(
    client: httpx.AsyncClient, tenant: dict[str, Any], roles: list[str], locale: str = "zh-CN"
) -> dict:
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    return {"Cookie": f"assess_console={await console_session(pool, tenant['id'], roles, locale)}"}


def _row(page: str, key: str) -> str:
    found = re.search(rf'<tr data-testid="row-{re.escape(key)}".*?</tr>', page, re.DOTALL)
    assert found, key
    return found.group(0)


def _charts(page: str) -> dict[str, Any]:
    return {
        m.group(1): json.loads(html.unescape(m.group(2)))
        for m in re.finditer(
            r'<script type="application/json" id="([^"]+)-data">(.*?)</script>', page, re.DOTALL
        )
    }


async def test_drill_down_shows_the_apis_figures_and_withheld_cells_as_withheld(
    client: httpx.AsyncClient, region: dict[str, Any]
) -> None:
    me = await _as(client, region, ["analyst"])
    api = region["admin"]
    top = await client.get(PAGE, headers=me)
    assert top.status_code == 200, top.text
    assert f'href="{PAGE}?unit=prov"' in top.text and 'data-testid="crumb-all"' in top.text
    assert 'src="/static/vendor/echarts/echarts.min.js?v=' in top.text

    city = await client.get(PAGE, params={"unit": "cityA"}, headers=me)
    assert city.status_code == 200, city.text
    expected = (
        await client.get("/v1/assessments/quiz/aggregates/children", params={"unit": "cityA"}, headers=api)
    ).json()
    by_unit = {c["unit"] if c["scope"] == "subtree" else "direct": c for c in expected["children"]}
    assert by_unit["countyA2"]["suppressed"] and by_unit["direct"]["suppressed"]
    assert not by_unit["countyA1"]["suppressed"] and by_unit["countyA1"]["n"] == 7
    for key in ("countyA2", "direct"):  # withheld, with the reason one link away; never a number
        row = _row(city.text, key)
        assert (
            'class="is-withheld"' in row and 'data-withheld="true"' in row and 'href="#withheld-why"' in row
        )
        assert not re.search(r'class="num">\d', row) and 'class="mean"' not in row
    county = _row(city.text, "countyA1")
    assert 'class="num">7<' in county and f'href="{PAGE}?unit=countyA1"' in county
    overall = next(m for m in by_unit["countyA1"]["measures"] if m["measure"] == "overall")
    assert f'<span class="mean">{overall["mean"]:.1f}</span>' in county
    assert 'data-testid="withheld-why"' in city.text
    assert (
        'data-testid="crumb-prov"' in city.text
        and 'aria-current="page" data-testid="crumb-cityA"' in city.text
    )

    charts = _charts(city.text)
    assert set(charts) >= {"chart-overall"} and all(c["kind"] == "bars" for c in charts.values())
    points = {p["name"]: p for p in charts["chart-overall"]["points"]}
    assert points["二县 County A2"]["withheld"] and points["二县 County A2"]["value"] is None
    assert points["一县 County A1"]["value"] == overall["mean"]
    assert points["一县 County A1"]["href"] == f"{PAGE}?unit=countyA1"

    town = await client.get(PAGE, params={"unit": "townA1"}, headers=me)
    assert town.status_code == 200 and 'aria-current="page" data-testid="crumb-townA1"' in town.text

    # The table behind the charts: CSV with a byte order mark, XLSX; withheld rows flagged, not zero.
    csv = await client.get(f"{PAGE}/table", params={"view": "drill", "unit": "cityA"}, headers=me)
    assert csv.status_code == 200 and csv.content.startswith("\ufeff".encode())
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert any(ln.startswith("quiz,countyA2,二县 County A2,subtree,,all,true,") for ln in lines)
    xlsx = await client.get(
        f"{PAGE}/table", params={"view": "drill", "unit": "cityA", "format": "xlsx"}, headers=me
    )
    assert xlsx.status_code == 200
    rows = list(
        openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active.iter_rows(values_only=True)
    )
    assert any(r[1] == "countyA2" and r[6] is True for r in rows[2:])

    # Category or period, not both: the domain's message next to the category, as the API's 422 names it.
    both = await client.get(
        PAGE, params={"unit": "cityA", "category": "teacher", "from": "2026-01-01"}, headers=me
    )
    assert both.status_code == 422
    error = re.search(r'<p class="error" id="category-error">(.*?)</p>', both.text, re.DOTALL)
    assert error and error.group(1).strip()
    assert (await client.get(PAGE, params={"unit": "nowhere"}, headers=me)).status_code == 422
    assert (await client.get("/console/assessments/nowhere/analysis", headers=me)).status_code == 404

    # The language switch comes back to the same unit.
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', city.text).group(1)  # type: ignore[union-attr]
    switched = await client.post(
        "/console/language",
        data={"csrf_token": html.unescape(csrf), "lang": "en", "next": f"{PAGE}?unit=cityA"},
        headers=me,
    )
    assert switched.status_code == 303 and switched.headers["location"] == f"{PAGE}?unit=cityA"
    english = await client.get(PAGE, params={"unit": "cityA"}, headers=me)
    assert ">withheld<" in _row(english.text, "countyA2") and "已隐去" not in english.text
    assert "已隐去" in _row(city.text, "countyA2")  # the session's zh-CN before the switch

    report = await client.get(f"{PAGE}/report", params={"unit": "cityA"}, headers=me)
    assert report.status_code == 200
    assert re.search(r'href="/static/console/print\.css\?v=[0-9a-f]+" media="print"', report.text)
    assert 'data-testid="level-shares"' in report.text and 'data-print="true"' in report.text
    assert f'href="{PAGE}?unit=countyA1"' not in report.text  # a report, not a navigation


async def test_trend_training_effect_item_statistics_and_the_individual_report(
    client: httpx.AsyncClient, region: dict[str, Any]
) -> None:
    me = await _as(client, region, ["analyst"], "en")
    admin = region["admin"]
    trend = await client.get(f"{PAGE}/trend", params={"interval": "week"}, headers=me)
    assert trend.status_code == 200, trend.text
    chart = _charts(trend.text)["chart-trend"]
    api = (
        await client.get("/v1/assessments/quiz/aggregates/trend", params={"interval": "week"}, headers=admin)
    ).json()
    assert chart["periods"] == [p["start"] for p in api["points"]]
    assert chart["n"] == [p["cell"]["n"] for p in api["points"]] and sum(chart["n"]) == len(PLACED)
    trend_csv = await client.get(f"{PAGE}/table", params={"view": "trend", "interval": "week"}, headers=me)
    assert trend_csv.status_code == 200 and trend_csv.content.startswith("\ufeff".encode())

    unchosen = await client.get(f"{PAGE}/effect", headers=me)
    assert unchosen.status_code == 200 and 'value="quiz2"' in unchosen.text
    effect = await client.get(f"{PAGE}/effect", params={"after": "quiz2"}, headers=me)
    assert effect.status_code == 200, effect.text
    gains = (
        await client.get("/v1/assessments/quiz/training-effect", params={"after": "quiz2"}, headers=admin)
    ).json()
    points = _charts(effect.text)["chart-effect"]["points"]
    assert [(p["gain"], p["low"], p["high"]) for p in points] == [
        (g["mean_gain"], g["ci95_low"], g["ci95_high"]) for g in gains["gains"]
    ]
    assert f"People who took both: {len(PLACED)}" in effect.text
    missing = await client.get(f"{PAGE}/effect", params={"after": "nowhere"}, headers=me)
    assert missing.status_code == 422 and re.search(r'id="after-error">\s*\S', missing.text)
    effect_xlsx = await client.get(
        f"{PAGE}/table", params={"view": "effect", "after": "quiz2", "format": "xlsx"}, headers=me
    )
    assert effect_xlsx.status_code == 200

    none_yet = await client.get(f"{PAGE}/items", headers=me)
    assert none_yet.status_code == 200 and 'data-testid="no-statistics"' in none_yet.text
    assert (await client.get(f"{PAGE}/items/table", headers=me)).status_code == 404
    assert (await client.post("/v1/assessments/quiz/item-statistics", headers=admin)).status_code == 202
    for _ in range(200):
        run = (await client.get("/v1/assessments/quiz/item-statistics", headers=admin)).json()
        if run["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "done", run
    items = await client.get(f"{PAGE}/items", headers=me)
    assert items.status_code == 200
    for item in run["result"]["items"]:
        row = re.search(rf'<tr data-testid="item-{item["item"]}".*?</tr>', items.text, re.DOTALL)
        assert row, item["item"]
        assert ('data-flagged="true"' in row.group(0)) == item["flagged"]
        assert ("negative discrimination" in row.group(0)) == item["flagged"]
    item_csv = await client.get(f"{PAGE}/items/table", headers=me)
    lines = item_csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("item,type,n,facility,discrimination,omission_rate,flagged")
    assert len(lines) == 1 + len(run["result"]["items"])

    person = await client.get(f"{PAGE}/person", params={"external_id": "p3"}, headers=me)
    assert person.status_code == 200, person.text
    api_report = await client.get(
        "/v1/assessments/quiz/people/p3/report", headers={**admin, "Accept-Language": "en"}
    )
    assert api_report.status_code == 200, api_report.text
    profile = api_report.json()["report"]
    assert 'data-testid="dimensions"' in person.text and "人3" in person.text
    for dimension in profile["dimensions"]:  # the API's profile, in the session's language
        assert f'<th scope="row">{html.escape(dimension["name"])}</th>' in person.text
        assert dimension["level_label"] in person.text
    none_yet = await client.get("/v1/assessments/quiz/people/nobody/report", headers=admin)
    assert none_yet.status_code == 404
    assert 'media="print"' in person.text
    assert (
        await client.get(f"{PAGE}/person", params={"external_id": "nobody"}, headers=me)
    ).status_code == 404


async def test_item_statistics_show_both_dif_tests_in_the_api_and_the_console(
    client: httpx.AsyncClient, region: dict[str, Any], owner: Any
) -> None:
    """The region's groups are far below the DIF minimums, so the run's DIF report is replaced (as
    its owner) by one with an MH class C flag and a likelihood-ratio flag: the API returns it as
    stored, and the console's item table shows both in the item's DIF column, with the comparison
    the LR test ran on and the one it skipped and why."""
    me = await _as(client, region, ["analyst"], "en")
    admin = region["admin"]
    assert (await client.post("/v1/assessments/quiz/item-statistics", headers=admin)).status_code == 202
    for _ in range(200):
        run = (await client.get("/v1/assessments/quiz/item-statistics", headers=admin)).json()
        if run["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "done", run
    first, second = run["result"]["items"][0]["item"], run["result"]["items"][1]["item"]
    lr = {
        "g2": 24.13,
        "df": 2,
        "p_value": 0.0000057,
        "p_adjusted": 0.00023,
        "flagged": True,
        "delta_b": 0.62,
        "delta_a": -0.05,
        "expected_score_difference": -0.081,
        "converged": True,
    }
    mh = {"ets_class": "C", "mh_d_dif": -1.71, "se": 0.2, "odds_ratio": 2.07, "p_value": 0.0001}
    dif = {
        "attempts": 1200,
        "items": [first, second],
        "excluded_items": [],
        "comparisons": [
            {
                "variable": "category",
                "focal": "teacher",
                "focal_attempts": 300,
                "reference_attempts": 900,
                "items": [{"item": first, **mh, "lr": lr}, {"item": second, **mh, "ets_class": "A"}],
                "lr_focal_attempts": 300,
                "lr_reference_attempts": 900,
            },
            {
                "variable": "org_unit",
                "focal": "cityA",
                "focal_attempts": 150,
                "reference_attempts": 1050,
                "items": [{"item": first, **mh, "ets_class": "A"}, {"item": second, **mh, "ets_class": "A"}],
                "lr_reason": "fewer than 200 attempts in the group or the rest",
            },
            {  # as stored since reasons have codes
                "variable": "org_unit",
                "focal": "cityB",
                "focal_attempts": 120,
                "reference_attempts": 1080,
                "items": [{"item": first, **mh, "ets_class": "B"}, {"item": second, **mh, "ets_class": "A"}],
                "lr_reason": "fewer than 200 attempts in the group or the rest",
                "lr_reason_code": "lr_small_group",
                "lr_reason_params": {"min_group": 200},
            },
        ],
        "flagged": [
            {
                "item": first,
                "variable": "category",
                "focal": "teacher",
                "reference": "rest",
                "ets_class": "C",
                "mh_d_dif": -1.71,
                "se": 0.2,
                "disadvantaged": "focal",
            }
        ],
        "skipped": [],
        "min_group": 100,
        "lr_flagged": [
            {
                "item": first,
                "variable": "category",
                "focal": "teacher",
                "reference": "rest",
                "g2": 24.13,
                "df": 2,
                "p_adjusted": 0.00023,
                "delta_b": 0.62,
                "delta_a": -0.05,
                "expected_score_difference": -0.081,
                "disadvantaged": "focal",
            }
        ],
        "lr_limits": {
            "min_group": 200,
            "max_attempts": 5000,
            "max_items": 60,
            "max_comparisons": 10,
            "alpha": 0.01,
        },
    }
    await owner.execute(
        "UPDATE statistics_runs SET result = jsonb_set(result, '{dif}', $2::jsonb) WHERE id = $1::uuid",
        run["id"],
        json.dumps(dif),
    )
    api = (await client.get("/v1/assessments/quiz/item-statistics", headers=admin)).json()
    assert api["result"]["dif"]["lr_flagged"] == dif["lr_flagged"]
    assert api["result"]["dif"]["comparisons"][0]["items"][0]["lr"] == lr

    page = await client.get(f"{PAGE}/items", headers=me)
    assert page.status_code == 200, page.text
    cell = re.search(rf'<td data-testid="dif-{re.escape(first)}">(.*?)</td>', page.text, re.DOTALL)
    assert cell, page.text
    assert "MH C · Teachers · D -1.71" in cell.group(1)
    assert "LR · Teachers · G² 24.1 (2) · p 0.00023 · Δb 0.62 · Δa -0.05" in cell.group(1)
    other = re.search(rf'<td data-testid="dif-{re.escape(second)}">(.*?)</td>', page.text, re.DOTALL)
    assert other and other.group(1).strip() == "—"
    comparisons = re.search(r'data-testid="dif-comparisons">(.*?)</table>', page.text, re.DOTALL)
    assert comparisons
    assert "tested on 300 / 900 attempts" in comparisons.group(1)
    assert "not tested: fewer than 200 attempts in the group or the rest" in comparisons.group(1)

    # In Chinese: a reason with a code from the catalog; one stored before the codes (cityA) in English.
    chinese = await client.get(f"{PAGE}/items", headers=await _as(client, region, ["analyst"], "zh-CN"))
    rows = dict(
        re.findall(r'<tr><th scope="row">单位 (city\w)</th>.*?<td>(.*?)</td></tr>', chinese.text, re.DOTALL)
    )
    assert rows == {
        "cityA": "未检验： fewer than 200 attempts in the group or the rest",
        "cityB": "未检验： 本组或其余人员的作答少于 200 次",
    }, rows
    reliability = re.search(r'data-testid="reliability">(.*?)</table>', chinese.text, re.DOTALL)
    assert reliability and "该维度没有哪套试卷的作答达到 30 次" in reliability.group(1)  # alpha's reason

    # The download (CSV with a BOM, as the API's): the classical columns, then three per comparison.
    table = await client.get(f"{PAGE}/items/table", headers=me)
    assert table.status_code == 200 and table.content.startswith("\ufeff".encode())
    parsed = list(csvlib.reader(table.content.decode("utf-8-sig").splitlines()))
    header, by_item = parsed[0], {row[0]: dict(zip(parsed[0], row, strict=True)) for row in parsed[1:]}
    assert header[9:] == [
        f"{kind}:{name}"
        for name in ("category:teacher", "org_unit:cityA", "org_unit:cityB")
        for kind in ("mh_class", "mh_d", "lr")
    ]
    assert (by_item[first]["mh_class:category:teacher"], by_item[first]["mh_d:category:teacher"]) == (
        "C",
        "-1.71",
    )
    assert by_item[first]["lr:category:teacher"] == "flagged: adjusted p 0.00023, Δb 0.62, Δa -0.05"
    assert by_item[second]["lr:category:teacher"] == ""  # the LR test ran, but not on this item
    assert by_item[first]["mh_class:org_unit:cityB"] == "B"
    assert (
        by_item[first]["lr:org_unit:cityB"] == "not tested: fewer than 200 attempts in the group or the rest"
    )
    assert by_item[first]["lr:org_unit:cityA"] == by_item[first]["lr:org_unit:cityB"]

    # The groups left out (`skipped`): listed under the DIF section with their n and reason (from its
    # code in the reader's language; one stored before the codes as stored), names as text.
    skipped = [
        {
            "variable": "org_unit",
            "group": "cityC",
            "attempts": 40,
            "reason": "fewer than 100 attempts in the group",
            "reason_code": "small_group",
            "reason_params": {"min_group": 100},
        },
        {"variable": "org_unit", "group": "<i>cityD</i>", "attempts": 7, "reason": "too few, as stored"},
        {
            "variable": "category",
            "group": "teacher",
            "attempts": 1150,
            "reason": "fewer than 100 attempts in the rest",
            "reason_code": "small_rest",
            "reason_params": {"min_group": 100},
        },
    ]
    await owner.execute(
        "UPDATE statistics_runs SET result = jsonb_set(result, '{dif,skipped}', $2::jsonb) WHERE id = $1::uuid",
        run["id"],
        json.dumps(skipped),
    )
    for language, expected in (
        (
            "en",
            [
                "unit cityC | 40 | fewer than 100 attempts in the group",
                "unit &lt;i&gt;cityD&lt;/i&gt; | 7 | too few, as stored",
                "Teachers | 1150 | fewer than 100 attempts in the rest",
            ],
        ),
        (
            "zh-CN",
            [
                "单位 cityC | 40 | 本组作答少于 100 次",
                "单位 &lt;i&gt;cityD&lt;/i&gt; | 7 | too few, as stored",
            ],
        ),
    ):
        shown = await client.get(f"{PAGE}/items", headers=await _as(client, region, ["analyst"], language))
        table = re.search(r'data-testid="dif-skipped">(.*?)</table>', shown.text, re.DOTALL)
        assert table, shown.text
        cells = [
            " | ".join(c.strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL))
            for row in re.findall(r"<tbody>.*?</tbody>", table.group(1), re.DOTALL)[0].split("</tr>")
            if "<t" in row
        ]
        assert cells[: len(expected)] == expected, cells
        assert "<i>cityD</i>" not in shown.text


@pytest.mark.parametrize(
    ("roles", "analysis", "items"),
    [(["rater"], 403, 403), (["author"], 403, 200), (["analyst"], 200, 200), (["tenant_admin"], 200, 200)],
)
async def test_who_sees_the_analysis(
    client: httpx.AsyncClient, service_keys: ServiceKeys, roles: list[str], analysis: int, items: int
) -> None:
    tenant = await make_tenant(client, service_keys, "analysis-roles")
    admin = tenant["admin"]
    await add_units(client, admin, [{"code": "prov", "name": "Province"}])
    await publish_framework(client, admin)
    await import_items(client, admin)
    await publish_assessment(client, admin, assessment_body("quiz"))
    me = await _as(client, tenant, roles)
    for url in (PAGE, f"{PAGE}/report", f"{PAGE}/trend", f"{PAGE}/effect", f"{PAGE}/table?view=drill"):
        assert (await client.get(url, headers=me)).status_code == analysis, (roles, url)
    assert (await client.get(f"{PAGE}/items", headers=me)).status_code == items, roles
    # no such person: 404 to a role that may look, 403 to one that may not
    person = await client.get(f"{PAGE}/person?external_id=x", headers=me)
    assert person.status_code == (404 if items == 200 else 403), roles
    listed = await client.get("/console/assessments", headers=me)
    if analysis == 200:
        assert 'data-testid="analysis-quiz"' in listed.text and f'href="{PAGE}"' in listed.text
