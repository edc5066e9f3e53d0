"""Which supported language a request gets, from its `Accept-Language` (RFC 9110 §12.5.4). Pure.

Ranges are taken best first by q-value (q=0 refuses); a range matches a supported tag exactly or
by its primary subtag (`en-GB` gets en, `zh`, `zh-Hans` and `zh-TW` get zh-CN). No header, `*`,
or nothing supported gives the default, zh-CN: the service is zh-CN first.
"""

from __future__ import annotations

from functools import lru_cache

from service.i18n.catalog import DEFAULT, SUPPORTED, Language


def preferences(accept_language: str | None) -> list[str]:
    """Language ranges from an Accept-Language header, best first (q=0 ranges dropped)."""
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


@lru_cache(maxsize=256)
def negotiate(accept_language: str | None) -> Language:
    by_primary = {tag.lower().split("-")[0]: tag for tag in SUPPORTED}
    for wanted in preferences(accept_language):
        lowered = wanted.lower()
        if lowered == "*":
            return DEFAULT
        exact = next((tag for tag in SUPPORTED if tag.lower() == lowered), None)
        if exact is not None:
            return exact
        if lowered.split("-")[0] in by_primary:
            return by_primary[lowered.split("-")[0]]
    return DEFAULT


def vary(headers: dict[str, str] | None) -> dict[str, str]:
    """`headers` with `Accept-Language` added to `Vary` (kept once, other fields kept)."""
    merged = dict(headers or {})
    current = [part.strip() for part in merged.get("Vary", "").split(",") if part.strip()]
    if not any(part.lower() == "accept-language" for part in current):
        current.append("Accept-Language")
    merged["Vary"] = ", ".join(current)
    return merged


def language_headers(locale: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """`Content-Language` and `Vary: Accept-Language` for a reply negotiated to `locale`."""
    return {**vary(headers), "Content-Language": locale}
