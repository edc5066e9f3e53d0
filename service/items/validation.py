"""Every problem with an item, at once, each with a JSON pointer. Pure: no I/O.

Checked against the framework version the item is written for: its loadings must name
that version's indicators, and its key must refer to options that exist with credit
inside the item's range (the checks of each type's own fields are its `ItemKind.validate`).
"""

from __future__ import annotations

from service.errors import FieldError
from service.i18n import msg
from service.items.kinds import kind_of
from service.items.model import Item
from service.rubrics.model import FrameworkContent, walk_indicators

WEIGHT_TOLERANCE = 0.001
MAX_OPTIONS = 12


def indicator_codes(framework: FrameworkContent) -> set[str]:
    return {indicator.code for _, _, indicator in walk_indicators(framework)}


def _loadings(item: Item, indicators: set[str] | None) -> list[FieldError]:
    errors = []
    if not item.loadings:
        errors.append(FieldError(msg("an item must load on at least one indicator"), "/loadings"))
    seen: set[str] = set()
    for i, loading in enumerate(item.loadings):
        if loading.indicator in seen:
            errors.append(
                FieldError(
                    msg("indicator '{indicator}' is loaded twice", indicator=loading.indicator),
                    f"/loadings/{i}/indicator",
                )
            )
        seen.add(loading.indicator)
        if indicators is not None and loading.indicator not in indicators:
            errors.append(
                FieldError(
                    msg(
                        "indicator '{indicator}' is not in the framework version", indicator=loading.indicator
                    ),
                    f"/loadings/{i}/indicator",
                )
            )
    total = sum(loading.weight for loading in item.loadings)
    if item.loadings and abs(total - 1.0) > WEIGHT_TOLERANCE:
        errors.append(
            FieldError(msg("the loading weights sum to {total:g}, not 1", total=total), "/loadings")
        )
    return errors


def _options(item: Item) -> list[FieldError]:
    options = getattr(item, "options", None)
    if options is None:
        return []
    errors = []
    if len(options) < 2:
        errors.append(FieldError(msg("an item with options needs at least two"), "/options"))
    if len(options) > MAX_OPTIONS:
        errors.append(FieldError(msg("at most {limit} options", limit=MAX_OPTIONS), "/options"))
    seen: set[str] = set()
    for i, option in enumerate(options):
        if option.key in seen:
            errors.append(
                FieldError(msg("option key '{key}' is used twice", key=option.key), f"/options/{i}/key")
            )
        seen.add(option.key)
    return errors


def _image_alts(item: Item) -> list[FieldError]:
    """Every image needs its text alternative: a candidate who cannot see it hears the alt instead."""
    needed = [("", item.image, item.image_alt)] + [
        (f"/options/{i}", option.image, option.image_alt)
        for i, option in enumerate(getattr(item, "options", []))
    ]
    return [
        FieldError(
            msg("an image needs a text alternative (image_alt) saying what it shows"), f"{where}/image_alt"
        )
        for where, image, alt in needed
        if image is not None and not alt
    ]


def validate_item(item: Item, framework: FrameworkContent | None) -> list[FieldError]:
    """Problems with `item`; `framework` is the version it is checked against (None: skip indicator checks)."""
    indicators = indicator_codes(framework) if framework is not None else None
    errors = _loadings(item, indicators) + _options(item) + _image_alts(item) + kind_of(item).validate(item)
    if framework is not None and item.framework != framework.code:
        errors.append(
            FieldError(
                msg(
                    "the item is for framework '{framework}', not '{code}'",
                    framework=item.framework,
                    code=framework.code,
                ),
                "/framework",
            )
        )
    return errors
