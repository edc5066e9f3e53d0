"""The item bank over HTTP: create, read, preview, search, edit under ETags (in place until a
published assessment pins the version, then as a new version), retire and restore, import
(all or nothing) and export, and who may do what."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from service.items.model import Item
from tests.delivery_setup import FRAMEWORK, ITEMS, publish_assessment, publish_framework
from tests.harness import snapshot
from tests.helpers import all_pages, make_tenant, user

OTHER_FRAMEWORK = "unesco-ai-competency-teachers"
CODES = sorted(item["code"] for item in ITEMS)


def item(code: str, /, **changes: Any) -> dict[str, Any]:
    """A copy of one of the shared valid items with top-level fields replaced."""
    document = copy.deepcopy(next(raw for raw in ITEMS if raw["code"] == code))
    document.update(copy.deepcopy(changes))
    return document


def canonical(document: dict[str, Any]) -> dict[str, Any]:
    """An item as the bank stores and returns it (nested defaults such as loading weights spelled out)."""
    return msgspec.to_builtins(msgspec.convert(document, Item))  # type: ignore[arg-type]


def pointers(response: Any) -> list[str]:
    """The sorted pointers of a problem+json response's errors."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return sorted(error.get("pointer", "") for error in response.json()["errors"])


def quiz(code: str = "quiz", items: list[str] | None = None) -> dict[str, Any]:
    """A minimal assessment over fixed items, for everyone of one category."""
    return {
        "code": code,
        "title": {"en": "Quiz"},
        "framework": {"code": FRAMEWORK, "version": 1},
        "sections": [{"code": "main", "items": [{"code": c} for c in (items or ["T-SC-1"])]}],
        "audience": {"categories": ["civil_servant"]},
    }


