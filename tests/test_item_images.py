"""Images in items over HTTP: accepted by content (PNG, JPEG, WebP) and size, refused otherwise with a
problem naming the field; served with an immutable ETag to the tenant's staff and, of candidates, only
to those whose form shows the image; invisible to every other tenant."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import asyncpg
import httpx

from service.auth.keys import ServiceKeys
from service.items.images import MAX_IMAGE_BYTES
from tests.delivery_setup import ITEMS, assessment_body, publish_assessment, publish_framework
from tests.helpers import blocked_on_a_lock, make_tenant, user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 40
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x02" * 40
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes,
    name: str = "a.png",
    ctype: str = "image/png",
) -> httpx.Response:
    return await client.post("/v1/images", files={"file": (name, content, ctype)}, headers=headers)


def problem_pointers(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return [e.get("pointer") for e in response.json()["errors"]]


async def test_images_are_accepted_by_content_and_refused_otherwise(
    client, service_keys: ServiceKeys
) -> None:
    tenant = await make_tenant(client, service_keys, "image-region")
    admin = tenant["admin"]
    for content, media_type in ((PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")):
        # The name and the claimed type do not matter: the bytes do.
        stored = await upload(client, admin, content, name="x.bin", ctype="application/octet-stream")
        assert stored.status_code == 201, stored.text
        assert stored.json()["id"] == hashlib.sha256(content).hexdigest()
        assert stored.json()["media_type"] == media_type and stored.json()["size"] == len(content)
    again = await upload(client, admin, PNG)
    assert again.status_code == 201 and again.json()["id"] == hashlib.sha256(PNG).hexdigest()
    listed = (await client.get("/v1/images", headers=admin)).json()["images"]
    assert len(listed) == 3
    for content, name, ctype in (
        (SVG, "evil.svg", "image/svg+xml"),
        (b"this is only text, named like a picture", "photo.png", "image/png"),
        (b"GIF89a" + b"\x00" * 20, "old.gif", "image/gif"),
        (b"", "empty.png", "image/png"),
        (PNG + b"\x00" * (MAX_IMAGE_BYTES - len(PNG) + 1), "big.png", "image/png"),
    ):
        refused = await upload(client, admin, content, name, ctype)
        assert refused.status_code == 422, (name, refused.text)
        assert problem_pointers(refused) == ["/file"], name
    missing = await client.post("/v1/images", data={"other": "x"}, headers=admin)
    assert missing.status_code == 422 and problem_pointers(missing) == ["/file"]
    as_json = await client.post("/v1/images", json={"file": "x"}, headers=admin)
    assert as_json.status_code == 422 and problem_pointers(as_json) == ["/file"]
    # Only authors and admins upload.
    analyst = user(service_keys, tenant["id"], ["analyst"])
    assert (await upload(client, analyst, PNG)).status_code == 403
    assert (await client.get("/v1/images", headers=analyst)).status_code == 200
    zh = await upload(client, {**admin, "Accept-Language": "zh-CN"}, SVG, "evil.svg", "image/svg+xml")
    assert "SVG" in zh.json()["errors"][0]["detail"] and zh.json()["errors"][0]["detail"].isascii() is False


async def test_images_are_cached_by_hash_and_private_to_their_tenant(
    client, service_keys: ServiceKeys
) -> None:
    a = await make_tenant(client, service_keys, "image-a")
    b = await make_tenant(client, service_keys, "image-b")
    image_id = (await upload(client, a["admin"], PNG)).json()["id"]
    got = await client.get(f"/v1/images/{image_id}", headers=a["admin"])
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["etag"] == f'"{image_id}"'
    assert got.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert got.headers["x-content-type-options"] == "nosniff"
    cached = await client.get(
        f"/v1/images/{image_id}", headers={**a["admin"], "If-None-Match": got.headers["etag"]}
    )
    assert cached.status_code == 304 and cached.content == b""
    # Another tenant: the same id does not exist there, even for its admin.
    other = await client.get(f"/v1/images/{image_id}", headers=b["admin"])
    assert other.status_code == 404 and other.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/images", headers=b["admin"])).json()["images"] == []
    # B uploading the same bytes gets its own copy, under the same id.
    assert (await upload(client, b["admin"], PNG)).json()["id"] == image_id
    assert (await client.get("/v1/images/" + "0" * 64, headers=a["admin"])).status_code == 404
    assert (await client.get("/v1/images/not-a-hash", headers=a["admin"])).status_code == 400


def _with_images(stem_image: str, option_image: str) -> list[dict[str, Any]]:
    items = copy.deepcopy(ITEMS)
    single = next(i for i in items if i["code"] == "T-SC-1")
    single["image"] = stem_image
    single["image_alt"] = {"zh-CN": "一段人工智能回答的截图", "en": "A screenshot of an AI answer"}
    single["options"][1]["image"] = option_image
    single["options"][1]["image_alt"] = {"zh-CN": "一张图表", "en": "A chart"}
    return items


async def test_candidates_get_only_images_on_their_forms(client, service_keys: ServiceKeys) -> None:
    tenant = await make_tenant(client, service_keys, "image-delivery")
    admin = tenant["admin"]
    for unit in (
        {"code": "prov", "name": "Province"},
        {"code": "city", "name": "City", "parent_code": "prov"},
    ):
        assert (await client.post("/v1/org-units", json=unit, headers=admin)).status_code == 201
    rows = [{"external_id": f"c{i}", "org_unit_code": "city", "category": "civil_servant"} for i in (1, 2)]
    assert (await client.post("/v1/people/bulk", json={"people": rows}, headers=admin)).status_code == 200
    await publish_framework(client, admin)
    shown = (await upload(client, admin, PNG)).json()["id"]
    option = (await upload(client, admin, JPEG)).json()["id"]
    unused = (await upload(client, admin, WEBP)).json()["id"]
    # An item naming an image the tenant does not have is refused, naming the field.
    bad = _with_images("f" * 64, option)
    refused = await client.post("/v1/items/import", json={"items": bad}, headers=admin)
    assert refused.status_code == 422 and problem_pointers(refused) == ["/items/0/image"]
    # An image without its text alternative is refused too: a candidate who cannot see it hears the alt.
    no_alt = _with_images(shown, option)
    del next(i for i in no_alt if i["code"] == "T-SC-1")["options"][1]["image_alt"]
    refused = await client.post("/v1/items/import", json={"items": no_alt}, headers=admin)
    assert refused.status_code == 422 and problem_pointers(refused) == ["/items/0/options/1/image_alt"]
    imported = await client.post(
        "/v1/items/import", json={"items": _with_images(shown, option)}, headers=admin
    )
    assert imported.status_code == 200, imported.text
    preview = (await client.get("/v1/items/T-SC-1/preview", headers=admin)).json()
    assert preview["image"] == shown and preview["options"][1]["image"] == option and "key" not in preview
    await publish_assessment(client, admin, assessment_body())
    c1, c2 = (user(service_keys, tenant["id"], ["candidate"], sub=s) for s in ("c1", "c2"))
    # Before starting, the candidate has no form: nothing.
    assert (await client.get(f"/v1/images/{shown}", headers=c1)).status_code == 404
    started = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=c1)
    assert started.status_code == 201, started.text
    single = next(i for i in started.json()["items"] if i["ref"] == "T-SC-1")
    assert single["image"] == shown and option in [o.get("image") for o in single["options"]]
    assert single["image_alt"]["en"] == "A screenshot of an AI answer"
    assert {"zh-CN": "一张图表", "en": "A chart"} in [o.get("image_alt") for o in single["options"]]
    for image_id in (shown, option):
        got = await client.get(f"/v1/images/{image_id}", headers=c1)
        assert got.status_code == 200 and got.headers["cache-control"].startswith("private"), image_id
    assert (await client.get(f"/v1/images/{unused}", headers=c1)).status_code == 404
    assert (await client.get(f"/v1/images/{shown}", headers=c2)).status_code == 404  # not on c2's form
    assert (await client.get("/v1/images", headers=c1)).status_code == 403  # no listing for candidates


async def test_the_same_image_uploaded_twice_at_once_is_one_row(
    client, service_keys: ServiceKeys, owner: asyncpg.Connection
) -> None:
    """Two uploads of the same bytes, interleaved: the second waits on the first's uncommitted row, then
    finds it (ON CONFLICT DO NOTHING, then a read in a new snapshot); both answer the same image."""
    import asyncio
    from uuid import UUID

    from service.db.pool import tenant_transaction
    from service.items import images

    tenant = await make_tenant(client, service_keys, "image-race")
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    tenant_id = UUID(tenant["id"])
    first_stored = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> images.ImageInfo:
        async with tenant_transaction(pool, tenant_id) as conn:
            info = await images.store_image(conn, PNG, "first.png", "a")
            first_stored.set()
            await release_first.wait()  # still uncommitted while the second upload runs
            return info

    async def second() -> images.ImageInfo:
        await first_stored.wait()
        async with tenant_transaction(pool, tenant_id) as conn:
            return await images.store_image(conn, PNG, "second.png", "b")

    one = asyncio.create_task(first())
    two = asyncio.create_task(second())
    assert await blocked_on_a_lock(owner, two)  # on the first's row
    release_first.set()
    a, b = await one, await two
    assert a.id == b.id and b.name == "first.png"
    listed = (await client.get("/v1/images", headers=tenant["admin"])).json()["images"]
    assert [i["id"] for i in listed] == [a.id]
