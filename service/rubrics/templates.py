"""The shipped templates in `rubrics/templates/<code>/<version>.json`: read-only, visible to every tenant."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import msgspec

from service.errors import NotFound
from service.i18n import msg
from service.rubrics.model import FrameworkContent, Localized, Source, content_decoder, encode_content

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "rubrics" / "templates"


def content_hash(content: FrameworkContent) -> str:
    return "sha256:" + hashlib.sha256(encode_content(content)).hexdigest()


class Template(msgspec.Struct, frozen=True):
    code: str
    version: str
    content_hash: str
    content: FrameworkContent


class TemplateSummary(msgspec.Struct):
    code: str
    latest_version: str
    versions: list[str]
    title: Localized
    sources: list[Source]
    content_hash: str


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


@lru_cache(maxsize=1)
def load_templates(directory: Path = TEMPLATES_DIR) -> dict[str, list[Template]]:
    """Every template version, oldest first, keyed by template code. Invalid files fail loudly."""
    found: dict[str, list[Template]] = {}
    for path in sorted(directory.glob("*/*.json")):
        content = content_decoder.decode(path.read_bytes())
        if content.code != path.parent.name:
            raise ValueError(f"{path}: code '{content.code}' does not match its folder")
        found.setdefault(content.code, []).append(
            Template(content.code, path.stem, content_hash(content), content)
        )
    for versions in found.values():
        versions.sort(key=lambda t: _version_key(t.version))
    return found


def get_template(code: str, version: str | None = None) -> Template:
    versions = load_templates().get(code)
    if not versions:
        raise NotFound(msg("no template '{code}'", code=code))
    if version is None:
        return versions[-1]
    for template in versions:
        if template.version == version:
            return template
    raise NotFound(msg("template '{code}' has no version '{version}'", code=code, version=version))


def list_templates() -> list[TemplateSummary]:
    return [
        TemplateSummary(
            code,
            versions[-1].version,
            [t.version for t in versions],
            versions[-1].content.title,
            versions[-1].content.sources,
            versions[-1].content_hash,
        )
        for code, versions in sorted(load_templates().items())
    ]
