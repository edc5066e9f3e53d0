"""A tenant's item bank: create, edit (new version once pinned), retire, search, import, export.

Runs on a tenant-scoped connection. An item is checked against the latest published
version of its framework. A version stays editable (guarded by its revision, exposed as
an ETag) until a published assessment pins it; after that an edit creates the next version.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime
from typing import Annotated, Literal

import asyncpg
import msgspec

from service.errors import Conflict, FieldError, NotFound, PreconditionFailed, Unprocessable, etag_matches
from service.i18n import msg
from service.items import images
from service.items.model import Item, ItemType, encode_item, image_ids, item_type
from service.items.validation import validate_item
from service.rubrics import frameworks
from service.rubrics.model import Code, FrameworkContent, Localized

ItemStatus = Literal["active", "retired"]
MAX_IMPORT_ITEMS = 2000


class ItemVersion(msgspec.Struct):
    code: str
    version: int
    status: ItemStatus
    locked: bool
    revision: int
    latest_version: int
    content_hash: str
    content: Item
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return f'"{self.version}.{self.revision}"'


class ItemSummary(msgspec.Struct):
    code: str
    type: ItemType
    framework: str
    status: ItemStatus
    latest_version: int
    locked: bool
    indicators: list[str]
    stem: Localized
    updated_at: datetime


class ItemImport(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Items to create or edit; `framework` and `template_version` describe a shipped sample bank
    (`rubrics/items/`) and are informational: each item names its own framework, unless the import's
    `?framework=` query parameter places them all under another."""

    items: Annotated[list[Item], msgspec.Meta(max_length=MAX_IMPORT_ITEMS)]
    framework: Code | None = None
    template_version: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[^\x00]*$")] | None = None


class ImportResult(msgspec.Struct):
    created: list[str]
    new_versions: list[str]
    updated: list[str]
    unchanged: list[str]


class ItemExport(msgspec.Struct):
    items: list[Item]


def item_hash(item: Item) -> str:
    return "sha256:" + hashlib.sha256(encode_item(item)).hexdigest()


def _texts(value: object) -> list[str]:
    if isinstance(value, dict):
        return [text for v in value.values() for text in _texts(v)]
    if isinstance(value, list):
        return [text for v in value for text in _texts(v)]
    return [value] if isinstance(value, str) else []


def search_text(item: Item) -> str:
    """Lower-cased text a search matches: code, stem, scenario and options (never the key)."""
    visible = {
        "code": item.code,
        "stem": item.stem,
        "scenario": item.scenario,
        "options": msgspec.to_builtins(getattr(item, "options", [])),
    }
    return "\n".join(_texts(visible)).lower()


async def latest_framework(conn: asyncpg.Connection, code: str) -> FrameworkContent | None:
    content = await frameworks.latest_published(conn, code)
    return None if content is None else msgspec.convert(content, FrameworkContent)


async def _checked(conn: asyncpg.Connection, items: list[Item], prefix: str = "") -> None:
    """422 naming every problem of every item, each checked against its framework's latest published version."""
    latest: dict[str, FrameworkContent | None] = {}
    errors: list[FieldError] = []
    for i, item in enumerate(items):
        where = f"{prefix}/{i}" if prefix else ""
        if item.framework not in latest:
            latest[item.framework] = await latest_framework(conn, item.framework)
        framework = latest[item.framework]
        if framework is None:
            errors.append(
                FieldError(
                    msg(
                        "framework '{framework}' has no published version to write items for",
                        framework=item.framework,
                    ),
                    f"{where}/framework",
                )
            )
            continue
        errors += [
            msgspec.structs.replace(e, pointer=where + (e.pointer or ""))
            for e in validate_item(item, framework)
        ]
    errors += await _unknown_images(conn, items, prefix)
    if errors:
        raise Unprocessable(
            msg("{count} problem(s) with the item(s); nothing was saved", count=len(errors)), errors
        )


async def _unknown_images(conn: asyncpg.Connection, items: list[Item], prefix: str) -> list[FieldError]:
    """An image an item names must be one of the tenant's (uploaded first: POST /v1/images)."""
    missing = await images.missing_images(conn, sorted({i for item in items for i in image_ids(item)}))
    errors = []
    for n, item in enumerate(items):
        where = f"{prefix}/{n}" if prefix else ""
        named = [("/image", item.image)] + [
            (f"/options/{j}/image", option.image) for j, option in enumerate(getattr(item, "options", []))
        ]
        errors += [
            FieldError(msg("no image '{id}': upload it first", id=image), where + pointer)
            for pointer, image in named
            if image in missing
        ]
    return errors


