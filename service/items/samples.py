"""Sample item banks shipped with the templates: `rubrics/items/<framework code>/items.json`, and a
ready-made assessment over each: `rubrics/assessments/<framework code>.json`.

The bank file is in the import format (`{"items": [...]}` plus the framework and template version
it was written for), so a tenant can load it with `POST /v1/items/import` after adopting and
publishing the template. The assessment file is a draft `POST /v1/assessments` accepts as it is
(framework version 1, the first a tenant adopts; audience by cadre category, so it needs no org
tree), a 40-minute form whose pools are balanced over the indicators.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from service.assessments.model import AssessmentContent
from service.items.bank import ItemImport

RUBRICS_DIR = Path(__file__).resolve().parent.parent.parent / "rubrics"
ITEMS_DIR = RUBRICS_DIR / "items"
ASSESSMENTS_DIR = RUBRICS_DIR / "assessments"


def sample_bank(framework: str) -> ItemImport:
    return msgspec.json.decode(
        (ITEMS_DIR / framework / "items.json").read_bytes(), type=ItemImport, strict=True
    )


def sample_assessment(framework: str) -> AssessmentContent:
    path = ASSESSMENTS_DIR / f"{framework}.json"
    return msgspec.json.decode(path.read_bytes(), type=AssessmentContent, strict=True)
