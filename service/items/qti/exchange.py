"""QTI packages in and out of a tenant's item bank. Runs on a tenant-scoped connection.

Export reads the items and the images they show and writes a QTI 3.0 package (`write`). Import reads a
package (`read`) into new items of one framework through `bank.create_item`, what `POST /v1/items`
calls, so an imported item is checked exactly as a written one. An item is new: a code the bank already
has is a problem, never an edit. Items have no draft state of their own; an imported item is version 1,
editable in place until an assessment pins it.

All or nothing by default: one item that cannot be imported (an unsupported construct, a problem with
the item document, a known code) and nothing is saved, every problem named per item. With `partial`,
the items that can be imported are, and the others are reported. Each item is written under a
savepoint, so an item refused by the bank leaves nothing behind, not even its images.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from service.errors import FieldError, Unprocessable, msgspec_field_error
from service.i18n import msg
from service.items import bank, images
from service.items.model import Item, image_ids
from service.items.qti.read import PackageItem, read_package
from service.items.qti.write import package

MEDIA_TYPE = "application/zip"


class ItemsRefused(Unprocessable):
    slug = "qti-items-refused"
    title = msg("Some items of the QTI package cannot be imported")


class RejectedItem(msgspec.Struct):
    index: int  # the item's place among the manifest's item resources: its problems point at /items/{index}
    identifier: str
    file: str
    problems: list[FieldError]


class QtiImportResult(msgspec.Struct):
    created: list[str]
    rejected: list[RejectedItem]


async def export_package(conn: asyncpg.Connection, items: list[Item], identifier: str) -> bytes:
    """`items` and the images they show as a QTI 3.0 content package (zip bytes)."""
    shown: dict[str, tuple[str, bytes]] = {}
    for image_id in sorted({i for item in items for i in image_ids(item)}):
        info, content = await images.image_content(conn, image_id)
        shown[image_id] = (info.media_type, content)
    return package(items, shown, identifier)


async def export_bank(conn: asyncpg.Connection, *, framework: str | None, status: str | None) -> bytes:
    items = await bank.export_items(conn, framework=framework, status=status)
    return await export_package(conn, items, f"MANIFEST-{framework or 'bank'}")


def _document(
    entry: PackageItem, framework: str, indicator: str | None
) -> tuple[Item | None, list[FieldError]]:
    where = f"/items/{entry.index}"
    document: dict[str, Any] = dict(entry.document or {}, framework=framework)
    if not entry.extended:
        if indicator is None:
            return None, [
                FieldError(
                    msg(
                        "item {identifier} carries no loadings: name the indicator it measures (?indicator=)",
                        identifier=entry.identifier,
                    ),
                    where,
                )
            ]
        document["loadings"] = [{"indicator": indicator}]
        if document.get("type") == "situational_judgement":  # credit read from a mapping, for the indicator
            for option in document["key"]["options"]:
                option["credit"] = {indicator: option["credit"][""]}
    try:
        return msgspec.convert(document, Item), []
    except msgspec.ValidationError as exc:
        problem = msgspec_field_error(str(exc))
        return None, [msgspec.structs.replace(problem, pointer=where + (problem.pointer or ""))]


async def _create(
    conn: asyncpg.Connection, entry: PackageItem, item: Item, created_by: str
) -> list[FieldError]:
    """Create the item and the images it shows under a savepoint; its problems (then nothing is kept)."""
    savepoint = conn.transaction()
    await savepoint.start()
    try:
        for image_id in image_ids(item):
            await images.store_image(conn, entry.images[image_id], None, created_by)
        await bank.create_item(conn, item)
    except Unprocessable as exc:
        await savepoint.rollback()
        return [
            msgspec.structs.replace(e, pointer=f"/items/{entry.index}" + (e.pointer or ""))
            for e in exc.errors
        ] or [FieldError(exc.message, f"/items/{entry.index}")]
    await savepoint.commit()
    return []


async def import_package(
    conn: asyncpg.Connection,
    data: bytes,
    *,
    framework: str,
    indicator: str | None,
    language: str,
    partial: bool,
    created_by: str,
) -> QtiImportResult:
    """Create the package's items under `framework` (see the module's docstring); `indicator` is what items
    without our extension measure, `language` the language of items that name none; `created_by` uploads
    the package's images (a token's subject)."""
    if await bank.latest_framework(conn, framework) is None:
        raise Unprocessable(
            msg("framework '{code}' has no published version to write items for", code=framework),
            [FieldError(msg("no published framework '{code}'", code=framework), parameter="framework")],
        )
    entries = read_package(data, language)
    result = QtiImportResult([], [])
    candidates: list[tuple[PackageItem, Item]] = []
    for entry in entries:
        problems = entry.problems
        item = None
        if not problems:
            item, problems = _document(entry, framework, indicator)
        if item is not None:
            candidates.append((entry, item))
        else:
            result.rejected.append(RejectedItem(entry.index, entry.identifier, entry.href, problems))
    codes = [item.code for _, item in candidates]
    taken = await bank.existing_codes(conn, codes)
    seen: set[str] = set()
    for entry, item in candidates:
        if item.code in taken or item.code in seen:
            problem = FieldError(
                msg("item '{code}' already exists; an import only creates items", code=item.code)
                if item.code in taken
                else msg("code '{code}' is also an earlier item of the package", code=item.code),
                f"/items/{entry.index}/code",
            )
            result.rejected.append(RejectedItem(entry.index, entry.identifier, entry.href, [problem]))
            continue
        seen.add(item.code)
        problems = await _create(conn, entry, item, created_by)
        if problems:
            result.rejected.append(RejectedItem(entry.index, entry.identifier, entry.href, problems))
        else:
            result.created.append(item.code)
    result.rejected.sort(key=lambda rejected: rejected.index)
    if result.rejected and not partial:
        raise ItemsRefused(
            msg(
                "{count} of {total} items cannot be imported; nothing was saved (import the others with "
                "?partial=true)",
                count=len(result.rejected),
                total=len(entries),
            ),
            [problem for rejected in result.rejected for problem in rejected.problems],
        )
    return result