_VERSION = """
    SELECT i.code, v.version, i.status, v.locked, v.revision, i.latest_version, v.content_hash, v.content,
           v.created_at, v.updated_at
    FROM items i JOIN item_versions v ON v.tenant_id = i.tenant_id AND v.item_id = i.id
"""


def _version(row: asyncpg.Record) -> ItemVersion:
    values = dict(row)
    values["content"] = msgspec.convert(values["content"], Item)
    return ItemVersion(**values)


# Decoded item contents by content hash. Equal hashes are equal contents (whoever's they are), so a
# hit is exactly what decoding the row would give, and a row is only ever looked up after row-level
# security let it through. Starting an attempt decodes every item of its form and scoring every item
# of the forms it scores: decoding was a fifth of a start's CPU (py-spy, 2026-11-23).
_DECODED_MAX = 5_000
_decoded: OrderedDict[str, Item] = OrderedDict()
_item_decoder = msgspec.json.Decoder(Item)


def decoded_content(content_hash: str, content_json: str) -> Item:
    """The item whose JSON (`content::text`) hashes to `content_hash`, decoded once per worker."""
    item = _decoded.get(content_hash)
    if item is None:
        item = _decoded[content_hash] = _item_decoder.decode(content_json)
        if len(_decoded) > _DECODED_MAX:
            _decoded.popitem(last=False)
    return item


async def get_item(
    conn: asyncpg.Connection, code: str, version: int | None = None, *, for_update: bool = False
) -> ItemVersion:
    row = await conn.fetchrow(
        _VERSION
        + " WHERE i.code = $1 AND v.version = coalesce($2, i.latest_version)"
        + (" FOR UPDATE OF i, v" if for_update else ""),
        code,
        version,
    )
    if row is None:
        raise NotFound(
            msg("no item '{code}' version {version}", code=code, version=version)
            if version is not None
            else msg("no item '{code}'", code=code)
        )
    return _version(row)


