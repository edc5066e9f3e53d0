"""Items from Excel: the template downloads, ten filled rows import, and a workbook with bad rows names
every problem by sheet, row and column and creates nothing."""

from __future__ import annotations

import io
from typing import Any

import httpx
import openpyxl
import pytest

from service.items.spreadsheet import COLUMNS, MEDIA_TYPE
from tests.delivery_setup import FRAMEWORK, publish_framework
from tests.helpers import make_tenant

ROWS: dict[str, list[dict[str, Any]]] = {
    "single_choice": [
        {
            "code": "X-SC-1",
            "stem_zh": "单选一",
            "stem_en": "Single one",
            "loadings": "AK.1",
            "option_a_zh": "甲",
            "option_a_en": "A",
            "option_b_zh": "乙",
            "option_b_en": "B",
            "correct": "b",
        },
        {
            "code": "X-SC-2",
            "stem_zh": "单选二",
            "loadings": "AK.1=0.5; AK.2=0.5",
            "points": 2,
            "option_a_zh": "甲",
            "option_b_zh": "乙",
            "option_c_zh": "丙",
            "correct": "c",
            "shuffle_options": "否",
        },
    ],
    "multiple_choice": [
        {
            "code": "X-MC-1",
            "stem_en": "Pick two",
            "loadings": "AK.2",
            "option_a_en": "A",
            "option_b_en": "B",
            "option_c_en": "C",
            "correct": "a, c",
            "partial_credit": "per_option",
        },
        {
            "code": "X-MC-2",
            "stem_zh": "多选",
            "loadings": "AK.2",
            "option_a_zh": "甲",
            "option_b_zh": "乙",
            "correct": "a，b",
            "partial_credit": "right_minus_wrong",
        },
    ],
    "situational_judgement": [
        {
            "code": "X-SJ-1",
            "scenario_zh": "情境",
            "stem_zh": "怎么做",
            "loadings": "HMC.3=0.5; ES.1=0.5",
            "option_a_zh": "甲",
            "option_b_zh": "乙",
            "format": "best",
            "credit_a": "HMC.3=1; ES.1=0",
            "credit_b": "HMC.3=0.5; ES.1=1",
        },
        {
            "code": "X-SJ-2",
            "stem_en": "Rate these",
            "loadings": "HMC.3",
            "option_a_en": "A",
            "option_b_en": "B",
            "option_c_en": "C",
            "format": "rate",
            "rating_points": 4,
            "credit_a": 1,
            "credit_b": 0.5,
            "credit_c": 0,
        },
    ],
    "likert": [
        {"code": "X-LK-1", "stem_zh": "我会核对", "loadings": "HMC.3", "scale_points": 7, "reverse": "yes"}
    ],
    "ordering": [
        {
            "code": "X-OR-1",
            "stem_en": "Order",
            "loadings": "HMC.3",
            "option_a_en": "one",
            "option_b_en": "two",
            "option_c_en": "three",
            "order": "b, c, a",
            "credit": "exact",
        },
    ],
    "open_response": [
        {
            "code": "X-OP-1",
            "stem_zh": "写提示词",
            "loadings": "HMC.2",
            "task": "write_prompt",
            "max_length": 800,
            "rater_notes_zh": "看格式",
            "rater_notes_en": "Look at format",
            "exemplar_1_en": "An exemplar",
        },
        {"code": "X-OP-2", "stem_en": "Critique", "loadings": "HMC.2", "task": "critique_output"},
    ],
}


def filled(template: bytes, rows: dict[str, list[dict[str, Any]]]) -> bytes:
    """The template with `rows` written from row 3 of each type's sheet, as a person would in Excel."""
    book = openpyxl.load_workbook(io.BytesIO(template))
    for sheet, entries in rows.items():
        header = [c.value for c in book[sheet][1]]
        assert header == COLUMNS[sheet]  # type: ignore[index]
        for n, entry in enumerate(entries):
            for name, value in entry.items():
                book[sheet].cell(row=3 + n, column=header.index(name) + 1, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient, admin: dict[str, str], content: bytes, **params: str
) -> httpx.Response:
    return await client.post(
        "/v1/items/import/xlsx",
        params=params,
        files={"file": ("items.xlsx", content, MEDIA_TYPE)},
        headers=admin,
    )


@pytest.fixture
async def tenant(client, service_keys):
    tenant = await make_tenant(client, service_keys, "xlsx-region")
    await publish_framework(client, tenant["admin"])
    return tenant


