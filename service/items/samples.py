"""Sample item banks shipped with the templates: `rubrics/items/<framework code>/items.json`.

The file is in the import format (`{"items": [...]}` plus the framework and template version
it was written for), so a tenant can load it with `POST /v1/items/import` after adopting and
publishing the template.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from service.items.bank import ItemImport

ITEMS_DIR = Path(__file__).resolve().parent.parent.parent / "rubrics" / "items"


def sample_bank(framework: str) -> ItemImport:
    return msgspec.json.decode((ITEMS_DIR / framework / "items.json").read_bytes(), type=ItemImport, strict=True)
