"""The OpenAPI document, rendered from the app exactly as `openapi/openapi.json` stores it."""

from __future__ import annotations

import json
from pathlib import Path

from service.api.app import create_app
from service.config import Settings

OPENAPI_PATH = Path(__file__).resolve().parent.parent.parent / "openapi" / "openapi.json"


def render_openapi() -> str:
    # Defaults only: the document must not depend on the environment it was generated in.
    app = create_app(Settings.from_env({}))
    return json.dumps(app.openapi_schema.to_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
