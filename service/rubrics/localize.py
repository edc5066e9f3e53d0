"""Pick one language from localized texts, as `Accept-Language` asks, with a fallback. Pure."""

from __future__ import annotations

from typing import Any

# Parsing Accept-Language is i18n's (below this package); re-exported for the rubric renderers' callers.
from service.i18n.negotiate import preferences as preferences

FALLBACK = ("zh-CN", "en")
LOCALIZED_KEYS = frozenset(
    {"title", "description", "label", "name", "statement", "performance", "next_steps"}
)


def choose(available: set[str] | list[str], wanted: list[str]) -> str:
    """The best available language: exact match, then same primary subtag, then the fallbacks."""
    lowered = {tag.lower(): tag for tag in available}
    for tag in wanted:
        if tag == "*":
            break
        if tag.lower() in lowered:
            return lowered[tag.lower()]
        primary = tag.lower().split("-")[0]
        for candidate in sorted(lowered):
            if candidate.split("-")[0] == primary:
                return lowered[candidate]
    for tag in FALLBACK:
        if tag.lower() in lowered:
            return lowered[tag.lower()]
    return min(available)


def render(document: Any, wanted: list[str]) -> Any:
    """The document with every localized text replaced by one string."""
    if isinstance(document, list):
        return [render(item, wanted) for item in document]
    if isinstance(document, dict):
        return {
            key: value[choose(list(value), wanted)]
            if key in LOCALIZED_KEYS
            and isinstance(value, dict)
            and value
            and all(isinstance(v, str) for v in value.values())
            else render(value, wanted)
            for key, value in document.items()
        }
    return document


def content_language(document: Any, wanted: list[str]) -> str:
    title = document.get("title") if isinstance(document, dict) else None
    return choose(list(title), wanted) if isinstance(title, dict) and title else FALLBACK[0]
