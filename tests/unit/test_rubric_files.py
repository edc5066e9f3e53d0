"""The files in rubrics/: the schema is current and every template is a valid, sourced framework."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from service.rubrics.model import content_decoder
from service.rubrics.schema import SCHEMA_PATH, render_schema
from service.rubrics.templates import TEMPLATES_DIR, load_templates
from service.rubrics.validation import validate_template

TEMPLATE_FILES = sorted(TEMPLATES_DIR.glob("*/*.json"))


def test_schema_file_matches_the_model():
    assert SCHEMA_PATH.read_text() == render_schema(), "run ./dev python -m service.rubrics.schema"


def test_the_three_national_templates_are_shipped():
    assert {"teacher-digital-literacy", "cadre-ai-literacy", "unesco-ai-competency-teachers"} <= set(
        load_templates()
    )


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_template_file_is_valid(path: Path):
    content = content_decoder.decode(path.read_bytes())  # the schema, strictly: unknown fields fail
    assert content.code == path.parent.name
    assert validate_template(content) == []
    assert all(source.date for source in content.sources)
    raw = json.loads(path.read_text())
    assert msgspec.to_builtins(content) == raw, "the file holds defaults or fields the model drops"