async def test_template_round_trip(client, tenant) -> None:
    admin = tenant["admin"]
    got = await client.get("/v1/items/import/template", headers=admin)
    assert got.status_code == 200 and got.headers["content-type"].startswith(MEDIA_TYPE)
    assert "attachment" in got.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(got.content))
    assert book.sheetnames == ["instructions", *COLUMNS]
    instructions = list(book["instructions"].iter_rows(values_only=True))
    assert instructions[0] == ("中文", "English") and len(instructions) > 3
    assert all(zh and en and zh != en for zh, en in instructions[1:])
    assert "每" in "".join(zh for zh, _ in instructions[1:])
    hints = [c.value for c in book["likert"][2]]
    assert all(h and "\n" in h for h in hints)  # every column explained in both languages
    result = await upload(client, admin, filled(got.content, ROWS), framework=FRAMEWORK)
    assert result.status_code == 200, result.text
    assert sorted(result.json()["created"]) == sorted(r["code"] for rows in ROWS.values() for r in rows)
    assert len(result.json()["created"]) == 10
    sjt = (await client.get("/v1/items/X-SJ-1", headers=admin)).json()["content"]
    assert sjt["key"]["options"] == [
        {"option": "a", "credit": {"HMC.3": 1.0, "ES.1": 0.0}},
        {"option": "b", "credit": {"HMC.3": 0.5, "ES.1": 1.0}},
    ]
    assert sjt["scenario"] == {"zh-CN": "情境"} and sjt["framework"] == FRAMEWORK
    rate = (await client.get("/v1/items/X-SJ-2", headers=admin)).json()["content"]
    assert rate["rating_points"] == 4 and rate["key"]["options"][1] == {
        "option": "b",
        "credit": {"HMC.3": 0.5},
    }
    mc = (await client.get("/v1/items/X-MC-2", headers=admin)).json()["content"]
    assert mc["key"] == {"correct": ["a", "b"], "partial_credit": "right_minus_wrong"}
    sc = (await client.get("/v1/items/X-SC-2", headers=admin)).json()["content"]
    assert sc["shuffle_options"] is False and sc["points"] == 2 and len(sc["loadings"]) == 2
    likert = (await client.get("/v1/items/X-LK-1", headers=admin)).json()["content"]
    assert likert["key"] == {"reverse": True} and likert["scale_points"] == 7
    order = (await client.get("/v1/items/X-OR-1", headers=admin)).json()["content"]
    assert order["key"] == {"order": ["b", "c", "a"], "credit": "exact"}
    open_ = (await client.get("/v1/items/X-OP-1", headers=admin)).json()["content"]
    # An image on an option: its id in the option's image column (a missing one is named there).
    image = await client.post(
        "/v1/images", files={"file": ("a.png", b"\x89PNG\r\n\x1a\n" + b"x" * 30, "image/png")}, headers=admin
    )
    with_image = {
        "single_choice": [
            dict(
                ROWS["single_choice"][0],
                code="X-SC-IMG",
                option_b_image=image.json()["id"],
                option_b_image_alt_zh="一张截图",
            )
        ]
    }
    imported = await upload(client, admin, filled(got.content, with_image), framework=FRAMEWORK)
    assert imported.status_code == 200, imported.text
    shown = (await client.get("/v1/items/X-SC-IMG", headers=admin)).json()["content"]["options"]
    assert shown[1]["image"] == image.json()["id"] and "image" not in shown[0]
    missing = {"single_choice": [dict(ROWS["single_choice"][0], code="X-SC-NOIMG", option_a_image="e" * 64)]}
    refused = await upload(client, admin, filled(got.content, missing), framework=FRAMEWORK)
    # ... and an image without its text alternative is named at the alt column next to it.
    assert [(e["row"], e["column"]) for e in refused.json()["errors"]] == [
        (3, "option_a_image_alt_zh"),
        (3, "option_a_image"),
    ]
    assert open_["key"] == {
        "rater_notes": {"zh-CN": "看格式", "en": "Look at format"},
        "exemplars": [{"en": "An exemplar"}],
    }
    # The same workbook again changes nothing.
    again = await upload(client, admin, filled(got.content, ROWS), framework=FRAMEWORK)
    assert again.status_code == 200 and len(again.json()["unchanged"]) == 10


async def test_bad_rows_are_all_named_and_nothing_is_created(client, tenant) -> None:
    admin = tenant["admin"]
    template = (await client.get("/v1/items/import/template", headers=admin)).content
    rows = {
        sheet: [dict(r, code=r["code"].replace("X-", "Y-")) for r in entries]
        for sheet, entries in ROWS.items()
    }
    rows["single_choice"][1]["correct"] = "z"  # no such option: the domain's check
    rows["likert"][0]["scale_points"] = "many"  # not a number: the cell's check
    rows["situational_judgement"][0]["loadings"] = "HMC.3=0.5; ES.1=0.2"  # weights sum to 0.7
    refused = await upload(client, admin, filled(template, rows), framework=FRAMEWORK)
    assert refused.status_code == 422 and refused.headers["content-type"].startswith(
        "application/problem+json"
    )
    cells = sorted((e["sheet"], e["row"], e["column"]) for e in refused.json()["errors"])
    assert cells == [
        ("likert", 3, "scale_points"),
        ("single_choice", 4, "correct"),
        ("situational_judgement", 3, "loadings"),
    ], refused.text
    found = (await client.get("/v1/items", params={"q": "Y-"}, headers=admin)).json()["items"]
    assert found == []
    zh = await upload(
        client, {**admin, "Accept-Language": "zh-CN"}, filled(template, rows), framework=FRAMEWORK
    )
    assert zh.status_code == 422
    # Not a workbook, or no file: the field is named.
    for files in (
        {"file": ("x.xlsx", b"PK not really", MEDIA_TYPE)},
        {"other": ("x.xlsx", template, MEDIA_TYPE)},
    ):
        bad = await client.post("/v1/items/import/xlsx", files=files, headers=admin)
        assert bad.status_code == 422 and [e["pointer"] for e in bad.json()["errors"]] == ["/file"], bad.text
    empty = await upload(client, admin, template)
    assert empty.status_code == 422 and empty.json()["errors"][0]["pointer"] == "/file"