async def import_all(client: Any, admin: dict[str, str], items: list[dict[str, Any]] | None = None) -> dict:
    body = {"items": copy.deepcopy(items or ITEMS)}
    response = await client.post("/v1/items/import", json=body, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def search(client: Any, admin: dict[str, str], **params: Any) -> list[str]:
    """Codes of every matching item, following cursors two at a time."""
    found = await all_pages(client, "/v1/items", admin, limit=2, **params)
    return [row["code"] for row in found]


async def publish_framework_other(client: Any, admin: dict[str, str]) -> None:
    """Adopt and publish a second shipped template, so items of two frameworks exist."""
    adopted = await client.post("/v1/frameworks", json={"template": OTHER_FRAMEWORK}, headers=admin)
    assert adopted.status_code == 201, adopted.text
    etag = (await client.get(f"/v1/frameworks/{OTHER_FRAMEWORK}/versions/1", headers=admin)).headers["etag"]
    published = await client.post(
        f"/v1/frameworks/{OTHER_FRAMEWORK}/versions/1/publish", headers={**admin, "If-Match": etag}
    )
    assert published.status_code == 200, published.text


@pytest.fixture
@snapshot
async def tenant(client, service_keys):
    """A tenant whose cadre framework has a published version 1; `admin` headers included."""
    tenant = await make_tenant(client, service_keys, "item-region")
    await publish_framework(client, tenant["admin"])
    return tenant


@pytest.fixture
def admin(tenant):
    return tenant["admin"]


async def test_create_get_and_preview(client, admin):
    """201 with an ETag; GET returns the same version with its key; preview is the candidate's view."""
    body = item("T-SJT-RATE")
    created = await client.post("/v1/items", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1.1"'
    version = created.json()
    assert (version["code"], version["version"], version["revision"], version["latest_version"]) == (
        "T-SJT-RATE",
        1,
        1,
        1,
    )
    assert version["status"] == "active" and not version["locked"]
    assert version["content"] == canonical(body) and version["content_hash"].startswith("sha256:")

    got = await client.get("/v1/items/T-SJT-RATE", headers=admin)
    assert got.status_code == 200 and got.headers["etag"] == '"1.1"'
    assert got.json()["content"]["key"] == body["key"]
    assert (await client.get("/v1/items/T-SJT-RATE/versions/1", headers=admin)).json() == got.json()

    preview = await client.get("/v1/items/T-SJT-RATE/preview", headers=admin)
    assert preview.status_code == 200, preview.text
    view = preview.json()
    assert view["ref"] == "T-SJT-RATE" and view["answer_with"] == "ratings" and view["rating_points"] == 4
    assert [o["key"] for o in view["options"]] == ["a", "b", "c", "d"]
    assert not {"key", "loadings", "framework", "credit"} & set(view)

    assert (await client.get("/v1/items/nope", headers=admin)).status_code == 404
    assert (await client.get("/v1/items/T-SJT-RATE/versions/2", headers=admin)).status_code == 404
    assert (await client.get("/v1/items/nope/preview", headers=admin)).status_code == 404


async def test_previews_of_every_type_carry_no_key(client, admin):
    """No preview response contains key material: field names or the open-response rater notes."""
    await import_all(client, admin)
    for code in CODES:
        preview = await client.get(f"/v1/items/{code}/preview", headers=admin)
        assert preview.status_code == 200, preview.text
        text = preview.text
        for secret in (
            '"key":{',
            '"correct"',
            '"credit"',
            '"reverse"',
            '"rater_notes"',
            '"exemplars"',
            "Look for context",
            "示例答案",
        ):
            assert secret not in text, (code, secret)


async def test_search_filters_and_pages(client, tenant, admin):
    """Search by indicator, type, status, text (zh-CN and en, code, options; never the key) and
    framework; results come in code order across pages."""
    await import_all(client, admin)
    await publish_framework_other(client, admin)
    other = item("T-SC-1", code="U-SC-1", framework=OTHER_FRAMEWORK, loadings=[{"indicator": "D1.1"}])
    assert (await client.post("/v1/items", json=other, headers=admin)).status_code == 201

    everything = await search(client, admin)
    assert everything == sorted([*CODES, "U-SC-1"])
    assert await search(client, admin, framework=FRAMEWORK) == CODES
    assert await search(client, admin, framework=OTHER_FRAMEWORK) == ["U-SC-1"]
    assert await search(client, admin, indicator="HMC.3") == [
        "T-LK-1",
        "T-ORD-1",
        "T-SJT-BEST",
        "T-SJT-ML",
        "T-SJT-RATE",
    ]
    assert await search(client, admin, indicator="ES.1") == ["T-SJT-BEST", "T-SJT-ML", "T-SJT-RATE"]
    assert await search(client, admin, indicator="AK.3") == []
    assert await search(client, admin, type="likert") == ["T-LK-1"]
    assert await search(client, admin, type="single_choice") == ["T-SC-1", "U-SC-1"]

    assert await search(client, admin, q="通知") == [
        "T-SJT-BEST",
        "T-SJT-ML",
        "T-SJT-RATE",
    ]  # scenario, zh-CN
    assert await search(client, admin, q="写一个提示词") == ["T-OR-1"]  # stem, zh-CN
    assert await search(client, admin, q="WRITE A PROMPT") == ["T-OR-1"]  # stem, en, any case
    assert await search(client, admin, q="选项e") == ["T-MC-1"]  # only the multiple choice has five options
    assert await search(client, admin, q="t-lk") == ["T-LK-1"]  # code
    assert await search(client, admin, q="Look for context") == []  # rater notes are key material
    assert await search(client, admin, q="示例答案") == []  # so are exemplars
    assert await search(client, admin, q="通知", indicator="ES.1", type="situational_judgement") == [
        "T-SJT-BEST",
        "T-SJT-ML",
        "T-SJT-RATE",
    ]

    assert (await client.post("/v1/items/T-SC-1/retire", headers=admin)).status_code == 200
    assert await search(client, admin, status="retired") == ["T-SC-1"]
    active = await search(client, admin, status="active", framework=FRAMEWORK)
    assert active == [c for c in CODES if c != "T-SC-1"]

    page = (await client.get("/v1/items", params={"limit": 3}, headers=admin)).json()
    assert [row["code"] for row in page["items"]] == everything[:3] and page["next_cursor"]
    row = next(r for r in (await all_pages(client, "/v1/items", admin)) if r["code"] == "T-SJT-ML")
    assert row["indicators"] == ["ES.1", "HMC.3"] and row["type"] == "situational_judgement"
    assert row["latest_version"] == 1 and row["framework"] == FRAMEWORK
    assert row["stem"]["en"] == "What would you do?"


async def test_put_needs_a_current_if_match(client, admin):
    """No If-Match: 428. A stale one: 412. The current one edits version 1 in place (revision up),
    and search follows the edit (text and indicators)."""
    created = await client.post("/v1/items", json=item("T-SC-1"), headers=admin)
    etag = created.headers["etag"]
    edited = item("T-SC-1", stem={"zh-CN": "单选（改）", "en": "Single, edited"})

    missing = await client.put("/v1/items/T-SC-1", json=edited, headers=admin)
    assert missing.status_code == 428, missing.text
    stale = await client.put("/v1/items/T-SC-1", json=edited, headers={**admin, "If-Match": '"1.7"'})
    assert stale.status_code == 412, stale.text

    done = await client.put("/v1/items/T-SC-1", json=edited, headers={**admin, "If-Match": etag})
    assert done.status_code == 200, done.text
    assert done.headers["etag"] == '"1.2"'
    assert (done.json()["version"], done.json()["revision"], done.json()["latest_version"]) == (1, 2, 1)
    assert done.json()["content"]["stem"]["en"] == "Single, edited"

    again = await client.put("/v1/items/T-SC-1", json=item("T-SC-1"), headers={**admin, "If-Match": etag})
    assert again.status_code == 412  # the first ETag is now stale
    star = await client.put("/v1/items/T-SC-1", json=item("T-SC-1"), headers={**admin, "If-Match": "*"})
    assert star.status_code == 200 and star.headers["etag"] == '"1.3"'
    same = await client.put("/v1/items/T-SC-1", json=item("T-SC-1"), headers={**admin, "If-Match": '"1.3"'})
    assert same.status_code == 200 and same.headers["etag"] == '"1.3"'  # no change, no new revision
    moved = item("T-SC-1", stem={"en": "Renamed stem"}, loadings=[{"indicator": "AK.2"}])
    reindexed = await client.put("/v1/items/T-SC-1", json=moved, headers={**admin, "If-Match": '"1.3"'})
    assert reindexed.status_code == 200 and reindexed.headers["etag"] == '"1.4"'
    assert await search(client, admin, indicator="AK.2") == ["T-SC-1"]
    assert await search(client, admin, indicator="AK.1") == []
    assert await search(client, admin, q="renamed STEM") == ["T-SC-1"]
    assert await search(client, admin, q="单选") == []
    assert (
        await client.put(
            "/v1/items/nope", json=item("T-SC-1", code="nope"), headers={**admin, "If-Match": "*"}
        )
    ).status_code == 404


async def test_an_edit_after_publish_makes_a_new_version(client, admin):
    """Once a published assessment pins version 1, an edit creates version 2; version 1 never
    changes and the assessment still pins (and shows) version 1. Version 2 is then edited in place."""
    await import_all(client, admin)
    published = await publish_assessment(client, admin, quiz())
    assert published["content"]["sections"][0]["items"] == [{"code": "T-SC-1", "version": 1}]
    pinned = await client.get("/v1/items/T-SC-1", headers=admin)
    assert pinned.json()["locked"] and pinned.headers["etag"] == '"1.1"'

    edited = item("T-SC-1", stem={"zh-CN": "新版", "en": "New version"})
    second = await client.put("/v1/items/T-SC-1", json=edited, headers={**admin, "If-Match": '"1.1"'})
    assert second.status_code == 200, second.text
    assert second.headers["etag"] == '"2.1"'
    assert (second.json()["version"], second.json()["latest_version"], second.json()["locked"]) == (
        2,
        2,
        False,
    )

    first = await client.get("/v1/items/T-SC-1/versions/1", headers=admin)
    assert first.json()["content"] == canonical(item("T-SC-1")) and first.json()["locked"]
    assert first.json()["latest_version"] == 2
    assert (await client.get("/v1/items/T-SC-1/preview", params={"version": 1}, headers=admin)).json()[
        "stem"
    ] == "Single"
    assert (await client.get("/v1/items/T-SC-1/preview", headers=admin)).json()["stem"] == "New version"

    assessment = (await client.get("/v1/assessments/quiz", headers=admin)).json()
    assert assessment["content"]["sections"][0]["items"] == [{"code": "T-SC-1", "version": 1}]
    form = (await client.get("/v1/assessments/quiz/preview", params={"seed": 1}, headers=admin)).json()
    assert [(f["version"], f["view"]["stem"]["en"]) for f in form["items"]] == [(1, "Single")]

    third = item("T-SC-1", stem={"zh-CN": "新版二", "en": "New version, again"})
    in_place = await client.put("/v1/items/T-SC-1", json=third, headers={**admin, "If-Match": '"2.1"'})
    assert in_place.status_code == 200 and in_place.headers["etag"] == '"2.2"'
    assert (await client.get("/v1/items/T-SC-1/versions/3", headers=admin)).status_code == 404
    stale = await client.put("/v1/items/T-SC-1", json=edited, headers={**admin, "If-Match": '"1.1"'})
    assert stale.status_code == 412


async def test_code_type_and_framework_cannot_change(client, admin):
    """An edit that changes the item's identity is refused with a pointer per changed field."""
    await import_all(client, admin)
    headers = {**admin, "If-Match": "*"}
    renamed = await client.put("/v1/items/T-SC-1", json=item("T-SC-1", code="T-SC-2"), headers=headers)
    assert renamed.status_code == 422 and pointers(renamed) == ["/code"]
    retyped = await client.put("/v1/items/T-SC-1", json=item("T-LK-1", code="T-SC-1"), headers=headers)
    assert retyped.status_code == 422 and pointers(retyped) == ["/type"]
    moved = await client.put("/v1/items/T-SC-1", json=item("T-SC-1", framework="other-fw"), headers=headers)
    assert moved.status_code == 422 and pointers(moved) == ["/framework"]
    everything = await client.put(
        "/v1/items/T-SC-1", json=item("T-LK-1", framework="other-fw"), headers=headers
    )
    assert everything.status_code == 422 and pointers(everything) == ["/code", "/framework", "/type"]
    assert (await client.get("/v1/items/T-SC-1", headers=admin)).json()["revision"] == 1


async def test_validation_names_every_problem(client, admin):
    """A create or edit with several problems gets one 422 naming them all; nothing is saved."""
    bad = item(
        "T-SC-1",
        loadings=[{"indicator": "AK.1", "weight": 0.5}, {"indicator": "ZZ.1", "weight": 0.6}],
        options=[{"key": k, "text": {"en": k}} for k in ("a", "b", "a")],
        key={"correct": "z"},
    )
    created = await client.post("/v1/items", json=bad, headers=admin)
    assert created.status_code == 422, created.text
    assert pointers(created) == ["/key/correct", "/loadings", "/loadings/1/indicator", "/options/2/key"]
    assert all(error["detail"] for error in created.json()["errors"])
    assert (await client.get("/v1/items/T-SC-1", headers=admin)).status_code == 404

    assert (await client.post("/v1/items", json=item("T-ORD-1"), headers=admin)).status_code == 201
    edit = await client.put(
        "/v1/items/T-ORD-1",
        json=item("T-ORD-1", key={"order": ["a", "b"]}),
        headers={**admin, "If-Match": '"1.1"'},
    )
    assert edit.status_code == 422 and pointers(edit) == ["/key/order"]
    kept = (await client.get("/v1/items/T-ORD-1", headers=admin)).json()
    assert kept["content"] == canonical(item("T-ORD-1"))

    malformed = await client.post("/v1/items", json={**item("T-LK-1"), "colour": "red"}, headers=admin)
    assert malformed.status_code == 400 and pointers(malformed) == ["/colour"]


async def test_a_framework_without_a_published_version(client, admin):
    """Items are written against a published framework version: an unknown framework, or one still
    in draft, is named at /framework (at /items/<i>/framework in an import)."""
    adopted = await client.post("/v1/frameworks", json={"template": OTHER_FRAMEWORK}, headers=admin)
    assert adopted.status_code == 201
    draft = item("T-SC-1", framework=OTHER_FRAMEWORK, loadings=[{"indicator": "D1.1"}])
    for framework in (OTHER_FRAMEWORK, "no-such-framework"):
        refused = await client.post("/v1/items", json={**draft, "framework": framework}, headers=admin)
        assert refused.status_code == 422 and pointers(refused) == ["/framework"]
    imported = await client.post("/v1/items/import", json={"items": [item("T-LK-1"), draft]}, headers=admin)
    assert imported.status_code == 422 and pointers(imported) == ["/items/1/framework"]
    assert await search(client, admin) == []


async def test_a_duplicate_code_conflicts(client, admin):
    """Creating a second item with a code in use is 409, pointing at /code."""
    assert (await client.post("/v1/items", json=item("T-SC-1"), headers=admin)).status_code == 201
    again = await client.post("/v1/items", json=item("T-LK-1", code="T-SC-1"), headers=admin)
    assert again.status_code == 409 and pointers(again) == ["/code"]


async def test_import_is_all_or_nothing(client, admin):
    """One bad item among good ones: 422 naming each problem under /items/<i>, and nothing created."""
    items = copy.deepcopy(ITEMS)
    items[0]["key"]["correct"] = "z"
    items[6]["key"]["order"] = ["a", "b", "c", "c"]
    refused = await client.post("/v1/items/import", json={"items": items}, headers=admin)
    assert refused.status_code == 422, refused.text
    assert pointers(refused) == ["/items/0/key/correct", "/items/6/key/order"]
    assert await search(client, admin) == []

    repeated = {"items": [item("T-SC-1"), item("T-LK-1"), item("T-SC-1")]}
    twice = await client.post("/v1/items/import", json=repeated, headers=admin)
    assert twice.status_code == 422 and pointers(twice) == ["/items/2/code"]
    assert await search(client, admin) == []


async def test_import_creates_then_reports_unchanged_updated_and_new_versions(client, admin):
    """A first import creates; the same file again changes nothing; edits are made in place, or as
    a new version for an item a published assessment pins."""
    first = await import_all(client, admin)
    assert sorted(first["created"]) == CODES
    assert first["updated"] == first["new_versions"] == first["unchanged"] == []
    again = await import_all(client, admin)
    assert sorted(again["unchanged"]) == CODES
    assert again["created"] == again["updated"] == again["new_versions"] == []

    await publish_assessment(client, admin, quiz(items=["T-MC-1"]))
    edited = copy.deepcopy(ITEMS)
    for raw in edited:
        if raw["code"] in ("T-SC-1", "T-MC-1"):
            raw["stem"] = {"en": "Edited " + raw["code"]}
    edited.append(item("T-LK-1", code="T-LK-2"))
    result = await import_all(client, admin, edited)
    assert sorted(result["unchanged"]) == [c for c in CODES if c not in ("T-MC-1", "T-SC-1")]
    assert result["created"] == ["T-LK-2"]
    assert (result["new_versions"], result["updated"]) == (["T-MC-1"], ["T-SC-1"])

    mc = (await client.get("/v1/items/T-MC-1", headers=admin)).json()
    assert (mc["version"], mc["content"]["stem"]) == (2, {"en": "Edited T-MC-1"})
    pinned = (await client.get("/v1/items/T-MC-1/versions/1", headers=admin)).json()
    assert pinned["content"] == canonical(item("T-MC-1"))
    sc = (await client.get("/v1/items/T-SC-1", headers=admin)).json()
    assert (sc["version"], sc["revision"]) == (1, 2)


async def test_an_import_changing_identity_saves_nothing(client, admin):
    """An import that would change an existing item's type is refused at /items/<i>/type, and the
    new items of the same import are not created either."""
    await import_all(client, admin, [item("T-SC-1")])
    items = [item("T-LK-1", code="NEW-1"), item("T-LK-1", code="T-SC-1"), item("T-OR-1", code="NEW-2")]
    refused = await client.post("/v1/items/import", json={"items": items}, headers=admin)
    assert refused.status_code == 422, refused.text
    assert pointers(refused) == ["/items/1/type"]
    assert await search(client, admin) == ["T-SC-1"]


async def test_export_round_trips_through_import(client, service_keys, admin):
    """Export is the import format with keys: re-importing it changes nothing, and importing it into
    another tenant recreates an identical bank."""
    await import_all(client, admin)
    exported = await client.get("/v1/items/export", headers=admin)
    assert exported.status_code == 200, exported.text
    bank = exported.json()
    assert [raw["code"] for raw in bank["items"]] == CODES
    assert {raw["code"]: raw for raw in bank["items"]} == {raw["code"]: canonical(raw) for raw in ITEMS}
    assert sorted((await import_all(client, admin, bank["items"]))["unchanged"]) == CODES

    other = await make_tenant(client, service_keys, "item-region-two")
    await publish_framework(client, other["admin"])
    assert sorted((await import_all(client, other["admin"], bank["items"]))["created"]) == CODES
    assert (await client.get("/v1/items/export", headers=other["admin"])).json() == bank

    assert (await client.post("/v1/items/T-SC-1/retire", headers=admin)).status_code == 200
    retired = (await client.get("/v1/items/export", params={"status": "retired"}, headers=admin)).json()
    assert [raw["code"] for raw in retired["items"]] == ["T-SC-1"]
    none = await client.get("/v1/items/export", params={"framework": "nope"}, headers=admin)
    assert none.json() == {"items": []}


async def test_retired_items_are_kept_out_of_assessments_until_restored(client, admin):
    """A retired item cannot be edited or published in an assessment (the pointer names it); restored,
    it can. Retiring an item a published assessment pins leaves that assessment working."""
    await import_all(client, admin)
    retired = await client.post("/v1/items/T-LK-1/retire", headers=admin)
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert (await client.get("/v1/items/T-LK-1", headers=admin)).json()["status"] == "retired"
    edit = await client.put(
        "/v1/items/T-LK-1", json=item("T-LK-1", stem={"en": "x"}), headers={**admin, "If-Match": "*"}
    )
    assert edit.status_code == 409

    created = await client.post("/v1/assessments", json=quiz(items=["T-SC-1", "T-LK-1"]), headers=admin)
    assert created.status_code == 201
    if_match = {**admin, "If-Match": created.headers["etag"]}
    refused = await client.post("/v1/assessments/quiz/publish", headers=if_match)
    assert refused.status_code == 422 and pointers(refused) == ["/sections/0/items/1/code"]
    assert "retired" in refused.json()["errors"][0]["detail"]

    restored = await client.post("/v1/items/T-LK-1/restore", headers=admin)
    assert restored.status_code == 200 and restored.json()["status"] == "active"
    published = await client.post("/v1/assessments/quiz/publish", headers=if_match)
    assert published.status_code == 200, published.text

    assert (await client.post("/v1/items/T-SC-1/retire", headers=admin)).status_code == 200
    form = await client.get("/v1/assessments/quiz/preview", params={"seed": 7}, headers=admin)
    assert form.status_code == 200
    assert sorted(f["view"]["ref"] for f in form.json()["items"]) == ["T-LK-1", "T-SC-1"]
    assert (await client.post("/v1/items/nope/retire", headers=admin)).status_code == 404
    assert (await client.post("/v1/items/nope/restore", headers=admin)).status_code == 404


async def test_analysts_read_but_do_not_write(client, service_keys, tenant, admin):
    """Analysts and raters read the bank; only tenant admins and authors write; candidates do neither."""
    await import_all(client, admin)
    analyst = user(service_keys, tenant["id"], ["analyst"])
    for url in (
        "/v1/items",
        "/v1/items/T-SC-1",
        "/v1/items/T-SC-1/versions/1",
        "/v1/items/T-SC-1/preview",
        "/v1/items/export",
    ):
        assert (await client.get(url, headers=analyst)).status_code == 200, url
    headers = {**analyst, "If-Match": "*"}
    writes = [
        await client.post("/v1/items", json=item("T-SC-1", code="X-1"), headers=analyst),
        await client.put("/v1/items/T-SC-1", json=item("T-SC-1", stem={"en": "x"}), headers=headers),
        await client.post("/v1/items/import", json={"items": [item("T-SC-1", code="X-2")]}, headers=analyst),
        await client.post("/v1/items/T-SC-1/retire", headers=analyst),
        await client.post("/v1/items/T-SC-1/restore", headers=analyst),
    ]
    assert [w.status_code for w in writes] == [403] * len(writes)
    assert (await client.get("/v1/items/T-SC-1", headers=admin)).json()["status"] == "active"
    assert await search(client, admin) == CODES

    author = user(service_keys, tenant["id"], ["author"])
    assert (
        await client.post("/v1/items", json=item("T-SC-1", code="X-3"), headers=author)
    ).status_code == 201
    rater = user(service_keys, tenant["id"], ["rater"])
    assert (await client.get("/v1/items/X-3", headers=rater)).status_code == 200
    candidate = user(service_keys, tenant["id"], ["candidate"])
    assert (await client.get("/v1/items/X-3", headers=candidate)).status_code == 403


async def test_reimporting_a_retired_item_unchanged_is_fine(client, admin):
    """An export that includes retired items can be imported back: a retired item with the same
    content is reported unchanged and stays retired."""
    await import_all(client, admin)
    assert (await client.post("/v1/items/T-LK-1/retire", headers=admin)).status_code == 200
    bank = (await client.get("/v1/items/export", headers=admin)).json()
    assert sorted((await import_all(client, admin, bank["items"]))["unchanged"]) == CODES
    assert (await client.get("/v1/items/T-LK-1", headers=admin)).json()["status"] == "retired"


async def test_an_import_does_not_edit_a_retired_item(client, admin):
    """PUT refuses to edit a retired item; an import that changes one should be refused too (with a
    pointer to the item) and save nothing, instead of silently editing it."""
    await import_all(client, admin)
    assert (await client.post("/v1/items/T-LK-1/retire", headers=admin)).status_code == 200
    put = await client.put(
        "/v1/items/T-LK-1", json=item("T-LK-1", stem={"en": "Edited"}), headers={**admin, "If-Match": "*"}
    )
    assert put.status_code == 409
    imported = await client.post(
        "/v1/items/import",
        json={"items": [item("T-LK-1", stem={"en": "Edited"}), item("T-SC-1", code="NEW-1")]},
        headers=admin,
    )
    assert imported.status_code == 422, imported.text  # a retired item cannot be edited
    assert "/items/0" in "".join(pointers(imported))
    assert (await client.get("/v1/items/T-LK-1", headers=admin)).json()["content"] == canonical(
        item("T-LK-1")
    )
    assert (await client.get("/v1/items/NEW-1", headers=admin)).status_code == 404


async def test_the_sample_bank_imports_under_any_adopted_code(client, service_keys):
    """The shipped bank names the template's code; `?framework=` places it under the code the tenant
    adopted the template as (which the file alone cannot reach), and an unknown one is named."""
    import json

    from service.items.samples import ITEMS_DIR

    admin = (await make_tenant(client, service_keys, "sample-region"))["admin"]
    adopted = await client.post(
        "/v1/frameworks", json={"template": "cadre-ai-literacy", "code": "gz-cal"}, headers=admin
    )
    assert adopted.status_code == 201, adopted.text
    read = await client.get("/v1/frameworks/gz-cal/versions/1", headers=admin)
    published = await client.post(
        "/v1/frameworks/gz-cal/versions/1/publish", headers={**admin, "If-Match": read.headers["etag"]}
    )
    assert published.status_code == 200, published.text
    bank = json.loads((ITEMS_DIR / "cadre-ai-literacy" / "items.json").read_text(encoding="utf-8"))

    as_written = await client.post("/v1/items/import", json=bank, headers=admin)
    assert as_written.status_code == 422  # no framework 'cadre-ai-literacy' in this tenant
    unknown = await client.post("/v1/items/import", params={"framework": "nope"}, json=bank, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["errors"] == [
        {"detail": "no published framework 'nope'", "parameter": "framework"}
    ]

    imported = await client.post("/v1/items/import", params={"framework": "gz-cal"}, json=bank, headers=admin)
    assert imported.status_code == 200, imported.text
    assert len(imported.json()["created"]) == len(bank["items"])
    listed = await all_pages(client, "/v1/items", admin, framework="gz-cal")
    assert len(listed) == len(bank["items"])
    first = (await client.get(f"/v1/items/{bank['items'][0]['code']}", headers=admin)).json()
    assert first["content"]["framework"] == "gz-cal"
