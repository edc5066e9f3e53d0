"""QTI item exchange over the API: one region's bank (with images) exported as a QTI 3.0 package imports
into another region's as the same items; a QTI 2.1 package written by another tool imports what it can
express, all or (asked for) in part, naming every unsupported construct per item; broken and hostile
packages change nothing; one assessment's items export alone."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from service.items.model import Item
from service.items.qti.write import package
from service.items.samples import ITEMS_DIR, sample_assessment
from tests.delivery_setup import FRAMEWORK, publish_framework
from tests.helpers import make_tenant, user

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "qti"
ZIP = "application/zip"
PNG = b"\x89PNG\r\n\x1a\n" + b"an image of region A"
PNG_ID = hashlib.sha256(PNG).hexdigest()


def _zip_folder(name: str) -> bytes:
    folder, buffer = FIXTURES / name, io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


async def _import(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes, **params: str
) -> httpx.Response:
    return await client.post(
        "/v1/items/import/qti",
        params={"framework": FRAMEWORK, **params},
        files={"file": ("package.zip", content, ZIP)},
        headers=headers,
    )


async def _bank(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    exported = await client.get("/v1/items/export", headers=headers)
    assert exported.status_code == 200, exported.text
    items: list[dict[str, Any]] = exported.json()["items"]
    return items


@pytest.fixture
async def regions(client, service_keys):
    a = await make_tenant(client, service_keys, "qti-a")
    b = await make_tenant(client, service_keys, "qti-b")
    for region in (a, b):
        await publish_framework(client, region["admin"])
    return a["admin"], b["admin"]


def _with_image(code: str) -> dict[str, Any]:
    return {
        "type": "single_choice",
        "code": code,
        "framework": FRAMEWORK,
        "stem": {"zh-CN": "看图回答", "en": "Look at the picture"},
        "image": PNG_ID,
        "image_alt": {"zh-CN": "一张图", "en": "A picture"},
        "loadings": [{"indicator": "AK.1"}],
        "options": [
            {
                "key": "a",
                "text": {"zh-CN": "甲", "en": "A"},
                "image": PNG_ID,
                "image_alt": {"zh-CN": "甲图", "en": "Picture A"},
            },
            {"key": "b", "text": {"zh-CN": "乙", "en": "B"}},
        ],
        "key": {"correct": "a"},
    }


async def test_a_bank_exported_as_qti_imports_into_another_region_as_the_same_items(client, regions):
    a, b = regions
    imported = await client.post(
        "/v1/items/import",
        content=(ITEMS_DIR / FRAMEWORK / "items.json").read_bytes(),
        headers={**a, "Content-Type": "application/json"},
    )
    assert imported.status_code == 200, imported.text
    uploaded = await client.post("/v1/images", files={"file": ("a.png", PNG, "image/png")}, headers=a)
    assert uploaded.status_code == 201, uploaded.text
    assert (await client.post("/v1/items", json=_with_image("QTI-IMG-1"), headers=a)).status_code == 201

    exported = await client.get("/v1/items/export/qti", params={"framework": FRAMEWORK}, headers=a)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == ZIP
    assert exported.headers["content-disposition"] == f'attachment; filename="items-{FRAMEWORK}-qti3.zip"'
    assert (await client.get("/v1/images/" + PNG_ID, headers=b)).status_code == 404

    created = await _import(client, b, exported.content)
    assert created.status_code == 200, created.text
    bank_a = await _bank(client, a)
    assert sorted(created.json()["created"]) == sorted(item["code"] for item in bank_a)
    assert created.json()["rejected"] == []
    assert await _bank(client, b) == bank_a  # every item of every type, key and image included
    image = await client.get("/v1/images/" + PNG_ID, headers=b)
    assert image.status_code == 200 and image.content == PNG
    version = (await client.get("/v1/items/QTI-IMG-1", headers=b)).json()
    assert (version["version"], version["locked"]) == (1, False)  # a new item, editable in place

    again = await _import(client, b, exported.content)  # an import creates; it never edits
    assert again.status_code == 422
    problem = again.json()
    assert problem["type"] == "urn:assess:problem:qti-items-refused"
    assert len(problem["errors"]) == len(bank_a)
    assert problem["errors"][0]["pointer"] == "/items/0/code"
    assert await _bank(client, b) == bank_a


async def test_a_qti_21_package_from_another_tool_imports_what_it_can_express(client, regions):
    _, b = regions
    qti21 = _zip_folder("cito-sample-qti21")

    refused = await _import(client, b, qti21, indicator="AK.1")
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "urn:assess:problem:qti-items-refused"
    assert "5 of 9 items cannot be imported; nothing was saved" in problem["detail"]
    assert [e["pointer"] for e in problem["errors"]] == [
        "/items/2",
        "/items/4",
        "/items/6",
        "/items/7",
        "/items/8",
    ]
    assert (
        "ITEM_MATCH" in problem["errors"][1]["detail"]
        and "qti-match-interaction" in problem["errors"][1]["detail"]
    )
    assert await _bank(client, b) == []

    without_indicator = await _import(client, b, qti21, partial="true")
    assert without_indicator.status_code == 200
    assert without_indicator.json()["created"] == []
    assert "?indicator=" in without_indicator.json()["rejected"][0]["problems"][0]["detail"]

    partial = await _import(client, b, qti21, partial="true", indicator="AK.1")
    assert partial.status_code == 200, partial.text
    result = partial.json()
    assert result["created"] == ["ITEM_CHOICE", "ITEM_CHOICE_MULTI", "ITEM_EXTENDED", "ITEM_ORDER"]
    assert [(r["index"], r["identifier"], r["file"]) for r in result["rejected"]] == [
        (2, "ITEM_TEXT", "ITEM_TEXT.xml"),
        (4, "ITEM_MATCH", "ITEM_MATCH.xml"),
        (6, "ITEM_GAP", "ITEM_GAP.xml"),
        (7, "ITEM_HOTTEXT", "ITEM_HOTTEXT.xml"),
        (8, "ITEM_SELECT_POINT", "ITEM_SELECT_POINT.xml"),
    ]
    choice = (await client.get("/v1/items/ITEM_CHOICE", headers=b)).json()["content"]
    assert choice["key"] == {"correct": "CHOICE3"}
    assert choice["loadings"] == [{"indicator": "AK.1", "weight": 1.0}]
    assert choice["stem"] == {"nl-NL": "Welke van de onderstaande elementen heeft de hoogste atoommassa?"}
    assert (await client.get("/v1/images/" + choice["image"], headers=b)).status_code == 200
    order = (await client.get("/v1/items/ITEM_ORDER", headers=b)).json()["content"]
    assert order["key"] == {"order": ["C1", "C2", "C3"], "credit": "exact"}
    assert (await client.get("/v1/items/ITEM_EXTENDED", headers=b)).json()["content"][
        "type"
    ] == "open_response"


async def test_an_item_the_bank_refuses_leaves_nothing_behind_in_a_partial_import(client, regions):
    _, b = regions
    other = b"\x89PNG\r\n\x1a\n" + b"an image of a refused item"
    good = msgspec.convert(_with_image("QTI-GOOD"), Item)
    other_id = hashlib.sha256(other).hexdigest()
    bad = msgspec.convert(
        {
            **_with_image("QTI-BAD"),
            "image": other_id,
            "options": [{"key": k, "text": {"en": k}} for k in "ab"],
            "loadings": [{"indicator": "NOPE.1"}],  # not an indicator of the framework
        },
        Item,
    )
    images = {PNG_ID: ("image/png", PNG), other_id: ("image/png", other)}
    result = await _import(client, b, package([bad, good], images, "M"), partial="true")
    assert result.status_code == 200, result.text
    assert result.json()["created"] == ["QTI-GOOD"]
    (rejected,) = result.json()["rejected"]
    assert rejected["problems"][0]["pointer"] == "/items/0/loadings/0/indicator"
    assert (await client.get("/v1/images/" + PNG_ID, headers=b)).status_code == 200
    assert (await client.get("/v1/images/" + other_id, headers=b)).status_code == 404


async def test_broken_or_hostile_packages_get_a_typed_error_and_change_nothing(client, regions):
    _, b = regions
    hostile = io.BytesIO()
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr(
            "imsmanifest.xml",
            '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/hostname">]><manifest>&x;</manifest>',
        )
    for content, says in (
        (b"not a zip", "not a zip archive"),
        (hostile.getvalue(), "imsmanifest.xml is refused"),
    ):
        response = await _import(client, b, content, partial="true")
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == "urn:assess:problem:qti-package-malformed"
        assert says in problem["detail"] and problem["errors"][0]["pointer"] == "/file"
    in_chinese = await _import(client, {**b, "Accept-Language": "zh-CN"}, b"not a zip", partial="true")
    assert in_chinese.headers["content-language"] == "zh-CN"
    assert "zip" in in_chinese.json()["detail"] and "不是" in in_chinese.json()["detail"]
    unknown = await _import(client, b, b"not a zip", framework="NOWHERE-FW")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["parameter"] == "framework"
    assert await _bank(client, b) == []


async def test_one_assessments_items_export_alone(client, regions):
    a, _ = regions
    imported = await client.post(
        "/v1/items/import",
        content=(ITEMS_DIR / FRAMEWORK / "items.json").read_bytes(),
        headers={**a, "Content-Type": "application/json"},
    )
    assert imported.status_code == 200, imported.text
    form = sample_assessment(FRAMEWORK)
    assert (
        await client.post("/v1/assessments", json=msgspec.to_builtins(form), headers=a)
    ).status_code == 201
    exported = await client.get(f"/v1/assessments/{form.code}/items/qti", headers=a)
    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        items = [name for name in archive.namelist() if name.startswith("items/")]
    referenced = {ref.code for s in form.sections for ref in (s.items or (s.pool.items if s.pool else []))}
    assert len(items) == len(referenced)
    assert (await client.get("/v1/assessments/NOWHERE/items/qti", headers=a)).status_code == 404


async def test_raters_read_packages_but_only_authors_and_admins_import(client, service_keys):
    region = await make_tenant(client, service_keys, "qti-roles")
    await publish_framework(client, region["admin"])
    rater, candidate = (user(service_keys, region["id"], [role]) for role in ("rater", "candidate"))
    assert (await client.get("/v1/items/export/qti", headers=rater)).status_code == 200
    assert (await client.get("/v1/items/export/qti", headers=candidate)).status_code == 403
    content = package([msgspec.convert(_with_image("QTI-R"), Item)], {PNG_ID: ("image/png", PNG)}, "M")
    refused = await _import(client, rater, content)
    assert refused.status_code == 403
    assert await _bank(client, region["admin"]) == []
