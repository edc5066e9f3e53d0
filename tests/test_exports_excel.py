"""Exports that Excel reads (issue 14, item 11): a BOM on request, one charset, `current` in
scores.csv, the n = 0 cells in children.csv, and XLSX with names in the asked language."""

from __future__ import annotations

import csv
import io

import openpyxl

from service.aggregates.export import cells_table, drill_down_table, to_csv
from service.aggregates.views import Cell, DrillDown
from tests.test_aggregates_flow import PEOPLE, region  # noqa: F401  (fixture)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _sheet(body: bytes) -> list[list[object]]:
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def test_a_cell_with_nobody_in_it_gets_a_row_as_in_the_json() -> None:
    empty = Cell("cityC", "City C", "subtree", False, 0)
    view = DrillDown("quiz", "prov", None, None, 3, Cell("prov", "Prov", "subtree", True), [empty])
    rows = list(csv.DictReader(io.StringIO(to_csv(drill_down_table(view)).decode())))
    assert [(r["unit"], r["suppressed"], r["n"], r["measure"]) for r in rows] == [
        ("prov", "true", "", ""),
        ("cityC", "false", "0", ""),
    ]


def test_bom_only_when_asked() -> None:
    table = cells_table("quiz", None, [(None, Cell("u", "甲市", "subtree", False, 0))])
    assert to_csv(table, bom=True).startswith("\ufeff".encode())
    assert to_csv(table, bom=True).decode("utf-8-sig") == to_csv(table).decode("utf-8")
    assert not to_csv(table).startswith(b"\xef\xbb\xbf")


async def test_aggregate_downloads_for_excel(client, region):
    admin, analyst = region["admin"], region["analyst"]
    assert (
        await client.patch("/v1/org-units/cityA", json={"name": "甲市"}, headers=admin)
    ).status_code == 200
    assert (
        await client.post(
            "/v1/org-units", json={"code": "cityC", "name": "丙市", "parent_code": "prov"}, headers=admin
        )
    ).status_code == 201
    params = {"unit": "prov"}
    plain = await client.get("/v1/assessments/quiz/aggregates/children.csv", params=params, headers=analyst)
    assert plain.headers["content-type"] == "text/csv; charset=utf-8"  # once, not twice
    assert not plain.content.startswith(b"\xef\xbb\xbf")
    with_bom = await client.get(
        "/v1/assessments/quiz/aggregates/children.csv", params={**params, "bom": "true"}, headers=analyst
    )
    assert with_bom.content == b"\xef\xbb\xbf" + plain.content
    for path in ("aggregates.csv", "aggregates/trend.csv"):
        got = await client.get(f"/v1/assessments/quiz/{path}", params={"bom": "true"}, headers=analyst)
        assert got.headers["content-type"] == "text/csv; charset=utf-8" and got.content.startswith(
            b"\xef\xbb\xbf"
        )

    # children.csv lists every cell the JSON lists, the empty cityC (n = 0) included
    drill = (
        await client.get("/v1/assessments/quiz/aggregates/children", params=params, headers=analyst)
    ).json()
    rows = list(csv.DictReader(io.StringIO(plain.text)))
    listed = [(c["unit"], c["scope"]) for c in [drill["parent"], *drill["children"]]]
    assert ("cityC", "subtree") in listed
    assert list(dict.fromkeys((r["unit"] or None, r["scope"]) for r in rows)) == listed
    city_c = [r for r in rows if r["unit"] == "cityC"]
    assert [(r["n"], r["suppressed"]) for r in city_c] == [("0", "false")]
    assert any(r["unit_name"] == "甲市" for r in rows)

    # XLSX: names in the asked language beside the codes
    for lang, overall, unit_label in (("zh-CN", "总体", "单位名称"), ("en", "Overall", "Unit")):
        got = await client.get(
            "/v1/assessments/quiz/aggregates/children.xlsx",
            params=params,
            headers={**analyst, "Accept-Language": lang},
        )
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == XLSX and got.headers["content-language"] == lang
        labels, codes, *data = _sheet(got.content)
        assert codes[:9] == [
            "assessment",
            "unit",
            "unit_name",
            "scope",
            "period_start",
            "category",
            "suppressed",
            "measure",
            "measure_name",
        ]
        assert labels[2] == unit_label
        by_code = [dict(zip(codes, row, strict=True)) for row in data]
        assert len(by_code) == len(rows)
        overall_row = next(r for r in by_code if r["unit"] == "prov" and r["measure"] == "overall")
        assert overall_row["measure_name"] == overall and overall_row["n"] == len(PEOPLE)
        assert overall_row["suppressed"] is False
        assert any(r["unit_name"] == "甲市" for r in by_code)
        dimension_rows = [r for r in by_code if r["measure"] not in (None, "overall")]
        assert dimension_rows and all(
            r["measure_name"] and r["measure_name"] != r["measure"] for r in dimension_rows
        )
    for path in ("aggregates.xlsx", "aggregates/trend.xlsx"):
        got = await client.get(f"/v1/assessments/quiz/{path}", headers=analyst)
        assert got.status_code == 200 and got.headers["content-type"] == XLSX
        assert _sheet(got.content)[1][0] == "assessment"
    # the JSON views answer XLSX too when asked: ?format=xlsx, or an Accept that prefers it
    suffixed = await client.get(
        "/v1/assessments/quiz/aggregates/children.xlsx", params=params, headers=analyst
    )
    for how in (
        {"params": {**params, "format": "xlsx"}, "headers": analyst},
        {"params": params, "headers": {**analyst, "Accept": f"{XLSX}, application/json;q=0.5"}},
    ):
        got = await client.get("/v1/assessments/quiz/aggregates/children", **how)
        assert got.status_code == 200 and got.headers["content-type"] == XLSX
        assert _sheet(got.content) == _sheet(suffixed.content)
    as_json = await client.get(
        "/v1/assessments/quiz/aggregates/children", params=params, headers={**analyst, "Accept": "*/*"}
    )
    assert as_json.headers["content-type"].startswith("application/json") and as_json.json() == drill
    for path, extra in (("aggregates", {}), ("aggregates/trend", {}), ("training-effect", {"after": "quiz"})):
        got = await client.get(
            f"/v1/assessments/quiz/{path}", params={**extra, "format": "xlsx"}, headers=analyst
        )
        assert got.status_code == 200 and got.headers["content-type"] == XLSX, path
    effect = await client.get(
        "/v1/assessments/quiz/training-effect.xlsx", params={"after": "quiz"}, headers=analyst
    )
    assert effect.status_code == 200 and _sheet(effect.content)[1][:2] == ["before", "after"]
    missing = await client.get("/v1/assessments/nope/aggregates.xlsx", headers=analyst)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(
        "application/problem+json"
    )


