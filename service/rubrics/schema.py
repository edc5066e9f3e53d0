"""The JSON Schema of a framework document, generated from the msgspec structs.

`./dev python -m service.rubrics.schema` rewrites rubrics/framework.schema.json; a test
fails when the committed file drifts. Editors can validate template files against it.
"""

from __future__ import annotations

import json

import msgspec

from service.rubrics.model import FrameworkContent
from service.rubrics.templates import TEMPLATES_DIR

SCHEMA_PATH = TEMPLATES_DIR.parent / "framework.schema.json"


def render_schema() -> str:
    schema = msgspec.json.schema(FrameworkContent)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Competency framework (assess native format)"
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render_schema())
    print(f"wrote {SCHEMA_PATH}")
