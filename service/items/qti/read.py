"""A QTI 3.0 or 2.x content package read into item documents, one per item resource. Pure: no I/O.

Each item is read from its standard QTI first (`service.items.qti.standard`). Our extension
(`service.items.qti.write`) carries the whole item document; it is trusted only when it agrees with the
standard part: the extension's item, written as QTI and read back, must read as the package's item does.
An item edited by another tool after we exported it is read from its standard part, so the edit is never
lost to a stale extension.

A package that cannot be read at all (not a zip, no manifest, XML that is not well-formed or declares
a document type, too large unpacked) raises `MalformedPackage`; nothing of it is used.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import xml.etree.ElementTree as ET
import zipfile
from typing import Any

import msgspec

from service.errors import FieldError, Unprocessable
from service.i18n import msg
from service.items.model import Item, item_decoder
from service.items.qti.standard import Unsupported, standard
from service.items.qti.write import image_path, item_bytes
from service.items.qti.xml import EXTENSION, XmlRefused, local, normalize, parse

MAX_FILES = 5_000
MAX_UNPACKED_BYTES = 50_000_000  # a zip bomb stops here, counted from the archive's own sizes and as read
MAX_ITEMS = 2_000


class MalformedPackage(Unprocessable):
    slug = "qti-package-malformed"
    title = msg("The QTI package cannot be read")


class PackageItem(msgspec.Struct):
    """One item resource of a package: its document (builtins, framework and loadings still to be set when
    read from standard QTI alone), the images it shows (id -> bytes) and its problems."""

    index: int
    identifier: str
    href: str
    version: str
    document: dict[str, Any] | None
    extended: bool  # read from our extension (whole), not from standard QTI alone
    images: dict[str, bytes]
    problems: list[FieldError]


def _malformed(detail: str, reason: str) -> MalformedPackage:
    return MalformedPackage(
        msg("the QTI package cannot be read: {detail}", detail=detail),
        [FieldError(reason, "/file")],
    )


def _archive(data: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise _malformed(msg("it is not a zip archive"), msg("send the package as a .zip file")) from None
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if len(infos) > MAX_FILES or sum(info.file_size for info in infos) > MAX_UNPACKED_BYTES:
        raise _malformed(
            msg("it unpacks to too much"),
            msg("at most {files} files and {size} bytes unpacked", files=MAX_FILES, size=MAX_UNPACKED_BYTES),
        )
    files: dict[str, bytes] = {}
    total = 0
    for info in infos:
        with archive.open(info) as handle:
            content = handle.read(MAX_UNPACKED_BYTES - total + 1)
        total += len(content)
        if total > MAX_UNPACKED_BYTES:
            raise _malformed(msg("it unpacks to too much"), msg("the archive's sizes are false"))
        files[posixpath.normpath(info.filename.replace("\\", "/")).lstrip("/")] = content
    return files


def _xml(files: dict[str, bytes], path: str) -> ET.Element:
    try:
        return parse(files[path])
    except XmlRefused as exc:
        raise _malformed(msg("{file} is refused", file=path), exc.args[0]) from None


def _consistent(extension: Item, seen: dict[str, Any], default_language: str) -> bool:
    """Whether the extension's item, written as QTI and read back, reads as the package's item. Images are
    named by their id on the way back, which is what the package's images hash to."""
    again = parse(item_bytes(extension, lambda image: image_path(image, "")))
    try:
        return standard(again, "item.xml", lambda path: posixpath.basename(path), default_language) == seen
    except Unsupported:
        return False


def _item(files: dict[str, bytes], index: int, resource: ET.Element, base: str, language: str) -> PackageItem:
    href = posixpath.normpath(posixpath.join(base, resource.get("href", "")))
    identifier = resource.get("identifier", "")
    found = PackageItem(index, identifier, href, "", None, False, {}, [])
    where = f"/items/{index}"
    if href not in files:
        found.problems.append(
            FieldError(
                msg(
                    "item {identifier}: the file '{file}' is not in the package",
                    identifier=identifier,
                    file=href,
                ),
                where,
            )
        )
        return found
    root = _xml(files, href)
    found.version = normalize(root)
    found.identifier = root.get("identifier", identifier)

    def image_id(path: str) -> str | None:
        if path not in files:
            return None
        digest = hashlib.sha256(files[path]).hexdigest()
        found.images[digest] = files[path]
        return digest

    try:
        seen = standard(root, href, image_id, language)
    except Unsupported as exc:
        found.problems.append(
            FieldError(
                msg(
                    "item {identifier} ({file}): {construct} is not supported",
                    identifier=found.identifier,
                    file=href,
                    construct=exc.args[0],
                ),
                where,
            )
        )
        return found
    found.document = seen
    extension = resource.find(f"{{*}}metadata/{{{EXTENSION}}}item")
    if extension is not None and extension.text:
        try:
            item = item_decoder.decode(extension.text.strip())
        except (msgspec.ValidationError, msgspec.DecodeError):
            return found
        if _consistent(item, seen, language):
            found.document, found.extended = msgspec.to_builtins(item), True
    return found


def read_package(data: bytes, language: str = "zh-CN") -> list[PackageItem]:
    """Every item resource of the package, in the manifest's order. `language` is the language of items
    that name none."""
    files = _archive(data)
    manifests = sorted(
        (p for p in files if posixpath.basename(p) == "imsmanifest.xml"), key=lambda p: p.count("/")
    )
    if not manifests:
        raise _malformed(
            msg("it has no imsmanifest.xml"), msg("a QTI content package has imsmanifest.xml at its root")
        )
    manifest = _xml(files, manifests[0])
    if local(manifest.tag) != "manifest":
        raise _malformed(msg("imsmanifest.xml is not a manifest"), msg("the root element must be 'manifest'"))
    base = posixpath.dirname(manifests[0])
    resources = [
        r for r in manifest.iter()
        if local(r.tag) == "resource" and r.get("type", "").startswith("imsqti_item_xmlv")
    ]  # fmt: skip
    if not resources:
        raise _malformed(msg("it lists no items"), msg("the manifest has no resource of an item type"))
    if len(resources) > MAX_ITEMS:
        raise _malformed(
            msg("it has too many items"), msg("at most {count} items per package", count=MAX_ITEMS)
        )
    return [_item(files, n, resource, base, language) for n, resource in enumerate(resources)]
