"""Every problem with an item, at once, each with a JSON pointer. Pure: no I/O.

Checked against the framework version the item is written for: its loadings must name
that version's indicators, and its key must refer to options that exist with credit
inside the item's range.
"""

from __future__ import annotations

from service.errors import FieldError
from service.i18n import msg
from service.items.model import (
    Item,
    Likert,
    MultipleChoice,
    Ordering,
    SingleChoice,
    SituationalJudgement,
    option_keys,
)
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


def _unknown_option(key: str, keys: set[str], pointer: str) -> list[FieldError]:
    if key in keys:
        return []
    return [
        FieldError(
            msg(
                "option '{key}' does not exist (options: {options})", key=key, options=", ".join(sorted(keys))
            ),
            pointer,
        )
    ]


def _key(item: Item) -> list[FieldError]:
    keys = set(option_keys(item))
    errors: list[FieldError] = []
    if isinstance(item, SingleChoice):
        errors += _unknown_option(item.key.correct, keys, "/key/correct")
    elif isinstance(item, MultipleChoice):
        if not item.key.correct:
            errors.append(FieldError(msg("name at least one correct option"), "/key/correct"))
        if len(set(item.key.correct)) != len(item.key.correct):
            errors.append(FieldError(msg("an option is named twice"), "/key/correct"))
        for i, key in enumerate(item.key.correct):
            errors += _unknown_option(key, keys, f"/key/correct/{i}")
    elif isinstance(item, SituationalJudgement):
        loaded = {loading.indicator for loading in item.loadings}
        keyed: set[str] = set()
        for i, entry in enumerate(item.key.options):
            pointer = f"/key/options/{i}"
            errors += _unknown_option(entry.option, keys, f"{pointer}/option")
            if entry.option in keyed:
                errors.append(
                    FieldError(
                        msg("option '{option}' is keyed twice", option=entry.option), f"{pointer}/option"
                    )
                )
            keyed.add(entry.option)
            for indicator, credit in entry.credit.items():
                if indicator not in loaded:
                    errors.append(
                        FieldError(
                            msg(
                                "credit for '{indicator}', which the item does not load on",
                                indicator=indicator,
                            ),
                            f"{pointer}/credit/{indicator}",
                        )
                    )
                elif not 0 <= credit <= item.points:
                    errors.append(
                        FieldError(
                            msg(
                                "credit {credit:g} is outside the item's range 0-{points:g}",
                                credit=credit,
                                points=item.points,
                            ),
                            f"{pointer}/credit/{indicator}",
                        )
                    )
            for indicator in sorted(loaded - entry.credit.keys()):
                errors.append(
                    FieldError(
                        msg("no credit for loaded indicator '{indicator}'", indicator=indicator),
                        f"{pointer}/credit",
                    )
                )
        for key in option_keys(item):
            if key not in keyed:
                errors.append(FieldError(msg("option '{key}' has no keyed credit", key=key), "/key/options"))
    elif isinstance(item, Ordering):
        if sorted(item.key.order) != sorted(keys) or len(item.key.order) != len(keys):
            errors.append(
                FieldError(msg("the key's order must name every option exactly once"), "/key/order")
            )
    elif isinstance(item, Likert) and item.scale_labels and len(item.scale_labels) != item.scale_points:
        errors.append(
            FieldError(
                msg("give {points} scale labels (one per point) or none", points=item.scale_points),
                "/scale_labels",
            )
        )
    return errors


def validate_item(item: Item, framework: FrameworkContent | None) -> list[FieldError]:
    """Problems with `item`; `framework` is the version it is checked against (None: skip indicator checks)."""
    indicators = indicator_codes(framework) if framework is not None else None
    errors = _loadings(item, indicators) + _options(item) + _key(item)
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