async def _insert_version(conn: asyncpg.Connection, item_id: object, version: int, item: Item) -> None:
    await conn.execute(
        """INSERT INTO item_versions (item_id, version, content, content_hash, indicators, search_text)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        item_id,
        version,
        msgspec.to_builtins(item),
        item_hash(item),
        sorted({loading.indicator for loading in item.loadings}),
        search_text(item),
    )


async def _create(conn: asyncpg.Connection, item: Item) -> None:
    item_id = await conn.fetchval(
        "INSERT INTO items (code, framework_code, type) VALUES ($1, $2, $3) RETURNING id",
        item.code,
        item.framework,
        item_type(item),
    )
    await _insert_version(conn, item_id, 1, item)


async def create_item(conn: asyncpg.Connection, item: Item) -> ItemVersion:
    await _checked(conn, [item])
    await _create(conn, item)
    return await get_item(conn, item.code)


def _same_identity(current: ItemVersion, item: Item) -> None:
    problems = []
    if item.code != current.code:
        problems.append(FieldError(msg("must stay '{value}'", value=current.code), "/code"))
    if item_type(item) != item_type(current.content):
        problems.append(
            FieldError(
                msg("must stay '{value}'; write a new item instead", value=item_type(current.content)),
                "/type",
            )
        )
    if item.framework != current.content.framework:
        problems.append(FieldError(msg("must stay '{value}'", value=current.content.framework), "/framework"))
    if problems:
        raise Unprocessable(msg("an item's code, type and framework cannot change"), problems)


async def _write(
    conn: asyncpg.Connection, current: ItemVersion, item: Item
) -> Literal["new_version", "updated", "unchanged"]:
    if item_hash(item) == current.content_hash:
        return "unchanged"
    item_id = await conn.fetchval("SELECT id FROM items WHERE code = $1", current.code)
    if current.locked:
        version = current.latest_version + 1
        await _insert_version(conn, item_id, version, item)
        await conn.execute(
            "UPDATE items SET latest_version = $2, updated_at = now() WHERE id = $1", item_id, version
        )
        return "new_version"
    await conn.execute(
        """UPDATE item_versions SET content = $3, content_hash = $4, indicators = $5, search_text = $6,
                  revision = revision + 1, updated_at = now()
           WHERE item_id = $1 AND version = $2""",
        item_id,
        current.version,
        msgspec.to_builtins(item),
        item_hash(item),
        sorted({loading.indicator for loading in item.loadings}),
        search_text(item),
    )
    await conn.execute("UPDATE items SET updated_at = now() WHERE id = $1", item_id)
    return "updated"


async def update_item(conn: asyncpg.Connection, code: str, item: Item, if_match: str) -> ItemVersion:
    """Edit the latest version in place, or, when an assessment pins it, create the next version."""
    current = await get_item(conn, code, for_update=True)
    if not etag_matches(if_match, current.etag):
        raise PreconditionFailed(
            msg("item '{code}' is now at ETag {etag}; read it again and retry", code=code, etag=current.etag)
        )
    if current.status == "retired":
        raise Conflict(msg("item '{code}' is retired; restore it before editing", code=code))
    _same_identity(current, item)
    await _checked(conn, [item])
    await _write(conn, current, item)
    return await get_item(conn, code)


class VersionSummary(msgspec.Struct):
    version: int
    locked: bool
    revision: int
    content_hash: str
    created_at: datetime
    updated_at: datetime


async def list_versions(conn: asyncpg.Connection, code: str) -> list[VersionSummary]:
    """An item's versions, newest first (404 for an unknown item)."""
    rows = await conn.fetch(
        """SELECT v.version, v.locked, v.revision, v.content_hash, v.created_at, v.updated_at
           FROM items i JOIN item_versions v ON v.tenant_id = i.tenant_id AND v.item_id = i.id
           WHERE i.code = $1 ORDER BY v.version DESC""",
        code,
    )
    if not rows:
        raise NotFound(msg("no item '{code}'", code=code))
    return [msgspec.convert(dict(row), VersionSummary) for row in rows]


async def set_status(conn: asyncpg.Connection, code: str, status: ItemStatus) -> ItemVersion:
    done = await conn.fetchval(
        """UPDATE items SET status = $2, updated_at = now(),
                  retired_at = CASE WHEN $2 = 'retired' THEN coalesce(retired_at, now()) END
           WHERE code = $1 RETURNING id""",
        code,
        status,
    )
    if done is None:
        raise NotFound(msg("no item '{code}'", code=code))
    return await get_item(conn, code)


async def search_items(
    conn: asyncpg.Connection,
    *,
    framework: str | None,
    indicator: str | None,
    type_: str | None,
    status: str | None,
    text: str | None,
    after: str | None,
    limit: int,
) -> list[ItemSummary]:
    # The page is chosen first and only its rows' stems are read: taking `content->'stem'` before the
    # sort would detoast every matching version's document (10,000 items: ~300 ms instead of ~60).
    rows = await conn.fetch(
        """SELECT p.code, p.type, p.framework, p.status, p.latest_version, p.locked, p.indicators,
                  v.content->'stem' AS stem, p.updated_at
           FROM (SELECT i.tenant_id, i.id, i.code, i.type, i.framework_code AS framework, i.status,
                        i.latest_version, v.locked, v.indicators, i.updated_at
                 FROM items i JOIN item_versions v
                   ON v.tenant_id = i.tenant_id AND v.item_id = i.id AND v.version = i.latest_version
                 WHERE ($1::text IS NULL OR i.framework_code = $1)
                   AND ($2::text IS NULL OR v.indicators @> ARRAY[$2::text])
                   AND ($3::text IS NULL OR i.type = $3)
                   AND ($4::text IS NULL OR i.status = $4)
                   AND ($5::text IS NULL OR strpos(v.search_text, lower($5)) > 0)
                   AND ($6::text IS NULL OR i.code > $6)
                 ORDER BY i.code LIMIT $7) p
           JOIN item_versions v ON v.tenant_id = p.tenant_id AND v.item_id = p.id AND v.version = p.latest_version
           ORDER BY p.code""",
        framework,
        indicator,
        type_,
        status,
        text,
        after,
        limit,
    )
    return [msgspec.convert(dict(row), ItemSummary) for row in rows]


def _unique_codes(items: list[Item]) -> dict[str, int]:
    seen: dict[str, int] = {}
    duplicates = []
    for i, item in enumerate(items):
        if item.code in seen:
            duplicates.append(
                FieldError(
                    msg("code '{code}' is also item {first}", code=item.code, first=seen[item.code]),
                    f"/items/{i}/code",
                )
            )
        seen.setdefault(item.code, i)
    if duplicates:
        raise Unprocessable(msg("each item may appear once in an import; nothing was saved"), duplicates)
    return seen


async def check_items(conn: asyncpg.Connection, items: list[Item]) -> None:
    """What `import_items` checks before writing (pointers `/items/{i}/...`), without writing."""
    _unique_codes(items)
    await _checked(conn, items, prefix="/items")


async def import_items(
    conn: asyncpg.Connection, items: list[Item], framework: str | None = None
) -> ImportResult:
    """All or nothing: every item is checked first; existing codes are edited like `update_item`.

    `framework` places every item under that framework whatever the file says: a sample bank
    names the template's code, and a tenant may have adopted the template under another."""
    if framework is not None:
        if await latest_framework(conn, framework) is None:
            raise Unprocessable(
                msg("framework '{code}' has no published version to write items for", code=framework),
                [FieldError(msg("no published framework '{code}'", code=framework), parameter="framework")],
            )
        items = [msgspec.structs.replace(item, framework=framework) for item in items]
    seen = _unique_codes(items)
    await _checked(conn, items, prefix="/items")
    await conn.execute("SELECT 1 FROM items WHERE code = ANY($1::text[]) FOR UPDATE", list(seen))
    result = ImportResult([], [], [], [])
    identity_errors: list[FieldError] = []
    for i, item in enumerate(items):
        try:
            current = await get_item(conn, item.code)
        except NotFound:
            await _create(conn, item)
            result.created.append(item.code)
            continue
        try:
            _same_identity(current, item)
        except Unprocessable as exc:
            identity_errors += [
                msgspec.structs.replace(e, pointer=f"/items/{i}{e.pointer}") for e in exc.errors
            ]
            continue
        if current.status == "retired" and item_hash(item) != current.content_hash:
            identity_errors.append(
                FieldError(
                    msg("item '{code}' is retired; restore it before editing", code=item.code),
                    f"/items/{i}/code",
                )
            )
            continue
        outcome = await _write(conn, current, item)
        {"new_version": result.new_versions, "updated": result.updated, "unchanged": result.unchanged}[
            outcome
        ].append(item.code)
    if identity_errors:
        raise Unprocessable(
            msg(
                "some items cannot be edited (a changed code, type or framework, or a "
                "retired item); nothing was saved"
            ),
            identity_errors,
        )
    return result


async def export_items(conn: asyncpg.Connection, *, framework: str | None, status: str | None) -> list[Item]:
    rows = await conn.fetch(
        """SELECT v.content FROM items i JOIN item_versions v
             ON v.tenant_id = i.tenant_id AND v.item_id = i.id AND v.version = i.latest_version
           WHERE ($1::text IS NULL OR i.framework_code = $1) AND ($2::text IS NULL OR i.status = $2)
           ORDER BY i.code""",
        framework,
        status,
    )
    return [msgspec.convert(row["content"], Item) for row in rows]


async def pinned_versions(conn: asyncpg.Connection, refs: dict[str, int | None]) -> dict[str, ItemVersion]:
    """The versions an assessment pins: the named version, or the latest when none is named."""
    rows = await conn.fetch(
        """SELECT i.code, v.version, i.status, v.locked, v.revision, i.latest_version, v.content_hash,
                  v.content::text AS content_json, v.created_at, v.updated_at
           FROM items i JOIN item_versions v ON v.tenant_id = i.tenant_id AND v.item_id = i.id
           JOIN unnest($1::text[], $2::int[]) AS r(code, version) ON r.code = i.code
           WHERE v.version = coalesce(r.version, i.latest_version)""",
        list(refs),
        list(refs.values()),
    )
    return {
        row["code"]: ItemVersion(
            **{k: v for k, v in row.items() if k != "content_json"},
            content=decoded_content(row["content_hash"], row["content_json"]),
        )
        for row in rows
    }


async def lock_versions(conn: asyncpg.Connection, versions: list[ItemVersion]) -> None:
    await conn.execute(
        """UPDATE item_versions v SET locked = true FROM items i, unnest($1::text[], $2::int[]) AS r(code, version)
           WHERE i.tenant_id = v.tenant_id AND i.id = v.item_id AND i.code = r.code AND v.version = r.version
             AND NOT v.locked""",
        [v.code for v in versions],
        [v.version for v in versions],
    )


async def versions_of(
    conn: asyncpg.Connection, wanted: list[tuple[str, int]] | list[tuple[str, int | None]]
) -> dict[tuple[str, int], Item]:
    """The item versions asked for, by (code, version), decoded once per worker; missing ones are left out.
    For scoring and rescoring, which read versions pinned in forms."""
    if not wanted:
        return {}
    rows = await conn.fetch(
        """SELECT i.code, v.version, v.content_hash, v.content::text AS content_json FROM item_versions v
               JOIN items i ON i.tenant_id = v.tenant_id AND i.id = v.item_id
               JOIN unnest($1::text[], $2::int[]) AS w(code, version) ON w.code = i.code AND w.version = v.version""",
        [code for code, _ in wanted],
        [version for _, version in wanted],
    )
    return {
        (row["code"], row["version"]): decoded_content(row["content_hash"], row["content_json"])
        for row in rows
    }


async def existing_codes(conn: asyncpg.Connection, codes: list[str]) -> set[str]:
    """Those of `codes` the tenant already has an item for."""
    rows = await conn.fetch("SELECT code FROM items WHERE code = ANY($1::text[])", codes)
    return {row["code"] for row in rows}