async def test_score_downloads_for_excel(client, region):
    admin = region["admin"]
    assert (
        await client.patch("/v1/org-units/countyA1", json={"name": "一县"}, headers=admin)
    ).status_code == 200
    plain = await client.get("/v1/assessments/quiz/scores.csv", headers=admin)
    assert plain.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(plain.text)))
    assert len(rows) == len(PEOPLE) and all(r["current"] == "true" for r in rows)
    with_bom = await client.get("/v1/assessments/quiz/scores.csv", params={"bom": "true"}, headers=admin)
    assert with_bom.content == b"\xef\xbb\xbf" + plain.content

    got = await client.get(
        "/v1/assessments/quiz/scores.xlsx", headers={**admin, "Accept-Language": "en-GB,en;q=0.9"}
    )
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == XLSX and got.headers["content-language"] == "en"
    assert got.headers["content-disposition"] == 'attachment; filename="quiz-scores.xlsx"'
    labels, codes, *data = _sheet(got.content)
    csv_columns = list(rows[0])
    assert codes == [
        *csv_columns[: csv_columns.index("org_unit") + 1],
        "org_unit_name",
        *csv_columns[csv_columns.index("org_unit") + 1 :],
    ]
    assert labels[codes.index("org_unit_name")] == "Org unit" and labels[codes.index("current")] == "Current"
    dimension = next(c for c in codes if c.endswith("_scaled") and c != "overall_scaled")
    assert labels[codes.index(dimension)] not in (dimension, "")  # the dimension's English name
    assert len(data) == len(rows)
    by_person = {r[0]: dict(zip(codes, r, strict=True)) for r in data}
    for row in rows:
        mine = by_person[row["person"]]
        assert mine["current"] is True and mine["attempt_id"] == row["attempt_id"]
        assert mine["overall_scaled"] == float(row["overall_scaled"])
        assert mine["org_unit_name"] == ("一县" if row["org_unit"] == "countyA1" else row["org_unit"].title())
    no_preference = {**admin, "Accept-Language": "*"}  # the test client asks for en by default
    chinese = await client.get("/v1/assessments/quiz/scores.xlsx", headers=no_preference)  # zh-CN
    assert chinese.headers["content-language"] == "zh-CN"
    zh_labels = _sheet(chinese.content)[0]
    assert zh_labels[codes.index("org_unit_name")] == "单位名称"
    assert (await client.get("/v1/assessments/nope/scores.xlsx", headers=admin)).status_code == 404


def test_rows_past_excels_limit_continue_on_a_next_sheet(tmp_path) -> None:
    from service.results.xlsx import SheetWriter

    path = str(tmp_path / "x.xlsx")
    writer = SheetWriter(path, "scores", ["名字", "n"], ["name", "n"], max_rows=5)  # 3 data rows a sheet
    writer.write([[f"p{i}", i] for i in range(7)])
    writer.close()
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["scores", "scores 2", "scores 3"]
    sheets = [[list(r) for r in ws.iter_rows(values_only=True)] for ws in book.worksheets]
    assert all(s[:2] == [["名字", "n"], ["name", "n"]] for s in sheets)
    assert [row for s in sheets for row in s[2:]] == [[f"p{i}", i] for i in range(7)]
